"""Word segmentation: jieba, loaded once per process, plus brand/product words.

jieba is the reference.  ``rjieba`` (a binding of the Rust port, same
dictionary) is used instead when installed and ``fast`` is not False; the
test-suite checks that both segment a fixture of Weibo posts the same way
(tests/test_classifier_tokenize.py), so the fast path is a drop-in.

Both segmenters are process-wide: the dictionary loads once, and words added
for one :class:`Tokenizer` (brands, lexicon terms) are known to all of them.
Adding a word only ever keeps it whole, so that is harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

_LOCK = threading.Lock()
_JIEBA: Any = None
_RJIEBA: Any = None
_RJIEBA_MISSING = False
USER_WORD_FREQ = 200_000  # high enough that a user word is kept whole in every context


def _jieba() -> Any:
    global _JIEBA
    with _LOCK:
        if _JIEBA is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            _JIEBA = tok
        return _JIEBA


def _rjieba() -> Any:
    global _RJIEBA, _RJIEBA_MISSING
    with _LOCK:
        if _RJIEBA is None and not _RJIEBA_MISSING:
            try:
                import rjieba
            except ImportError:
                _RJIEBA_MISSING = True
            else:
                _RJIEBA = rjieba.Jieba()
        return _RJIEBA


def rjieba_available() -> bool:
    return _rjieba() is not None


class Tokenizer:
    """``cut(text) -> list[str]`` with jieba's precise mode (HMM on)."""

    def __init__(self, user_words: Iterable[str] = (), *, fast: bool | None = None) -> None:
        """``fast``: None = rjieba if installed, True = require rjieba, False = always jieba."""
        self._fast = _rjieba() if fast is not False else None
        if fast is True and self._fast is None:
            raise RuntimeError("rjieba is not installed (pip install 'lantern[fast]')")
        self._jieba = None if self._fast is not None else _jieba()
        self.backend = "rjieba" if self._fast is not None else "jieba"
        self.add_words(user_words)

    def add_words(self, words: Iterable[str]) -> None:
        for word in words:
            word = word.strip()
            if not word or any(c.isspace() for c in word):
                continue  # jieba's dictionary format cannot hold spaces
            if self._fast is not None:
                self._fast.add_word(word, USER_WORD_FREQ, None)
            else:
                self._jieba.add_word(word, USER_WORD_FREQ)

    def cut(self, text: str) -> list[str]:
        if self._fast is not None:
            return list(self._fast.cut(text, True))
        return list(self._jieba.lcut(text, HMM=True))

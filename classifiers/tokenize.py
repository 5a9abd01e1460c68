"""Word segmentation: jieba, loaded once per process, plus brand/product words.

jieba is the reference.  ``rjieba`` (a binding of the Rust port, same
dictionary) is used instead when installed and ``fast`` is not False; the
test-suite checks that both segment a fixture of Weibo posts the same way
(tests/test_classifier_tokenize.py), so the fast path is a drop-in.

Both segmenters are process-wide: the dictionary loads once, and words added
for one :class:`Tokenizer` (brands, lexicon terms) are known to every
tokenizer of either backend (a registry replays them into a backend loaded
later), so jieba and rjieba always segment with the same dictionary.  Adding a
word only ever keeps it whole, so sharing is harmless.
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
_USER_WORDS: dict[str, None] = {}  # every word added so far, in order
USER_WORD_FREQ = 200_000  # high enough that a user word is kept whole in every context


def _jieba() -> Any:
    global _JIEBA
    with _LOCK:
        if _JIEBA is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.initialize()
            for word in _USER_WORDS:
                tok.add_word(word, USER_WORD_FREQ)
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
                for word in _USER_WORDS:
                    _RJIEBA.add_word(word, USER_WORD_FREQ, None)
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
        self._jieba: Any = None if self._fast is not None else _jieba()
        self.backend = "rjieba" if self._fast is not None else "jieba"
        self.add_words(user_words)

    def add_words(self, words: Iterable[str]) -> None:
        """Keep ``words`` whole, in this and every other tokenizer of the process."""
        with _LOCK:
            for word in words:
                word = word.strip()
                if not word or any(c.isspace() for c in word) or word in _USER_WORDS:
                    continue  # jieba's dictionary format cannot hold spaces
                _USER_WORDS[word] = None
                if _RJIEBA is not None:
                    _RJIEBA.add_word(word, USER_WORD_FREQ, None)
                if _JIEBA is not None:
                    _JIEBA.add_word(word, USER_WORD_FREQ)

    def cut(self, text: str) -> list[str]:
        if self._fast is not None:
            return list(self._fast.cut(text, True))
        assert self._jieba is not None
        return list(self._jieba.lcut(text, HMM=True))

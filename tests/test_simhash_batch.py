"""fingerprints() (the batch form used by the pipeline) must equal fingerprint() text by text."""

from __future__ import annotations

from monitor.simhash import fingerprint, fingerprints
from monitor.sources.demo import load_stream


def test_batch_fingerprints_equal_single_ones() -> None:
    texts = [r["text"] for r in load_stream()][:60]
    texts += ["", "a", "好吃", "😀x", "😀x😀y", "，，，", "转发微博", "//@某人: 转发微博", "abc", "ab" * 40]
    assert fingerprints(texts) == [fingerprint(t) for t in texts]
    assert fingerprints(texts[::-1]) == [fingerprint(t) for t in texts[::-1]]
    assert fingerprints([]) == []
    assert fingerprints(["", "!!"]) == [(0, 0), (0, 0)]


def test_batch_shingles_do_not_cross_text_boundaries() -> None:
    # Joined, "abcdef" would share shingles across the boundary; apart, each text is hashed on its own.
    assert fingerprints(["abc", "def"]) == [fingerprint("abc"), fingerprint("def")]
    assert fingerprints(["abc", "def"])[0] != fingerprint("abcdef")[0]

"""fingerprints() (the batch form used by the pipeline) must equal fingerprint() text by text.

Both must also equal :func:`one_by_one`, the plain one-text computation kept here as the reference:
stored SimHash values must not change when the batch code does.
"""

from __future__ import annotations

import numpy as np

from monitor.simhash import _P1, _P2, _mix, fingerprint, fingerprints, simhash_text
from monitor.sources.demo import load_stream

_BIT_WEIGHTS = (np.uint64(1) << np.arange(64, dtype=np.uint64)).astype(np.uint64)


def one_by_one(text: str) -> tuple[int, int]:
    """(SimHash, significant characters) of one text, computed on its own (the reference)."""
    norm = simhash_text(text)
    if not norm:
        return 0, 0
    cps = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        if len(cps) >= 3:
            shingles = cps[:-2] * _P1 + cps[1:-1] * _P2 + cps[2:]
        else:
            shingles = np.array([int(cps.sum()) * 31 + len(cps)], dtype=np.uint64)
        hashes = _mix(shingles)
    bits = np.unpackbits(hashes.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    votes = bits.sum(axis=0, dtype=np.int64) * 2 - len(hashes)
    value = int((_BIT_WEIGHTS[votes > 0]).sum(dtype=np.uint64))
    return (value - (1 << 64) if value >= (1 << 63) else value), len(norm)


def test_batch_fingerprints_equal_single_ones() -> None:
    texts = [r["text"] for r in load_stream()][:60]
    texts += ["", "a", "好吃", "😀x", "😀x😀y", "，，，", "转发微博", "//@某人: 转发微博", "abc", "ab" * 40]
    assert fingerprints(texts) == [fingerprint(t) for t in texts] == [one_by_one(t) for t in texts]
    assert fingerprints(texts[::-1]) == [fingerprint(t) for t in texts[::-1]]
    assert fingerprints([]) == []
    assert fingerprints(["", "!!"]) == [(0, 0), (0, 0)]


def test_batch_shingles_do_not_cross_text_boundaries() -> None:
    # Joined, "abcdef" would share shingles across the boundary; apart, each text is hashed on its own.
    assert fingerprints(["abc", "def"]) == [fingerprint("abc"), fingerprint("def")]
    assert fingerprints(["abc", "def"]) == [one_by_one("abc"), one_by_one("def")]
    assert fingerprints(["abc", "def"])[0] != fingerprint("abcdef")[0]


def test_find_sees_unflushed_additions_like_flushed_ones() -> None:
    import random

    from monitor.simhash import NearDuplicateIndex, hamming

    rng = random.Random(5)
    index = NearDuplicateIndex(max_distance=6)
    added: list[tuple[int, int]] = []
    base = rng.getrandbits(64)
    for i in range(300):
        value = base ^ sum(1 << rng.randrange(64) for _ in range(rng.randint(0, 8)))
        value = value - (1 << 64) if value >= (1 << 63) else value
        expected = None
        if added:
            best = min(hamming(v, value) for _, v in added)
            if best <= 6:
                expected = (min(mid for mid, v in added if hamming(v, value) == best), best)
        match = index.find(value)
        assert (None if match is None else (match.original_id, match.distance)) == expected
        mention_id = rng.choice([1000 - i, 1000 + i])  # ids not always increasing: ties resolve to the lowest
        index.add(mention_id, value, 0.0)
        added.append((mention_id, value))

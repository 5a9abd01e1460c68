"""The labelled corpora the sentiment model is trained on, parsed from text.

Sans-I/O: the caller reads the files (``lantern train`` does) and passes their
contents here.  Every corpus becomes a list of :class:`Example` with a
three-way label where known (``neutral`` only exists in SMP2020) and a
``domain`` used for weighting and per-domain validation.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass

NEGATIVE, NEUTRAL, POSITIVE = "negative", "neutral", "positive"
NOT_NEGATIVE = "not_negative"  # binary corpora whose "positive" class also holds neutral posts


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # negative | neutral | positive | not_negative
    domain: str


def _rows(content: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.lstrip("\ufeff")), delimiter=delimiter))


def parse_weibo2018(content: str) -> list[Example]:
    """``mid,label,text`` without a header; 0 negative, 1 "positive" (which includes neutral news)."""
    out = []
    for row in _rows(content):
        if len(row) >= 3 and row[1] in ("0", "1"):
            text = ",".join(row[2:]).strip()
            if text:
                out.append(Example(text, NEGATIVE if row[1] == "0" else NOT_NEGATIVE, "weibo2018"))
    return out


SMP_LABELS = {
    "happy": POSITIVE,
    "neutral": NEUTRAL,
    "surprise": NEUTRAL,
    "angry": NEGATIVE,
    "sad": NEGATIVE,
    "fear": NEGATIVE,
}


def parse_smp2020(content: str, domain: str = "smp2020") -> list[Example]:
    """SMP2020-EWECT JSON list; angry/sad/fear are negative, happy positive, neutral/surprise neutral."""
    out = []
    for item in json.loads(content):
        text = str(item.get("content", "")).strip()
        label = SMP_LABELS.get(str(item.get("label")))
        if text and label:
            out.append(Example(text, label, domain))
    return out


# Weibo emotion corpora (MANIFEST, "binary mapping the evaluation uses"): these are negative, these are
# not negative; neutral / none / surprise are neither and only feed the three-class head.
EMOTION_LABELS = {
    **SMP_LABELS,
    "anger": NEGATIVE,
    "disgust": NEGATIVE,
    "sadness": NEGATIVE,
    "happiness": POSITIVE,
    "like": POSITIVE,
    "optimism": POSITIVE,
    "gratitude": POSITIVE,
    "none": NEUTRAL,
}


def _parse_emotion(domain: str) -> Callable[[str], list[Example]]:
    """``label,text`` CSV with a header; emotion names mapped by :data:`EMOTION_LABELS`."""

    def parse(content: str) -> list[Example]:
        rows = _rows(content)
        if not rows:
            return []
        header = [h.strip() for h in rows[0]]
        li, ti = header.index("label"), header.index("text")
        out = []
        for row in rows[1:]:
            if len(row) > max(li, ti):
                label = EMOTION_LABELS.get(row[li].strip().lower())
                text = row[ti].strip()
                if label and text:
                    out.append(Example(text, label, domain))
        return out

    return parse


def _parse_review(domain: str, delimiter: str, label_col: str, text_col: str) -> Callable[[str], list[Example]]:
    def parse(content: str) -> list[Example]:
        rows = _rows(content, delimiter)
        if not rows:
            return []
        header = [h.strip() for h in rows[0]]
        li, ti = header.index(label_col), header.index(text_col)
        out = []
        for row in rows[1:]:
            if len(row) > max(li, ti) and row[li].strip() in ("0", "1"):
                text = row[ti].strip()
                if text:
                    out.append(Example(text, POSITIVE if row[li].strip() == "1" else NEGATIVE, domain))
        return out

    return parse


# file name -> parser; the order is the order of the model card's table
CORPORA: dict[str, Callable[[str], list[Example]]] = {
    "weibo2018_train.csv": parse_weibo2018,
    "smp2020_virus_train.json": parse_smp2020,
    "smp2020_usual_train.json": lambda content: parse_smp2020(content, "smp2020_usual"),
    "covid19_weibo_emotion.csv": _parse_emotion("covid19"),
    "weibo_emotion_lrec2016_cluesplit.csv": _parse_emotion("lrec2016"),
    "nlpcc2013_weibo_emotion.csv": _parse_emotion("nlpcc2013"),
    "nlpcc2014_weibo_emotion_sentences.csv": _parse_emotion("nlpcc2014"),
    "weibo_emotion_mix8_spianmo.csv": _parse_emotion("mix8"),
    "waimai_10k.csv": _parse_review("waimai", ",", "label", "review"),
    "ChnSentiCorp_htl_all.csv": _parse_review("hotel", ",", "label", "review"),
    "online_shopping_10_cats.csv": _parse_review("shopping", ",", "label", "review"),
    "chnsenticorp_train.tsv": _parse_review("chnsenticorp", "\t", "label", "text_a"),
}
WEIBO_DOMAINS = ("weibo2018", "smp2020", "smp2020_usual", "covid19", "lrec2016", "nlpcc2013", "nlpcc2014", "mix8")
REVIEW_DOMAINS = ("waimai", "hotel", "shopping", "chnsenticorp")

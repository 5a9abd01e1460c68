"""Hand-written domain priors: a few documented patterns that shift the negative logit.

The training corpora (Weibo chatter, Covid posts, reviews) hold almost no
product exposés and few information-seeking questions, yet a brand-crisis tool
sees many of both.  For a brand, "央视曝光某品牌奶粉检出三聚氰胺" is negative
even when written in a neutral reporting tone; "有人吃过吗？" is a question,
not a complaint.  Each prior is a regular expression over the *normalised*
text (:func:`classifiers.features.normalize`: NFKC, lower case, digits to
``0``, full-width ``？`` to ``?``) and a fixed logit added to the negative
model's score when it matches.

They are applied as indicator features: one extra column per prior, whose
coefficient is the prior's logit.  So inference stays one sparse dot product,
and manager corrections (:mod:`classifiers.adapt`) can still move them.

The brand-crisis logits are set by hand, not fitted: those patterns fire on
too few Weibo posts (a handful per validation set) to estimate anything.
The sarcasm markers 呵呵 and [微笑] (1,516 and 455 training posts) and rhetorical
demands (诚意呢?) are frequent enough on Weibo to be ``fitted``: their column is
part of the training matrix and the logit stored in the artifact is the one the
logistic regression learnt.  Ironic praise (真是好样的 beside a complaint) is
rare in the corpora (39 posts), so its logit is set by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

_EXPOSE_VERB = r"(曝光|检出|查出|抽检|抽查|暗访|通报|央视|0·0|质检)"
_DEFECT = (
    r"(超标|不合格|三聚氰胺|致癌|过期|变质|造假|掺假|违规|违法|召回|立案|处罚|罚款|黑幕|老鼠|蟑螂|"
    r"异物|细菌|大肠杆菌|污染|隐患|缺陷|地沟油|非法添加|瘦肉精|苏丹红|塑化剂|重金属)"
)

_PRAISE = r"(好样的|真行|真棒|厉害了|可以的|有你的|干得漂亮|做得漂亮|佩服|(谢谢|感谢)你全家)"
_IRONIC = r"(呵呵|\[微笑\]|\[呵呵\]|\[怒\]|\[鄙视\]|\[白眼\]|\[吐\])"
_COMPLAINT = r"(又|居然|竟然|还没|不回|没人|没有人|延迟|排了|等了|坏了|退款|投诉|拖|骗|不给|不退)"


@dataclass(frozen=True)
class Prior:
    name: str
    pattern: str
    logit: float
    doc: str = ""
    fitted: bool = False  # True: ``logit`` is learnt in training (the value here is only a starting point)

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pattern": self.pattern, "logit": self.logit, "doc": self.doc,
                "fitted": self.fitted}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        return cls(str(d["name"]), str(d["pattern"]), float(d["logit"]), str(d.get("doc", "")),
                   bool(d.get("fitted", False)))


DEFAULT_PRIORS: tuple[Prior, ...] = (
    Prior(
        "exposure",
        rf"{_EXPOSE_VERB}.{{0,40}}{_DEFECT}|{_DEFECT}.{{0,40}}{_EXPOSE_VERB}",
        2.5,
        "an exposé verb (曝光/检出/抽检/通报/央视/3·15...) near a defect or sanction term: negative for the brand",
    ),
    Prior(
        "sanction",
        r"立案调查|责令(停业|整改|召回|关停)|(被|遭|予以)(罚|处罚|查处|通报)|召回|吊销",
        1.5,
        "a regulator's sanction or a recall, even reported neutrally",
    ),
    Prior(
        "question",
        r"(有没有人|有人|有谁)[^,.!?。，！]{0,8}(吃|用|买|去|试|喝|住|玩|点)过|求推荐|推荐一下|"
        r"(怎么样|好不好[吃用喝玩]|值不值得?[买去]?|值得[买去]吗|靠谱吗|好吃吗|好用吗)[呢啊吗]*(\?|$)|"
        r"^(问一下|请问|想问)[^,.!?。，！]{0,20}(能|可以|有没有|是不是)[^,.!?。，！]{0,10}吗\?|"
        r"(会|能)(买账|火|成功|好卖)吗\?",
        -2.0,
        "an information-seeking or speculative question (有人吃过吗 / 好吃吗? / 问一下…能用吗? / 会买账吗?): "
        "not a complaint by itself (-2: the #13 model leans negative on neutral posts)",
    ),
    Prior(
        "announcement",
        r"(今天|今日|明天|即日起|正式|开始|将于|现已|全新|新品)[^,.!?。，！]{0,6}(上线|开业|开售|上市|推出|发布|开通|营业)",
        -1.0,
        "a launch or opening announcement (开始上线 / 正式开业): neutral news",
    ),
    Prior(
        "sarcasm_hehe",
        r"呵呵(?!呵*哒)",
        0.0,
        "呵呵 (not 呵呵哒): on Weibo mostly a cold, dismissive laugh",
        fitted=True,
    ),
    Prior(
        "ironic_praise",
        rf"{_IRONIC}.{{0,30}}{_PRAISE}|{_PRAISE}.{{0,30}}{_IRONIC}|{_COMPLAINT}[^.!?。！？]{{0,25}}{_PRAISE}",
        1.5,
        "praise next to an ironic marker or a complaint (客服三天不回，真是好样的 / 呵呵，真行): sarcasm. Set by hand: "
        "39 training posts match, too few to fit",
    ),
    Prior(
        "smile_emoji",
        r"\[微笑\]",
        0.0,
        "the [微笑] emoji, which Weibo users mostly use ironically",
        fitted=True,
    ),
    Prior(
        "rhetorical_demand",
        r"(诚意|态度|良心|说法|交代|赔偿|道歉|人性|底线|责任|脸)(呢|何在|在哪)[?!]",
        0.0,
        "a rhetorical demand (诚意呢？/ 良心何在?): the writer's stance, negative",
        fitted=True,
    ),
)


def prior_matrix(priors: Sequence[Prior], normalized_texts: Sequence[str]) -> sp.csr_matrix:
    """One indicator column per prior (1.0 where its pattern matches the normalised text)."""
    rows: list[int] = []
    cols: list[int] = []
    for j, prior in enumerate(priors):
        rx = prior.regex
        for i, text in enumerate(normalized_texts):
            if rx.search(text):
                rows.append(i)
                cols.append(j)
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(normalized_texts), len(priors)), dtype=np.float32)

"""Failure classes seen in real use (#13): repost chains, brands' own statements, sarcasm."""

from __future__ import annotations

import pytest

from classifiers import Classifier, Signals
from classifiers.features import normalize
from classifiers.model import own_words
from classifiers.official import is_brand_account, is_official

APOLOGY = "致歉声明：近日我司门店发生食品安全问题，给广大消费者带来困扰，我们深表歉意，已全面停业整改。"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load(brands=["某品牌", "鲜味楼"])


def test_repost_chain_takes_the_reposters_stance(clf: Classifier) -> None:
    post = "诚意呢？//@某品牌官方微博: 致歉声明：给大家带来不便，我们深表歉意，将持续改进服务。"
    assert own_words(normalize(post)) == "诚意呢?"
    result = clf.classify(post, Signals(author="吃瓜群众小王"))
    assert result.sentiment == "negative", result
    assert not result.official and result.counts_as_negative
    # praise in front of a complaint is the reposter's stance too
    praise = clf.classify("处理得很快，点赞，谢谢客服！//@用户甲: 气死了，快递丢了没人管")
    assert praise.sentiment != "negative"
    # Weibo's default repost text is not the reposter's words
    assert own_words(normalize("转发微博//@用户甲: 气死了")) == ""
    assert own_words(normalize("气死了，再也不买了")) == ""


def test_a_brands_own_apology_is_official_not_public_negativity(clf: Classifier) -> None:
    result = clf.classify(APOLOGY, Signals(author="某品牌官方微博"))
    assert result.official and not result.counts_as_negative
    assert "官方声明（不计入负面）" in result.reasons and result.as_dict()["official"] is True
    # the same statement is recognised by its wording when the author is unknown
    assert clf.classify(APOLOGY).official
    # a brand account is any account naming the brand with an account word, or the brand itself
    assert is_brand_account("某品牌客服", ["某品牌"]) and is_brand_account("@鲜味楼", ["鲜味楼"])
    assert not is_brand_account("某品牌受害者联盟", ["某品牌"]) and not is_brand_account(None, ["某品牌"])
    # a customer's complaint about the apology is public negativity
    complaint = clf.classify("某品牌的致歉声明毫无诚意，气死了，我要投诉", Signals(author="小李"))
    assert complaint.sentiment == "negative" and complaint.counts_as_negative
    # a bare repost of the brand's statement spreads it; a repost with own words is the reposter's
    assert is_official("//@某品牌官方微博: 致歉声明……", "小李", ["某品牌"])
    assert not is_official("太敷衍了吧//@某品牌官方微博: 致歉声明……", "小李", ["某品牌"])
    assert is_official("感谢大家的监督//@某品牌官方微博: 致歉声明……", "某品牌官方微博", ["某品牌"])


@pytest.mark.parametrize(
    "text",
    ["呵呵，真是好样的[微笑]", "客服三天不回消息，真是好样的", "又延迟发货了呵呵", "排了两小时队，服务可真行啊[微笑]"],
)
def test_sarcasm_markers_read_negative(clf: Classifier, text: str) -> None:
    assert clf.classify(text).sentiment == "negative", text


def test_sarcasm_markers_are_fitted_features_of_the_shipped_model(clf: Classifier) -> None:
    priors = {p.name: p for p in clf.model.priors}
    for name in ("sarcasm_hehe", "smile_emoji", "rhetorical_demand"):
        assert priors[name].fitted and priors[name].doc
        assert priors[name].logit > 0, name  # learnt from the Weibo posts: they push towards negative
    # ironic praise is too rare in the corpora to fit: a hand-set shift, documented
    assert not priors["ironic_praise"].fitted and priors["ironic_praise"].logit > 0 and priors["ironic_praise"].doc
    assert clf.classify("武汉的医生护士真是好样的，致敬！").sentiment != "negative"  # sincere praise stays praise
    x = clf.model.features([normalize("呵呵")])
    column = clf.model.n_features - len(clf.model.priors) + list(priors).index("sarcasm_hehe")
    assert x[0, column] == 1.0
    # a sincere smile is not forced negative: the marker only shifts the score
    assert clf.classify("今天和家人一起去公园，开心[微笑][哈哈]").sentiment != "negative"

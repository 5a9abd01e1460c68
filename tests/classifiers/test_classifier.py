"""The shipped classifier: sentiment, categories, tiers, artifact versioning, adaptation."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from classifiers import (
    CATEGORIES,
    Classification,
    Classifier,
    Correction,
    InvalidCorrectionError,
    ModelVersionError,
    Signals,
    TierPolicy,
    adapt,
    load_adapted,
    load_overlay,
    save_overlay,
)
from classifiers.model import shipped_model_dir
from monitor.corrections import corrections_signature, record_correction
from monitor.schema import corrections_migrations
from web.feedback import adapt_from_corrections
from web.platform.storage import Database

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "classifier"
EXPOSE = "央视3·15晚会曝光：某连锁餐厅后厨老鼠乱窜，食材过期变质，顾客吃完上吐下泻"


@pytest.fixture(scope="module")
def clf() -> Classifier:
    return Classifier.load(brands=["海底捞", "走马灯奶茶"])


def test_contract_shapes(clf: Classifier) -> None:
    result = clf.classify("今天心情不错")
    assert isinstance(result, Classification)
    d = result.as_dict()
    assert set(d) == {"sentiment", "negative_probability", "categories", "tier", "reasons", "official"}
    assert isinstance(d["categories"], list) and isinstance(d["reasons"], list)
    json.dumps(d, ensure_ascii=False)
    assert set(CATEGORIES) >= {"food_safety", "product_defect", "personal_safety", "privacy", "fraud_pricing",
                               "service", "media_exposure", "legal"}
    assert clf.classify_batch([]) == []
    with pytest.raises(ValueError, match="signals"):
        clf.classify_batch(["a", "b"], [None])


def test_heldout_sentiment_accuracy(clf: Classifier) -> None:
    rows = list(csv.DictReader((FIXTURES / "heldout.csv").read_text("utf-8").splitlines()))
    results = clf.classify_batch([r["text"] for r in rows])
    pairs = list(zip(results, rows, strict=True))
    binary_ok = sum((r.sentiment == "negative") == (row["label"] == "negative") for r, row in pairs)
    polar_ok = sum(r.sentiment == row["label"] for r, row in pairs)
    assert binary_ok / len(rows) >= 0.9
    assert polar_ok / len(rows) >= 0.8
    for r in results:
        assert 0.0 <= r.negative_probability <= 1.0


def test_domain_priors_questions_announcements_and_exposes(clf: Classifier) -> None:
    # an information-seeking question about a launch is not a complaint
    question = clf.classify("鲜味楼今天开始上线早餐外卖，不知道味道怎么样，有人吃过吗？")
    assert question.sentiment != "negative" and question.negative_probability < 0.5
    # an exposé of a defect is negative for the brand, however neutral its tone
    expose = clf.classify("央视曝光某品牌奶粉检出三聚氰胺")
    assert expose.sentiment == "negative" and expose.negative_probability >= 0.6
    assert clf.classify("市场监管局已立案调查该公司").sentiment == "negative"
    # the priors are shipped in the artifact and documented
    names = [p.name for p in clf.model.priors]
    assert {"exposure", "sanction", "question", "announcement"} <= set(names)
    assert all(p.doc for p in clf.model.priors)
    # a question that is a complaint is still negative: the prior only shifts the model's score
    assert clf.classify("有没有人管管啊？客服态度恶劣，垃圾服务，气死了").sentiment == "negative"


def test_batch_equals_single(clf: Classifier) -> None:
    texts = ["客服态度太差了，我要投诉", "谢谢你们，太棒了", EXPOSE]
    assert clf.classify_batch(texts) == [clf.classify(t) for t in texts]


def test_categories_fire_with_terms(clf: Classifier) -> None:
    r = clf.classify(EXPOSE)
    assert {"food_safety", "media_exposure"} <= set(r.categories)
    food = next(x for x in r.reasons if x.startswith("食品安全:"))
    assert "老鼠" in food
    cases = {
        "我的身份证号和手机号被泄露了，天天接到骚扰电话，隐私泄露太严重": "privacy",
        "虚假宣传！说好的买一送一，到店强制消费还乱收费": "fraud_pricing",
        "已经委托律师发了律师函，准备起诉这家公司": "legal",
        "孩子玩这个玩具被划伤送医，产品有严重安全隐患": "personal_safety",
        "新买的冰箱漏水，质量问题太严重了，要求返修": "product_defect",
        "客服态度恶劣，推诿扯皮踢皮球，投诉无门": "service",
        "市场监管局已立案调查，并约谈了企业负责人": "media_exposure",
    }
    for text, cat in cases.items():
        assert cat in clf.classify(text).categories, text
    assert clf.classify("今天的晚霞好美").categories == ()


def test_brand_words_do_not_fire_terms() -> None:
    # "老鼠" inside a brand name kept whole by the tokenizer is not a food-safety hit
    text = "周末带孩子去老鼠乐园玩"
    assert "food_safety" in Classifier.load().classify(text).categories
    branded = Classifier.load(brands=["老鼠乐园"])
    assert "food_safety" not in branded.classify(text).categories


def test_tiers_order(clf: Classifier) -> None:
    top = clf.classify(EXPOSE, Signals(source_name="央视新闻", volume_1h=300))
    assert top.tier == "P1"
    assert "央视来源" in top.reasons and "1 小时内 300 条" in top.reasons
    mild = clf.classify("今天去超市买了点水果", Signals(source_name="路人小张"))
    assert mild.tier == "P4"
    policy = TierPolicy()
    tiers = [
        clf.tier(0.97, ["food_safety"], Signals(source_authority="central_media", volume_1h=300))[0],
        clf.tier(0.9, ["service"], Signals(source_name="某某V", author_reach=2_000_000, velocity=4.0))[0],
        clf.tier(0.9, ["service"], Signals(source_authority="ordinary"))[0],
        clf.tier(0.1, [], None)[0],
    ]
    assert tiers == sorted(tiers) and tiers[0] == "P1" and tiers[-1] == "P4"
    # exposure without risk stays low: a positive 央视 story with high volume
    assert clf.tier(0.05, [], Signals(source_name="人民日报", volume_1h=5000))[0] in ("P3", "P4")
    assert policy.authority_of("新华社") == ("central_media", "新华社")
    assert policy.authority_of("澎湃新闻")[0] == "provincial_media"
    assert policy.authority_of("第一财经")[0] == "industry_media"
    assert policy.authority_of("美食博主小王V")[0] == "verified"
    assert policy.authority_of("张三")[0] == "ordinary"


def test_tier_policy_from_dict() -> None:
    policy = TierPolicy.from_dict(
        {"p1": 90, "authority_points": {"central_media": 50}, "sources": {"verified": ["达人"]}}
    )
    assert policy.p1 == 90 and policy.authority_points["central_media"] == 50
    assert policy.authority_points["provincial_media"] == 20  # merged with defaults
    assert policy.authority_of("美食达人")[0] == "verified"
    with pytest.raises(ValueError, match="unknown tier setting"):
        TierPolicy.from_dict({"nonsense": 1})
    with pytest.raises(ValueError, match="p1 >= p2"):
        TierPolicy.from_dict({"p1": 10, "p2": 50})


def test_version_mismatch_is_clear(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(shipped_model_dir(), model_dir, ignore=shutil.ignore_patterns("*.md"))
    meta = json.loads((model_dir / "model.json").read_text("utf-8"))
    meta["format_version"] = 99
    (model_dir / "model.json").write_text(json.dumps(meta), "utf-8")
    with pytest.raises(ModelVersionError, match=r"format 99.*lantern train"):
        Classifier.load(model_dir)
    with pytest.raises(Exception, match="no classifier model"):
        Classifier.load(tmp_path / "missing")


def test_adapt_changes_corrected_prediction(clf: Classifier, tmp_path: Path) -> None:
    text = "这家店的东西一般般吧，就那样"
    before = clf.classify(text)
    target = "positive" if before.sentiment == "negative" else "negative"
    corrections = [
        Correction(text, "sentiment", target, "manager"),
        Correction(EXPOSE, "category", "media_exposure"),  # the manager removes food_safety
        Correction("今天的晚霞好美", "tier", "P2"),
    ]
    adapted = adapt(clf, corrections)
    after = adapted.classify(text)
    assert after.sentiment == target
    assert "人工校正: " + {"negative": "负面", "positive": "正面"}[target] in after.reasons
    # the learnt delta moves a reworded copy too
    p_base = clf.classify(text + "。").negative_probability
    p_adapted = adapted.classify(text + "。").negative_probability
    assert (p_adapted > p_base) if target == "negative" else (p_adapted < p_base)
    assert adapted.classify(EXPOSE).categories == ("media_exposure",)
    assert adapted.classify("今天的晚霞好美").tier == "P2"
    assert clf.classify(text) == before  # the base is untouched
    # food-safety terms of the removed category lost weight
    assert adapted.matcher.lexicon.terms["food_safety"]["老鼠"] < clf.matcher.lexicon.terms["food_safety"]["老鼠"]
    # corrections survive a restart: saved next to the model, re-applied by load()
    save_overlay(corrections, tmp_path)
    assert load_overlay(tmp_path) == corrections
    reloaded = load_adapted(overlay_dir=tmp_path)
    assert reloaded.classify(text).sentiment == target
    with pytest.raises(InvalidCorrectionError):
        Correction(text, "sentiment", "furious")
    with pytest.raises(InvalidCorrectionError):
        Correction(text, "category", "weather")


async def test_feedback_job(clf: Classifier, tmp_path: Path) -> None:
    db = Database(tmp_path / "lantern.db")
    try:
        applied = db.migrate([corrections_migrations])
        assert applied == ["classifier:m001_corrections"]
        text = "这家店的东西一般般吧，就那样"
        target = "positive" if clf.classify(text).sentiment == "negative" else "negative"
        await db.write(
            lambda d: record_correction(
                d, text=text, field="sentiment", value=target, user="boss", mention_id=7, now=1000.0
            )
        )
        with pytest.raises(InvalidCorrectionError):
            await db.write(lambda d: record_correction(d, text=text, field="tier", value="P9"))
        rows = await db.read(lambda d: list(d["corrections"].rows))
        assert len(rows) == 1 and rows[0]["mention_id"] == 7 and rows[0]["created_at"] == 1000.0
        adapted = await adapt_from_corrections(db, clf, tmp_path / "model")
        assert adapted.classify(text).sentiment == target
        assert (tmp_path / "model" / "overlay.json").is_file()
        assert load_adapted(overlay_dir=tmp_path / "model").classify(text).sentiment == target
        # nothing changed: the next run leaves overlay.json alone; a new correction rewrites it
        saved = (tmp_path / "model" / "overlay.json").read_text("utf-8")
        signature = await db.read(corrections_signature)
        await adapt_from_corrections(db, clf, tmp_path / "model")
        assert (tmp_path / "model" / "overlay.json").read_text("utf-8") == saved
        assert await db.read(corrections_signature) == signature
        await db.write(lambda d: record_correction(d, text="第二条", field="tier", value="P2", user="boss", now=2000.0))
        assert await db.read(corrections_signature) != signature
        await adapt_from_corrections(db, clf, tmp_path / "model")
        assert len(load_overlay(tmp_path / "model")) == 2
    finally:
        db.close()

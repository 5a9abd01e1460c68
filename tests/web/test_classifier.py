"""The classifier as wired into the app: corrections adapt the live model and survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers import Signals
from monitor.corrections import record_correction
from web.classifier import load_classifier, overlay_dir
from web.compose import Part
from web.errors import ConfigError
from web.platform.settings import load_settings

TEXT = "鲜味楼今天开始上线早餐外卖，不知道味道怎么样，有人吃过吗？"


async def test_corrections_change_the_live_model_and_survive_restart(settings, services_factory) -> None:
    settings = settings.with_overrides(classifier__adapt_interval_s=0)
    parts = {Part.CLASSIFIER}
    services = await services_factory(settings, parts=parts)
    before = services.classifier.classify(TEXT)
    corrected = "positive" if before.sentiment != "positive" else "negative"
    now = services.clock()
    await services.db.write(lambda db: record_correction(db, text=TEXT, field="sentiment", value=corrected,
                                                         user="wang", now=now))
    await services.adapt_classifier()
    assert services.classifier.classify(TEXT).sentiment == corrected
    assert (overlay_dir(settings) / "overlay.json").is_file()
    # `lantern classify` loads the configured model with the corrections saved beside the database.
    offline = load_classifier(settings, corrections_dir=overlay_dir(settings))
    assert offline.classify(TEXT).sentiment == corrected
    assert load_classifier(settings).classify(TEXT).sentiment == before.sentiment
    services.db.close()

    # A new process: the base model loads, start-up adaptation re-applies the stored corrections.
    again = await services_factory(settings, parts=parts)
    await again.start()
    try:
        assert again.classifier.classify(TEXT).sentiment == corrected
    finally:
        await again.stop()


async def test_tier_table_reaches_the_policy(tmp_path: Path, services_factory) -> None:
    config = tmp_path / "lantern.toml"
    config.write_text('[tier.sources]\ncentral_media = ["鲜味日报"]\n', encoding="utf-8")
    settings = load_settings(config, env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    services = await services_factory(settings, parts={Part.CLASSIFIER})
    result = services.classifier.classify("鲜味日报：某品牌后厨老鼠乱窜", Signals(source_name="鲜味日报"))
    assert any("鲜味日报" in reason for reason in result.reasons), result.reasons


async def test_bad_tier_table_is_a_config_error(tmp_path: Path, services_factory) -> None:
    config = tmp_path / "lantern.toml"
    config.write_text("[tier]\nno_such_weight = 3\n", encoding="utf-8")
    settings = load_settings(config, env={}).with_overrides(storage__path=str(tmp_path / "l.db"))
    with pytest.raises(ConfigError, match=r"\[tier\]: 未知键 .*unknown tier setting"):
        await services_factory(settings, parts={Part.CLASSIFIER})

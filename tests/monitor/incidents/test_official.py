"""A brand's own statement inside an incident is not public negativity (#13)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from classifiers import OFFICIAL_REASON, Classifier, Signals
from monitor.incidents import queries
from monitor.mentions import Mention
from monitor.pipeline import default_signals
from tests.fixtures.alerts.helpers import Clock, make_services, settings_for, store_mention

STORY = "央视曝光鲜味楼后厨老鼠乱窜，过期食材重新贴标继续售卖"
APOLOGY = "鲜味楼致歉声明：央视曝光后厨老鼠乱窜、过期食材问题，我司深表歉意，涉事门店已停业整改"


@pytest.fixture
async def services(tmp_path: Path) -> Any:
    svc = await make_services(settings_for(tmp_path, incidents__volume_tiers=["P4:1", "P3:3", "P2:5"]), Clock())
    yield svc
    svc.db.close()


async def test_official_apology_is_left_out_of_the_negative_share(services: Any) -> None:
    complaint = await store_mention(services, title=STORY, categories=("food_safety",))
    await services.incidents.on_mentions([complaint])
    apology = await store_mention(services, title=APOLOGY, categories=("food_safety",))
    classified = Classifier.load(brands=["鲜味楼"]).classify(APOLOGY, Signals(author="鲜味楼官方微博"))
    assert classified.official and OFFICIAL_REASON in classified.reasons
    # stored as the pipeline stores it: the classification's reasons carry the official marker
    await services.db.write(lambda db: db.execute("update mentions set reasons = ? where id = ?",
                                                  [json.dumps(list(classified.reasons), ensure_ascii=False),
                                                   apology.id]).rowcount)
    await services.incidents.on_mentions([dataclasses.replace(apology, official=classified.official)])
    incident = await services.db.read(lambda db: db.execute(
        "select incident_id from mentions where id = ?", [complaint.id]).fetchone()[0])
    assert incident == await services.db.read(lambda db: db.execute(
        "select incident_id from mentions where id = ?", [apology.id]).fetchone()[0])
    detail = await services.db.read(lambda db: queries.detail(db, incident))
    assert detail["mention_count"] == 2 and detail["negative_share"] == 0.5


def test_the_monitor_passes_the_author_to_the_classifier() -> None:
    m = Mention(source="weibo", external_id="1", url="https://example.com/1", title="", text=APOLOGY,
                published_at=datetime(2026, 12, 2, tzinfo=UTC), author="鲜味楼官方微博")
    assert default_signals(m).author == "鲜味楼官方微博"

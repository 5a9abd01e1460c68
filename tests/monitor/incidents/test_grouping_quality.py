"""Grouping that follows stories (issue 12, point 4), on a labelled stream through the real system.

``tests/fixtures/grouping/small.jsonl`` (a third of ``streams.jsonl``, see ``make_streams.py``): six
stories about two brands that overlap in time, reposts through ``//@`` chains, hashtags, rewordings,
follow-up coverage, and chatter.  Replayed through the monitor's pipeline (dedupe, near-duplicates),
the shipped classifier and the incident engine with the default settings.  The floor is the target of
the issue; ``python -m benchmarks.alerts`` reports the figures on the full stream.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from classifiers import Classifier
from monitor.incidents import schema as incidents_schema
from monitor.schema import migrations as monitor_migrations
from tests.fixtures.grouping import replay as grouping_replay
from web.platform.storage import Database

FLOOR = 0.9


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load(brands=list(grouping_replay.BRANDS))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "g.db")
    database.migrate([monitor_migrations, incidents_schema.migrations])
    yield database
    database.close()


@pytest.mark.parametrize("poll_s", [0, 60], ids=["record-by-record", "polls-every-60s"])
async def test_one_incident_per_story_and_no_story_merged_into_another(db: Database, classifier: Classifier,
                                                                       poll_s: float) -> None:
    records = grouping_replay.load(grouping_replay.SMALL)
    out = await grouping_replay.replay(db, classifier, records, poll_s)
    assigned: dict[str, Any] = out["assigned"]
    scores = grouping_replay.score(grouping_replay.gold_of(records), assigned)
    assert scores.pairwise_precision >= FLOOR and scores.pairwise_recall >= FLOOR, scores.line()
    assert scores.bcubed_precision >= FLOOR and scores.bcubed_recall >= FLOOR, scores.line()

    stories = grouping_replay.per_story(records, assigned)
    home = {label: counts.most_common(1)[0][0] for label, counts in stories.items() if label != "None"}
    assert None not in home.values(), stories
    assert len(set(home.values())) == len(home), f"two stories in one incident: {stories}"  # nothing merged
    assert len(out["incidents"]) == len(home), out["incidents"]  # no story split into a second incident
    assert all(n is None for n in stories["None"]), stories["None"]  # chatter joins nothing
    brands = {i["id"]: i["brand"] for i in out["incidents"]}
    assert {label: brands[i] for label, i in home.items()} == {
        "beef": "鲜味楼", "cockroach": "鲜味楼", "leak": "鲜味楼", "meat": "麦香园", "shove": "麦香园",
        "shrink": "麦香园"}


async def test_a_story_climbs_in_one_incident_instead_of_opening_one_per_tier(db: Database,
                                                                             classifier: Classifier) -> None:
    records = grouping_replay.load(grouping_replay.SMALL)
    out = await grouping_replay.replay(db, classifier, records, 0)
    events = await db.read(lambda d: list(d.query(
        "select incident_id, kind, detail from incident_events where kind in ('opened', 'retiered') order by id")))
    opened = Counter(e["incident_id"] for e in events if e["kind"] == "opened")
    assert all(n == 1 for n in opened.values())
    climbed = {e["incident_id"]: json.loads(e["detail"])["tier"] for e in events if e["kind"] == "retiered"}
    assert climbed, "no story climbed: every tier opened an incident of its own?"
    assert set(climbed) <= {i["id"] for i in out["incidents"]}

"""The tables ``monitor`` owns at its top level, as ``sqlite_utils`` migration sets.

``mentions``       every stored mention, its classification and its incident (``incident_id``)
``sources``        configured and API-added sources (``origin``: ``config`` | ``api``), :mod:`monitor.sources_table`
``source_state``   each source's poll health (ETag, cursor, failures, lateness, ...)
``corrections``    managers' corrections of a mention's classification, see :mod:`monitor.corrections`

The incidents' tables are in :mod:`monitor.incidents.schema`, the alerting tables in
:mod:`monitor.alerting.schema`.  Only ``monitor`` queries these tables; other packages call its functions
(``tests/test_table_owners.py`` checks).  Times are REAL epoch seconds (UTC).
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("monitor")


@migrations()
def m001_mentions(db: sqlite_utils.Database) -> None:
    db["mentions"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "source": str,
            "external_id": str,
            "url": str,
            "url_norm": str,
            "content_hash": str,
            "simhash": int,
            "duplicate_of": int,  # id of the original when this is a near-duplicate repost
            "author": str,
            "author_reach": int,
            "published_at": float,
            "fetched_at": float,
            "title": str,
            "text": str,
            "raw": str,  # JSON
            # classification (NULL until classified)
            "sentiment": str,
            "negative_probability": float,
            "categories": str,  # JSON list
            "tier": str,
            "reasons": str,  # JSON list
            "classified_at": float,
            "incident_id": int,
        },
        pk="id",
    )
    db["mentions"].create_index(["source", "external_id"], unique=True)  # type: ignore[union-attr]
    db["mentions"].create_index(["url_norm"])  # type: ignore[union-attr]
    db["mentions"].create_index(["content_hash"])  # type: ignore[union-attr]
    db["mentions"].create_index(["fetched_at"])  # type: ignore[union-attr]
    db["mentions"].create_index(["incident_id"])  # type: ignore[union-attr]
    db["mentions"].create_index(["classified_at"])  # type: ignore[union-attr]


@migrations()
def m002_sources(db: sqlite_utils.Database) -> None:
    db["sources"].create(  # type: ignore[union-attr]
        {"name": str, "kind": str, "config": str, "origin": str, "paused": int, "created_at": float,
         "updated_at": float},
        pk="name",
        defaults={"paused": 0, "origin": "api"},
    )
    db["source_state"].create(  # type: ignore[union-attr]
        {
            "name": str,
            "etag": str, "last_modified": str, "cursor": str,
            "last_attempt_at": float, "last_success_at": float,
            "last_error": str, "last_error_at": float, "consecutive_failures": int,
            "items_seen": int, "mentions_new": int, "duplicates": int,
            "last_new_at": float, "mean_gap_s": float, "next_attempt_at": float,
            "alert": str, "last_lateness_s": float,
        },
        pk="name",
        defaults={"consecutive_failures": 0, "items_seen": 0, "mentions_new": 0, "duplicates": 0},
    )
    # notified_at: set once the mention listeners (incident engine) have received it.
    db["mentions"].add_column("notified_at", float)  # type: ignore[union-attr]
    db.execute("UPDATE mentions SET notified_at = classified_at WHERE classified_at IS NOT NULL")
    db["mentions"].create_index(["notified_at"])  # type: ignore[union-attr]
    db["mentions"].create_index(["simhash"])  # type: ignore[union-attr]


@migrations()
def m003_pending_index(db: sqlite_utils.Database) -> None:
    # Stored but not yet classified/announced: a partial index keeps the resume scan tiny.
    db.execute("CREATE INDEX IF NOT EXISTS idx_mentions_pending ON mentions (source, id) "
               "WHERE classified_at IS NULL OR notified_at IS NULL")


@migrations()
def m004_channel(db: sqlite_utils.Database) -> None:
    # The feed or channel title (an RSS <channel><title> such as 央视新闻的微博): it counts for authority.
    db["mentions"].add_column("channel", str)  # type: ignore[union-attr]


@migrations()
def m005_source_health_details(db: sqlite_utils.Database) -> None:
    # What a poll stored with a caveat, which items it refused and why, and the encoding it read the page in.
    table = db["source_state"]
    for column, kind in (("warning", str), ("rejected", str), ("rejected_at", float), ("encoding", str),
                         ("encoding_source", str)):
        table.add_column(column, kind)  # type: ignore[union-attr]
    table.add_column("rejected_count", int, not_null_default=0)  # type: ignore[union-attr]


# Set name "classifier": the corrections table was created under it when web kept it; applied migrations are
# recorded by set and name, so the name stays.  The classifier itself stays free of I/O: it learns from the
# list of :class:`classifiers.Correction` that :func:`monitor.corrections.all_corrections` reads.
corrections_migrations = Migrations("classifier")


@corrections_migrations()
def m001_corrections(db: sqlite_utils.Database) -> None:
    db["corrections"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "mention_id": int,
            "text": str,
            "field": str,
            "value": str,
            "user": str,
            "created_at": float,
        },
        pk="id",
        not_null={"text", "field", "value", "created_at"},
    )
    db["corrections"].create_index(["created_at"])  # type: ignore[union-attr]


MIGRATIONS = (migrations, corrections_migrations)

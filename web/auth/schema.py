"""The tables ``web`` owns, as the ``sqlite_utils`` migration set ``web``.

``users``        accounts: role, team, skills, site, shift, argon2id password hash, active flag
``api_tokens``   API tokens of a user (only the SHA-256 is stored), with label and revocation
``sessions``     login sessions (only the SHA-256 of the session id is stored)
``app_secrets``  secrets the app generates once and keeps (e.g. the signing key when none is configured)

Only :mod:`web.auth` queries them (:mod:`web.auth.users`); the rest of ``web`` calls its functions
(``tests/test_table_owners.py`` checks).
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("web")


@migrations()
def m001_users(db: sqlite_utils.Database) -> None:
    db["users"].create(  # type: ignore[union-attr]
        {"id": int, "name": str, "role": str, "team": str, "password_hash": str,
         "display_name": str, "active": int, "created_at": float},
        pk="id",
        not_null={"name", "role"},
        defaults={"active": 1, "team": ""},
    )
    db["users"].create_index(["name"], unique=True)  # type: ignore[union-attr]
    db["api_tokens"].create(  # type: ignore[union-attr]
        {"id": int, "user_id": int, "token_hash": str, "label": str, "created_at": float,
         "last_used_at": float, "revoked": int},
        pk="id",
        foreign_keys=[("user_id", "users", "id")],
        defaults={"revoked": 0},
    )
    db["api_tokens"].create_index(["token_hash"], unique=True)  # type: ignore[union-attr]
    db["sessions"].create(  # type: ignore[union-attr]
        {"id": int, "user_id": int, "session_hash": str, "created_at": float, "expires_at": float},
        pk="id",
        foreign_keys=[("user_id", "users", "id")],
    )
    db["sessions"].create_index(["session_hash"], unique=True)  # type: ignore[union-attr]
    db["app_secrets"].create({"name": str, "value": str}, pk="name")  # type: ignore[union-attr]


@migrations()
def m002_user_targeting(db: sqlite_utils.Database) -> None:
    """Skill groups and site of an agent: what script targeting uses (never the client's claim)."""
    db["users"].add_column("skills", str, not_null_default="")  # type: ignore[union-attr]
    db["users"].add_column("site", str, not_null_default="")  # type: ignore[union-attr]


@migrations()
def m003_user_shift(db: sqlite_utils.Database) -> None:
    """The shift (班次) an agent works, named in ``[[shifts]]``: shift targeting and on-shift coverage."""
    db["users"].add_column("shift", str, not_null_default="")  # type: ignore[union-attr]


MIGRATIONS = (migrations,)

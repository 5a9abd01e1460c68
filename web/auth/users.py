"""Users, roles, password hashes, API tokens and login sessions (database side; tables in :mod:`.schema`).

Passwords are hashed with argon2id. API tokens and session ids are random
and only their SHA-256 is stored, so a copy of the database reveals neither.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from web.errors import AlreadyActive, AuthError, NoSuchUser, UserExists

ROLES = ("admin", "manager", "agent", "oncall")
_hasher = PasswordHasher()


def parse_names(value: str | None) -> tuple[str, ...]:
    """``"售后, 投诉 ,"`` -> ``("售后", "投诉")``: a comma-separated list of names."""
    return tuple(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    team: str = ""
    display_name: str = ""
    skills: tuple[str, ...] = ()
    site: str = ""
    shift: str = ""

    def has_role(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role, "team": self.team,
                "display_name": self.display_name or self.name, "skills": list(self.skills), "site": self.site,
                "shift": self.shift}


def secret_digest(value: str) -> str:
    """The SHA-256 stored for a token or session (what the principal cache keys it by).

    Header bytes that are not UTF-8 arrive as lone surrogates; they hash too (and match nothing).
    """
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _row_user(row: dict[str, object]) -> User:
    return User(id=int(row["id"]), name=str(row["name"]), role=str(row["role"]),  # type: ignore[call-overload]
                team=str(row.get("team") or ""), display_name=str(row.get("display_name") or ""),
                skills=parse_names(str(row.get("skills") or "")), site=str(row.get("site") or ""),
                shift=str(row.get("shift") or ""))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(db: sqlite_utils.Database, name: str, role: str, password: str, *, team: str = "",
             display_name: str = "", skills: tuple[str, ...] = (), site: str = "", shift: str = "",
             now: float) -> User:
    """Create a user (call inside a write). Raises AuthError for a bad role or a taken name."""
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if not name or len(name) > 64 or any(c.isspace() for c in name):
        raise AuthError("user name must be 1-64 characters without spaces")
    if len(password) < 8:
        raise AuthError("password must be at least 8 characters")
    if db.execute("select 1 from users where name = ?", [name]).fetchone():
        raise UserExists(message_en=f"user {name!r} already exists", message_zh=f"用户名 {name!r} 已存在")
    table = db.table("users")
    table.insert({"name": name, "role": role, "team": team, "display_name": display_name,
                  "skills": ",".join(skills), "site": site, "shift": shift,
                  "password_hash": hash_password(password), "active": 1, "created_at": now})
    return User(id=int(table.last_pk), name=name, role=role, team=team,  # type: ignore[arg-type]
                display_name=display_name, skills=tuple(skills), site=site, shift=shift)


def get_user(db: sqlite_utils.Database, user_id: int) -> User | None:
    rows = list(db.query("select * from users where id = ? and active = 1", [user_id]))
    return _row_user(rows[0]) if rows else None


def display_names(db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, str]:
    """id -> the name people see (display name, else login name), deactivated accounts included."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    marks = ", ".join("?" * len(wanted))
    return {int(r["id"]): str(r["display_name"] or r["name"])
            for r in db.query(f"select id, name, display_name from users where id in ({marks})", wanted)}


def find_user(db: sqlite_utils.Database, name: str) -> User | None:
    rows = list(db.query("select * from users where name = ? and active = 1", [name]))
    return _row_user(rows[0]) if rows else None


def verify_password(db: sqlite_utils.Database, name: str, password: str) -> User | None:
    """The user if ``password`` is theirs, else None (same cost either way)."""
    rows = list(db.query("select * from users where name = ? and active = 1", [name]))
    stored = str(rows[0]["password_hash"]) if rows else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return _row_user(rows[0]) if rows else None


_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def create_token(db: sqlite_utils.Database, user: User, label: str, *, now: float) -> str:
    """A new API token for ``user``; only its hash is stored, so show it once."""
    token = "lt_" + secrets.token_urlsafe(32)
    db.table("api_tokens").insert({"user_id": user.id, "token_hash": secret_digest(token), "label": label,
                                   "created_at": now, "revoked": 0})
    return token


def list_tokens(db: sqlite_utils.Database, user_id: int) -> list[dict[str, object]]:
    """A user's API tokens as dicts safe to show: id, label, times and state, never the token or its hash."""
    rows = db.query("select id, label, created_at, last_used_at, revoked from api_tokens where user_id = ? "
                    "order by id", [user_id])
    return [{"id": r["id"], "label": r["label"] or "", "created_at": r["created_at"],
             "last_used_at": r["last_used_at"], "revoked": bool(r["revoked"])} for r in rows]


def revoke_token(db: sqlite_utils.Database, token_id: int) -> tuple[int, str]:
    """Revoke one API token (call inside a write): its user's id and its stored SHA-256 (the principal cache's key).

    AuthError if there is no such token.
    """
    row = db.execute("select user_id, token_hash from api_tokens where id = ?", [token_id]).fetchone()
    if row is None:
        raise NoSuchUser(f"no API token with id {token_id}")
    db.execute("update api_tokens set revoked = 1 where id = ?", [token_id])
    return int(row[0]), str(row[1])


_TOKEN_USER = ("select u.* from api_tokens t join users u on u.id = t.user_id "  # noqa: S105 - SQL
               "where t.token_hash = ? and t.revoked = 0 and u.active = 1")
_SESSION_USER = ("select u.*, s.expires_at as session_expires_at from sessions s join users u on u.id = s.user_id "
                 "where s.session_hash = ? and s.expires_at > ? and u.active = 1")


def _token_user(db: sqlite_utils.Database, digest: str) -> User | None:
    rows = list(db.query(_TOKEN_USER, [digest]))
    return _row_user(rows[0]) if rows else None


def _session_user(db: sqlite_utils.Database, digest: str, now: float) -> tuple[User, float] | None:
    rows = list(db.query(_SESSION_USER, [digest, now]))
    return (_row_user(rows[0]), float(rows[0]["session_expires_at"])) if rows else None


def user_for_digest(db: sqlite_utils.Database, kind: str, digest: str, *, now: float) -> User | None:
    """The active user behind a token or live session known only by its SHA-256 (re-checking open connections)."""
    if kind == "token":
        return _token_user(db, digest)
    found = _session_user(db, digest, now)
    return found[0] if found else None


def user_for_token(db: sqlite_utils.Database, token: str) -> User | None:
    return _token_user(db, secret_digest(token))


def create_session(db: sqlite_utils.Database, user: User, *, now: float, ttl_s: float) -> str:
    session = secrets.token_urlsafe(32)
    db.table("sessions").insert({"user_id": user.id, "session_hash": secret_digest(session),
                                 "created_at": now, "expires_at": now + ttl_s})
    return session


def user_for_session(db: sqlite_utils.Database, session: str, *, now: float) -> User | None:
    found = session_user(db, session, now=now)
    return found[0] if found else None


def session_user(db: sqlite_utils.Database, session: str, *, now: float) -> tuple[User, float] | None:
    """The user of a live session and when the session expires."""
    return _session_user(db, secret_digest(session), now)


def end_session(db: sqlite_utils.Database, session: str) -> None:
    db.execute("delete from sessions where session_hash = ?", [secret_digest(session)])


def app_secret(db: sqlite_utils.Database, name: str) -> str:
    """A per-installation random secret, created on first use (call inside a write)."""
    row = db.execute("select value from app_secrets where name = ?", [name]).fetchone()
    if row:
        return str(row[0])
    value = secrets.token_urlsafe(48)
    db.table("app_secrets").insert({"name": name, "value": value})
    return value


def list_users(db: sqlite_utils.Database, *, include_inactive: bool = False) -> list[dict[str, object]]:
    """Every user as a dict safe to show (never the password hash)."""
    where = "" if include_inactive else "where active = 1"
    rows = db.query(f"select id, name, role, team, display_name, skills, site, shift, active, created_at from users "
                    f"{where} order by name")
    return [{**_row_user(row).as_dict(), "active": bool(row["active"]), "created_at": row["created_at"]}
            for row in rows]


def display_names_by_login(db: sqlite_utils.Database, names: Iterable[str]) -> dict[str, str]:
    """User name -> display name (the name itself when no display name is set), for the users that exist."""
    wanted = sorted(set(names))
    if not wanted:
        return {}
    marks = ",".join("?" for _ in wanted)
    rows = db.execute(f"select name, coalesce(nullif(display_name, ''), name) from users where name in ({marks})",
                      wanted).fetchall()
    return {str(name): str(display) for name, display in rows}


def active_users(db: sqlite_utils.Database, role: str | None = None) -> list[User]:
    """Every active user (of ``role``, if given)."""
    sql = "select * from users where active = 1" + (" and role = ?" if role is not None else "") + " order by id"
    return [_row_user(row) for row in db.query(sql, [role] if role is not None else [])]


def deactivate_user(db: sqlite_utils.Database, user_id: int) -> User:
    """Disable a user (call inside a write): their sessions end and their tokens are revoked.

    Users are never deleted, so audit trails keep pointing at a real row.
    """
    user = get_user(db, user_id)
    if user is None:
        raise NoSuchUser(f"no active user with id {user_id}")
    db.execute("update users set active = 0 where id = ?", [user_id])
    db.execute("delete from sessions where user_id = ?", [user_id])
    db.execute("update api_tokens set revoked = 1 where user_id = ?", [user_id])
    return user


def reactivate_user(db: sqlite_utils.Database, user_id: int) -> User:
    """Let a deactivated user sign in again (call inside a write); their old tokens stay revoked."""
    row = db.execute("select active from users where id = ?", [user_id]).fetchone()
    if row is None:
        raise NoSuchUser(f"no user with id {user_id}")
    if row[0]:
        raise AlreadyActive(f"user {user_id} is already active")
    db.execute("update users set active = 1 where id = ?", [user_id])
    user = get_user(db, user_id)
    assert user is not None
    return user


def update_user(db: sqlite_utils.Database, user_id: int, *, role: str | None = None, team: str | None = None,
                display_name: str | None = None, skills: tuple[str, ...] | None = None,
                site: str | None = None, shift: str | None = None) -> User:
    """Change an active user's role, team, display name, skills, site or shift (call inside a write)."""
    if role is not None and role not in ROLES:
        raise AuthError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if get_user(db, user_id) is None:
        raise NoSuchUser(f"no active user with id {user_id}")
    changes: dict[str, object] = {"role": role, "team": team, "display_name": display_name,
                                  "skills": ",".join(skills) if skills is not None else None, "site": site,
                                  "shift": shift}
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes:
        db.table("users").update(user_id, changes)
    user = get_user(db, user_id)
    assert user is not None
    return user


def set_password(db: sqlite_utils.Database, user_id: int, password: str) -> None:
    """Replace a user's password (call inside a write); every existing session ends."""
    if len(password) < 8:
        raise AuthError("password must be at least 8 characters")
    if get_user(db, user_id) is None:
        raise NoSuchUser(f"no active user with id {user_id}")
    db.execute("update users set password_hash = ? where id = ?", [hash_password(password), user_id])
    db.execute("delete from sessions where user_id = ?", [user_id])


def prune_sessions(db: sqlite_utils.Database, *, now: float) -> int:
    """Delete expired sessions (call inside a write); returns how many went."""
    return db.execute("delete from sessions where expires_at <= ?", [now]).rowcount

"""ScriptService: the script lifecycle over the Store, telling the ticker hub what changed.

Each operation is one write transaction (state machine + audit entry); the
hub hears about a change only after it is committed.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from . import repo
from .errors import ApprovalError, IllegalTransition, InvalidScript, StaleVersion
from .lifecycle import APPROVER_ROLES, Action, ApprovalPolicy, Approver, State, approval_status, check_approval
from .model import Broadcaster, Draft, needs_rewrite, validate
from .receipts import ReceiptsMixin, Roster
from .shifts import ShiftCalendar
from .store import Store

Clock = Callable[[], float]
_EDITABLE = {"title", "body", "priority", "audience", "incident_id", "expires_at", "review_by"}


@dataclass(frozen=True)
class ScriptChanged:
    """A committed lifecycle change (draft, edit, submit, approve, reject, publish, retract, expire)."""

    id: int
    version: int
    state: str


# Told after every committed lifecycle change.
Listener = Callable[[ScriptChanged], Awaitable[None]]
log = logging.getLogger("lantern.broadcast")


def as_actor(who: Any) -> Approver:
    """A User-like object (id, name, role, team) or a plain string (a contingency plan) as an actor."""
    if isinstance(who, Approver):
        return who
    if isinstance(who, str):
        if not who.strip():
            raise InvalidScript("author is required", "作者不能为空")
        return Approver(id=None, name=who.strip(), role="system", team="")
    return Approver(id=int(who.id), name=str(who.name), role=str(who.role), team=str(getattr(who, "team", "") or ""))


class ScriptService(ReceiptsMixin):
    def __init__(self, store: Store, *, clock: Clock, policy: ApprovalPolicy | None = None,
                 hub: Broadcaster | None = None, review_after_s: Mapping[str, float] | None = None,
                 shifts: ShiftCalendar | None = None, roster: Roster | None = None) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy or ApprovalPolicy.default()
        self.hub = hub
        # Default "review by" of a published version per priority, in seconds after publishing (absent: none).
        self.review_after_s = dict(review_after_s or {})
        self.shifts = shifts or ShiftCalendar()
        self.roster = roster
        self.listeners: builtins.list[Listener] = []

    # -- authoring ---------------------------------------------------------
    async def draft_for_plan(self, *, incident_id: int, title: str, body: str, priority: str, author: str) -> int:
        """For contingency plans (预案): a draft by a non-person author; any manager may approve it."""
        view = await self.create_draft(author, title, body, priority, None, incident_id, None)
        return int(view["id"])

    async def create_draft(self, author: Any, title: Any, body: Any, priority: Any = "normal", audience: Any = None,
                           incident_id: Any = None, expires_at: Any = None, review_by: Any = None) -> dict[str, Any]:
        actor, now = as_actor(author), self.clock()
        draft = self._known_shifts(validate(title, body, priority, audience, incident_id, expires_at, review_by,
                                            now=now))

        def txn(db: sqlite_utils.Database) -> dict[str, Any]:
            table = db.table("broadcast_scripts")
            table.insert({"created_at": now, "author_id": actor.id, "author_name": actor.name, "current_version": 0})
            row = repo.insert_version(db, int(table.last_pk), 1, draft, actor, now)  # type: ignore[arg-type]
            return repo.version_view(row, db)

        return await self._changed(await self.store.write(txn))

    def _known_shifts(self, draft: Draft) -> Draft:
        """Refuse an audience naming a shift that ``[[shifts]]`` does not define: it would reach nobody."""
        unknown = sorted(draft.audience.shifts - set(self.shifts.names))
        if unknown:
            names, defined = ", ".join(unknown), ", ".join(self.shifts.names) or "-"
            raise InvalidScript(f"unknown shifts in audience: {names} (defined: {defined})",
                                f"受众中的班次未定义：{names}（已定义：{defined}）")
        return draft

    async def edit(self, script_id: int, editor: Any, **fields: Any) -> dict[str, Any]:
        """A new version (a draft) from the current one with ``fields`` replaced; approval starts over."""
        actor, now = as_actor(editor), self.clock()
        unknown = set(fields) - _EDITABLE
        if unknown:
            names = ", ".join(sorted(unknown))
            raise InvalidScript(f"unknown fields: {names}", f"未知字段：{names}")

        def txn(db: sqlite_utils.Database) -> dict[str, Any]:
            current = repo.load_version(db, script_id)
            merged = {"title": current["title"], "body": current["body"], "priority": current["priority"],
                      "audience": repo.audience_of(current).as_dict(), "incident_id": current["incident_id"],
                      "expires_at": current["expires_at"], "review_by": current["review_by"], **fields}
            if "review_by" not in fields and merged["review_by"] is not None and merged["review_by"] <= now:
                merged["review_by"] = None  # a passed review time is what the edit answers: the default applies
            draft = self._known_shifts(validate(now=now, **merged))
            if State(current["state"]) not in (State.PUBLISHED, *repo_final()):
                repo.move(db, current, Action.SUPERSEDE, actor, now, by_version=current["version"] + 1)
            row = repo.insert_version(db, script_id, current["version"] + 1, draft, actor, now)
            return repo.version_view(row, db)

        return await self._changed(await self.store.write(txn))

    # -- review --------------------------------------------------------------
    async def submit(self, script_id: int, actor: Any, version: int | None = None,
                     content_hash: str | None = None) -> dict[str, Any]:
        """Send a draft to review.  The submitter becomes one of its authors (they cannot approve it).

        ``content_hash``, when given, must be the version's: a client submits exactly the text it shows,
        never an older save of it.
        """
        who, now = as_actor(actor), self.clock()
        if who.id is None or who.role not in APPROVER_ROLES:
            raise ApprovalError("only a manager or admin may submit a script for approval",
                                "只有主管或管理员可以提交话术审批")

        def txn(db: sqlite_utils.Database) -> dict[str, Any]:
            script = repo.load_script(db, script_id)
            row = repo.load_version(db, script_id, version if version is not None else script["current_version"])
            repo.require_current(row, script, version)
            if content_hash is not None and content_hash != row["content_hash"]:
                raise StaleVersion(
                    f"version {row['version']} does not have the text you are submitting; save your edits first",
                    f"版本 {row['version']} 的内容与您要提交的不一致，请先保存修改")
            if needs_rewrite(str(row["title"]), str(row["body"])):
                raise InvalidScript("the text still holds a 【请改写…】 note: rewrite it before submitting",
                                    "话术中还有【请改写…】标记，请先改写再提交审批")
            return repo.version_view(repo.move(db, row, Action.SUBMIT, who, now), db)

        return await self._changed(await self.store.write(txn))

    async def approve(self, script_id: int, version: int | None, approver: Any, comment: str = "") -> dict[str, Any]:
        who, now = as_actor(approver), self.clock()

        def txn(db: sqlite_utils.Database) -> dict[str, Any]:
            script = repo.load_script(db, script_id)
            row = repo.load_version(db, script_id, version if version is not None else script["current_version"])
            repo.require_current(row, script, version)
            if row["state"] != State.IN_REVIEW.value:
                raise IllegalTransition(f"only a version in review can be approved (this one is {row['state']})",
                                        f"只有审核中的版本可以审批（当前状态：{row['state']}）")
            previous = repo.approvers(db, script_id, row["version"])
            authors = {a.id for a in repo.authors(db, script_id, row["version"]) if a.id is not None}
            complete = check_approval(self.policy, row["priority"], authors, previous, who)
            db.table("broadcast_approvals").insert({
                "script_id": script_id, "version": row["version"], "approver_id": who.id, "approver_name": who.name,
                "approver_role": who.role, "approver_team": who.team, "decision": "approve",
                "comment": str(comment or ""), "at": now})
            if complete:
                row = repo.move(db, row, Action.APPROVE, who, now, comment=str(comment or ""))
            else:
                repo.audit(db, script_id, row["version"], "approve_partial", who, now, row["state"],
                           row["content_hash"], comment=str(comment or ""))
            return repo.version_view(row, db)

        return await self._changed(await self.store.write(txn))

    async def reject(self, script_id: int, version: int | None, approver: Any, comment: str = "") -> dict[str, Any]:
        who, now = as_actor(approver), self.clock()

        def txn(db: sqlite_utils.Database) -> dict[str, Any]:
            script = repo.load_script(db, script_id)
            row = repo.load_version(db, script_id, version if version is not None else script["current_version"])
            repo.require_current(row, script, version)
            row = repo.move(db, row, Action.REJECT, who, now, comment=str(comment or ""))
            db.table("broadcast_approvals").insert({
                "script_id": script_id, "version": row["version"], "approver_id": who.id, "approver_name": who.name,
                "approver_role": who.role, "approver_team": who.team, "decision": "reject",
                "comment": str(comment or ""), "at": now})
            # A rejected version starts its approvals over once resubmitted.
            db.execute("update broadcast_approvals set decision = 'void' where script_id = ? and version = ? "
                       "and decision = 'approve'", [script_id, row["version"]])
            return repo.version_view(row, db)

        return await self._changed(await self.store.write(txn))

    # -- going live ------------------------------------------------------------
    async def publish(self, script_id: int, actor: Any, version: int | None = None) -> dict[str, Any]:
        who, now = as_actor(actor), self.clock()

        def txn(db: sqlite_utils.Database) -> tuple[dict[str, Any], str]:
            script = repo.load_script(db, script_id)
            row = repo.load_version(db, script_id, version if version is not None else script["current_version"])
            repo.require_current(row, script, version)
            if row["expires_at"] is not None and row["expires_at"] <= now:
                raise IllegalTransition("this version has already expired", "此版本已过期")
            if row["review_by"] is not None and row["review_by"] <= now:
                raise IllegalTransition("this version's review-by time has passed; edit it first",
                                        "此版本的复核期限已过，请先修改")
            kind = "publish"
            if script["live_version"] and script["live_version"] != row["version"]:
                live = repo.load_version(db, script_id, script["live_version"])
                repo.move(db, live, Action.SUPERSEDE, who, now, by_version=row["version"])
                kind = "update"
            row = repo.move(db, row, Action.PUBLISH, who, now)
            row = self._fix_review(db, row, now)
            return repo.version_view(row, db), kind

        view, kind = await self.store.write(txn)
        await self._announce(kind, view)
        return await self._changed(view)

    async def retract(self, script_id: int, actor: Any, reason: str = "") -> dict[str, Any]:
        """Withdraw the live version (or, if none is live, the pending current version)."""
        who, now = as_actor(actor), self.clock()

        def txn(db: sqlite_utils.Database) -> tuple[dict[str, Any], bool]:
            script = repo.load_script(db, script_id)
            was_live = bool(script["live_version"])
            row = repo.load_version(db, script_id, script["live_version"] or script["current_version"])
            row = repo.move(db, row, Action.RETRACT, who, now, reason=str(reason or ""))
            if was_live and script["current_version"] != row["version"]:
                pending = repo.load_version(db, script_id)
                if State(pending["state"]) not in repo_final():
                    repo.move(db, pending, Action.RETRACT, who, now, reason=str(reason or ""))
            return repo.version_view(row, db), was_live

        view, was_live = await self.store.write(txn)
        if was_live:
            await self._announce("retract", view)
        return await self._changed(view)

    async def expire_due(self, now: float | None = None) -> list[dict[str, Any]]:
        """Expire every approved or published version whose expiry has passed; returns them."""
        at = self.clock() if now is None else now
        system = Approver(id=None, name="system", role="system")

        def txn(db: sqlite_utils.Database) -> list[tuple[dict[str, Any], bool]]:
            rows = list(db.query("select * from broadcast_versions where state in ('approved', 'published') "
                                 "and expires_at is not null and expires_at <= ?", [at]))
            return [(repo.version_view(repo.move(db, row, Action.EXPIRE, system, at), db),
                     row["state"] == State.PUBLISHED.value) for row in rows]

        expired = await self.store.write(txn)
        for view, was_live in expired:
            if was_live:  # an approved version never reached the ticker
                await self._announce("expire", view)
            await self._changed(view)
        return [view for view, _ in expired]

    async def next_expiry(self) -> float | None:
        row = await self.store.read(lambda db: db.execute(
            "select min(expires_at) from broadcast_versions where state in ('approved', 'published') "
            "and expires_at is not null").fetchone())
        return float(row[0]) if row and row[0] is not None else None

    # -- reading ---------------------------------------------------------------
    async def get(self, script_id: int, viewer: Any = None) -> dict[str, Any]:
        """The current version with every version, its authors and its approval status.

        With ``viewer`` (a user), ``approval.can_approve`` says whether they may approve it and, if not, why.
        """
        who = as_actor(viewer) if viewer is not None else None

        def read(db: sqlite_utils.Database) -> dict[str, Any]:
            script = repo.load_script(db, script_id)
            versions = [repo.version_view(r, db) for r in
                        db.query("select * from broadcast_versions where script_id = ? order by version desc",
                                 [script_id])]
            current = versions[0]
            authors = repo.authors(db, script_id, current["version"])
            previous = repo.approvers(db, script_id, current["version"])
            status = approval_status(self.policy, current["priority"], current["state"],
                                     {a.id for a in authors if a.id is not None}, previous, who)
            return {**current, "live_version": script["live_version"], "versions": versions,
                    "required_approvals": status["required"],
                    "authors": [{"id": a.id, "name": a.name} for a in authors], "approval": status}

        return await self.store.read(read)

    async def list(self, state: str | None = None, limit: int = 200) -> builtins.list[dict[str, Any]]:
        if state is not None and state not in {s.value for s in State}:
            raise InvalidScript(f"unknown state {state!r}", f"未知状态 {state!r}")

        def read(db: sqlite_utils.Database) -> builtins.list[dict[str, Any]]:
            sql = ("select v.*, s.live_version from broadcast_versions v join broadcast_scripts s "
                   "on s.id = v.script_id and v.version = s.current_version")
            params: builtins.list[Any] = []
            if state is not None:
                sql += " where v.state = ? or exists (select 1 from broadcast_versions w where w.script_id = s.id " \
                       "and w.state = ?)"
                params += [state, state]
            sql += " order by v.created_at desc limit ?"
            return [{**repo.item(r), "author": r["author_name"], "created_at": r["created_at"],
                     "live_version": r["live_version"]} for r in db.query(sql, [*params, limit])]

        return await self.store.read(read)

    async def audit(self, script_id: int) -> dict[str, Any]:
        def read(db: sqlite_utils.Database) -> dict[str, Any]:
            repo.load_script(db, script_id)
            entries = list(db.query("select * from broadcast_audit where script_id = ? order by id", [script_id]))
            intact = all(repo.chain_hash(e["prev_hash"], {k: e[k] for k in (
                "script_id", "version", "action", "actor", "actor_id", "at", "state", "content_hash", "detail")})
                == e["entry_hash"] for e in entries)
            return {"script_id": script_id, "chain_intact": intact, "entries": entries}

        return await self.store.read(read)

    async def active_items(self, now: float | None = None) -> builtins.list[dict[str, Any]]:
        at = self.clock() if now is None else now
        return await self.store.read(lambda db: [repo.item(r) for r in repo.active_rows(db, at)])

    # -- helpers -----------------------------------------------------------------
    def _fix_review(self, db: sqlite_utils.Database, row: dict[str, Any], now: float) -> dict[str, Any]:
        """At publish: the version's review-by time is the author's, else now + the priority's default."""
        after = self.review_after_s.get(row["priority"])
        due = row["review_by"] if row["review_by"] is not None else (now + after if after else None)
        db.table("broadcast_versions").update(row["id"], {"review_due": due})
        return {**row, "review_due": due}

    async def _changed(self, view: dict[str, Any]) -> dict[str, Any]:
        event = ScriptChanged(int(view["id"]), int(view["version"]), str(view["state"]))
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:  # an observer must not turn a committed change into an error
                log.exception("script listener %r failed", listener)
        return view

    async def _announce(self, kind: str, view: dict[str, Any]) -> None:
        if self.hub is not None:
            await self.hub.send(kind, {k: view[k] for k in repo.item_keys()})


def repo_final() -> tuple[State, ...]:
    return (State.RETRACTED, State.EXPIRED, State.SUPERSEDED)

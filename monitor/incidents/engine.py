"""The incident engine: attach mentions, re-tier, move through the lifecycle, tell listeners.

All database work goes through the injected ``Store``; every decision takes
its time from the injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from classifiers import Signals
from monitor import faults
from monitor.mentions import StoredMention
from monitor.store import Store

from . import admission, grouping, store_ops, stories, story, tiering
from .model import IncidentChange, State, check_tier, check_transition, most_severe, rank

log = logging.getLogger(__name__)

Listener = Callable[[list[IncidentChange]], Awaitable[None]]
# (negative_probability, categories, signals) -> tier or None, or a mapping with "tier" and the score's signals
# (stored as the incident's tier reasons, see tiering.explain); the engine fills the signals' volume_1h, velocity,
# source_name (the incident's sources and outlets) and author_reach
TierModel = Callable[[float, Sequence[str], Signals], str | Mapping[str, Any] | None]


@dataclass
class IncidentConfig:
    window_s: float = 360 * 60
    similarity: float = 0.3
    volume_tiers: dict[str, float] = field(default_factory=lambda: {"P4": 1, "P3": 10, "P2": 30, "P1": 300})
    spike_sigma: float = 3.0
    spike_min: int = 5
    open_negative: float = 0.75  # P4 mentions below this negativity never open an incident
    watch_min: int = 3  # similar clearly negative P4 mentions that open an incident together
    watch_window_s: float = 3600.0
    followup_s: float = 2 * 3600.0  # a major incident absorbs follow-up coverage while this recently active
    major_tier: str = "P2"


def opens_incident(m: StoredMention, open_negative: float = 0.75) -> bool:
    """A mention opens an incident on its own (see :mod:`.admission`)."""
    return admission.opens_directly(m, open_negative)


class IncidentEngine:
    def __init__(self, store: Store, *, clock: Callable[[], float], config: IncidentConfig | None = None,
                 tier_model: TierModel | None = None, brand_of: Callable[[str], str] | None = None,
                 brands: Sequence[str] = ()) -> None:
        self.store = store
        self.clock = clock
        self.config = config or IncidentConfig()
        self.tier_model = tier_model
        self.brand_of = brand_of or (lambda source: "")
        self.brands = tuple(b for b in brands if b)  # monitor.brands: found in the text when the source has none
        self.listeners: list[Listener] = []
        self.stats = grouping.TermStats()

    # -- mentions --------------------------------------------------------------
    async def on_mentions(self, batch: list[StoredMention]) -> list[IncidentChange]:
        if not batch:
            return []
        now = self.clock()
        changes = await self.store.write(lambda db: self._attach(db, batch, now))
        faults.reached("incidents.attached")
        await self._tell(changes, strict=True)  # a failed listener leaves the batch unannounced: it is resumed
        return changes

    def brand(self, m: StoredMention) -> str:
        """The item's brand, else its source's, else the configured brand the text is about, else the first."""
        explicit = m.mention.raw.get("brand") or self.brand_of(m.mention.source)
        if explicit:
            return str(explicit)
        return story.brand_in(m.mention.content, self.brands) or (self.brands[0] if self.brands else "")

    def _brand_words(self, m: StoredMention) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b for b in (*self.brands, self.brand(m)) if b))

    def _warm(self, db: sqlite_utils.Database, now: float) -> None:
        """Word statistics from the last week's mentions, once per process."""
        if not self.stats.warm:
            for text in store_ops.recent_texts(db, now - 7 * 86400, 2000):
                self.stats.add(grouping.terms(text))
            self.stats.warm = True

    def _attach(self, db: sqlite_utils.Database, batch: list[StoredMention], now: float) -> list[IncidentChange]:
        cfg = self.config
        self._warm(db, now)
        rules = grouping.Rules(threshold=cfg.similarity, major_tier=cfg.major_tier, followup_s=cfg.followup_s)
        candidates = {c["id"]: {**c, "terms": frozenset(c["terms"])}
                      for c in store_ops.open_candidates(db, now - cfg.window_s)}
        profiles = stories.load(db, [(i, c["terms"]) for i, c in candidates.items()])
        opened: set[int] = set()
        touched: dict[int, str] = {}  # incident id -> tier before this batch
        for position, m in enumerate(batch):
            placed = store_ops.placed(db, m.id)
            if placed is not None:  # attached already: earlier in this batch, or before a crash or a failed announce
                if placed[1] != State.RESOLVED.value:
                    touched.setdefault(placed[0], str(store_ops.load(db, placed[0])["tier"]))
                continue
            feats = grouping.features(m.mention.content, self._brand_words(m))
            mention_terms = list(feats.terms)
            self.stats.add(mention_terms)
            incident_id = store_ops.incident_of_mention(db, m.duplicate_of) if m.duplicate_of else None
            if incident_id is None:
                probe = grouping.Probe(feats, m.categories, self.brand(m), m.sentiment == "negative", m.tier)
                pool = (grouping.Candidate(c["id"], profiles.get(c["id"]) or story.Profile(), c["categories"],
                                           c["brand"] or "", c["tier"], c["last_mention_at"] or 0.0)
                        for c in candidates.values())
                incident_id, _score, _why = grouping.best_match(probe, pool, rules, now, self.stats)
            members = [(m, feats)]
            if incident_id is None:
                if not admission.opens_directly(m, cfg.open_negative):
                    if not admission.watched(m, cfg.open_negative):
                        continue
                    rows = store_ops.unattached(db, now - cfg.watch_window_s, cfg.open_negative, exclude=[m.id])
                    similar = admission.corroborating(m, feats, rows, self.brand(m), self.brand, self._brand_words,
                                                      self.stats, rules)
                    if len(similar) + 1 < cfg.watch_min:
                        continue  # watched: counts toward the baseline, pages nobody
                    members = [*((s, grouping.features(s.mention.content, self._brand_words(s))) for s in similar),
                               (m, feats)]
                incident_id = self._open(db, m, now)
                opened.add(incident_id)
            if incident_id in opened and incident_id not in touched:  # the story's earlier, milder posts
                opening = story.Profile()
                for _, member_feats in members:
                    opening.add(member_feats)
                # Only mentions already announced: the rest of this batch (or another source's batch being
                # announced meanwhile) is placed in its own turn.
                later = [x.id for x in batch[position + 1:]]
                rows = [r for r in store_ops.unattached(db, now - cfg.window_s, admission.BACKFILL_NEGATIVE,
                                                        exclude=[*later, *(x.id for x, _ in members)],
                                                        limit=admission.BACKFILL_LIMIT)
                        if r.get("notified_at")]
                members += admission.backfill(opening, self.brand(m), rows, self.brand, self._brand_words,
                                              self.stats, rules)
            profile = profiles.setdefault(incident_id, story.Profile())
            for member, member_feats in members:
                candidates[incident_id] = self._add(db, incident_id, member, list(member_feats.terms), now)
                touched.setdefault(incident_id, candidates[incident_id]["before"])
                profile.add(member_feats if member.duplicate_of is None else
                            story.Features((), member_feats.tags, member_feats.cue))
        for incident_id in touched:
            if incident_id in profiles:
                stories.save(db, incident_id, profiles[incident_id], now)
        changes = []
        for incident_id, before in touched.items():
            store_ops.recount(db, incident_id)
            tier = self._retier(db, incident_id, now)
            candidates[incident_id]["tier"] = tier
            if incident_id in opened:
                changes.append(IncidentChange(incident_id, "opened", tier))
            elif rank(tier) < rank(before):
                changes.append(IncidentChange(incident_id, "retiered", tier, before, actor="auto"))
            else:
                changes.append(IncidentChange(incident_id, "grew", tier))
        return changes

    def _add(self, db: sqlite_utils.Database, incident_id: int, m: StoredMention, mention_terms: list[str],
             now: float) -> dict[str, Any]:
        """Attach one mention and merge what it brings (counts: :func:`store_ops.recount`); its grouping candidate."""
        inc = store_ops.load(db, incident_id)
        store_ops.attach_mention(db, m.id, incident_id)
        values: dict[str, Any] = {
            "max_negative": max(inc["max_negative"] or 0.0, m.negative_probability),
            "max_reach": max(inc["max_reach"] or 0, m.mention.author_reach or 0),
            "categories": sorted(set(inc["categories"]) | set(m.categories)),
            "sources": sorted(set(inc["sources"]) | {m.mention.source}),
            "reasons": list(dict.fromkeys([*inc["reasons"], *m.reasons]))[:20],
            "mention_tier": most_severe(inc["mention_tier"], m.tier) or inc["mention_tier"],
            "last_mention_at": now, "updated_at": now,
        }
        if m.duplicate_of is None:
            values["terms"] = grouping.merge_terms(inc["terms"], mention_terms)
        store_ops.save(db, incident_id, values)
        return {"id": incident_id, "terms": frozenset(values.get("terms", inc["terms"])),
                "categories": values["categories"], "brand": inc["brand"], "tier": inc["tier"],
                "last_mention_at": now, "before": inc["tier"]}

    def _open(self, db: sqlite_utils.Database, m: StoredMention, now: float) -> int:
        title = (m.mention.title or m.mention.text).strip().splitlines()[0][:80] if (
            m.mention.title or m.mention.text).strip() else f"#{m.id}"
        table = db.table("incidents")
        table.insert({"title": title, "state": State.OPEN.value, "tier": m.tier, "tier_auto": m.tier,
                      "mention_tier": m.tier, "brand": self.brand(m),
                      "opened_at": now, "updated_at": now, "last_mention_at": now, "max_negative": 0.0,
                      "max_reach": 0})
        incident_id = int(table.last_pk)  # type: ignore[arg-type]
        store_ops.event(db, incident_id, now, "opened", "auto", tier=m.tier, mention_id=m.id, source=m.mention.source)
        return incident_id

    def _retier(self, db: sqlite_utils.Database, incident_id: int, now: float) -> str:
        cfg = self.config
        inc = store_ops.load(db, incident_id)
        vol = store_ops.volume(db, incident_id, now - 3600, now + 1)
        before = store_ops.volume(db, incident_id, now - 7200, now - 3600)
        last, history = store_ops.source_hourly(db, inc["sources"], now, tiering.BASELINE_DAYS)
        spike = tiering.is_spike(last, history, sigma=cfg.spike_sigma, minimum=cfg.spike_min)
        model, model_why = None, None
        if self.tier_model is not None:
            outlets = ",".join([*inc["sources"], *store_ops.outlets(db, incident_id)])
            signals = Signals(source_name=outlets, author_reach=inc["max_reach"] or None, volume_1h=vol,
                              velocity=vol / max(1, before))
            try:
                model, model_why = tiering.model_verdict(
                    self.tier_model(inc["max_negative"] or 0.0, inc["categories"], signals))
            except Exception:  # the model is optional; the volume rules still work without it
                log.exception("tier model failed for incident %s", incident_id)
        computed = tiering.combine(mention_tier=inc["mention_tier"],
                                   volume=tiering.volume_tier(vol, cfg.volume_tiers), model=model, spike=spike)
        auto = most_severe(computed, inc["tier_auto"]) or computed  # automatic tiers only climb
        tier = auto
        manual = inc["tier_manual"]
        if manual:
            tier = manual
            if rank(auto) < rank(inc["tier_auto"]) and rank(auto) < rank(manual):
                tier, manual = auto, None  # grew beyond what a person decided: climb anyway
        manual_why = (inc["tier_why"] or {}).get("manual") if manual else None
        why = tiering.explain(tier=tier, auto=auto, held=inc["tier_auto"], mention_tier=inc["mention_tier"],
                              volume_1h=vol, previous_1h=before, volume_thresholds=cfg.volume_tiers,
                              model=model_why, spike=spike, manual=manual_why)
        if tier != inc["tier"]:
            store_ops.event(db, incident_id, now, "retiered", "auto", tier=tier, previous=inc["tier"], volume_1h=vol,
                            spike=spike)
        if not store_ops.has_tier_history(db, incident_id):
            store_ops.tier_history(db, incident_id, now, tier, None, "auto", why=why)  # the tier it opened with
        elif tier != inc["tier"]:
            store_ops.tier_history(db, incident_id, now, tier, inc["tier"], "auto", why=why)
        store_ops.save(db, incident_id, {"tier": tier, "tier_auto": auto, "tier_manual": manual, "volume_1h": vol,
                                         "spike": int(spike), "tier_why": why})
        return tier

    # -- lifecycle -------------------------------------------------------------
    async def acknowledge(self, incident_id: int, actor: str, comment: str = "", **how: Any) -> IncidentChange:
        """``actor`` takes the incident; ``comment`` (who owns it, what happens next) is shown to everyone.

        ``how`` lands in the timeline event (e.g. ``via="link"``).
        """
        return await self._move(incident_id, State.ACKNOWLEDGED, actor, comment=comment.strip()[:500], **how)

    async def mitigate(self, incident_id: int, actor: str) -> IncidentChange:
        return await self._move(incident_id, State.MITIGATING, actor)

    async def resolve(self, incident_id: int, actor: str) -> IncidentChange:
        return await self._move(incident_id, State.RESOLVED, actor)

    async def _move(self, incident_id: int, target: State, actor: str, comment: str = "",
                    **how: Any) -> IncidentChange:
        now = self.clock()

        def txn(db: sqlite_utils.Database) -> IncidentChange:
            inc = store_ops.load(db, incident_id)
            check_transition(inc["state"], target)
            values: dict[str, Any] = {"state": target.value, "updated_at": now}
            if target is State.ACKNOWLEDGED or not inc["acknowledged_at"]:
                values.update(acknowledged_at=now, acknowledged_by=actor, ack_comment=comment or None)
            if target is State.MITIGATING:
                values["mitigating_at"] = now
            if target is State.RESOLVED:
                values.update(resolved_at=now, resolved_by=actor)
            store_ops.save(db, incident_id, values)
            detail = {**how, **({"comment": comment} if comment else {})}
            store_ops.event(db, incident_id, now, target.value, actor, **detail)
            return IncidentChange(incident_id, target.value, inc["tier"], actor=actor)

        change = await self.store.write(txn)
        await self._tell([change])
        return change

    async def retier(self, incident_id: int, tier: str, actor: str, reason: str = "") -> IncidentChange:
        check_tier(tier)
        now = self.clock()

        def txn(db: sqlite_utils.Database) -> IncidentChange:
            inc = store_ops.load(db, incident_id)
            if inc["state"] == State.RESOLVED.value:
                check_transition(inc["state"], State.RESOLVED)
            why = {**(inc["tier_why"] or {}), "tier": tier,
                   "manual": {"tier": tier, "actor": actor, "reason": reason, "at": now}}
            store_ops.save(db, incident_id, {"tier": tier, "tier_manual": tier, "updated_at": now, "tier_why": why})
            store_ops.event(db, incident_id, now, "retiered", actor, tier=tier, previous=inc["tier"], reason=reason)
            store_ops.tier_history(db, incident_id, now, tier, inc["tier"], actor, reason, why)
            return IncidentChange(incident_id, "retiered", tier, inc["tier"], actor=actor)

        change = await self.store.write(txn)
        await self._tell([change])
        return change

    async def _tell(self, changes: list[IncidentChange], *, strict: bool = False) -> None:
        """Tell every listener; with ``strict`` the first failure is raised once all have been told."""
        if not changes:
            return
        failed: Exception | None = None
        for listener in self.listeners:
            try:
                await listener(changes)
            except Exception as exc:  # one broken listener must not lose the others' work
                log.exception("incident listener %r failed", listener)
                failed = failed or exc
        if strict and failed is not None:
            raise failed

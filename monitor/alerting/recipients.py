"""Who an alert reaches: the people directory, their contacts, and on-call for health alerts.

:class:`Directory` holds the engine's view of the people (``people(db)``,
supplied by the web layer) and their contact rows (refreshed at every
planning pass), and answers the two questions the stages ask: on which
channels each recipient is named (:func:`contacts.plan`), and whom a channel
message @-mentions (:func:`contacts.mentions`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlite_utils

from monitor.channels.base import Mention

from . import contacts
from .routing import Recipient, Route, recipients

People = Callable[[sqlite_utils.Database], list[dict[str, Any]]]


class Directory:
    def __init__(self, people: People | None, kinds: Mapping[str, str]) -> None:
        self.people = people or (lambda db: [])
        self.kinds = dict(kinds)  # channel name -> kind
        self.contacts: dict[str, contacts.Contact] = {}

    def load(self, db: sqlite_utils.Database) -> list[dict[str, Any]]:
        """The people, with their contacts refreshed (inside a planning transaction)."""
        self.contacts = contacts.load_all(db)
        return self.people(db)

    def reach(self, found: Sequence[Recipient], people: Sequence[dict[str, Any]]) -> contacts.Plan:
        """Who each channel recipient names, and the delivery-log notes (see :mod:`contacts`)."""
        return contacts.plan(found, self.kinds, self.contacts, people)

    def mentions(self, channel: str, named: Sequence[Mapping[str, Any]]) -> tuple[Mention, ...]:
        return contacts.mentions(self.kinds.get(channel, ""), named, self.contacts)


def health_recipients(routes: Sequence[Route], people: Sequence[dict[str, Any]]) -> list[Recipient]:
    """The recipients of a source-health alert: its ``health`` routes, or else on-call and admins in the console."""
    health = [r for r in routes if r.health]
    if health:
        return recipients(health, list(people), max_level=0)
    return [Recipient(f"user:{p['name']}", str(p.get("display_name") or p["name"]), "console", False, 0, False,
                      "health") for p in people if p["role"] in ("oncall", "admin")]

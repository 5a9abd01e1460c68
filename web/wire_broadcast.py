"""Wiring of the broadcast part (placeholder until its issue lands)."""

from __future__ import annotations

from typing import Any


async def wire(services: Any) -> None:
    return None

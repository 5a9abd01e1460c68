"""Wiring of the monitor part: ``MonitorService`` from settings.

Its HTTP API is in :mod:`web.api.sources` and :mod:`web.api.mentions`, mounted by :mod:`web.api.routes`.
"""

from __future__ import annotations

import logging
from typing import Any

from monitor.config import Defaults
from monitor.errors import SourceConfigError
from monitor.http import HttpFetcher
from monitor.mentions import StoredMention
from monitor.netguard import NetPolicy
from monitor.service import MonitorService
from web.errors import ConfigError

log = logging.getLogger("lantern.monitor")


def defaults_from(settings: Any) -> Defaults:
    return Defaults(
        interval_s=float(settings["monitor.default_interval_s"]),
        timeout_s=float(settings["monitor.default_timeout_s"]),
        max_bytes=int(settings["monitor.max_response_bytes"]),
        per_host_concurrency=int(settings["monitor.per_host_concurrency"]), timezone=settings["monitor.timezone"],
        failure_alert_after=int(settings["monitor.failure_alert_after"]),
        silence_factor=float(settings["monitor.silence_factor"]),
        near_duplicate_bits=int(settings["monitor.near_duplicate_bits"]),
        parse_workers=int(settings["monitor.parse_workers"]),
        parse_time_limit_s=float(settings["monitor.parse_time_limit_s"]),
    )


def network_policy(settings: Any) -> NetPolicy:
    """The outbound address policy (network.* settings) for source fetches and channel posts."""
    try:
        return NetPolicy.parse(block_private=settings["network.block_private"], deny=settings["network.deny"],
                               allow=settings["network.allow"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _classifier(services: Any) -> Any:
    if services.classifier is not None:
        return services.classifier
    from classifiers import load_adapted

    services.classifier = load_adapted(services.settings["classifier.model_path"] or None,
                                       brands=services.settings["monitor.brands"])
    return services.classifier


async def wire(services: Any) -> None:
    settings = services.settings
    listeners: list[Any] = services.extras.setdefault("mention_listeners", [])

    async def on_new_mentions(batch: list[StoredMention]) -> None:
        failed: Exception | None = None
        for listener in list(listeners):
            try:
                await listener(batch)
            except Exception as exc:
                log.exception("a mention listener failed on a batch of %d mentions", len(batch))
                failed = failed or exc
        if failed is not None:  # the batch stays unannounced (notified_at NULL) and is resumed; attaching is idempotent
            raise failed

    async def on_health_alert(source_name: str, kind: str, message: str) -> None:
        handler = services.extras.get("health_alert")
        if handler is not None:
            await handler(source_name, kind, message)

    sources = []
    for table in settings.sources:
        if table.get("kind") == "demo" and "speed" not in table:
            table = {**table, "speed": float(settings["demo.speed"])}
        sources.append(table)
    defaults = defaults_from(settings)
    fetcher = HttpFetcher(per_host=defaults.per_host_concurrency, clock=services.clock,
                          policy=network_policy(settings))
    try:
        monitor = MonitorService(services.db, _classifier(services), services.clock, sources=sources,
                                 defaults=defaults, on_new_mentions=on_new_mentions,
                                 on_health_alert=on_health_alert, fetcher=fetcher)
    except SourceConfigError as exc:  # shown by the CLI as a clean configuration error
        raise ConfigError(f"[[sources]]: {exc}") from exc
    services.monitor = monitor

    async def start() -> None:
        await monitor.start(schedule=bool(settings["monitor.enabled"]))

    services.on_start.append(start)
    services.on_stop.append(monitor.stop)

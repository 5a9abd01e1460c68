"""Prometheus metrics at ``/metrics`` (text exposition format 0.0.4), by ``prometheus_client``.

The metrics live in one :class:`LanternMetrics` per app, each with its own
``CollectorRegistry`` (never the library's process-wide default one, so two
apps in one process - as in the tests - count apart).  It is reachable as
``web.platform.metrics.for_services(services)`` so the composition root
(:mod:`web.compose`) and the handlers can record into it (the packages
themselves stay unaware of Prometheus and report through callbacks
``web.compose`` gives them)::

    m = metrics.for_services(services)
    m.mentions_ingested.labels(source="weibo").inc()
    m.classification_seconds.observe(0.012)
    m.alerts_sent.labels(channel="dingtalk").inc()   # or alerts_failed
    m.broadcast_seconds.observe(0.004)

The websocket connection gauge is read at scrape time from ``services.hub``
(``connection_count``, ``len(hub.connections)`` or ``len(hub)``), so the hub
needs no knowledge of metrics; so are the hub's own counters (``hub.stats``).
Stored mentions, alert deliveries and incidents are counted in the database
at scrape time.  HTTP requests are counted by status class.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor import counts

LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# No ``*_created`` series beside every counter and histogram: the exposition keeps the series it always had.
disable_created_metrics()


class LanternMetrics:
    """Every metric Lantern exports, in this app's own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        into = self.registry
        self.mentions_ingested = Counter("lantern_mentions_ingested_total",
                                         "Mentions stored after fetching, by source.", ["source"], registry=into)
        self.classification_seconds = Histogram("lantern_classification_seconds", "Time to classify one mention.",
                                                buckets=LATENCY_BUCKETS, registry=into)
        self.alerts_sent = Counter("lantern_alerts_sent_total", "Alert notifications delivered, by channel.",
                                   ["channel"], registry=into)
        self.alerts_failed = Counter("lantern_alerts_failed_total",
                                     "Alert notifications that failed after retries, by channel.", ["channel"],
                                     registry=into)
        self.websocket_connections = Gauge("lantern_websocket_connections",
                                           "Ticker websocket connections open on this node.", registry=into)
        self.broadcast_seconds = Histogram("lantern_broadcast_latency_seconds",
                                           "Time from publishing a script to sending it to every socket.",
                                           buckets=LATENCY_BUCKETS, registry=into)
        self.http_requests = Counter("lantern_http_requests_total", "HTTP responses, by method and status class.",
                                     ["method", "status"], registry=into)
        self.reads_hub = False  # whether websocket_connections reads a hub at scrape time yet

    def render(self, scraped: Iterable[Metric] = ()) -> bytes:
        """The exposition: this registry's metrics, then ``scraped`` (read for this scrape only)."""
        return generate_latest(self.registry) + generate_latest(Scraped(scraped))


class Scraped(Collector):
    """Metric families read at scrape time, exposed once."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class MetricsOwner(Protocol):
    """Where the app's metrics are kept (``web.compose.Services``)."""

    metrics: LanternMetrics | None


def for_services(services: MetricsOwner) -> LanternMetrics:
    """The app's metrics, created on first use and kept in ``services.metrics``."""
    if services.metrics is None:
        services.metrics = LanternMetrics()
    return services.metrics


def hub_connections(hub: Any) -> float | None:
    """Open sockets of the broadcast hub, whatever way it tells them."""
    if hub is None:
        return None
    count = getattr(hub, "connection_count", None)
    if callable(count):
        count = count()
    if isinstance(count, int | float):
        return float(count)
    connections = getattr(hub, "connections", None)
    if connections is not None:
        return float(len(connections))
    try:
        return float(len(hub))
    except TypeError:
        return None


def database_families(db: Any) -> list[Metric]:
    """Gauges read from the database at scrape time (monitor's counts): true across restarts and nodes."""
    families: list[Metric] = []
    by_source = counts.mentions_by_source(db)
    if by_source is not None:
        mentions = GaugeMetricFamily("lantern_mentions_stored", "Mentions in the database, by source.",
                                     labels=["source"])
        for source, count in by_source:
            mentions.add_metric([source], count)
        families.append(mentions)
    by_status = counts.deliveries_by_channel_status(db)
    if by_status is not None:
        deliveries = GaugeMetricFamily("lantern_alert_deliveries",
                                       "Alert deliveries in the database, by channel and status.",
                                       labels=["channel", "status"])
        for channel, status, count in by_status:
            deliveries.add_metric([channel, status], count)
        families.append(deliveries)
    by_tier = counts.incidents_by_state_tier(db)
    if by_tier is not None:
        incidents = GaugeMetricFamily("lantern_incidents", "Incidents, by state and tier.", labels=["state", "tier"])
        for state, tier, count in by_tier:
            incidents.add_metric([state, tier], count)
        families.append(incidents)
    return families


def hub_families(hub: Any) -> list[Metric]:
    """Counters the broadcast hub keeps itself (``hub.stats``), if it has them."""
    stats = getattr(hub, "stats", None)
    families: list[Metric] = []
    for field in ("delivered", "dropped_slow", "dropped_idle", "bad_messages"):
        value = getattr(stats, field, None)
        if isinstance(value, int):
            families.append(CounterMetricFamily(f"lantern_ticker_{field}_total",
                                                f"Ticker hub: {field.replace('_', ' ')}.", value=value))
    return families


async def _count_response(request: web.Request, response: web.StreamResponse) -> None:
    m = for_services(request.app["services"])
    m.http_requests.labels(request.method, f"{response.status // 100}xx").inc()  # positional: twice as fast


def setup(app: web.Application) -> None:
    """Count every response by status class; the connection gauge reads the hub at scrape time."""
    services = app["services"]
    m = for_services(services)
    if not m.reads_hub:
        m.websocket_connections.set_function(lambda: hub_connections(services.hub) or 0.0)
        m.reads_hub = True
    app.on_response_prepare.append(_count_response)

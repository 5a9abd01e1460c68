"""Prometheus metrics at ``/metrics`` (text exposition format 0.0.4), no extra dependency.

The metrics live in one :class:`LanternMetrics` per process, reachable as
``web.platform.metrics.for_services(services)`` so every wiring module can record
into it (wiring modules are part of ``web``; the packages themselves stay
unaware of Prometheus and report through callbacks the wiring gives them)::

    m = metrics.for_services(services)
    m.mentions_ingested.inc(source="weibo")
    m.classification_seconds.observe(0.012)
    m.alerts_sent.inc(channel="dingtalk")   # or alerts_failed
    m.broadcast_seconds.observe(0.004)

The websocket connection gauge is read at scrape time from ``services.hub``
(``connection_count``, ``len(hub.connections)`` or ``len(hub)``), so the hub
needs no knowledge of metrics; so are the hub's own counters (``hub.stats``).
Stored mentions, alert deliveries and incidents are counted in the database
at scrape time.  HTTP requests are counted by status class.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web

from web.auth import middleware as auth

Labels = tuple[tuple[str, str], ...]
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: Iterable[tuple[str, str]] = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str) -> None:
        self.name = name
        self.help = help_text
        self._lock = threading.Lock()

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def render(self) -> list[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up (per label set)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str) -> None:
        super().__init__(name, help_text)
        self._values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if amount < 0:
            raise ValueError("a counter cannot go down")
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [*self.header(), *(f"{self.name}{_labels(k)} {_number(v)}" for k, v in items)]


class Gauge(_Metric):
    """A value that goes up and down; optionally read by a callback at scrape time."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, read: Callable[[], float | None] | None = None) -> None:
        super().__init__(name, help_text)
        self._value = 0.0
        self.read = read

    def set(self, value: float) -> None:
        self._value = float(value)

    def value(self) -> float:
        if self.read is not None:
            got = self.read()
            return float(got) if got is not None else 0.0
        return self._value

    def render(self) -> list[str]:
        return [*self.header(), f"{self.name} {_number(self.value())}"]


class Histogram(_Metric):
    """Observations counted into cumulative ``le`` buckets, with sum and count."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        super().__init__(name, help_text)
        self.buckets = tuple(sorted(buckets))
        self._counts = [0] * (len(self.buckets) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        index = next((i for i, bound in enumerate(self.buckets) if value <= bound), len(self.buckets))
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    @property
    def count(self) -> int:
        return sum(self._counts)

    def render(self) -> list[str]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        lines = self.header()
        running = 0
        for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
            running += count
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {running}')
        lines.append(f"{self.name}_sum {_number(total)}")
        lines.append(f"{self.name}_count {running}")
        return lines


class LanternMetrics:
    """Every metric Lantern exports."""

    def __init__(self) -> None:
        self.mentions_ingested = Counter("lantern_mentions_ingested_total",
                                         "Mentions stored after fetching, by source.")
        self.classification_seconds = Histogram("lantern_classification_seconds",
                                                "Time to classify one mention.")
        self.alerts_sent = Counter("lantern_alerts_sent_total", "Alert notifications delivered, by channel.")
        self.alerts_failed = Counter("lantern_alerts_failed_total",
                                     "Alert notifications that failed after retries, by channel.")
        self.websocket_connections = Gauge("lantern_websocket_connections",
                                           "Ticker websocket connections open on this node.")
        self.broadcast_seconds = Histogram("lantern_broadcast_latency_seconds",
                                           "Time from publishing a script to sending it to every socket.")
        self.http_requests = Counter("lantern_http_requests_total",
                                     "HTTP responses, by method and status class.")

    def all(self) -> list[_Metric]:
        return [self.mentions_ingested, self.classification_seconds, self.alerts_sent, self.alerts_failed,
                self.websocket_connections, self.broadcast_seconds, self.http_requests]

    def render(self) -> str:
        return "\n".join(line for metric in self.all() for line in metric.render()) + "\n"


def for_services(services: Any) -> LanternMetrics:
    """The process's metrics, created on first use and kept in ``services.extras["metrics"]``."""
    existing = services.extras.get("metrics")
    if isinstance(existing, LanternMetrics):
        return existing
    created = LanternMetrics()
    services.extras["metrics"] = created
    return created


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


def _table_exists(db: Any, name: str) -> bool:
    return db.execute("select 1 from sqlite_master where type = 'table' and name = ?", [name]).fetchone() is not None


def database_lines(db: Any) -> list[str]:
    """Gauges read from the database at scrape time: true across restarts and nodes."""
    lines: list[str] = []
    if _table_exists(db, "mentions"):
        lines += ["# HELP lantern_mentions_stored Mentions in the database, by source.",
                  "# TYPE lantern_mentions_stored gauge"]
        for source, count in db.execute("select source, count(*) from mentions group by source order by source"):
            lines.append(f'lantern_mentions_stored{{source="{_escape(str(source))}"}} {count}')
    if _table_exists(db, "alert_deliveries"):
        lines += ["# HELP lantern_alert_deliveries Alert deliveries in the database, by channel and status.",
                  "# TYPE lantern_alert_deliveries gauge"]
        for channel, status, count in db.execute(
                "select channel, status, count(*) from alert_deliveries group by 1, 2 order by 1, 2"):
            lines.append(f'lantern_alert_deliveries{{channel="{_escape(str(channel))}",'
                         f'status="{_escape(str(status))}"}} {count}')
    if _table_exists(db, "incidents"):
        lines += ["# HELP lantern_incidents Incidents, by state and tier.", "# TYPE lantern_incidents gauge"]
        for state, tier, count in db.execute(
                "select state, tier, count(*) from incidents group by 1, 2 order by 1, 2"):
            lines.append(f'lantern_incidents{{state="{_escape(str(state))}",tier="{_escape(str(tier))}"}} {count}')
    return lines


def hub_lines(hub: Any) -> list[str]:
    """Counters the broadcast hub keeps itself (``hub.stats``), if it has them."""
    stats = getattr(hub, "stats", None)
    lines: list[str] = []
    for field in ("delivered", "dropped_slow", "dropped_idle", "bad_messages"):
        value = getattr(stats, field, None)
        if isinstance(value, int):
            name = f"lantern_ticker_{field}_total"
            lines += [f"# HELP {name} Ticker hub: {field.replace('_', ' ')}.", f"# TYPE {name} counter",
                      f"{name} {value}"]
    return lines


@auth.require("admin", "oncall", "manager")
async def metrics_handler(request: web.Request) -> web.StreamResponse:
    """Prometheus text format. Scrape with an API token (``bearer_token`` in Prometheus)."""
    services = request.app["services"]
    m = for_services(services)
    extra = await services.db.read(database_lines) + hub_lines(services.hub)
    text = m.render() + ("\n".join(extra) + "\n" if extra else "")
    return web.Response(text=text, content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def _count_response(request: web.Request, response: web.StreamResponse) -> None:
    m = for_services(request.app["services"])
    m.http_requests.inc(method=request.method, status=f"{response.status // 100}xx")


def setup(app: web.Application) -> None:
    services = app["services"]
    m = for_services(services)
    if m.websocket_connections.read is None:
        m.websocket_connections.read = lambda: hub_connections(services.hub)
    app.on_response_prepare.append(_count_response)
    app.router.add_get("/metrics", metrics_handler)

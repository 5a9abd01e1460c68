"""``/metrics``: the process's Prometheus metrics (:mod:`web.platform.metrics`) plus counts read at scrape time."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from web.auth import middleware as auth
from web.platform.metrics import database_families, for_services, hub_families


@auth.require("admin", "oncall", "manager")
async def metrics_handler(request: web.Request) -> web.StreamResponse:
    """Prometheus text format. Scrape with an API token (``bearer_token`` in Prometheus)."""
    services = request.app["services"]
    scraped = await services.db.read(database_families) + hub_families(services.hub)
    return web.Response(body=for_services(services).render(scraped),
                        headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "X-Content-Type-Options": "nosniff"})

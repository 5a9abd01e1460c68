"""``/healthz``: liveness and a database round trip, for load balancers and ``lantern check``."""

from __future__ import annotations

from aiohttp import web

from web.auth.middleware import public


@public
async def healthz(request: web.Request) -> web.Response:
    services = request.app["services"]
    try:
        await services.db.read(lambda db: db.execute("select 1").fetchone())
    except Exception as exc:  # the check exists to report exactly this
        return web.json_response({"status": "error", "database": str(exc)}, status=503)
    return web.json_response({"status": "ok"})

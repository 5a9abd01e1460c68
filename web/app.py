"""The aiohttp application: middlewares, the core routes and every package's routes."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning

from web.auth.middleware import auth_middleware, public
from web.wiring.services import WIRING, Services

ROUTE_MODULES: tuple[str, ...] = (*WIRING, "web.pages")


@public
async def healthz(request: web.Request) -> web.Response:
    services: Services = request.app["services"]
    try:
        await services.db.read(lambda db: db.execute("select 1").fetchone())
    except Exception as exc:  # the check exists to report exactly this
        return web.json_response({"status": "error", "database": str(exc)}, status=503)
    return web.json_response({"status": "ok"})


def create_app(services: Services, *, manage_lifecycle: bool = True) -> web.Application:
    """The web application; with ``manage_lifecycle`` it starts and stops ``services`` with itself."""
    app = web.Application(middlewares=[auth_middleware], client_max_size=2 * 1024 * 1024)
    with warnings.catch_warnings():
        # Every handler reads ``request.app["services"]``; one plain key is
        # simpler than threading a typed AppKey through all packages.
        warnings.simplefilter("ignore", NotAppKeyWarning)
        app["services"] = services
    app.router.add_get("/healthz", healthz)
    for name in ROUTE_MODULES:
        module = importlib.import_module(name)
        setup = getattr(module, "setup_routes", None)
        if setup is not None:
            setup(app)
    if manage_lifecycle:

        async def lifecycle(app: web.Application) -> AsyncIterator[None]:
            await services.start()
            yield
            await services.stop()

        app.cleanup_ctx.append(lifecycle)
    return app

"""The aiohttp application: middlewares and the routes of the parts built (:mod:`web.api.routes`)."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.web_exceptions import NotAppKeyWarning

from web.api import routes
from web.api.error_middleware import error_middleware
from web.auth.middleware import auth_middleware
from web.compose import Services

# Outermost first: errors raised anywhere below (authentication included) become the JSON error body.
MIDDLEWARES = (error_middleware, auth_middleware)


def create_app(services: Services, *, manage_lifecycle: bool = True) -> web.Application:
    """The web application; with ``manage_lifecycle`` it starts and stops ``services`` with itself."""
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=2 * 1024 * 1024)
    with warnings.catch_warnings():
        # Every handler reads ``request.app["services"]``; one plain key is
        # simpler than threading a typed AppKey through all packages.
        warnings.simplefilter("ignore", NotAppKeyWarning)
        app["services"] = services
    routes.mount(app, services)
    if manage_lifecycle:

        async def lifecycle(app: web.Application) -> AsyncIterator[None]:
            await services.start()
            yield
            await services.stop()

        app.cleanup_ctx.append(lifecycle)
    return app

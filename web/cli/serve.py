"""``lantern serve``: the whole system in one process.

Scheduler and pollers, classifier, incidents and alerts, the HTTP app and the
agents' ticker websockets all run on one event loop (SQLite and the
classifier work on threads beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.app import create_app
from web.auth.client_address import ClientAddressLogging
from web.cli._common import add_config_argument, settings_from
from web.compose import Services, build_services
from web.errors import ConfigError
from web.platform.logging_setup import MaskedAccessLogger
from web.platform.settings import Settings

log = logging.getLogger("lantern")


class AccessLogger(ClientAddressLogging, MaskedAccessLogger):
    """Acknowledge links masked; the client address as decided behind ``web.trusted_proxies``."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run Lantern: pollers, alerts, console, ticker")
    add_config_argument(parser)
    parser.add_argument("--host", help="listen address (default: server.host)")
    parser.add_argument("--port", type=int, help="listen port (default: server.port)")
    parser.set_defaults(func=run)


def configure_logging(settings: Settings) -> None:
    try:
        from web.platform.logging_setup import setup_logging
    except ImportError:  # pragma: no cover - until structured logging lands
        logging.basicConfig(level=settings["server.log_level"],
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:
        setup_logging(settings)
    # One line per scheduled job run is noise in production logs.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


async def serve(settings: Settings, *, announce: Callable[[Services, str], Awaitable[None]] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or ``stop`` is set)."""
    services = await build_services(settings)
    app = create_app(services)
    # The access log masks acknowledge-link tokens in request paths and shows the client behind a proxy.
    runner = web.AppRunner(app, handle_signals=False, access_log_class=AccessLogger)
    await runner.setup()  # starts the services through the app's cleanup context
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        host, port = settings["server.host"], settings["server.port"]
        # A large backlog absorbs reconnect storms of thousands of agents.
        site = web.TCPSite(runner, host, port, backlog=4096)
        try:
            await site.start()
        except OSError as exc:  # a bad server.host, or the port is taken: one clear line, no traceback
            raise ConfigError(f"无法监听 {host}:{port} (cannot listen on {host}:{port}: "
                              f"{exc.strerror or type(exc).__name__}); 检查 server.host / server.port") from None
        url = f"http://{host}:{port}"
        log.info("Lantern listening on %s", url)
        print(f"Lantern 走马灯 listening on {url}  (console {url}/  ticker {url}/ticker)", flush=True)
        if announce is not None:
            await announce(services, url)
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
        services.db.close()


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    overrides = {}
    if args.host:
        overrides["server__host"] = args.host
    if args.port:
        overrides["server__port"] = args.port
    settings = settings.with_overrides(**overrides)
    configure_logging(settings)
    asyncio.run(serve(settings))
    return 0

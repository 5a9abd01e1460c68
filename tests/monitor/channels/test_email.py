"""E-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS with login, implicit TLS."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from monitor.channels.base import Message
from monitor.channels.errors import DeliveryError
from monitor.channels.registry import build_channels
from tests.support_servers import Inbox, free_port

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alerts"
CERT, KEY = FIXTURES / "smtp-cert.pem", FIXTURES / "smtp-key.pem"
PASSWORD = "smtp-pass-Very-Secret"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"lantern" and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def tls_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERT, KEY)
    return context


@pytest.fixture
def starttls() -> Iterator[tuple[Controller, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=tls_context(),
                            require_starttls=True, authenticator=authenticator, auth_require_tls=True)
    controller.start()
    yield controller, inbox
    controller.stop()


def message() -> Message:
    return Message(title="【新事件·P2】事件 #3：退款难", text="- **级别**：P2", tier="P2", kind="open", incident_id=3,
                   ack_url="http://lantern.test/ack/9.n.s", must_act=True)


def email_channel(port: int, **kw: Any) -> Any:
    config = {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": port, "sender": "lantern@example.com",
              "to": ["duty@example.com", "pr@example.com"], **kw}
    return build_channels([config])["mail"]


async def test_plain_relay_delivers(smtp: tuple[Controller, Inbox]) -> None:
    controller, inbox = smtp
    channel = email_channel(controller.port, security="none")
    async with aiohttp.ClientSession() as http:
        await channel.send(message(), http)
    rcpts, mail = inbox.messages[0]
    assert rcpts == ["duty@example.com", "pr@example.com"]
    assert mail["Subject"] == "【新事件·P2】事件 #3：退款难"
    assert mail["X-Lantern-Incident"] == "3"
    assert "http://lantern.test/ack/9.n.s" in mail.get_content()


async def test_starttls_with_login(starttls: tuple[Controller, Inbox]) -> None:
    controller, inbox = starttls
    channel = email_channel(controller.port, security="starttls", username="lantern", password=PASSWORD,
                            ca_file=str(CERT))
    async with aiohttp.ClientSession() as http:
        await channel.send(message(), http)
    assert len(inbox.messages) == 1


async def test_wrong_password_is_final_and_secret_free(starttls: tuple[Controller, Inbox]) -> None:
    controller, inbox = starttls
    channel = email_channel(controller.port, security="starttls", username="lantern", password="wrong-pass-123",
                            ca_file=str(CERT))
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DeliveryError) as info:
            await channel.send(message(), http)
    assert not info.value.retryable
    assert "wrong-pass-123" not in str(info.value)
    assert inbox.messages == []


async def test_untrusted_certificate_is_refused(starttls: tuple[Controller, Inbox]) -> None:
    controller, _ = starttls
    channel = email_channel(controller.port, security="starttls", username="lantern", password=PASSWORD)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DeliveryError) as info:
            await channel.send(message(), http)
    assert not info.value.retryable


async def test_implicit_tls() -> None:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=tls_context())
    controller.start()
    try:
        channel = email_channel(controller.port, security="ssl", ca_file=str(CERT))
        async with aiohttp.ClientSession() as http:
            await channel.send(message(), http)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


async def test_server_down_is_retryable() -> None:
    channel = email_channel(9, security="none")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DeliveryError) as info:
            await channel.send(message(), http)
    assert info.value.retryable

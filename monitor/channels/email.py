"""E-mail over SMTP (STARTTLS, implicit TLS or plain for a local relay), one message per alert.

Config: ``host``, ``port`` (587 / 465 / 25), ``security`` = "starttls" | "ssl" |
"none", ``username`` / ``password`` (optional), ``sender``, ``to`` (list of
addresses; may be empty when the routes select people with an e-mail contact,
who are added to each alert's recipients), ``ca_file`` (optional CA bundle for
a private relay).  Sending
runs in a worker thread (smtplib) so the event loop never blocks.  4xx SMTP
answers and connection failures are retried; 5xx and authentication failures
are final.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar

import aiohttp

from .base import Channel, Message
from .errors import ChannelConfigError, DeliveryError

SECURITY = ("starttls", "ssl", "none")


class Email(Channel):
    kind = "email"
    secret_keys = ("password",)
    options: ClassVar[dict[str, str]] = {
        "host": "SMTP server name, e.g. smtp.exmail.qq.com (required).",
        "port": "SMTP port (default: 587 for starttls, 465 for ssl, 25 for none).",
        "security": "starttls (default: plain connection upgraded to TLS), ssl (TLS from the start, usually "
                    "port 465) or none (unencrypted: only for a relay on the same host or network).",
        "username": "SMTP login, usually the sender's address; leave out for a relay that needs none.",
        "password": "SMTP password or the provider's app password (授权码). Kept secret: never logged or shown.",
        "sender": 'From address (required), e.g. "Lantern 舆情 <lantern@example.com>".',
        "to": 'Addresses every alert of this channel goes to, e.g. ["pr-team@example.com"]. May be empty '
              "when the routes select people who have an e-mail contact: they are added to each alert.",
        "ca_file": "PEM file of the CA that signed the server's certificate, for a relay with a private CA.",
    }

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        super().__init__(name, config)
        self.require("host", "sender")
        self.security = str(config.get("security", "starttls"))
        if self.security not in SECURITY:
            raise ChannelConfigError(f"[[channels]] {name!r}: security 必须是 {'/'.join(SECURITY)} "
                                     f"(security must be one of {', '.join(SECURITY)})")
        to = config.get("to") or []
        self.to = [to] if isinstance(to, str) else [str(x) for x in to]
        default_port = {"starttls": 587, "ssl": 465, "none": 25}[self.security]
        try:
            self.port = int(config.get("port", default_port))
        except (TypeError, ValueError):
            raise ChannelConfigError(f"[[channels]] {name!r}: port 必须是整数 (port must be an integer)") from None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "host": self.config["host"], "security": self.security, "to": self.to}

    def recipients(self, message: Message) -> list[str]:
        """The configured ``to`` list, then the people the route selected (by their contact e-mail)."""
        known = {a.lower() for a in self.to}
        extra = [m.email for m in message.mentions if m.email and m.email.lower() not in known]
        return [*self.to, *dict.fromkeys(extra)]

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = str(self.config["sender"])
        mail["To"] = ", ".join(self.recipients(message))
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = make_msgid(domain="lantern")
        if message.incident_id is not None:
            mail["X-Lantern-Incident"] = str(message.incident_id)
        mail.set_content(message.markdown() + "\n\n-- 走马灯 Lantern\n")
        return mail

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.get("ca_file") or None)
        return context

    def connect_sync(self) -> smtplib.SMTP:
        """A connected SMTP session, upgraded to TLS and signed in as configured (use it with ``with``)."""
        host = str(self.config["host"])
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(host, self.port, timeout=self.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=self._context())
            if self.config.get("username"):
                smtp.login(str(self.config["username"]), str(self.config.get("password", "")))
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send_sync(self, mail: EmailMessage) -> None:
        with self.connect_sync() as smtp:
            smtp.send_message(mail)

    async def send(self, message: Message, http: aiohttp.ClientSession) -> None:
        if not self.recipients(message):
            raise DeliveryError(f"{self.name}: 没有收件人：请配置 to 或为所选人员填写邮箱 "
                                "(no recipients: set to, or give the selected people an e-mail contact)",
                                retryable=False)
        mail = self.build(message)
        try:
            await asyncio.to_thread(self._send_sync, mail)
        except smtplib.SMTPAuthenticationError:
            raise DeliveryError(f"{self.name}: SMTP 认证失败 (authentication failed)", retryable=False) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(f"{self.name}: 收件人被拒绝 (recipients refused)", retryable=False) from None
        except smtplib.SMTPResponseException as exc:
            retryable = 400 <= exc.smtp_code < 500
            raise DeliveryError(f"{self.name}: SMTP {exc.smtp_code}", retryable=retryable) from None
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            raise DeliveryError(f"{self.name}: SMTP 连接失败 (connection failed: {type(exc).__name__})",
                                retryable=not isinstance(exc, ssl.SSLCertVerificationError)) from None

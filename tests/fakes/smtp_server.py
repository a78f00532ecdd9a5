"""A real SMTP server on loopback (aiosmtpd) so tests drive the connector's real smtplib client.

with FakeSmtpServer(reject={"gone@example.com": 550}) as server:
    ...send through SmtpConnector.from_url(server.url(), ...)...
    assert server.messages[0]["Subject"] == "Hi"
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
_REPLIES = {
    550: "550 5.1.1 Mailbox unavailable",
    551: "551 5.1.6 User not local",
    552: "552 5.2.2 Mailbox full",
    553: "553 5.1.3 Mailbox name not allowed",
    450: "450 4.2.1 Mailbox busy, try later",
    451: "451 4.3.0 Local error, try later",
    452: "452 4.2.2 Insufficient storage",
    421: "421 4.3.2 Service shutting down",
}


def free_port() -> int:
    """A port nothing listens on right now (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ReceivedEnvelope:
    """What the server accepted: the SMTP envelope and the message bytes as transmitted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    login: str | None  # the AUTH user of the session, if any

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    """aiosmtpd hooks: refuse configured recipients, record accepted mail."""

    def __init__(self, server: FakeSmtpServer) -> None:
        self._server = server

    async def handle_MAIL(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # Enforced here rather than with aiosmtpd's auth_required=True, which warns on every
        # connection when TLS is not required too.
        if self._server.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        code = self._server.rejections.get(address.lower())
        if code is not None:
            return _REPLIES.get(code, f"{code} Refused by the fake server")
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        login = session.login_data.decode() if isinstance(session.login_data, bytes) else None
        self._server._record(
            ReceivedEnvelope(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=raw,
                login=login,
            )
        )
        if self._server.data_reply_delay:
            # Accepted, but the answer is late: the client times out not knowing.
            await asyncio.sleep(self._server.data_reply_delay)
        return "250 2.0.0 Message accepted"


class _CountingController(Controller):
    """aiosmtpd builds one SMTP protocol object per accepted connection in `factory()`."""

    def __init__(self, fake: FakeSmtpServer, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._fake = fake

    def factory(self) -> SMTP:
        self._fake._connection_made()
        return super().factory()


class FakeSmtpServer:
    """A loopback SMTP server for one test; use as a context manager.

    `reject` maps a recipient address to the SMTP code its RCPT TO gets (550, 451, ...);
    `credentials=(user, password)` makes AUTH (PLAIN/LOGIN, no TLS) required before MAIL.
    """

    def __init__(
        self,
        *,
        reject: Mapping[str, int] | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.host = HOST
        self.port = 0
        self.rejections: dict[str, int] = {k.lower(): v for k, v in (reject or {}).items()}
        self.credentials = credentials
        self.data_reply_delay = 0.0  # seconds before answering the end of DATA
        self._lock = threading.Lock()
        self._envelopes: list[ReceivedEnvelope] = []
        self._connections = 0
        self._failed_logins = 0
        self._controller: _CountingController | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeSmtpServer:
        kwargs: dict[str, Any] = {
            # A fixed name avoids a getfqdn() DNS lookup per connection.
            "server_hostname": "fake-smtp.test",
            "ready_timeout": 5.0,
        }
        if self.credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        last_error: Exception | None = None
        # The free port can be taken between free_port() and bind(); try a few.
        for _ in range(5):
            port = free_port()
            controller = _CountingController(
                self, _Handler(self), hostname=HOST, port=port, **kwargs
            )
            try:
                controller.start()
            except OSError as exc:
                last_error = exc
                continue
            self.port = port
            self._controller = controller
            # Controller.start() opens one probe connection of its own; don't count it.
            with self._lock:
                self._connections = 0
            return self
        raise RuntimeError(f"could not start the fake SMTP server: {last_error}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> FakeSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests configure and read -------------------------------------------------------

    def url(self, username: str = "", password: str = "", scheme: str = "smtp") -> str:
        """The connector URL for this server, credentials percent-encoded."""
        auth = ""
        if username or password:
            auth = f"{quote(username, safe='')}:{quote(password, safe='')}@"
        return f"{scheme}://{auth}{self.host}:{self.port}"

    def reject(self, address: str, code: int) -> None:
        """Refuse RCPT TO for `address` with `code` from now on (550 permanent, 451 passing)."""
        with self._lock:
            self.rejections[address.lower()] = code

    @property
    def envelopes(self) -> list[ReceivedEnvelope]:
        with self._lock:
            return list(self._envelopes)

    @property
    def messages(self) -> list[EmailMessage]:
        """Received mails re-parsed with `policy=default`, so headers come back decoded."""
        return [envelope.message for envelope in self.envelopes]

    @property
    def connections(self) -> int:
        """SMTP connections accepted since start (aiosmtpd's own start-up probe excluded)."""
        with self._lock:
            return self._connections

    @property
    def failed_logins(self) -> int:
        with self._lock:
            return self._failed_logins

    # -- called from the server's thread -----------------------------------------------------

    def _record(self, envelope: ReceivedEnvelope) -> None:
        with self._lock:
            self._envelopes.append(envelope)

    def _connection_made(self) -> None:
        with self._lock:
            self._connections += 1

    def _authenticate(
        self,
        smtp: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: object,
    ) -> AuthResult:
        expected = self.credentials
        if (
            expected is not None
            and isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == expected
        ):
            return AuthResult(success=True, auth_data=auth_data)
        with self._lock:
            self._failed_logins += 1
        return AuthResult(success=False, handled=False)

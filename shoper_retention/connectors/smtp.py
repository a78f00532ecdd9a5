"""E-mail through any SMTP server (smtp:// with optional STARTTLS, or smtps:// implicit TLS).

One connection serves a whole dispatch batch (`with connector: ...`); every provider problem
comes back as an outcome value, never as an exception, so the dispatcher decides in one place.
Not thread-safe: use one connector per worker thread.

The recipient goes out exactly as given, and only in its canonical form (emails.py): the
envelope and `To:` are the same single address, never the result of parsing a display name
or a list, so no stored string can widen a mail to a second mailbox.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from shoper_retention.clock import utcnow
from shoper_retention.connectors.base import (
    Failed,
    Outcome,
    OutgoingMessage,
    Paused,
    Retry,
    Sent,
)
from shoper_retention.contacts.emails import canonical_email_or_none
from shoper_retention.contacts.emails import masked as masked_address
from shoper_retention.messaging.email_html import inline_css

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Kept as-is in a Message-ID; every other character (and "=" itself) becomes "=XX", so two
# different idempotency keys can never produce the same Message-ID.
_ID_SAFE = re.compile(r"[A-Za-z0-9_+\-.]")


class _Misconfigured(smtplib.SMTPException):
    """The server cannot do what the configured URL needs: pause the channel, not retry."""


class SmtpConnector:
    """Sends one `OutgoingMessage` as a multipart/alternative mail over SMTP."""

    channel = "email"
    name = "smtp"
    idempotent = False  # SMTP has no idempotency key

    def __init__(
        self,
        host: str,
        port: int | None = None,
        *,
        default_from: str,
        username: str = "",
        password: str = "",
        implicit_tls: bool = False,
        starttls: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = utcnow,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if implicit_tls and starttls:
            raise ValueError("STARTTLS cannot be combined with implicit TLS (smtps://)")
        self.host = host
        self.port = port if port is not None else (465 if implicit_tls else 25)
        self.default_from = default_from
        self.username = username
        self._password = password
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.timeout = timeout
        self._clock = clock
        self._ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None
        # Depth of nested `with` blocks: only the outermost one opens and closes the connection.
        self._depth = 0

    @classmethod
    def from_url(
        cls, url: str, default_from: str, *, clock: Callable[[], datetime] = utcnow
    ) -> SmtpConnector:
        """Build from `smtp://user:pass@host:port?starttls=true` or `smtps://user:pass@host`.

        User and password are percent-decoded, so a password with `@` or `:` is written `%40`,
        `%3A`. Raises ValueError at start-up for a URL we cannot use. `clock` stamps the Date
        header (tests pass a fixed one).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("SMTP URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("SMTP URL has no host")
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
        starttls = False
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "starttls":
                raise ValueError(f"unknown SMTP URL option {key!r} (only 'starttls' is known)")
            if value.lower() in _TRUE:
                starttls = True
            elif value.lower() not in _FALSE:
                raise ValueError(f"starttls must be true or false, not {value!r}")
        return cls(
            parts.hostname,
            port,
            default_from=default_from,
            username=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            implicit_tls=parts.scheme == "smtps",
            starttls=starttls,
            clock=clock,
        )

    def __repr__(self) -> str:
        scheme = "smtps" if self.implicit_tls else "smtp"
        auth = f"{quote(self.username, safe='')}:***@" if self.username else ""
        query = "?starttls=true" if self.starttls else ""
        return f"SmtpConnector('{scheme}://{auth}{self.host}:{self.port}{query}')"

    # -- the batch -------------------------------------------------------------------------

    def __enter__(self) -> SmtpConnector:
        self._depth += 1
        if self._depth == 1 and self._conn is None:
            try:
                self._conn = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                # Not fatal here: the first send reconnects and turns the error into an outcome.
                log.warning(
                    "SMTP %s:%s: could not open the batch connection: %s",
                    self.host,
                    self.port,
                    _describe(exc),
                )
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth = max(0, self._depth - 1)
        if self._depth == 0:
            self._disconnect()

    def send(self, message: OutgoingMessage) -> Outcome:
        """Send one message; outside a `with` block the connection lasts for this one only."""
        if canonical_email_or_none(message.to) != message.to:
            return Failed("recipient is not one canonical e-mail address", permanent=True)
        try:
            mail = self.build(message)
        except (ValueError, TypeError) as exc:
            # A header with a newline, an unsendable sender: resending will not fix it.
            return Failed(f"message cannot be built: {exc}", permanent=True)
        provider_id = str(mail["Message-ID"])
        # The sender is the merchant's or the operator's setting, which may carry a name.
        envelope_from = parseaddr(str(mail["From"]))[1]
        recipient = message.to

        if self._depth == 0:
            try:
                return self._deliver(mail, envelope_from, recipient, provider_id)
            finally:
                self._disconnect()
        return self._deliver(mail, envelope_from, recipient, provider_id)

    def build(self, message: OutgoingMessage) -> EmailMessage:
        """The mail exactly as it goes on the wire (also handy for previews and tests)."""
        sender = message.sender or self.default_from
        mail = EmailMessage(policy=SMTP_POLICY)
        mail["From"] = sender
        mail["To"] = message.to  # canonical: one bare address (send checks it)
        mail["Subject"] = message.subject
        # EmailMessage adds neither Date nor Message-ID by itself.
        mail["Date"] = format_datetime(message.date or self._clock())
        mail["Message-ID"] = message_id_for(message.idempotency_key, sender)
        for name, value in message.headers.items():
            # The message's own headers win (List-Unsubscribe, Reply-To, ...): replacing keeps
            # single-instance headers single.
            del mail[name]
            mail[name] = value
        mail.set_content(message.text)
        if message.html:
            mail.add_alternative(inline_css(message.html), subtype="html")
        return mail

    # -- internals -------------------------------------------------------------------------

    def _deliver(
        self, mail: EmailMessage, envelope_from: str, recipient: str, provider_id: str
    ) -> Outcome:
        masked = masked_address(recipient)
        try:
            if self._conn is None or self._conn.sock is None:
                self._disconnect()
                self._conn = self._connect()
            self._conn.data_sent = False  # type: ignore[attr-defined]
            refused = self._conn.send_message(mail, envelope_from, [recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop_if_closed()
            code, text = next(iter(exc.recipients.values()), (0, b""))
            return self._refused(code, text, masked)
        except smtplib.SMTPSenderRefused as exc:
            self._drop_if_closed()
            if _permanent(exc.smtp_code):
                return Paused(f"SMTP server refused the sender address: {_describe(exc)}")
            return Retry(f"SMTP server deferred the sender: {_describe(exc)}")
        except smtplib.SMTPDataError as exc:
            self._drop_if_closed()
            if _permanent(exc.smtp_code):
                return Failed(f"SMTP server rejected the message: {_describe(exc)}")
            return Retry(f"SMTP server deferred the message: {_describe(exc)}")
        except _Misconfigured as exc:
            self._disconnect()
            return Paused(str(exc))
        except smtplib.SMTPAuthenticationError as exc:
            self._disconnect()
            if not _permanent(exc.smtp_code):
                return Retry(f"SMTP login deferred: {_describe(exc)}")
            log.warning(
                "SMTP %s:%s refused login for %s",
                self.host,
                self.port,
                masked_address(self.username),
            )
            return Paused(f"SMTP login refused: {_describe(exc)}")
        except smtplib.SMTPNotSupportedError as exc:
            # Raised here only before MAIL FROM: an address needs SMTPUTF8, which this server
            # does not offer. Only this message is affected.
            self._drop_if_closed()
            return Failed(f"SMTP server cannot carry this address: {exc}")
        except ssl.SSLCertVerificationError as exc:
            self._disconnect()
            return Paused(f"SMTP server's TLS certificate rejected: {exc.verify_message}")
        except smtplib.SMTPResponseException as exc:
            # A refused greeting, HELO or STARTTLS: the server's trouble, not this message's,
            # so never fail the message for it; the session is in an unknown state.
            self._disconnect()
            return Retry(f"SMTP error: {_describe(exc)}")
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnects, refused connections, timeouts, TLS failures: all passing trouble.
            # The next send of the batch opens a fresh connection.
            handed_over = bool(getattr(self._conn, "data_sent", False))
            self._disconnect()
            if handed_over:
                # The whole message reached the server; only its answer was lost. It may
                # well be delivered, and SMTP has no idempotency key: do not send it again.
                log.warning("SMTP %s to %s: no answer after the data", provider_id, masked)
                return Failed(f"outcome unknown, not resent: {_describe(exc)}")
            log.info(
                "SMTP %s:%s unreachable for %s: %s", self.host, self.port, masked, _describe(exc)
            )
            return Retry(f"SMTP connection problem: {_describe(exc)}")
        if refused:
            code, text = next(iter(refused.values()))
            return self._refused(code, text, masked)
        log.info("SMTP sent %s to %s", provider_id, masked)
        return Sent(provider_id=provider_id)

    def _refused(self, code: int, text: bytes | str, masked: str) -> Outcome:
        reason = f"recipient refused: {code} {_text(text)}"
        if _permanent(code):
            log.info("SMTP recipient %s refused for good (%s)", masked, code)
            return Failed(reason, permanent=True, suppress=True)
        return Retry(reason)

    def _connect(self) -> smtplib.SMTP:
        conn: smtplib.SMTP
        if self.implicit_tls:
            conn = _TrackedSMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._tls_context()
            )
        else:
            conn = _TrackedSMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                conn.starttls(context=self._tls_context())
            if self.username:
                conn.login(self.username, self._password)
        except smtplib.SMTPNotSupportedError as exc:
            # No STARTTLS or no AUTH offered, though the URL asks for it: the shop's setup.
            conn.close()
            raise _Misconfigured(f"SMTP server lacks what the URL asks for: {exc}") from exc
        except BaseException as exc:
            conn.close()
            if type(exc) is smtplib.SMTPException:
                # login()'s "No suitable authentication method found": no retry will help.
                raise _Misconfigured(f"SMTP login impossible: {exc}") from exc
            raise
        return conn

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _drop_if_closed(self) -> None:
        """smtplib closes the socket itself after a 421; forget such a connection."""
        if self._conn is not None and self._conn.sock is None:
            self._conn = None

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if conn.sock is not None:
                conn.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server already went away; nothing left to close politely
        finally:
            conn.close()


def message_id_for(idempotency_key: str, sender: str) -> str:
    """`<key@domain-of-From>`: the same message keeps the same Message-ID across retries, so a
    resend after a crash is recognisable downstream and bounces match it."""
    local = "".join(
        ch if _ID_SAFE.fullmatch(ch) else "".join(f"={b:02X}" for b in ch.encode())
        for ch in idempotency_key
    )
    # A dot-atom may not start or end with a dot nor hold two in a row.
    local = re.sub(r"\.{2,}", lambda m: "=2E" * len(m.group()), local)
    if local.startswith("."):
        local = "=2E" + local[1:]
    if local.endswith("."):
        local = local[:-1] + "=2E"
    domain = parseaddr(sender)[1].rpartition("@")[2].strip().lower() or "localhost"
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        domain = re.sub(r"[^a-z0-9.\-]", "-", domain.encode("ascii", "replace").decode())
    return f"<{local or 'message'}@{domain}>"


def _permanent(code: int) -> bool:
    return 500 <= code <= 599


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _DataTracking:
    """Notes when the message data's terminating CRLF.CRLF has been written: a failure after
    that point leaves the outcome unknown (the server may have accepted the mail)."""

    data_sent = False

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.data_sent = True


class _TrackedSMTP(_DataTracking, smtplib.SMTP):
    pass


class _TrackedSMTP_SSL(_DataTracking, smtplib.SMTP_SSL):  # noqa: N801 - mirrors smtplib's name
    pass

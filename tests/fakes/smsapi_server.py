"""A fake SMSAPI on loopback, so tests drive the real `smsapi-client` over real HTTP.

It answers `POST /sms.do` the way SMSAPI does: a JSON list of accepted messages, API errors
as HTTP 200 with `{"error": code, "message": ...}` (which the client raises as
`SendException`), a duplicate `idx` with `check_idx=1` as error 53, and a bad Bearer token
as HTTP 401. Tests script the next answers with `fail_next`, `http_error_next` and
`delay_next`, and read what arrived in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

# Kept apart from shoper_retention.messaging.sms_text on purpose: the fake must not grade our
# code with our own code. A plain count (no packing at part edges) is enough for test texts.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXT = frozenset("^{}\\[~]|€\f")
PRICE_PER_PART = Decimal("0.16")


def _parts(text: str) -> int:
    if all(c in _GSM7 or c in _GSM7_EXT for c in text):
        units, single, part = sum(2 if c in _GSM7_EXT else 1 for c in text), 160, 153
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // part)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the fake saw it; `form` holds the last value of each field."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass(frozen=True)
class _ApiError:
    code: int
    message: str
    invalid_numbers: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _HttpError:
    status: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Delay:
    seconds: float


_Scripted = _ApiError | _HttpError | _Delay


class FakeSmsapi:
    """Start with `with FakeSmsapi() as server:`; point the client at `server.url`."""

    def __init__(
        self, access_token: str = "test-token", allowed_senders: set[str] | None = None
    ) -> None:
        self.access_token = access_token
        # None accepts any sender; a set answers error 14 for the others, as SMSAPI does
        # for names not registered on the account.
        self.allowed_senders = allowed_senders
        self.requests: list[ReceivedRequest] = []
        self.sent: list[dict[str, Any]] = []  # the list items of accepted messages
        self._seen_idx: set[str] = set()
        self._script: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSmsapi:
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True  # a delayed answer must not block stop()
        # A short poll keeps stop() fast: shutdown() waits for the loop to look up.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-smsapi",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSmsapi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for `smsapi.client.Client(domain=...)`, with the trailing slash it needs."""
        if self._server is None:
            raise RuntimeError("FakeSmsapi is not started")
        return f"http://127.0.0.1:{self._server.server_port}/"

    # -- scripting -------------------------------------------------------------------------

    def fail_next(
        self,
        code: int,
        message: str | None = None,
        invalid_numbers: list[dict[str, str]] | None = None,
    ) -> None:
        """Answer the next send with API error `code` (HTTP 200, JSON body)."""
        with self._lock:
            self._script.append(
                _ApiError(code, message or f"Fake SMSAPI error {code}", invalid_numbers or [])
            )

    def http_error_next(
        self, status: int, body: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next request with a bare HTTP `status` (e.g. 503, or 429 + Retry-After)."""
        with self._lock:
            self._script.append(_HttpError(status, body or f"HTTP {status}", headers or {}))

    def delay_next(self, seconds: float) -> None:
        """Sleep before handling the next request, then handle it normally.

        As with a real timeout, the message is still accepted (and its idx remembered) once
        the delay is over, even though the client gave up waiting.
        """
        with self._lock:
            self._script.append(_Delay(seconds))

    def reset(self) -> None:
        """Forget requests, accepted messages, remembered idx values and scripted answers."""
        with self._lock:
            self.requests.clear()
            self.sent.clear()
            self._seen_idx.clear()
            self._script.clear()

    @property
    def forms(self) -> list[dict[str, str]]:
        """The form fields of every request received so far, in order."""
        with self._lock:
            return [r.form for r in self.requests]

    # -- the API ---------------------------------------------------------------------------

    def _handle(self, request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        if isinstance(scripted, _Delay):
            time.sleep(scripted.seconds)
            scripted = None
        if isinstance(scripted, _HttpError):
            return scripted.status, scripted.headers, scripted.body.encode()
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            # SMSAPI's answer to a bad OAuth token: HTTP 401, not an error code in a 200.
            return _json(401, {"message": "Authorization failed", "error": "authorization_failed"})
        if request.method != "POST" or request.path != "/sms.do":
            return _json(404, {"message": "Not found", "error": "not_found"})
        if isinstance(scripted, _ApiError):
            return _error(scripted.code, scripted.message, scripted.invalid_numbers)
        return self._send_sms(request.form)

    def _send_sms(self, form: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        to, text = form.get("to", ""), form.get("message", "")
        if not text:
            return _error(11, "Message too long or there is no message or parameter nounicode")
        if not to:
            return _error(13, "No correct phone numbers")
        sender = form.get("from")
        if self.allowed_senders is not None and sender and sender not in self.allowed_senders:
            return _error(14, "Sender name is not valid")
        idx = form.get("idx") or None
        with self._lock:
            if idx is not None and form.get("check_idx") == "1":
                if idx in self._seen_idx:
                    return _error(
                        53, "Not unique idx parameter, message with the same idx was already sent"
                    )
            if idx is not None:
                self._seen_idx.add(idx)
            parts = _parts(text)
            item: dict[str, Any] = {
                "id": uuid.uuid4().hex[:24].upper(),
                "points": str(PRICE_PER_PART * parts),
                "number": to.lstrip("+"),
                "date_sent": int(time.time()),
                "submitted_number": to,
                "status": "QUEUE",
                "error": None,
                "idx": idx,
                "parts": parts,
            }
            self.sent.append(item)
        body: dict[str, Any] = {"count": 1, "list": [item]}
        if form.get("details") == "1":
            body.update(message=text, length=len(text), parts=parts)
        return _json(200, body)


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _error(
    code: int, message: str, invalid_numbers: list[dict[str, str]] | None = None
) -> tuple[int, dict[str, str], bytes]:
    body: dict[str, Any] = {"error": code, "message": message}
    if invalid_numbers:
        body["invalid_numbers"] = invalid_numbers
    return _json(200, body)


def _make_handler(fake: FakeSmsapi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8") if length else ""
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            request = ReceivedRequest(
                method=self.command,
                path=self.path.split("?", 1)[0],
                headers={k.lower(): v for k, v in self.headers.items()},
                form=form,
            )
            status, headers, body = fake._handle(request)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up; that is the point of delay_next

        do_POST = _serve
        do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler

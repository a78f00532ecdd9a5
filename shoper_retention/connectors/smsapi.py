"""SMS through SMSAPI (smsapi.pl / smsapi.com), using the official `smsapi-client`.

Every SMSAPI answer becomes an outcome value: the dispatcher decides what to do with it, and
the reason strings are shown to merchants as they are.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from smsapi.client import Client
from smsapi.exception import EndpointException, SendException

from shoper_retention.connectors.base import (
    Failed,
    Outcome,
    OutgoingMessage,
    Paused,
    Retry,
    Sent,
)

log = logging.getLogger(__name__)

# SMSAPI error codes we act on (SMSAPI's published table, as copied in docs/messaging.md).
# The wording is ours: merchants read it.
_DESCRIPTIONS: dict[int, str] = {
    11: "message is empty or too long",
    12: "message has more parts than allowed",
    13: "invalid or blacklisted phone number",
    14: "sender name is not accepted on this account",
    50: "send date is more than 3 months ahead",
    52: "too many messages to this number in a minute",
    53: "this message was already accepted",
    54: "send date has a wrong format",
    57: "phone number is on the blacklist",
    59: "phone number is on the opt-out list",
    70: "delivery report URL was rejected",
    101: "access token is wrong or missing",
    102: "wrong login or password",
    103: "not enough credit",
    105: "this server's IP address is not allowed",
    200: "sending failed, will try again",
    201: "SMSAPI internal error",
    202: "too many simultaneous requests",
    203: "too many requests",
    999: "SMSAPI internal error",
}
_ALREADY_SENT = 53
_SUPPRESS = frozenset({13, 57, 59})
_PAUSE = frozenset({14, 101, 102, 103, 105, 70})
_RETRY = frozenset({52, 200, 201, 202, 203, 999})


class SmsapiConnector:
    """Sends one SMS per call through SMSAPI's `sms.do`.

    `idx` + `check_idx=1` make a resend of the same message (after a crash or a timeout whose
    request did get through) come back as error 53, which we report as already sent.
    """

    channel = "sms"
    name = "smsapi"
    idempotent = True  # check_idx=1: SMSAPI refuses a repeated idx (error 53)

    def __init__(
        self,
        base_url: str,
        access_token: str,
        sender: str = "",
        timeout: float = 10.0,
        test_mode: bool = False,
    ) -> None:
        if not access_token:
            raise ValueError("SMSAPI access token is required")
        # The client appends paths ("sms.do") straight to the domain.
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.sender = sender
        self.timeout = timeout
        self.test_mode = test_mode
        self._token = access_token
        self._client = Client(self.base_url, access_token=access_token)

    def __repr__(self) -> str:
        return (
            f"SmsapiConnector(base_url={self.base_url!r}, sender={self.sender!r}, "
            f"timeout={self.timeout!r}, test_mode={self.test_mode!r}, access_token='***')"
        )

    def __enter__(self) -> SmsapiConnector:
        # smsapi-client makes a fresh `requests.request` per call: nothing to open or close.
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def send(self, message: OutgoingMessage) -> Outcome:
        params = self._params(message)
        try:
            result = self._client.sms.send(timeout=self.timeout, **params)
        except SendException as e:  # an API error in a 200 body; subclass of EndpointException
            return self._api_error(e.code, e.message)
        except EndpointException as e:  # non-2xx HTTP answer; `.code` is the HTTP status
            return self._http_error(e.code)
        except requests.Timeout:
            return Retry("SMSAPI did not answer in time")
        except requests.ConnectionError:
            return Retry("could not connect to SMSAPI")
        except requests.RequestException as e:
            log.warning("SMSAPI request failed: %s", self._scrub(repr(e)))
            return Retry("network error while talking to SMSAPI")

        # `.results`, not iteration: the result object's iterator never resets.
        results = result.results
        if results and results[0].error:  # a per-number error inside a 200 list
            return self._api_error(results[0].error, None)
        if not results or not results[0].id:
            # Safe to retry: if SMSAPI did accept it, the resend answers 53.
            return Retry("SMSAPI answered without a message id")
        first = results[0]
        return Sent(
            provider_id=str(first.id), segments=_as_int(first.parts) or _as_int(result.parts)
        )

    def _params(self, message: OutgoingMessage) -> dict[str, str]:
        """Form fields for `sms.send`, already strings.

        The client runs every value through `str()` and drops only `None`, so `True` would
        go out as "True" and `None` as "None"; optional fields are left out instead.
        """
        params = {
            # SMSAPI documents numbers as digits with the country code, without "+".
            "to": message.to.removeprefix("+"),
            "message": message.text,
            "encoding": "utf-8",
            "idx": message.idempotency_key,
            "check_idx": "1",
            "details": "1",
        }
        sender = message.sender or self.sender
        if sender:
            params["from_"] = sender
        if message.notify_url:
            params["notify_url"] = message.notify_url
        if self.test_mode:
            params["test"] = "1"
        return params

    def _api_error(self, code: Any, api_message: str | None) -> Outcome:
        number = _as_int(code)
        log.info("SMSAPI error %s: %s", code, self._scrub(str(api_message or "")))
        if number == _ALREADY_SENT:
            return Sent(provider_id="", already_sent=True)
        reason = self._reason(number, code, api_message)
        if number in _SUPPRESS:
            return Failed(reason, permanent=True, suppress=True)
        if number in _PAUSE:
            return Paused(reason)
        if number in _RETRY:
            return Retry(reason)
        # 11, 12, 50, 54 and anything we do not know: this message will not go out as it is.
        return Failed(reason, permanent=True, suppress=False)

    def _reason(self, number: int | None, code: Any, api_message: str | None) -> str:
        if number is not None and number in _DESCRIPTIONS:
            return f"SMSAPI error {number}: {_DESCRIPTIONS[number]}"
        detail = self._scrub(str(api_message or "")).strip()[:100] or "unexpected error"
        return f"SMSAPI error {code}: {detail}"

    def _http_error(self, status: Any) -> Outcome:
        number = _as_int(status)
        if number in (401, 403):
            return Paused(f"SMSAPI rejected the access token (HTTP {number})")
        if number is not None and (number >= 500 or number in (408, 429)):
            # Retry-After would be the hint here, but EndpointException keeps only the body.
            return Retry(f"SMSAPI is unavailable (HTTP {number})")
        return Failed(f"SMSAPI answered HTTP {status}", permanent=True, suppress=False)

    def _scrub(self, text: str) -> str:
        """Keep the token out of logs even if an error message ever echoes it."""
        return text.replace(self._token, "***")


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

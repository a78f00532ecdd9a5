"""SmsapiConnector through the real smsapi-client against a fake SMSAPI on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shoper_retention.connectors.base import Failed, OutgoingMessage, Paused, Retry, Sent
from shoper_retention.connectors.smsapi import SmsapiConnector
from tests.fakes.smsapi_server import FakeSmsapi

TOKEN = "s3cret-smsapi-token"


@pytest.fixture
def smsapi() -> Iterator[FakeSmsapi]:
    with FakeSmsapi(access_token=TOKEN) as server:
        yield server


@pytest.fixture
def connector(smsapi: FakeSmsapi) -> SmsapiConnector:
    return SmsapiConnector(smsapi.url, TOKEN, sender="Sklep")


def sms(
    text: str = "Twoj koszyk czeka", key: str = "msg-1", sender: str = "", notify_url: str = ""
) -> OutgoingMessage:
    return OutgoingMessage(
        channel="sms",
        to="+48500100200",
        text=text,
        idempotency_key=key,
        sender=sender,
        notify_url=notify_url,
    )


def test_send_posts_the_fields_smsapi_needs(smsapi: FakeSmsapi, connector: SmsapiConnector):
    outcome = connector.send(sms("Hello", key="shop1-msg42"))

    assert isinstance(outcome, Sent)
    assert outcome.provider_id == smsapi.sent[0]["id"]
    assert outcome.segments == 1
    assert not outcome.already_sent
    [form] = smsapi.forms
    assert form["to"] == "48500100200"
    assert form["message"] == "Hello"
    assert form["from"] == "Sklep"
    assert form["idx"] == "shop1-msg42"
    assert form["check_idx"] == "1"
    assert form["encoding"] == "utf-8"
    assert form["details"] == "1"
    assert form["format"] == "json"
    assert "test" not in form
    assert "notify_url" not in form
    assert smsapi.requests[0].path == "/sms.do"


def test_segments_come_from_smsapi_parts(connector: SmsapiConnector):
    # Polish letters force UCS-2: 80 characters need two 67-unit parts.
    outcome = connector.send(sms("ż" * 80))

    assert isinstance(outcome, Sent)
    assert outcome.segments == 2


def test_message_sender_overrides_the_default(smsapi: FakeSmsapi, connector: SmsapiConnector):
    connector.send(sms(sender="Promo"))

    assert smsapi.forms[0]["from"] == "Promo"


def test_empty_sender_is_left_out_not_sent_as_none(smsapi: FakeSmsapi):
    SmsapiConnector(smsapi.url, TOKEN).send(sms())

    form = smsapi.forms[0]
    assert "from" not in form
    assert "None" not in form.values()


def test_notify_url_and_test_mode_are_sent_as_plain_strings(smsapi: FakeSmsapi):
    connector = SmsapiConnector(smsapi.url, TOKEN, test_mode=True)

    connector.send(sms(notify_url="https://example.test/r/abc"))

    form = smsapi.forms[0]
    assert form["notify_url"] == "https://example.test/r/abc"
    assert form["test"] == "1"


def test_repeated_idx_is_reported_as_already_sent(connector: SmsapiConnector):
    first = connector.send(sms(key="same"))
    second = connector.send(sms(key="same"))

    assert isinstance(first, Sent) and not first.already_sent
    assert second == Sent(provider_id="", already_sent=True)


@pytest.mark.parametrize("code", [13, 57, 59])
def test_unreachable_number_fails_and_suppresses(
    smsapi: FakeSmsapi, connector: SmsapiConnector, code: int
):
    smsapi.fail_next(code=code)

    outcome = connector.send(sms())

    assert isinstance(outcome, Failed)
    assert outcome.permanent and outcome.suppress
    assert outcome.reason.startswith(f"SMSAPI error {code}: ")


@pytest.mark.parametrize("code", [14, 70, 101, 102, 103, 105])
def test_shop_configuration_errors_pause_the_channel(
    smsapi: FakeSmsapi, connector: SmsapiConnector, code: int
):
    smsapi.fail_next(code=code)

    assert isinstance(connector.send(sms()), Paused)


def test_no_credit_reason_is_readable(smsapi: FakeSmsapi, connector: SmsapiConnector):
    smsapi.fail_next(code=103, message="Brak punktow")

    assert connector.send(sms()) == Paused("SMSAPI error 103: not enough credit")


def test_unregistered_sender_pauses(smsapi: FakeSmsapi):
    smsapi.allowed_senders = {"Test"}

    outcome = SmsapiConnector(smsapi.url, TOKEN, sender="Nieznany").send(sms())

    assert isinstance(outcome, Paused)
    assert "14" in outcome.reason


@pytest.mark.parametrize("code", [11, 12, 50, 54])
def test_content_errors_fail_without_suppressing(
    smsapi: FakeSmsapi, connector: SmsapiConnector, code: int
):
    smsapi.fail_next(code=code)

    outcome = connector.send(sms())

    assert isinstance(outcome, Failed)
    assert outcome.permanent and not outcome.suppress


def test_unknown_api_code_fails_with_smsapis_message(
    smsapi: FakeSmsapi, connector: SmsapiConnector
):
    smsapi.fail_next(code=666, message="Something new")

    assert connector.send(sms()) == Failed(
        "SMSAPI error 666: Something new", permanent=True, suppress=False
    )


@pytest.mark.parametrize("code", [52, 200, 201, 202, 203, 999])
def test_transient_api_errors_retry(smsapi: FakeSmsapi, connector: SmsapiConnector, code: int):
    smsapi.fail_next(code=code)

    outcome = connector.send(sms())

    assert isinstance(outcome, Retry)
    assert outcome.after is None


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_retry(
    smsapi: FakeSmsapi, connector: SmsapiConnector, status: int
):
    smsapi.http_error_next(status, headers={"Retry-After": "30"})

    # smsapi-client's EndpointException keeps no headers, so the hint cannot be honoured.
    assert connector.send(sms()) == Retry(f"SMSAPI is unavailable (HTTP {status})")


def test_retry_after_an_error_sends_normally(smsapi: FakeSmsapi, connector: SmsapiConnector):
    smsapi.http_error_next(503)

    assert isinstance(connector.send(sms()), Retry)
    assert isinstance(connector.send(sms()), Sent)


def test_rejected_token_pauses(smsapi: FakeSmsapi):
    outcome = SmsapiConnector(smsapi.url, "wrong-token").send(sms())

    assert outcome == Paused("SMSAPI rejected the access token (HTTP 401)")


def test_forbidden_pauses(smsapi: FakeSmsapi, connector: SmsapiConnector):
    smsapi.http_error_next(403)

    assert isinstance(connector.send(sms()), Paused)


def test_timeout_retries_and_the_resend_is_recognised(smsapi: FakeSmsapi):
    connector = SmsapiConnector(smsapi.url, TOKEN, timeout=0.2)
    smsapi.delay_next(0.6)

    assert connector.send(sms(key="slow")) == Retry("SMSAPI did not answer in time")

    # The slow request did get through; once it lands, the resend is a duplicate idx.
    deadline = time.monotonic() + 3
    while not smsapi.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    assert smsapi.sent, "the delayed request never completed"
    assert connector.send(sms(key="slow")) == Sent(provider_id="", already_sent=True)


def test_unreachable_server_retries():
    with FakeSmsapi() as server:
        url = server.url  # the port is closed once the fake stops

    outcome = SmsapiConnector(url, TOKEN, timeout=1).send(sms())

    assert outcome == Retry("could not connect to SMSAPI")


def test_token_never_shows_in_repr_or_reasons(smsapi: FakeSmsapi, connector: SmsapiConnector):
    smsapi.fail_next(code=666, message=f"token {TOKEN} is odd")

    outcome = connector.send(sms())

    assert TOKEN not in repr(connector)
    assert "***" in repr(connector)
    assert isinstance(outcome, Failed)
    assert TOKEN not in outcome.reason


def test_token_is_sent_as_bearer(smsapi: FakeSmsapi, connector: SmsapiConnector):
    connector.send(sms())

    assert smsapi.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_base_url_gets_its_trailing_slash(smsapi: FakeSmsapi):
    connector = SmsapiConnector(smsapi.url.rstrip("/"), TOKEN)

    assert connector.base_url == smsapi.url
    assert isinstance(connector.send(sms()), Sent)


def test_missing_token_is_refused_at_construction():
    with pytest.raises(ValueError):
        SmsapiConnector("https://api.smsapi.pl/", "")


def test_connector_is_a_trivial_context_manager(connector: SmsapiConnector):
    with connector as opened:
        assert opened is connector
    assert connector.channel == "sms" and connector.name == "smsapi"

"""`POST /shoper/appstore` under generated forms: unsigned junk, forms signed with the App Store
secret (so they reach the action handling) with generated actions, licences, timestamps and
fields, while Shoper's token endpoint (faked with `responses`; nothing reaches the network)
answers a generated success, refusal, redirect or outage. Never a 5xx but the 503 of a Shoper
outage, always JSON, and a refused callback changes no shop."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import requests
import responses
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.models import Shop
from shoper_retention.platforms.shoper.install import ACTIONS
from shoper_retention.platforms.shoper.signature import appstore_hash
from tests.fuzz.hostile import any_text, assert_json_answer, header_text
from tests.support import make_shop

LICENCE = "licence-0123456789"
TOKEN_URL = re.compile(r".*/webapi/rest/oauth/token.*")
# Form text a browser or Shoper can send and we can sign: no lone surrogates (they cannot be
# encoded, so the server would decode, and verify, other text than we signed).
form_text = st.one_of(
    any_text.filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)),
    header_text,
)
# How Shoper's token endpoint answers; `transient` says whether a 503 is then the right answer.
TOKEN_ANSWERS: dict[str, tuple[dict[str, Any], bool]] = {
    "tokens": (
        {"status": 200, "json": {"access_token": "a", "refresh_token": "r", "expires_in": 3600}},
        False,
    ),
    "junk-200": ({"status": 200, "body": "<html>"}, False),
    "list-200": ({"status": 200, "json": [1, 2]}, False),
    "no-token-200": ({"status": 200, "json": {"expires_in": "x"}}, False),
    "redirect": (
        {"status": 301, "headers": {"Location": "https://moved.example/webapi/rest/oauth/token"}},
        False,
    ),
    "redirect-junk": ({"status": 302, "headers": {"Location": "javascript:x"}}, False),
    "invalid-grant": ({"status": 400, "json": {"error": "invalid_grant"}}, False),
    "401": ({"status": 401, "body": ""}, False),
    "403": ({"status": 403, "json": {"error": "insufficient_scope"}}, False),
    "404": ({"status": 404, "body": "not found"}, False),
    "409": ({"status": 409, "body": ""}, True),
    "429": ({"status": 429, "headers": {"Retry-After": "abc"}}, True),
    "500": ({"status": 500, "json": {"error": None, "error_description": 5}}, True),
    "502": ({"status": 502, "body": "bad gateway"}, True),
    "connection": ({"body": requests.ConnectionError("refused")}, True),
    "timeout": ({"body": requests.Timeout("slow")}, True),
}


def shops(factory: Any) -> list[tuple[Any, ...]]:
    """Every column of every shop: a refused callback must leave all of it as it was."""
    with factory() as session:
        return [tuple(row) for row in session.execute(select(Shop.__table__).order_by(Shop.id))]


@pytest.fixture
def shop(factory, settings, clock):  # type: ignore[no-untyped-def]
    return make_shop(factory, settings, now=clock.now, licence=LICENCE)


def timestamps(now: datetime) -> st.SearchStrategy[str]:
    offsets = st.integers(-(10**6), 10**4)
    return st.one_of(
        offsets.map(lambda s: str(int(now.timestamp()) + s)),
        offsets.map(
            lambda s: (
                (now + timedelta(seconds=s))
                .astimezone(ZoneInfo("Europe/Warsaw"))
                .strftime("%Y-%m-%d %H:%M:%S")
            )
        ),
        st.sampled_from(["", "0", "-1", "9" * 11, "9" * 12, "2026-02-30 10:00:00", "１２３"]),
        form_text,
    )


@st.composite
def callbacks(draw: st.DrawFn, now: datetime) -> dict[str, str]:
    form = {
        "action": draw(st.sampled_from(ACTIONS) | form_text),
        "shop": draw(
            st.sampled_from([LICENCE, f" {LICENCE} ", "licence-new", "x" * 65]) | form_text
        ),
        "timestamp": draw(timestamps(now)),
        "shop_url": draw(
            st.sampled_from(["https://sklep.example", "http://sklep.example/", "https://", ""])
            | form_text
        ),
        "auth_code": draw(st.sampled_from(["code-1", " "]) | form_text),
        "application_version": draw(form_text),
    }
    for key in draw(st.lists(st.sampled_from(sorted(form)), max_size=2)):
        form.pop(key, None)
    form.update(draw(st.dictionaries(form_text, form_text, max_size=2)))
    form.pop("hash", None)
    return form


def post(client: Any, body: bytes | dict[str, str], content_type: str | None = None) -> Any:
    if isinstance(body, dict):
        return client.post("/shoper/appstore", data=body)
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.post("/shoper/appstore", data=body, headers=headers)


def test_signed_callbacks_never_500_and_a_refused_one_changes_no_shop(
    client, factory, settings, clock, shop
):  # type: ignore[no-untyped-def]
    @given(
        form=callbacks(clock.now),
        answer_name=st.sampled_from(sorted(TOKEN_ANSWERS)),
        wrong_secret=st.integers(0, 9).map(lambda n: n == 0),
    )
    def run(form: dict[str, str], answer_name: str, wrong_secret: bool) -> None:
        secret = "not-the-secret" if wrong_secret else settings.shoper_appstore_secret
        signed = {**form, "hash": appstore_hash(form, secret)}
        fake, transient = TOKEN_ANSWERS[answer_name]
        before = shops(factory)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as shoper:
            shoper.add(responses.POST, TOKEN_URL, **fake)
            answer = post(client, signed)
        data = assert_json_answer(answer, outage_allowed=transient)
        status = answer.status_code
        if status == 503:
            assert transient and form.get("action") == "install", data
            assert answer.headers.get("Retry-After", "").isdigit()
        if status >= 400:
            assert shops(factory) == before, (status, data)
        else:
            assert not wrong_secret
            assert data.get("status") == "ok" and isinstance(data.get("result"), str)
        if wrong_secret:
            assert status == 403

    run()


def test_unsigned_or_malformed_callbacks_are_refused_and_change_no_shop(
    client, factory, clock, shop
):  # type: ignore[no-untyped-def]
    raw_bodies = st.one_of(
        st.binary(max_size=300),
        st.dictionaries(form_text, form_text, max_size=6).map(
            lambda d: urlencode(d, encoding="utf-8", errors="surrogatepass").encode()
        ),
        callbacks(clock.now).map(
            lambda f: (urlencode(f) + "&hash=" + "0" * 128 + "&hash=" + "a" * 128).encode()
        ),
    )

    @given(
        body=raw_bodies,
        content_type=st.sampled_from(
            ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
        )
        | header_text,
    )
    def run(body: bytes, content_type: str | None) -> None:
        before = shops(factory)
        with responses.RequestsMock(assert_all_requests_are_fired=False):
            answer = post(client, body, content_type)
        data = assert_json_answer(answer)
        assert answer.status_code in (400, 403), data
        assert shops(factory) == before

    run()

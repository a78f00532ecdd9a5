"""The merchant's settings page under generated input: `POST /shoper/app/settings` with a valid
form token and generated values for every field (plus extra fields), forged tokens, and
`GET /shoper/app` with generated query parameters, some signed with the iframe hash. Never a
5xx; a refused save changes nothing; a saved configuration renders; a GET stores nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.models import ChannelPause, Shop
from shoper_retention.platforms.shoper.signature import iframe_hash
from tests.fuzz.hostile import any_text, header_text, numbers, row_counts
from tests.support import make_shop, settings_form_fields

LICENCE = "licence-0123456789"
FORM = "application/x-www-form-urlencoded"
EXTRA_FIELDS = ["sms_countries", "email_opt_in", "smsapi_token_clear", "t", "saved"]
hours = st.one_of(
    numbers.map(str),
    st.sampled_from(["0.5", "0,5", "720", "720.001", "1e3", "nan", "inf", "-0", "1_0", "٣"]),
    any_text,
)
clock_times = st.one_of(
    st.times().map(lambda t: t.isoformat()),
    st.times(timezones=st.timezones()).map(lambda t: t.isoformat()),
    st.sampled_from(
        ["24:00", "9:00", "09:00:00.5", "T09", "0900", "23:59:59.999999", "09:00+01:00", "21:00Z"]
    ),
    any_text,
)
FIELD_VALUES: dict[str, st.SearchStrategy[str]] = {
    "cart_recovery__enabled": st.sampled_from(["on", "off", ""]) | any_text,
    "cart_recovery__step1_hours": hours,
    "cart_recovery__step2_hours": hours,
    "cart_recovery__step3_hours": hours,
    "cart_recovery__step1_channel": st.sampled_from(["auto", "email", "sms", "both", "AUTO"])
    | any_text,
    "cart_recovery__step2_channel": st.sampled_from(["auto", "email", "sms", "both"]) | any_text,
    "cart_recovery__step3_channel": st.sampled_from(["auto", "email", "sms", "both"]) | any_text,
    "cart_recovery__coupon_mode": st.sampled_from(["unique", "static", "none", "Unique"])
    | any_text,
    "cart_recovery__coupon_percent": st.integers(-5, 100).map(str) | numbers.map(str) | any_text,
    "cart_recovery__coupon_valid": st.integers(-5, 800).map(str) | numbers.map(str) | any_text,
    "cart_recovery__coupon_static_code": any_text | st.integers(60, 70).map("C".__mul__),
    "smsapi_token": any_text,
    "sms_sender": st.from_regex(r"[A-Za-z0-9 .\-]{0,12}", fullmatch=True) | any_text,
    "sms_transliterate": st.sampled_from(["on", ""]) | any_text,
    "mail_from": st.emails().map(str) | any_text,
    "sms_from": clock_times,
    "sms_until": clock_times,
    "email_from": clock_times,
    "email_until": clock_times,
    "sms_countries": st.sampled_from(["PL", "pl, de", "XX", "PL;CZ", ",".join(["PL"] * 31)])
    | any_text,
    "email_opt_in": st.sampled_from(["confirmed", "single"]) | any_text,
    "smsapi_token_clear": st.sampled_from(["on"]) | any_text,
}


@st.composite
def settings_forms(draw: st.DrawFn, token: str) -> list[tuple[str, str]]:
    form = settings_form_fields(token)
    for name in draw(st.lists(st.sampled_from(sorted(FIELD_VALUES)), max_size=4)):
        if draw(st.integers(0, 5)) == 0:
            form.pop(name, None)
        else:
            form[name] = draw(FIELD_VALUES[name])
    pairs = list(form.items())
    for _ in range(draw(st.integers(0, 2))):
        pairs.append((draw(st.sampled_from(EXTRA_FIELDS) | any_text), draw(any_text)))
    return pairs


def encode(pairs: list[tuple[str, str]]) -> bytes:
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass").encode()


def shop_row(factory: Any, shop_id: int) -> tuple[Any, ...]:
    with factory() as session:
        return tuple(session.execute(select(Shop.__table__).where(Shop.id == shop_id)).one())


def all_shops(factory: Any) -> list[tuple[Any, ...]]:
    with factory() as session:
        return [tuple(row) for row in session.execute(select(Shop.__table__).order_by(Shop.id))]


@pytest.fixture
def shop(factory, settings, clock):  # type: ignore[no-untyped-def]
    return make_shop(factory, settings, now=clock.now, licence=LICENCE)


def test_generated_settings_forms_are_saved_or_refused_whole_and_never_500(
    app, client, factory, clock, shop
):  # type: ignore[no-untyped-def]
    token = app.extensions["shoper_retention"].links.settings_form_token(shop.id, clock.now)

    @given(pairs=settings_forms(token))
    def run(pairs: list[tuple[str, str]]) -> None:
        before = shop_row(factory, shop.id), row_counts(factory, ChannelPause)
        answer = client.post(
            "/shoper/app/settings", data=encode(pairs), headers={"Content-Type": FORM}
        )
        status = answer.status_code
        assert status in (303, 400), (status, answer.get_data()[:500])
        if status == 400:
            assert answer.mimetype == "text/html"
            assert (shop_row(factory, shop.id), row_counts(factory, ChannelPause)) == before
            return
        location = urlsplit(answer.headers["Location"])
        assert location.path == "/shoper/app" and "saved=1" in location.query
        page = client.get(f"{location.path}?{location.query}")  # what was saved renders
        assert page.status_code == 200, page.get_data()[:500]
        assert page.mimetype == "text/html"

    run()


def test_generated_quiet_hours_are_saved_or_refused_and_never_500(
    app, client, factory, clock, shop
):  # type: ignore[no-untyped-def]
    """Only the four clock fields vary, so every case gets past the fields checked before."""
    token = app.extensions["shoper_retention"].links.settings_form_token(shop.id, clock.now)
    names = ["sms_from", "sms_until", "email_from", "email_until"]

    @given(values=st.lists(clock_times, min_size=4, max_size=4))
    def run(values: list[str]) -> None:
        form = settings_form_fields(token, **dict(zip(names, values, strict=True)))
        before = shop_row(factory, shop.id)
        answer = client.post(
            "/shoper/app/settings", data=encode(list(form.items())), headers={"Content-Type": FORM}
        )
        assert answer.status_code in (303, 400), (answer.status_code, answer.get_data()[:300])
        if answer.status_code == 400:
            assert shop_row(factory, shop.id) == before

    run()


def test_forged_or_missing_form_tokens_are_refused_and_change_nothing(
    app, client, factory, clock, shop
):  # type: ignore[no-untyped-def]
    links = app.extensions["shoper_retention"].links
    good = links.settings_form_token(shop.id, clock.now)
    tokens = st.one_of(
        any_text,
        st.integers(0, len(good) - 1).map(lambda i: good[:i] + good[i + 1 :]),
        st.integers(0, len(good) - 1).map(lambda i: good[:i] + ("A" if good[i] != "A" else "B")),
        st.integers(-(10**6), 10**6).map(
            lambda s: links.settings_form_token(shop.id, clock.now + timedelta(hours=3, seconds=s))
        ),
        st.integers(-5, 10**20).map(lambda i: links.settings_form_token(i, clock.now)),
    )

    @given(token=tokens, fields=st.dictionaries(any_text, any_text, max_size=3))
    def run(token: str, fields: dict[str, str]) -> None:
        before = all_shops(factory)
        pairs = [*settings_form_fields(token).items(), *fields.items()]
        answer = client.post(
            "/shoper/app/settings", data=encode(pairs), headers={"Content-Type": FORM}
        )
        assert answer.status_code < 500, answer.get_data()[:500]
        if answer.status_code >= 400:
            assert all_shops(factory) == before
            assert answer.status_code in (403, 404), answer.get_data()[:300]

    run()


def test_the_settings_page_with_generated_query_parameters_never_500_and_stores_nothing(
    client, factory, settings, clock, shop
):  # type: ignore[no-untyped-def]
    now = int(clock.now.timestamp())
    warsaw = clock.now.astimezone(ZoneInfo("Europe/Warsaw"))
    stamps = st.one_of(
        st.integers(-(10**5), 10**5).map(lambda s: str(now + s)),
        st.integers(-(10**5), 10**5).map(
            lambda s: (warsaw + timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S")
        ),
        # Text a browser can send: a lone surrogate cannot be encoded, so it never reaches
        # the server as such (and could not be signed).
        any_text.filter(lambda t: not any("\ud800" <= c <= "\udfff" for c in t)),
    )

    @given(
        place=st.sampled_from(["app", "order", ""]) | header_text,
        licence=st.sampled_from([LICENCE, "other"]) | header_text,
        stamp=stamps,
        signed=st.integers(0, 3).map(bool),
        extra=st.dictionaries(
            st.sampled_from(["locale", "translations", "id", "t", "saved", "hash"]) | header_text,
            any_text,
            max_size=3,
        ),
        drop=st.lists(st.sampled_from(["place", "shop", "timestamp", "hash"]), max_size=2),
    )
    def run(
        place: str,
        licence: str,
        stamp: str,
        signed: bool,
        extra: dict[str, str],
        drop: list[str],
    ) -> None:
        secret = settings.shoper_appstore_secret if signed else "wrong"
        params = {"place": place, "shop": licence, "timestamp": stamp}
        params["hash"] = iframe_hash(place, licence, stamp, secret)
        for name in drop:
            params.pop(name, None)
        pairs = [*params.items(), *extra.items()]
        before = all_shops(factory)
        answer = client.get("/shoper/app?" + urlencode(pairs, errors="surrogatepass"))
        assert answer.status_code < 500, answer.get_data()[:500]
        assert all_shops(factory) == before
        if answer.status_code == 200:
            assert answer.mimetype == "text/html"
            assert "frame-ancestors" in answer.headers["Content-Security-Policy"]
        else:
            assert answer.mimetype == "application/json"
            assert answer.status_code in (403, 404), answer.get_data()[:300]

    run()

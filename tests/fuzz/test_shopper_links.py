"""Shoppers' links under generated tokens and bodies: `GET /c/<token>`, `GET|POST /u/<token>`,
`GET|POST /k/<token>`, with random strings and tokens signed for real and unknown messages,
then mutated. Never a 5xx; a refused link stores nothing (no click, suppression or consent);
a click redirects only to the shop."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.links import Links
from shoper_retention.models import Consent, LinkClick, Message, Suppression
from tests.fuzz.hostile import any_text, header_text, row_counts
from tests.support import abandon_cart, make_shop

STORED = (Suppression, LinkClick, Consent)
SHOP_URL = "https://sklep.example"


@pytest.fixture
def message_ids(client, worker, factory, settings, clock) -> list[int]:  # type: ignore[no-untyped-def]
    """Real messages: a cart's reminders and the consent confirmation requests it caused."""
    shop = make_shop(factory, settings, now=clock.now)
    abandon_cart(client, worker, shop, clock, confirmed=False)
    with factory() as session:
        ids = list(session.scalars(select(Message.id)))
    assert ids
    return ids


@st.composite
def tokens(draw: st.DrawFn, secret: str, message_ids: list[int]) -> str:
    links = Links(secret if draw(st.integers(0, 9)) else "another-secret-0123456789", "")
    message_id = draw(st.sampled_from(message_ids) | st.integers(-5, 10**20))
    signed = draw(
        st.sampled_from(
            [
                links.click_url(max(message_id, 0), "cart"),
                links.click_url(max(message_id, 0), "shop"),
                links.unsubscribe_url(message_id),
                links.confirmation_url(message_id),
            ]
        )
    ).rsplit("/", 1)[1]
    how = draw(st.sampled_from(["as-is", "as-is", "cut", "flip", "append", "swap-id", "random"]))
    if how == "cut":
        return signed[: draw(st.integers(0, len(signed)))]
    if how == "flip":
        at = draw(st.integers(0, len(signed) - 1))
        return signed[:at] + draw(st.characters(codec="ascii")) + signed[at + 1 :]
    if how == "append":
        return signed + draw(any_text)
    if how == "swap-id":
        _, _, signature = signed.partition(".")
        return f"{draw(st.integers(0, 10**6))}c.{signature}"
    if how == "random":
        return draw(any_text | header_text)
    return signed


def test_generated_links_never_500_and_a_refused_one_stores_nothing(
    client, factory, settings, message_ids
):  # type: ignore[no-untyped-def]
    bodies = st.one_of(
        st.none(),
        st.sampled_from(["answer=yes", "answer=no", "List-Unsubscribe=One-Click", "answer="]),
        st.dictionaries(st.sampled_from(["answer"]) | any_text, any_text, max_size=3).map(
            lambda d: urlencode(d, errors="surrogatepass")
        ),
        st.binary(max_size=100),
    )

    @given(
        kind=st.sampled_from(["c", "u", "k"]),
        method=st.sampled_from(["GET", "POST", "POST", "PUT", "HEAD"]),
        token=tokens(settings.secret_key, message_ids),
        body=bodies,
        content_type=st.sampled_from(["application/x-www-form-urlencoded", "text/plain"])
        | header_text,
    )
    def run(kind: str, method: str, token: str, body: Any, content_type: str) -> None:
        path = f"/{kind}/{quote(token, safe='', errors='surrogatepass')}"
        before = row_counts(factory, *STORED)
        answer = client.open(path, method=method, data=body, headers={"Content-Type": content_type})
        status = answer.status_code
        assert status < 500, (status, answer.get_data()[:500])
        after = row_counts(factory, *STORED)
        if status >= 300 and status != 302:
            assert after == before, (status, path)
        if status == 302:
            assert kind == "c" and method in ("GET", "HEAD")
            location = answer.headers["Location"]
            assert location == SHOP_URL or location.startswith(SHOP_URL + "/"), location
        if status == 200 and method != "HEAD":
            assert answer.mimetype == "text/html"
        if method == "GET" and kind in ("u", "k"):
            assert after == before  # a mail scanner's fetch changes nothing
        if method == "PUT" or (method == "POST" and kind == "c"):
            assert status in (404, 405)  # 404: the token held a "/" and no route matched

    run()

"""`POST /ecwid/webhooks` under generated input: bodies whose eventCreated and eventId are
correctly signed (so they reach every later check) with anything in the other fields, the same
bodies mangled after signing, and forged, missing or junk signatures. Never a 5xx, always JSON,
a delivery is stored only when its signature verifies (and then only once), and the worker
never crashes on what was stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from shoper_retention.ingest.pipeline import process_pending
from shoper_retention.manifest import webhook_events
from shoper_retention.models import InboxDelivery
from shoper_retention.settings import Settings
from tests.fakes.ecwid_server import FakeEcwid
from tests.fuzz.hostile import (
    any_text,
    assert_json_answer,
    header_text,
    json_values,
    mutated,
    row_counts,
    to_json,
)
from tests.platforms.ecwid_support import (
    CLIENT_ID,
    CLIENT_SECRET,
    STORE_ID,
    TOKEN,
    installed_store,
    with_ecwid,
)

EVENTS = sorted(webhook_events("ecwid"))
SIGNATURE = "X-Ecwid-Webhook-Signature"


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid(CLIENT_ID, CLIENT_SECRET) as fake:
        fake.add_store(STORE_ID, TOKEN)
        yield fake


@pytest.fixture
def settings(settings: Settings, ecwid: FakeEcwid) -> Settings:
    return with_ecwid(settings, ecwid)


@pytest.fixture
def store(factory, settings, clock):  # type: ignore[no-untyped-def]
    return installed_store(factory, settings, now=clock.now)


def signature_of(created: Any, event_id: Any, secret: str = CLIENT_SECRET) -> str | None:
    """Ecwid's signature when these fields can be signed at all (written out here, not taken
    from the code under test)."""
    if isinstance(created, bool) or isinstance(event_id, bool):
        return None
    if not isinstance(created, int) or not isinstance(event_id, str | int):
        return None
    message = f"{created}.{event_id}".encode("utf-8", "surrogatepass")
    key = secret.encode("utf-8", "surrogatepass")
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@st.composite
def deliveries(draw: st.DrawFn, now: int) -> dict[str, Any]:
    """A body shaped like Ecwid's, each field either right or anything at all."""
    body: dict[str, Any] = {
        "eventId": draw(st.uuids().map(str) | any_text | st.integers() | json_values),
        "eventCreated": draw(
            st.integers(now - 30 * 3600, now + 3600) | st.just(now) | st.integers() | json_values
        ),
        "storeId": draw(st.sampled_from([int(STORE_ID), STORE_ID, 1004]) | json_values),
        "entityId": draw(st.integers(0, 10**12) | json_values),
        "eventType": draw(st.sampled_from([*EVENTS, "application.installed"]) | any_text),
    }
    if draw(st.booleans()):
        body["data"] = draw(
            st.fixed_dictionaries({"orderId": st.text(max_size=10), "cartId": st.uuids().map(str)})
            | json_values
        )
    for key in draw(st.lists(st.sampled_from(sorted(body)), max_size=2, unique=True)):
        del body[key]
    return body


def post(client: Any, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/ecwid/webhooks", data=body, headers=headers)


def stored(factory: Any) -> int:
    return row_counts(factory, InboxDelivery)["InboxDelivery"]


def no_crash_in_ingest(factory: Any, platforms: Any, clock: Any) -> None:
    """What was stored may fail in the worker (recorded on the row), never crash it."""
    process_pending(factory, clock.now, platforms=platforms)
    with factory() as session:
        rows = session.execute(
            select(InboxDelivery.id, InboxDelivery.status, InboxDelivery.error)
        ).all()
    assert [r for r in rows if r.status == "pending" or r.error.startswith("unexpected")] == []


def test_signed_deliveries_of_any_shape_never_500_and_are_stored_only_when_accepted(
    client, factory, platforms, store, clock, settings
):  # type: ignore[no-untyped-def]
    now = int(clock.now.timestamp())

    @given(body=deliveries(now), ascii_only=st.booleans(), data=st.data())
    def run(body: dict[str, Any], ascii_only: bool, data: st.DataObject) -> None:
        raw = to_json(body, ascii_only=ascii_only)
        signature = signature_of(body.get("eventCreated"), body.get("eventId"))
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE] = signature
        if data.draw(st.booleans()):
            raw = data.draw(mutated(raw))  # the body is not signed: changed after signing
        before = stored(factory)
        answer = post(client, raw, headers)
        answer_data = assert_json_answer(answer)
        after = stored(factory)
        if answer.status_code == 200 and answer_data == {"status": "accepted"}:
            parsed = json.loads(raw)
            assert signature is not None
            assert signature == signature_of(parsed["eventCreated"], parsed["eventId"])
            assert str(parsed["storeId"]).strip() == STORE_ID
            assert parsed["eventType"] in EVENTS
            assert abs(parsed["eventCreated"] - now) <= 25 * 3600
            assert len(raw) <= settings.max_body_bytes
            assert after == before + 1
        else:
            assert after == before, (answer.status_code, answer_data)
        if answer.status_code == 200:
            assert answer_data["status"] in ("accepted", "duplicate", "ignored")
        if signature is None:
            assert answer.status_code in (400, 401), answer_data

    run()
    no_crash_in_ingest(factory, platforms, clock)


def test_forged_missing_or_junk_signatures_store_nothing(client, factory, store, clock):  # type: ignore[no-untyped-def]
    now = int(clock.now.timestamp())
    good = st.fixed_dictionaries(
        {
            "eventId": st.uuids().map(str),
            "eventCreated": st.integers(now - 3600, now),
            "storeId": st.just(int(STORE_ID)),
            "entityId": st.integers(1, 10**9),
            "eventType": st.sampled_from(EVENTS),
        }
    )

    @given(clean=st.booleans(), data=st.data())
    def run(clean: bool, data: st.DataObject) -> None:
        body = data.draw(good if clean else deliveries(now))
        right = signature_of(body.get("eventCreated"), body.get("eventId"))
        how = data.draw(st.sampled_from(["junk", "other-secret", "drop", "flip", "b64-junk"]))
        headers = {"Content-Type": "application/json"}
        if how == "junk":
            headers[SIGNATURE] = data.draw(header_text)
        elif how == "other-secret":
            other = data.draw(st.text(min_size=1, max_size=40).filter(lambda s: s != CLIENT_SECRET))
            forged = signature_of(body.get("eventCreated"), body.get("eventId"), other)
            if forged is not None:
                headers[SIGNATURE] = forged
        elif how == "flip" and right is not None:
            at = data.draw(st.integers(0, len(right) - 2))  # the last is padding
            headers[SIGNATURE] = right[:at] + ("A" if right[at] != "A" else "B") + right[at + 1 :]
        elif how == "b64-junk":
            headers[SIGNATURE] = base64.b64encode(data.draw(st.binary(max_size=40))).decode()
        before = stored(factory)
        answer = post(client, to_json(body, ascii_only=True), headers)
        answer_data = assert_json_answer(answer)
        assert stored(factory) == before
        assert answer.status_code in (400, 401), answer_data
        if clean:
            # Well-formed but not signed by Ecwid: refused as such, before anything else.
            assert answer.status_code == 401, answer_data

    run()


def test_raw_junk_never_500_and_stores_nothing(client, factory, store):  # type: ignore[no-untyped-def]
    @given(
        body=st.binary(max_size=300) | json_values.map(lambda v: to_json(v, ascii_only=False)),
        headers=st.dictionaries(
            st.sampled_from([SIGNATURE, "Content-Type", "Content-Length", "X-Junk"]),
            header_text,
            max_size=3,
        ),
    )
    def run(body: bytes, headers: dict[str, str]) -> None:
        before = stored(factory)
        answer = post(client, body, headers)
        assert_json_answer(answer)
        assert answer.status_code >= 400 or answer.get_json()["status"] != "accepted"
        assert stored(factory) == before

    run()


def test_the_same_signed_delivery_twice_is_stored_once(client, factory, store, clock):  # type: ignore[no-untyped-def]
    now = clock.now

    @given(
        event_id=st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), max_size=60),
        age=st.integers(0, 24 * 3600),
        event_type=st.sampled_from(EVENTS),
    )
    def run(event_id: str, age: int, event_type: str) -> None:
        # Examples share one database: each event gets its own id, whatever was drawn.
        event_id = f"{uuid.uuid4()}{event_id}"[:100]
        created = int((now - timedelta(seconds=age)).timestamp())
        body = {
            "eventId": event_id,
            "eventCreated": created,
            "storeId": int(STORE_ID),
            "entityId": 1,
            "eventType": event_type,
        }
        headers = {SIGNATURE: signature_of(created, event_id) or ""}
        raw = json.dumps(body).encode()
        first = post(client, raw, headers)
        again = post(client, raw, headers)
        assert first.get_json() == {"status": "accepted"}
        assert again.get_json() == {"status": "duplicate"}

    before = stored(factory)
    run()
    assert stored(factory) > before

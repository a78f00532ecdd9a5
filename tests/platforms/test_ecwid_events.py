"""Ecwid webhooks into domain events, every fact read back from the loopback fake Ecwid: the
body's ids pick the entity, the API's copy of it is what counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoper_retention.errors import BadInput
from shoper_retention.ingest.events import (
    CartChanged,
    CartItem,
    ConsentChange,
    ContactInfo,
    CustomerSeen,
    MarketingConsentReported,
    OrderPlaced,
    ProductDeleted,
    ShopUninstalled,
    StockReported,
)
from shoper_retention.models import Shop
from shoper_retention.platforms.ecwid.api import (
    EcwidAuthError,
    EcwidClient,
    EcwidError,
    EcwidUnavailable,
)
from shoper_retention.platforms.ecwid.events import HANDLERS, to_events
from shoper_retention.platforms.ecwid.stock import UNLIMITED
from tests.fakes.ecwid_server import (
    FakeEcwid,
    sample_cart,
    sample_customer,
    sample_order,
    sample_product,
)

STORE = "1003"
TOKEN = "secret_store-token"
CART_ID = "6626E60A-A6F9-4CD5-8230-43D5F162E0CD"
RECEIVED = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
SHOP_URL = "https://sklep.example/sklep"


def ecwid_shop(**fields: Any) -> Shop:
    values: dict[str, Any] = {
        "platform": "ecwid",
        "platform_shop_id": STORE,
        "ref": "ref",
        "public_key": "pk",
        "report_token": "rt",
        "shop_url": SHOP_URL,
        "currency": "PLN",
        "country": "PL",
        "language": "pl",
        "timezone": "Europe/Warsaw",
        "installed_at": RECEIVED,
    }
    values.update(fields)
    return Shop(**values)


@pytest.fixture
def ecwid() -> Iterator[FakeEcwid]:
    with FakeEcwid() as fake:
        fake.add_store(STORE, TOKEN)
        yield fake


@pytest.fixture
def client(ecwid: FakeEcwid) -> EcwidClient:
    return EcwidClient(ecwid.api_url, STORE, TOKEN, max_retries=0)


def body(event_type: str, entity_id: Any = -1, data: Any = None, **extra: Any) -> dict[str, Any]:
    delivery: dict[str, Any] = {
        "eventId": "80aece08-40e8-4145-8764-6c2f0d38678",
        "eventCreated": 1772359800,
        "storeId": int(STORE),
        "entityId": entity_id,
        "eventType": event_type,
    }
    if data is not None:
        delivery["data"] = data
    delivery.update(extra)
    return delivery


def cart_body(event_type: str = "unfinished_order.updated", **data: Any) -> dict[str, Any]:
    return body(event_type, 293225803, {"orderId": "RA1SD", "cartId": CART_ID, **data})


def run(client: EcwidClient, event_type: str, delivery: dict[str, Any], **shop: Any) -> list[Any]:
    return list(to_events(client, ecwid_shop(**shop), event_type, delivery, RECEIVED))


# --- carts ---------------------------------------------------------------------------------


def test_a_cart_is_read_back_and_the_body_altered_in_transit_is_ignored(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID))
    forged = cart_body(
        "unfinished_order.created",
        email="attacker@evil.example",
        items=[{"productId": 1, "name": "Free TV", "price": 0, "quantity": 99}],
        billingPerson={"phone": "+48 500 000 000"},
    )

    (cart,) = run(client, "unfinished_order.created", forged)

    assert isinstance(cart, CartChanged)
    assert cart.cart_id == CART_ID.lower()  # the key the widget sends too
    assert cart.occurred_at == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)  # updateTimestamp
    assert cart.received_at == RECEIVED
    assert cart.currency == "PLN"
    assert cart.contact == ContactInfo(
        email="anna.kowalska@example.com",
        phone="+48600700800",
        first_name="Anna",
        platform_customer_id="15319410",
    )
    assert cart.items == (
        CartItem(
            product_id="37208342",
            name="Kubek ceramiczny",
            price=Decimal("29.95"),
            quantity=2,
            image_url="https://d2j6dbq0eux0bg.cloudfront.net/images/1003/kubek.jpg",
            variant_id="55501",
        ),
    )
    assert cart.order_id is None
    assert cart.order_ref == "RA1SD"  # the id the order will have: it closes the cart
    assert ecwid.paths() == [f"/api/v3/{STORE}/carts/{CART_ID}"]


def test_the_restore_url_prefills_the_cart_on_the_store_page(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID))
    (cart,) = run(client, "unfinished_order.updated", cart_body())

    prefix = f"{SHOP_URL}/#!/~/cart/create="
    assert cart.restore_url.startswith(prefix)
    assert json.loads(unquote(cart.restore_url[len(prefix) :])) == {
        "gotoCheckout": True,
        "products": [{"id": 37208342, "quantity": 2, "options": {"Kolor": "Czerwony"}}],
        "profile": {"email": "anna.kowalska@example.com"},
    }


def test_a_recovery_url_in_the_answer_is_taken(ecwid: FakeEcwid, client: EcwidClient) -> None:
    link = f"{SHOP_URL}/#!/~/cart/recover=abc"
    ecwid.put_cart(STORE, sample_cart(CART_ID, recoveryUrl=link))
    (cart,) = run(client, "unfinished_order.updated", cart_body())
    assert cart.restore_url == link
    ecwid.put_cart(STORE, sample_cart(CART_ID, recoveryUrl="javascript:alert(1)"))
    (cart,) = run(client, "unfinished_order.updated", cart_body())
    assert cart.restore_url.startswith(f"{SHOP_URL}/#!/~/cart/create=")


def test_no_restore_url_without_a_store_address(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID))
    (cart,) = run(client, "unfinished_order.updated", cart_body(), shop_url="")
    assert cart.restore_url == ""
    assert len(cart.items) == 1


def test_shipping_phone_and_shop_currency_fill_in(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_cart(
        STORE,
        sample_cart(
            CART_ID,
            billingPerson={"name": "  Zofia   Maj ", "phone": "not a phone"},
            shippingPerson={"firstName": "Zosia", "countryCode": "DE", "phone": "0151 23456789"},
            currency="eur",
        ),
    )
    (cart,) = run(client, "unfinished_order.updated", cart_body(), currency="PLN")
    assert cart.contact.phone == "+4915123456789"
    assert cart.contact.first_name == "Zofia"
    assert cart.currency == "EUR"


@pytest.mark.parametrize("accept", [True, False])
def test_a_carts_marketing_box_is_a_claim_for_that_cart_never_the_stores_word(
    ecwid: FakeEcwid, client: EcwidClient, accept: bool
) -> None:
    """Anyone can start a guest checkout with anyone's e-mail: its box speaks for that cart
    only (confirmed by the address's owner under confirmed opt-in), and grants or withdraws
    nothing for the address, nor changes a known contact's phone or name."""
    ecwid.put_cart(STORE, sample_cart(CART_ID, acceptMarketing=accept))
    events = run(client, "unfinished_order.updated", cart_body())
    assert [type(e) for e in events] == [CartChanged]
    assert events[0].consents == (ConsentChange("email", accept, "ecwid checkout"),)


@pytest.mark.parametrize("accept", [None, "true", 1])
def test_no_marketing_choice_means_no_consent_either_way(
    ecwid: FakeEcwid, client: EcwidClient, accept: Any
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID, acceptMarketing=accept))
    events = run(client, "unfinished_order.updated", cart_body())
    assert [type(e) for e in events] == [CartChanged]
    assert events[0].consents == ()


def test_a_ticked_box_without_an_email_claims_nothing(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID, acceptMarketing=True, email=""))
    (cart,) = run(client, "unfinished_order.updated", cart_body())
    assert cart.consents == ()


def test_a_hidden_cart_is_a_stopped_cart(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID, hidden=True, acceptMarketing=True))
    (stopped,) = run(client, "unfinished_order.updated", cart_body())
    assert stopped == CartChanged(
        cart_id=CART_ID.lower(),
        occurred_at=RECEIVED,  # never dated like the snapshot before it
        received_at=RECEIVED,
        currency="PLN",
        items=(),
        contact=ContactInfo(),
        order_ref="RA1SD",
    )


def test_a_cart_the_api_does_not_know_is_a_stopped_cart(client: EcwidClient) -> None:
    (stopped,) = run(client, "unfinished_order.updated", cart_body())
    assert stopped.items == () and stopped.cart_id == CART_ID.lower()
    assert stopped.order_ref == "RA1SD"


def test_a_deletion_counts_only_when_the_api_confirms_it(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID))
    assert run(client, "unfinished_order.deleted", cart_body("unfinished_order.deleted")) == []

    ecwid.put_cart(STORE, sample_cart(CART_ID, hidden=True))
    (hidden,) = run(client, "unfinished_order.deleted", cart_body("unfinished_order.deleted"))
    assert hidden.items == ()

    ecwid.delete_cart(STORE, CART_ID)
    (gone,) = run(client, "unfinished_order.deleted", cart_body("unfinished_order.deleted"))
    assert gone.items == () and gone.occurred_at == RECEIVED
    assert gone.order_ref == "RA1SD"


@pytest.mark.parametrize("order_id", [None, "", "a/b", "../profile", 12, "x" * 65])
def test_a_cart_without_a_usable_order_id_is_still_read_and_names_no_order(
    ecwid: FakeEcwid, client: EcwidClient, order_id: Any
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID))
    (cart,) = run(client, "unfinished_order.updated", cart_body(orderId=order_id))
    assert cart.order_ref is None and len(cart.items) == 1


def test_a_recovered_cart_names_its_order_by_the_id_orders_are_stored_under(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    """`recoveredOrderId` is an order number (includes/_cart.md); the order is stored under
    its `id`, which `GET /orders/{number}` answers with."""
    ecwid.put_order(STORE, sample_order("XJ12H", orderNumber=223))
    ecwid.put_cart(STORE, sample_cart(CART_ID, recoveredOrderId=223))
    (cart,) = run(client, "unfinished_order.updated", cart_body())
    assert cart.order_id == "XJ12H"
    assert ecwid.paths() == [f"/api/v3/{STORE}/carts/{CART_ID}", f"/api/v3/{STORE}/orders/223"]


def test_a_recovered_cart_whose_order_ecwid_no_longer_knows_names_none(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID, recoveredOrderId=224))
    (cart,) = run(client, "unfinished_order.updated", cart_body())
    assert cart.order_id is None and cart.order_ref == "RA1SD"


@pytest.mark.parametrize(
    "data",
    [None, {}, {"cartId": ""}, {"cartId": "../profile"}, {"cartId": 12}, {"cartId": "a b"}],
)
def test_a_cart_event_without_a_usable_cart_id_is_bad_input(
    ecwid: FakeEcwid, client: EcwidClient, data: Any
) -> None:
    with pytest.raises(BadInput) as bad:
        run(client, "unfinished_order.created", body("unfinished_order.created", -1, data))
    assert bad.value.field == "data.cartId"
    assert ecwid.requests == []


def test_an_unreadable_time_in_the_answer_is_bad_input(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_cart(STORE, sample_cart(CART_ID, updateTimestamp="yesterday"))
    with pytest.raises(BadInput, match="updateTimestamp"):
        run(client, "unfinished_order.updated", cart_body())
    ecwid.put_cart(STORE, sample_cart(CART_ID, updateTimestamp=1e300))
    with pytest.raises(BadInput):
        run(client, "unfinished_order.updated", cart_body())


def test_date_strings_are_read_when_timestamps_are_missing(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    cart = sample_cart(CART_ID, updateDate="2026-03-01 12:05:00 +0200")
    del cart["updateTimestamp"]
    ecwid.put_cart(STORE, cart)
    (event,) = run(client, "unfinished_order.updated", cart_body())
    assert event.occurred_at == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)


# --- orders --------------------------------------------------------------------------------


def test_an_order_is_read_back(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_order(STORE, sample_order("XJ12H"))
    forged = body("order.created", 103878161, {"orderId": "XJ12H", "newPaymentStatus": "REFUNDED"})

    (order,) = run(client, "order.created", forged)

    assert order == OrderPlaced(
        order_id="XJ12H",
        placed_at=datetime(2026, 3, 2, 8, tzinfo=UTC),
        contact=ContactInfo(
            email="jan@example.com",
            phone="+49301234567",
            first_name="Jan",
            platform_customer_id="270919557",
        ),
        total=Decimal("69.9"),
        currency="PLN",
        status_id="PAID",
        status_type="open",
        paid=True,
        items=(
            CartItem(
                product_id="692730761",
                name="Czajnik",
                price=Decimal("59.9"),
                quantity=1,
                image_url="https://d2j6dbq0eux0bg.cloudfront.net/images/1003/czajnik.jpg",
            ),
        ),
        is_creation=True,
    )


@pytest.mark.parametrize("accept", [True, False])
def test_an_order_says_nothing_about_consent(
    ecwid: FakeEcwid, client: EcwidClient, accept: bool
) -> None:
    """Whoever checks out types the order's e-mail and ticks its box, paid or not."""
    ecwid.put_order(STORE, sample_order("XJ12H", acceptMarketing=accept))
    events = run(client, "order.created", body("order.created", 1, {"orderId": "XJ12H"}))
    assert [type(e) for e in events] == [OrderPlaced]


def test_an_order_update_is_no_creation(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_order(STORE, sample_order("XJ12H", acceptMarketing=None))
    (order,) = run(client, "order.updated", body("order.updated", 1, {"orderId": "XJ12H"}))
    assert order.is_creation is False


@pytest.mark.parametrize(
    ("payment", "fulfilment", "status_type", "paid"),
    [
        ("AWAITING_PAYMENT", "AWAITING_PROCESSING", "open", False),
        ("PAID", "SHIPPED", "open", True),
        ("PAID", "DELIVERED", "closed", True),
        ("CANCELLED", "AWAITING_PROCESSING", "unrealised", False),
        ("REFUNDED", "DELIVERED", "unrealised", False),
        ("PARTIALLY_REFUNDED", "DELIVERED", "closed", False),
        ("PAID", "WILL_NOT_DELIVER", "unrealised", True),
        ("PAID", "RETURNED", "unrealised", True),
    ],
)
def test_order_statuses(
    ecwid: FakeEcwid,
    client: EcwidClient,
    payment: str,
    fulfilment: str,
    status_type: str,
    paid: bool,
) -> None:
    ecwid.put_order(
        STORE, sample_order("XJ12H", paymentStatus=payment, fulfillmentStatus=fulfilment)
    )
    (order,) = run(client, "order.updated", body("order.updated", 1, {"orderId": "XJ12H"}))
    assert (order.status_type, order.paid, order.status_id) == (status_type, paid, payment[:16])


def test_an_unfinished_order_is_no_purchase(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_order(STORE, sample_order("RA1SD", paymentStatus="INCOMPLETE"))
    assert run(client, "order.updated", body("order.updated", 1, {"orderId": "RA1SD"})) == []


def test_an_order_gone_from_the_api_tells_nothing(client: EcwidClient) -> None:
    assert run(client, "order.created", body("order.created", 1, {"orderId": "GONE1"})) == []


def test_an_older_stores_order_number_in_entity_id_is_the_id(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_order(STORE, sample_order("103", orderNumber=103))
    (order,) = run(client, "order.created", body("order.created", 103))
    assert order.order_id == "103"
    assert ecwid.paths() == [f"/api/v3/{STORE}/orders/103"]
    with pytest.raises(BadInput):
        run(client, "order.created", body("order.created", -1))
    with pytest.raises(BadInput):
        run(client, "order.created", body("order.created", 103, {"orderId": "a/b"}))


# --- products ------------------------------------------------------------------------------


def product_body(event_type: str = "product.updated", product_id: Any = 66722483) -> dict[str, Any]:
    return body(event_type, product_id)


def test_a_product_reports_its_stock_and_each_variations(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_product(
        STORE,
        sample_product(
            quantity=4,
            inStock=True,
            combinations=[
                {"id": 101, "sku": "K-RED", "quantity": 0, "unlimited": False},
                {"id": 102, "sku": "K-BLUE", "quantity": 7},
                {"id": 103, "unlimited": True},
                {"id": 104, "options": [{"name": "Kolor", "value": "Zielony"}]},  # no own SKU
                {"sku": "no id"},
            ],
        ),
    )
    events = run(client, "product.updated", product_body())
    assert events == [
        StockReported("66722483", Decimal(4), RECEIVED),
        StockReported("66722483", Decimal(0), RECEIVED, variant_id="101"),
        StockReported("66722483", Decimal(7), RECEIVED, variant_id="102"),
        StockReported("66722483", UNLIMITED, RECEIVED, variant_id="103"),
        StockReported("66722483", Decimal(4), RECEIVED, variant_id="104"),
    ]


@pytest.mark.parametrize(
    ("fields", "units"),
    [
        ({"unlimited": True, "inStock": True}, UNLIMITED),
        ({"quantity": None, "unlimited": None, "inStock": True}, UNLIMITED),
        ({"quantity": None, "unlimited": None, "inStock": False}, Decimal(0)),
        ({"quantity": -3}, Decimal(0)),
        ({"quantity": 12, "enabled": False}, Decimal(0)),
    ],
)
def test_unlimited_untracked_negative_and_disabled_stock(
    ecwid: FakeEcwid, client: EcwidClient, fields: dict[str, Any], units: Decimal
) -> None:
    product = sample_product(**fields)
    for key in [k for k, v in fields.items() if v is None]:
        del product[key]  # the field is left out, as Ecwid leaves `quantity` out
    ecwid.put_product(STORE, product)
    (report,) = run(client, "product.updated", product_body())
    assert report.quantity == units


def test_a_disabled_product_has_none_of_any_variation(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_product(
        STORE, sample_product(enabled=False, combinations=[{"id": 101, "unlimited": True}])
    )
    events = run(client, "product.updated", product_body())
    assert [e.quantity for e in events] == [Decimal(0), Decimal(0)]


def test_a_product_deletion_counts_only_when_the_api_confirms_it(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_product(STORE, sample_product())
    assert run(client, "product.deleted", product_body("product.deleted")) == []
    ecwid.delete_product(STORE, 66722483)
    assert run(client, "product.deleted", product_body("product.deleted")) == [
        ProductDeleted("66722483", RECEIVED)
    ]
    assert run(client, "product.updated", product_body()) == [ProductDeleted("66722483", RECEIVED)]


@pytest.mark.parametrize("entity_id", [None, -1, 0, "abc", True, 1.5, "1" * 20])
def test_a_product_event_needs_a_product_id(
    ecwid: FakeEcwid, client: EcwidClient, entity_id: Any
) -> None:
    with pytest.raises(BadInput) as bad:
        run(client, "product.updated", product_body(product_id=entity_id))
    assert bad.value.field == "entityId"
    assert ecwid.requests == []


# --- customers and the app -----------------------------------------------------------------


def test_a_customer_is_read_back(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_customer(STORE, sample_customer(1663830))
    forged = body("customer.updated", 1663830, {"customerEmail": "attacker@evil.example"})

    seen, consent = run(client, "customer.updated", forged)

    assert seen == CustomerSeen(
        ContactInfo(
            email="ewa@example.com",
            phone="+48601234567",
            first_name="Ewa",
            language="pl",
            platform_customer_id="1663830",
        ),
        joined_at=datetime(2021, 5, 4, 10, tzinfo=UTC),
        source="ecwid",
    )
    # The account's box, for its address: the phone and name come with CustomerSeen only.
    assert consent == MarketingConsentReported(
        ContactInfo(email="ewa@example.com", platform_customer_id="1663830"),
        "email",
        False,
        "ecwid",
        withdraws_only_own_grant=True,
    )


def test_a_customer_without_a_usable_address_tells_nothing(
    ecwid: FakeEcwid, client: EcwidClient
) -> None:
    ecwid.put_customer(STORE, sample_customer(7, email="not an address"))
    assert run(client, "customer.created", body("customer.created", 7)) == []
    assert run(client, "customer.created", body("customer.created", 8)) == []  # 404


def test_customer_deleted_and_uninstall_need_no_rest(ecwid: FakeEcwid, client: EcwidClient) -> None:
    assert run(client, "customer.deleted", body("customer.deleted", 7)) == []
    uninstalled = body("application.uninstalled", STORE)
    assert run(client, "application.uninstalled", uninstalled) == [ShopUninstalled(at=RECEIVED)]
    assert ecwid.requests == []


# --- what is refused, what comes through ---------------------------------------------------


@pytest.mark.parametrize(
    "event_type", ["order.deleted", "category.updated", "", "ORDER.CREATED", None]
)
def test_an_unhandled_event_is_bad_input(client: EcwidClient, event_type: Any) -> None:
    with pytest.raises(BadInput):
        run(client, event_type, body(str(event_type), 1, {"orderId": "X1"}))


@pytest.mark.parametrize("delivery", [[], "x", None, 3])
def test_a_body_that_is_no_object_is_bad_input(client: EcwidClient, delivery: Any) -> None:
    with pytest.raises(BadInput):
        to_events(client, ecwid_shop(), "order.created", delivery, RECEIVED)


def test_another_stores_delivery_is_bad_input(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.put_product(STORE, sample_product())
    with pytest.raises(BadInput) as bad:
        run(client, "product.updated", body("product.updated", 66722483, storeId=9999))
    assert bad.value.field == "storeId"
    assert ecwid.requests == []
    assert run(client, "product.updated", body("product.updated", 66722483, storeId=STORE))


def test_ecwid_outages_and_refusals_come_through(ecwid: FakeEcwid, client: EcwidClient) -> None:
    ecwid.fail_next(503)
    with pytest.raises(EcwidUnavailable):
        run(client, "unfinished_order.updated", cart_body())
    revoked = EcwidClient(ecwid.api_url, STORE, "secret_revoked", max_retries=0)
    with pytest.raises(EcwidAuthError):
        run(revoked, "order.created", body("order.created", 1, {"orderId": "XJ12H"}))


# --- properties ----------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
IDS = st.one_of(
    JSON, st.sampled_from([CART_ID, "XJ12H", "66722483", 66722483, 1663830, -1, "../x"])
)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "storeId": st.one_of(st.just(int(STORE)), st.just(STORE), JSON),
            "entityId": IDS,
            "eventId": JSON,
            "eventCreated": JSON,
            "data": st.one_of(
                JSON,
                st.fixed_dictionaries(
                    {}, optional={"cartId": IDS, "orderId": IDS, "customerEmail": JSON}
                ),
            ),
        },
    ),
)
EVENT_TYPES = st.one_of(st.sampled_from(sorted(HANDLERS)), st.text(max_size=20), JSON)


def test_any_body_gives_events_or_bad_input_or_an_ecwid_error() -> None:
    with FakeEcwid() as ecwid:
        ecwid.add_store(STORE, TOKEN)
        ecwid.put_cart(STORE, sample_cart(CART_ID))
        ecwid.put_order(STORE, sample_order("XJ12H"))
        ecwid.put_product(STORE, sample_product(66722483))
        ecwid.put_customer(STORE, sample_customer(1663830))
        client = EcwidClient(ecwid.api_url, STORE, TOKEN, max_retries=0)

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(event_type=EVENT_TYPES, delivery=BODIES)
        def check(event_type: Any, delivery: Any) -> None:
            try:
                to_events(client, ecwid_shop(), event_type, delivery, RECEIVED)
            except (BadInput, EcwidError):
                pass

        check()


RECORDS = st.dictionaries(
    st.sampled_from(
        [
            "email",
            "customerId",
            "acceptMarketing",
            "hidden",
            "recoveredOrderId",
            "currency",
            "createTimestamp",
            "updateTimestamp",
            "createDate",
            "updateDate",
            "items",
            "billingPerson",
            "shippingPerson",
            "paymentStatus",
            "fulfillmentStatus",
            "total",
            "id",
            "orderNumber",
            "quantity",
            "unlimited",
            "inStock",
            "enabled",
            "combinations",
            "registered",
            "name",
            "lang",
            "recoveryUrl",
        ]
    ),
    JSON,
    max_size=8,
)


def test_any_api_answer_gives_events_or_bad_input() -> None:
    """Whatever Ecwid answers (a field missing, null, of another type), reading it never
    fails in any other way."""
    with FakeEcwid() as ecwid:
        ecwid.add_store(STORE, TOKEN)
        client = EcwidClient(ecwid.api_url, STORE, TOKEN, max_retries=0)
        deliveries = {
            "cart": ("unfinished_order.updated", cart_body()),
            "order": ("order.updated", body("order.updated", 1, {"orderId": "XJ12H"})),
            "product": ("product.updated", body("product.updated", 66722483)),
            "customer": ("customer.updated", body("customer.updated", 1663830)),
        }

        @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(kind=st.sampled_from(sorted(deliveries)), record=RECORDS)
        def check(kind: str, record: dict[str, Any]) -> None:
            if kind == "cart":
                ecwid.put_cart(STORE, {**record, "cartId": CART_ID})
            elif kind == "order":
                ecwid.put_order(STORE, {**record, "id": "XJ12H"})
            elif kind == "product":
                ecwid.put_product(STORE, {**record, "id": 66722483})
            else:
                ecwid.put_customer(STORE, {**record, "id": 1663830})
            event_type, delivery = deliveries[kind]
            try:
                events = to_events(client, ecwid_shop(), event_type, delivery, RECEIVED)
            except BadInput:
                return
            for event in events:
                if isinstance(event, CartChanged):
                    assert len(event.restore_url) <= 2000
                    assert all(i.quantity >= 1 for i in event.items)
                if isinstance(event, StockReported):
                    assert Decimal(0) <= event.quantity <= UNLIMITED
                if isinstance(event, OrderPlaced):
                    assert event.total.is_finite() and event.placed_at - RECEIVED < timedelta(
                        days=365 * 200
                    )

        check()

"""A fake Ecwid on loopback, so tests drive our REST/OAuth client over real HTTP.

It answers the calls we make the way Ecwid documents them (github.com/Ecwid/ecwid-api-docs,
includes/_authentication.md, _cart.md, _orders.md, _products.md, _customers.md, _coupons.md,
_application_storage.md):

- `POST|GET /api/oauth/token`: a code from `issue_code` once; a second exchange of the same
  code fails and disables the token the first one gave, as Ecwid says it does.
- `/api/v3/{storeId}/...` with `Authorization: Bearer <token>` (or `?token=`): 401 for an
  unknown or disabled token, 403 for another store's token or a missing scope, 404 with
  `errorMessage` for what the store does not hold.
- `GET profile`, `carts/{cartId}`, `orders/{id or orderNumber}`, `orders?offset&limit&
  createdFrom` (unfinished orders only with `paymentStatus=INCOMPLETE`), `products/{id}`,
  `customers/{id}`, `customers?offset&limit&sortBy`; `POST discount_coupons` (recorded);
  `GET|POST|PUT storage/{key}` (the raw body is the value).

Tests script faults with `fail_next` (a status, e.g. 500 or 429 with Retry-After) and
`delay_next` (a slow answer, for client timeouts), read every request in `requests`, and get
an address nothing listens on from `unreachable_url()`. `signed_webhook` builds a delivery
signed as Ecwid signs it, computed here on its own so our code is not graded by itself.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

ALL_SCOPES = (
    "read_store_profile",
    "read_orders",
    "read_catalog",
    "read_customers",
    "create_discount_coupons",
    "add_to_cp",
    "public_storefront",
    "customize_storefront",
)
# The scope each resource needs (app storage needs none: every app has its own).
RESOURCE_SCOPES = {
    "profile": "read_store_profile",
    "carts": "read_orders",
    "orders": "read_orders",
    "products": "read_catalog",
    "customers": "read_customers",
    "discount_coupons": "create_discount_coupons",
}


def default_profile(store_id: str) -> dict[str, Any]:
    """The fields of `GET /profile` we read, shaped as in includes/_store_profile.md."""
    return {
        "generalInfo": {
            "storeId": int(store_id) if store_id.isdigit() else store_id,
            "storeUrl": f"https://store{store_id}.company.site",
        },
        "account": {"accountName": "Anna Kowalska", "accountEmail": "owner@sklep.example"},
        "settings": {
            "storeName": "Sklep Testowy",
            "abandonedSales": {"autoAbandonedSalesRecovery": False},
        },
        "company": {"companyName": "Sklep Testowy", "email": "owner@sklep.example"},
        "formatsAndUnits": {"currency": "PLN", "timezone": "Europe/Warsaw"},
        "languages": {"enabledLanguages": ["pl", "en"], "defaultLanguage": "pl"},
    }


def sample_cart(
    cart_id: str = "6626E60A-A6F9-4CD5-8230-43D5F162E0CD", **fields: Any
) -> dict[str, Any]:
    """An abandoned cart as `GET /carts/{cartId}` answers (includes/_cart.md), trimmed to
    the fields we read plus a few we do not."""
    cart: dict[str, Any] = {
        "cartId": cart_id,
        "subtotal": 59.9,
        "total": 69.9,
        "usdTotal": 18.2,
        "email": "Anna.Kowalska@Example.com",
        "ipAddress": "83.217.8.241",
        "customerId": 15319410,
        "acceptMarketing": None,
        "createDate": "2026-03-01 10:00:00 +0000",
        "updateDate": "2026-03-01 10:05:00 +0000",
        "createTimestamp": 1772359200,
        "updateTimestamp": 1772359500,
        "hidden": False,
        "items": [
            {
                "id": 40989227,
                "productId": 37208342,
                "categoryId": 9691094,
                "price": 29.95,
                "productPrice": 29.95,
                "sku": "00004",
                "quantity": 2,
                "name": "Kubek ceramiczny",
                "imageUrl": "https://d2j6dbq0eux0bg.cloudfront.net/images/1003/kubek.jpg",
                "combinationId": 55501,
                "selectedOptions": [
                    {"name": "Kolor", "value": "Czerwony", "type": "CHOICE"},
                    {"name": "Plik", "type": "FILES", "files": []},
                ],
            }
        ],
        "billingPerson": {
            "name": "Anna Kowalska",
            "countryCode": "PL",
            "countryName": "Poland",
            "phone": "600 700 800",
        },
        "shippingPerson": {"name": "Anna Kowalska", "countryCode": "PL", "phone": ""},
    }
    cart.update(fields)
    return cart


def sample_order(order_id: str = "XJ12H", **fields: Any) -> dict[str, Any]:
    """An order as `GET /orders/{orderId}` answers (api-docs.ecwid.com/reference/get-order)."""
    order: dict[str, Any] = {
        "id": order_id,
        "internalId": 516483487,
        "orderNumber": 516483487,
        "vendorOrderNumber": order_id,
        "subtotal": 59.9,
        "total": 69.9,
        "email": "jan@example.com",
        "paymentMethod": "Przelew",
        "paymentStatus": "PAID",
        "fulfillmentStatus": "AWAITING_PROCESSING",
        "customerId": 270919557,
        "acceptMarketing": True,
        "createDate": "2026-03-02 08:00:00 +0000",
        "updateDate": "2026-03-02 08:10:00 +0000",
        "createTimestamp": 1772438400,
        "updateTimestamp": 1772439000,
        "items": [
            {
                "id": 1828115520,
                "productId": 692730761,
                "price": 59.9,
                "quantity": 1,
                "name": "Czajnik",
                "imageUrl": "https://d2j6dbq0eux0bg.cloudfront.net/images/1003/czajnik.jpg",
            }
        ],
        "billingPerson": {"name": "Jan Nowak", "countryCode": "DE", "phone": "030 1234567"},
        "shippingPerson": {"name": "Jan Nowak", "countryCode": "DE", "phone": ""},
    }
    order.update(fields)
    return order


def sample_product(product_id: int = 66722483, **fields: Any) -> dict[str, Any]:
    """A product as `GET /products/{id}` answers (includes/_products.md)."""
    product: dict[str, Any] = {
        "id": product_id,
        "sku": "KUBEK-1",
        "quantity": 0,
        "unlimited": False,
        "inStock": False,
        "name": "Mug",
        "nameTranslated": {"pl": "Kubek ceramiczny", "en": "Mug"},
        "price": 24.35,
        "defaultDisplayedPrice": 29.95,
        "url": "https://sklep.example/sklep/Kubek-p66722483",
        "enabled": True,
        "hdThumbnailUrl": "https://d2j6dbq0eux0bg.cloudfront.net/images/1003/kubek-800.jpg",
        "thumbnailUrl": "https://d2j6dbq0eux0bg.cloudfront.net/images/1003/kubek-400.jpg",
        "imageUrl": "https://d2j6dbq0eux0bg.cloudfront.net/images/1003/kubek-1500.jpg",
        "combinations": [],
    }
    product.update(fields)
    return product


def sample_customer(customer_id: int = 1663830, **fields: Any) -> dict[str, Any]:
    """A customer as `GET /customers/{id}` answers (includes/_customers.md)."""
    customer: dict[str, Any] = {
        "id": customer_id,
        "email": "ewa@example.com",
        "name": "Ewa Zielińska",
        "registered": "2021-05-04 12:00:00 +0200",
        "totalOrderCount": 3,
        "billingPerson": {"name": "Ewa Zielińska", "countryCode": "PL", "phone": "+48 601 234 567"},
        "acceptMarketing": False,
        "lang": "pl",
    }
    customer.update(fields)
    return customer


def signed_webhook(
    secret: str,
    event_type: str,
    store_id: int | str,
    entity_id: int | str,
    data: dict[str, Any] | None,
    created: int,
    event_id: str,
) -> tuple[dict[str, str], bytes]:
    """A webhook delivery as Ecwid sends it: the JSON body and its headers, with
    `X-Ecwid-Webhook-Signature` = base64(HMAC-SHA256(client secret, "<eventCreated>.<eventId>"))
    (includes/_webhooks.md, "Webhooks security")."""
    body: dict[str, Any] = {
        "eventId": event_id,
        "eventCreated": created,
        "storeId": int(store_id) if str(store_id).isdigit() else store_id,
        "entityId": entity_id,
        "eventType": event_type,
    }
    if data is not None:
        body["data"] = data
    digest = hmac.new(secret.encode(), f"{created}.{event_id}".encode(), hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json; charset=UTF-8",
        "X-Ecwid-Webhook-Signature": base64.b64encode(digest).decode("ascii"),
    }
    return headers, json.dumps(body).encode()


def unreachable_url() -> str:
    """An http://127.0.0.1 address with nothing listening (a connection is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Store:
    store_id: str
    profile: dict[str, Any]
    carts: dict[str, dict[str, Any]] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    customers: list[dict[str, Any]] = field(default_factory=list)
    coupons: list[dict[str, Any]] = field(default_factory=list)
    storage: dict[str, str] = field(default_factory=dict)


@dataclass
class _Token:
    store_id: str
    scopes: tuple[str, ...]
    disabled: bool = False


@dataclass
class _Code:
    store_id: str
    token: str
    public_token: str
    scopes: tuple[str, ...]
    redirect_uri: str | None
    used: bool = False


@dataclass(frozen=True)
class _Fault:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Delay:
    seconds: float


class FakeEcwid:
    """Start with `with FakeEcwid() as ecwid:`; point our settings at `ecwid.api_url` and
    `ecwid.oauth_url`."""

    def __init__(self, client_id: str = "test-client", client_secret: str = "test-secret") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.stores: dict[str, Store] = {}
        self.requests: list[ReceivedRequest] = []
        self._tokens: dict[str, _Token] = {}
        self._codes: dict[str, _Code] = {}
        self._script: deque[_Fault | _Delay] = deque()
        self._coupon_ids = iter(range(21871001, 10**9))
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeEcwid:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-ecwid",
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

    def __enter__(self) -> FakeEcwid:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeEcwid is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v3/"

    @property
    def oauth_url(self) -> str:
        return f"{self.url}/api/oauth/"

    # -- the store's data ------------------------------------------------------------------

    def add_store(
        self,
        store_id: str | int,
        token: str,
        profile: dict[str, Any] | None = None,
        scopes: tuple[str, ...] = ALL_SCOPES,
    ) -> Store:
        store_id = str(store_id)
        with self._lock:
            store = Store(store_id, profile if profile is not None else default_profile(store_id))
            self.stores[store_id] = store
            self._tokens[token] = _Token(store_id, tuple(scopes))
            return store

    def put_cart(self, store_id: str | int, cart: dict[str, Any]) -> None:
        with self._lock:
            self.stores[str(store_id)].carts[str(cart["cartId"])] = copy.deepcopy(cart)

    def delete_cart(self, store_id: str | int, cart_id: str) -> None:
        with self._lock:
            self.stores[str(store_id)].carts.pop(cart_id, None)

    def put_order(self, store_id: str | int, order: dict[str, Any]) -> None:
        """Add or replace an order (matched on `id`)."""
        with self._lock:
            orders = self.stores[str(store_id)].orders
            orders[:] = [o for o in orders if o.get("id") != order.get("id")]
            orders.append(copy.deepcopy(order))

    def put_product(self, store_id: str | int, product: dict[str, Any]) -> None:
        with self._lock:
            self.stores[str(store_id)].products[str(product["id"])] = copy.deepcopy(product)

    def delete_product(self, store_id: str | int, product_id: str | int) -> None:
        with self._lock:
            self.stores[str(store_id)].products.pop(str(product_id), None)

    def put_customer(self, store_id: str | int, customer: dict[str, Any]) -> None:
        with self._lock:
            customers = self.stores[str(store_id)].customers
            customers[:] = [c for c in customers if c.get("id") != customer.get("id")]
            customers.append(copy.deepcopy(customer))

    def coupons(self, store_id: str | int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self.stores[str(store_id)].coupons)

    def storage(self, store_id: str | int) -> dict[str, str]:
        with self._lock:
            return dict(self.stores[str(store_id)].storage)

    def issue_code(
        self,
        code: str,
        store_id: str | int,
        token: str,
        public_token: str = "",
        scopes: tuple[str, ...] = ALL_SCOPES,
        redirect_uri: str | None = None,
    ) -> None:
        """An install's `code`: exchanging it yields `token` for `store_id` (the store is
        created when new). `redirect_uri`, when given, must come back unchanged."""
        store_id = str(store_id)
        if store_id not in self.stores:
            self.add_store(store_id, token, scopes=scopes)
        with self._lock:
            self._tokens[token] = _Token(store_id, tuple(scopes))
            self._tokens[token].disabled = True  # usable once the code is exchanged
            self._codes[code] = _Code(store_id, token, public_token, tuple(scopes), redirect_uri)

    def grant_token(self, store_id: str | int, token: str) -> None:
        """Another token for a known store, working at once (the merchant opened the app
        again, or reinstalled it): the store's data stays as it is."""
        with self._lock:
            self._tokens[token] = _Token(str(store_id), ALL_SCOPES)

    def revoke(self, token: str) -> None:
        """The store took the token back (the app was uninstalled): every call with it is 401
        from now on."""
        with self._lock:
            self._tokens[token].disabled = True

    def token_enabled(self, token: str) -> bool:
        with self._lock:
            entry = self._tokens.get(token)
            return entry is not None and not entry.disabled

    # -- scripting -------------------------------------------------------------------------

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: str = "") -> None:
        """Answer the next request with a bare `status` (e.g. 500, or 429 + Retry-After)."""
        with self._lock:
            self._script.append(
                _Fault(
                    status, headers or {}, (body or json.dumps({"errorMessage": "fault"})).encode()
                )
            )

    def delay_next(self, seconds: float) -> None:
        """Sleep before handling the next request, then handle it normally."""
        with self._lock:
            self._script.append(_Delay(seconds))

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests if method is None or r.method == method]

    # -- the API ---------------------------------------------------------------------------

    def _handle(self, request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        if isinstance(scripted, _Delay):
            time.sleep(scripted.seconds)
        elif isinstance(scripted, _Fault):
            headers = {"Content-Type": "application/json", **scripted.headers}
            return scripted.status, headers, scripted.body
        if request.path == "/api/oauth/token":
            return self._token(request)
        if request.path.startswith("/api/v3/"):
            return self._rest(request)
        return _json(404, {"errorMessage": "Not found"})

    def _token(self, request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        fields = request.form if request.method == "POST" else request.query
        if request.method not in ("GET", "POST"):
            return _json(405, {"error": "invalid_request"})
        if (
            fields.get("client_id") != self.client_id
            or fields.get("client_secret") != self.client_secret
        ):
            return _json(400, {"error": "invalid_client"})
        if fields.get("grant_type") != "authorization_code":
            return _json(400, {"error": "unsupported_grant_type"})
        with self._lock:
            code = self._codes.get(fields.get("code", ""))
            if code is None:
                return _json(400, {"error": "invalid_grant"})
            if code.used:
                # "In case of second attempt, the previously provided access token is
                # automatically disabled."
                self._tokens[code.token].disabled = True
                return _json(400, {"error": "invalid_grant"})
            if code.redirect_uri is not None and fields.get("redirect_uri") != code.redirect_uri:
                return _json(400, {"error": "invalid_grant"})
            code.used = True
            self._tokens[code.token].disabled = False
        answer = {
            "access_token": code.token,
            "token_type": "Bearer",
            "scope": " ".join(code.scopes),
            "store_id": int(code.store_id) if code.store_id.isdigit() else code.store_id,
        }
        if code.public_token:
            answer["public_token"] = code.public_token
        return _json(200, answer)

    def _rest(self, request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        parts = [unquote(p) for p in request.path[len("/api/v3/") :].split("/")]
        if len(parts) < 2:
            return _json(404, {"errorMessage": "Not found"})
        store_id, resource, rest = parts[0], parts[1], parts[2:]
        auth = request.headers.get("authorization", "")
        token = (
            auth[len("Bearer ") :] if auth.startswith("Bearer ") else request.query.get("token", "")
        )
        with self._lock:
            entry = self._tokens.get(token)
            store = self.stores.get(store_id)
            if entry is None or entry.disabled:
                return _json(401, {"errorMessage": "Authorization failed"})
            if store is None or entry.store_id != store_id:
                return _json(403, {"errorMessage": "Token does not match the store"})
            scope = RESOURCE_SCOPES.get(resource)
            if scope is not None and scope not in entry.scopes:
                return _json(403, {"errorMessage": f"Missing scope {scope}"})
            return self._resource(store, request, resource, rest)

    def _resource(
        self, store: Store, request: ReceivedRequest, resource: str, rest: list[str]
    ) -> tuple[int, dict[str, str], bytes]:
        method = request.method
        if resource == "profile" and not rest and method == "GET":
            return _json(200, store.profile)
        if resource == "carts" and len(rest) == 1 and method == "GET":
            return _found(store.carts.get(rest[0]), "Cart")
        if resource == "orders" and len(rest) == 1 and method == "GET":
            match = [
                o for o in store.orders if rest[0] in (str(o.get("id")), str(o.get("orderNumber")))
            ]
            return _found(match[0] if match else None, "Order")
        if resource == "orders" and not rest and method == "GET":
            return self._orders(store, request.query)
        if resource == "products" and len(rest) == 1 and method == "GET":
            return _found(store.products.get(rest[0]), "Product")
        if resource == "customers" and len(rest) == 1 and method == "GET":
            match = [c for c in store.customers if str(c.get("id")) == rest[0]]
            return _found(match[0] if match else None, "Customer")
        if resource == "customers" and not rest and method == "GET":
            return self._customers(store, request.query)
        if resource == "discount_coupons" and not rest and method == "POST":
            return self._create_coupon(store, request)
        if resource == "storage" and len(rest) == 1:
            return self._storage(store, request, rest[0])
        return _json(405 if resource in RESOURCE_SCOPES else 404, {"errorMessage": "Not found"})

    def _orders(self, store: Store, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        wanted = set(filter(None, query.get("paymentStatus", "").split(",")))
        orders = [
            o
            for o in store.orders
            if (o.get("paymentStatus") in wanted)
            or (not wanted and o.get("paymentStatus") != "INCOMPLETE")
        ]
        if "createdFrom" in query:
            since = int(query["createdFrom"])
            # An order with no readable timestamp is kept: the reader must cope with it.
            orders = [o for o in orders if _stamp(o) >= since or _stamp(o) == 0]
        orders.sort(key=_stamp, reverse=True)
        return _page(orders, query)

    def _customers(self, store: Store, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        customers = list(store.customers)
        if query.get("sortBy") == "REGISTERED_DATE_ASC":
            customers.sort(key=lambda c: str(c.get("registered", "")))
        return _page(customers, query)

    def _create_coupon(
        self, store: Store, request: ReceivedRequest
    ) -> tuple[int, dict[str, str], bytes]:
        if not request.headers.get("content-type", "").startswith("application/json"):
            return _json(415, {"errorMessage": "Unsupported content-type"})
        try:
            coupon = request.json()
        except ValueError:
            return _json(400, {"errorMessage": "Malformed JSON"})
        if not isinstance(coupon, dict) or not coupon.get("name") or not coupon.get("code"):
            return _json(400, {"errorMessage": "name and code are required"})
        if any(c["code"] == coupon["code"] for c in store.coupons):
            return _json(409, {"errorMessage": "Coupon with this code already exists"})
        coupon_id = next(self._coupon_ids)
        store.coupons.append({"id": coupon_id, **coupon})
        return _json(200, {"id": coupon_id, "code": coupon["code"]})

    def _storage(
        self, store: Store, request: ReceivedRequest, key: str
    ) -> tuple[int, dict[str, str], bytes]:
        if request.method == "GET":
            if key not in store.storage:
                return _json(404, {"errorMessage": "The key is not found"})
            return _json(200, {"key": key, "value": store.storage[key]})
        if request.method in ("POST", "PUT"):
            content_type = request.headers.get("content-type", "")
            if not content_type.startswith(("application/json", "text/json")):
                return _json(415, {"errorMessage": "Unsupported content-type"})
            store.storage[key] = request.body.decode()
            return _json(200, {"updateCount": 1})
        return _json(405, {"errorMessage": "Method not allowed"})


def _stamp(order: dict[str, Any]) -> int:
    value = order.get("createTimestamp")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    offset = int(query.get("offset", "0"))
    limit = min(int(query.get("limit", "100")), 100)
    chosen = items[offset : offset + limit]
    return _json(
        200,
        {
            "total": len(items),
            "count": len(chosen),
            "offset": offset,
            "limit": limit,
            "items": chosen,
        },
    )


def _found(item: dict[str, Any] | None, what: str) -> tuple[int, dict[str, str], bytes]:
    if item is None:
        return _json(404, {"errorMessage": f"{what} not found"})
    return _json(200, item)


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(body).encode()


def _make_handler(fake: FakeEcwid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            request = ReceivedRequest(
                method=self.command,
                path=url.path,
                query=query,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            status, headers, payload = fake._handle(request)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and hung up; that is the point of delay_next

        do_GET = _serve
        do_POST = _serve
        do_PUT = _serve
        do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

    return Handler

// shoper-retention storefront widget (README, "The storefront contract: the widget").
// One IIFE, loaded async, plain JavaScript with no dependencies and no cookies (the cart's key
// lives in localStorage). It follows the cart through the shop's own JavaScript API, takes the
// contact from the checkout's e-mail and phone fields, asks for consent with a box it renders
// itself, and shows the back-in-stock and birthday forms the merchant switched on. Every entry
// point is wrapped in `guard`: an error is swallowed and reported to us (at most 3 per page
// load), never thrown into the shop's page.
// Served by web/widget.py, which drops these whole-line comments and lays the shop's public
// settings in place of __SR_CONFIG__.
(function (C) {
"use strict";
var W = window, D = document, N = navigator, LOC = location;
if (!C || W.__srWidget) return;
W.__srWidget = 1;
var KEY = "sr." + C.key + ".";
var reported = 0;
var noop = function () {};
var EMAIL = /^[^\s@<>(),;:"\[\]\\]+@[^\s@<>(),;:"\[\]\\]+\.[A-Za-z0-9-]{2,}$/;
// restockTitle/restockNote and birthdayConsent are what a sign-up agrees to: a change of their
// words needs a new RESTOCK_TEXT_VERSION or BIRTHDAY_TEXT_VERSION (web/widget.py).
var TEXTS = {
pl: {
restockTitle: "Powiadom mnie o dostępności",
restockNote: "Wyślemy Ci jedną wiadomość, gdy produkt znów będzie dostępny.",
restockButton: "Powiadom mnie",
restockDone: "Jeśli dostaniesz od nas prośbę o potwierdzenie adresu, kliknij link w tej wiadomości.",
birthdayTitle: "Prezent na urodziny",
birthdayNote: "Podaj dzień i miesiąc swoich urodzin – w tym dniu wyślemy Ci prezent.",
birthdayConsent: "Chcę otrzymywać od sklepu e-maile z życzeniami i prezentem na urodziny oraz z ofertami. Zgodę mogę w każdej chwili wycofać, klikając link w wiadomości.",
birthday: "Data urodzin",
day: "Dzień",
month: "Miesiąc",
birthdayButton: "Zapisz mnie",
birthdayDone: "Jeśli dostaniesz od nas prośbę o potwierdzenie adresu, kliknij link w tej wiadomości.",
email: "Adres e-mail",
badEmail: "Wpisz poprawny adres e-mail.",
badDate: "Wybierz dzień i miesiąc urodzin.",
needConsent: "Zaznacz zgodę, abyśmy mogli wysłać Ci prezent.",
sending: "Wysyłanie…",
failed: "Nie udało się zapisać. Spróbuj ponownie za chwilę.",
months: ["styczeń", "luty", "marzec", "kwiecień", "maj", "czerwiec", "lipiec", "sierpień", "wrzesień", "październik", "listopad", "grudzień"]
},
en: {
restockTitle: "Notify me when it's back in stock",
restockNote: "We'll send you one message when the product is available again.",
restockButton: "Notify me",
restockDone: "If we send you a request to confirm your address, click the link in that message.",
birthdayTitle: "A birthday gift",
birthdayNote: "Tell us the day and month of your birthday – we'll send you a gift on the day.",
birthdayConsent: "I'd like to receive e-mails from the shop with birthday wishes and a gift, and with its offers. I can withdraw my consent at any time by clicking the link in any message.",
birthday: "Your birthday",
day: "Day",
month: "Month",
birthdayButton: "Sign me up",
birthdayDone: "If we send you a request to confirm your address, click the link in that message.",
email: "E-mail address",
badEmail: "Enter a valid e-mail address.",
badDate: "Choose the day and month of your birthday.",
needConsent: "Tick the consent box so we can send you the gift.",
sending: "Sending…",
failed: "We couldn't sign you up. Please try again in a moment.",
months: ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
}
};
// The page's own language first (a multilingual shop's English pages), else the shop's.
var lang = (D.documentElement.getAttribute("lang") || "").slice(0, 2).toLowerCase();
if (!TEXTS[lang]) lang = C.lang === "pl" ? "pl" : "en";
var T = TEXTS[lang];

// --- errors: swallowed here, reported to us without anything about the shopper ---
function report(e, where) {
try {
if (reported >= 3) return;
reported++;
send("errors", {where: where, message: String((e && e.message) || e).slice(0, 300), stack: String((e && e.stack) || "").slice(0, 600), platform: C.platform}, true);
} catch (x) {}
}
function guard(fn, where) {
return function () {
try {
return fn.apply(this, arguments);
} catch (e) {
report(e, where);
}
};
}

// --- talking to us: the storefront contracts (README), never cookies ---
function endpoint(path) {
return C.base + "/storefront/" + encodeURIComponent(C.key) + "/" + path;
}
// text/plain keeps a browser's request "simple" (no CORS preflight); the endpoints accept it.
function send(path, body, leaving) {
var text = JSON.stringify(body);
if (leaving && N.sendBeacon && N.sendBeacon(endpoint(path), new Blob([text], {type: "text/plain"}))) return null;
if (!W.fetch) return null;
var sent = W.fetch(endpoint(path), {method: "POST", body: text, headers: {"Content-Type": "text/plain"}, credentials: "omit", keepalive: text.length < 60000});
sent["catch"](noop);
return sent;
}
function load(name) {
try {
return JSON.parse(W.localStorage.getItem(KEY + name));
} catch (e) {
return null;
}
}
function save(name, value) {
try {
if (value == null) W.localStorage.removeItem(KEY + name);
else W.localStorage.setItem(KEY + name, JSON.stringify(value));
} catch (e) {}
}
function now() {
return new Date().toISOString();
}

// --- the cart ---
// S, kept in localStorage: id (the cart's key), fixed (restored from a reminder's link),
// platform (the id is the platform's), sent (a snapshot with items went out), sig (what went
// out last), contact (what the checkout's fields gave).
var S = load("cart") || {};
delete S.ticked;
// The consent tick is never stored: it speaks for this page, this cart and the address beside
// which the box was ticked ({on, email}; email "" until that field holds an address). A tick
// on an earlier page already reached us for its cart; the next shopper at this computer, or
// the next cart, starts with the box empty.
var tick = null;
// What this page's own fields gave: it goes with this page's cart, whichever key that gets.
var typed = {};
function typedContact() {
var copy;
for (var k in typed) (copy = copy || {})[k] = typed[k];
return copy;
}
var items = null;
var platformId = "";
var currency = C.currency;
var refill = null;
var timer = 0;
var platform = {};
function randomId() {
var bytes = new Uint8Array(12), id = "w";
if (W.crypto && W.crypto.getRandomValues) W.crypto.getRandomValues(bytes);
for (var i = 0; i < bytes.length; i++) id += ((bytes[i] || Math.random() * 256) % 36 | 0).toString(36);
return id;
}
function cartId() {
if (!S.fixed && platformId && S.id !== platformId) {
// Our own key named this cart until the platform gave its id: empty what went out under
// ours, so the shopper gets one series of reminders, not two.
if (S.id && S.sent && !S.platform) send("events", {type: "cart", cart_id: S.id, occurred_at: now(), currency: currency, items: []});
// Another platform cart is another purchase, maybe by someone else: its contact starts empty.
S = {id: platformId, platform: 1, contact: S.platform ? typedContact() : S.contact};
}
if (!S.id) S.id = randomId();
save("cart", S);
return S.id;
}
// The platform started another cart while this page is open (an order went through): a tick
// given for the last one is not given for it.
function setPlatformId(id) {
if (platformId && id !== platformId) untick();
platformId = id;
}
function absolute(url) {
if (!url || typeof url !== "string") return "";
try {
var link = new URL(url, LOC.href);
return /^https?:$/.test(link.protocol) ? link.href.slice(0, 2048) : "";
} catch (e) {
return "";
}
}
function item(productId, variantId, name, price, quantity, image, url) {
if (productId == null || productId === "") return null;
var count = Math.min(Math.max(Math.ceil(Number(quantity) || 1), 1), 10000);
var amount = Number(price);
var out = {product_id: String(productId).slice(0, 64), name: String(name || productId).slice(0, 255), price: isFinite(amount) && amount >= 0 ? amount.toFixed(2) : "0.00", quantity: count};
if (variantId != null && variantId !== "" && variantId !== 0) out.variant_id = String(variantId).slice(0, 64);
if (absolute(image)) out.image_url = absolute(image);
if (absolute(url)) out.product_url = absolute(url);
return out;
}
function setItems(list, code) {
items = [];
for (var i = 0; i < list.length && items.length < 100; i++) if (list[i]) items.push(list[i]);
if (code && /^[A-Z]{3}$/.test(code)) currency = code;
if (refill) {
var wanted = refill;
refill = null;
if (!items.length && platform.refill) platform.refill(wanted);
}
schedule();
}
function setContact(kind, value, fromAccount) {
value = String(value || "").trim();
if (kind === "email" && !EMAIL.test(value)) return;
if (kind === "phone" && (!/^[+\d\s().\/-]{9,24}$/.test(value) || value.replace(/\D/g, "").length < 9)) return;
if (kind === "first_name" && !/^\S.{0,39}$/.test(value)) return;
var contact = S.contact || {};
// The shop account's address never overrides what the shopper typed at the checkout.
if ((fromAccount && contact[kind]) || contact[kind] === value) return;
contact[kind] = value;
if (!fromAccount) typed[kind] = value;
S.contact = contact;
save("cart", S);
schedule();
}
function snapshot(extra) {
var body = {type: "cart", cart_id: cartId(), occurred_at: now(), currency: currency, items: items};
if (S.contact) body.contact = S.contact;
// Consent only from the box the shopper ticked on this page, and only for the address it was
// ticked beside: no tick, no claim (never a default true).
if (tick && tick.email && S.contact && S.contact.email === tick.email) {
body.consent = {email: tick.on};
body.consent_text_version = C.consent.version + "-" + lang;
}
for (var k in extra) body[k] = extra[k];
return body;
}
function flush(leaving) {
clearTimeout(timer);
timer = 0;
if (items === null || (!items.length && !S.sent)) return;
var body = snapshot({});
var sig = JSON.stringify([body.cart_id, items, body.contact, body.consent]);
if (sig === S.sig) return;
S.sig = sig;
S.sent = items.length > 0;
// Our own key names one cart only: once it is empty (bought, or emptied) the next cart gets a
// new key, with no tick and none of the last cart's contact, as a cart we closed ignores later
// snapshots. The emptied cart needs no contact either.
if (!items.length && !S.platform) {
delete body.contact;
delete body.consent;
delete body.consent_text_version;
S = {contact: typedContact()};
untick();
}
save("cart", S);
var sent = send("events", body, leaving);
if (!sent) return;
var retry = function () {
S.sig = "";
save("cart", S);
};
sent.then(guard(function (answer) {
if (answer.ok) return;
retry();
if (answer.status !== 400) return;
// A phone or e-mail the server refuses must not cost the cart: send it without.
answer.json().then(guard(function (error) {
var field = (error && error.field) || "";
if (S.contact && /^contact\./.test(field)) {
delete S.contact[field.slice(8)];
delete typed[field.slice(8)];
schedule();
}
}, "refused"), noop);
}, "sent"), retry);
}
function schedule() {
clearTimeout(timer);
timer = setTimeout(guard(function () {
flush(false);
}, "flush"), 400);
}
function ordered(orderId) {
if (orderId && items && items.length) send("events", snapshot({order_id: String(orderId).slice(0, 64)}), true);
S = {};
save("cart", null);
untick();
}

// --- a reminder's link: `?sr_cart=<token>` on the basket page ---
// Its cart's id becomes this browser's cart key (the next snapshot continues that cart, with
// nothing of what this browser knew before), and its items go back into an empty basket where
// the platform's API allows it. The token leaves the address bar at once: it would otherwise
// travel on in shared links and analytics.
function restore() {
var match = /[?&]sr_cart=([A-Za-z0-9_-]{8,64})/.exec(LOC.search);
if (!match) return;
guard(function () {
var rest = LOC.search.slice(1).split("&").filter(function (part) {
return !/^sr_cart=/.test(part);
}).join("&");
W.history.replaceState(W.history.state, "", LOC.pathname + (rest ? "?" + rest : "") + LOC.hash);
}, "forget")();
if (!W.fetch) return;
W.fetch(endpoint("carts/" + match[1]), {credentials: "omit"}).then(function (answer) {
return answer.ok ? answer.json() : null;
}).then(guard(function (cart) {
if (!cart || !cart.cart_id) return;
S = {id: String(cart.cart_id), fixed: 1};
untick();
save("cart", S);
refill = cart.items || [];
if (items !== null) setItems(items);
}, "restore"), noop);
}

// --- the page: checkout fields, our consent box and forms ---
var ecwidPage = "";
function atCheckout(field) {
if (field && field.closest && field.closest('[data-shoper-retention="checkout"]')) return true;
if (ecwidPage) return /^(CART|CHECKOUT)/.test(ecwidPage);
return /\/(basket|koszyk|cart|checkout|order|zamowienie)([\/.?#]|$)/i.test(LOC.pathname);
}
// The shopper's own fields only: not a gift recipient's, a delivery address's or a newsletter
// box (the page's footer holds those).
function kind(field) {
if (!field || field.tagName !== "INPUT" || (field.closest && field.closest(".sr-w, footer"))) return "";
var type = (field.type || "").toLowerCase();
var names = [field.name, field.id, field.getAttribute("autocomplete")].join(" ").toLowerCase();
if (/newsletter|ship|deliver|recipient|odbior|gift|prezent|friend/.test(names)) return "";
if (type === "email" || /(^|[^a-z])e?-?mail([^a-z]|$)/.test(names)) return "email";
if (type === "tel" || /phone|telefon|(^|[^a-z])tel([^a-z]|$)/.test(names)) return "phone";
if (/given-name|first.?name|imie/.test(names)) return "first_name";
return "";
}
function marked(field) {
return !!(field.closest && field.closest('[data-shoper-retention="checkout"]'));
}
// The e-mail comes only from the field our box sits beside (or one in a part of the page the
// merchant marked as the checkout); a tick follows that field: it binds to the first address
// typed there, and another address there takes it back off.
function onField(event) {
var field = event.target, which = kind(field);
if (!which || !atCheckout(field) || (which === "email" && field !== emailField && !marked(field))) return;
setContact(which, field.value);
if (field === emailField && tick) {
var value = field.value.trim();
if (!tick.email) {
if (EMAIL.test(value)) tick.email = value;
} else if (value !== tick.email) untick();
}
}
function node(tag, className, text) {
var made = D.createElement(tag);
if (className) made.className = className;
if (text) made.textContent = text;
return made;
}
function checkbox(id, text) {
var label = node("label", "sr-check"), box = node("input");
box.type = "checkbox";
box.id = id;
label.appendChild(box);
label.appendChild(node("span", "", text));
return label;
}
var consentBox = null, emailField = null;
function untick() {
tick = null;
if (consentBox) consentBox.querySelector("input").checked = false;
}
// Beside the checkout's e-mail field: the first visible one, one in a marked part first.
function placeConsent() {
if (consentBox && D.documentElement.contains(consentBox) && D.documentElement.contains(emailField)) return;
var all = [].slice.call(D.querySelectorAll('[data-shoper-retention="checkout"] input'));
var fields = all.concat([].slice.call(D.querySelectorAll("input"))), field = null;
for (var i = 0; i < fields.length && !field; i++) if (kind(fields[i]) === "email" && fields[i].offsetParent !== null && atCheckout(fields[i])) field = fields[i];
if (!field) return;
emailField = field;
setContact("email", field.value);
if (tick && tick.email && field.value.trim() !== tick.email) untick();
if (!consentBox) {
consentBox = node("div", "sr-w sr-consent");
consentBox.appendChild(checkbox("sr-consent", C.consent.text[lang]));
consentBox.querySelector("input").addEventListener("change", guard(function (event) {
var value = emailField ? emailField.value.trim() : "";
if (!event.target.checked) {
if (tick && tick.email) tick.on = false;
else tick = null;
} else if (EMAIL.test(value)) {
setContact("email", value);
tick = {on: true, email: value};
} else tick = {on: true, email: ""};
schedule();
}, "consent"));
}
var after = field.parentNode && field.parentNode.tagName !== "FORM" ? field.parentNode : field;
after.parentNode.insertBefore(consentBox, after.nextSibling);
}
function form(id, title, note, button) {
var made = node("form", "sr-w sr-form");
made.id = id;
made.noValidate = true;
made.appendChild(node("p", "sr-title", title)).id = id + "-title";
made.setAttribute("aria-labelledby", id + "-title");
made.appendChild(node("p", "sr-note", note));
made.appendChild(node("label", "", T.email)).htmlFor = id + "-email";
var email = made.appendChild(node("input"));
email.type = "email";
email.id = id + "-email";
email.autocomplete = "email";
email.required = true;
made.appendChild(node("div", "sr-more"));
made.appendChild(node("button", "", button)).type = "submit";
var status = made.appendChild(node("p", "sr-status"));
status.setAttribute("role", "status");
status.setAttribute("aria-live", "polite");
return made;
}
function say(made, text, wrong) {
made.querySelector(".sr-status").textContent = text;
var fields = made.querySelectorAll("input, select");
for (var i = 0; i < fields.length; i++) fields[i].removeAttribute("aria-invalid");
if (wrong) {
wrong.setAttribute("aria-invalid", "true");
wrong.focus();
}
}
function submit(made, path, body, done, after) {
var button = made.querySelector("button");
button.disabled = true;
say(made, T.sending);
var failed = function () {
button.disabled = false;
say(made, T.failed);
};
var sent = send(path, body, false);
if (!sent) return failed();
sent.then(guard(function (answer) {
if (!answer.ok) return failed();
say(made, done);
if (after) after();
}, path), failed);
}
function place(made, host, inside) {
if (inside) host.appendChild(made);
else host.parentNode.insertBefore(made, host.nextSibling);
}
// The back-in-stock form, on an out-of-stock product page (each platform finds those).
function showRestock(productId, variantId, host, inside) {
if (!C.restock || !productId || !host || D.getElementById("sr-restock")) return;
var made = form("sr-restock", T.restockTitle, T.restockNote, T.restockButton);
made.addEventListener("submit", guard(function (event) {
event.preventDefault();
var email = made.querySelector("input[type=email]"), value = email.value.trim();
if (!EMAIL.test(value)) return say(made, T.badEmail, email);
var body = {type: "restock", product_id: String(productId), channel: "email", contact: {email: value}, consent: {text_version: C.restockVersion + "-" + lang}, occurred_at: now()};
if (variantId) body.variant_id = String(variantId);
submit(made, "restock", body, T.restockDone);
}, "restock"));
place(made, host, inside);
}
// The birthday form: where the merchant put `data-shoper-retention="birthday"`, else a small
// block before the page's footer (not on the basket or checkout); shown until this browser
// signed up.
function placeBirthday() {
if (!C.birthday || load("birthday") || D.getElementById("sr-birthday")) return;
var host = D.querySelector('[data-shoper-retention="birthday"]');
// Not in the way of a purchase: the basket and checkout get no block of our choosing.
if (!host && atCheckout(null)) return;
var footer = host ? null : D.querySelector("footer, #footer, .footer");
if (!host && !footer && D.readyState === "loading") return;
var made = form("sr-birthday", T.birthdayTitle, T.birthdayNote, T.birthdayButton);
var date = node("fieldset", "sr-date");
date.appendChild(node("legend", "", T.birthday));
var pick = function (id, label, names) {
var wrap = date.appendChild(node("span")), select = node("select");
wrap.appendChild(node("label", "", label)).htmlFor = id;
select.id = id;
select.appendChild(node("option", "", "–")).value = "";
for (var i = 0; i < names.length; i++) select.appendChild(node("option", "", names[i])).value = String(i + 1);
wrap.appendChild(select);
return select;
};
var days = [];
for (var d = 1; d <= 31; d++) days.push(String(d));
var day = pick("sr-birthday-day", T.day, days), month = pick("sr-birthday-month", T.month, T.months);
var more = made.querySelector(".sr-more");
more.appendChild(date);
more.appendChild(checkbox("sr-birthday-consent", T.birthdayConsent));
made.addEventListener("submit", guard(function (event) {
event.preventDefault();
var email = made.querySelector("input[type=email]"), value = email.value.trim();
var consent = made.querySelector("#sr-birthday-consent");
var m = Number(month.value), dd = Number(day.value);
if (!EMAIL.test(value)) return say(made, T.badEmail, email);
if (!m || !dd || dd > [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]) return say(made, T.badDate, dd ? month : day);
if (!consent.checked) return say(made, T.needConsent, consent);
submit(made, "birthday", {type: "birthday", contact: {email: value}, birthday: {month: m, day: dd}, consent: {email: true}, consent_text_version: C.birthdayVersion + "-" + lang}, T.birthdayDone, function () {
save("birthday", 1);
});
}, "birthday"));
if (host) place(made, host, true);
else if (footer) footer.parentNode.insertBefore(made, footer);
else D.body.appendChild(made);
}
function scan() {
if (!D.body) return;
placeConsent();
placeBirthday();
// A place the merchant marked for the form, on any platform.
var marked = D.querySelector('[data-shoper-retention="restock"][data-product-id]');
if (marked) showRestock(marked.getAttribute("data-product-id"), marked.getAttribute("data-variant-id"), marked, true);
// Shoper's new storefront renders its own "notify me" button only for a product that cannot
// be bought: our form goes beside it.
// https://storefront.developers.shoper.pl/webcomponents/webcomponents/availability-notifier/availability-notifier-btn
var notifier = D.querySelector("availability-notifier-btn[product-id]");
if (notifier) showRestock(notifier.getAttribute("product-id"), notifier.getAttribute("product-variant-id"), notifier, false);
if (platform.scan) platform.scan();
}
function style() {
var css = ".sr-w{font:inherit;color:inherit;box-sizing:border-box;max-width:40rem}" +
".sr-form{margin:1em 0;padding:1em;border:1px solid rgba(127,127,127,.4);border-radius:6px}" +
".sr-form p{margin:0 0 .5em}.sr-title{font-weight:bold}.sr-form label{display:block;margin:.5em 0 .25em}" +
".sr-form input[type=email],.sr-form select{font:inherit;color:inherit;background:transparent;padding:.4em;max-width:100%;box-sizing:border-box;border:1px solid rgba(127,127,127,.6);border-radius:4px}" +
".sr-form input[type=email]{width:100%}.sr-date{display:flex;flex-wrap:wrap;gap:.5em 1em;border:0;padding:0;margin:.5em 0}.sr-date legend{padding:0}" +
".sr-form button{font:inherit;margin-top:.75em;padding:.5em 1em;cursor:pointer}" +
".sr-w label.sr-check{display:flex;gap:.5em;align-items:flex-start;margin:.5em 0;font-size:.9em}" +
".sr-form .sr-status{margin:0;min-height:1.5em}.sr-w [aria-invalid=true]{outline:2px solid #c62828}.sr-w :focus-visible{outline:2px solid;outline-offset:2px}";
var sheet = node("style", "", css);
(D.head || D.documentElement).appendChild(sheet);
}

// --- Shoper: the new storefront's event bus ---
// window.useStorefront(callback) gives the storefront: eventBus.on(name, ({body}) => ...),
// getApi(name) (a promise) and getApiSync(name).
// https://storefront.developers.shoper.pl/webcomponents/events/buses/event-bus/events/basket/basket-updated
// Basket: id, products.list (ProductBasket), sum (FullPrice: currency, grossValue), billingAddress.
// https://storefront.developers.shoper.pl/js-models/models/basket/basket
// ProductBasket: productId, variantId, name, quantity, price (FullPrice), image.paths, url.
// https://storefront.developers.shoper.pl/js-models/models/basket/product-basket
function fromShoperProducts(list) {
var out = [];
for (var i = 0; i < (list || []).length; i++) {
var product = list[i] || {}, paths = (product.image && product.image.paths) || {};
out.push(item(product.productId, product.variantId, product.name, (product.price || {}).grossValue, product.quantity, paths.original || paths.jpg || paths.webp, product.url));
}
return out;
}
function startShoperBus(storefront) {
var bus = storefront.eventBus;
var basket = function (body) {
if (!body) return;
if (body.id) setPlatformId(String(body.id).slice(0, 128));
setItems(fromShoperProducts((body.products || body.items || {}).list), (body.sum || {}).currency);
var address = body.billingAddress || {};
if (address.email) setContact("email", address.email, true);
if (address.phone) setContact("phone", address.phone, true);
};
bus.on("basket.basketUpdated", guard(function (event) {
basket(event && event.body);
}, "basketUpdated"));
// An added or removed item: read the basket's products again (basketProductsApi.get()).
// https://storefront.developers.shoper.pl/js-api/apis/basket/apis/basket-products-api/basket-products-api/
var reread = guard(function () {
storefront.getApi("basketProductsApi").then(guard(function (api) {
setItems(fromShoperProducts(api.get()));
}, "basketProducts"), noop);
}, "reread");
bus.on("basket.itemAddedToBasket", reread);
bus.on("basket.itemRemovedFromBasket", reread);
// basket.orderPlaced has no body: the order's id is not known here; the order webhook
// closes the cart, and this browser starts a new one.
// https://storefront.developers.shoper.pl/webcomponents/events/buses/event-bus/events/basket/order-placed
bus.on("basket.orderPlaced", guard(function () {
ordered("");
}, "orderPlaced"));
// basketUpdaterApi.addItem({variantId, quantity, variantOptions, showAddedModal, bundleItems})
// https://storefront.developers.shoper.pl/js-api/apis/basket/apis/basket-updater-api/methods/add-item
platform.refill = function (list) {
storefront.getApi("basketUpdaterApi").then(guard(function (api) {
var chain = Promise.resolve();
for (var i = 0; i < list.length; i++) (function (wanted) {
if (!wanted.variant_id) return;
chain = chain.then(function () {
return api.addItem({variantId: Number(wanted.variant_id), quantity: wanted.quantity, variantOptions: {}, showAddedModal: false, bundleItems: []});
});
})(list[i]);
chain["catch"](noop);
}, "refill"), noop);
};
// The basket as it was before this script listened: the message storage keeps past events.
// https://storefront.developers.shoper.pl/webcomponents/events/buses/event-bus/events/basket/basket-updated
guard(function () {
var past = storefront.getApiSync("messageStorageSystemApi").getChannelMessages("basket.basketUpdated");
if (past && past.length) basket(past[past.length - 1].body);
}, "pastBasket")();
}

// --- Shoper: older templates' frontAPI ---
// frontAPI.getBasketInfo(callback, options) -> {products: [{product_id, stock_id, name,
// price_float, quantity}], user_info: {mail}}; getUser(callback) -> {user_id, email,
// firstname} or {error_description}; getProduct({id}) -> {id, can_buy, stockId}. Seen in
// integrations that run on Shoper's storefront, e.g.
// https://github.com/onetads/shoper-plugin/blob/main/shop.d.ts (getProduct, Shop.pageType) and
// SALESmanago's and SAREhub's Shoper scripts (getBasketInfo, getUser). Some templates answer
// synchronously: both ways are taken.
function call(api, name, arg, callback) {
if (typeof api[name] !== "function") return;
var done = 0;
var take = guard(function (value) {
if (!done && value && typeof value === "object") {
done = 1;
callback(value);
}
}, name);
take(arg === null ? api[name](take, {}) : api[name](arg, take));
}
function startClassic(api) {
var read = guard(function () {
call(api, "getBasketInfo", null, function (info) {
var list = info.products || [], out = [];
for (var i = 0; i < list.length; i++) out.push(item(list[i].product_id, list[i].stock_id, list[i].name, list[i].price_float, list[i].quantity, "", list[i].url));
setItems(out);
if (info.user_info && info.user_info.mail) setContact("email", info.user_info.mail, true);
});
}, "getBasketInfo");
read();
guard(function () {
call(api, "getUser", null, function (user) {
if (user.error_description) return;
if (user.email) setContact("email", user.email, true);
if (user.firstname) setContact("first_name", user.firstname, true);
});
}, "getUser")();
// No basket events here: read the basket again after a click on a button or a form sent.
var wait = 0;
var later = guard(function (event) {
var target = event.target;
if (event.type === "click" && !(target.closest && target.closest("button, input[type=submit], a[href*=basket], [class*=basket]"))) return;
clearTimeout(wait);
wait = setTimeout(read, 1500);
}, "click");
D.addEventListener("click", later, true);
D.addEventListener("submit", later, true);
var checked = 0;
platform.scan = function () {
if (checked || !C.restock || !W.Shop || !/(^|\s)shop_product(\s|$)/.test(W.Shop.pageType || "")) return;
var holder = D.querySelector('input[name="product_id"], [data-product-id]');
var id = holder && (holder.value || holder.getAttribute("data-product-id"));
if (!id) return;
checked = 1;
call(api, "getProduct", {id: Number(id)}, function (product) {
if (product.can_buy === false) showRestock(String(product.id || id), product.stockId ? String(product.stockId) : "", (holder.closest && holder.closest("form")) || holder, false);
});
};
}

// --- Ecwid's storefront JS API ---
// Ecwid.OnAPILoaded, Ecwid.Cart.get(callback), Ecwid.OnCartChanged.add(callback): the cart
// has cartId ("matches the cart ID in REST API /carts"), the same id Ecwid's
// unfinished_order webhooks carry, so our snapshots and those webhooks name one cart; items
// [{quantity, product: {id, name, price, url, variation}}], shippingPerson.phone.
// https://api-docs.ecwid.com/reference/methods-for-cart-management
// https://api-docs.ecwid.com/reference/cart-object
// Ecwid.OnPageLoaded.add(page => page.type, page.productId):
// https://api-docs.ecwid.com/reference/ecwidonpageloadecwidonpageloaded
function startEcwid(E) {
var started = 0;
var start = guard(function () {
if (started || !E.Cart || !E.Cart.get) return;
started = 1;
var cart = guard(function (c) {
if (!c) return;
if (c.cartId) setPlatformId(String(c.cartId).toLowerCase().slice(0, 128));
var list = c.items || [], out = [];
for (var i = 0; i < list.length; i++) {
var product = list[i].product || {};
out.push(item(product.id, product.variation, product.name, product.price, list[i].quantity, "", product.url));
}
setItems(out);
if (c.shippingPerson && c.shippingPerson.phone) setContact("phone", c.shippingPerson.phone, true);
}, "cart");
E.Cart.get(cart);
E.OnCartChanged.add(cart);
if (E.Customer && E.Customer.get) E.Customer.get(guard(function (customer) {
if (customer && customer.email) setContact("email", customer.email, true);
}, "customer"));
E.OnPageLoaded.add(guard(function (page) {
ecwidPage = String((page && page.type) || "");
if (ecwidPage === "PRODUCT") ecwidStock(E, page.productId);
scan();
}, "page"));
if (E.OnOrderPlaced) E.OnOrderPlaced.add(guard(function (order) {
ordered(order && (order.id || order.orderNumber));
}, "order"));
// Ecwid.Cart.addProduct({id, quantity, callback}); a variation we cannot name is left out.
// https://api-docs.ecwid.com/reference/methods-for-cart-management
platform.refill = function (list) {
for (var i = 0; i < list.length; i++) if (!list[i].variant_id) E.Cart.addProduct({id: Number(list[i].product_id), quantity: list[i].quantity, callback: noop});
};
}, "ecwid");
if (E.OnAPILoaded && E.OnAPILoaded.add) E.OnAPILoaded.add(start);
// Our loader runs this script from OnAPILoaded: the API may be there already.
start();
}
// Stock of an Ecwid product: its REST API with the app's public token, which the storefront
// hands out (Ecwid.getAppPublicToken) and which reads only public data.
// https://docs.ecwid.com/build-apps/storefronts/get-storefront-details/get-public-app-details
// The product's `inStock`, `unlimited`, `quantity`: https://api-docs.ecwid.com/reference/get-product
// The form goes into the product browser (.ecwid-productBrowser, as Ecwid's own example does:
// https://api-docs.ecwid.com/reference/access-public-key-on-the-storefront).
function ecwidStock(E, productId) {
var ecwid = C.ecwid || {};
if (!C.restock || !productId || !ecwid.api || !W.fetch || !E.getAppPublicToken || !E.getOwnerId) return;
var token = E.getAppPublicToken(ecwid.clientId), store = E.getOwnerId();
if (!token || !store) return;
W.fetch(ecwid.api.replace(/\/?$/, "/") + encodeURIComponent(store) + "/products/" + encodeURIComponent(productId) + "?token=" + encodeURIComponent(token), {credentials: "omit"}).then(function (answer) {
return answer.ok ? answer.json() : null;
}).then(guard(function (product) {
if (product && (product.inStock === false || (product.unlimited === false && product.quantity === 0))) showRestock(String(productId), "", D.querySelector(".ecwid-productBrowser"), true);
}, "ecwidStock"), noop);
}

// --- start ---
// The platform's script may come after ours (both load async): wait for it a little.
function waitFor(ready, run, tries) {
if (ready()) return run();
if (tries > 0) setTimeout(guard(function () {
waitFor(ready, run, tries - 1);
}, "wait"), 250);
}
guard(function () {
style();
D.addEventListener("change", guard(onField, "field"), true);
D.addEventListener("focusout", guard(onField, "field"), true);
W.addEventListener("pagehide", guard(function () {
flush(true);
}, "pagehide"));
D.addEventListener("visibilitychange", guard(function () {
if (D.visibilityState === "hidden") flush(true);
}, "hidden"));
restore();
if (C.platform === "shoper") waitFor(function () {
return typeof W.useStorefront === "function" || !!W.frontAPI;
}, guard(function () {
if (typeof W.useStorefront === "function") W.useStorefront(guard(startShoperBus, "useStorefront"));
else startClassic(W.frontAPI);
scan();
}, "shoper"), 40);
if (C.platform === "ecwid") waitFor(function () {
return !!(W.Ecwid && W.Ecwid.OnAPILoaded);
}, guard(function () {
startEcwid(W.Ecwid);
}, "ecwidStart"), 40);
var pending = 0;
var later = function () {
if (!pending) pending = setTimeout(guard(function () {
pending = 0;
scan();
}, "scan"), 250);
};
if (W.MutationObserver) new MutationObserver(later).observe(D.documentElement, {childList: true, subtree: true});
if (D.readyState === "loading") D.addEventListener("DOMContentLoaded", guard(scan, "ready"));
else scan();
}, "start")();
}(__SR_CONFIG__));

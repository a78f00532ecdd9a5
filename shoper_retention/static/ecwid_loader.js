// shoper-retention on Ecwid: one script for every store, registered with the app (Ecwid loads
// an app's storefront script on each store that installed it). Which shop this is comes from
// the app's public config, saved at install as {"public_key": "<storefront key>"}; the shop's
// own widget (/storefront/<key>/widget.js) does the rest.
// Ecwid.getAppPublicConfig(client_id) returns the app's public config (a string), available
// once Ecwid.OnAPILoaded fired; on an Instant Site page, window.instantsite has the same call.
// https://docs.ecwid.com/build-apps/storefronts/get-storefront-details/get-public-app-details
// https://api-docs.ecwid.com/reference/access-public-key-on-the-storefront
// Never throws into the store's page; served by web/widget.py with __SR_CONFIG__ filled in.
(function (C) {
"use strict";
var W = window, D = document, done = false;
function publicKey(raw) {
var data = typeof raw === "string" ? JSON.parse(raw) : raw;
// Ecwid documents the call's answer both as the stored value and as {"key", "value"}.
if (data && typeof data.value === "string" && !data.public_key) data = JSON.parse(data.value);
var key = data && data.public_key;
return typeof key === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(key) ? key : "";
}
function load() {
try {
if (done) return;
var source = W.Ecwid && W.Ecwid.getAppPublicConfig ? W.Ecwid : W.instantsite;
var raw = source && source.getAppPublicConfig ? source.getAppPublicConfig(C.clientId) : "";
var key = raw ? publicKey(raw) : "";
if (!key) return;
done = true;
var script = D.createElement("script");
script.async = true;
script.src = C.base + "/storefront/" + encodeURIComponent(key) + "/widget.js";
(D.head || D.documentElement).appendChild(script);
} catch (e) {}
}
function wait(tries) {
try {
var E = W.Ecwid;
if (E && E.OnAPILoaded && E.OnAPILoaded.add) {
E.OnAPILoaded.add(load);
load();
} else if (tries > 0) {
setTimeout(function () {
wait(tries - 1);
}, 250);
}
} catch (e) {}
}
wait(40);
}(__SR_CONFIG__));

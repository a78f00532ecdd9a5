// A stand-in for Ecwid's storefront JavaScript API, as Ecwid documents it:
//   Ecwid.OnAPILoaded.add, Ecwid.Cart.get(callback), Ecwid.OnCartChanged.add(callback) with the
//   cart object {id, cartId, orderId, items: [{quantity, product: {id, name, price, url}}],
//   productsQuantity, shippingPerson}, Ecwid.Cart.addProduct({id, quantity, callback}):
//   https://api-docs.ecwid.com/reference/methods-for-cart-management
//   Ecwid.OnPageLoaded.add(page => page.type, page.productId):
//   https://api-docs.ecwid.com/reference/ecwidonpageloadecwidonpageloaded
//   Ecwid.Customer.get, Ecwid.getOwnerId, Ecwid.getAppPublicToken(clientId),
//   Ecwid.getAppPublicConfig(clientId):
//   https://docs.ecwid.com/build-apps/storefronts/get-storefront-details/get-public-app-details
// The API appears a moment after the page (Ecwid's script loads async), then OnAPILoaded fires.
// ?key=<storefront key> is what the app's public config holds (saved by our install).
(function () {
  var params = new URLSearchParams(location.search);
  var PRODUCTS = {
    101: {id: 101, sku: "K-1", name: "Kubek ceramiczny", price: 49.9, url: location.origin + "/ecwid/store.html#kubek"},
    102: {id: 102, sku: "T-1", name: "Talerz płytki", price: 29.9, url: location.origin + "/ecwid/store.html#talerz"}
  };
  var handlers = {api: [], cart: [], page: [], order: []};
  var cart = {id: "XJ12H", cartId: "6626E60A-A6F9-4CD5-8230-43D5F162E0CD", orderId: 506524300,
    items: [], productsQuantity: 0, shippingMethod: null, weight: 0};
  function copy(value) { return JSON.parse(JSON.stringify(value)); }
  function changed() {
    cart.productsQuantity = cart.items.reduce(function (s, i) { return s + i.quantity; }, 0);
    handlers.cart.forEach(function (handler) { handler(copy(cart)); });
  }
  function add(id, quantity) {
    var line = null;
    cart.items.forEach(function (each) { if (each.product.id === id) line = each; });
    if (line) line.quantity += quantity;
    else cart.items.push({quantity: quantity, product: copy(PRODUCTS[id]), options: {}});
    changed();
  }
  window.Ecwid = {OnAPILoaded: {add: function (handler) { handlers.api.push(handler); }}};
  setTimeout(function () {
    var E = window.Ecwid;
    E.Cart = {
      get: function (callback) { setTimeout(function () { callback(copy(cart)); }, 0); },
      addProduct: function (product) {
        add(product.id, product.quantity || 1);
        if (product.callback) product.callback(true, copy(PRODUCTS[product.id]), copy(cart));
      }
    };
    E.OnCartChanged = {add: function (handler) { handlers.cart.push(handler); }};
    E.OnPageLoaded = {add: function (handler) { handlers.page.push(handler); }};
    E.OnOrderPlaced = {add: function (handler) { handlers.order.push(handler); }};
    E.Customer = {get: function (callback) { callback(null); }};
    E.getOwnerId = function () { return 1003; };
    E.getAppPublicToken = function (clientId) { return clientId === "retention-app" ? "public_qKDUqKkNXzcj9Dej" : null; };
    E.getAppPublicConfig = function (clientId) {
      return clientId === "retention-app" ? JSON.stringify({public_key: params.get("key")}) : null;
    };
    handlers.api.forEach(function (handler) { handler(); });
  }, 100);
  window.__ecwid = {
    ready: function () { return handlers.cart.length > 0 && handlers.page.length > 0; },
    add: function (id) { add(id, 1); },
    open: function (page) {
      if (/^CHECKOUT/.test(page.type)) document.getElementById("checkout").hidden = false;
      if (page.type === "PRODUCT") document.getElementById("product").hidden = false;
      handlers.page.forEach(function (handler) { handler(copy(page)); });
    },
    cart: cart
  };
})();

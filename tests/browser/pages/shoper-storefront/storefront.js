// A stand-in for Shoper's new storefront JavaScript API, as its documentation describes it:
// window.useStorefront(callback) hands over the storefront, whose eventBus.on(name, handler)
// calls handler({body}), getApi(name) resolves to an API and getApiSync(name) returns one.
//   https://storefront.developers.shoper.pl/webcomponents/events/buses/event-bus/events/basket/basket-updated
// Basket and ProductBasket models:
//   https://storefront.developers.shoper.pl/js-models/models/basket/basket
//   https://storefront.developers.shoper.pl/js-models/models/basket/product-basket
// basketUpdaterApi.addItem({variantId, quantity, variantOptions, showAddedModal, bundleItems}):
//   https://storefront.developers.shoper.pl/js-api/apis/basket/apis/basket-updater-api/methods/add-item
// messageStorageSystemApi.getChannelMessages(name): the events emitted before a listener came.
// Each page load is a new basket, unless `?basket=<id>` names the one the checkout goes on with.
(function () {
  var PRODUCTS = {
    11: {productId: 101, variantId: 11, name: "Kubek ceramiczny", price: 49.9, url: "/kubek-ceramiczny"},
    12: {productId: 102, variantId: 12, name: "Talerz płytki", price: 29.9, url: "/talerz-plytki"}
  };
  var listeners = {}, past = {};
  var basket = {
    id: new URLSearchParams(location.search).get("basket") || "basket-" + Math.random().toString(36).slice(2, 10),
    products: {list: [], count: 0, positions: 0, sum: null, discountedSum: null},
    sum: {currency: "PLN", grossValue: 0, grossValueFormatted: "0,00 zł"},
    billingAddress: null
  };
  function copy(value) { return JSON.parse(JSON.stringify(value)); }
  function emit(name, body) {
    (past[name] = past[name] || []).push({body: body});
    (listeners[name] || []).forEach(function (handler) { handler({body: body}); });
  }
  function add(variantId, quantity) {
    var product = PRODUCTS[variantId], list = basket.products.list, line = null;
    list.forEach(function (each) { if (each.variantId === product.variantId) line = each; });
    if (line) line.quantity += quantity;
    else {
      line = {id: "line-" + variantId, productId: product.productId, variantId: product.variantId,
        name: product.name, quantity: quantity, url: product.url,
        price: {currency: "PLN", grossValue: product.price},
        image: {title: product.name, paths: {original: "/img/" + variantId + ".jpg"}}};
      list.push(line);
    }
    basket.products.count = list.length;
    basket.sum.grossValue = list.reduce(function (s, each) { return s + each.quantity * each.price.grossValue; }, 0);
    emit("basket.itemAddedToBasket", {itemId: line.id, quantity: line.quantity, addedQuantity: quantity});
    emit("basket.basketUpdated", copy(basket));
  }
  var apis = {
    basketProductsApi: {get: function () { return copy(basket.products.list); }},
    basketUpdaterApi: {addItem: function (options) {
      window.__shop.addItemCalls.push(options);
      add(options.variantId, options.quantity);
      return Promise.resolve(copy(basket));
    }},
    messageStorageSystemApi: {getChannelMessages: function (name) { return (past[name] || []).slice(); }}
  };
  var storefront = {
    eventBus: {on: function (name, handler) { (listeners[name] = listeners[name] || []).push(handler); }},
    getApi: function (name) { return Promise.resolve(apis[name]); },
    getApiSync: function (name) {
      if (!apis[name]) throw new Error("no API " + name);
      return apis[name];
    }
  };
  window.useStorefront = function (callback) { setTimeout(function () { callback(storefront); }, 0); };
  emit("basket.basketUpdated", copy(basket));
  window.__shop = {
    basket: basket,
    addItemCalls: [],
    add: function (variantId) { add(variantId, 1); },
    orderPlaced: function () { emit("basket.orderPlaced"); }
  };
})();

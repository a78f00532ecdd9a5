// A stand-in for the frontAPI of Shoper's older (RWD) templates, in the shapes integrations that
// run on those storefronts rely on: getBasketInfo(callback) -> {products: [{id, product_id,
// stock_id, name, price_float, quantity}], basket: {sum_no_shipping_float}, user_info: {mail}},
// getUser(callback) -> {error_description} for a guest, getProduct({id}) -> {id, can_buy, stockId}
// (https://github.com/onetads/shoper-plugin/blob/main/shop.d.ts), and window.Shop.pageType.
// The basket is read back with an AJAX call: the callback comes later, as on a real shop.
// `?broken=1`: a template whose frontAPI throws.
(function () {
  var broken = new URLSearchParams(location.search).get("broken") === "1";
  var PRODUCTS = {
    101: {id: 101, stockId: 11, name: "Kubek ceramiczny", price: 49.9, can_buy: true},
    102: {id: 102, stockId: 12, name: "Talerz płytki", price: 29.9, can_buy: true},
    303: {id: 303, stockId: 33, name: "Lampka nocna", price: 89.0, can_buy: false}
  };
  var basket = [];
  window.Shop = {pageType: document.documentElement.getAttribute("data-page-type") || "shop_basket"};
  window.frontAPI = {
    getBasketInfo: function (callback) {
      if (broken) throw new TypeError("frontAPI.getBasketInfo is broken in this template");
      var info = {
        products: JSON.parse(JSON.stringify(basket)),
        basket: {sum_no_shipping_float: basket.reduce(function (s, p) { return s + p.quantity * p.price_float; }, 0)},
        user_info: {mail: ""}
      };
      setTimeout(function () { callback(info); }, 20);
    },
    getUser: function (callback) { setTimeout(function () { callback({error_description: "Unauthorized"}); }, 20); },
    getProduct: function (arg) { return JSON.parse(JSON.stringify(PRODUCTS[arg.id])); }
  };
  window.__shop = {
    add: function (productId) {
      var product = PRODUCTS[productId], line = null;
      basket.forEach(function (each) { if (each.product_id === productId) line = each; });
      if (line) line.quantity += 1;
      else basket.push({id: basket.length + 1, product_id: productId, stock_id: product.stockId,
        name: product.name, price_float: product.price, quantity: 1});
    }
  };
})();

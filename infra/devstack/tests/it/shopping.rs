//! What every shop page expects: the cart priced like a quote and ordered from, the address
//! book with exactly one default, favorites and footprints.

use crate::checkout::place;
use crate::social::{pay, shop_with};
use crate::support::{TestShop, address};
use serde_json::{Value, json};

async fn add(shop: &TestShop, token: &str, sku: &str, quantity: i64) -> crate::support::Answer {
    shop.post_as(
        token,
        "/v1/cart/items",
        &json!({"skuId": sku, "quantity": quantity}),
    )
    .await
}

async fn cart(shop: &TestShop, token: &str) -> Value {
    let answer = shop.get_as(token, "/v1/cart").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body
}

fn quantities(cart: &Value) -> Vec<(String, u64)> {
    let mut lines: Vec<(String, u64)> = cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["skuId"].as_str().unwrap().to_string(),
                l["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    lines.sort();
    lines
}

async fn patch(shop: &TestShop, token: &str, sku: &str, body: &Value) -> crate::support::Answer {
    shop.send_as(
        token,
        reqwest::Method::PATCH,
        &format!("/v1/cart/items/{sku}"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn adds_of_the_same_sku_at_once_merge_into_one_line_with_the_sum() {
    // given a shopper with an empty cart
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("cart.1").await;

    // when five adds of 2 × longjing-1 race, and one of another SKU
    let adds = futures::future::join_all((0..5).map(|_| add(&shop, &token, "longjing-1", 2))).await;
    let other = add(&shop, &token, "longjing-2", 1).await;

    // then one line holds 10, the other 1
    assert!(
        adds.iter().all(|a| a.status == 201),
        "{:?}",
        adds.iter().map(|a| &a.text).collect::<Vec<_>>()
    );
    assert_eq!(other.status, 201);
    assert_eq!(
        quantities(&cart(&shop, &token).await),
        [
            ("longjing-1".to_string(), 10),
            ("longjing-2".to_string(), 1)
        ]
    );
    // and a line never passes 99, nor takes a bad quantity or an unknown SKU
    let over = add(&shop, &token, "longjing-1", 90).await;
    assert_eq!((over.status, over.error_code()), (422, "cart_line_full"));
    for bad in [0, 100, -1] {
        let answer = add(&shop, &token, "longjing-1", bad).await;
        assert_eq!(
            (answer.status, answer.error_field()),
            (400, "quantity"),
            "{bad}"
        );
    }
    let unknown = add(&shop, &token, "no-such-sku", 1).await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "sku_not_found")
    );
    assert_eq!(shop.get("/v1/cart").await.status, 401);
    let changed = patch(
        &shop,
        &token,
        "longjing-1",
        &json!({"quantity": 3, "selected": false}),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(
        (
            changed.body["quantity"].clone(),
            changed.body["selected"].clone()
        ),
        (json!(3), json!(false))
    );
    let missing = patch(&shop, &token, "walnut-1", &json!({"quantity": 3})).await;
    assert_eq!((missing.status, missing.error_code()), (404, "not_in_cart"));
    let removed = shop.delete_as(&token, "/v1/cart/items/longjing-2").await;
    assert_eq!(removed.status, 204);
    assert_eq!(
        quantities(&cart(&shop, &token).await),
        [("longjing-1".to_string(), 3)]
    );
}

#[tokio::test]
async fn a_cart_is_priced_like_a_quote_with_the_gap_to_the_next_reduction_exact_to_the_fen() {
    // given 2 × longjing-1 (128.00 each) selected and a 500g tin not selected, under the
    // shop-wide 满199减20 / 满299减40
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("cart.2").await;
    assert_eq!(add(&shop, &token, "longjing-1", 2).await.status, 201);
    assert_eq!(add(&shop, &token, "longjing-2", 1).await.status, 201);
    let unselect = patch(&shop, &token, "longjing-2", &json!({"selected": false})).await;
    assert_eq!(unselect.status, 200);

    // when the cart is read
    let priced = cart(&shop, &token).await;

    // then only the selected line is priced, and the next tier is 43.00 away
    assert_eq!(priced["selectedCount"], 1);
    assert_eq!(priced["quote"]["subtotal"], 25600);
    assert_eq!(priced["quote"]["discounts"][0]["label"], "满199减20");
    assert_eq!(priced["quote"]["total"], 23600);
    let reduction = &priced["fullReductions"][0];
    assert_eq!(
        reduction["reached"],
        json!({"threshold": 19900, "off": 2000})
    );
    assert_eq!(reduction["next"], json!({"threshold": 29900, "off": 4000}));
    assert_eq!(reduction["missing"], 4300);
    assert_eq!(reduction["hint"], "再买 ¥43.00 减 ¥40.00");
    let lines = priced["lines"].as_array().unwrap();
    assert!(lines.iter().all(|l| l["state"] == "available"), "{priced}");
    assert!(priced["quote"]["coupons"].is_array());
}

#[tokio::test]
async fn ordering_from_the_cart_takes_the_bought_lines_once_paid_and_none_if_cancelled() {
    // given a cart with 2 × longjing-1 selected and walnut-1 not selected
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("cart.3").await;
    assert_eq!(add(&shop, &token, "longjing-1", 2).await.status, 201);
    assert_eq!(add(&shop, &token, "walnut-1", 1).await.status, 201);
    patch(&shop, &token, "walnut-1", &json!({"selected": false})).await;
    let body = json!({"fromCart": true, "address": address()});

    // when an order from the cart is cancelled unpaid, the cart is as it was
    let first = place(&shop, &token, "from-cart-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.body["order"]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(first.body["order"]["lines"][0]["quantity"], 2);
    let id = first.body["order"]["id"].as_str().unwrap();
    let cancelled = shop
        .post_as(&token, &format!("/v1/orders/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let expected = [("longjing-1".to_string(), 2), ("walnut-1".to_string(), 1)];
    assert_eq!(quantities(&cart(&shop, &token).await), expected);

    // and when one is paid (its message delivered twice), exactly the bought line goes
    let second = place(&shop, &token, "from-cart-2", &body).await;
    let id = second.body["order"]["id"].as_str().unwrap().to_string();
    let again = place(&shop, &token, "from-cart-2", &body).await;
    assert_eq!(
        again.body["order"]["id"],
        id.as_str(),
        "same key, same order"
    );
    assert_eq!(
        quantities(&cart(&shop, &token).await),
        expected,
        "not before it is paid"
    );
    pay(&shop, &id).await;
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    let repeated = store::queue::FulfillmentMessage::order_paid(
        &domain::ids::OrderId::parse(&id).unwrap(),
        "repeated",
    );
    store::queue::Queue::new(
        shop.stack.sqs.clone(),
        shop.stack.resources.queue_urls["FulfillmentQueue"].clone(),
    )
    .send(&repeated, 0)
    .await
    .unwrap();
    shop.stack.drain("FulfillmentQueue").await.unwrap();
    assert_eq!(
        quantities(&cart(&shop, &token).await),
        [("walnut-1".to_string(), 1)]
    );
    let retry = place(&shop, &token, "from-cart-2", &body).await;
    assert_eq!(
        retry.body["order"]["id"],
        id.as_str(),
        "a retry after paying finds the order"
    );
    let nothing = place(&shop, &token, "from-cart-3", &body).await;
    assert_eq!(
        (nothing.status, nothing.error_code()),
        (422, "cart_nothing_selected")
    );
    let both = place(
        &shop,
        &token,
        "from-cart-4",
        &json!({"fromCart": true, "items": [{"skuId": "walnut-1", "quantity": 1}], "address": address()}),
    )
    .await;
    assert_eq!((both.status, both.error_field()), (400, "items"));
}

#[tokio::test]
async fn defaults_set_at_once_leave_exactly_one_and_an_order_takes_a_saved_address() {
    // given three addresses
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("book.1").await;
    let mut ids = Vec::new();
    for (i, name) in ["张三", "李四", "王五"].iter().enumerate() {
        let mut body = address();
        body["name"] = json!(name);
        body["label"] = json!(if i == 0 { "家" } else { "公司" });
        let added = shop.post_as(&token, "/v1/addresses", &body).await;
        assert_eq!(added.status, 201, "{}", added.text);
        assert_eq!(added.body["isDefault"], i == 0, "the first is the default");
        ids.push(added.body["id"].as_str().unwrap().to_string());
    }

    // when two others are made the default at once, over and over
    let sets = futures::future::join_all((0..6).map(|n| {
        let (shop, token) = (&shop, token.clone());
        let id = ids[1 + n % 2].clone();
        async move {
            shop.post_as(&token, &format!("/v1/addresses/{id}/default"), &json!({}))
                .await
        }
    }))
    .await;

    // then exactly one is the default
    assert!(sets.iter().all(|s| s.status == 200));
    let book = shop.get_as(&token, "/v1/addresses").await.body;
    let defaults: Vec<&Value> = book["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["isDefault"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "{book}");
    assert_eq!(defaults[0]["id"], book["defaultId"]);
    // and removing the default hands it to another address
    let default = book["defaultId"].as_str().unwrap().to_string();
    assert_eq!(
        shop.delete_as(&token, &format!("/v1/addresses/{default}"))
            .await
            .status,
        204
    );
    let book = shop.get_as(&token, "/v1/addresses").await.body;
    assert_eq!(book["items"].as_array().unwrap().len(), 2);
    assert!(book["defaultId"].is_string() && book["defaultId"] != default.as_str());
    // and an order may name a saved address
    let saved = book["items"][0].clone();
    let placed = place(
        &shop,
        &token,
        "book-order",
        &json!({"items": [{"skuId": "walnut-1", "quantity": 1}], "addressId": saved["id"]}),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    assert_eq!(placed.body["order"]["address"]["name"], saved["name"]);
    let unknown = place(
        &shop,
        &token,
        "book-order-2",
        &json!({"items": [{"skuId": "walnut-1", "quantity": 1}], "addressId": "nosuchaddr"}),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "address_not_found")
    );
    let mut bad = address();
    bad["phone"] = json!("12345");
    let refused = shop.post_as(&token, "/v1/addresses", &bad).await;
    assert_eq!((refused.status, refused.error_field()), (400, "phone"));
}

#[tokio::test]
async fn an_address_book_holds_twenty() {
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("book.2").await;
    let body = address();
    let adds =
        futures::future::join_all((0..22).map(|_| shop.post_as(&token, "/v1/addresses", &body)))
            .await;
    let mut statuses: Vec<u16> = adds.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        20,
        "{statuses:?}"
    );
    assert!(
        adds.iter()
            .filter(|a| a.status != 201)
            .all(|a| a.error_code() == "address_book_full")
    );
    let book = shop.get_as(&token, "/v1/addresses").await.body;
    assert_eq!(book["items"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn favorites_and_footprints_list_newest_first_with_todays_price() {
    // given a shopper who favors two products and views three
    let shop = shop_with(&[]).await;
    let (token, _) = shop.login("marks.1").await;
    for product in ["longjing", "walnut", "longjing"] {
        let favored = shop
            .send_as(
                &token,
                reqwest::Method::PUT,
                &format!("/v1/favorites/{product}"),
                None,
            )
            .await;
        assert_eq!(favored.status, 204, "{}", favored.text);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    for product in ["kiwi", "mango", "kiwi"] {
        assert_eq!(
            shop.get_as(&token, &format!("/v1/products/{product}"))
                .await
                .status,
            200
        );
        shop.stack.browse.settle().await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }

    // when both lists are read a page of one at a time
    let favorites = shop.get_as(&token, "/v1/favorites").await.body;
    let first = shop.get_as(&token, "/v1/footprints?limit=1").await.body;
    let cursor = first["nextCursor"].as_str().unwrap().to_string();
    let second = shop
        .get_as(&token, &format!("/v1/footprints?limit=1&cursor={cursor}"))
        .await
        .body;

    // then favorites are newest first, favoring again kept the first time, each with its price
    let favored: Vec<&str> = favorites["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["productId"].as_str().unwrap())
        .collect();
    assert_eq!(favored, ["walnut", "longjing"]);
    assert!(favorites["items"][0]["product"]["priceFrom"].is_u64());
    assert_eq!(favorites["items"][0]["onShelf"], true);
    // and a product viewed twice is one footprint, at its latest view
    assert_eq!(first["items"][0]["productId"], "kiwi");
    assert_eq!(second["items"][0]["productId"], "mango");
    assert!(second["nextCursor"].is_null());
    let foreign = shop.login("stranger.1").await.0;
    let stolen = shop
        .get_as(&foreign, &format!("/v1/footprints?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(stolen.status, 400, "a cursor works only for its own list");
    // and they can be forgotten
    assert_eq!(shop.delete_as(&token, "/v1/footprints").await.status, 204);
    let cleared = shop.get_as(&token, "/v1/footprints").await.body;
    assert_eq!(cleared["items"], json!([]));
    assert_eq!(
        shop.delete_as(&token, "/v1/favorites/walnut").await.status,
        204
    );
    let left = shop.get_as(&token, "/v1/favorites").await.body;
    assert_eq!(left["items"].as_array().unwrap().len(), 1);
    let unknown = shop
        .send_as(
            &token,
            reqwest::Method::PUT,
            "/v1/favorites/no-such-product",
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn footprints_keep_the_latest_two_hundred_and_read_them_only_when_past_that() {
    // given a shopper who has viewed 200 products, one of them twice
    let shop = TestShop::start().await;
    let shopping = store::shopping::ShoppingStore::new(
        shop.stack.dynamodb.clone(),
        shop.stack.settings["SHOPPING_TABLE"].clone(),
    );
    let user = domain::ids::UserId::parse("u-footprints").unwrap();
    let category = domain::ids::CategoryId::parse("tea").unwrap();
    let product = |i: usize| domain::ids::ProductId::parse(&format!("p{i:03}")).unwrap();
    let mut told_over = 0;
    for i in 0..200 {
        if shopping
            .record_footprint(&user, &product(i), &category, 1_000 + i as i64)
            .await
            .unwrap()
        {
            told_over += 1;
        }
    }
    let again = shopping
        .record_footprint(&user, &product(0), &category, 5_000)
        .await
        .unwrap();
    assert_eq!((told_over, again), (0, false));

    // when two more products are viewed
    let first_over = shopping
        .record_footprint(&user, &product(200), &category, 6_000)
        .await
        .unwrap();
    let trimmed = shopping.trim_footprints(&user).await.unwrap();
    let second_over = shopping
        .record_footprint(&user, &product(201), &category, 7_000)
        .await
        .unwrap();
    let trimmed_again = shopping.trim_footprints(&user).await.unwrap();

    // then each is told over the limit, and the oldest views go, one each time
    assert_eq!((first_over, trimmed), (true, 1));
    assert_eq!((second_over, trimmed_again), (true, 1));
    let all = shopping.footprints(&user, None, 500).await.unwrap().items;
    assert_eq!(all.len(), 200);
    assert_eq!(all[0].product_id, product(201));
    // the re-viewed product is kept at its latest view; the two oldest others went
    assert!(all.iter().any(|m| m.product_id == product(0)));
    assert!(
        !all.iter()
            .any(|m| m.product_id == product(1) || m.product_id == product(2))
    );
}

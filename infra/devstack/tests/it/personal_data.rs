//! Shoppers' names, phones and streets at rest: sealed in the tables, open to the shopper and
//! to the functions given the key, and items from before sealing read and get sealed.

use crate::checkout::place;
use crate::support::{TestShop, address};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

const CLEAR: [&str; 3] = ["张三", "13812345678", "文三路 90 号"];

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::S(sk.into())),
    ])
}

async fn raw(shop: &TestShop, table: &str, key: Item) -> Item {
    shop.stack
        .dynamodb
        .get_item()
        .table_name(&shop.stack.resources.tables[table])
        .set_key(Some(key))
        .send()
        .await
        .unwrap()
        .item
        .expect("the item is there")
}

async fn put_raw(shop: &TestShop, table: &str, item: Item) {
    shop.stack
        .dynamodb
        .put_item()
        .table_name(&shop.stack.resources.tables[table])
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// Every string anywhere in an item, as a console read or an export would show it.
fn shown(item: &Item) -> String {
    format!("{item:?}")
}

fn assert_nothing_in_clear(item: &Item, what: &str) {
    let text = shown(item);
    for clear in CLEAR {
        assert!(!text.contains(clear), "{what} shows {clear}: {text}");
    }
}

/// A shopper with one saved address and one order placed to it: (token, user, address, order).
async fn shopper_with_an_order(shop: &TestShop, code: &str) -> (String, String, String, String) {
    let (token, user) = shop.login(code).await;
    let saved = shop.post_as(&token, "/v1/addresses", &address()).await;
    assert_eq!(saved.status, 201, "{}", saved.text);
    let address_id = saved.body["id"].as_str().unwrap().to_string();
    let placed = place(
        shop,
        &token,
        &format!("{code}-order"),
        &json!({"items": [{"skuId": "walnut-1", "quantity": 1}], "addressId": address_id}),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order = placed.body["order"]["id"].as_str().unwrap().to_string();
    (token, user, address_id, order)
}

fn assert_the_receiver(address: &Value) {
    assert_eq!(address["name"], CLEAR[0], "{address}");
    assert_eq!(address["phone"], CLEAR[1], "{address}");
    assert_eq!(address["detail"], CLEAR[2], "{address}");
    assert_eq!(address["city"], "杭州市", "{address}");
}

#[tokio::test]
async fn a_raw_read_of_an_order_or_an_address_shows_no_name_phone_or_street_but_the_shopper_sees_them()
 {
    // given a shopper who saved an address and ordered to it
    let shop = TestShop::start().await;
    let (token, user, address_id, order) = shopper_with_an_order(&shop, "seal.1").await;

    // when the tables are read as the DynamoDB console, an export or a backup reads them
    let order_item = raw(
        &shop,
        "OrdersTable",
        key(&format!("ORDER#{order}"), "ORDER"),
    )
    .await;
    let address_item = raw(
        &shop,
        "ShoppingTable",
        key(&format!("SHOPPER#{user}"), &format!("ADDRESS#{address_id}")),
    )
    .await;
    let by_user = shop
        .stack
        .dynamodb
        .query()
        .table_name(&shop.stack.resources.tables["OrdersTable"])
        .index_name("ByUser")
        .key_condition_expression("gsi1pk = :u")
        .expression_attribute_values(":u", AttributeValue::S(format!("USER#{user}")))
        .send()
        .await
        .unwrap();

    // then they hold ciphertext, and the region in clear for the shop's sales by region
    assert_nothing_in_clear(&order_item, "the order");
    assert_nothing_in_clear(&address_item, "the saved address");
    for item in by_user.items() {
        assert_nothing_in_clear(item, "the orders index");
    }
    let AttributeValue::M(receiver) = &order_item["address"] else {
        panic!("the order's address is a map")
    };
    assert!(matches!(receiver.get("sealed"), Some(AttributeValue::B(_))));
    assert!(matches!(
        receiver.get("dataKey"),
        Some(AttributeValue::B(_))
    ));
    assert_eq!(receiver["city"], AttributeValue::S("杭州市".into()));
    // and the shopper sees their own receiver in clear, on the order, in the book and in the export
    let detail = shop.get_as(&token, &format!("/v1/orders/{order}")).await;
    assert_eq!(detail.status, 200, "{}", detail.text);
    assert_the_receiver(&detail.body["address"]);
    let book = shop.get_as(&token, "/v1/addresses").await;
    assert_the_receiver(&book.body["items"][0]);
    let export = shop.get_as(&token, "/v1/me/export").await;
    assert_eq!(export.status, 200, "{}", export.text);
    for clear in CLEAR {
        assert!(
            export.text.contains(clear),
            "the export is the shopper's own: {clear}"
        );
    }
    assert!(!export.text.contains("dataKey"), "{}", export.text);
}

#[tokio::test]
async fn a_function_without_the_key_reads_an_order_but_not_its_receiver() {
    // given an order sealed by checkout
    let shop = TestShop::start().await;
    let (_, _, _, order) = shopper_with_an_order(&shop, "seal.2").await;

    // when a store given no key reads it (as pay-notify's or deadlines' do)
    let keyless = store::orders::OrderStore::new(
        shop.stack.dynamodb.clone(),
        shop.stack.resources.tables["OrdersTable"].clone(),
        "",
        "",
        "",
    );
    let read = keyless
        .get(&domain::ids::OrderId::parse(&order).unwrap())
        .await
        .unwrap()
        .expect("the order reads");

    // then everything but the receiver's name, phone and street is there
    assert_eq!(
        read.order.status,
        domain::order::OrderStatus::PendingPayment
    );
    assert_eq!(read.order.address.city, "杭州市");
    for withheld in [
        &read.order.address.name,
        &read.order.address.phone,
        &read.order.address.detail,
    ] {
        assert!(withheld.is_empty(), "{:?}", read.order.address);
    }
    // and such a store cannot write a receiver at all
    let err = keyless
        .create(&read.order, "payer", "k", "h", &[], Vec::new())
        .await
        .err()
        .expect("no key, no order");
    assert!(
        err.to_string().contains("no key for personal data"),
        "{err}"
    );
}

#[tokio::test]
async fn items_from_before_sealing_still_read_and_the_migration_seals_each_once() {
    // given an order and a saved address as they were written before sealing existed
    let shop = TestShop::start().await;
    let (token, user, address_id, order) = shopper_with_an_order(&shop, "seal.3").await;
    let order_key = key(&format!("ORDER#{order}"), "ORDER");
    let address_key = key(&format!("SHOPPER#{user}"), &format!("ADDRESS#{address_id}"));
    let in_clear = |extra: Vec<(&str, &str)>| -> Item {
        let mut fields: Item = [
            ("name", CLEAR[0]),
            ("phone", CLEAR[1]),
            ("province", "浙江省"),
            ("city", "杭州市"),
            ("district", "西湖区"),
            ("detail", CLEAR[2]),
        ]
        .into_iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.into())))
        .collect();
        fields.retain(|k, _| k != "sealed" && k != "dataKey");
        fields
    };
    let mut old_order = raw(&shop, "OrdersTable", order_key.clone()).await;
    old_order.insert("address".into(), AttributeValue::M(in_clear(vec![])));
    put_raw(&shop, "OrdersTable", old_order).await;
    let mut old_address = raw(&shop, "ShoppingTable", address_key.clone()).await;
    old_address.remove("sealed");
    old_address.remove("dataKey");
    old_address.extend(in_clear(vec![]));
    put_raw(&shop, "ShoppingTable", old_address).await;
    let before = shown(&raw(&shop, "OrdersTable", order_key.clone()).await);
    for clear in CLEAR {
        assert!(
            before.contains(clear),
            "a raw read shows what is in clear: {before}"
        );
    }

    // then they read as before
    let detail = shop.get_as(&token, &format!("/v1/orders/{order}")).await;
    assert_the_receiver(&detail.body["address"]);
    assert_the_receiver(&shop.get_as(&token, "/v1/addresses").await.body["items"][0]);

    // when the migration runs, twice
    let orders = shop.stack.order_store();
    let shopping = shop.stack.shopping_store();
    let first = shopctl::seal_personal_data(&orders, &shopping)
        .await
        .unwrap();
    let second = shopctl::seal_personal_data(&orders, &shopping)
        .await
        .unwrap();

    // then the first sealed both, the second found nothing left in clear
    assert_eq!(first, "sealed 1 order receivers and 1 saved addresses");
    assert_eq!(second, "sealed 0 order receivers and 0 saved addresses");
    assert_nothing_in_clear(&raw(&shop, "OrdersTable", order_key).await, "the order");
    assert_nothing_in_clear(
        &raw(&shop, "ShoppingTable", address_key).await,
        "the address",
    );
    // and they still read the same
    let detail = shop.get_as(&token, &format!("/v1/orders/{order}")).await;
    assert_the_receiver(&detail.body["address"]);
    assert_the_receiver(&shop.get_as(&token, "/v1/addresses").await.body["items"][0]);
}

#[tokio::test]
async fn a_sealed_receiver_copied_onto_another_order_does_not_open_there() {
    // given two orders of two shoppers
    let shop = TestShop::start().await;
    let (_, _, _, first) = shopper_with_an_order(&shop, "seal.4").await;
    let (token, _, _, second) = shopper_with_an_order(&shop, "seal.5").await;

    // when someone with write access to the table moves the first's sealed receiver onto the second
    let sealed = raw(
        &shop,
        "OrdersTable",
        key(&format!("ORDER#{first}"), "ORDER"),
    )
    .await["address"]
        .clone();
    let mut target = raw(
        &shop,
        "OrdersTable",
        key(&format!("ORDER#{second}"), "ORDER"),
    )
    .await;
    target.insert("address".into(), sealed);
    put_raw(&shop, "OrdersTable", target).await;

    // then the second order's receiver does not open, and nothing of the first leaks
    let answer = shop.get_as(&token, &format!("/v1/orders/{second}")).await;
    assert_eq!(answer.status, 500, "{}", answer.text);
    for clear in CLEAR {
        assert!(!answer.text.contains(clear), "{}", answer.text);
    }
}

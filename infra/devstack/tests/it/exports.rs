//! Orders exported as CSV: asked for through the merchant's API, written by the exports
//! consumer to the media bucket, fetched through a short-lived link by the one who asked.

use crate::admin::{owner, stepped_up_at};
use crate::checkout::place;
use crate::social::pay;
use crate::support::{Answer, TestShop, address, audit_log};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use serde_json::{Value, json};

/// Two China days in the past, far from today's orders.
const FIRST_DAY_AT: i64 = 1_763_913_600; // 2025-11-24 00:00 China time
const DAYS: [&str; 2] = ["2025-11-24", "2025-11-25"];

/// The `i`th seeded order: a clear receiver (as orders from before sealing are), 1 to 3 units
/// of a 19.90 tea, every seventh one partly refunded.
fn seeded_order(i: u64) -> Value {
    let units = 1 + i % 3;
    json!({
        "id": format!("2025112{}seed{i:06}", 4 + i % 2),
        "userId": format!("u-seed-{}", i % 97),
        "status": if i.is_multiple_of(7) { "DELIVERED" } else { "PAID" },
        "lines": [{
            "skuId": "tea-1", "productId": "tea", "title": "西湖龙井",
            "specs": {"size": "250g"}, "unitPrice": 1990, "quantity": units,
            "lineTotal": 1990 * units
        }],
        "subtotal": 1990 * units,
        "shipping": 0,
        "total": 1990 * units,
        "refundedAmount": if i.is_multiple_of(7) { 500 } else { 0 },
        "provider": "wechat",
        "address": {"name": "李四", "phone": format!("139{:08}", i), "province": "浙江省",
                    "city": "杭州市", "district": "西湖区", "detail": "文三路 1 号"},
        "createdAt": FIRST_DAY_AT + (i % 2) as i64 * 86_400 + (i / 2) as i64,
        "payDeadline": FIRST_DAY_AT + 86_400 * 2,
        "transactionId": format!("42000{i:08}"),
    })
}

/// Writes `count` orders straight into the orders table, as the checkout would list them.
async fn seed_orders(shop: &TestShop, count: u64) {
    let table = shop.stack.resources.tables["OrdersTable"].clone();
    let batches: Vec<Vec<u64>> = (0..count)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(<[u64]>::to_vec)
        .collect();
    let write = |batch: Vec<u64>| {
        let table = table.clone();
        let dynamodb = shop.stack.dynamodb.clone();
        async move {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .map(|&i| {
                    let order = seeded_order(i);
                    let mut item = store::to_item(&order);
                    let id = order["id"].as_str().unwrap();
                    let at = order["createdAt"].as_i64().unwrap();
                    for (k, v) in [
                        ("pk", format!("ORDER#{id}")),
                        ("sk", "ORDER".to_string()),
                        ("openid", "o-seed".to_string()),
                        (
                            "gsi1pk",
                            format!("USER#{}", order["userId"].as_str().unwrap()),
                        ),
                        ("gsi1sk", format!("{at:012}#{id}")),
                        ("gsi2pk", format!("ORDERS#{}", domain::clock::china_day(at))),
                        ("gsi2sk", format!("{at:012}#{id}")),
                    ] {
                        item.insert(k.into(), store::s(v));
                    }
                    WriteRequest::builder()
                        .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                        .build()
                })
                .collect();
            while !requests.is_empty() {
                let out = dynamodb
                    .batch_write_item()
                    .request_items(&table, requests)
                    .send()
                    .await
                    .unwrap();
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&table))
                    .unwrap_or_default();
            }
        }
    };
    use futures::StreamExt;
    futures::stream::iter(batches.into_iter().map(write))
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

async fn ask(shop: &TestShop, token: &str, body: &Value) -> Answer {
    shop.post_as(token, "/admin/v1/exports/orders", body).await
}

async fn look(shop: &TestShop, token: &str, id: &str) -> Answer {
    shop.get_as(token, &format!("/admin/v1/exports/{id}")).await
}

/// The file behind a ready export's link, as the browser downloads it.
async fn download(answer: &Answer) -> (String, Option<String>) {
    let url = answer.body["export"]["url"].as_str().unwrap();
    let got = reqwest::get(url).await.unwrap();
    assert_eq!(got.status(), 200);
    let disposition = got
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = got.bytes().await.unwrap();
    (String::from_utf8(bytes.to_vec()).unwrap(), disposition)
}

/// The data rows of a CSV file (after its header), split into cells (no cell here is quoted).
fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

fn fen_of(yuan: &str) -> u64 {
    domain::money::Fen::parse_yuan(yuan).unwrap().get()
}

/// ExportsFunction's timeout as the template gives it.
fn exports_timeout_seconds() -> u64 {
    let template: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(devstack::project_root().join("template.yaml")).unwrap(),
    )
    .unwrap();
    template["Resources"]["ExportsFunction"]["Properties"]["Timeout"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn ten_thousand_orders_export_as_one_csv_excel_opens_with_their_rows_and_totals() {
    // given 10,000 orders placed over two days
    let shop = TestShop::start().await;
    seed_orders(&shop, 10_000).await;
    let expected_paid: u64 = (0..10_000u64).map(|i| 1990 * (1 + i % 3)).sum();
    let expected_refunded: u64 = (0..10_000u64)
        .filter(|i| i.is_multiple_of(7))
        .map(|_| 500)
        .sum();
    let (token, _, owner_id) = owner(&shop, "zhangfang").await;

    // when the owner asks for the two days and the consumer writes the file
    let asked = ask(&shop, &token, &json!({"from": DAYS[0], "to": DAYS[1]})).await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let id = asked.body["export"]["id"].as_str().unwrap().to_string();
    assert_eq!(asked.body["export"]["state"], "QUEUED");
    let waiting = look(&shop, &token, &id).await;
    let started = std::time::Instant::now();
    assert_eq!(shop.stack.drain("ExportsQueue").await.unwrap(), 1);
    let took = started.elapsed();
    let ready = look(&shop, &token, &id).await;

    // then it was queued, then ready with a link, well inside the function's timeout
    assert_eq!(waiting.body["export"]["state"], "QUEUED");
    assert!(waiting.body["export"].get("url").is_none());
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["export"]["state"], "READY", "{}", ready.text);
    assert_eq!(ready.body["export"]["rows"], 10_000);
    assert_eq!(ready.body["export"]["paid"], expected_paid);
    let timeout = exports_timeout_seconds();
    assert!(
        took.as_secs() < timeout,
        "10,000 orders took {took:?}, the function has {timeout} s"
    );
    eprintln!("exports: 10,000 orders written in {took:?} (timeout {timeout} s)");
    // and the file opens in Excel as UTF-8 with a row per order adding up to the orders
    let (csv, disposition) = download(&ready).await;
    assert!(csv.starts_with('\u{feff}'), "no byte-order mark");
    assert!(csv.starts_with("\u{feff}订单号,下单时间,状态"));
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"orders-2025-11-24-to-2025-11-25.csv\"")
    );
    let rows = rows(&csv);
    assert_eq!(rows.len(), 10_000);
    assert_eq!(
        rows.iter().map(|r| fen_of(&r[10])).sum::<u64>(),
        expected_paid
    );
    assert_eq!(
        rows.iter().map(|r| fen_of(&r[11])).sum::<u64>(),
        expected_refunded
    );
    assert!(
        rows.iter()
            .all(|r| r[10].split('.').nth(1).unwrap().len() == 2)
    );
    // and the phones are masked, the streets hidden
    assert!(
        rows.iter()
            .all(|r| r[13].contains("****") && r[17] == "****")
    );
    // and the export is audited once, naming the range
    let day = domain::clock::china_day(domain::clock::now_epoch_seconds());
    let records: Vec<_> = audit_log(&shop)
        .day(&day)
        .await
        .unwrap()
        .records
        .into_iter()
        .filter(|r| r.action == "orders.export")
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].staff_id, owner_id);
    assert_eq!(records[0].after["from"], DAYS[0]);
    assert_eq!(records[0].after["revealPhones"], false);
}

#[tokio::test]
async fn whole_phones_need_a_fresh_code_only_the_asker_fetches_and_a_second_delivery_changes_nothing()
 {
    // given a paid order today (its receiver sealed) and two owners
    let shop = TestShop::start().await;
    let (shopper, _) = shop.login("export.1").await;
    let placed = place(
        &shop,
        &shopper,
        "export-1",
        &json!({"items": [{"skuId": "walnut-1", "quantity": 2}], "address": address()}),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order_id = placed.body["order"]["id"].as_str().unwrap().to_string();
    pay(&shop, &order_id).await;
    let (token, _, owner_id) = owner(&shop, "laoban.a").await;
    let (other, _, _) = owner(&shop, "laoban.b").await;
    let today = domain::clock::china_day(domain::clock::now_epoch_seconds());
    let range = json!({"from": today, "to": today, "revealPhones": true});

    // when the first owner's code is over five minutes old and they ask for whole phones
    let now = domain::clock::now_epoch_seconds();
    stepped_up_at(&shop, &token, &owner_id, now - 301).await;
    let stale = ask(&shop, &token, &range).await;
    // and again after a fresh code, and the consumer gets the message twice
    stepped_up_at(&shop, &token, &owner_id, now).await;
    let asked = ask(&shop, &token, &range).await;
    assert_eq!(asked.status, 202, "{}", asked.text);
    let id = asked.body["export"]["id"].as_str().unwrap().to_string();
    let queue = &shop.stack.resources.queue_urls["ExportsQueue"];
    shop.stack
        .sqs
        .send_message()
        .queue_url(queue)
        .message_body(json!({"type": "orders.export", "exportId": id}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(shop.stack.drain("ExportsQueue").await.unwrap(), 2);
    let mine = look(&shop, &token, &id).await;
    let theirs = look(&shop, &other, &id).await;
    let bad = [
        ask(&shop, &token, &json!({"from": today})).await,
        ask(&shop, &token, &json!({"from": "2026-13-01", "to": today})).await,
        ask(&shop, &token, &json!({"from": "2025-01-01", "to": today})).await,
        ask(
            &shop,
            &token,
            &json!({"from": today, "to": today, "status": "LOST"}),
        )
        .await,
    ];

    // then the stale code was refused, the fresh one made a file with the whole receiver
    assert_eq!(
        (stale.status, stale.body["error"]["code"].as_str()),
        (403, Some("step_up_required"))
    );
    assert_eq!(mine.body["export"]["state"], "READY", "{}", mine.text);
    assert_eq!(mine.body["export"]["rows"], 1);
    let (csv, _) = download(&mine).await;
    let rows = rows(&csv);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], order_id);
    assert_eq!(rows[0][13], "13812345678");
    assert_eq!(rows[0][2], "待发货");
    // and the other owner cannot see it
    assert_eq!(
        (theirs.status, theirs.body["error"]["code"].as_str()),
        (404, Some("export_not_found"))
    );
    // and bad asks name their field
    let fields: Vec<(u16, &str)> = bad.iter().map(|a| (a.status, a.error_field())).collect();
    assert_eq!(
        fields,
        [(400, "to"), (400, "from"), (400, "from"), (400, "status")]
    );
}

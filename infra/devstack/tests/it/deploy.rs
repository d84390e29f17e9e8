//! What deploying needs of the running code: secrets read from Secrets Manager at cold start
//! (never from the function's configuration), a cold start that fails naming what is missing,
//! and a local gateway that does not answer before the shop is ready.

use crate::checkout::{order_body, place};
use crate::support::{TestShop, emulator};
use serde_json::{Value, json};
use settings::{SHOP_SECRET_ARN, SHOP_SECRET_KEYS, Settings};
use std::collections::HashMap;

async fn secrets_client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(&devstack::aws_config(endpoint).await)
}

/// A secret in the emulator holding `values`; answers its ARN.
async fn stored_secret(values: &Value) -> String {
    secrets_client(&emulator())
        .await
        .create_secret()
        .name(format!("t{}-shop-secret", domain::ids::random_token(10)))
        .secret_string(values.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap()
}

#[tokio::test]
async fn a_whole_purchase_runs_with_every_secret_read_from_secrets_manager() {
    // given a shop whose functions are configured as in AWS: SHOP_SECRET_ARN, no secret values
    let shop = TestShop::with_secrets_manager().await;
    devstack::seed::warehouses(&shop.stack.admin(), 0)
        .await
        .unwrap();
    for (function, settings) in &shop.stack.function_settings {
        for key in SHOP_SECRET_KEYS {
            assert!(
                !settings.contains_key(*key),
                "{function} was configured with {key}"
            );
        }
    }
    let checkout = &shop.stack.function_settings["CheckoutFunction"];
    assert!(
        checkout[SHOP_SECRET_ARN].starts_with("arn:aws:secretsmanager:"),
        "{checkout:?}"
    );
    assert!(
        !shop.stack.function_settings["RewardsFunction"].contains_key(SHOP_SECRET_ARN),
        "a function that needs no secret is not given the ARN"
    );

    // when a shopper logs in (JWT_SECRET, WECHAT_SECRET), browses, checks in, orders (the
    // WeChat Pay private key), pays (the APIv3 key), and the order ships (Kuaidi100 key and
    // secret) and is tracked (Kuaidi100 salt)
    let (token, _) = shop.login("vaulted.1").await;
    let recommended = shop.get_as(&token, "/v1/recommendations").await;
    assert_eq!(recommended.status, 200, "{}", recommended.text);
    let checked_in = shop.post_as(&token, "/v1/checkin", &json!({})).await;
    assert_eq!(checked_in.status, 201, "{}", checked_in.text);
    let placed = place(&shop, &token, "vaulted-order", &order_body("longjing-1", 1)).await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let id = placed.body["order"]["id"].as_str().unwrap().to_string();
    assert!(
        placed.body["payment"]["paySign"].is_string(),
        "{}",
        placed.text
    );
    let paid = shop
        .sandbox("/__sandbox/wechatpay/pay", &json!({"outTradeNo": id}))
        .await;
    assert_eq!(paid["notifyStatus"], 204, "{paid}");
    // order.paid, then the shipping upload it queues
    assert_eq!(shop.stack.drain("FulfillmentQueue").await.unwrap(), 2);
    let order = shop.get_as(&token, &format!("/v1/orders/{id}")).await.body;
    let number = order["shipment"]["number"].as_str().unwrap().to_string();
    let param = json!({"status": "polling", "message": "", "lastResult": {"state": "3", "ischeck": "1", "com": "zhongtong", "nu": number, "data": [{"time": "2026-12-01 10:00:00", "ftime": "2026-12-01 10:00:00", "context": "已签收"}]}}).to_string();
    let sign = domain::logistics::push_sign(&param, &shop.stack.settings["KUAIDI100_SALT"]);
    let pushed = shop
        .post_raw(
            "/v1/logistics/kuaidi100/notify",
            "application/x-www-form-urlencoded",
            &format!(
                "param={}&sign={sign}",
                devstack::server::form_encode(&param)
            ),
        )
        .await;

    // then every step worked with the secrets the functions read at their cold start
    assert_eq!(pushed.status, 200, "{}", pushed.text);
    let order = shop.get_as(&token, &format!("/v1/orders/{id}")).await.body;
    assert_eq!(order["status"], "DELIVERED", "{order}");
}

#[tokio::test]
async fn a_key_missing_from_the_shop_secret_fails_the_cold_start_naming_it_and_no_value() {
    // given pay-notify's configuration pointing at a secret without the APIv3 key
    let shop = TestShop::with_settings(HashMap::new()).await;
    let public_key = shop.stack.settings["WECHATPAY_PUBLIC_KEY"].clone();
    let arn = stored_secret(&json!({"WECHATPAY_PUBLIC_KEY": public_key})).await;
    let mut settings = shop.stack.function_settings["PayNotifyFunction"].clone();
    settings.retain(|k, _| !SHOP_SECRET_KEYS.contains(&k.as_str()));
    settings.insert(SHOP_SECRET_ARN.into(), arn);

    // when the function starts
    let secrets = secrets_client(&emulator()).await;
    let settings = edge::secrets::with_shop_secret(Settings::from_map(settings), &secrets)
        .await
        .unwrap();
    let clients = edge::runtime::Clients::new(shop.stack.dynamodb.clone(), shop.stack.sqs.clone());
    let err = pay_notify::PayNotify::new(&settings, &clients)
        .err()
        .expect("pay-notify cannot start without its APIv3 key");

    // then the error names the key, says where it was looked for, and shows no secret value
    assert_eq!(err.name, "WECHATPAY_APIV3_KEY");
    let shown = err.to_string();
    assert!(shown.contains("not in the shop secret"), "{shown}");
    assert!(!shown.contains("BEGIN PUBLIC KEY"), "{shown}");
}

#[tokio::test]
async fn an_unreadable_shop_secret_fails_the_cold_start_naming_shop_secret_arn() {
    let settings =
        |arn: &str| Settings::from_map(HashMap::from([(SHOP_SECRET_ARN.into(), arn.into())]));
    // a secret that does not exist
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-shop-AbCdEf";
    let err =
        edge::secrets::with_shop_secret(settings(missing), &secrets_client(&emulator()).await)
            .await
            .unwrap_err();
    assert_eq!(err.name, SHOP_SECRET_ARN);
    assert!(err.to_string().contains("could not be read"), "{err}");

    // Secrets Manager unreachable (nothing listens on the port)
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let err = edge::secrets::with_shop_secret(settings(missing), &secrets_client(&closed).await)
        .await
        .unwrap_err();
    assert_eq!(err.name, SHOP_SECRET_ARN);

    // a secret that is not a JSON object
    let arn = {
        let created = secrets_client(&emulator())
            .await
            .create_secret()
            .name(format!("t{}-plain-text", domain::ids::random_token(10)))
            .secret_string("JWT_SECRET=abc")
            .send()
            .await
            .unwrap();
        created.arn.unwrap()
    };
    let err = edge::secrets::with_shop_secret(settings(&arn), &secrets_client(&emulator()).await)
        .await
        .unwrap_err();
    assert_eq!(err.name, SHOP_SECRET_ARN);
    assert!(!err.to_string().contains("abc"), "{err}");
}

#[tokio::test]
async fn the_gateway_answers_starting_until_the_shop_is_open() {
    // given a shop still seeding
    let shop = TestShop::held().await;

    // when a client calls before it is ready
    let early = shop.get("/v1/categories").await;

    // then it is told to come back, and after opening it is served
    assert_eq!(early.status, 503, "{}", early.text);
    assert_eq!(early.error_code(), "starting");
    assert_eq!(early.header("retry-after"), Some("1"));
    shop.stack.gateway.open();
    let ready = shop.get("/v1/categories").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
}

/// README's "Deploying to AWS" section.
fn deploy_guide() -> String {
    let readme = std::fs::read_to_string(devstack::project_root().join("README.md")).unwrap();
    let start = readme
        .find("## Deploying to AWS\n")
        .expect("a deploy guide");
    let rest = &readme[start..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

#[test]
fn the_deploy_guide_lists_exactly_the_shop_secrets_keys_and_its_example_is_one_functions_read() {
    let guide = deploy_guide();
    // the key table (SCREAMING_CASE keys, unlike the CamelCase parameters): each key once
    let mut listed: Vec<String> = guide
        .lines()
        .filter(|line| line.starts_with("| `"))
        .flat_map(|line| {
            let first_cell = line.split(" | ").next().unwrap_or("");
            first_cell
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|name| name.contains('_') && *name == name.to_uppercase())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    listed.sort();
    let mut keys: Vec<String> = SHOP_SECRET_KEYS.iter().map(|k| k.to_string()).collect();
    keys.sort();
    assert_eq!(listed, keys);

    // the example: a JSON object the functions read, with every key a WeChat-only shop needs
    let marker = guide
        .find("<!-- shop-secret.json")
        .expect("the example's marker");
    let block = &guide[marker..];
    let body = block
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a json block after the marker");
    let example: serde_json::Map<String, Value> = serde_json::from_str(body).unwrap();
    let optional = ["WECHATPAY_PLATFORM_CERTIFICATES", "ALIPAY_PRIVATE_KEY"];
    for key in SHOP_SECRET_KEYS.iter().filter(|k| !optional.contains(k)) {
        assert!(example.contains_key(*key), "the example lacks {key}");
    }
    let settings = Settings::from_map(HashMap::new())
        .with_shop_secret(body)
        .unwrap();
    for key in example.keys() {
        assert!(
            SHOP_SECRET_KEYS.contains(&key.as_str()),
            "{key} is read by no function"
        );
        assert!(settings.get(key).is_some(), "{key}");
    }
}

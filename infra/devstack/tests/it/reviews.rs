//! Reviews with photos (评价晒单): a line of a delivered order reviewed once, shown only when
//! WeChat's content checks pass (the text at once, each photo by its pushed verdict), counted
//! in the product's rating once, and anonymous once its author leaves.

use crate::checkout::place;
use crate::social::{deliver_order, pay, shop_with};
use crate::support::{Answer, TestShop, address};
use domain::ids::{OrderId, ProductId, SkuId};
use domain::review::{Suggest, Verdict};
use serde_json::{Value, json};
use store::reviews::{ReviewKey, ReviewStore};

/// A shopper `name` with a delivered order of `skus`: (token, order id).
pub(crate) async fn delivered(shop: &TestShop, name: &str, skus: &[&str]) -> (String, String) {
    let (token, _) = shop.login(&format!("{name}.1")).await;
    let items: Vec<Value> = skus
        .iter()
        .map(|s| json!({"skuId": s, "quantity": 1}))
        .collect();
    let placed = place(
        shop,
        &token,
        &format!("{name}-order"),
        &json!({"items": items, "address": address()}),
    )
    .await;
    assert_eq!(placed.status, 201, "{}", placed.text);
    let order = placed.body["order"]["id"].as_str().unwrap().to_string();
    pay(shop, &order).await;
    deliver_order(shop, &token, &order).await;
    (token, order)
}

/// A photo uploaded the way the mini-program does it: its key.
pub(crate) async fn photo(shop: &TestShop, token: &str, bytes: &[u8]) -> String {
    let form = shop
        .post_as(
            token,
            "/v1/uploads",
            &json!({"purpose": "review", "contentType": "image/jpeg", "size": bytes.len()}),
        )
        .await;
    assert_eq!(form.status, 201, "{}", form.text);
    let key = form.body["key"].as_str().unwrap().to_string();
    let put = reqwest::Client::new()
        .put(format!("{}/{key}", form.body["url"].as_str().unwrap()))
        .header("content-type", "image/jpeg")
        // What the form's `tagging` field does to a POSTed upload.
        .header("x-amz-tagging", "media=unused")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    key
}

pub(crate) async fn review(shop: &TestShop, token: &str, order: &str, body: &Value) -> Answer {
    shop.post_as(token, &format!("/v1/orders/{order}/reviews"), body)
        .await
}

async fn listed(shop: &TestShop, product: &str, sort: &str) -> Vec<Value> {
    let answer = shop
        .get(&format!("/v1/products/{product}/reviews?sort={sort}"))
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["items"].as_array().unwrap().clone()
}

async fn rating(shop: &TestShop, product: &str) -> Value {
    shop.get(&format!("/v1/products/{product}")).await.body["rating"].clone()
}

async fn mine(shop: &TestShop, token: &str) -> Vec<Value> {
    let answer = shop.get_as(token, "/v1/me/reviews").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["items"].as_array().unwrap().clone()
}

/// The deadlines consumer sends what is new to WeChat's checks.
async fn check(shop: &TestShop) {
    shop.stack.drain("DeadlinesQueue").await.unwrap();
}

#[tokio::test]
async fn a_review_stays_hidden_until_its_photo_verdict_arrives_then_appears_once() {
    // given a delivered order and a photo its shopper uploaded
    let shop = shop_with(&[]).await;
    let (token, order) = delivered(&shop, "lan", &["longjing-1"]).await;
    let key = photo(&shop, &token, b"\xff\xd8\xff a fine cup of tea").await;

    // when they review the line with words, five stars and the photo
    let body = json!({"skuId": "longjing-1", "rating": 5, "text": "茶香浓郁，回甘明显", "photos": [key], "nickname": "小兰", "avatarUrl": "https://a.example/lan.png"});
    let posted = review(&shop, &token, &order, &body).await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    assert_eq!(posted.body["state"], "PENDING");
    check(&shop).await;

    // then WeChat checked the words as the shopper, and nobody else sees it yet
    let texts = shop.stack.wechat.text_checks();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0]["content"], "茶香浓郁，回甘明显");
    assert_eq!(
        (&texts[0]["version"], &texts[0]["scene"]),
        (&json!(2), &json!(2))
    );
    assert_eq!(
        texts[0]["openid"],
        devstack::wechat_sandbox::openid_for(devstack::SANDBOX_APPID, "lan")
    );
    assert_eq!(shop.stack.wechat.media_checks_waiting(), 1);
    assert!(listed(&shop, "longjing", "newest").await.is_empty());
    assert_eq!(rating(&shop, "longjing").await["count"], 0);
    assert_eq!(mine(&shop, &token).await[0]["state"], "PENDING");

    // when WeChat fetches the photo and pushes its verdict
    let pushed = shop.stack.wechat.release_media_checks().await.unwrap();
    assert_eq!(pushed.len(), 1);
    assert_eq!((pushed[0].1.as_str(), pushed[0].2), ("pass", 200));

    // then the review is shown with its photo and counted in the rating
    let shown = listed(&shop, "longjing", "photos").await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["nickname"], "小兰");
    assert_eq!(shown[0]["rating"], 5);
    let url = shown[0]["photos"][0].as_str().unwrap();
    let fetched = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&fetched[..], b"\xff\xd8\xff a fine cup of tea");
    assert_eq!(
        rating(&shop, "longjing").await,
        json!({"count": 1, "average": 5.0, "goodPercent": 100})
    );
    assert_eq!(mine(&shop, &token).await[0]["state"], "SHOWN");

    // when the verdict is pushed again and the same review is sent again
    let trace = &pushed[0].0;
    let again = shop
        .stack
        .wechat
        .push(&json!({"ToUserName": "gh_sandbox", "FromUserName": "o_sys", "CreateTime": domain::clock::now_epoch_seconds() + 1, "MsgType": "event", "Event": "wxa_media_check", "appid": devstack::SANDBOX_APPID, "trace_id": trace, "version": 2, "errcode": 0, "result": {"suggest": "pass", "label": 100}}))
        .await
        .unwrap();
    assert_eq!((again.status, again.body.as_str()), (200, "success"));
    let repeated = review(&shop, &token, &order, &body).await;
    assert_eq!(repeated.status, 200, "{}", repeated.text);
    check(&shop).await;

    // then it is still one review, counted once, and nothing went to WeChat twice
    assert_eq!(listed(&shop, "longjing", "newest").await.len(), 1);
    assert_eq!(rating(&shop, "longjing").await["count"], 1);
    assert_eq!(shop.stack.wechat.text_checks().len(), 1);
    assert_eq!(shop.stack.wechat.media_checks_waiting(), 0);

    // when its author deletes their account
    let export = shop.get_as(&token, "/v1/me/export").await;
    assert_eq!(export.body["reviews"][0]["text"], "茶香浓郁，回甘明显");
    let deleted = shop.delete_as(&token, "/v1/me").await;
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert_eq!(deleted.body["reviewsAnonymised"], 1);

    // then the words and stars stay, with no name or avatar
    let anonymous = listed(&shop, "longjing", "newest").await;
    assert_eq!(anonymous[0]["nickname"], "匿名用户");
    assert_eq!(anonymous[0]["avatarUrl"], Value::Null);
    assert_eq!(anonymous[0]["text"], "茶香浓郁，回甘明显");
    assert_eq!(rating(&shop, "longjing").await["count"], 1);
}

#[tokio::test]
async fn risky_words_or_a_risky_photo_are_never_shown_and_the_author_is_told_why() {
    // given a delivered order of two lines
    let shop = shop_with(&[]).await;
    let (token, order) = delivered(&shop, "ming", &["longjing-1", "walnut-1"]).await;
    let risky = photo(&shop, &token, b"\xff\xd8\xff RISKY").await;

    // when one line's review advertises and the other's photo is risky
    let words = review(
        &shop,
        &token,
        &order,
        &json!({"skuId": "longjing-1", "rating": 1, "text": "代开发票，加我微信"}),
    )
    .await;
    let pictured = review(
        &shop,
        &token,
        &order,
        &json!({"skuId": "walnut-1", "rating": 4, "text": "核桃很香", "photos": [risky]}),
    )
    .await;
    assert_eq!((words.status, pictured.status), (201, 201));
    check(&shop).await;
    shop.stack.wechat.release_media_checks().await.unwrap();

    // then neither is listed or counted, and the author sees each hidden with its reason
    assert!(listed(&shop, "longjing", "newest").await.is_empty());
    assert!(listed(&shop, "walnut", "photos").await.is_empty());
    assert_eq!(rating(&shop, "longjing").await["count"], 0);
    assert_eq!(rating(&shop, "walnut").await["count"], 0);
    let mut reasons: Vec<(String, String)> = mine(&shop, &token)
        .await
        .iter()
        .map(|r| {
            (
                r["state"].as_str().unwrap().to_string(),
                r["hiddenReason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(
        reasons,
        [
            (
                "HIDDEN".to_string(),
                "评价未通过内容安全检查，不会展示：文字含广告内容".to_string()
            ),
            (
                "HIDDEN".to_string(),
                "评价未通过内容安全检查，不会展示：第1张图片含色情内容".to_string()
            ),
        ]
    );
}

#[tokio::test]
async fn what_wechat_is_unsure_of_waits_for_the_merchant_who_shows_or_rejects_it() {
    // given two reviews WeChat's text check is unsure of
    let shop = shop_with(&[]).await;
    let (token, order) = delivered(&shop, "he", &["longjing-1", "walnut-1"]).await;
    for (sku, text) in [
        ("longjing-1", "请人工复核：好茶"),
        ("walnut-1", "人工复核 一般"),
    ] {
        let posted = review(
            &shop,
            &token,
            &order,
            &json!({"skuId": sku, "rating": 4, "text": text}),
        )
        .await;
        assert_eq!(posted.status, 201, "{}", posted.text);
    }
    check(&shop).await;
    let admin = shop.stack.admin();
    let pending = shopctl::run(&admin, &["reviews", "pending"], 0)
        .await
        .unwrap();
    assert_eq!(pending.lines().count(), 2, "{pending}");
    assert!(pending.contains(&format!("--order {order} --sku walnut-1")));
    assert!(listed(&shop, "longjing", "newest").await.is_empty());

    // when the merchant approves one and rejects the other
    let which = |sku: &str| {
        vec![
            "--product".to_string(),
            sku.split('-').next().unwrap().to_string(),
            "--order".into(),
            order.clone(),
            "--sku".into(),
            sku.to_string(),
        ]
    };
    let mut approve = vec!["reviews".to_string(), "approve".into()];
    approve.extend(which("longjing-1"));
    let mut reject = vec!["reviews".to_string(), "reject".into()];
    reject.extend(which("walnut-1"));
    reject.extend(["--reason".to_string(), "与商品无关".into()]);
    let now = domain::clock::now_epoch_seconds();
    let approved = shopctl::run(&admin, &approve, now).await.unwrap();
    let rejected = shopctl::run(&admin, &reject, now).await.unwrap();
    let again = shopctl::run(&admin, &approve, now).await.unwrap();

    // then the approved one is shown and counted once, the rejected one hidden with why
    assert!(approved.ends_with("SHOWN"), "{approved}");
    assert!(rejected.ends_with("HIDDEN"), "{rejected}");
    assert_eq!(again, approved);
    assert_eq!(listed(&shop, "longjing", "newest").await.len(), 1);
    assert_eq!(rating(&shop, "longjing").await["count"], 1);
    let walnut = mine(&shop, &token)
        .await
        .into_iter()
        .find(|r| r["skuId"] == "walnut-1")
        .unwrap();
    assert_eq!(
        walnut["hiddenReason"],
        "评价未通过商家审核，不会展示：与商品无关"
    );
    assert_eq!(
        shopctl::run(&admin, &["reviews", "pending"], 0)
            .await
            .unwrap(),
        "no reviews wait for you"
    );
    // and a shown review is not the merchant's to hide
    let mut hide_shown = vec!["reviews".to_string(), "reject".into()];
    hide_shown.extend(which("longjing-1"));
    assert!(shopctl::run(&admin, &hide_shown, now).await.is_err());
}

#[tokio::test]
async fn revoking_nickname_and_avatar_on_wechat_takes_them_off_the_shoppers_reviews() {
    // given a shown review under the shopper's nickname and avatar
    let shop = shop_with(&[]).await;
    let (token, order) = delivered(&shop, "tang", &["longjing-1"]).await;
    let posted = review(
        &shop,
        &token,
        &order,
        &json!({"skuId": "longjing-1", "rating": 3, "text": "还行", "nickname": "小唐", "avatarUrl": "https://a.example/t.png"}),
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.text);
    check(&shop).await;
    assert_eq!(
        listed(&shop, "longjing", "newest").await[0]["nickname"],
        "小唐"
    );

    // when the shopper revokes nickname and avatar (RevokeInfo 6) on WeChat
    let openid = devstack::wechat_sandbox::openid_for(devstack::SANDBOX_APPID, "tang");
    shop.push_event(
        "user_authorization_revoke",
        &openid,
        json!({"RevokeInfo": "6"}),
    )
    .await;

    // then the review stays, its words and stars without the name or avatar
    let shown = listed(&shop, "longjing", "newest").await;
    assert_eq!(
        (
            &shown[0]["nickname"],
            &shown[0]["avatarUrl"],
            &shown[0]["text"]
        ),
        (&json!("匿名用户"), &Value::Null, &json!("还行"))
    );
    assert_eq!(mine(&shop, &token).await.len(), 1);
}

#[tokio::test]
async fn reviews_of_others_orders_undelivered_orders_or_others_photos_are_refused() {
    // given a delivered order, a paid one not yet shipped, and another shopper's photo
    let shop = shop_with(&[]).await;
    let (token, order) = delivered(&shop, "zhou", &["longjing-1"]).await;
    let (other, _) = shop.login("wu.1").await;
    let theirs = photo(&shop, &other, b"\xff\xd8\xff theirs").await;
    let unshipped = place(
        &shop,
        &token,
        "zhou-unshipped",
        &json!({"items": [{"skuId": "walnut-1", "quantity": 1}], "address": address()}),
    )
    .await;
    let unshipped = unshipped.body["order"]["id"].as_str().unwrap().to_string();
    pay(&shop, &unshipped).await;
    let line = |extra: Value| {
        let mut body = json!({"skuId": "longjing-1", "rating": 5});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    // when the wrong people review, or review the wrong things
    let by_other = review(&shop, &other, &order, &line(json!({}))).await;
    let not_delivered = review(
        &shop,
        &token,
        &unshipped,
        &json!({"skuId": "walnut-1", "rating": 5}),
    )
    .await;
    let stolen_photo = review(&shop, &token, &order, &line(json!({"photos": [theirs]}))).await;
    let six_stars = review(&shop, &token, &order, &line(json!({"rating": 6}))).await;
    let too_long = review(
        &shop,
        &token,
        &order,
        &line(json!({"text": "好".repeat(501)})),
    )
    .await;
    let not_bought = review(
        &shop,
        &token,
        &order,
        &json!({"skuId": "walnut-1", "rating": 5}),
    )
    .await;

    // then each is refused naming why
    assert_eq!(
        (by_other.status, by_other.error_code()),
        (403, "not_your_order")
    );
    assert_eq!(
        (not_delivered.status, not_delivered.error_code()),
        (422, "not_delivered")
    );
    assert_eq!(
        (stolen_photo.status, stolen_photo.error_field()),
        (400, "photos[0]")
    );
    assert_eq!((six_stars.status, six_stars.error_field()), (400, "rating"));
    assert_eq!((too_long.status, too_long.error_field()), (400, "text"));
    assert_eq!(
        (not_bought.status, not_bought.error_code()),
        (422, "unknown_line")
    );

    // and a line is reviewed once: the same review again is the same, another is 409
    let first = review(&shop, &token, &order, &line(json!({"text": "好茶"}))).await;
    let same = review(&shop, &token, &order, &line(json!({"text": "好茶"}))).await;
    let other_words = review(&shop, &token, &order, &line(json!({"text": "一般"}))).await;
    assert_eq!((first.status, same.status), (201, 200));
    assert_eq!(
        (other_words.status, other_words.error_code()),
        (409, "already_reviewed")
    );
}

#[tokio::test]
async fn a_photo_never_uploaded_is_refused_and_a_reviewed_one_is_kept_from_expiry() {
    // given a delivered order, an upload form left unused and a photo uploaded as the form says
    let shop = shop_with(&[]).await;
    let (token, order) = delivered(&shop, "qian", &["longjing-1"]).await;
    let form = shop
        .post_as(
            &token,
            "/v1/uploads",
            &json!({"purpose": "review", "contentType": "image/png", "size": 10}),
        )
        .await;
    assert_eq!(
        form.body["fields"]["tagging"],
        "<Tagging><TagSet><Tag><Key>media</Key><Value>unused</Value></Tag></TagSet></Tagging>"
    );
    let never_uploaded = form.body["key"].as_str().unwrap().to_string();
    let key = photo(&shop, &token, b"\xff\xd8\xff kept").await;
    // when a review names the key nothing was uploaded under, then the uploaded one
    let missing = review(
        &shop,
        &token,
        &order,
        &json!({"skuId": "longjing-1", "rating": 4, "photos": [key, never_uploaded]}),
    )
    .await;
    let kept = review(
        &shop,
        &token,
        &order,
        &json!({"skuId": "longjing-1", "rating": 4, "photos": [key]}),
    )
    .await;

    // then the first is refused naming the photo, and the reviewed photo is tagged kept
    assert_eq!((missing.status, missing.error_field()), (400, "photos[1]"));
    assert_eq!(kept.status, 201, "{}", kept.text);
    assert!(crate::support::kept_in_bucket(&shop, &key).await);
}

#[tokio::test]
async fn a_photo_verdict_pushed_before_its_trace_is_recorded_is_kept_for_it() {
    // given a review store on the emulator
    let shop = TestShop::start().await;
    let reviews = ReviewStore::new(
        shop.stack.dynamodb.clone(),
        shop.stack.settings["REVIEWS_TABLE"].clone(),
    );
    let key = ReviewKey {
        product_id: ProductId::parse("longjing").unwrap(),
        order_id: OrderId::parse("20261201early0001").unwrap(),
        sku_id: SkuId::parse("longjing-1").unwrap(),
    };
    let verdict = Verdict {
        suggest: Suggest::Risky,
        label: 20002,
    };

    // when WeChat's verdict arrives before the checker records the trace
    let early = reviews
        .record_verdict("t-early", &verdict, 1_000)
        .await
        .unwrap();
    let attached = reviews
        .attach_trace("t-early", &key, 2, 1_001)
        .await
        .unwrap();

    // then the push found no review to give it to, and the checker finds it with the trace
    assert_eq!(early, None);
    assert_eq!(attached, Some(verdict));
    // and a verdict arriving after the trace names its review and photo
    reviews
        .attach_trace("t-late", &key, 0, 1_002)
        .await
        .unwrap();
    assert_eq!(
        reviews
            .record_verdict("t-late", &verdict, 1_003)
            .await
            .unwrap(),
        Some((key, 0))
    );
}

//! What each function is asked, built from the real API Gateway payloads in `events/`, and the
//! storage and WeChat calls each route makes, replayed from the bench to time the emulators alone.

use anyhow::{Context, bail};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use serde_json::{Value, json};
use shared::store::{Item, get_s, s};
use shared::wechat::WeChatApi;

/// The user every returning-user login signs in as; the sandbox turns `benchuser.<n>` into them.
pub const RETURNING_USER: &str = "benchuser";

fn fixture(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or(Value::Null)
}

fn with_query(mut event: Value, query: &[(&str, &str)]) -> Value {
    let raw: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    event["rawQueryString"] = raw.join("&").into();
    event["queryStringParameters"] = query
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    event
}

fn login_event(code: &str) -> Value {
    let mut event = fixture(include_str!("../../../events/login-login.json"));
    event["body"] = json!({ "code": code }).to_string().into();
    event
}

/// The calls a route makes to the emulators, in the order the handler makes them.
#[derive(Debug, Clone, Copy)]
pub enum Calls {
    /// A route answered from the request alone.
    None,
    ProductDetail,
    CategoryListing,
    Search,
    Categories,
    ReturningLogin,
    FirstLogin,
}

pub struct Route {
    pub function: &'static str,
    pub name: &'static str,
    pub status: u16,
    /// A JSON pointer into the answer's body and the value it must hold.
    pub body_check: Option<(&'static str, Value)>,
    pub calls: Calls,
    /// The `n`th event to send; login codes are single-use, so each `n` must be fresh.
    event: fn(u64) -> Value,
}

impl Route {
    pub fn event(&self, n: u64) -> Value {
        (self.event)(n)
    }

    /// Fails unless the function's answer is the one this route is meant to produce.
    pub fn check(&self, answer: &Value) -> anyhow::Result<()> {
        let status = answer["statusCode"].as_u64().unwrap_or(0);
        if status != u64::from(self.status) {
            bail!(
                "{} {}: status {status}, wanted {}; answer: {answer}",
                self.function,
                self.name,
                self.status
            );
        }
        if let Some((pointer, wanted)) = &self.body_check {
            let body: Value = answer["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or(Value::Null);
            if body.pointer(pointer) != Some(wanted) {
                bail!(
                    "{} {}: {pointer} is not {wanted}; answer: {answer}",
                    self.function,
                    self.name
                );
            }
        }
        Ok(())
    }
}

/// Each function's routes; the first is its main one, used for the cold starts.
pub fn routes(function: &str) -> Vec<Route> {
    match function {
        "browse" => vec![
            Route {
                function: "browse",
                name: "GET /v1/products/{id} (longjing)",
                status: 200,
                body_check: Some(("/id", json!("longjing"))),
                calls: Calls::ProductDetail,
                event: |_| fixture(include_str!("../../../events/browse-product.json")),
            },
            Route {
                function: "browse",
                name: "GET /v1/products?category=fruit&limit=10",
                status: 200,
                body_check: None,
                calls: Calls::CategoryListing,
                event: |_| {
                    with_query(
                        fixture(include_str!(
                            "../../../events/browse-products-by-category.json"
                        )),
                        &[("category", "fruit"), ("limit", "10")],
                    )
                },
            },
            Route {
                function: "browse",
                name: "GET /v1/products?q=普洱&limit=10",
                status: 200,
                body_check: None,
                calls: Calls::Search,
                event: |_| fixture(include_str!("../../../events/browse-products.json")),
            },
            Route {
                function: "browse",
                name: "GET /v1/categories",
                status: 200,
                body_check: None,
                calls: Calls::Categories,
                event: |_| fixture(include_str!("../../../events/browse-categories.json")),
            },
            Route {
                function: "browse",
                name: "GET /v1/products?limit=0 (400, no I/O)",
                status: 400,
                body_check: Some(("/error/field", json!("limit"))),
                calls: Calls::None,
                event: |_| {
                    with_query(
                        fixture(include_str!("../../../events/browse-products.json")),
                        &[("limit", "0")],
                    )
                },
            },
        ],
        "login" => vec![
            Route {
                function: "login",
                name: "POST /v1/auth/login (returning user)",
                status: 200,
                body_check: Some(("/user/isNew", json!(false))),
                calls: Calls::ReturningLogin,
                event: |n| login_event(&format!("{RETURNING_USER}.{n}")),
            },
            Route {
                function: "login",
                name: "POST /v1/auth/login (new user)",
                status: 200,
                body_check: Some(("/user/isNew", json!(true))),
                calls: Calls::FirstLogin,
                event: |n| login_event(&format!("bench{n}.1")),
            },
            Route {
                function: "login",
                name: "POST /v1/auth/login (empty code: 400, no I/O)",
                status: 400,
                body_check: Some(("/error/field", json!("code"))),
                calls: Calls::None,
                event: |_| login_event(""),
            },
        ],
        _ => Vec::new(),
    }
}

/// The bench's own clients for replaying a route's calls.
pub struct Emulators {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub catalog_table: String,
    pub users_table: String,
    pub wechat: WeChatApi,
}

fn key(pk: String, sk: &str) -> Item {
    Item::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

/// The SKU keys a product item lists under `skuIds`.
fn sku_keys(products: &[Item]) -> Vec<Item> {
    products
        .iter()
        .filter_map(|p| p.get("skuIds").and_then(|ids| ids.as_l().ok()))
        .flatten()
        .filter_map(|id| id.as_s().ok())
        .map(|id| key(format!("SKU#{id}"), "SKU"))
        .collect()
}

impl Emulators {
    async fn batch_get(&self, keys: Vec<Item>) -> anyhow::Result<Vec<Item>> {
        // The handler skips the call when there is nothing to fetch; so does the replay.
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .dynamodb
            .batch_get_item()
            .request_items(
                &self.catalog_table,
                KeysAndAttributes::builder().set_keys(Some(keys)).build()?,
            )
            .send()
            .await?;
        Ok(out
            .responses
            .and_then(|mut r| r.remove(&self.catalog_table))
            .unwrap_or_default())
    }

    async fn get(&self, table: &str, pk: String, consistent: bool) -> anyhow::Result<Item> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(table)
            .key("pk", s(pk))
            .consistent_read(consistent)
            .send()
            .await?;
        Ok(out.item.unwrap_or_default())
    }

    /// Makes `calls` once, the `n`th time; `n` keeps single-use WeChat codes fresh.
    pub async fn replay(&self, calls: Calls, n: u64) -> anyhow::Result<()> {
        match calls {
            Calls::None => {}
            Calls::ProductDetail => {
                let product = self
                    .dynamodb
                    .get_item()
                    .table_name(&self.catalog_table)
                    .set_key(Some(key("PRODUCT#longjing".into(), "META")))
                    .send()
                    .await?
                    .item
                    .context("longjing is not in the catalog")?;
                self.batch_get(sku_keys(&[product])).await?;
            }
            Calls::CategoryListing => {
                let mut page = self
                    .dynamodb
                    .query()
                    .table_name(&self.catalog_table)
                    .index_name(shared::store::catalog::INDEX_BY_CATEGORY)
                    .key_condition_expression("gsi1pk = :pk")
                    .expression_attribute_values(":pk", s("CATEGORY#fruit"))
                    .limit(11)
                    .send()
                    .await?
                    .items
                    .unwrap_or_default();
                page.truncate(10);
                self.batch_get(sku_keys(&page)).await?;
            }
            Calls::Search => {
                let mut hits = Vec::new();
                for term in shared::search::query_terms("普洱") {
                    let out = self
                        .dynamodb
                        .query()
                        .table_name(&self.catalog_table)
                        .key_condition_expression("pk = :pk")
                        .expression_attribute_values(":pk", s(format!("TERM#{term}")))
                        .projection_expression("sk, categoryId, #r")
                        .expression_attribute_names("#r", "rank")
                        .send()
                        .await?;
                    hits.extend(
                        out.items()
                            .iter()
                            .filter_map(|i| Some((get_s(i, "rank")?, get_s(i, "sk")?)))
                            .map(|(rank, id)| (rank.to_string(), id.to_string())),
                    );
                }
                hits.sort();
                let metas = self
                    .batch_get(
                        hits.iter()
                            .take(10)
                            .map(|(_, id)| key(format!("PRODUCT#{id}"), "META"))
                            .collect(),
                    )
                    .await?;
                self.batch_get(sku_keys(&metas)).await?;
            }
            Calls::Categories => {
                self.dynamodb
                    .query()
                    .table_name(&self.catalog_table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s("CATEGORY"))
                    .send()
                    .await?;
            }
            Calls::ReturningLogin => {
                let session = self
                    .wechat
                    .code_to_session(&format!("{RETURNING_USER}.replay{n}"))
                    .await?;
                let openid = self
                    .get(
                        &self.users_table,
                        format!("OPENID#{}", session.openid.expose()),
                        true,
                    )
                    .await?;
                let user_id = get_s(&openid, "userId").context("the bench user is missing")?;
                self.get(&self.users_table, format!("USER#{user_id}"), true)
                    .await?;
            }
            Calls::FirstLogin => {
                let session = self
                    .wechat
                    .code_to_session(&format!("benchreplay{n}.1"))
                    .await?;
                let openid_key = format!("OPENID#{}", session.openid.expose());
                self.get(&self.users_table, openid_key.clone(), true)
                    .await?;
                let user_id = format!("u-replay-{n}");
                let put = |item: Item| -> anyhow::Result<TransactWriteItem> {
                    let put = Put::builder()
                        .table_name(&self.users_table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()?;
                    Ok(TransactWriteItem::builder().put(put).build())
                };
                self.dynamodb
                    .transact_write_items()
                    .transact_items(put(Item::from([
                        ("pk".to_string(), s(openid_key)),
                        ("userId".to_string(), s(&user_id)),
                        ("createdAt".to_string(), AttributeValue::N("0".into())),
                    ]))?)
                    .transact_items(put(Item::from([
                        ("pk".to_string(), s(format!("USER#{user_id}"))),
                        ("id".to_string(), s(&user_id)),
                        ("createdAt".to_string(), AttributeValue::N("0".into())),
                        ("openid".to_string(), s(session.openid.expose())),
                    ]))?)
                    .send()
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_an_api_gateway_request_for_its_function() {
        for function in ["login", "browse"] {
            let routes = routes(function);
            assert!(!routes.is_empty());
            for route in routes {
                let event: shared::api::ApiRequest = serde_json::from_value(route.event(1))
                    .unwrap_or_else(|e| panic!("{}: {e}", route.name));
                assert_eq!(route.function, function);
                assert!(event.route_key.is_some(), "{}", route.name);
            }
        }
    }

    #[test]
    fn each_login_event_carries_a_fresh_code() {
        let main = &routes("login")[0];
        assert_ne!(main.event(1)["body"], main.event(2)["body"]);
    }

    #[test]
    fn answers_are_checked_for_status_and_body() {
        let main = &routes("browse")[0];
        let answer =
            |status: u16, body: Value| json!({"statusCode": status, "body": body.to_string()});
        assert!(main.check(&answer(200, json!({"id": "longjing"}))).is_ok());
        assert!(main.check(&answer(200, json!({"id": "kiwi"}))).is_err());
        assert!(main.check(&answer(500, json!({"id": "longjing"}))).is_err());
    }
}

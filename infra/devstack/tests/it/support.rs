use devstack::wechatpay_sandbox::WeChatPayKeys;
use devstack::{LocalStack, ShopSecret, StackOptions, seed};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;

pub struct TestShop {
    pub stack: LocalStack,
    pub base: String,
    http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn error_field(&self) -> &str {
        self.body["error"]["field"].as_str().unwrap_or("")
    }
}

pub fn emulator() -> String {
    std::env::var("AWS_ENDPOINT_URL")
        .expect("AWS_ENDPOINT_URL must point at the moto emulator: run the tests with `make test`")
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

impl TestShop {
    /// A shop with the demo catalog.
    pub async fn start() -> Self {
        let shop = Self::with_settings(HashMap::new()).await;
        seed::seed(&shop.stack.catalog_store())
            .await
            .expect("seeding the demo shop");
        shop
    }

    /// How many metric lines the shop's functions wrote counting `metric` once (an EMF line
    /// carries `"<metric>":1`).
    pub fn metric_count(&self, metric: &str) -> usize {
        let needle = format!("\"{metric}\":1");
        self.stack
            .metrics
            .lines()
            .iter()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// A shop with the demo catalog and its warehouses (杭州仓 with 中通, 广州仓 with 顺丰), so
    /// paid orders ship.
    pub async fn shipping() -> Self {
        let shop = Self::start().await;
        seed::warehouses(&shop.stack.admin(), 0)
            .await
            .expect("seeding the demo warehouses");
        shop
    }

    /// A shop with the demo catalog and `settings` overriding the defaults.
    pub async fn seeded_with(settings: &[(&str, &str)]) -> Self {
        let shop = Self::with_settings(
            settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .await;
        seed::seed(&shop.stack.catalog_store())
            .await
            .expect("seeding the demo shop");
        shop
    }

    /// A shop with an empty catalog and `settings` overriding the sandbox defaults.
    pub async fn with_settings(settings: HashMap<String, String>) -> Self {
        Self::with_options(settings, ShopSecret::Plain, false).await
    }

    /// A shop with the demo catalog whose functions read their secrets as in AWS: from one
    /// Secrets Manager secret in the emulator, named by `SHOP_SECRET_ARN`, at their cold start.
    pub async fn with_secrets_manager() -> Self {
        let shop = Self::with_options(HashMap::new(), ShopSecret::SecretsManager, false).await;
        seed::seed(&shop.stack.catalog_store())
            .await
            .expect("seeding the demo shop");
        shop
    }

    /// An empty shop whose gateway answers 503 `starting` until `stack.gateway.open()`.
    pub async fn held() -> Self {
        Self::with_options(HashMap::new(), ShopSecret::Plain, true).await
    }

    async fn with_options(
        settings: HashMap<String, String>,
        shop_secret: ShopSecret,
        hold_requests: bool,
    ) -> Self {
        let stack = LocalStack::start(StackOptions {
            endpoint: emulator(),
            prefix: format!("t{}-", domain::ids::random_token(10)),
            sandbox_addr: any_port(),
            gateway_addr: any_port(),
            extra: settings,
            wechatpay_keys: WeChatPayKeys::generate(),
            metrics_file: None,
            shop_secret,
            hold_requests,
        })
        .await
        .expect("starting the local stack");
        let base = stack.api_url.clone();
        Self {
            stack,
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            body,
        }
    }

    /// Asks the provider sandboxes to act (`/__sandbox/wechatpay/pay`, `/__sandbox/alipay/pay`):
    /// what the shopper does in the payment sheet. Answers the sandbox's JSON report.
    pub async fn sandbox(&self, path: &str, body: &Value) -> Value {
        self.http
            .post(format!("{}{path}", self.stack.sandbox_url))
            .json(body)
            .send()
            .await
            .expect("the sandbox answers")
            .json()
            .await
            .expect("the sandbox answers JSON")
    }

    pub async fn sandbox_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.stack.sandbox_url))
            .send()
            .await
            .expect("the sandbox answers")
            .json()
            .await
            .expect("the sandbox answers JSON")
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Answer {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn get_with(&self, path: &str, header: (&str, &str)) -> Answer {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .header(header.0, header.1),
        )
        .await
    }

    pub async fn send_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.send(request).await
    }

    pub async fn delete_as(&self, token: &str, path: &str) -> Answer {
        self.send(
            self.http
                .delete(format!("{}{path}", self.base))
                .bearer_auth(token),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn post_with(
        &self,
        token: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        self.send(request).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: &str) -> Answer {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .body(body.to_string()),
        )
        .await
    }

    /// Logs in as the sandbox shopper `code` names; returns (token, user id).
    /// WeChat pushes `event` about the shopper `openid` (with `extra` fields), sealed as in
    /// safe mode; the shop must answer `success`.
    pub async fn push_event(&self, event: &str, openid: &str, extra: Value) {
        let mut message = serde_json::json!({
            "ToUserName": "gh_sandbox", "FromUserName": openid,
            "CreateTime": domain::clock::now_epoch_seconds(),
            "MsgType": "event", "Event": event,
            "OpenID": openid, "AppID": devstack::SANDBOX_APPID,
        });
        if let (Some(message), Some(extra)) = (message.as_object_mut(), extra.as_object()) {
            message.extend(extra.clone());
        }
        let answer = self.stack.wechat.push(&message).await.unwrap();
        assert_eq!((answer.status, answer.body.as_str()), (200, "success"));
    }

    pub async fn login(&self, code: &str) -> (String, String) {
        let answer = self
            .post("/v1/auth/login", &serde_json::json!({"code": code}))
            .await;
        assert_eq!(answer.status, 200, "login {code}: {}", answer.text);
        (
            answer.body["token"].as_str().unwrap().to_string(),
            answer.body["user"]["id"].as_str().unwrap().to_string(),
        )
    }
}

/// A delivery address that passes every check.
pub fn address() -> Value {
    serde_json::json!({"name": "张三", "phone": "13812345678", "province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路 90 号"})
}

/// The shop's audit log, as the admin function writes it.
pub fn audit_log(shop: &TestShop) -> store::audit::AuditLog {
    store::audit::AuditLog::new(
        shop.stack.dynamodb.clone(),
        shop.stack.settings["AUDIT_TABLE"].clone(),
    )
}

/// True when the photo or image at `key` is tagged kept in the media bucket (S3's own tags).
pub async fn kept_in_bucket(shop: &TestShop, key: &str) -> bool {
    let tags = shop
        .stack
        .media_bucket()
        .await
        .unwrap()
        .tagging(
            &domain::media::MediaKey::parse(key).unwrap(),
            domain::clock::now_epoch_seconds(),
        )
        .await
        .unwrap();
    tags.contains("<Key>media</Key><Value>kept</Value>")
}

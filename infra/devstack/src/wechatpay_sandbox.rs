//! A local stand-in for WeChat Pay API v3 with its own locally generated keys: JSAPI prepay
//! (our Authorization signature verified with the merchant public key, 401 SIGN_ERROR
//! otherwise), query, close and refund, every answer signed like WeChat Pay signs, and a way
//! to pay an order that posts a signed, AES-256-GCM encrypted TRANSACTION.SUCCESS notification
//! to the order's notify_url.
//!
//! Control route: `POST /__sandbox/wechatpay/pay {"outTradeNo": "...", "notify": true}`.

use crate::server::{Incoming, Outgoing, Serve, form_pairs};
use providers::crypto::{SigningKey, VerifyingKey};
use providers::wechatpay::{ApiV3Key, MAX_CLOCK_SKEW_SECONDS};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// The keys of one sandbox: the merchant's (we sign with it), WeChat Pay's (it signs with it)
/// and the APIv3 key notifications are encrypted with.
pub struct WeChatPayKeys {
    pub mchid: String,
    pub merchant: SigningKey,
    pub merchant_serial: String,
    pub platform: SigningKey,
    pub platform_serial: String,
    pub apiv3_key: String,
}

impl WeChatPayKeys {
    pub fn generate() -> Self {
        Self {
            mchid: "1900000109".into(),
            merchant: SigningKey::generate(),
            merchant_serial: domain::ids::random_token(40).to_uppercase(),
            platform: SigningKey::generate(),
            platform_serial: format!(
                "PUB_KEY_ID_{}",
                domain::ids::random_token(24).to_uppercase()
            ),
            apiv3_key: domain::ids::random_token(32),
        }
    }

    /// Keys kept in `dir` (generated there on first use), so `make dev` keeps one identity.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        let file = dir.join("wechatpay-sandbox.json");
        if let Ok(text) = std::fs::read_to_string(&file) {
            let v: Value = serde_json::from_str(&text)?;
            let text_of = |k: &str| {
                v[k].as_str()
                    .map(str::to_string)
                    .ok_or_else(|| anyhow::anyhow!("{} lacks {k}", file.display()))
            };
            return Ok(Self {
                mchid: text_of("mchid")?,
                merchant: SigningKey::from_pem(&text_of("merchantKey")?)?,
                merchant_serial: text_of("merchantSerial")?,
                platform: SigningKey::from_pem(&text_of("platformKey")?)?,
                platform_serial: text_of("platformSerial")?,
                apiv3_key: text_of("apiv3Key")?,
            });
        }
        let keys = Self::generate();
        std::fs::create_dir_all(dir)?;
        let saved = json!({
            "mchid": keys.mchid, "merchantKey": keys.merchant.private_pem(), "merchantSerial": keys.merchant_serial,
            "platformKey": keys.platform.private_pem(), "platformSerial": keys.platform_serial, "apiv3Key": keys.apiv3_key,
        });
        std::fs::write(&file, serde_json::to_string_pretty(&saved)?)?;
        Ok(keys)
    }

    /// The merchant-side settings the shop's functions need to talk to this sandbox.
    pub fn settings(&self) -> HashMap<String, String> {
        HashMap::from([
            ("WECHATPAY_MCHID".to_string(), self.mchid.clone()),
            (
                "WECHATPAY_MERCHANT_SERIAL".to_string(),
                self.merchant_serial.clone(),
            ),
            (
                "WECHATPAY_PRIVATE_KEY".to_string(),
                self.merchant.private_pem(),
            ),
            (
                "WECHATPAY_PUBLIC_KEY".to_string(),
                self.platform.public_pem(),
            ),
            (
                "WECHATPAY_PUBLIC_KEY_ID".to_string(),
                self.platform_serial.clone(),
            ),
            ("WECHATPAY_APIV3_KEY".to_string(), self.apiv3_key.clone()),
        ])
    }
}

#[derive(Debug, Clone)]
struct Txn {
    appid: String,
    body_hash: String,
    prepay_id: String,
    total: u64,
    openid: String,
    notify_url: String,
    state: &'static str,
    transaction_id: Option<String>,
    success_time: Option<String>,
}

pub struct WeChatPaySandbox {
    mchid: String,
    merchant_serial: String,
    merchant_public: VerifyingKey,
    platform: SigningKey,
    platform_serial: String,
    apiv3: ApiV3Key,
    http: reqwest::Client,
    txns: Mutex<HashMap<String, Txn>>,
    refunds: Mutex<HashMap<String, Value>>,
    /// While set, every API call answers 500 SYSTEM_ERROR, like an outage.
    down: std::sync::atomic::AtomicBool,
}

/// A notification as WeChat Pay would post it: headers and the exact body.
#[derive(Debug, Clone)]
pub struct SignedNotification {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn error(status: u16, code: &str, message: &str) -> Outgoing {
    Outgoing::json(status, &json!({"code": code, "message": message}))
}

impl WeChatPaySandbox {
    pub fn new(keys: &WeChatPayKeys) -> Self {
        Self {
            mchid: keys.mchid.clone(),
            merchant_serial: keys.merchant_serial.clone(),
            merchant_public: keys.merchant.verifying_key(),
            platform: SigningKey::from_pem(&keys.platform.private_pem()).expect("own key"),
            platform_serial: keys.platform_serial.clone(),
            apiv3: ApiV3Key::new(SecretString::from(keys.apiv3_key.clone())),
            http: reqwest::Client::new(),
            txns: Mutex::new(HashMap::new()),
            refunds: Mutex::new(HashMap::new()),
            down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn txns(&self) -> std::sync::MutexGuard<'_, HashMap<String, Txn>> {
        self.txns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signature headers over `TIMESTAMP\nNONCE\nBODY\n`, as on every WeChat Pay answer.
    pub fn signature_headers(
        &self,
        body: &str,
        timestamp: i64,
        serial: &str,
    ) -> Vec<(String, String)> {
        let nonce = domain::ids::random_token(32);
        let signature = self
            .platform
            .sign_base64(format!("{timestamp}\n{nonce}\n{body}\n").as_bytes());
        vec![
            ("wechatpay-timestamp".into(), timestamp.to_string()),
            ("wechatpay-nonce".into(), nonce),
            ("wechatpay-signature".into(), signature),
            ("wechatpay-serial".into(), serial.to_string()),
            (
                "wechatpay-signature-type".into(),
                "WECHATPAY2-SHA256-RSA2048".into(),
            ),
        ]
    }

    fn signed(&self, status: u16, body: &Value) -> Outgoing {
        let text = body.to_string();
        let mut out = Outgoing::json(status, body);
        out.headers.extend(self.signature_headers(
            &text,
            domain::clock::now_epoch_seconds(),
            &self.platform_serial,
        ));
        out
    }

    /// Checks our `Authorization` header: scheme, mchid, serial, freshness and signature.
    fn authorized(&self, req: &Incoming) -> bool {
        let Some(header) = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some(params) = header.strip_prefix("WECHATPAY2-SHA256-RSA2048 ") else {
            return false;
        };
        let fields: HashMap<&str, &str> = params
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let (Some(ts), Some(nonce), Some(signature)) = (
            fields.get("timestamp"),
            fields.get("nonce_str"),
            fields.get("signature"),
        ) else {
            return false;
        };
        let fresh = ts.parse::<i64>().is_ok_and(|t| {
            (domain::clock::now_epoch_seconds() - t).abs() <= MAX_CLOCK_SKEW_SECONDS
        });
        let path = if req.query.is_empty() {
            req.path.clone()
        } else {
            format!("{}?{}", req.path, req.query)
        };
        let message = format!(
            "{}\n{path}\n{ts}\n{nonce}\n{}\n",
            req.method,
            String::from_utf8_lossy(&req.body)
        );
        fields.get("mchid") == Some(&self.mchid.as_str())
            && fields.get("serial_no") == Some(&self.merchant_serial.as_str())
            && fresh
            && self
                .merchant_public
                .verify_base64(message.as_bytes(), signature)
    }

    fn prepay(&self, req: &Incoming) -> Outgoing {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "PARAM_ERROR", "body is not JSON");
        };
        let out_trade_no = body["out_trade_no"].as_str().unwrap_or("");
        let valid_no = (6..=32).contains(&out_trade_no.len())
            && out_trade_no
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
        let total = body["amount"]["total"].as_u64().unwrap_or(0);
        let checks = [
            (
                body["mchid"] == self.mchid.as_str(),
                "mchid does not match the signer",
            ),
            (valid_no, "out_trade_no must be 6-32 of [0-9A-Za-z_-|*]"),
            (
                total > 0 && body["amount"]["currency"] == "CNY",
                "amount.total must be > 0 fen in CNY",
            ),
            (
                body["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty() && d.chars().count() <= 127),
                "description is 1-127 characters",
            ),
            (
                body["payer"]["openid"]
                    .as_str()
                    .is_some_and(|o| !o.is_empty()),
                "payer.openid is required",
            ),
            (
                body["notify_url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("http") && !u.contains('?')),
                "notify_url must be a URL without a query",
            ),
            (
                body["time_expire"].as_str().is_some_and(|t| {
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .is_ok()
                }),
                "time_expire must be RFC 3339",
            ),
        ];
        if let Some((_, problem)) = checks.iter().find(|(ok, _)| !ok) {
            return error(400, "PARAM_ERROR", problem);
        }
        let hash = hex_sha256(&req.body);
        let mut txns = self.txns();
        if let Some(existing) = txns.get(out_trade_no) {
            if existing.body_hash != hash {
                return error(
                    400,
                    "INVALID_REQUEST",
                    "out_trade_no was used with different parameters",
                );
            }
            return self.signed(200, &json!({"prepay_id": existing.prepay_id}));
        }
        let prepay_id = format!("wx{}", domain::ids::random_token(30));
        txns.insert(
            out_trade_no.to_string(),
            Txn {
                appid: body["appid"].as_str().unwrap_or("").to_string(),
                body_hash: hash,
                prepay_id: prepay_id.clone(),
                total,
                openid: body["payer"]["openid"].as_str().unwrap_or("").to_string(),
                notify_url: body["notify_url"].as_str().unwrap_or("").to_string(),
                state: "NOTPAY",
                transaction_id: None,
                success_time: None,
            },
        );
        drop(txns);
        self.signed(200, &json!({"prepay_id": prepay_id}))
    }

    fn transaction_json(&self, out_trade_no: &str, t: &Txn) -> Value {
        let mut v = json!({
            "appid": t.appid, "mchid": self.mchid, "out_trade_no": out_trade_no, "trade_type": "JSAPI",
            "trade_state": t.state, "trade_state_desc": t.state, "attach": "",
            "payer": {"openid": t.openid},
            "amount": {"total": t.total, "payer_total": t.total, "currency": "CNY", "payer_currency": "CNY"},
        });
        if let Some(id) = &t.transaction_id {
            v["transaction_id"] = json!(id);
            v["bank_type"] = json!("OTHERS");
        }
        if let Some(at) = &t.success_time {
            v["success_time"] = json!(at);
        }
        v
    }

    fn query(&self, out_trade_no: &str, query: &str) -> Outgoing {
        if !form_pairs(query)
            .iter()
            .any(|(k, v)| k == "mchid" && v == &self.mchid)
        {
            return error(400, "PARAM_ERROR", "mchid is required");
        }
        match self.txns().get(out_trade_no) {
            Some(t) => self.signed(200, &self.transaction_json(out_trade_no, t)),
            None => error(404, "ORDER_NOT_EXIST", "订单不存在"),
        }
    }

    fn close(&self, out_trade_no: &str) -> Outgoing {
        let mut txns = self.txns();
        match txns.get_mut(out_trade_no) {
            None => error(404, "ORDER_NOT_EXIST", "订单不存在"),
            Some(t) if t.state == "SUCCESS" || t.state == "REFUND" => {
                error(400, "ORDERPAID", "订单已支付")
            }
            Some(t) => {
                t.state = "CLOSED";
                Outgoing {
                    status: 204,
                    headers: Vec::new(),
                    body: Vec::new(),
                }
            }
        }
    }

    fn refund(&self, req: &Incoming) -> Outgoing {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return error(400, "PARAM_ERROR", "body is not JSON");
        };
        let out_trade_no = body["out_trade_no"].as_str().unwrap_or("").to_string();
        let out_refund_no = body["out_refund_no"].as_str().unwrap_or("").to_string();
        let refund = body["amount"]["refund"].as_u64().unwrap_or(0);
        let Some(total) = self
            .txns()
            .get(&out_trade_no)
            .filter(|t| t.transaction_id.is_some())
            .map(|t| t.total)
        else {
            return error(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付");
        };
        if out_refund_no.is_empty()
            || refund == 0
            || refund > total
            || body["amount"]["total"].as_u64() != Some(total)
        {
            return error(
                400,
                "PARAM_ERROR",
                "refund amount must be 1..total and total must match",
            );
        }
        let mut refunds = self
            .refunds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let answer = refunds
            .entry(out_refund_no.clone())
            .or_insert_with(|| {
                json!({
                    "refund_id": format!("50{}", digits(&out_refund_no, 28)), "out_refund_no": out_refund_no, "out_trade_no": out_trade_no,
                    "status": "PROCESSING", "amount": {"refund": refund, "total": total, "currency": "CNY"},
                })
            })
            .clone();
        drop(refunds);
        if refund == total
            && let Some(t) = self.txns().get_mut(&out_trade_no)
        {
            t.state = "REFUND";
        }
        self.signed(200, &answer)
    }

    /// Simulates (or ends) a WeChat Pay outage.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Refunds requested so far, by out_refund_no.
    pub fn refunds(&self) -> HashMap<String, Value> {
        self.refunds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The shopper pays: the order becomes SUCCESS here. Returns the transaction id.
    pub fn mark_paid(&self, out_trade_no: &str) -> Option<String> {
        let mut txns = self.txns();
        let t = txns.get_mut(out_trade_no)?;
        if t.transaction_id.is_none() {
            t.state = "SUCCESS";
            t.transaction_id = Some(format!("4200{}", digits(out_trade_no, 24)));
            t.success_time = Some(domain::clock::rfc3339_shanghai(
                domain::clock::now_epoch_seconds(),
            ));
        }
        t.transaction_id.clone()
    }

    /// The TRANSACTION.SUCCESS notification for a paid order, correctly signed and encrypted.
    /// `edit` may change the plain transaction first (tests forge amounts or merchants with it).
    pub fn notification(
        &self,
        out_trade_no: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Option<SignedNotification> {
        let mut plain = {
            let txns = self.txns();
            let t = txns.get(out_trade_no)?;
            self.transaction_json(out_trade_no, t)
        };
        edit(&mut plain);
        self.signed_notification("TRANSACTION.SUCCESS", "支付成功", "transaction", &plain)
    }

    /// A notification envelope around `plain`, encrypted with the APIv3 key and signed with the
    /// platform key, as WeChat Pay sends every event.
    fn signed_notification(
        &self,
        event_type: &str,
        summary: &str,
        original_type: &str,
        plain: &Value,
    ) -> Option<SignedNotification> {
        let nonce = domain::ids::random_token(12);
        let ciphertext = self
            .apiv3
            .encrypt(&nonce, original_type, plain.to_string().as_bytes())
            .ok()?;
        let now = domain::clock::now_epoch_seconds();
        let body = json!({
            "id": format!("EV-{}", domain::ids::random_token(20)),
            "create_time": domain::clock::rfc3339_shanghai(now),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "associated_data": original_type, "nonce": nonce},
        })
        .to_string();
        let headers = self.signature_headers(&body, now, &self.platform_serial);
        Some(SignedNotification { headers, body })
    }

    /// The `REFUND.<status>` notification for a refund asked of the sandbox, signed and
    /// encrypted like WeChat Pay's; `edit` may change the plain refund first.
    pub fn refund_notification(
        &self,
        out_refund_no: &str,
        status: &str,
        edit: impl FnOnce(&mut Value),
    ) -> Option<SignedNotification> {
        let refund = self.refunds().get(out_refund_no)?.clone();
        let mut plain = json!({
            "mchid": self.mchid,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": format!("4200{}", digits(refund["out_trade_no"].as_str().unwrap_or(""), 24)),
            "out_refund_no": out_refund_no,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "success_time": domain::clock::rfc3339_shanghai(domain::clock::now_epoch_seconds()),
            "user_received_account": "支付用户零钱",
            "amount": {"total": refund["amount"]["total"], "refund": refund["amount"]["refund"], "payer_total": refund["amount"]["total"], "payer_refund": refund["amount"]["refund"]},
        });
        edit(&mut plain);
        self.signed_notification(
            &format!("REFUND.{status}"),
            "退款状态变更",
            "refund",
            &plain,
        )
    }

    /// Where WeChat Pay would post this order's notifications.
    pub fn notify_url(&self, out_trade_no: &str) -> Option<String> {
        self.txns().get(out_trade_no).map(|t| t.notify_url.clone())
    }

    /// Posts a notification the way WeChat Pay does; returns the webhook's status.
    pub async fn deliver(
        &self,
        url: &str,
        notification: &SignedNotification,
    ) -> anyhow::Result<u16> {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(notification.body.clone());
        for (k, v) in &notification.headers {
            request = request.header(k, v);
        }
        Ok(request.send().await?.status().as_u16())
    }

    async fn pay_control(&self, req: &Incoming) -> Outgoing {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let Some(out_trade_no) = body["outTradeNo"].as_str() else {
            return error(400, "PARAM_ERROR", "outTradeNo is required");
        };
        let Some(transaction_id) = self.mark_paid(out_trade_no) else {
            return error(404, "ORDER_NOT_EXIST", "no prepay for this order");
        };
        let mut answer = json!({"outTradeNo": out_trade_no, "transactionId": transaction_id, "tradeState": "SUCCESS"});
        if body["notify"].as_bool().unwrap_or(true) {
            let (Some(url), Some(notification)) = (
                self.notify_url(out_trade_no),
                self.notification(out_trade_no, |_| {}),
            ) else {
                return error(500, "SYSTEM_ERROR", "cannot build the notification");
            };
            answer["notifyStatus"] = match self.deliver(&url, &notification).await {
                Ok(status) => json!(status),
                Err(e) => json!(format!("not delivered: {e}")),
            };
        }
        Outgoing::json(200, &answer)
    }

    /// `POST /__sandbox/wechatpay/refund-notify {outRefundNo, status?}`: WeChat Pay finishing a
    /// refund (SUCCESS by default, or ABNORMAL, CLOSED) and notifying the merchant.
    async fn refund_control(&self, req: &Incoming) -> Outgoing {
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let Some(out_refund_no) = body["outRefundNo"].as_str() else {
            return error(400, "PARAM_ERROR", "outRefundNo is required");
        };
        let status = body["status"].as_str().unwrap_or("SUCCESS");
        if !matches!(status, "SUCCESS" | "ABNORMAL" | "CLOSED") {
            return error(400, "PARAM_ERROR", "status is SUCCESS, ABNORMAL or CLOSED");
        }
        let Some(refund) = self.refunds().get(out_refund_no).cloned() else {
            return error(404, "RESOURCE_NOT_EXISTS", "no such refund");
        };
        let out_trade_no = refund["out_trade_no"].as_str().unwrap_or("").to_string();
        let (Some(url), Some(notification)) = (
            self.notify_url(&out_trade_no),
            self.refund_notification(out_refund_no, status, |_| {}),
        ) else {
            return error(500, "SYSTEM_ERROR", "cannot build the notification");
        };
        let delivered = match self.deliver(&url, &notification).await {
            Ok(code) => json!(code),
            Err(e) => json!(format!("not delivered: {e}")),
        };
        Outgoing::json(
            200,
            &json!({"outRefundNo": out_refund_no, "status": status, "notifyStatus": delivered}),
        )
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A stable string of digits derived from `seed`.
fn digits(seed: &str, len: usize) -> String {
    let hash = Sha256::digest(seed.as_bytes());
    hash.iter()
        .cycle()
        .take(len)
        .map(|b| char::from(b'0' + b % 10))
        .collect()
}

#[async_trait::async_trait]
impl Serve for WeChatPaySandbox {
    async fn serve(&self, req: Incoming) -> Outgoing {
        if req.path == "/__sandbox/wechatpay/pay" && req.method == http::Method::POST {
            return self.pay_control(&req).await;
        }
        if req.path == "/__sandbox/wechatpay/refund-notify" && req.method == http::Method::POST {
            return self.refund_control(&req).await;
        }
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return error(500, "SYSTEM_ERROR", "系统错误");
        }
        if !self.authorized(&req) {
            return error(401, "SIGN_ERROR", "签名错误");
        }
        let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        match (req.method.as_str(), segments.as_slice()) {
            ("POST", ["v3", "pay", "transactions", "jsapi"]) => self.prepay(&req),
            ("GET", ["v3", "pay", "transactions", "out-trade-no", no]) => {
                self.query(no, &req.query)
            }
            ("POST", ["v3", "pay", "transactions", "out-trade-no", no, "close"]) => self.close(no),
            ("POST", ["v3", "refund", "domestic", "refunds"]) => self.refund(&req),
            _ => error(404, "NOT_FOUND", "not in the WeChat Pay sandbox"),
        }
    }
}

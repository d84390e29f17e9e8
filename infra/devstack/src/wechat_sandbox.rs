//! A local stand-in for WeChat's server API, speaking its URLs, JSON and errcodes, so login and
//! phone binding run offline through the real client code (`WECHAT_API_BASE` points here).
//!
//! Codes a developer or test can send as the wx.login() code:
//! - `<name>` or `<name>.<anything>`: a shopper called `<name>`; each code works once (reuse: 40163)
//! - `invalid…`: 40029; `ratelimited…`: 45011; `highrisk…`: 40226
//! - `busy…`: errcode -1 the first time (WeChat busy), then success
//!
//! Phone codes: `phone-<11 digits>` (or `phone-<11 digits>.<n>`, another code for the same
//! number) gives that number; any other code a fixed one per code.
//!
//! Shipping information: `upload_shipping_info`, `notify_confirm_receive` and `get_order`,
//! checked as WeChat does; `POST /__sandbox/wechat/confirm-receipt {"transactionId"}` plays the
//! shopper confirming receipt in WeChat's component.
//!
//! The message push: [`WeChatSandbox::push`] (and `POST /__sandbox/wechat/push` with
//! `{"message": {...}}`) encrypts and signs a message with the shop's Token and EncodingAESKey,
//! as WeChat does in safe mode, and posts it to the shop's `/v1/wechat/events`. A pushed event
//! names its shopper by openid: `GET /__sandbox/wechat/openid?name=<name>` tells which.
//!
//! Content security: `msg_sec_check` finds text `risky` when it holds one of [`RISKY_WORDS`]
//! (label by word) and `review` when it holds `人工复核`; `media_check_async` answers a trace
//! id and holds the photo until [`WeChatSandbox::release_media_checks`] (`make dev` releases
//! every second; `POST /__sandbox/wechat/media-checks/release` too), which fetches each photo
//! from its URL as WeChat does and pushes `wxa_media_check`: `risky` (20002) for a file
//! holding the bytes `RISKY`, `review` for `REVIEW`, `pass` otherwise.

use crate::server::{Incoming, Outgoing, Serve, form_pairs};
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;

const TOKEN_SECONDS: i64 = 7200;

pub struct WeChatSandbox {
    appid: String,
    secret: String,
    state: Mutex<State>,
    push: Option<PushTarget>,
}

/// Where and how the sandbox pushes messages: the shop's URL and the keys both sides share.
struct PushTarget {
    keys: providers::wechat_push::PushKeys,
    url: String,
    http: reqwest::Client,
}

/// A message sealed as WeChat posts it: the query string and the JSON body.
#[derive(Debug, Clone)]
pub struct SealedPush {
    pub query: String,
    pub body: String,
    pub encrypted: String,
}

/// What the shop answered a push.
#[derive(Debug, Clone)]
pub struct PushAnswer {
    pub status: u16,
    pub body: String,
}

#[derive(Default)]
struct State {
    used_login_codes: HashSet<String>,
    busy_seen: HashSet<String>,
    used_phone_codes: HashSet<String>,
    token: Option<(String, i64)>,
    stable_token_calls: u64,
    code2session_calls: u64,
    subscribe_messages: Vec<Value>,
    /// Payments whose next shipping upload is answered 10060001.
    not_indexed: HashSet<String>,
    /// Accepted shipping uploads: (payment, body).
    shipping_uploads: Vec<(String, Value)>,
    receipt_confirmations: Vec<Value>,
    /// Payments whose receipt the shopper confirmed in WeChat's component.
    receipts_confirmed: HashSet<String>,
    paths: std::collections::BTreeMap<&'static str, String>,
    /// Photos sent to `media_check_async` whose verdict is not pushed yet.
    media_checks: Vec<MediaCheck>,
    /// Texts checked, in order.
    text_checks: Vec<Value>,
}

#[derive(Debug, Clone)]
struct MediaCheck {
    trace_id: String,
    media_url: String,
    openid: String,
}

/// Words the sandbox's text check finds risky, with WeChat's label for each.
pub const RISKY_WORDS: &[(&str, i64)] = &[("代开发票", 10001), ("赌博", 20006), ("傻瓜", 20003)];

fn err(code: i64, msg: &str) -> Outgoing {
    Outgoing::json(200, &json!({"errcode": code, "errmsg": msg}))
}

/// The openid WeChat would give the shopper `name` in this app.
pub fn openid_for(appid: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{appid}/{name}").as_bytes());
    format!(
        "o{}",
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)[..27]
    )
}

impl WeChatSandbox {
    pub fn new(appid: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            appid: appid.into(),
            secret: secret.into(),
            state: Mutex::new(State::default()),
            push: None,
        }
    }

    /// Pushes messages to `url` (the shop's `/v1/wechat/events`) with the console's Token and
    /// EncodingAESKey.
    pub fn pushing_to(
        mut self,
        url: impl Into<String>,
        token: &str,
        encoding_aes_key: &str,
    ) -> anyhow::Result<Self> {
        let keys = providers::wechat_push::PushKeys::new(
            token.to_string().into(),
            encoding_aes_key,
            self.appid.clone(),
        )?;
        self.push = Some(PushTarget {
            keys,
            url: url.into(),
            http: reqwest::Client::new(),
        });
        Ok(self)
    }

    /// `message` encrypted and signed at `timestamp`, as WeChat would post it.
    pub fn seal(&self, message: &Value, timestamp: i64) -> anyhow::Result<SealedPush> {
        let target = self
            .push
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the sandbox was not given the push keys"))?;
        let nonce = domain::ids::random_token(10);
        let timestamp = timestamp.to_string();
        let (encrypted, signature) =
            target
                .keys
                .seal(&message.to_string(), &timestamp, &nonce, rand::random());
        Ok(SealedPush {
            query: format!(
                "signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=o_sandbox&encrypt_type=aes&msg_signature={signature}"
            ),
            body: json!({"ToUserName": "gh_sandbox", "Encrypt": encrypted}).to_string(),
            encrypted,
        })
    }

    /// Posts a sealed push to the shop as WeChat does.
    pub async fn deliver(&self, sealed: &SealedPush) -> anyhow::Result<PushAnswer> {
        let target = self
            .push
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the sandbox was not given the push keys"))?;
        let answer = target
            .http
            .post(format!("{}?{}", target.url, sealed.query))
            .header("content-type", "application/json")
            .body(sealed.body.clone())
            .send()
            .await?;
        Ok(PushAnswer {
            status: answer.status().as_u16(),
            body: answer.text().await?,
        })
    }

    /// Encrypts, signs and posts `message` now, as WeChat's message push does.
    pub async fn push(&self, message: &Value) -> anyhow::Result<PushAnswer> {
        let sealed = self.seal(message, domain::clock::now_epoch_seconds())?;
        self.deliver(&sealed).await
    }

    /// `msg_sec_check` version 2: a valid token, an openid, a known scene, at most 2500
    /// characters; the verdict by [`RISKY_WORDS`].
    fn msg_sec_check(&self, query: &str, body: &[u8]) -> Outgoing {
        if let Some(refused) = self.token_error(query) {
            return refused;
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return err(47001, "data format error");
        };
        let content = body["content"].as_str().unwrap_or("");
        let well_formed = body["version"] == 2
            && body["scene"].as_i64().is_some_and(|s| (1..=4).contains(&s))
            && body["openid"].as_str().is_some_and(|o| !o.is_empty())
            && !content.is_empty()
            && content.chars().count() <= 2500;
        if !well_formed {
            return err(47001, "data format error");
        }
        let (suggest, label) = match RISKY_WORDS.iter().find(|(w, _)| content.contains(w)) {
            Some((_, label)) => ("risky", *label),
            None if content.contains("人工复核") => ("review", 21000),
            None => ("pass", 100),
        };
        self.state().text_checks.push(body.clone());
        json_ok(json!({
            "trace_id": format!("text-{}", domain::ids::random_token(12)),
            "result": {"suggest": suggest, "label": label},
            "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
        }))
    }

    /// `media_check_async` version 2: a trace id now, the verdict pushed on release.
    fn media_check_async(&self, query: &str, body: &[u8]) -> Outgoing {
        if let Some(refused) = self.token_error(query) {
            return refused;
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return err(47001, "data format error");
        };
        let (Some(url), Some(openid)) = (body["media_url"].as_str(), body["openid"].as_str())
        else {
            return err(47001, "data format error");
        };
        if body["version"] != 2 || body["media_type"] != 2 || !url.starts_with("http") {
            return err(47001, "data format error");
        }
        let trace_id = format!("media-{}", domain::ids::random_token(16));
        self.state().media_checks.push(MediaCheck {
            trace_id: trace_id.clone(),
            media_url: url.to_string(),
            openid: openid.to_string(),
        });
        json_ok(json!({ "trace_id": trace_id }))
    }

    /// Texts checked so far, as sent.
    pub fn text_checks(&self) -> Vec<Value> {
        self.state().text_checks.clone()
    }

    /// How many photos wait for their verdict.
    pub fn media_checks_waiting(&self) -> usize {
        self.state().media_checks.len()
    }

    /// Judges every photo waiting (fetched from its URL, as WeChat does) and pushes each
    /// verdict to the shop; answers the pushes made as (trace id, suggest, the shop's status).
    pub async fn release_media_checks(&self) -> anyhow::Result<Vec<(String, String, u16)>> {
        let waiting = std::mem::take(&mut self.state().media_checks);
        let http = reqwest::Client::new();
        let mut pushed = Vec::with_capacity(waiting.len());
        for check in waiting {
            let fetched = match http.get(&check.media_url).send().await {
                Ok(answer) if answer.status().is_success() => answer.bytes().await.ok(),
                _ => None,
            };
            let contains =
                |bytes: &[u8], marker: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
            let (errcode, suggest, label) = match &fetched {
                None => (-1008, "review", 0),
                Some(bytes) if contains(bytes, b"RISKY") => (0, "risky", 20002),
                Some(bytes) if contains(bytes, b"REVIEW") => (0, "review", 21000),
                Some(_) => (0, "pass", 100),
            };
            let message = json!({
                "ToUserName": "gh_sandbox",
                "FromUserName": check.openid,
                "CreateTime": domain::clock::now_epoch_seconds(),
                "MsgType": "event",
                "Event": "wxa_media_check",
                "appid": self.appid,
                "trace_id": check.trace_id,
                "version": 2,
                "errcode": errcode,
                "errmsg": if errcode == 0 { "ok" } else { "media download failed" },
                "result": {"suggest": suggest, "label": label},
                "detail": [{"strategy": "content_model", "errcode": errcode, "suggest": suggest, "label": label, "prob": 90}],
            });
            let answer = self.push(&message).await?;
            pushed.push((check.trace_id, suggest.to_string(), answer.status));
        }
        Ok(pushed)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn credentials_error(&self, appid: Option<&str>, secret: Option<&str>) -> Option<Outgoing> {
        if appid != Some(self.appid.as_str()) {
            return Some(err(40013, "invalid appid"));
        }
        if secret != Some(self.secret.as_str()) {
            return Some(err(40125, "invalid appsecret"));
        }
        None
    }

    fn code2session(&self, query: &str) -> Outgoing {
        let params: std::collections::HashMap<String, String> =
            form_pairs(query).into_iter().collect();
        if let Some(e) = self.credentials_error(
            params.get("appid").map(String::as_str),
            params.get("secret").map(String::as_str),
        ) {
            return e;
        }
        if params.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return err(40002, "invalid grant_type");
        }
        let code = params.get("js_code").cloned().unwrap_or_default();
        let mut state = self.state();
        state.code2session_calls += 1;
        if code.is_empty() || code.starts_with("invalid") {
            return err(40029, "invalid code");
        }
        if code.starts_with("ratelimited") {
            return err(
                45011,
                "api minute-quota reach limit  mustslower  retry next minute",
            );
        }
        if code.starts_with("highrisk") {
            return err(40226, "invalid user, high risk");
        }
        if code.starts_with("busy") && state.busy_seen.insert(code.clone()) {
            return err(-1, "system error");
        }
        if !state.used_login_codes.insert(code.clone()) {
            return err(40163, "code been used");
        }
        let name = code.split('.').next().unwrap_or(&code);
        json_ok(json!({
            "openid": openid_for(&self.appid, name),
            "session_key": base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>()),
        }))
    }

    /// Subscribe messages as WeChat takes them: a valid access_token and a body naming the shopper
    /// and the template. Kept for tests and `GET /__sandbox/stats`.
    /// 40001 unless the query carries the access_token the sandbox issued, unexpired.
    fn token_error(&self, query: &str) -> Option<Outgoing> {
        let token = form_pairs(query)
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v);
        let now = domain::clock::now_epoch_seconds();
        let valid = matches!((&self.state().token, &token), (Some((t, exp)), Some(given)) if t == given && *exp > now);
        (!valid).then(|| {
            err(
                40001,
                "invalid credential, access_token is invalid or not latest",
            )
        })
    }

    fn subscribe_send(&self, query: &str, body: &[u8]) -> Outgoing {
        if let Some(refused) = self.token_error(query) {
            return refused;
        }
        let mut state = self.state();
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return err(47001, "data format error");
        };
        if !body["touser"].is_string()
            || !body["template_id"].is_string()
            || !body["data"].is_object()
        {
            return err(47003, "argument invalid! data.thing2.value invalid");
        }
        state.subscribe_messages.push(body);
        json_ok(json!({}))
    }

    /// `upload_shipping_info` as WeChat checks it: a valid access_token; `order_key` by
    /// transaction_id or mchid + out_trade_no; `shipping_list` an array (47001 otherwise) of
    /// exactly one in unified mode (268485228); SF needs a contact; at most two uploads per
    /// payment. A transaction marked with [`WeChatSandbox::not_indexed_once`] first gets
    /// 10060001, as a payment WeChat has not indexed yet.
    fn upload_shipping_info(&self, query: &str, body: &[u8]) -> Outgoing {
        if let Some(refused) = self.token_error(query) {
            return refused;
        }
        let Ok(doc) = serde_json::from_slice::<Value>(body) else {
            return err(47001, "data format error");
        };
        let key = &doc["order_key"];
        let transaction = match key["order_number_type"].as_i64() {
            Some(2) => key["transaction_id"].as_str().map(str::to_string),
            Some(1) => match (key["mchid"].as_str(), key["out_trade_no"].as_str()) {
                (Some(m), Some(o)) => Some(format!("{m}/{o}")),
                _ => None,
            },
            _ => None,
        };
        let Some(transaction) = transaction.filter(|t| !t.is_empty()) else {
            return err(47001, "data format error: order_key");
        };
        let logistics_type = doc["logistics_type"].as_i64().unwrap_or(0);
        let mode = doc["delivery_mode"].as_i64().unwrap_or(0);
        if !(1..=4).contains(&logistics_type) || !(1..=2).contains(&mode) {
            return err(47001, "data format error: logistics_type or delivery_mode");
        }
        let Some(list) = doc["shipping_list"].as_array() else {
            return err(47001, "data format error: shipping_list must be an array");
        };
        if mode == 1 && list.len() != 1 {
            return err(
                268485228,
                "unified delivery mode needs exactly one shipping_list entry",
            );
        }
        for item in list {
            let desc = item["item_desc"].as_str().unwrap_or("");
            if desc.is_empty() || desc.chars().count() > 120 {
                return err(47001, "data format error: item_desc");
            }
            if logistics_type == 1 {
                let (Some(number), Some(company)) = (
                    item["tracking_no"].as_str(),
                    item["express_company"].as_str(),
                ) else {
                    return err(47001, "data format error: tracking_no and express_company");
                };
                if number.is_empty() || company.is_empty() {
                    return err(47001, "data format error: tracking_no and express_company");
                }
                let contact = &item["contact"];
                let given = contact["receiver_contact"]
                    .as_str()
                    .or(contact["consignor_contact"].as_str())
                    .filter(|c| !c.is_empty());
                if company == "SF" && given.is_none() {
                    return err(47001, "data format error: SF shipments need a contact");
                }
                if given.is_some_and(|c| {
                    let visible = c.chars().filter(char::is_ascii_digit).count();
                    visible > 4
                }) {
                    return err(47001, "data format error: contact must be masked");
                }
            }
        }
        let time_ok = doc["upload_time"].as_str().is_some_and(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
        });
        if !time_ok {
            return err(47001, "data format error: upload_time");
        }
        if doc["payer"]["openid"].as_str().is_none_or(str::is_empty) {
            return err(47001, "data format error: payer.openid");
        }
        let mut state = self.state();
        if state.not_indexed.remove(&transaction) {
            return err(10060001, "order not found: the payment is not indexed yet");
        }
        let uploads = state
            .shipping_uploads
            .iter()
            .filter(|(t, _)| *t == transaction)
            .count();
        if uploads >= 2 {
            return err(
                10060012,
                "shipping information can be uploaded again only once",
            );
        }
        state.shipping_uploads.push((transaction, doc));
        json_ok(json!({}))
    }

    /// `notify_confirm_receive`: a valid access_token, a payment whose shipping information was
    /// uploaded (10060001 otherwise), `received_time` in seconds. Kept for tests.
    fn notify_confirm_receive(&self, query: &str, body: &[u8]) -> Outgoing {
        if let Some(refused) = self.token_error(query) {
            return refused;
        }
        let Ok(doc) = serde_json::from_slice::<Value>(body) else {
            return err(47001, "data format error");
        };
        let transaction = doc["transaction_id"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                match (
                    doc["merchant_id"].as_str(),
                    doc["merchant_trade_no"].as_str(),
                ) {
                    (Some(m), Some(o)) => Some(format!("{m}/{o}")),
                    _ => None,
                }
            });
        let Some(transaction) = transaction else {
            return err(
                47001,
                "data format error: transaction_id or merchant_id + merchant_trade_no",
            );
        };
        let seconds = doc["received_time"]
            .as_i64()
            .filter(|t| (1_000_000_000..10_000_000_000).contains(t));
        if seconds.is_none() {
            return err(
                47001,
                "data format error: received_time must be Unix seconds",
            );
        }
        let mut state = self.state();
        if !state
            .shipping_uploads
            .iter()
            .any(|(t, _)| *t == transaction)
        {
            return err(
                10060001,
                "order not found: no shipping information for this payment",
            );
        }
        state.receipt_confirmations.push(doc);
        json_ok(json!({}))
    }

    /// `get_order`: 3 (receipt confirmed) once [`WeChatSandbox::confirm_receipt`] was called for
    /// the payment, 2 (shipped) once its shipping information was uploaded, 1 (to ship) before.
    fn get_order(&self, query: &str, body: &[u8]) -> Outgoing {
        if let Some(refused) = self.token_error(query) {
            return refused;
        }
        let transaction = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|doc| doc["transaction_id"].as_str().map(str::to_string));
        let Some(transaction) = transaction else {
            return err(47001, "data format error: transaction_id");
        };
        let state = self.state();
        let order_state = if state.receipts_confirmed.contains(&transaction) {
            3
        } else if state
            .shipping_uploads
            .iter()
            .any(|(t, _)| *t == transaction)
        {
            2
        } else {
            1
        };
        json_ok(json!({"order": {"transaction_id": transaction, "order_state": order_state}}))
    }

    /// `update_order_detail_path` (the path must carry `${商品订单号}`) and `set_msg_jump_path`:
    /// a valid access_token and a relative page path, kept for tests.
    fn set_path(&self, which: &'static str, query: &str, body: &[u8]) -> Outgoing {
        if let Some(refused) = self.token_error(query) {
            return refused;
        }
        let path = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|doc| doc["path"].as_str().map(str::to_string))
            .filter(|p| !p.is_empty() && !p.starts_with('/'));
        let Some(path) = path else {
            return err(47001, "data format error: path");
        };
        if which == "order_detail" && !path.contains("${商品订单号}") {
            return err(47001, "data format error: path must contain ${商品订单号}");
        }
        self.state().paths.insert(which, path);
        json_ok(json!({}))
    }

    /// The paths set so far: `order_detail`, `message_jump`.
    pub fn paths(&self) -> std::collections::BTreeMap<&'static str, String> {
        self.state().paths.clone()
    }

    /// The shopper confirms receipt in WeChat's component for this payment.
    pub fn confirm_receipt(&self, transaction_id: &str) {
        self.state()
            .receipts_confirmed
            .insert(transaction_id.to_string());
    }

    /// The `notify_confirm_receive` calls WeChat accepted, oldest first.
    pub fn receipt_confirmations(&self) -> Vec<Value> {
        self.state().receipt_confirmations.clone()
    }

    /// The next upload for this payment (`transaction_id`) gets 10060001, as when WeChat has
    /// not indexed a payment yet.
    pub fn not_indexed_once(&self, transaction_id: &str) {
        self.state().not_indexed.insert(transaction_id.to_string());
    }

    /// The shipping information uploads WeChat accepted, oldest first.
    pub fn shipping_uploads(&self) -> Vec<Value> {
        self.state()
            .shipping_uploads
            .iter()
            .map(|(_, doc)| doc.clone())
            .collect()
    }

    /// The subscribe messages sent so far, oldest first.
    pub fn subscribe_messages(&self) -> Vec<Value> {
        self.state().subscribe_messages.clone()
    }

    fn stable_token(&self, body: &[u8]) -> Outgoing {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return err(47001, "data format error");
        };
        if let Some(e) = self.credentials_error(body["appid"].as_str(), body["secret"].as_str()) {
            return e;
        }
        if body["grant_type"] != "client_credential" {
            return err(40002, "invalid grant_type");
        }
        let now = domain::clock::now_epoch_seconds();
        let mut state = self.state();
        state.stable_token_calls += 1;
        let force = body["force_refresh"].as_bool().unwrap_or(false);
        let token = match &state.token {
            Some((token, expires_at)) if !force && *expires_at > now => {
                (token.clone(), *expires_at)
            }
            _ => (
                format!("sandbox_at_{}", domain::ids::random_token(40)),
                now + TOKEN_SECONDS,
            ),
        };
        state.token = Some(token.clone());
        json_ok(json!({"access_token": token.0, "expires_in": token.1 - now}))
    }

    fn phone_number(&self, query: &str, body: &[u8]) -> Outgoing {
        let params: std::collections::HashMap<String, String> =
            form_pairs(query).into_iter().collect();
        let now = domain::clock::now_epoch_seconds();
        let mut state = self.state();
        let valid_token = matches!(&state.token, Some((t, exp)) if Some(t) == params.get("access_token") && *exp > now);
        if !valid_token {
            return err(
                40001,
                "invalid credential, access_token is invalid or not latest",
            );
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return err(47001, "data format error");
        };
        let code = body["code"].as_str().unwrap_or("").to_string();
        if code.is_empty()
            || code.starts_with("invalid")
            || !state.used_phone_codes.insert(code.clone())
        {
            return err(40029, "invalid code");
        }
        // `.n` after the digits makes another one-time code for the same number.
        let pure = match code
            .strip_prefix("phone-")
            .map(|rest| rest.split_once('.').map_or(rest, |(digits, _)| digits))
        {
            Some(digits) if digits.len() == 11 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.to_string()
            }
            _ => {
                let d = Sha256::digest(code.as_bytes());
                format!(
                    "139{:08}",
                    u64::from_be_bytes(d[..8].try_into().unwrap_or_default()) % 100_000_000
                )
            }
        };
        json_ok(json!({
            "phone_info": {
                "phoneNumber": pure,
                "purePhoneNumber": pure,
                "countryCode": 86,
                "watermark": {"timestamp": now, "appid": self.appid}
            }
        }))
    }

    /// How often each API was called, for tests of caching.
    pub fn stable_token_calls(&self) -> u64 {
        self.state().stable_token_calls
    }

    /// WeChat replaced the token (another server force-refreshed): the cached one stops working.
    pub fn revoke_access_token(&self) {
        self.state().token = None;
    }
}

fn json_ok(mut value: Value) -> Outgoing {
    value["errcode"] = json!(0);
    value["errmsg"] = json!("ok");
    Outgoing::json(200, &value)
}

#[async_trait::async_trait]
impl Serve for WeChatSandbox {
    async fn serve(&self, req: Incoming) -> Outgoing {
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/sns/jscode2session") => self.code2session(&req.query),
            ("POST", "/cgi-bin/stable_token") => self.stable_token(&req.body),
            ("POST", "/wxa/business/getuserphonenumber") => {
                self.phone_number(&req.query, &req.body)
            }
            ("POST", "/cgi-bin/message/subscribe/send") => {
                self.subscribe_send(&req.query, &req.body)
            }
            ("POST", "/wxa/sec/order/upload_shipping_info") => {
                self.upload_shipping_info(&req.query, &req.body)
            }
            ("POST", "/wxa/sec/order/get_order") => self.get_order(&req.query, &req.body),
            ("POST", "/wxa/msg_sec_check") => self.msg_sec_check(&req.query, &req.body),
            ("POST", "/wxa/media_check_async") => self.media_check_async(&req.query, &req.body),
            ("POST", "/__sandbox/wechat/media-checks/release") => {
                match self.release_media_checks().await {
                    Ok(pushed) => Outgoing::json(
                        200,
                        &json!({"pushed": pushed.iter().map(|(t, s, status)| json!({"traceId": t, "suggest": s, "shopStatus": status})).collect::<Vec<_>>()}),
                    ),
                    Err(e) => Outgoing::json(502, &json!({"error": e.to_string()})),
                }
            }
            ("POST", "/wxa/sec/order/update_order_detail_path") => {
                self.set_path("order_detail", &req.query, &req.body)
            }
            ("POST", "/wxa/sec/order/set_msg_jump_path") => {
                self.set_path("message_jump", &req.query, &req.body)
            }
            ("POST", "/__sandbox/wechat/confirm-receipt") => {
                let transaction = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v["transactionId"].as_str().map(str::to_string));
                match transaction {
                    Some(t) => {
                        self.confirm_receipt(&t);
                        Outgoing::json(200, &json!({"confirmed": t}))
                    }
                    None => {
                        Outgoing::json(400, &json!({"error": "send {\"transactionId\": \"...\"}"}))
                    }
                }
            }
            ("POST", "/wxa/sec/order/notify_confirm_receive") => {
                self.notify_confirm_receive(&req.query, &req.body)
            }
            ("GET", "/__sandbox/wechat/openid") => {
                match form_pairs(&req.query)
                    .into_iter()
                    .find(|(k, _)| k == "name")
                {
                    Some((_, name)) if !name.is_empty() => {
                        Outgoing::json(200, &json!({"openid": openid_for(&self.appid, &name)}))
                    }
                    _ => Outgoing::json(400, &json!({"error": "send ?name=<shopper name>"})),
                }
            }
            ("GET", "/__sandbox/wechat/shipping-uploads") => {
                Outgoing::json(200, &json!({"uploads": self.shipping_uploads()}))
            }
            ("POST", "/__sandbox/wechat/push") => {
                let message = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|v| v.get("message").cloned());
                let Some(message) = message else {
                    return Outgoing::json(400, &json!({"error": "send {\"message\": {...}}"}));
                };
                match self.push(&message).await {
                    Ok(answer) => Outgoing::json(
                        200,
                        &json!({"shopStatus": answer.status, "shopAnswer": answer.body}),
                    ),
                    Err(e) => Outgoing::json(502, &json!({"error": e.to_string()})),
                }
            }
            ("GET", "/__sandbox/stats") => {
                let s = self.state();
                Outgoing::json(
                    200,
                    &json!({"stableTokenCalls": s.stable_token_calls, "code2sessionCalls": s.code2session_calls}),
                )
            }
            _ => Outgoing::json(
                404,
                &json!({"errcode": 404, "errmsg": "not found in the WeChat sandbox"}),
            ),
        }
    }
}

//! Alipay as the local shop sees it: its OpenAPI gateway (`POST /gateway.do`: oauth token,
//! trade create, query, close, refund) checking our app's RSA2 signature and signing its answers
//! with its own key made on the spot (the stack's `ALIPAY_PUBLIC_KEY`), and asynchronous
//! notifications signed the same way (RSA2 over the sorted parameters, `sign` and `sign_type`
//! left out).
//!
//! Login codes: `<name>` or `<name>.<n>` is the shopper `<name>` (each code once); `invalid…` is
//! refused as Alipay refuses a bad code. Control route: `POST /__sandbox/alipay/pay
//! {"outTradeNo": "..."}` pays a trade and posts the signed notification to its `notify_url`.

use crate::server::{Incoming, Outgoing, Serve};
use providers::crypto::SigningKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

pub const SANDBOX_ALIPAY_APP_ID: &str = "2021000000000001";

pub struct AlipaySandbox {
    pub app_id: String,
    /// Alipay's key: signs answers and notifications.
    key: SigningKey,
    /// Our app's key pair: the shop signs with the private half, the sandbox checks the public.
    app_key: SigningKey,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    used_codes: HashSet<String>,
    trades: HashMap<String, Trade>,
    /// out_request_no -> refunded fen, per trade.
    refunds: HashMap<(String, String), u64>,
}

#[derive(Clone)]
struct Trade {
    trade_no: String,
    total: String,
    status: &'static str,
    notify_url: Option<String>,
}

impl Default for AlipaySandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl AlipaySandbox {
    pub fn new() -> Self {
        Self {
            app_id: SANDBOX_ALIPAY_APP_ID.into(),
            key: SigningKey::generate(),
            app_key: SigningKey::generate(),
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What the shop must be configured with to use and trust this sandbox at `base`.
    pub fn settings(&self, base: &str) -> [(String, String); 4] {
        [
            ("ALIPAY_APP_ID".into(), self.app_id.clone()),
            ("ALIPAY_PUBLIC_KEY".into(), self.key.public_pem()),
            ("ALIPAY_PRIVATE_KEY".into(), self.app_key.private_pem()),
            ("ALIPAY_API_BASE".into(), base.to_string()),
        ]
    }

    /// The open id a login code stands for: the same shopper for `<name>` and `<name>.<n>`.
    pub fn open_id_of(code: &str) -> String {
        let name = code.split('.').next().unwrap_or(code);
        format!("0{}", &hex::encode(Sha256::digest(name.as_bytes()))[..30])
    }

    /// The shopper pays: the trade succeeds and the notification Alipay would send is returned
    /// (None for a trade never created).
    pub fn pay(&self, out_trade_no: &str) -> Option<String> {
        let trade = {
            let mut state = self.state();
            let trade = state.trades.get_mut(out_trade_no)?;
            trade.status = "TRADE_SUCCESS";
            trade.clone()
        };
        Some(self.notification(out_trade_no, &trade.total, |form| {
            for (k, v) in form.iter_mut() {
                if k == "trade_no" {
                    v.clone_from(&trade.trade_no);
                }
            }
        }))
    }

    pub fn trade_status(&self, out_trade_no: &str) -> Option<&'static str> {
        self.state().trades.get(out_trade_no).map(|t| t.status)
    }

    /// Fen refunded for a trade so far.
    pub fn refunded(&self, out_trade_no: &str) -> u64 {
        self.state()
            .refunds
            .iter()
            .filter(|((t, _), _)| t == out_trade_no)
            .map(|(_, fen)| fen)
            .sum()
    }

    /// An answer as Alipay writes it: the `<method>_response` object and its signature.
    fn answer(&self, name: &str, object: &Value) -> Outgoing {
        let text = object.to_string();
        let sign = self.key.sign_base64(text.as_bytes());
        Outgoing {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/json;charset=utf-8".into(),
            )],
            body: format!("{{\"{name}\":{text},\"sign\":\"{sign}\"}}").into_bytes(),
        }
    }

    fn business_error(&self, name: &str, sub_code: &str) -> Outgoing {
        self.answer(
            name,
            &json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_code}),
        )
    }

    fn gateway(&self, form: &[(String, String)]) -> Outgoing {
        let field = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let content = providers::alipay::signing_content(
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &["sign"],
        );
        if field("app_id") != self.app_id
            || !self
                .app_key
                .verifying_key()
                .verify_base64(content.as_bytes(), field("sign"))
        {
            return self.answer(
                "error_response",
                &json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}),
            );
        }
        let method = field("method");
        let name = format!("{}_response", method.replace('.', "_"));
        let biz: Value = serde_json::from_str(field("biz_content")).unwrap_or(Value::Null);
        let out_trade_no = biz["out_trade_no"].as_str().unwrap_or("").to_string();
        match method {
            "alipay.system.oauth.token" => {
                let code = field("code");
                if code.starts_with("invalid") || !self.state().used_codes.insert(code.into()) {
                    return self.answer(
                        "error_response",
                        &json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.code-invalid"}),
                    );
                }
                self.answer(
                    &name,
                    &json!({"open_id": Self::open_id_of(code), "access_token": domain::ids::random_token(24), "expires_in": 1296000}),
                )
            }
            "alipay.trade.create" => {
                let mut state = self.state();
                let trade = state
                    .trades
                    .entry(out_trade_no.clone())
                    .or_insert_with(|| Trade {
                        trade_no: format!("20261125220014{}", domain::ids::random_token(14)),
                        total: biz["total_amount"].as_str().unwrap_or("0").to_string(),
                        status: "WAIT_BUYER_PAY",
                        notify_url: Some(field("notify_url").to_string()).filter(|u| !u.is_empty()),
                    })
                    .clone();
                drop(state);
                self.answer(
                    &name,
                    &json!({"code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "trade_no": trade.trade_no}),
                )
            }
            "alipay.trade.query" => match self.state().trades.get(&out_trade_no).cloned() {
                None => self.business_error(&name, "ACQ.TRADE_NOT_EXIST"),
                Some(trade) => self.answer(
                    &name,
                    &json!({"code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "trade_no": trade.trade_no,
                            "trade_status": trade.status, "total_amount": trade.total}),
                ),
            },
            "alipay.trade.close" => {
                let mut state = self.state();
                match state.trades.get_mut(&out_trade_no) {
                    None => {
                        drop(state);
                        self.business_error(&name, "ACQ.TRADE_NOT_EXIST")
                    }
                    Some(trade) if trade.status == "TRADE_SUCCESS" => {
                        drop(state);
                        self.business_error(&name, "ACQ.TRADE_STATUS_ERROR")
                    }
                    Some(trade) => {
                        trade.status = "TRADE_CLOSED";
                        let trade_no = trade.trade_no.clone();
                        drop(state);
                        self.answer(
                            &name,
                            &json!({"code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "trade_no": trade_no}),
                        )
                    }
                }
            }
            "alipay.trade.refund" => {
                let mut state = self.state();
                let Some(trade) = state.trades.get(&out_trade_no).cloned() else {
                    drop(state);
                    return self.business_error(&name, "ACQ.TRADE_NOT_EXIST");
                };
                if trade.status != "TRADE_SUCCESS" {
                    drop(state);
                    return self.business_error(&name, "ACQ.TRADE_STATUS_ERROR");
                }
                let amount = domain::money::Fen::parse_yuan(biz["refund_amount"].as_str().unwrap_or(""))
                    .map(domain::money::Fen::get)
                    .unwrap_or(0);
                let total = domain::money::Fen::parse_yuan(&trade.total)
                    .map(domain::money::Fen::get)
                    .unwrap_or(0);
                let request = biz["out_request_no"].as_str().unwrap_or("").to_string();
                let key = (out_trade_no.clone(), request);
                let already: u64 = state
                    .refunds
                    .iter()
                    .filter(|((t, r), _)| t == &out_trade_no && r != &key.1)
                    .map(|(_, f)| f)
                    .sum();
                if amount == 0 || already + amount > total {
                    drop(state);
                    return self.business_error(&name, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL");
                }
                state.refunds.insert(key, amount);
                drop(state);
                self.answer(
                    &name,
                    &json!({"code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "trade_no": trade.trade_no,
                            "fund_change": "Y", "refund_fee": biz["refund_amount"]}),
                )
            }
            _ => self.answer(
                "error_response",
                &json!({"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method"}),
            ),
        }
    }

    /// The form body of a `trade_status_sync` notification for our order `out_trade_no` of
    /// `total_amount` (yuan text, as Alipay writes it), signed; `tweak` changes fields before
    /// signing (a wrong app, another status).
    pub fn notification(
        &self,
        out_trade_no: &str,
        total_amount: &str,
        tweak: impl FnOnce(&mut Vec<(String, String)>),
    ) -> String {
        let mut form: Vec<(String, String)> = vec![
            ("notify_time".into(), "2026-11-25 10:00:00".into()),
            ("notify_type".into(), "trade_status_sync".into()),
            (
                "notify_id".into(),
                format!("ac{}", domain::ids::random_token(30)),
            ),
            ("charset".into(), "utf-8".into()),
            ("version".into(), "1.0".into()),
            ("app_id".into(), self.app_id.clone()),
            ("out_trade_no".into(), out_trade_no.into()),
            (
                "trade_no".into(),
                format!("20261125220014{}", domain::ids::random_token(14)),
            ),
            ("trade_status".into(), "TRADE_SUCCESS".into()),
            ("total_amount".into(), total_amount.into()),
            ("receipt_amount".into(), total_amount.into()),
            ("gmt_payment".into(), "2026-11-25 10:00:00".into()),
            ("subject".into(), "茶铺订单".into()),
        ];
        tweak(&mut form);
        self.sign_form(form)
    }

    /// Signs `form` as Alipay does and encodes it as the POST body.
    pub fn sign_form(&self, mut form: Vec<(String, String)>) -> String {
        let content = providers::alipay::signing_content(
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &["sign", "sign_type"],
        );
        form.push(("sign_type".into(), "RSA2".into()));
        form.push(("sign".into(), self.key.sign_base64(content.as_bytes())));
        form.iter()
            .map(|(k, v)| format!("{k}={}", crate::server::form_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

impl AlipaySandbox {
    /// `POST /__sandbox/alipay/pay {outTradeNo}`: the shopper pays in Alipay; the notification
    /// goes to the URL the trade was created with.
    async fn pay_control(&self, request: &Incoming) -> Outgoing {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let Some(out_trade_no) = body["outTradeNo"].as_str() else {
            return Outgoing::json(400, &json!({"error": "outTradeNo is required"}));
        };
        let url = self
            .state()
            .trades
            .get(out_trade_no)
            .and_then(|t| t.notify_url.clone());
        let Some(notification) = self.pay(out_trade_no) else {
            return Outgoing::json(404, &json!({"error": "no trade for this order"}));
        };
        let mut answer = json!({"outTradeNo": out_trade_no, "tradeStatus": "TRADE_SUCCESS"});
        if let Some(url) = url {
            let sent = reqwest::Client::new()
                .post(&url)
                .header(
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(notification)
                .send()
                .await;
            answer["notified"] = match sent {
                Ok(response) => json!(response.text().await.unwrap_or_default()),
                Err(e) => json!(format!("not delivered: {e}")),
            };
        }
        Outgoing::json(200, &answer)
    }
}

#[async_trait::async_trait]
impl Serve for AlipaySandbox {
    async fn serve(&self, request: Incoming) -> Outgoing {
        if request.path == "/__sandbox/alipay/pay" {
            return self.pay_control(&request).await;
        }
        let raw = String::from_utf8_lossy(&request.body).to_string();
        let mut form = crate::server::form_pairs(&raw);
        form.extend(crate::server::form_pairs(&request.query));
        self.gateway(&form)
    }
}

//! A local stand-in for Kuaidi100: the e-waybill label API (`POST /label/order`, signed with the
//! key and secret, the same waybill again for the same order), tracking subscriptions
//! (`POST /poll`, 501 for a repeat), and pushes signed with the subscriber's salt to the callback
//! URL, carrying the whole history like the real thing.
//!
//! Control: `POST /__sandbox/kuaidi100/push {"number", "state", "context"?, "areaName"?}` adds an
//! event to the waybill's history and pushes it; the answer is the hook's status and body.
//! `POST /__sandbox/kuaidi100/outage {"down": true}` makes the label API answer 503 until
//! `{"down": false}`: the courier API the shop cannot use, so staff ship by hand.

use crate::server::{Incoming, Outgoing, Serve, form_pairs};
use domain::logistics::push_sign;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

pub struct Kuaidi100Sandbox {
    key: String,
    secret: String,
    http: reqwest::Client,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Our order id -> (company, number).
    waybills: HashMap<String, (String, String)>,
    /// Number -> (company, callback URL, salt).
    subscriptions: HashMap<String, (String, String, String)>,
    /// Number -> events, oldest first.
    history: HashMap<String, Vec<Value>>,
    label_calls: u64,
    next_number: u64,
    /// The label API is down (503) until told otherwise.
    down: bool,
}

fn md5_upper(text: &str) -> String {
    // The sandbox signs like Kuaidi100: uppercase hex MD5 (a salt-free push_sign).
    push_sign(text, "")
}

impl Kuaidi100Sandbox {
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            secret: secret.into(),
            http: reqwest::Client::new(),
            state: Mutex::new(State {
                next_number: 7_300_000_000,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn label(&self, body: &[u8]) -> Outgoing {
        if self.state().down {
            return Outgoing::json(
                503,
                &json!({"result": false, "returnCode": "503", "message": "服务暂不可用"}),
            );
        }
        let fields: HashMap<String, String> = form_pairs(&String::from_utf8_lossy(body))
            .into_iter()
            .collect();
        let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
        let refuse = |code: u32, message: &str| {
            Outgoing::json(
                200,
                &json!({"success": false, "code": code, "message": message}),
            )
        };
        if field("method") != "order" {
            return refuse(30001, "method 错误");
        }
        if field("key") != self.key {
            return refuse(30002, "key 不存在");
        }
        let expected = md5_upper(&format!(
            "{}{}{}{}",
            field("param"),
            field("t"),
            self.key,
            self.secret
        ));
        if field("sign") != expected {
            return refuse(30003, "签名错误");
        }
        let Ok(param) = serde_json::from_str::<Value>(field("param")) else {
            return refuse(30004, "param 不是 JSON");
        };
        let company = param["kuaidicom"].as_str().unwrap_or("").to_string();
        let receiver_ok =
            param["recMan"]["name"].is_string() && param["recMan"]["mobile"].is_string();
        if company.is_empty() || !receiver_ok {
            return refuse(30005, "kuaidicom 或收件人信息缺失");
        }
        let order_id = param["orderId"].as_str().unwrap_or("").to_string();
        let mut state = self.state();
        state.label_calls += 1;
        let existing = state.waybills.get(&order_id).cloned();
        let (company, number) = match existing {
            Some(found) if !order_id.is_empty() => found,
            _ => {
                state.next_number += 1;
                let made = (company, format!("ZT{}", state.next_number));
                if !order_id.is_empty() {
                    state.waybills.insert(order_id, made.clone());
                }
                made
            }
        };
        Outgoing::json(
            200,
            &json!({"success": true, "code": 200, "message": "success", "data": {"kuaidinum": number, "kuaidicom": company, "taskId": format!("T{number}")}}),
        )
    }

    fn poll(&self, body: &[u8]) -> Outgoing {
        let fields: HashMap<String, String> = form_pairs(&String::from_utf8_lossy(body))
            .into_iter()
            .collect();
        let answer = |ok: bool, code: &str, message: &str| {
            Outgoing::json(
                200,
                &json!({"result": ok, "returnCode": code, "message": message}),
            )
        };
        let Some(param) = fields
            .get("param")
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
        else {
            return answer(false, "700", "param 不是 JSON");
        };
        if param["key"] != self.key.as_str() {
            return answer(false, "600", "您不是合法的订阅者");
        }
        let (Some(company), Some(number), Some(callback), Some(salt)) = (
            param["company"].as_str(),
            param["number"].as_str(),
            param["parameters"]["callbackurl"].as_str(),
            param["parameters"]["salt"].as_str(),
        ) else {
            return answer(
                false,
                "701",
                "company, number, callbackurl and salt are required",
            );
        };
        let mut state = self.state();
        if state.subscriptions.contains_key(number) {
            return answer(false, "501", "重复订阅");
        }
        state.subscriptions.insert(
            number.to_string(),
            (company.to_string(), callback.to_string(), salt.to_string()),
        );
        answer(true, "200", "提交成功")
    }

    /// How many label calls were made, and the waybill numbers issued.
    pub fn label_calls(&self) -> u64 {
        self.state().label_calls
    }

    pub fn waybill_for(&self, order_id: &str) -> Option<(String, String)> {
        self.state().waybills.get(order_id).cloned()
    }

    pub fn is_subscribed(&self, number: &str) -> bool {
        self.state().subscriptions.contains_key(number)
    }

    /// The form body of a push for `number` with the history so far and `state`, signed with
    /// the subscriber's salt; `None` for a waybill nobody subscribed.
    pub fn push_body(&self, number: &str, state_code: u32) -> Option<(String, String)> {
        let state = self.state();
        let (company, callback, salt) = state.subscriptions.get(number)?.clone();
        let mut data: Vec<Value> = state.history.get(number).cloned().unwrap_or_default();
        data.reverse();
        let param = json!({
            "status": if state_code == 3 { "shutdown" } else { "polling" },
            "message": "",
            "autoCheck": "0",
            "comOld": "",
            "comNew": "",
            "lastResult": {"message": "ok", "state": state_code.to_string(), "status": "200", "ischeck": if state_code == 3 { "1" } else { "0" }, "com": company, "nu": number, "data": data},
        })
        .to_string();
        let sign = push_sign(&param, &salt);
        let body = format!("param={}&sign={sign}", crate::server::form_encode(&param));
        Some((callback, body))
    }

    /// Adds an event to the waybill's history and pushes the whole history to the subscriber.
    pub async fn push(
        &self,
        number: &str,
        state_code: u32,
        context: &str,
    ) -> anyhow::Result<(u16, Value)> {
        {
            let mut state = self.state();
            let history = state.history.entry(number.to_string()).or_default();
            // Each event a second after the last, so the timeline has an order.
            let at = 1_795_500_000 + i64::try_from(history.len()).unwrap_or(0) * 3600;
            let time = time::OffsetDateTime::from_unix_timestamp(at)?
                .to_offset(time::UtcOffset::from_hms(8, 0, 0)?)
                .format(time::macros::format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second]"
                ))?;
            history.push(json!({"context": context, "time": time, "ftime": time, "areaName": "浙江省杭州市"}));
        }
        let (callback, body) = self
            .push_body(number, state_code)
            .ok_or_else(|| anyhow::anyhow!("waybill {number} is not subscribed"))?;
        let response = self
            .http
            .post(callback)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let answer = response.json().await.unwrap_or(Value::Null);
        Ok((status, answer))
    }
}

#[async_trait::async_trait]
impl Serve for Kuaidi100Sandbox {
    async fn serve(&self, req: Incoming) -> Outgoing {
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/label/order") => self.label(&req.body),
            ("POST", "/poll") => self.poll(&req.body),
            ("POST", "/__sandbox/kuaidi100/outage") => {
                let down = serde_json::from_slice::<Value>(&req.body)
                    .ok()
                    .and_then(|b| b["down"].as_bool());
                match down {
                    Some(down) => {
                        self.state().down = down;
                        Outgoing::json(200, &json!({"down": down}))
                    }
                    None => Outgoing::json(
                        400,
                        &json!({"error": "body must be {\"down\": true|false}"}),
                    ),
                }
            }
            ("POST", "/__sandbox/kuaidi100/push") => {
                let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                    return Outgoing::json(400, &json!({"error": "body must be JSON"}));
                };
                let number = body["number"].as_str().unwrap_or("").to_string();
                let state = body["state"]
                    .as_u64()
                    .and_then(|s| u32::try_from(s).ok())
                    .unwrap_or(0);
                let context = body["context"].as_str().unwrap_or("快件运输中").to_string();
                match self.push(&number, state, &context).await {
                    Ok((status, answer)) => {
                        Outgoing::json(200, &json!({"hookStatus": status, "hookAnswer": answer}))
                    }
                    Err(e) => Outgoing::json(404, &json!({"error": e.to_string()})),
                }
            }
            _ => Outgoing::json(
                404,
                &json!({"result": false, "returnCode": "404", "message": "not found in the Kuaidi100 sandbox"}),
            ),
        }
    }
}

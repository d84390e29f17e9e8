//! WeChat's server API for mini-programs: code2session, the stable access_token and phone
//! numbers. `session_key` is never even deserialized: nothing can log or return it.

use crate::config::{ConfigError, Settings};
use crate::ids::OpenId;
use domain::review::{Suggest, Verdict};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

#[derive(Debug, thiserror::Error)]
pub enum WeChatError {
    #[error("the code is invalid, expired or already used (errcode {0})")]
    InvalidCode(i64),
    #[error("WeChat rate limit reached")]
    RateLimited,
    #[error("WeChat blocked this user as high-risk")]
    HighRisk,
    #[error("WeChat refused the access_token (errcode {0})")]
    InvalidAccessToken(i64),
    #[error("WeChat answered errcode {errcode}: {errmsg}")]
    Refused { errcode: i64, errmsg: String },
    #[error("WeChat could not be reached or answered garbage")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the phone number WeChat returned is for another app")]
    WrongApp,
}

/// `result {suggest, label}` of WeChat's content checks, pushed or answered.
#[derive(Debug, Clone, Deserialize)]
pub struct Outcome {
    pub suggest: String,
    #[serde(default)]
    pub label: i64,
}

impl Outcome {
    pub fn verdict(&self) -> Result<Verdict, WeChatError> {
        Suggest::parse(&self.suggest)
            .map(|suggest| Verdict {
                suggest,
                label: self.label,
            })
            .ok_or_else(|| {
                WeChatError::Unavailable(format!("unknown suggest {:?}", self.suggest).into())
            })
    }
}

/// A WeChat login: who the shopper is to WeChat.
#[derive(Debug, Clone)]
pub struct WeChatSession {
    pub openid: OpenId,
    pub unionid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeChatPhone {
    pub country_code: u16,
    pub pure_phone_number: String,
}

/// The HTTP client for WeChat. Built once per cold start.
pub struct WeChatApi {
    http: reqwest::Client,
    base: String,
    appid: String,
    secret: SecretString,
}

/// An HTTP client with the timeouts every provider call needs (API Gateway gives us 30 s in all).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

fn errcode_of(value: &Value) -> i64 {
    value.get("errcode").and_then(Value::as_i64).unwrap_or(0)
}

impl WeChatApi {
    pub fn new(settings: &Settings, http: reqwest::Client) -> Result<Self, ConfigError> {
        Ok(Self {
            http,
            base: settings.base_url("WECHAT_API_BASE", DEFAULT_API_BASE)?,
            appid: settings.required("WECHAT_APPID")?,
            secret: settings.secret("WECHAT_SECRET")?,
        })
    }

    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Sends one call, retrying once when WeChat says it is busy (errcode -1) and never otherwise:
    /// a login code is single-use, so any other retry could burn it.
    async fn call<T: DeserializeOwned>(
        &self,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<T, WeChatError> {
        let mut busy_retries = 1;
        loop {
            let response = request()
                .send()
                .await
                .map_err(|e| WeChatError::Unavailable(Box::new(e.without_url())))?;
            if !response.status().is_success() {
                return Err(WeChatError::Unavailable(
                    format!("HTTP {}", response.status()).into(),
                ));
            }
            let value: Value = response
                .json()
                .await
                .map_err(|e| WeChatError::Unavailable(Box::new(e.without_url())))?;
            match errcode_of(&value) {
                0 => {
                    return serde_json::from_value(value)
                        .map_err(|e| WeChatError::Unavailable(Box::new(e)));
                }
                -1 if busy_retries > 0 => {
                    busy_retries -= 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                -1 => return Err(WeChatError::Unavailable("WeChat busy (errcode -1)".into())),
                40029 | 40163 => return Err(WeChatError::InvalidCode(errcode_of(&value))),
                45011 => return Err(WeChatError::RateLimited),
                40226 => return Err(WeChatError::HighRisk),
                code @ (40001 | 42001 | 40014) => {
                    return Err(WeChatError::InvalidAccessToken(code));
                }
                errcode => {
                    let errmsg = value
                        .get("errmsg")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .chars()
                        .take(200)
                        .collect();
                    return Err(WeChatError::Refused { errcode, errmsg });
                }
            }
        }
    }

    /// POSTs `body` to `path` with the access_token; the answer as `T` (`Value` where only
    /// errcode 0 matters).
    async fn post_with_token<T: DeserializeOwned>(
        &self,
        path: &str,
        access_token: &SecretString,
        body: &Value,
    ) -> Result<T, WeChatError> {
        let url = format!("{}{path}", self.base);
        self.call(|| {
            self.http
                .post(&url)
                .query(&[("access_token", access_token.expose_secret())])
                .json(body)
        })
        .await
    }

    pub async fn code_to_session(&self, code: &str) -> Result<WeChatSession, WeChatError> {
        #[derive(Deserialize)]
        struct Answer {
            openid: String,
            unionid: Option<String>,
        }
        let url = format!("{}/sns/jscode2session", self.base);
        let answer: Answer = self
            .call(|| {
                self.http.get(&url).query(&[
                    ("appid", self.appid.as_str()),
                    ("secret", self.secret.expose_secret()),
                    ("js_code", code),
                    ("grant_type", "authorization_code"),
                ])
            })
            .await?;
        let openid =
            OpenId::parse(&answer.openid).map_err(|e| WeChatError::Unavailable(Box::new(e)))?;
        Ok(WeChatSession {
            openid,
            unionid: answer.unionid,
        })
    }

    /// A fresh stable access_token and how many seconds it lives.
    pub async fn stable_token(&self) -> Result<(SecretString, i64), WeChatError> {
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: i64,
        }
        let url = format!("{}/cgi-bin/stable_token", self.base);
        let body = serde_json::json!({
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self.secret.expose_secret(),
            "force_refresh": false,
        });
        let answer: Answer = self.call(|| self.http.post(&url).json(&body)).await?;
        Ok((SecretString::from(answer.access_token), answer.expires_in))
    }

    /// Sends a subscribe message (订阅消息) the shopper agreed to receive, opening `page`.
    pub async fn send_subscribe_message(
        &self,
        access_token: &SecretString,
        openid: &crate::ids::OpenId,
        template_id: &str,
        page: &str,
        data: &Value,
    ) -> Result<(), WeChatError> {
        let body = serde_json::json!({
            "touser": openid.expose(),
            "template_id": template_id,
            "page": page,
            "data": data,
        });
        self.post_with_token::<Value>("/cgi-bin/message/subscribe/send", access_token, &body)
            .await
            .map(|_| ())
    }

    /// Uploads an order's shipping information (`upload_shipping_info`, body as
    /// `domain::shipping_info::upload_body` builds it).
    pub async fn upload_shipping_info(
        &self,
        access_token: &SecretString,
        body: &Value,
    ) -> Result<(), WeChatError> {
        self.post_with_token::<Value>("/wxa/sec/order/upload_shipping_info", access_token, body)
            .await
            .map(|_| ())
    }

    /// Tells WeChat an express order was received (`notify_confirm_receive`), by payment.
    pub async fn notify_confirm_receive(
        &self,
        access_token: &SecretString,
        transaction_id: &str,
        received_time: i64,
    ) -> Result<(), WeChatError> {
        let body = serde_json::json!({
            "transaction_id": transaction_id,
            "received_time": received_time,
        });
        self.post_with_token::<Value>("/wxa/sec/order/notify_confirm_receive", access_token, &body)
            .await
            .map(|_| ())
    }

    /// WeChat's state of a payment's order (`get_order`): 1 to ship, 2 shipped, 3 receipt
    /// confirmed, 4 done, 5 refunded, 6 awaiting settlement.
    pub async fn order_state(
        &self,
        access_token: &SecretString,
        transaction_id: &str,
    ) -> Result<i64, WeChatError> {
        #[derive(Deserialize)]
        struct Answer {
            order: OrderState,
        }
        #[derive(Deserialize)]
        struct OrderState {
            order_state: i64,
        }
        let body = serde_json::json!({ "transaction_id": transaction_id });
        let answer: Answer = self
            .post_with_token("/wxa/sec/order/get_order", access_token, &body)
            .await?;
        Ok(answer.order.order_state)
    }

    /// The page WeChat opens from its order screens (`update_order_detail_path`), with
    /// `${商品订单号}` where the order number goes.
    pub async fn set_order_detail_path(
        &self,
        access_token: &SecretString,
        path: &str,
    ) -> Result<(), WeChatError> {
        let body = serde_json::json!({ "path": path });
        self.post_with_token::<Value>(
            "/wxa/sec/order/update_order_detail_path",
            access_token,
            &body,
        )
        .await
        .map(|_| ())
    }

    /// The page WeChat opens from its shipping and receipt messages (`set_msg_jump_path`).
    pub async fn set_message_jump_path(
        &self,
        access_token: &SecretString,
        path: &str,
    ) -> Result<(), WeChatError> {
        let body = serde_json::json!({ "path": path });
        self.post_with_token::<Value>("/wxa/sec/order/set_msg_jump_path", access_token, &body)
            .await
            .map(|_| ())
    }

    /// WeChat's verdict on a shopper's text (`msg_sec_check` version 2, scene 2: a comment),
    /// checked as written by `openid`, who must have used the mini-program in the last 2 hours.
    pub async fn check_text(
        &self,
        access_token: &SecretString,
        openid: &OpenId,
        content: &str,
    ) -> Result<Verdict, WeChatError> {
        #[derive(Deserialize)]
        struct Answer {
            result: Outcome,
        }
        let body = serde_json::json!({
            "content": content,
            "version": 2,
            "scene": 2,
            "openid": openid.expose(),
        });
        let answer: Answer = self
            .post_with_token("/wxa/msg_sec_check", access_token, &body)
            .await?;
        answer.result.verdict()
    }

    /// Sends a photo (a URL WeChat can fetch) to `media_check_async` (version 2, scene 2, an
    /// image); WeChat pushes its verdict later as `wxa_media_check`, naming the trace id this
    /// answers.
    pub async fn check_image_later(
        &self,
        access_token: &SecretString,
        openid: &OpenId,
        media_url: &str,
    ) -> Result<String, WeChatError> {
        #[derive(Deserialize)]
        struct Answer {
            trace_id: String,
        }
        let body = serde_json::json!({
            "media_url": media_url,
            "media_type": 2,
            "version": 2,
            "scene": 2,
            "openid": openid.expose(),
        });
        let answer: Answer = self
            .post_with_token("/wxa/media_check_async", access_token, &body)
            .await?;
        Ok(answer.trace_id)
    }

    pub async fn phone_number(
        &self,
        access_token: &SecretString,
        code: &str,
        openid: &OpenId,
    ) -> Result<WeChatPhone, WeChatError> {
        #[derive(Deserialize)]
        struct Answer {
            phone_info: PhoneInfo,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct PhoneInfo {
            pure_phone_number: String,
            // Documented as a string, seen as a number: take both.
            country_code: Value,
            watermark: Watermark,
        }
        #[derive(Deserialize)]
        struct Watermark {
            appid: String,
        }
        let body = serde_json::json!({ "code": code, "openid": openid.expose() });
        let answer: Answer = self
            .post_with_token("/wxa/business/getuserphonenumber", access_token, &body)
            .await?;
        let info = answer.phone_info;
        if info.watermark.appid != self.appid {
            return Err(WeChatError::WrongApp);
        }
        let country_code = match &info.country_code {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim_start_matches('+').parse().ok(),
            _ => None,
        }
        .and_then(|c| u16::try_from(c).ok())
        .ok_or_else(|| WeChatError::Unavailable("phone_info.countryCode is not a number".into()))?;
        Ok(WeChatPhone {
            country_code,
            pure_phone_number: info.pure_phone_number,
        })
    }
}

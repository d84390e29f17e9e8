//! WeChat's platform events (消息推送) as the shop acts on them: order settlement and
//! confirmation, reminders to upload shipping information, privacy revocations. Parsing only;
//! the receiver checks signatures and decrypts before any of this sees a message.

use crate::ids::{OpenId, OrderId};
use serde_json::Value;

/// How far a push's `timestamp` may be from our clock: WeChat retries within seconds, so a
/// message much older than this is a replay.
pub const MAX_PUSH_SKEW_SECONDS: i64 = 300;

/// A pushed `timestamp` (seconds) close enough to `now` to be taken.
pub fn fresh(timestamp: &str, now: i64) -> bool {
    timestamp
        .parse::<i64>()
        .is_ok_and(|t| (t - now).abs() <= MAX_PUSH_SKEW_SECONDS)
}

/// Which of its payments an event is about: WeChat names it by `transaction_id` and by our
/// `out_trade_no` (`merchant_trade_no`, our order id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRef {
    pub transaction_id: Option<String>,
    pub order_id: Option<OrderId>,
}

/// `trade_manage_order_settlement`: WeChat's record of a confirmation and the settlement that
/// follows. Each time is Unix seconds; absent ones were not in the push.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settlement {
    pub confirm_receive_time: Option<i64>,
    pub settlement_time: Option<i64>,
    pub estimated_settlement_time: Option<i64>,
}

/// A pushed event, as far as the shop acts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformEvent {
    OrderSettlement {
        payment: PaymentRef,
        settlement: Settlement,
    },
    /// `trade_manage_remind_shipping`: a paid order still has no shipping information.
    RemindShipping { payment: PaymentRef },
    /// `trade_manage_remind_access_api`: the mini-program has not used the shipping API yet.
    RemindAccessApi,
    /// `user_authorization_revoke`: the shopper took back some of what they allowed.
    AuthorizationRevoke { openid: OpenId, revoked: Vec<u32> },
    /// `user_authorization_cancellation`: the shopper deleted their WeChat account.
    AuthorizationCancellation { openid: OpenId },
    /// `wxa_media_check`: WeChat's verdict on a photo sent to `mediaCheckAsync`. A check that
    /// failed at WeChat (`errcode` not 0) comes as `review`: a person decides.
    MediaCheck {
        trace_id: String,
        verdict: crate::review::Verdict,
    },
    /// Anything else WeChat pushes (text messages, events we do not act on).
    Other { kind: String },
}

/// What a pushed message is, and the key that makes its duplicates one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedMessage {
    pub event: PlatformEvent,
    /// WeChat re-pushes the same message (same sender, time and event) until we answer;
    /// messages proper carry a `MsgId` instead.
    pub dedupe_key: String,
}

/// What is wrong with a decrypted message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the pushed message {0}")]
pub struct InvalidMessage(&'static str);

fn text<'a>(doc: &'a Value, name: &str) -> Option<&'a str> {
    doc.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A number WeChat may send as a number or as a string of digits.
fn seconds(doc: &Value, name: &str) -> Option<i64> {
    match doc.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|t| *t > 0)
}

fn payment_of(doc: &Value) -> PaymentRef {
    PaymentRef {
        transaction_id: text(doc, "transaction_id").map(str::to_string),
        order_id: text(doc, "merchant_trade_no").and_then(|n| OrderId::parse(n).ok()),
    }
}

impl PushedMessage {
    /// A decrypted message's JSON. An event we do not know is `Other`, never an error: WeChat
    /// adds events, and refusing one would make it retry for nothing.
    pub fn parse(json: &str) -> Result<Self, InvalidMessage> {
        let doc: Value = serde_json::from_str(json).map_err(|_| InvalidMessage("is not JSON"))?;
        if !doc.is_object() {
            return Err(InvalidMessage("is not a JSON object"));
        }
        let from = text(&doc, "FromUserName").unwrap_or("");
        let created = seconds(&doc, "CreateTime").unwrap_or(0);
        let msg_type = text(&doc, "MsgType").unwrap_or("");
        let kind = text(&doc, "Event").unwrap_or(msg_type).to_string();
        let trace_id = text(&doc, "trace_id");
        let dedupe_key = match (doc.get("MsgId"), trace_id) {
            (Some(id), _) if !id.is_null() => format!("msg|{id}"),
            // Verdicts on many photos can share a second: each is its own by its trace.
            (_, Some(trace)) if kind == "wxa_media_check" => format!("media|{trace}"),
            _ => format!("event|{from}|{created}|{kind}"),
        };
        let openid = || {
            text(&doc, "OpenID")
                .or(Some(from).filter(|f| !f.is_empty()))
                .and_then(|o| OpenId::parse(o).ok())
                .ok_or(InvalidMessage("names no valid OpenID"))
        };
        let event = match (msg_type, kind.as_str()) {
            ("event", "trade_manage_order_settlement") => PlatformEvent::OrderSettlement {
                payment: payment_of(&doc),
                settlement: Settlement {
                    confirm_receive_time: seconds(&doc, "confirm_receive_time"),
                    settlement_time: seconds(&doc, "settlement_time"),
                    estimated_settlement_time: seconds(&doc, "estimated_settlement_time"),
                },
            },
            ("event", "trade_manage_remind_shipping") => PlatformEvent::RemindShipping {
                payment: payment_of(&doc),
            },
            ("event", "trade_manage_remind_access_api") => PlatformEvent::RemindAccessApi,
            ("event", "user_authorization_revoke") => PlatformEvent::AuthorizationRevoke {
                openid: openid()?,
                revoked: revoked_kinds(doc.get("RevokeInfo")),
            },
            ("event", "user_authorization_cancellation") => {
                PlatformEvent::AuthorizationCancellation { openid: openid()? }
            }
            ("event", "wxa_media_check") => PlatformEvent::MediaCheck {
                trace_id: trace_id
                    .ok_or(InvalidMessage("names no trace_id"))?
                    .to_string(),
                verdict: media_verdict(&doc),
            },
            _ => PlatformEvent::Other { kind },
        };
        Ok(Self { event, dedupe_key })
    }
}

fn media_verdict(doc: &Value) -> crate::review::Verdict {
    use crate::review::{Suggest, Verdict};
    let failed = doc.get("errcode").and_then(Value::as_i64).unwrap_or(0) != 0;
    let result = doc.get("result");
    let suggest = result
        .and_then(|r| r.get("suggest"))
        .and_then(Value::as_str)
        .and_then(Suggest::parse)
        .filter(|_| !failed)
        .unwrap_or(Suggest::Review);
    let label = result
        .and_then(|r| r.get("label"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    Verdict { suggest, label }
}

/// What a shopper can take back on WeChat (`RevokeInfo`), as far as the shop keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// 2: the delivery addresses they gave us.
    Address,
    /// 6: their nickname and avatar.
    Profile,
    /// 8: their phone number.
    Phone,
    /// A kind of data the shop does not keep (location, photos, ...).
    Other(u32),
}

impl Revoked {
    pub fn of(kind: u32) -> Self {
        match kind {
            2 => Revoked::Address,
            6 => Revoked::Profile,
            8 => Revoked::Phone,
            other => Revoked::Other(other),
        }
    }
}

/// `RevokeInfo` arrives as `"8"`, `"2,8"`, `8` or `[2, 8]`.
fn revoked_kinds(info: Option<&Value>) -> Vec<u32> {
    let mut kinds: Vec<u32> = match info {
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .into_iter()
            .collect(),
        Some(Value::String(s)) => s
            .split([',', ';', ' '])
            .filter_map(|p| p.trim().parse().ok())
            .collect(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settlement_names_its_order_and_times() {
        let message = PushedMessage::parse(
            r#"{"ToUserName":"gh_1","FromUserName":"o_wechat","CreateTime":1714000000,"MsgType":"event",
               "Event":"trade_manage_order_settlement","transaction_id":"4200001","merchant_id":"1900000109",
               "merchant_trade_no":"20261124abcdefgh","confirm_receive_time":"1714000000","settlement_time":1714086400}"#,
        )
        .unwrap();

        assert_eq!(
            message.event,
            PlatformEvent::OrderSettlement {
                payment: PaymentRef {
                    transaction_id: Some("4200001".into()),
                    order_id: Some(OrderId::parse("20261124abcdefgh").unwrap()),
                },
                settlement: Settlement {
                    confirm_receive_time: Some(1_714_000_000),
                    settlement_time: Some(1_714_086_400),
                    estimated_settlement_time: None,
                },
            }
        );
        assert_eq!(
            message.dedupe_key,
            "event|o_wechat|1714000000|trade_manage_order_settlement"
        );
    }

    #[test]
    fn revocations_name_the_openid_and_every_kind_revoked() {
        for info in [r#""2,8""#, "[8, 2]", r#"["8","2","8"]"#] {
            let json = format!(
                r#"{{"FromUserName":"o_abcdefgh","CreateTime":1,"MsgType":"event","Event":"user_authorization_revoke","OpenID":"o_abcdefgh","RevokeInfo":{info}}}"#
            );
            let message = PushedMessage::parse(&json).unwrap();
            assert_eq!(
                message.event,
                PlatformEvent::AuthorizationRevoke {
                    openid: OpenId::parse("o_abcdefgh").unwrap(),
                    revoked: vec![2, 8],
                },
                "{info}"
            );
        }
        let no_openid =
            r#"{"CreateTime":1,"MsgType":"event","Event":"user_authorization_cancellation"}"#;
        assert!(PushedMessage::parse(no_openid).is_err());
    }

    #[test]
    fn revoked_kinds_name_what_the_shop_keeps() {
        assert_eq!(Revoked::of(2), Revoked::Address);
        assert_eq!(Revoked::of(6), Revoked::Profile);
        assert_eq!(Revoked::of(8), Revoked::Phone);
        assert_eq!(Revoked::of(1), Revoked::Other(1));
    }

    #[test]
    fn unknown_events_and_messages_are_other_and_messages_dedupe_by_their_id() {
        let text = PushedMessage::parse(
            r#"{"FromUserName":"o_1","CreateTime":5,"MsgType":"text","Content":"hi","MsgId":23456}"#,
        )
        .unwrap();
        assert_eq!(
            text.event,
            PlatformEvent::Other {
                kind: "text".into()
            }
        );
        assert_eq!(text.dedupe_key, "msg|23456");
        assert!(PushedMessage::parse("[1]").is_err());
        assert!(PushedMessage::parse("not json").is_err());
    }

    #[test]
    fn a_media_verdict_names_its_trace_and_dedupes_by_it() {
        let pushed = |trace: &str, body: &str| {
            PushedMessage::parse(&format!(
                r#"{{"ToUserName":"gh_1","FromUserName":"o_sys","CreateTime":7,"MsgType":"event","Event":"wxa_media_check","appid":"wx1","trace_id":"{trace}","version":2,{body}}}"#
            ))
            .unwrap()
        };
        let risky = pushed(
            "t-1",
            r#""errcode":0,"result":{"suggest":"risky","label":20002}"#,
        );
        assert_eq!(
            risky.event,
            PlatformEvent::MediaCheck {
                trace_id: "t-1".into(),
                verdict: crate::review::Verdict {
                    suggest: crate::review::Suggest::Risky,
                    label: 20002
                },
            }
        );
        assert_eq!(risky.dedupe_key, "media|t-1");
        assert_ne!(
            pushed(
                "t-2",
                r#""errcode":0,"result":{"suggest":"pass","label":100}"#
            )
            .dedupe_key,
            risky.dedupe_key
        );
        let failed = pushed("t-3", r#""errcode":-1008,"errmsg":"download failed""#);
        assert!(matches!(
            failed.event,
            PlatformEvent::MediaCheck { verdict, .. } if verdict.suggest == crate::review::Suggest::Review
        ));
    }

    #[test]
    fn a_push_more_than_five_minutes_off_is_stale() {
        assert!(fresh("1000", 1000 + MAX_PUSH_SKEW_SECONDS));
        assert!(!fresh("1000", 1001 + MAX_PUSH_SKEW_SECONDS));
        assert!(!fresh("2000", 1000));
        assert!(!fresh("soon", 1000));
    }
}

//! Getting parcels to shoppers: warehouses and which one ships an order, shipments with their
//! tracking timelines, the courier's state codes, and Kuaidi100's signed pushes. Pure; storage is
//! `store::shipments`, the courier itself `kuaidi100`.

use crate::ids::OrderId;
use crate::ids::UserId;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A courier's waybill as someone typed it: the Kuaidi100 company code and the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaybillInput {
    pub company: String,
    pub number: String,
}

impl WaybillInput {
    /// A company code like `zhongtong` (`known_only`: one WeChat lists, as a shipment needs
    /// for its shipping information) and a number of 6 to 30 letters and digits.
    pub fn parse(
        company: Option<&str>,
        number: Option<&str>,
        known_only: bool,
    ) -> Result<Self, crate::field::FieldError> {
        let company = company
            .filter(|c| {
                (2..=20).contains(&c.len())
                    && c.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    && (!known_only || crate::shipping_info::wechat_delivery_id(c).is_some())
            })
            .ok_or_else(|| {
                crate::field::FieldError::new(
                    "company",
                    if known_only {
                        "must be a courier WeChat knows: shunfeng, zhongtong, yuantong, yunda, shentong, ems or jd"
                    } else {
                        "must be a Kuaidi100 company code like zhongtong"
                    },
                )
            })?;
        let number = number
            .filter(|n| (6..=30).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| {
                crate::field::FieldError::new(
                    "number",
                    "must be the waybill number: 6 to 30 letters and digits",
                )
            })?;
        Ok(Self {
            company: company.to_string(),
            number: number.to_string(),
        })
    }
}

/// Where parcels leave from, which provinces it serves, and who sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warehouse {
    pub id: String,
    pub name: String,
    /// Provinces it serves, as shoppers write them ("浙江省" or "浙江").
    pub provinces: Vec<String>,
    /// Lower ships first when two warehouses serve a province.
    pub priority: u32,
    /// Ships to provinces no warehouse serves.
    #[serde(default)]
    pub is_default: bool,
    /// The courier it has a contract with, as a Kuaidi100 company code (`zhongtong`, `shunfeng`).
    pub courier: String,
    pub sender_name: String,
    pub sender_phone: String,
    pub sender_address: String,
}

impl Warehouse {
    /// The warehouse, if parcels can leave from it: a short id, a name, the provinces it serves
    /// (or it is the default), a Kuaidi100 company code, and a sender a courier can call.
    pub fn validated(mut self) -> Result<Self, crate::field::FieldError> {
        use crate::field::FieldError;
        let text = |value: &str, field: &'static str, max: usize| {
            let value = value.trim();
            if value.is_empty() || value.chars().count() > max {
                Err(FieldError::new(
                    field,
                    format!("must be 1 to {max} characters"),
                ))
            } else {
                Ok(value.to_string())
            }
        };
        crate::ids::PromotionId::parse(&self.id)
            .map_err(|e| FieldError::new("id", e.to_string()))?;
        self.name = text(&self.name, "name", 30)?;
        self.provinces = self
            .provinces
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if self.provinces.is_empty() && !self.is_default {
            return Err(FieldError::new(
                "provinces",
                "name the provinces it serves, or make it the default warehouse",
            ));
        }
        if self.provinces.len() > 40 || self.provinces.iter().any(|p| p.chars().count() > 20) {
            return Err(FieldError::new(
                "provinces",
                "at most 40 provinces of up to 20 characters",
            ));
        }
        self.courier = text(&self.courier, "courier", 30)?;
        if !self
            .courier
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(FieldError::new(
                "courier",
                "must be a Kuaidi100 company code like zhongtong or shunfeng",
            ));
        }
        self.sender_phone = text(&self.sender_phone, "senderPhone", 20)?;
        crate::phone::PhoneNumber::parse_mainland(&self.sender_phone)
            .map_err(|e| FieldError::new("senderPhone", e.to_string()))?;
        self.sender_name = text(&self.sender_name, "senderName", 25)?;
        self.sender_address = text(&self.sender_address, "senderAddress", 120)?;
        if self.priority > 1000 {
            return Err(FieldError::new("priority", "must be 0 to 1000"));
        }
        Ok(self)
    }
}

/// "浙江省", "浙江" and " 浙江 " are one province.
fn province_key(name: &str) -> &str {
    let name = name.trim();
    for suffix in [
        "维吾尔自治区",
        "壮族自治区",
        "回族自治区",
        "特别行政区",
        "自治区",
        "省",
        "市",
    ] {
        if let Some(stem) = name.strip_suffix(suffix)
            && !stem.is_empty()
        {
            return stem;
        }
    }
    name
}

/// The warehouse that ships to `province`: the serving one with the lowest priority number,
/// else the default one; `None` when the shop has neither.
pub fn choose_warehouse<'a>(warehouses: &'a [Warehouse], province: &str) -> Option<&'a Warehouse> {
    let wanted = province_key(province);
    let best = |candidates: Vec<&'a Warehouse>| {
        candidates
            .into_iter()
            .min_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)))
    };
    best(
        warehouses
            .iter()
            .filter(|w| w.provinces.iter().any(|p| province_key(p) == wanted))
            .collect(),
    )
    .or_else(|| best(warehouses.iter().filter(|w| w.is_default).collect()))
}

/// One line of a parcel's journey, as the courier reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackingEvent {
    /// "2026-11-24 10:00:00", China time, as the courier writes it.
    pub time: String,
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_name: Option<String>,
}

/// A courier state code (Kuaidi100's `state`), kept even when unknown.
pub fn state_name(code: u32) -> &'static str {
    match code {
        0 => "in_transit",
        1 => "picked_up",
        2 => "problem",
        3 => "delivered",
        4 => "refused_or_returned",
        5 => "out_for_delivery",
        6 => "returning",
        7 => "forwarded",
        8 => "customs",
        14 => "refused",
        _ => "unknown",
    }
}

pub const DELIVERED: u32 = 3;

/// States the merchant must look at.
pub fn is_exception(code: u32) -> bool {
    matches!(code, 2 | 4 | 6 | 14)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentException {
    pub state_code: u32,
    pub state: String,
    /// The courier's words for it.
    pub context: String,
    pub at: i64,
}

/// Which way a parcel goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    ToShopper,
    /// Goods the shopper sends back; signing for it does not deliver the order.
    Return,
}

/// A parcel on its way to a shopper (or back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shipment {
    pub order_id: OrderId,
    #[serde(default)]
    pub direction: Direction,
    pub user_id: UserId,
    pub warehouse_id: String,
    pub company: String,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_code: Option<u32>,
    /// Newest first.
    #[serde(default)]
    pub timeline: Vec<TrackingEvent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<ShipmentException>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
    /// How the order's shopper arrived, for the delivered metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

impl Shipment {
    /// A parcel leaving for `order`'s shopper under `company`'s waybill `number`, just recorded.
    pub fn outgoing(
        order: &crate::order::Order,
        warehouse_id: &str,
        company: &str,
        number: &str,
        now: i64,
    ) -> Self {
        Shipment {
            order_id: order.id.clone(),
            direction: Direction::ToShopper,
            user_id: order.user_id.clone(),
            warehouse_id: warehouse_id.to_string(),
            company: company.to_string(),
            number: number.to_string(),
            state_code: None,
            timeline: Vec::new(),
            exception: None,
            created_at: now,
            delivered_at: None,
            channel: order.channel.clone(),
        }
    }
}

/// What one push changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushEffect {
    pub events_added: usize,
    pub state_changed: bool,
    /// The parcel is signed for (in this push or before).
    pub delivered: bool,
    pub exception_raised: bool,
    pub company_changed: bool,
}

impl PushEffect {
    pub fn changed(&self) -> bool {
        self.events_added > 0 || self.state_changed || self.exception_raised || self.company_changed
    }
}

/// Merges `incoming` into `timeline` (both newest first): each (time, context) once.
pub fn merge_timeline(
    timeline: &[TrackingEvent],
    incoming: &[TrackingEvent],
) -> (Vec<TrackingEvent>, usize) {
    let mut merged = timeline.to_vec();
    let mut added = 0;
    for event in incoming {
        if !merged
            .iter()
            .any(|e| e.time == event.time && e.context == event.context)
        {
            merged.push(event.clone());
            added += 1;
        }
    }
    // "YYYY-MM-DD HH:MM:SS" sorts as text; ties keep a stable order by context.
    merged.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.context.cmp(&b.context)));
    (merged, added)
}

impl Shipment {
    /// Applies a courier's report. The timeline only grows; the state follows the report only
    /// when the report is at least as new as what we have, so a late, older push changes nothing.
    pub fn apply(&mut self, report: &TrackingReport, now: i64) -> PushEffect {
        let mut effect = PushEffect::default();
        if let Some(company) = &report.company_correction
            && company != &self.company
        {
            self.company = company.clone();
            effect.company_changed = true;
        }
        let newest_known = self.timeline.first().map(|e| e.time.clone());
        let newest_reported = report.events.iter().map(|e| e.time.clone()).max();
        let (merged, added) = merge_timeline(&self.timeline, &report.events);
        self.timeline = merged;
        effect.events_added = added;
        let current = newest_reported >= newest_known;
        if let Some(code) = report.state_code
            && current
            && self.state_code != Some(code)
            // Signed for is final for this parcel: a later "in transit" is a courier's echo.
            && self.state_code != Some(DELIVERED)
        {
            self.state_code = Some(code);
            effect.state_changed = true;
            if is_exception(code) {
                self.exception = Some(ShipmentException {
                    state_code: code,
                    state: state_name(code).to_string(),
                    context: self
                        .timeline
                        .first()
                        .map(|e| e.context.clone())
                        .unwrap_or_default(),
                    at: now,
                });
                effect.exception_raised = true;
            }
        }
        if self.state_code == Some(DELIVERED) {
            if self.delivered_at.is_none() {
                self.delivered_at = Some(now);
            }
            effect.delivered = true;
        }
        effect
    }
}

/// What a courier push says about one waybill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingReport {
    pub number: String,
    pub company: String,
    pub state_code: Option<u32>,
    pub events: Vec<TrackingEvent>,
    /// Kuaidi100 found the waybill belongs to another courier (`comNew`).
    pub company_correction: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    #[error("the sign does not match")]
    BadSign,
    #[error("{field} {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> PushError {
    PushError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// Uppercase hex MD5 of `param + salt`: Kuaidi100's push signature.
pub fn push_sign(param: &str, salt: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(param.as_bytes());
    md5.update(salt.as_bytes());
    hex::encode_upper(md5.finalize())
}

/// Compares in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Verifies and reads a Kuaidi100 push (`param` and `sign` from its form body). Nothing in it is
/// trusted before the sign matches.
pub fn read_push(param: &str, sign: &str, salt: &str) -> Result<TrackingReport, PushError> {
    let expected = push_sign(param, salt);
    if !constant_time_eq(
        expected.as_bytes(),
        sign.trim().to_ascii_uppercase().as_bytes(),
    ) {
        return Err(PushError::BadSign);
    }
    let body: Value = serde_json::from_str(param).map_err(|_| invalid("param", "is not JSON"))?;
    let last = body
        .get("lastResult")
        .filter(|v| v.is_object())
        .ok_or_else(|| invalid("param.lastResult", "is required"))?;
    let number = last
        .get("nu")
        .and_then(text)
        .filter(|n| !n.trim().is_empty() && n.len() <= 40)
        .ok_or_else(|| invalid("param.lastResult.nu", "is required"))?;
    let company = last.get("com").and_then(text).unwrap_or_default();
    let state_code = match last.get("state").and_then(text) {
        Some(raw) => Some(
            raw.trim()
                .parse::<u32>()
                .map_err(|_| invalid("param.lastResult.state", "must be a number"))?,
        ),
        None => None,
    };
    let events = match last.get("data") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                let time = item
                    .get("ftime")
                    .or_else(|| item.get("time"))
                    .and_then(text)
                    .ok_or_else(|| invalid("param.lastResult.data.time", "is required"))?;
                let context = item
                    .get("context")
                    .and_then(text)
                    .ok_or_else(|| invalid("param.lastResult.data.context", "is required"))?;
                Ok(TrackingEvent {
                    time,
                    context,
                    area_name: item
                        .get("areaName")
                        .and_then(text)
                        .filter(|a| !a.is_empty()),
                })
            })
            .collect::<Result<_, PushError>>()?,
        Some(_) => return Err(invalid("param.lastResult.data", "must be a list")),
    };
    let company_correction = body
        .get("comNew")
        .and_then(text)
        .filter(|c| !c.trim().is_empty());
    Ok(TrackingReport {
        number: number.trim().to_string(),
        company,
        state_code,
        events,
        company_correction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warehouse(id: &str, provinces: &[&str], priority: u32, is_default: bool) -> Warehouse {
        Warehouse {
            id: id.into(),
            name: id.into(),
            provinces: provinces.iter().map(|p| p.to_string()).collect(),
            priority,
            is_default,
            courier: "zhongtong".into(),
            sender_name: "仓库".into(),
            sender_phone: "13800000000".into(),
            sender_address: "杭州".into(),
        }
    }

    #[test]
    fn the_nearest_serving_warehouse_ships_else_the_default() {
        let all = [
            warehouse("hz", &["浙江", "江苏省", "上海市"], 1, false),
            warehouse("nj", &["江苏"], 0, false),
            warehouse("gz", &[], 5, true),
        ];
        assert_eq!(choose_warehouse(&all, "浙江省").unwrap().id, "hz");
        assert_eq!(
            choose_warehouse(&all, "江苏省").unwrap().id,
            "nj",
            "lower priority number wins"
        );
        assert_eq!(choose_warehouse(&all, "上海").unwrap().id, "hz");
        assert_eq!(choose_warehouse(&all, "新疆维吾尔自治区").unwrap().id, "gz");
        assert!(choose_warehouse(&all[..2], "西藏自治区").is_none());
    }

    fn event(time: &str, context: &str) -> TrackingEvent {
        TrackingEvent {
            time: time.into(),
            context: context.into(),
            area_name: None,
        }
    }

    fn shipment() -> Shipment {
        Shipment {
            order_id: OrderId::parse("20261124abcdefgh").unwrap(),
            direction: Direction::ToShopper,
            user_id: UserId::parse("u1").unwrap(),
            warehouse_id: "hz".into(),
            company: "zhongtong".into(),
            number: "ZT1".into(),
            state_code: None,
            timeline: Vec::new(),
            exception: None,
            created_at: 0,
            delivered_at: None,
            channel: None,
        }
    }

    fn report(state: u32, events: &[TrackingEvent]) -> TrackingReport {
        TrackingReport {
            number: "ZT1".into(),
            company: "zhongtong".into(),
            state_code: Some(state),
            events: events.to_vec(),
            company_correction: None,
        }
    }

    #[test]
    fn a_repeated_whole_history_adds_each_event_once_newest_first() {
        let first = [event("2026-11-24 10:00:00", "已揽收")];
        let second = [
            event("2026-11-25 08:00:00", "运输中"),
            event("2026-11-24 10:00:00", "已揽收"),
        ];
        let mut s = shipment();
        assert_eq!(s.apply(&report(1, &first), 1).events_added, 1);
        assert_eq!(s.apply(&report(0, &second), 2).events_added, 1);
        let again = s.apply(&report(0, &second), 3);
        assert!(!again.changed());
        assert_eq!(s.timeline[0].context, "运输中");
        assert_eq!(s.timeline.len(), 2);
    }

    #[test]
    fn a_late_older_push_never_moves_the_state_back() {
        let history = [
            event("2026-11-24 10:00:00", "已揽收"),
            event("2026-11-26 09:00:00", "已签收"),
        ];
        let mut s = shipment();
        let signed = s.apply(&report(DELIVERED, &history), 5);
        assert!(signed.delivered && signed.state_changed);
        let late = s.apply(&report(0, &history[..1]), 6);
        assert_eq!(s.state_code, Some(DELIVERED));
        assert!(!late.state_changed && late.delivered);
        assert_eq!(s.delivered_at, Some(5));
    }

    #[test]
    fn problems_are_marked_for_the_merchant() {
        let mut s = shipment();
        let effect = s.apply(
            &report(
                2,
                &[event("2026-11-25 08:00:00", "地址不详，联系不上收件人")],
            ),
            7,
        );
        assert!(effect.exception_raised);
        let exception = s.exception.unwrap();
        assert_eq!(
            (exception.state.as_str(), exception.context.as_str()),
            ("problem", "地址不详，联系不上收件人")
        );
    }

    #[test]
    fn only_a_push_signed_with_our_salt_is_read() {
        let param = r#"{"status":"polling","comNew":"yuantong","lastResult":{"state":"3","com":"zhongtong","nu":"ZT1","data":[{"context":"已签收","time":"2026-11-26 09:00:00","ftime":"2026-11-26 09:00:00","areaName":"杭州"}]}}"#;
        let sign = push_sign(param, "salt");
        assert_eq!(sign.len(), 32);
        assert!(
            sign.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        let read = read_push(param, &sign, "salt").unwrap();
        assert_eq!((read.number.as_str(), read.state_code), ("ZT1", Some(3)));
        assert_eq!(read.company_correction.as_deref(), Some("yuantong"));
        assert_eq!(read.events[0].area_name.as_deref(), Some("杭州"));
        assert_eq!(read_push(param, &sign, "other"), Err(PushError::BadSign));
        assert_eq!(
            read_push(&param.replace("ZT1", "ZT2"), &sign, "salt"),
            Err(PushError::BadSign)
        );
        let no_number = r#"{"lastResult":{"state":"0","data":[]}}"#;
        assert!(matches!(
            read_push(no_number, &push_sign(no_number, "s"), "s"),
            Err(PushError::Invalid {
                field: "param.lastResult.nu",
                ..
            })
        ));
    }
}

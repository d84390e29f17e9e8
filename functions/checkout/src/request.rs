//! What a checkout request says, parsed: every field that is wrong gets a 400 naming it.

use app::payment::Provider;
use domain::ids::SkuId;
use domain::ids::{AddressId, CouponId, UserId};
use domain::ids::{BargainId, GroupId};
use domain::media::{UploadPurpose, photo_keys};
use domain::order::{Address, AddressInput, Quantity};
use domain::refund::{Evidence, MAX_DESCRIPTION_CHARS, MAX_EVIDENCE_PHOTOS, RefundKind};
use domain::social::Profile;
use edge::api::{ApiError, ApiRequest, RequestExt};
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::cart::OfferRef;

/// Lines per order: with each line's stock, flash-sale count, the coupon and the points, an
/// order's writes stay inside DynamoDB's 100 items per transaction.
pub(crate) const MAX_LINES: usize = 40;

/// The `Idempotency-Key` header: 1 to 64 printable ASCII characters.
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn from_request(req: &ApiRequest) -> Result<Self, ApiError> {
        let raw = req
            .header_str("idempotency-key")
            .map(str::trim)
            .unwrap_or("");
        if raw.is_empty() {
            return Err(ApiError::invalid_field(
                "Idempotency-Key",
                "header is required: a unique key per order, reused when retrying it",
            ));
        }
        if raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::invalid_field(
                "Idempotency-Key",
                "must be 1 to 64 printable ASCII characters",
            ));
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub struct CheckoutRequest {
    /// With `from_cart`, empty until the cart's selected lines are read.
    pub items: Vec<(SkuId, Quantity)>,
    /// Order the selected lines of the shopper's cart instead of `items`.
    pub from_cart: bool,
    /// Given inline, or read from the address book when the order names `address_id`.
    pub address: Option<Address>,
    pub address_id: Option<AddressId>,
    /// The wallet coupon to use, if any.
    pub coupon: Option<CouponId>,
    /// Points the shopper wants to spend (the most allowed is used when this is more).
    pub points: u64,
    /// A group-buy seat or a bargain the order is for.
    pub offer: Option<Offer>,
    /// Who takes the money: `wechat` (the default) or `alipay`.
    pub provider: Provider,
}

fn parse_provider(body: &Value) -> Result<Provider, ApiError> {
    match body.get("provider") {
        None | Some(Value::Null) => Ok(Provider::Wechat),
        Some(Value::String(p)) if p == "wechat" => Ok(Provider::Wechat),
        Some(Value::String(p)) if p == "alipay" => Ok(Provider::Alipay),
        Some(_) => Err(ApiError::invalid_field(
            "provider",
            "must be \"wechat\" or \"alipay\"",
        )),
    }
}

/// `groupBuy: {}` starts a group, `groupBuy: {groupId}` joins one, `bargainId` uses a bargain;
/// each prices its one line at the offer's price.
#[derive(Debug, Clone, PartialEq)]
pub enum Offer {
    StartGroup(Profile),
    JoinGroup(GroupId, Profile),
    Bargain(BargainId),
}

impl Offer {
    pub fn reference(&self) -> Option<OfferRef> {
        match self {
            Offer::StartGroup(_) => None,
            Offer::JoinGroup(id, _) => Some(OfferRef::Group(id.clone())),
            Offer::Bargain(id) => Some(OfferRef::Bargain(id.clone())),
        }
    }

    fn fingerprint(&self) -> Value {
        match self {
            Offer::StartGroup(_) => serde_json::json!({"groupBuy": {}}),
            Offer::JoinGroup(id, _) => serde_json::json!({"groupBuy": {"groupId": id}}),
            Offer::Bargain(id) => serde_json::json!({"bargainId": id}),
        }
    }
}

fn parse_offer(body: &Value, items: &[(SkuId, Quantity)]) -> Result<Option<Offer>, ApiError> {
    let group = body.get("groupBuy").filter(|v| !v.is_null());
    let bargain = body.get("bargainId").filter(|v| !v.is_null());
    let offer = match (group, bargain) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_field(
                "bargainId",
                "an order is either a group-buy or a bargain, not both",
            ));
        }
        (Some(Value::Object(g)), None) => {
            let profile = Profile::from_json(&Value::Object(g.clone()), "groupBuy.")?;
            match g.get("groupId").filter(|v| !v.is_null()) {
                None => Offer::StartGroup(profile),
                Some(raw) => Offer::JoinGroup(
                    raw.as_str()
                        .and_then(|r| GroupId::parse(r).ok())
                        .ok_or_else(|| {
                            ApiError::invalid_field("groupBuy.groupId", "must be a group id")
                        })?,
                    profile,
                ),
            }
        }
        (Some(_), None) => {
            return Err(ApiError::invalid_field(
                "groupBuy",
                "must be an object: {} to start a group, {groupId} to join one",
            ));
        }
        (None, Some(raw)) => Offer::Bargain(
            raw.as_str()
                .and_then(|r| BargainId::parse(r).ok())
                .ok_or_else(|| ApiError::invalid_field("bargainId", "must be a bargain id"))?,
        ),
    };
    if items.len() != 1 {
        return Err(ApiError::invalid_field(
            "items",
            "a group-buy or bargain order has exactly one line",
        ));
    }
    if matches!(offer, Offer::Bargain(_)) && items[0].1.get() != 1 {
        return Err(ApiError::invalid_field(
            "items[0].quantity",
            "a bargain buys one unit",
        ));
    }
    Ok(Some(offer))
}

/// Where an order goes, as the request names it.
pub(crate) enum Destination {
    Inline(Address),
    /// An address of the shopper's book.
    Saved(AddressId),
}

/// Where an order goes: an `address` given inline or an `addressId` from the address book
/// (never both); `None` when the body names neither.
pub(crate) fn parse_delivery(body: &Value) -> Result<Option<Destination>, ApiError> {
    match (
        body.get("address").filter(|a| !a.is_null()),
        body.get("addressId").filter(|a| !a.is_null()),
    ) {
        (Some(_), Some(_)) => Err(ApiError::invalid_field(
            "addressId",
            "send an address or an addressId from the address book, not both",
        )),
        (None, None) => Ok(None),
        (Some(raw), None) => {
            let input: AddressInput = serde_json::from_value(raw.clone()).map_err(|_| {
                ApiError::invalid_field("address", "must be an object of text fields")
            })?;
            Ok(Some(Destination::Inline(Address::parse(
                &input, "address",
            )?)))
        }
        (None, Some(raw)) => Ok(Some(Destination::Saved(
            raw.as_str()
                .and_then(|r| AddressId::parse(r).ok())
                .ok_or_else(|| ApiError::invalid_field("addressId", "must be an address id"))?,
        ))),
    }
}

impl CheckoutRequest {
    pub fn parse_quote(req: &ApiRequest) -> Result<Self, ApiError> {
        let body: Value = req.json_body()?;
        let items = parse_items(&body)?;
        Ok(Self {
            offer: parse_offer(&body, &items)?,
            provider: parse_provider(&body)?,
            items,
            from_cart: false,
            address: None,
            address_id: None,
            coupon: parse_coupon(&body)?,
            points: parse_points(&body)?,
        })
    }

    pub fn parse_order(req: &ApiRequest) -> Result<Self, ApiError> {
        let body: Value = req.json_body()?;
        let from_cart = match body.get("fromCart") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => return Err(ApiError::invalid_field("fromCart", "must be true or false")),
        };
        let items = if from_cart {
            if body.get("items").is_some_and(|i| !i.is_null()) {
                return Err(ApiError::invalid_field(
                    "items",
                    "an order from the cart takes its selected lines: send items or fromCart, not both",
                ));
            }
            Vec::new()
        } else {
            parse_items(&body)?
        };
        let (address, address_id) = match parse_delivery(&body)? {
            Some(Destination::Inline(address)) => (Some(address), None),
            Some(Destination::Saved(id)) => (None, Some(id)),
            None => {
                return Err(ApiError::invalid_field(
                    "address",
                    "is required (or an addressId from the address book)",
                ));
            }
        };
        let offer = parse_offer(&body, &items)?;
        if from_cart && offer.is_some() {
            return Err(ApiError::invalid_field(
                "fromCart",
                "a group-buy or bargain order names its one line in items",
            ));
        }
        Ok(Self {
            offer,
            provider: parse_provider(&body)?,
            items,
            from_cart,
            address,
            address_id,
            coupon: parse_coupon(&body)?,
            points: parse_points(&body)?,
        })
    }

    /// A hash of what was asked for: the same Idempotency-Key with a different request is refused.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::json!({
            "items": self.items.iter().map(|(s, q)| (s.as_str(), q.get())).collect::<Vec<_>>(),
            "fromCart": self.from_cart,
            "address": self.address,
            "addressId": self.address_id,
            "couponId": self.coupon.as_ref().map(ToString::to_string),
            "points": self.points,
            "offer": self.offer.as_ref().map(Offer::fingerprint),
            "provider": self.provider,
        });
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// `POST /v1/orders/{id}/refund {reason, lines?}`: `lines` lists SKU ids; none means all.
pub struct RefundRequest {
    pub reason: String,
    pub lines: Option<Vec<SkuId>>,
    /// `kind`, `description` and `photos`, kept with the refund.
    pub evidence: Evidence,
}

impl RefundRequest {
    /// `photos` must be the caller's own after-sales uploads.
    pub fn parse(req: &ApiRequest, user: &UserId) -> Result<Self, ApiError> {
        let body: Value = req.json_body()?;
        let kind = match body.get("kind") {
            None | Some(Value::Null) => RefundKind::RefundOnly,
            Some(Value::String(k)) if k == "refund_only" => RefundKind::RefundOnly,
            Some(Value::String(k)) if k == "return_and_refund" => RefundKind::ReturnAndRefund,
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "kind",
                    "must be \"refund_only\" or \"return_and_refund\"",
                ));
            }
        };
        let description = match body.get("description") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(d))
                if d.trim().chars().count() <= MAX_DESCRIPTION_CHARS
                    && !d.chars().any(|c| c.is_control() && c != '\n') =>
            {
                d.trim().to_string()
            }
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "description",
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters of text"),
                ));
            }
        };
        let photos = photo_keys(
            "photos",
            body.get("photos"),
            MAX_EVIDENCE_PHOTOS,
            user,
            UploadPurpose::AfterSale,
        )?;
        let evidence = Evidence {
            kind,
            description,
            photos,
        };
        let reason = body
            .get("reason")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|r| {
                !r.is_empty() && r.chars().count() <= 80 && !r.chars().any(char::is_control)
            })
            .ok_or_else(|| ApiError::invalid_field("reason", "is required: 1 to 80 characters"))?
            .to_string();
        let lines = match body.get("lines") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_LINES => Some(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_str()
                            .ok_or("must be a SKU id".to_string())
                            .and_then(|s| SkuId::parse(s).map_err(|e| e.to_string()))
                            .map_err(|e| ApiError::invalid_field(format!("lines[{i}]"), e))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "lines",
                    "must be a list of the SKU ids to refund",
                ));
            }
        };
        Ok(Self {
            reason,
            lines,
            evidence,
        })
    }
}

/// `POST /v1/orders/{id}/return {company, number}`: the courier and waybill of goods sent back.
pub struct ReturnRequest {
    pub company: String,
    pub number: String,
}

impl ReturnRequest {
    pub fn parse(req: &ApiRequest) -> Result<Self, ApiError> {
        let body: Value = req.json_body()?;
        let waybill = domain::logistics::WaybillInput::parse(
            body.get("company").and_then(Value::as_str),
            body.get("number").and_then(Value::as_str),
            false,
        )?;
        Ok(Self {
            company: waybill.company,
            number: waybill.number,
        })
    }
}

fn parse_coupon(body: &Value) -> Result<Option<CouponId>, ApiError> {
    match body.get("couponId") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) if raw.is_empty() => Ok(None),
        Some(Value::String(raw)) => CouponId::parse(raw)
            .map(Some)
            .map_err(|e| ApiError::invalid_field("couponId", e)),
        Some(_) => Err(ApiError::invalid_field(
            "couponId",
            "must be a coupon id from the wallet, like new-user.1",
        )),
    }
}

fn parse_points(body: &Value) -> Result<u64, ApiError> {
    match body.get("points") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().filter(|p| *p <= 1_000_000_000).ok_or_else(|| {
            ApiError::invalid_field("points", "must be a whole number of points, 0 or more")
        }),
    }
}

fn parse_items(body: &Value) -> Result<Vec<(SkuId, Quantity)>, ApiError> {
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::invalid_field("items", "must be a list of {skuId, quantity}"))?;
    if items.is_empty() || items.len() > MAX_LINES {
        return Err(ApiError::invalid_field(
            "items",
            format!("must have 1 to {MAX_LINES} lines"),
        ));
    }
    let mut parsed: Vec<(SkuId, Quantity)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let sku = item
            .get("skuId")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_field(format!("items[{i}].skuId"), "is required"))
            .and_then(|s| {
                SkuId::parse(s).map_err(|e| ApiError::invalid_field(format!("items[{i}].skuId"), e))
            })?;
        let quantity = item
            .get("quantity")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                ApiError::invalid_field(format!("items[{i}].quantity"), "must be a whole number")
            })
            .and_then(|q| {
                Quantity::new(q)
                    .map_err(|e| ApiError::invalid_field(format!("items[{i}].quantity"), e))
            })?;
        // One line per SKU: a transaction touches each item once, and a shopper means one line.
        if parsed.iter().any(|(s, _)| s == &sku) {
            return Err(ApiError::invalid_field(
                format!("items[{i}].skuId"),
                "appears twice; put the total quantity on one line",
            ));
        }
        parsed.push((sku, quantity));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> ApiRequest {
        ApiRequest::new(edge::api::Body::Text(body.to_string()))
    }

    fn address() -> Value {
        json!({"name": "张三", "phone": "13812345678", "province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "文三路1号"})
    }

    #[test]
    fn bad_lines_name_their_field() {
        let cases = [
            (json!({}), "items"),
            (json!({"items": []}), "items"),
            (json!({"items": [{"quantity": 1}]}), "items[0].skuId"),
            (
                json!({"items": [{"skuId": "a", "quantity": 0}]}),
                "items[0].quantity",
            ),
            (
                json!({"items": [{"skuId": "a", "quantity": 1000}]}),
                "items[0].quantity",
            ),
            (
                json!({"items": [{"skuId": "a", "quantity": "2"}]}),
                "items[0].quantity",
            ),
            (
                json!({"items": [{"skuId": "a", "quantity": 1}, {"skuId": "a", "quantity": 2}]}),
                "items[1].skuId",
            ),
            (
                json!({"items": [{"skuId": "a#1", "quantity": 1}]}),
                "items[0].skuId",
            ),
        ];
        for (body, field) in cases {
            let err = CheckoutRequest::parse_quote(&request(body.clone()))
                .err()
                .unwrap();
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
        for (body, field) in [
            (
                json!({"items": [{"skuId": "a", "quantity": 1}], "couponId": "x"}),
                "couponId",
            ),
            (
                json!({"items": [{"skuId": "a", "quantity": 1}], "couponId": 5}),
                "couponId",
            ),
            (
                json!({"items": [{"skuId": "a", "quantity": 1}], "points": -1}),
                "points",
            ),
            (
                json!({"items": [{"skuId": "a", "quantity": 1}], "points": 1.5}),
                "points",
            ),
        ] {
            let err = CheckoutRequest::parse_quote(&request(body.clone()))
                .err()
                .unwrap();
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
        let too_many: Vec<Value> = (0..41)
            .map(|i| json!({"skuId": format!("s{i}"), "quantity": 1}))
            .collect();
        assert_eq!(
            CheckoutRequest::parse_quote(&request(json!({"items": too_many})))
                .err()
                .unwrap()
                .field
                .as_deref(),
            Some("items")
        );
    }

    #[test]
    fn orders_need_a_full_address() {
        let items = json!([{"skuId": "a", "quantity": 1}]);
        let none = CheckoutRequest::parse_order(&request(json!({"items": items})))
            .err()
            .unwrap();
        assert_eq!(none.field.as_deref(), Some("address"));
        let mut bad = address();
        bad["phone"] = json!("1234");
        let err = CheckoutRequest::parse_order(&request(json!({"items": items, "address": bad})))
            .err()
            .unwrap();
        assert_eq!(err.field.as_deref(), Some("address.phone"));
        assert!(
            CheckoutRequest::parse_order(&request(json!({"items": items, "address": address()})))
                .is_ok()
        );
    }

    #[test]
    fn the_fingerprint_changes_with_what_was_asked() {
        let a = CheckoutRequest::parse_order(&request(
            json!({"items": [{"skuId": "a", "quantity": 1}], "address": address()}),
        ))
        .unwrap();
        let b = CheckoutRequest::parse_order(&request(
            json!({"items": [{"skuId": "a", "quantity": 2}], "address": address()}),
        ))
        .unwrap();
        let a2 = CheckoutRequest::parse_order(&request(
            json!({"address": address(), "items": [{"skuId": "a", "quantity": 1}]}),
        ))
        .unwrap();
        let with_coupon = CheckoutRequest::parse_order(&request(
            json!({"items": [{"skuId": "a", "quantity": 1}], "address": address(), "couponId": "new-user.1"}),
        ))
        .unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), with_coupon.fingerprint());
        assert_eq!(a.fingerprint(), a2.fingerprint());
    }

    #[test]
    fn refund_and_return_requests_name_their_bad_field() {
        let refund_cases = [
            (json!({}), "reason"),
            (json!({"reason": "  "}), "reason"),
            (json!({"reason": "坏".repeat(81)}), "reason"),
            (json!({"reason": "坏了", "lines": "walnut-1"}), "lines"),
            (json!({"reason": "坏了", "lines": []}), "lines"),
            (json!({"reason": "坏了", "lines": ["ok", 5]}), "lines[1]"),
            (json!({"reason": "坏了", "lines": ["a#b"]}), "lines[0]"),
            (json!({"reason": "坏了", "kind": "exchange"}), "kind"),
            (
                json!({"reason": "坏了", "description": "长".repeat(201)}),
                "description",
            ),
            (
                json!({"reason": "坏了", "photos": ["/etc/passwd"]}),
                "photos[0]",
            ),
        ];
        let me = UserId::parse("u1abc").unwrap();
        for (body, field) in refund_cases {
            let err = RefundRequest::parse(&request(body.clone()), &me)
                .err()
                .unwrap();
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
        let all = RefundRequest::parse(&request(json!({"reason": " 不想要了 "})), &me).unwrap();
        assert_eq!((all.reason.as_str(), all.lines), ("不想要了", None));
        assert_eq!(all.evidence.kind, RefundKind::RefundOnly);

        let return_cases = [
            (json!({"number": "ZT7399000001"}), "company"),
            (
                json!({"company": "中通", "number": "ZT7399000001"}),
                "company",
            ),
            (json!({"company": "zhongtong"}), "number"),
            (json!({"company": "zhongtong", "number": "ZT-1"}), "number"),
        ];
        for (body, field) in return_cases {
            let err = ReturnRequest::parse(&request(body.clone())).err().unwrap();
            assert_eq!(err.field.as_deref(), Some(field), "{body}");
        }
        assert!(
            ReturnRequest::parse(&request(
                json!({"company": "zhongtong", "number": "ZT7399000001"})
            ))
            .is_ok()
        );
    }

    #[test]
    fn the_idempotency_key_is_required_and_bounded() {
        let mut req = ApiRequest::default();
        assert_eq!(
            IdempotencyKey::from_request(&req)
                .err()
                .unwrap()
                .field
                .as_deref(),
            Some("Idempotency-Key")
        );
        req.headers_mut()
            .insert("idempotency-key", "x".repeat(65).parse().unwrap());
        assert!(IdempotencyKey::from_request(&req).is_err());
        req.headers_mut()
            .insert("idempotency-key", "order-1".parse().unwrap());
        assert_eq!(
            IdempotencyKey::from_request(&req).unwrap().as_str(),
            "order-1"
        );
    }
}

//! Orders: their numbers, lines, delivery address and the life they move through.

use crate::field::FieldError;
use crate::ids::{BargainId, CouponId, GroupId, OrderId, ProductId, SkuId, UserId};
use crate::money::Fen;
use crate::phone::PhoneNumber;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How many of one SKU a line takes: 1 to 999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

pub const MAX_QUANTITY: u32 = 999;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number from 1 to {MAX_QUANTITY}")]
pub struct InvalidQuantity;

impl Quantity {
    pub fn new(n: i64) -> Result<Self, InvalidQuantity> {
        u32::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_QUANTITY).contains(n))
            .map(Self)
            .ok_or(InvalidQuantity)
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Quantity {
    type Error = InvalidQuantity;
    fn try_from(n: u32) -> Result<Self, InvalidQuantity> {
        Self::new(i64::from(n))
    }
}

/// A cart line (at most 99) always makes an order line.
impl From<crate::cart::CartQuantity> for Quantity {
    fn from(q: crate::cart::CartQuantity) -> Self {
        Quantity(q.get())
    }
}

impl From<Quantity> for u32 {
    fn from(q: Quantity) -> u32 {
        q.0
    }
}

/// Where the parcel goes, as the shopper entered it; kept on the order as it was at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub detail: String,
}

/// The address fields as they arrive, before parsing.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddressInput {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub detail: Option<String>,
}

/// A note the shop's staff keep on an order (only staff see it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffNote {
    pub at: i64,
    /// The staff member's id.
    pub by: String,
    pub text: String,
}

/// A note's text: 1 to 500 characters.
pub fn note_text(raw: Option<&str>) -> Result<String, FieldError> {
    let text = raw.map(str::trim).unwrap_or("");
    if text.is_empty() || text.chars().count() > 500 {
        return Err(FieldError::new("text", "is required: 1 to 500 characters"));
    }
    Ok(text.to_string())
}

/// The receiver as staff without the reveal permission see them: the name's first
/// character, the phone's first three and last four digits, the street hidden.
pub fn masked_receiver(address: &Address) -> Address {
    let name = match address.name.chars().next() {
        Some(first) if address.name.chars().count() > 1 => format!("{first}*"),
        Some(_) => "*".into(),
        None => String::new(),
    };
    let phone = crate::phone::PhoneNumber::parse_mainland(&address.phone)
        .map(|p| p.masked())
        .unwrap_or_else(|_| {
            if address.phone.is_empty() {
                String::new()
            } else {
                "****".into()
            }
        });
    Address {
        name,
        phone,
        province: address.province.clone(),
        city: address.city.clone(),
        district: address.district.clone(),
        detail: if address.detail.is_empty() {
            String::new()
        } else {
            "****".into()
        },
    }
}

/// What an erased order shows where its receiver was.
pub const ERASED_RECEIVER: &str = "已注销用户";

impl Address {
    /// What an order keeps of its address once its shopper is erased: the province and city
    /// (the shop's sales by region still add up), nothing that finds a person.
    pub fn erased(&self) -> Address {
        Address {
            name: ERASED_RECEIVER.into(),
            phone: String::new(),
            province: self.province.clone(),
            city: self.city.clone(),
            district: String::new(),
            detail: String::new(),
        }
    }

    /// Every field required, trimmed, of a sane length; the phone a mainland mobile number.
    /// Fields are named `<prefix>.<field>`, or just `<field>` with an empty prefix.
    pub fn parse(input: &AddressInput, prefix: &str) -> Result<Self, FieldError> {
        let named = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            }
        };
        let text = |value: &Option<String>, name: &str, max: usize| -> Result<String, FieldError> {
            let field = named(name);
            let v = value.as_deref().map(str::trim).unwrap_or("");
            if v.is_empty() {
                return Err(FieldError {
                    field,
                    problem: "is required".into(),
                });
            }
            if v.chars().count() > max || v.chars().any(char::is_control) {
                return Err(FieldError {
                    field,
                    problem: format!("must be at most {max} characters of text"),
                });
            }
            Ok(v.to_string())
        };
        let phone_raw = text(&input.phone, "phone", 20)?;
        let phone = PhoneNumber::parse_mainland(&phone_raw).map_err(|e| FieldError {
            field: named("phone"),
            problem: e.to_string(),
        })?;
        Ok(Self {
            name: text(&input.name, "name", 25)?,
            phone: phone.expose().to_string(),
            province: text(&input.province, "province", 20)?,
            city: text(&input.city, "city", 20)?,
            district: text(&input.district, "district", 20)?,
            detail: text(&input.detail, "detail", 120)?,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    WaitingGroup,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    Refunding,
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "PENDING_PAYMENT",
            OrderStatus::Paid => "PAID",
            OrderStatus::WaitingGroup => "WAITING_GROUP",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Completed => "COMPLETED",
            OrderStatus::Cancelled => "CANCELLED",
            OrderStatus::Refunding => "REFUNDING",
            OrderStatus::Refunded => "REFUNDED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(raw.to_string())).ok()
    }

    /// The order life: forward only. Every transition is written conditional on the status it
    /// leaves, so a duplicate or late event finds the order moved on and changes nothing.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        matches!(
            (self, next),
            (PendingPayment, Paid | Cancelled)
                | (Paid, WaitingGroup | Shipped | Refunding)
                | (WaitingGroup, Shipped | Refunding)
                | (Shipped, Delivered | Refunding)
                | (Delivered, Completed | Refunding)
                | (Refunding, Refunded)
        )
    }

    /// Money has been received for the order (and not given back).
    pub fn is_paid_or_beyond(self) -> bool {
        !matches!(self, OrderStatus::PendingPayment | OrderStatus::Cancelled)
    }

    /// The order still needs its shopper: a payment may arrive, goods are on their way, or money
    /// is on its way back. Such an order keeps its address and blocks deleting the account.
    pub fn in_flight(self) -> bool {
        use OrderStatus::*;
        matches!(
            self,
            PendingPayment | Paid | WaitingGroup | Shipped | Refunding
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub title: String,
    pub specs: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub unit_price: Fen,
    pub quantity: Quantity,
    /// Units bought at the flash-sale price; their quota comes back if the order is cancelled.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub flash_quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_price: Option<Fen>,
    /// What this line costs after its share of every discount.
    pub line_total: Fen,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Discount {
    pub kind: String,
    pub label: String,
    pub amount: Fen,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub status: OrderStatus,
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: OrderId,
    pub user_id: UserId,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub subtotal: Fen,
    #[serde(default)]
    pub discounts: Vec<Discount>,
    pub shipping: Fen,
    pub total: Fen,
    /// The wallet coupon this order holds; it goes back to the wallet if the order is cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<CouponId>,
    /// Points this order spent; they come back if it is cancelled.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub points_used: u64,
    /// The group-buy group this order holds a seat in; it ships when the group completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<GroupId>,
    /// This order started its group: if it is never paid, the group closes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group_leader: bool,
    /// The bargain whose price this order took; it is usable again if the order is cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bargain_id: Option<BargainId>,
    /// The points-mall gift this order redeems: its unit and the shopper's allowance go back
    /// to the mall, with the points, if the order is cancelled or refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mall_item: Option<crate::ids::MallItemId>,
    /// Who takes the money: WeChat Pay unless the shopper chose Alipay.
    #[serde(default = "wechat")]
    pub provider: crate::payment::Provider,
    /// How the shopper arrived (`share`, `qrcode`, `direct`, ...), for the funnel by channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Who invited the buyer: their first paid order decides the inviter's reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<UserId>,
    pub address: Address,
    pub created_at: i64,
    /// Unpaid after this (epoch seconds), the order is cancelled and its stock released.
    pub pay_deadline: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The parcel, once shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<ShipmentSummary>,
    /// When the courier reported it signed for, or the shopper confirmed it on WeChat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<i64>,
    /// WeChat's settlement of a WeChat Pay order (`trade_manage_order_settlement`): when the
    /// shopper confirmed receipt, when the funds were settled, and WeChat's estimate until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_received_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_settlement_at: Option<i64>,
    /// The shipping information upload WeChat needs before it releases a WeChat Pay order's
    /// funds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_upload: Option<ShippingUpload>,
    /// The parcel the shopper sends back, before a shipped order's refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_shipment: Option<ShipmentSummary>,
    /// Lines refunded or being refunded, and how much of the total that is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refunded_skus: Vec<SkuId>,
    #[serde(default, skip_serializing_if = "is_zero_fen")]
    pub refunded_amount: Fen,
    /// Refunds asked for so far; every refund is written conditional on it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refund_count: u32,
    /// Ordered from the shopper's cart: the bought lines leave it once the order is paid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_cart: bool,
    #[serde(default)]
    pub history: Vec<StatusChange>,
}

impl Order {
    /// What the shopper sees as the payment's description: the first line's title.
    pub fn payment_subject(&self) -> &str {
        self.lines.first().map_or("订单", |l| l.title.as_str())
    }
}

fn wechat() -> crate::payment::Provider {
    crate::payment::Provider::Wechat
}

fn is_zero_fen(f: &Fen) -> bool {
    f.get() == 0
}

/// Where an order's shipping information upload stands, as the order and the shopper's
/// order page show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingUpload {
    pub state: UploadState,
    /// The waybill last uploaded: a second upload happens only for another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_no: Option<String>,
    /// Uploads WeChat accepted for this payment (it takes at most two).
    #[serde(default)]
    pub uploads: u32,
    /// Tries of the current upload, for the retry's backoff.
    #[serde(default)]
    pub attempts: u32,
    /// WeChat's errcode when the upload failed or is being retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<i64>,
    /// A worker is talking to WeChat about it until then; after, another may take over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_until: Option<i64>,
    /// When WeChat was told the courier delivered it (`notify_confirm_receive`, once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_notified_at: Option<i64>,
    /// Bumped by every write: each is conditional on the version it read.
    #[serde(default)]
    pub version: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UploadState {
    Pending,
    Uploaded,
    Failed,
}

/// Which courier carries the order and under what waybill number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentSummary {
    pub company: String,
    pub number: String,
    pub warehouse_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_fit_wechat_pay_and_do_not_repeat() {
        let a = OrderId::generate(1_795_521_600);
        let b = OrderId::generate(1_795_521_600);
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("20261124"));
        assert_eq!(a.as_str().len(), 24);
        assert!(OrderId::parse(a.as_str()).is_ok());
        for bad in ["12345", &"1".repeat(33), "2026#1234"] {
            assert!(OrderId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quantities_are_1_to_999() {
        assert!(Quantity::new(1).is_ok() && Quantity::new(999).is_ok());
        for bad in [0, -1, 1000, i64::MAX] {
            assert!(Quantity::new(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Quantity>("0").is_err());
    }

    #[test]
    fn the_order_life_only_moves_forward() {
        use OrderStatus::*;
        assert!(PendingPayment.can_become(Paid));
        assert!(PendingPayment.can_become(Cancelled));
        assert!(!Paid.can_become(PendingPayment));
        assert!(
            !Cancelled.can_become(Paid),
            "a cancelled order is never revived"
        );
        assert!(!Refunded.can_become(Refunding));
        assert!(Shipped.can_become(Delivered) && !Delivered.can_become(Shipped));
        assert_eq!(OrderStatus::parse("PENDING_PAYMENT"), Some(PendingPayment));
        assert_eq!(OrderStatus::parse("paid"), None);
    }

    #[test]
    fn only_finished_orders_let_their_shopper_go() {
        use OrderStatus::*;
        for status in [PendingPayment, Paid, WaitingGroup, Shipped, Refunding] {
            assert!(status.in_flight(), "{status:?}");
        }
        for status in [Delivered, Completed, Cancelled, Refunded] {
            assert!(!status.in_flight(), "{status:?}");
        }
    }

    #[test]
    fn an_erased_address_keeps_the_region_and_nothing_that_finds_a_person() {
        let address = Address {
            name: "张三".into(),
            phone: "13812345678".into(),
            province: "浙江省".into(),
            city: "杭州市".into(),
            district: "西湖区".into(),
            detail: "文三路 90 号".into(),
        };
        let erased = address.erased();
        assert_eq!(erased.name, ERASED_RECEIVER);
        assert_eq!(
            (erased.province.as_str(), erased.city.as_str()),
            ("浙江省", "杭州市")
        );
        assert!(erased.phone.is_empty() && erased.district.is_empty() && erased.detail.is_empty());
    }

    #[test]
    fn addresses_name_the_bad_field() {
        let good = AddressInput {
            name: Some("张三".into()),
            phone: Some("13812345678".into()),
            province: Some("浙江省".into()),
            city: Some("杭州市".into()),
            district: Some("西湖区".into()),
            detail: Some("文三路 1 号".into()),
        };
        assert!(Address::parse(&good, "address").is_ok());
        let no_city = AddressInput {
            city: Some("  ".into()),
            ..good.clone()
        };
        assert_eq!(
            Address::parse(&no_city, "address").unwrap_err().field,
            "address.city"
        );
        let bad_phone = AddressInput {
            phone: Some("12345".into()),
            ..good.clone()
        };
        assert_eq!(
            Address::parse(&bad_phone, "address").unwrap_err().field,
            "address.phone"
        );
        let long = AddressInput {
            detail: Some("路".repeat(121)),
            ..good
        };
        assert_eq!(
            Address::parse(&long, "address").unwrap_err().field,
            "address.detail"
        );
    }
}

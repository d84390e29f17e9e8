//! After-sales refunds: what a refund of some or all of an order's lines returns, computed from
//! the line amounts stored on the order (each already net of its share of every discount), so
//! the refunds of an order never add up to more than was paid. Pure; storage is
//! `store::refunds`, the money moves through WeChat Pay.

use crate::ids::OrderId;
use crate::ids::SkuId;
use crate::money::Fen;
use crate::order::{Order, OrderStatus};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// Asked, and waiting for the shop's staff (`REFUND_APPROVAL`): the provider is not asked
    /// until someone approves.
    AwaitingApproval,
    Processing,
    Success,
    Abnormal,
    Closed,
    /// Staff said no, with a reason the shopper sees; the lines may be asked for again.
    Rejected,
}

impl RefundStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RefundStatus::AwaitingApproval => "AWAITING_APPROVAL",
            RefundStatus::Processing => "PROCESSING",
            RefundStatus::Success => "SUCCESS",
            RefundStatus::Abnormal => "ABNORMAL",
            RefundStatus::Closed => "CLOSED",
            RefundStatus::Rejected => "REJECTED",
        }
    }

    /// WeChat Pay's `refund_status` / `REFUND.*` event names.
    pub fn from_provider(raw: &str) -> Option<Self> {
        match raw {
            "SUCCESS" | "REFUND.SUCCESS" => Some(RefundStatus::Success),
            "ABNORMAL" | "REFUND.ABNORMAL" => Some(RefundStatus::Abnormal),
            "CLOSED" | "REFUND.CLOSED" => Some(RefundStatus::Closed),
            "PROCESSING" => Some(RefundStatus::Processing),
            _ => None,
        }
    }
}

/// One refund of some of an order's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Refund {
    /// WeChat Pay's `out_refund_no`: `R<orderId>-<n>`, unique per refund.
    pub out_refund_no: String,
    pub order_id: OrderId,
    pub sku_ids: Vec<SkuId>,
    pub amount: Fen,
    pub reason: String,
    pub status: RefundStatus,
    /// The goods never left: their stock comes back when the refund succeeds.
    pub restock: bool,
    /// This refund takes the order's last lines: coupon and points come back with it.
    pub completes_order: bool,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// What the shopper said and showed (售后凭证).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// Who approved or rejected it, for a refund that waited for staff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// A staff member's decision on a refund that waited for one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The staff member's id.
    pub by: String,
    pub at: i64,
    /// Why it was rejected: the shopper sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Approved before the return parcel was signed for (the audit record says so too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub override_return: bool,
}

/// `REFUND_APPROVAL`: which refunds wait for the shop's staff (售后审核).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundApproval {
    /// An order not shipped yet refunds at once; a shipped or delivered one waits.
    #[default]
    Shipped,
    Always,
    Never,
}

impl RefundApproval {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "shipped" => Some(RefundApproval::Shipped),
            "always" => Some(RefundApproval::Always),
            "never" => Some(RefundApproval::Never),
            _ => None,
        }
    }

    /// Whether a refund of `order` (as it is when asked) waits for staff.
    pub fn waits_for_staff(self, order: &Order) -> bool {
        match self {
            RefundApproval::Shipped => order.shipment.is_some(),
            RefundApproval::Always => true,
            RefundApproval::Never => false,
        }
    }
}

/// A rejection's reason, told to the shopper: 1 to 200 characters of text.
pub fn rejection_reason(raw: Option<&str>) -> Result<String, crate::field::FieldError> {
    let reason = raw.map(str::trim).unwrap_or("");
    if reason.is_empty()
        || reason.chars().count() > MAX_DESCRIPTION_CHARS
        || reason.chars().any(char::is_control)
    {
        return Err(crate::field::FieldError::new(
            "reason",
            format!("is required: 1 to {MAX_DESCRIPTION_CHARS} characters the shopper will read"),
        ));
    }
    Ok(reason.to_string())
}

/// What the shopper asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundKind {
    /// Money back for goods not shipped or not received (仅退款).
    RefundOnly,
    /// The goods go back, then the money (退货退款).
    ReturnAndRefund,
}

/// The shopper's description and photos of what went wrong, kept with the refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    pub kind: RefundKind,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<crate::media::MediaKey>,
}

/// A description of what went wrong: at most this many characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// At most this many photos with a refund.
pub const MAX_EVIDENCE_PHOTOS: usize = 6;

impl Evidence {
    /// Goods go back only once they went out.
    pub fn fits(&self, order: &Order) -> Result<(), RefundRefusal> {
        if self.kind == RefundKind::ReturnAndRefund && order.shipment.is_none() {
            return Err(RefundRefusal::NothingToReturn);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("a {0} order cannot be refunded")]
    NotRefundable(&'static str),
    #[error("the refund window closed {days} days after delivery")]
    WindowClosed { days: i64 },
    #[error("SKU {0} is not in this order")]
    UnknownLine(SkuId),
    #[error("every line asked for is refunded already")]
    NothingLeft,
    #[error(
        "the parcel has shipped: register its return waybill first (POST /v1/orders/{{id}}/return)"
    )]
    ReturnRequired,
    #[error("nothing has shipped to send back: ask for refund_only")]
    NothingToReturn,
}

impl RefundRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            RefundRefusal::NotRefundable(_) => "order_not_refundable",
            RefundRefusal::WindowClosed { .. } => "refund_window_closed",
            RefundRefusal::UnknownLine(_) => "unknown_line",
            RefundRefusal::NothingLeft => "already_refunded",
            RefundRefusal::ReturnRequired => "return_required",
            RefundRefusal::NothingToReturn => "nothing_to_return",
        }
    }
}

/// Delivered orders can be refunded for this many days unless the shop sets REFUND_WINDOW_DAYS.
pub const DEFAULT_WINDOW_DAYS: i64 = 15;

/// Plans a refund of `lines` (all remaining lines when `None`) of `order` at `now`.
/// Lines refunded (or being refunded) already are skipped; a request for only such lines is
/// refused. The order's shipping comes back only with the last lines of an order that never
/// shipped.
pub fn plan(
    order: &Order,
    lines: Option<&[SkuId]>,
    reason: &str,
    window_days: i64,
    now: i64,
) -> Result<Refund, RefundRefusal> {
    let shipped = match order.status {
        OrderStatus::Paid | OrderStatus::WaitingGroup => false,
        OrderStatus::Shipped | OrderStatus::Delivered => true,
        OrderStatus::Refunding => order.shipment.is_some(),
        other => return Err(RefundRefusal::NotRefundable(other.as_str())),
    };
    if let Some(delivered_at) = order.delivered_at
        && now > delivered_at + window_days * 24 * 60 * 60
    {
        return Err(RefundRefusal::WindowClosed { days: window_days });
    }
    if shipped && order.return_shipment.is_none() {
        return Err(RefundRefusal::ReturnRequired);
    }
    let wanted: Vec<SkuId> = match lines {
        Some(ids) => {
            if let Some(unknown) = ids
                .iter()
                .find(|id| !order.lines.iter().any(|l| &l.sku_id == *id))
            {
                return Err(RefundRefusal::UnknownLine(unknown.clone()));
            }
            ids.to_vec()
        }
        None => order.lines.iter().map(|l| l.sku_id.clone()).collect(),
    };
    let sku_ids: Vec<SkuId> = order
        .lines
        .iter()
        .map(|l| &l.sku_id)
        .filter(|id| wanted.contains(id) && !order.refunded_skus.contains(id))
        .cloned()
        .collect();
    if sku_ids.is_empty() {
        return Err(RefundRefusal::NothingLeft);
    }
    let goods: u64 = order
        .lines
        .iter()
        .filter(|l| sku_ids.contains(&l.sku_id))
        .map(|l| l.line_total.get())
        .sum();
    let completes_order = order.refunded_skus.len() + sku_ids.len() == order.lines.len();
    let shipping = if completes_order && !shipped {
        order.shipping.get()
    } else {
        0
    };
    // Never more than is left of what was paid, whatever rounding the lines carry.
    let left = order
        .total
        .get()
        .saturating_sub(order.refunded_amount.get());
    let amount = (goods + shipping).min(left);
    Ok(Refund {
        out_refund_no: format!("R{}-{}", order.id, order.refund_count + 1),
        order_id: order.id.clone(),
        sku_ids,
        amount: Fen::new(amount),
        reason: reason.to_string(),
        status: RefundStatus::Processing,
        restock: !shipped,
        completes_order,
        created_at: now,
        finished_at: None,
        evidence: None,
        decision: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_approval_setting_decides_which_refunds_wait_for_staff() {
        let mut unshipped = order(&[("a", 100)], 0);
        unshipped.status = OrderStatus::Paid;
        let mut shipped = unshipped.clone();
        shipped.status = OrderStatus::Shipped;
        shipped.shipment = Some(ShipmentSummary {
            company: "zhongtong".into(),
            number: "ZT1".into(),
            warehouse_id: "hz".into(),
        });
        let shipped_only = RefundApproval::parse("shipped").unwrap();
        assert_eq!(shipped_only, RefundApproval::default());
        assert!(!shipped_only.waits_for_staff(&unshipped));
        assert!(shipped_only.waits_for_staff(&shipped));
        assert!(
            RefundApproval::parse("always")
                .unwrap()
                .waits_for_staff(&unshipped)
        );
        assert!(
            !RefundApproval::parse("never")
                .unwrap()
                .waits_for_staff(&shipped)
        );
        assert_eq!(RefundApproval::parse("sometimes"), None);
    }

    #[test]
    fn a_rejection_needs_a_reason_the_shopper_can_read() {
        assert_eq!(rejection_reason(Some(" 已使用 ")).unwrap(), "已使用");
        for bad in [None, Some(""), Some("  "), Some("a\u{7}b")] {
            assert_eq!(
                rejection_reason(bad).unwrap_err().field,
                "reason",
                "{bad:?}"
            );
        }
        assert!(rejection_reason(Some(&"长".repeat(201))).is_err());
        assert!(rejection_reason(Some(&"长".repeat(200))).is_ok());
    }
    use crate::ids::{ProductId, UserId};
    use crate::order::{Address, OrderLine, Quantity, ShipmentSummary};

    fn order(lines: &[(&str, u64)], shipping: u64) -> Order {
        let lines: Vec<OrderLine> = lines
            .iter()
            .map(|(sku, total)| OrderLine {
                sku_id: SkuId::parse(sku).unwrap(),
                product_id: ProductId::parse("p").unwrap(),
                title: "茶".into(),
                specs: Default::default(),
                image: None,
                unit_price: Fen::new(*total),
                quantity: Quantity::new(1).unwrap(),
                flash_quantity: 0,
                flash_price: None,
                line_total: Fen::new(*total),
            })
            .collect();
        let goods: u64 = lines.iter().map(|l| l.line_total.get()).sum();
        Order {
            id: OrderId::parse("20261124abcdefgh").unwrap(),
            user_id: UserId::parse("u1").unwrap(),
            status: OrderStatus::Paid,
            lines,
            subtotal: Fen::new(goods),
            discounts: vec![],
            shipping: Fen::new(shipping),
            total: Fen::new(goods + shipping),
            coupon_id: None,
            points_used: 0,
            address: Address {
                name: "张三".into(),
                phone: "13812345678".into(),
                province: "浙江省".into(),
                city: "杭州市".into(),
                district: "西湖区".into(),
                detail: "1号".into(),
            },
            created_at: 0,
            pay_deadline: 900,
            paid_at: None,
            transaction_id: None,
            shipment: None,
            delivered_at: None,
            confirmed_received_at: None,
            settled_at: None,
            estimated_settlement_at: None,
            shipping_upload: None,
            return_shipment: None,
            refunded_skus: vec![],
            refunded_amount: Fen::ZERO,
            refund_count: 0,
            from_cart: false,
            group_id: None,
            group_leader: false,
            bargain_id: None,
            mall_item: None,
            invited_by: None,
            channel: None,
            provider: crate::payment::Provider::Wechat,
            history: vec![],
        }
    }

    fn sku(id: &str) -> SkuId {
        SkuId::parse(id).unwrap()
    }

    #[test]
    fn a_whole_unshipped_order_refunds_its_total_with_shipping_and_restocks() {
        let o = order(&[("a", 3000), ("b", 2000)], 1000);
        let r = plan(&o, None, "不想要了", 15, 10).unwrap();
        assert_eq!(r.amount, Fen::new(6000));
        assert!(r.restock && r.completes_order);
        assert_eq!(r.out_refund_no, "R20261124abcdefgh-1");
    }

    #[test]
    fn partial_refunds_take_their_lines_amounts_and_never_sum_past_the_total() {
        let mut o = order(&[("a", 3000), ("b", 2000)], 1000);
        let first = plan(&o, Some(&[sku("a")]), "坏了", 15, 10).unwrap();
        assert_eq!(
            (first.amount, first.completes_order),
            (Fen::new(3000), false)
        );
        o.refunded_skus = first.sku_ids.clone();
        o.refunded_amount = first.amount;
        o.refund_count = 1;
        assert_eq!(
            plan(&o, Some(&[sku("a")]), "再退", 15, 10),
            Err(RefundRefusal::NothingLeft)
        );
        let second = plan(&o, None, "都退", 15, 10).unwrap();
        assert_eq!(second.sku_ids, vec![sku("b")]);
        assert_eq!(
            second.amount,
            Fen::new(3000),
            "the last line brings the shipping"
        );
        assert_eq!(first.amount.get() + second.amount.get(), o.total.get());
        assert_eq!(second.out_refund_no, "R20261124abcdefgh-2");
    }

    #[test]
    fn a_shipped_order_needs_its_return_waybill_and_keeps_its_shipping() {
        let mut o = order(&[("a", 3000)], 1000);
        o.status = OrderStatus::Delivered;
        o.shipment = Some(ShipmentSummary {
            company: "zhongtong".into(),
            number: "ZT1".into(),
            warehouse_id: "hz".into(),
        });
        o.delivered_at = Some(100);
        assert_eq!(
            plan(&o, None, "x", 15, 200),
            Err(RefundRefusal::ReturnRequired)
        );
        o.return_shipment = Some(ShipmentSummary {
            company: "zhongtong".into(),
            number: "ZT9".into(),
            warehouse_id: "return".into(),
        });
        let r = plan(&o, None, "x", 15, 200).unwrap();
        assert_eq!((r.amount, r.restock), (Fen::new(3000), false));
        assert_eq!(
            plan(&o, None, "x", 15, 100 + 16 * 86_400),
            Err(RefundRefusal::WindowClosed { days: 15 })
        );
        o.status = OrderStatus::Completed;
        assert!(matches!(
            plan(&o, None, "x", 15, 200),
            Err(RefundRefusal::NotRefundable(_))
        ));
        assert!(matches!(
            plan(&o, Some(&[sku("zz")]), "x", 15, 200),
            Err(RefundRefusal::NotRefundable(_))
        ));
    }
}

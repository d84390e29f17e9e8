//! What checkout answers: quotes, coupons on offer and in the wallet.

use domain::ids::{ProductId, SkuId};
use domain::money::Fen;
use domain::order::{Discount, Order};
use domain::pricing::{CouponOption, CouponValue, PricedLine, Quote, Scope};
use domain::promotions::{ClaimRefusal, CouponTemplate, Validity, WalletCoupon};
use serde::Serialize;
use std::collections::BTreeMap;
use store::catalog::SkuForSale;

/// The order the engine applies things in (domain::pricing), shown with every quote so a
/// mini-program can explain the breakdown.
pub const APPLICATION_ORDER: [&str; 5] = [
    "member_or_flash_price",
    "full_reduction",
    "coupon",
    "points",
    "shipping",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteAnswer {
    pub lines: Vec<QuoteLineView>,
    pub subtotal: Fen,
    /// In the order applied, each with its kind, Chinese label and amount.
    pub discounts: Vec<Discount>,
    pub shipping: Fen,
    pub total: Fen,
    pub points: PointsView,
    /// The wallet's usable coupons for this cart, best saving first, then those that do not apply.
    pub coupons: Vec<CouponOptionView>,
    pub application_order: [&'static str; 5],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PointsView {
    pub balance: u64,
    /// The most this order can take (the policy's share of the goods, in whole units).
    pub offered: u64,
    pub used: u64,
    /// How many points make one unit, and what a unit is worth.
    pub points_per_unit: u64,
    pub fen_per_unit: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuoteLineView {
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub title: String,
    pub specs: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub unit_price: Fen,
    pub price_kind: domain::pricing::PriceKind,
    pub quantity: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub flash_quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flash_price: Option<Fen>,
    /// Before discounts.
    pub amount: Fen,
    /// This line's share of every discount and the points.
    pub discount: Fen,
    pub line_total: Fen,
    pub in_stock: bool,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponOptionView {
    pub coupon_id: String,
    pub title: String,
    pub applicable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saving: Option<Fen>,
    /// Why it does not apply: `coupon_not_applicable`, `coupon_not_yet_valid`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAnswer<'a> {
    pub order: &'a Order,
    pub payment: Option<app::provider::PaymentStart>,
}

pub fn quote_answer(
    quote: &Quote,
    skus: &[SkuForSale],
    points: PointsView,
    options: &[CouponOption],
) -> QuoteAnswer {
    let line = |l: &PricedLine| {
        let for_sale = skus.iter().find(|s| s.sku.id == l.sku_id);
        QuoteLineView {
            sku_id: l.sku_id.clone(),
            product_id: l.product_id.clone(),
            title: for_sale.map(|s| s.title.clone()).unwrap_or_default(),
            specs: for_sale.map(|s| s.sku.specs.clone()).unwrap_or_default(),
            image: for_sale.and_then(|s| s.image.clone()),
            unit_price: l.unit_price,
            price_kind: l.price_kind,
            quantity: l.quantity.get(),
            flash_quantity: l.flash_quantity,
            flash_price: l.flash_price,
            amount: l.amount,
            discount: l.discount,
            line_total: l.payable,
            in_stock: for_sale.is_some_and(|s| s.sku.stock >= u64::from(l.quantity.get())),
        }
    };
    QuoteAnswer {
        lines: quote.lines.iter().map(line).collect(),
        subtotal: quote.subtotal,
        discounts: quote.discount_list(),
        shipping: quote.shipping,
        total: quote.total,
        points,
        coupons: options
            .iter()
            .map(|o| CouponOptionView {
                coupon_id: o.coupon_id.clone(),
                title: o.title.clone(),
                applicable: o.saving.is_some(),
                saving: o.saving,
                reason: o.refusal.as_ref().map(crate::pricing_code),
                message: o.refusal.as_ref().map(ToString::to_string),
            })
            .collect(),
        application_order: APPLICATION_ORDER,
    }
}

/// A coupon template as a shopper sees it on the "领券中心" page.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferView {
    pub template_id: String,
    pub title: String,
    pub value: CouponValue,
    pub scope: Scope,
    pub validity: Validity,
    /// Coupons left to claim in all.
    pub remaining: u64,
    /// How many this shopper holds, and may hold.
    pub claimed: u32,
    pub per_user_limit: u32,
    pub can_claim: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

pub fn offer_view(template: &CouponTemplate, wallet: &[WalletCoupon], now: i64) -> OfferView {
    let claimed = wallet
        .iter()
        .filter(|c| c.id.template() == &template.id)
        .count();
    let claimed = u32::try_from(claimed).unwrap_or(u32::MAX);
    let refusal = match template.claimable(now) {
        Err(refusal) => Some(refusal),
        Ok(()) if claimed >= template.per_user_limit => Some(ClaimRefusal::LimitReached),
        Ok(()) => None,
    };
    OfferView {
        template_id: template.id.to_string(),
        title: template.title.clone(),
        value: template.value,
        scope: template.scope.clone(),
        validity: template.validity,
        remaining: template.total_limit.saturating_sub(template.issued),
        claimed,
        per_user_limit: template.per_user_limit,
        can_claim: refusal.is_none(),
        reason: refusal.map(ClaimRefusal::code),
    }
}

//! The price engine: what an order of these SKUs costs this shopper now. Pure: the same inputs
//! always give the same breakdown, and checkout prices on the server with it rather than
//! trusting any amount from the client.
//!
//! The order of application, here and nowhere else:
//! 1. each line's price: a flash sale inside its window, quota and per-shopper limit; else the
//!    shopper's member price when it is lower; else the list price;
//! 2. tiered full-reduction rules (满减), the highest tier each rule reaches;
//! 3. one coupon;
//! 4. points, up to a share of what is left to pay;
//! 5. shipping last, on the goods amount after coupon.
//!
//! Every discount is split across the lines it applies to in proportion to what is left on each
//! (remainders to the largest lines), so a refund of some lines returns exactly their share.

use crate::catalog::Sku;
use crate::ids::{CategoryId, ProductId, SkuId};
use crate::money::Fen;
use crate::order::{Discount, Quantity};
use serde::{Deserialize, Serialize};

/// Shipping: free from `free_over` upward, else a flat fee. Kept in the catalog table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShippingRule {
    pub free_over: Fen,
    pub flat_fee: Fen,
}

impl Default for ShippingRule {
    /// 包邮 from 99 yuan, else 10 yuan: what a small shop starts with.
    fn default() -> Self {
        Self {
            free_over: Fen::new(9900),
            flat_fee: Fen::new(1000),
        }
    }
}

/// Which lines a rule or coupon covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Scope {
    Shop,
    Category { category_id: CategoryId },
    Products { product_ids: Vec<ProductId> },
}

impl Scope {
    fn covers(&self, line: &CartLine) -> bool {
        match self {
            Scope::Shop => true,
            // A rule for 茶叶 covers 绿茶 and every other category under it.
            Scope::Category { category_id } => {
                &line.category_id == category_id || line.parent_categories.contains(category_id)
            }
            Scope::Products { product_ids } => product_ids.contains(&line.sku.product_id),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tier {
    /// Spend at least this (in scope)...
    pub threshold: Fen,
    /// ...and this much comes off.
    pub off: Fen,
}

/// 满减: for example over 199 minus 20, over 299 minus 40.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FullReduction {
    pub id: String,
    pub scope: Scope,
    pub tiers: Vec<Tier>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CouponValue {
    /// A fixed amount off once the in-scope spend reaches `min_spend`.
    AmountOff { off: Fen, min_spend: Fen },
    /// A percentage off the in-scope spend, at most `cap`.
    PercentOff {
        percent: u8,
        cap: Fen,
        min_spend: Fen,
    },
}

/// A coupon in the shopper's wallet, with the validity it got when claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coupon {
    pub id: String,
    pub title: String,
    pub value: CouponValue,
    pub scope: Scope,
    pub valid_from: i64,
    pub valid_until: i64,
}

/// How points turn into money: `points_per_unit` points are worth `fen_per_unit` fen (for
/// example 100 points = 100 fen), and points pay at most `max_share_percent` of the goods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointsPolicy {
    pub points_per_unit: u64,
    pub fen_per_unit: u64,
    pub max_share_percent: u8,
}

impl Default for PointsPolicy {
    fn default() -> Self {
        Self {
            points_per_unit: 100,
            fen_per_unit: 100,
            max_share_percent: 50,
        }
    }
}

/// One line of a cart, with what the engine needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub struct CartLine {
    pub sku: Sku,
    pub category_id: CategoryId,
    /// The categories above `category_id`, nearest first.
    pub parent_categories: Vec<CategoryId>,
    pub quantity: Quantity,
    /// Flash-sale units of this SKU the shopper bought already (their per-user limit counts them).
    pub flash_bought: u32,
}

/// Everything a price depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceRequest<'a> {
    pub lines: &'a [CartLine],
    pub member_level: Option<&'a str>,
    pub now: i64,
    pub full_reductions: &'a [FullReduction],
    pub coupon: Option<&'a Coupon>,
    pub points_balance: u64,
    /// How many points the shopper wants to spend (0 for none; more than allowed takes the most allowed).
    pub points_wanted: u64,
    pub points_policy: PointsPolicy,
    pub shipping: ShippingRule,
}

impl<'a> PriceRequest<'a> {
    /// Lines at their prices, no promotions: what a plain order costs.
    pub fn plain(lines: &'a [CartLine], now: i64, shipping: ShippingRule) -> Self {
        Self {
            lines,
            member_level: None,
            now,
            full_reductions: &[],
            coupon: None,
            points_balance: 0,
            points_wanted: 0,
            points_policy: PointsPolicy::default(),
            shipping,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    List,
    Member,
    Flash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub price_kind: PriceKind,
    /// Price of the units not in the flash sale (list or member price).
    pub unit_price: Fen,
    /// Units at the flash-sale price (taken from the sale's quota).
    pub flash_quantity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flash_price: Option<Fen>,
    /// Before discounts.
    pub amount: Fen,
    /// This line's share of every discount and of the points.
    pub discount: Fen,
    /// `amount - discount`: what this line costs, and what refunding it returns.
    pub payable: Fen,
}

/// A discount with how it splits over the lines (index-aligned with `lines`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedDiscount {
    pub discount: Discount,
    pub per_line: Vec<Fen>,
}

/// Where a cart stands against one 满减 rule: the tier it reached and what the next one needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierProgress {
    pub rule_id: String,
    /// What the rule counted: the in-scope goods after the rules before it.
    pub eligible: Fen,
    pub reached: Option<Tier>,
    pub next: Option<NextTier>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextTier {
    pub tier: Tier,
    /// How much more in-scope goods it takes.
    pub missing: Fen,
}

impl TierProgress {
    /// What the cart page says to nudge the shopper: "再买 ¥12.00 减 ¥40.00".
    pub fn hint(&self) -> Option<String> {
        self.next.map(|n| {
            format!(
                "再买 ¥{} 减 ¥{}",
                n.missing.yuan_text(),
                n.tier.off.yuan_text()
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub lines: Vec<PricedLine>,
    pub subtotal: Fen,
    pub discounts: Vec<AppliedDiscount>,
    /// One entry per 满减 rule, in the order they applied.
    pub full_reduction_progress: Vec<TierProgress>,
    pub points_offered: u64,
    pub points_used: u64,
    pub shipping: Fen,
    pub total: Fen,
}

impl Quote {
    pub fn discount_list(&self) -> Vec<Discount> {
        self.discounts.iter().map(|d| d.discount.clone()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the order total is too large")]
    AmountOverflow,
    #[error("the coupon has expired")]
    CouponExpired,
    #[error("the coupon is not valid yet")]
    CouponNotYetValid,
    #[error("the coupon needs {min_spend} of eligible goods")]
    CouponNotApplicable { min_spend: Fen },
}

fn yuan(fen: Fen) -> String {
    let text = fen.yuan_text();
    text.trim_end_matches(".00").to_string()
}

/// Splits `amount` over `bases` in proportion, remainders to the largest bases first, never
/// giving a line more than its base. `amount` must not exceed the sum of `bases`.
fn split(amount: u64, bases: &[u64]) -> Vec<u64> {
    let total: u128 = bases.iter().map(|b| u128::from(*b)).sum();
    if total == 0 || amount == 0 {
        return vec![0; bases.len()];
    }
    let mut shares: Vec<u64> = bases
        .iter()
        .map(|b| u64::try_from(u128::from(amount) * u128::from(*b) / total).unwrap_or(0))
        .collect();
    let mut left = amount - shares.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..bases.len()).collect();
    order.sort_by(|a, b| bases[*b].cmp(&bases[*a]).then(a.cmp(b)));
    while left > 0 {
        let before = left;
        for &i in &order {
            if left == 0 {
                break;
            }
            let room = bases[i] - shares[i];
            let give = room.min(left);
            shares[i] += give;
            left -= give;
        }
        if left == before {
            break;
        }
    }
    shares
}

/// The shopper's price for one line: (kind, unit price outside the sale, sale units, sale price).
fn line_price(
    line: &CartLine,
    member_level: Option<&str>,
    now: i64,
) -> (PriceKind, Fen, u32, Option<Fen>) {
    let member = member_level
        .and_then(|level| line.sku.member_prices.get(level))
        .copied()
        .filter(|p| *p < line.sku.price);
    let (kind, unit) = match member {
        Some(p) => (PriceKind::Member, p),
        None => (PriceKind::List, line.sku.price),
    };
    if let Some(sale) = &line.sku.flash_sale
        && sale.starts_at <= now
        && now < sale.ends_at
        && sale.price < unit
    {
        let quota_left = sale.quota.saturating_sub(sale.sold);
        let user_left = u64::from(sale.per_user_limit.saturating_sub(line.flash_bought));
        let units = u64::from(line.quantity.get())
            .min(quota_left)
            .min(user_left);
        if units > 0 {
            return (
                PriceKind::Flash,
                unit,
                u32::try_from(units).unwrap_or(0),
                Some(sale.price),
            );
        }
    }
    (kind, unit, 0, None)
}

/// Prices a cart. See the module doc for the order things apply in.
pub fn price(request: &PriceRequest<'_>) -> Result<Quote, PricingError> {
    let overflow = || PricingError::AmountOverflow;
    let mut lines = Vec::with_capacity(request.lines.len());
    for line in request.lines {
        let (price_kind, unit_price, flash_quantity, flash_price) =
            line_price(line, request.member_level, request.now);
        let regular_units = u64::from(line.quantity.get() - flash_quantity);
        let regular = unit_price.checked_mul(regular_units).ok_or_else(overflow)?;
        let sale = flash_price
            .unwrap_or(Fen::ZERO)
            .checked_mul(u64::from(flash_quantity))
            .ok_or_else(overflow)?;
        let amount = regular.checked_add(sale).ok_or_else(overflow)?;
        lines.push(PricedLine {
            sku_id: line.sku.id.clone(),
            product_id: line.sku.product_id.clone(),
            quantity: line.quantity,
            price_kind,
            unit_price,
            flash_quantity,
            flash_price,
            amount,
            discount: Fen::ZERO,
            payable: amount,
        });
    }
    let subtotal = lines
        .iter()
        .try_fold(Fen::ZERO, |acc, l| acc.checked_add(l.amount))
        .ok_or_else(overflow)?;
    let mut discounts: Vec<AppliedDiscount> = Vec::new();

    // Takes `amount` off the lines `covered` selects, in proportion to what is left on each.
    let mut apply = |lines: &mut Vec<PricedLine>,
                     kind: &str,
                     label: String,
                     amount: u64,
                     covered: &dyn Fn(usize) -> bool| {
        let bases: Vec<u64> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| if covered(i) { l.payable.get() } else { 0 })
            .collect();
        let shares = split(amount, &bases);
        for (line, share) in lines.iter_mut().zip(&shares) {
            line.discount = Fen::new(line.discount.get() + share);
            line.payable = Fen::new(line.payable.get() - share);
        }
        if amount > 0 {
            discounts.push(AppliedDiscount {
                discount: Discount {
                    kind: kind.to_string(),
                    label,
                    amount: Fen::new(amount),
                },
                per_line: shares.into_iter().map(Fen::new).collect(),
            });
        }
    };
    let in_scope = |scope: &Scope, lines: &[PricedLine]| -> u64 {
        lines
            .iter()
            .zip(request.lines)
            .filter(|(_, cart)| scope.covers(cart))
            .map(|(l, _)| l.payable.get())
            .sum()
    };

    let mut full_reduction_progress = Vec::with_capacity(request.full_reductions.len());
    for rule in request.full_reductions {
        let eligible = in_scope(&rule.scope, &lines);
        let best = rule
            .tiers
            .iter()
            .filter(|t| t.threshold.get() <= eligible)
            .max_by_key(|t| (t.threshold, t.off));
        let next = rule
            .tiers
            .iter()
            .filter(|t| t.threshold.get() > eligible && best.is_none_or(|b| t.off > b.off))
            .min_by_key(|t| (t.threshold, std::cmp::Reverse(t.off)));
        full_reduction_progress.push(TierProgress {
            rule_id: rule.id.clone(),
            eligible: Fen::new(eligible),
            reached: best.copied(),
            next: next.map(|t| NextTier {
                tier: *t,
                missing: Fen::new(t.threshold.get() - eligible),
            }),
        });
        if let Some(tier) = best {
            let off = tier.off.get().min(eligible);
            let label = format!("满{}减{}", yuan(tier.threshold), yuan(tier.off));
            apply(&mut lines, "full_reduction", label, off, &|i| {
                rule.scope.covers(&request.lines[i])
            });
        }
    }

    if let Some(coupon) = request.coupon {
        if request.now >= coupon.valid_until {
            return Err(PricingError::CouponExpired);
        }
        if request.now < coupon.valid_from {
            return Err(PricingError::CouponNotYetValid);
        }
        let eligible = in_scope(&coupon.scope, &lines);
        let (off, min_spend) = match coupon.value {
            CouponValue::AmountOff { off, min_spend } => (off.get().min(eligible), min_spend),
            CouponValue::PercentOff {
                percent,
                cap,
                min_spend,
            } => {
                let percent_off =
                    u64::try_from(u128::from(eligible) * u128::from(percent.min(100)) / 100)
                        .unwrap_or(u64::MAX);
                (percent_off.min(cap.get()).min(eligible), min_spend)
            }
        };
        if eligible < min_spend.get() || eligible == 0 {
            return Err(PricingError::CouponNotApplicable { min_spend });
        }
        apply(&mut lines, "coupon", coupon.title.clone(), off, &|i| {
            coupon.scope.covers(&request.lines[i])
        });
    }

    let goods_after_coupon: u64 = lines.iter().map(|l| l.payable.get()).sum();
    let shipping = if goods_after_coupon >= request.shipping.free_over.get() {
        Fen::ZERO
    } else {
        request.shipping.flat_fee
    };

    let policy = request.points_policy;
    let (points_offered, points_used) = if policy.points_per_unit == 0 || policy.fen_per_unit == 0 {
        (0, 0)
    } else {
        let max_fen = u64::try_from(
            u128::from(goods_after_coupon) * u128::from(policy.max_share_percent.min(100)) / 100,
        )
        .unwrap_or(0);
        let units =
            (request.points_balance / policy.points_per_unit).min(max_fen / policy.fen_per_unit);
        let used_units = units.min(request.points_wanted / policy.points_per_unit);
        if used_units > 0 {
            let label = format!("{}积分抵扣", used_units * policy.points_per_unit);
            apply(
                &mut lines,
                "points",
                label,
                used_units * policy.fen_per_unit,
                &|_| true,
            );
        }
        (
            units * policy.points_per_unit,
            used_units * policy.points_per_unit,
        )
    };

    let goods: u64 = lines.iter().map(|l| l.payable.get()).sum();
    let total = Fen::new(goods).checked_add(shipping).ok_or_else(overflow)?;
    Ok(Quote {
        lines,
        subtotal,
        discounts,
        full_reduction_progress,
        points_offered,
        points_used,
        shipping,
        total,
    })
}

/// What one wallet coupon would do for this cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponOption {
    pub coupon_id: String,
    pub title: String,
    /// What it takes off, priced after the full-reduction rules; `None` when it does not apply.
    pub saving: Option<Fen>,
    pub refusal: Option<PricingError>,
}

/// Prices the cart once with each coupon (points left out, as they come after): the coupons
/// that apply first, biggest saving first, then those that do not, each with the reason.
pub fn coupon_options(request: &PriceRequest<'_>, wallet: &[Coupon]) -> Vec<CouponOption> {
    let mut options: Vec<CouponOption> = wallet
        .iter()
        .map(|coupon| {
            let trial = PriceRequest {
                coupon: Some(coupon),
                points_wanted: 0,
                ..request.clone()
            };
            let (saving, refusal) = match price(&trial) {
                Ok(quote) => (
                    Some(
                        quote
                            .discounts
                            .iter()
                            .filter(|d| d.discount.kind == "coupon")
                            .map(|d| d.discount.amount)
                            .fold(Fen::ZERO, |a, b| a.checked_add(b).unwrap_or(a)),
                    ),
                    None,
                ),
                Err(e) => (None, Some(e)),
            };
            CouponOption {
                coupon_id: coupon.id.clone(),
                title: coupon.title.clone(),
                saving,
                refusal,
            }
        })
        .collect();
    options.sort_by(|a, b| {
        b.saving
            .cmp(&a.saving)
            .then_with(|| a.coupon_id.cmp(&b.coupon_id))
    });
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::FlashSale;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn sku(id: &str, price: u64) -> Sku {
        Sku {
            id: SkuId::parse(id).unwrap(),
            product_id: ProductId::parse(&format!("p-{id}")).unwrap(),
            specs: BTreeMap::new(),
            price: Fen::new(price),
            original_price: None,
            stock: 1000,
            member_prices: BTreeMap::new(),
            flash_sale: None,
            group_buy: None,
            bargain: None,
            low_stock_at: None,
        }
    }

    fn line(sku: Sku, category: &str, quantity: i64) -> CartLine {
        CartLine {
            sku,
            category_id: CategoryId::parse(category).unwrap(),
            parent_categories: Vec::new(),
            quantity: Quantity::new(quantity).unwrap(),
            flash_bought: 0,
        }
    }

    fn plain(lines: &[CartLine]) -> Quote {
        price(&PriceRequest::plain(lines, 1_000, ShippingRule::default())).unwrap()
    }

    #[test]
    fn small_orders_pay_the_flat_fee_and_large_ones_ship_free() {
        let small = plain(&[line(sku("a", 1990), "tea", 2)]);
        assert_eq!(
            (small.subtotal, small.shipping, small.total),
            (Fen::new(3980), Fen::new(1000), Fen::new(4980))
        );
        let large = plain(&[line(sku("a", 1990), "tea", 5)]);
        assert_eq!(
            (large.subtotal, large.shipping, large.total),
            (Fen::new(9950), Fen::ZERO, Fen::new(9950))
        );
        let exact = plain(&[line(sku("a", 9900), "tea", 1)]);
        assert_eq!(
            exact.shipping,
            Fen::ZERO,
            "exactly the threshold ships free"
        );
    }

    #[test]
    fn a_member_pays_their_levels_price_when_it_is_lower() {
        let mut s = sku("a", 1000);
        s.member_prices.insert("gold".into(), Fen::new(900));
        s.member_prices.insert("silver".into(), Fen::new(1100));
        let lines = [line(s, "tea", 2)];
        let gold = price(&PriceRequest {
            member_level: Some("gold"),
            ..PriceRequest::plain(&lines, 0, ShippingRule::default())
        })
        .unwrap();
        let silver = price(&PriceRequest {
            member_level: Some("silver"),
            ..PriceRequest::plain(&lines, 0, ShippingRule::default())
        })
        .unwrap();
        assert_eq!(
            (gold.lines[0].price_kind, gold.subtotal),
            (PriceKind::Member, Fen::new(1800))
        );
        assert_eq!(
            (silver.lines[0].price_kind, silver.subtotal),
            (PriceKind::List, Fen::new(2000))
        );
    }

    #[test]
    fn a_flash_sale_prices_up_to_its_quota_and_the_shoppers_limit() {
        let mut s = sku("a", 1000);
        s.flash_sale = Some(FlashSale {
            starts_at: 100,
            ends_at: 200,
            price: Fen::new(500),
            quota: 10,
            sold: 8,
            per_user_limit: 3,
        });
        let mut cart = line(s, "tea", 5);
        let during = |cart: &CartLine, now| {
            price(&PriceRequest::plain(
                std::slice::from_ref(cart),
                now,
                ShippingRule::default(),
            ))
            .unwrap()
        };
        let q = during(&cart, 150);
        assert_eq!(
            (q.lines[0].flash_quantity, q.subtotal),
            (2, Fen::new(2 * 500 + 3 * 1000)),
            "2 left in the quota"
        );
        cart.flash_bought = 2;
        assert_eq!(
            during(&cart, 150).lines[0].flash_quantity,
            1,
            "1 left of the shopper's 3"
        );
        assert_eq!(
            during(&cart, 200).lines[0].flash_quantity,
            0,
            "the window has closed"
        );
        assert_eq!(
            during(&cart, 99).lines[0].price_kind,
            PriceKind::List,
            "not open yet"
        );
    }

    #[test]
    fn the_highest_reached_tier_applies_only_to_its_scope() {
        let rule = FullReduction {
            id: "r1".into(),
            scope: Scope::Category {
                category_id: CategoryId::parse("tea").unwrap(),
            },
            tiers: vec![
                Tier {
                    threshold: Fen::new(19900),
                    off: Fen::new(2000),
                },
                Tier {
                    threshold: Fen::new(29900),
                    off: Fen::new(4000),
                },
            ],
        };
        let lines = [
            line(sku("a", 15000), "tea", 2),
            line(sku("b", 5000), "snack", 1),
        ];
        let q = price(&PriceRequest {
            full_reductions: std::slice::from_ref(&rule),
            ..PriceRequest::plain(&lines, 0, ShippingRule::default())
        })
        .unwrap();
        assert_eq!(q.discounts[0].discount.label, "满299减40");
        assert_eq!(
            q.discounts[0].per_line,
            vec![Fen::new(4000), Fen::ZERO],
            "snacks are outside the rule"
        );
        assert_eq!(q.total, Fen::new(30000 + 5000 - 4000));
    }

    #[test]
    fn a_cart_learns_the_tier_it_reached_and_exactly_what_the_next_one_needs() {
        let tiers = vec![
            Tier {
                threshold: Fen::new(19900),
                off: Fen::new(2000),
            },
            Tier {
                threshold: Fen::new(29900),
                off: Fen::new(4000),
            },
        ];
        let rule = FullReduction {
            id: "r1".into(),
            scope: Scope::Shop,
            tiers,
        };
        let progress = |fen: u64| {
            let lines = [line(sku("a", fen), "tea", 1)];
            price(&PriceRequest {
                full_reductions: std::slice::from_ref(&rule),
                ..PriceRequest::plain(&lines, 0, ShippingRule::default())
            })
            .unwrap()
            .full_reduction_progress
            .remove(0)
        };

        let short = progress(18701);
        assert_eq!(short.reached, None);
        assert_eq!(short.next.unwrap().missing, Fen::new(1199));
        assert_eq!(short.hint().as_deref(), Some("再买 ¥11.99 减 ¥20.00"));
        let first = progress(28700);
        assert_eq!(first.reached.unwrap().off, Fen::new(2000));
        assert_eq!(first.hint().as_deref(), Some("再买 ¥12.00 减 ¥40.00"));
        let top = progress(29900);
        assert_eq!((top.reached.unwrap().off, top.next), (Fen::new(4000), None));
        assert_eq!(top.hint(), None);
    }

    #[test]
    fn a_category_rule_covers_the_categories_under_it() {
        let rule = FullReduction {
            id: "r1".into(),
            scope: Scope::Category {
                category_id: CategoryId::parse("tea").unwrap(),
            },
            tiers: vec![Tier {
                threshold: Fen::new(10000),
                off: Fen::new(1000),
            }],
        };
        let mut green = line(sku("a", 12800), "green-tea", 1);
        green.parent_categories = vec![CategoryId::parse("tea").unwrap()];
        let lines = [green, line(sku("b", 12800), "teacup", 1)];
        let q = price(&PriceRequest {
            full_reductions: std::slice::from_ref(&rule),
            ..PriceRequest::plain(&lines, 0, ShippingRule::default())
        })
        .unwrap();
        assert_eq!(q.discounts[0].per_line, vec![Fen::new(1000), Fen::ZERO]);
    }

    fn coupon(value: CouponValue) -> Coupon {
        Coupon {
            id: "c1".into(),
            title: "新人券".into(),
            value,
            scope: Scope::Shop,
            valid_from: 0,
            valid_until: 1_000,
        }
    }

    #[test]
    fn coupons_take_their_value_after_the_full_reduction() {
        let lines = [line(sku("a", 10000), "tea", 3)];
        let rule = FullReduction {
            id: "r".into(),
            scope: Scope::Shop,
            tiers: vec![Tier {
                threshold: Fen::new(29900),
                off: Fen::new(4000),
            }],
        };
        let percent = coupon(CouponValue::PercentOff {
            percent: 10,
            cap: Fen::new(2000),
            min_spend: Fen::ZERO,
        });
        let q = price(&PriceRequest {
            full_reductions: std::slice::from_ref(&rule),
            coupon: Some(&percent),
            ..PriceRequest::plain(&lines, 500, ShippingRule::default())
        })
        .unwrap();
        let kinds: Vec<_> = q
            .discounts
            .iter()
            .map(|d| (d.discount.kind.as_str(), d.discount.amount.get()))
            .collect();
        assert_eq!(
            kinds,
            [("full_reduction", 4000), ("coupon", 2000)],
            "10% of 260 is 26, capped at 20"
        );
    }

    #[test]
    fn an_expired_or_unmet_coupon_is_refused() {
        let lines = [line(sku("a", 1000), "tea", 1)];
        let amount = coupon(CouponValue::AmountOff {
            off: Fen::new(500),
            min_spend: Fen::new(5000),
        });
        let with = |now, c: &Coupon| {
            price(&PriceRequest {
                coupon: Some(c),
                ..PriceRequest::plain(&lines, now, ShippingRule::default())
            })
        };
        assert_eq!(with(1_000, &amount), Err(PricingError::CouponExpired));
        assert_eq!(
            with(10, &amount),
            Err(PricingError::CouponNotApplicable {
                min_spend: Fen::new(5000)
            })
        );
        let later = Coupon {
            valid_from: 50,
            ..coupon(CouponValue::AmountOff {
                off: Fen::new(100),
                min_spend: Fen::ZERO,
            })
        };
        assert_eq!(with(10, &later), Err(PricingError::CouponNotYetValid));
    }

    #[test]
    fn the_wallet_is_sorted_by_what_each_coupon_saves_on_this_cart() {
        let lines = [line(sku("a", 6000), "tea", 1)];
        let small = Coupon {
            id: "small.1".into(),
            ..coupon(CouponValue::AmountOff {
                off: Fen::new(500),
                min_spend: Fen::ZERO,
            })
        };
        let big = Coupon {
            id: "big.1".into(),
            ..coupon(CouponValue::PercentOff {
                percent: 20,
                cap: Fen::new(5000),
                min_spend: Fen::new(5000),
            })
        };
        let unmet = Coupon {
            id: "unmet.1".into(),
            ..coupon(CouponValue::AmountOff {
                off: Fen::new(2000),
                min_spend: Fen::new(9900),
            })
        };
        let request = PriceRequest {
            points_balance: 10_000,
            points_wanted: 10_000,
            ..PriceRequest::plain(&lines, 10, ShippingRule::default())
        };
        let options = coupon_options(&request, &[small, unmet, big]);
        let seen: Vec<_> = options
            .iter()
            .map(|o| (o.coupon_id.as_str(), o.saving.map(Fen::get)))
            .collect();
        assert_eq!(
            seen,
            [
                ("big.1", Some(1200)),
                ("small.1", Some(500)),
                ("unmet.1", None)
            ]
        );
        assert!(matches!(
            options[2].refusal,
            Some(PricingError::CouponNotApplicable { .. })
        ));
    }

    #[test]
    fn points_pay_at_most_their_share_in_whole_units() {
        let lines = [line(sku("a", 10000), "tea", 1)];
        let request = PriceRequest {
            points_balance: 12_345,
            points_wanted: u64::MAX,
            points_policy: PointsPolicy {
                points_per_unit: 100,
                fen_per_unit: 100,
                max_share_percent: 50,
            },
            ..PriceRequest::plain(&lines, 0, ShippingRule::default())
        };
        let q = price(&request).unwrap();
        assert_eq!(
            (q.points_offered, q.points_used),
            (5_000, 5_000),
            "half of 100 yuan is 5000 points"
        );
        assert_eq!(
            q.total,
            Fen::new(10000 - 5000),
            "shipping is judged before points: still free"
        );
        let few = price(&PriceRequest {
            points_balance: 250,
            ..request.clone()
        })
        .unwrap();
        assert_eq!(few.points_used, 200, "whole units of 100 points only");
        let none = price(&PriceRequest {
            points_wanted: 0,
            ..request
        })
        .unwrap();
        assert_eq!((none.points_offered, none.points_used), (5_000, 0));
    }

    #[test]
    fn remainders_go_to_the_largest_line_and_never_past_a_lines_amount() {
        assert_eq!(split(10, &[1, 1, 30]), vec![0, 0, 10]);
        assert_eq!(split(2, &[1, 1, 1]), vec![1, 1, 0]);
        assert_eq!(split(3, &[1, 1, 1]), vec![1, 1, 1]);
        assert_eq!(split(7, &[0, 10, 5]), vec![0, 5, 2]);
    }

    #[test]
    fn absurd_amounts_are_refused_not_wrapped() {
        let lines = [line(sku("a", u64::MAX / 2), "tea", 3)];
        assert_eq!(
            price(&PriceRequest::plain(&lines, 0, ShippingRule::default())),
            Err(PricingError::AmountOverflow)
        );
    }

    fn arbitrary_cart()
    -> impl Strategy<Value = (Vec<CartLine>, Vec<FullReduction>, Option<Coupon>, u64, i64)> {
        let lines = proptest::collection::vec(
            (
                1u64..200_000,
                1i64..20,
                0u8..3,
                proptest::option::of((1u64..100_000, 0u64..20, 0u32..5)),
            ),
            1..12,
        );
        let tiers = proptest::collection::vec((0u64..500_000, 0u64..100_000), 0..3);
        let coupon = proptest::option::of((0u8..2, 1u64..50_000, 1u8..100, 0u64..300_000));
        (lines, tiers, coupon, 0u64..1_000_000, 0i64..300).prop_map(
            |(raw, tiers, raw_coupon, points, now)| {
                let categories = ["tea", "snack", "fruit"];
                let lines: Vec<CartLine> = raw
                    .iter()
                    .enumerate()
                    .map(|(i, (p, q, c, flash))| {
                        let mut s = sku(&format!("s{i}"), *p);
                        s.member_prices.insert("gold".into(), Fen::new(p * 9 / 10));
                        if let Some((price, quota, limit)) = flash {
                            s.flash_sale = Some(FlashSale {
                                starts_at: 0,
                                ends_at: 200,
                                price: Fen::new(*price),
                                quota: *quota,
                                sold: 0,
                                per_user_limit: *limit,
                            });
                        }
                        line(s, categories[usize::from(*c)], *q)
                    })
                    .collect();
                let rules = vec![FullReduction {
                    id: "r".into(),
                    scope: Scope::Category {
                        category_id: CategoryId::parse("tea").unwrap(),
                    },
                    tiers: tiers
                        .into_iter()
                        .map(|(t, o)| Tier {
                            threshold: Fen::new(t),
                            off: Fen::new(o),
                        })
                        .collect(),
                }];
                let coupon = raw_coupon.map(|(kind, off, pct, min)| Coupon {
                    id: "c".into(),
                    title: "券".into(),
                    value: if kind == 0 {
                        CouponValue::AmountOff {
                            off: Fen::new(off),
                            min_spend: Fen::new(min),
                        }
                    } else {
                        CouponValue::PercentOff {
                            percent: pct,
                            cap: Fen::new(off),
                            min_spend: Fen::new(min),
                        }
                    },
                    scope: Scope::Shop,
                    valid_from: 0,
                    valid_until: 250,
                });
                (lines, rules, coupon, points, now)
            },
        )
    }

    proptest! {
        #[test]
        fn breakdowns_add_up_and_never_go_below_zero((lines, rules, coupon, points, now) in arbitrary_cart()) {
            let request = PriceRequest {
                lines: &lines,
                member_level: Some("gold"),
                now,
                full_reductions: &rules,
                coupon: coupon.as_ref(),
                points_balance: points,
                points_wanted: points / 2,
                points_policy: PointsPolicy::default(),
                shipping: ShippingRule::default(),
            };
            let Ok(q) = price(&request) else { return Ok(()) };
            prop_assert_eq!(&price(&request).unwrap(), &q, "the same inputs give the same breakdown");
            let payable: u64 = q.lines.iter().map(|l| l.payable.get()).sum();
            prop_assert_eq!(payable + q.shipping.get(), q.total.get(), "lines plus shipping are the total");
            prop_assert_eq!(q.lines.iter().map(|l| l.amount.get()).sum::<u64>(), q.subtotal.get());
            for line in &q.lines {
                prop_assert_eq!(line.amount.get(), line.discount.get() + line.payable.get(), "no line pays below zero");
            }
            for d in &q.discounts {
                prop_assert_eq!(d.per_line.iter().map(|f| f.get()).sum::<u64>(), d.discount.amount.get(), "a discount is fully split");
            }
            let discounted: u64 = q.discounts.iter().map(|d| d.discount.amount.get()).sum();
            prop_assert!(discounted <= q.subtotal.get(), "no discount exceeds what it applies to");
            prop_assert!(q.points_used <= q.points_offered && q.points_offered <= points);
        }
    }
}

//! What a merchant sets up to sell more: coupon templates that shoppers claim into their wallets,
//! the shop's full-reduction rules and its points policy. Pure rules; storage is
//! `store::marketing`, and the price they make is `pricing`.

use crate::ids::{CouponId, OrderId, PromotionId};
use crate::pricing::{Coupon, CouponValue, FullReduction, PointsPolicy, Scope};
use serde::{Deserialize, Serialize};

const DAY: i64 = 24 * 60 * 60;

/// How long a claimed coupon can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Validity {
    /// Between two fixed moments (epoch seconds), whenever it was claimed.
    Dates { from: i64, until: i64 },
    /// For this many days from the moment it is claimed.
    DaysAfterClaim { days: u32 },
}

/// A coupon as the merchant defines it; shoppers claim copies of it into their wallets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CouponTemplate {
    pub id: PromotionId,
    pub title: String,
    pub value: CouponValue,
    pub scope: Scope,
    pub validity: Validity,
    /// Claims are taken until then (epoch seconds); for dated coupons at most until they end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_until: Option<i64>,
    /// How many may be claimed in all, and by one shopper.
    pub total_limit: u64,
    pub per_user_limit: u32,
    /// How many have been claimed: a counter the claim transaction moves, never written by admin.
    #[serde(default)]
    pub issued: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromotionError {
    #[error("{field} {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

fn invalid(field: &'static str, problem: impl Into<String>) -> PromotionError {
    PromotionError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// Why a shopper cannot claim a coupon now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefusal {
    #[error("this coupon can no longer be claimed")]
    Ended,
    #[error("all of these coupons have been claimed")]
    SoldOut,
    #[error("you have claimed this coupon as many times as allowed")]
    LimitReached,
}

impl ClaimRefusal {
    pub fn code(self) -> &'static str {
        match self {
            ClaimRefusal::Ended => "coupon_claim_ended",
            ClaimRefusal::SoldOut => "coupon_sold_out",
            ClaimRefusal::LimitReached => "coupon_limit_reached",
        }
    }
}

fn check_scope(scope: &Scope) -> Result<(), PromotionError> {
    if let Scope::Products { product_ids } = scope
        && product_ids.is_empty()
    {
        return Err(invalid("scope", "must name at least one product"));
    }
    Ok(())
}

impl CouponTemplate {
    /// The template, if it makes sense as a coupon a shop would hand out.
    pub fn validated(self) -> Result<Self, PromotionError> {
        let title_len = self.title.trim().chars().count();
        if title_len == 0 || title_len > 30 {
            return Err(invalid("title", "must be 1 to 30 characters"));
        }
        match self.value {
            CouponValue::AmountOff { off, min_spend } => {
                if off.get() == 0 {
                    return Err(invalid("off", "must be more than 0"));
                }
                if min_spend.get() > 0 && off > min_spend {
                    return Err(invalid(
                        "off",
                        "must not be more than the minimum spend it needs",
                    ));
                }
            }
            CouponValue::PercentOff { percent, cap, .. } => {
                if !(1..=99).contains(&percent) {
                    return Err(invalid("percent", "must be 1 to 99"));
                }
                if cap.get() == 0 {
                    return Err(invalid("cap", "must be more than 0"));
                }
            }
        }
        check_scope(&self.scope)?;
        match self.validity {
            Validity::Dates { from, until } if from >= until => {
                return Err(invalid("validUntil", "must be after validFrom"));
            }
            Validity::DaysAfterClaim { days } if !(1..=366).contains(&days) => {
                return Err(invalid("validDays", "must be 1 to 366"));
            }
            _ => {}
        }
        if self.total_limit == 0 {
            return Err(invalid("total", "must be at least 1"));
        }
        if !(1..=100).contains(&self.per_user_limit) {
            return Err(invalid("perUser", "must be 1 to 100"));
        }
        Ok(Self {
            title: self.title.trim().to_string(),
            ..self
        })
    }

    /// The last moment a claim is taken (exclusive).
    pub fn claim_ends(&self) -> Option<i64> {
        let dated = match self.validity {
            Validity::Dates { until, .. } => Some(until),
            Validity::DaysAfterClaim { .. } => None,
        };
        match (self.claim_until, dated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether anyone may claim one now (the shopper's own count is checked with their wallet).
    pub fn claimable(&self, now: i64) -> Result<(), ClaimRefusal> {
        if self.claim_ends().is_some_and(|end| now >= end) {
            return Err(ClaimRefusal::Ended);
        }
        if self.issued >= self.total_limit {
            return Err(ClaimRefusal::SoldOut);
        }
        Ok(())
    }

    /// The coupon a shopper gets by claiming now, as their `number`-th of this template.
    pub fn issue(&self, number: u32, now: i64) -> WalletCoupon {
        let (valid_from, valid_until) = match self.validity {
            Validity::Dates { from, until } => (from, until),
            Validity::DaysAfterClaim { days } => (now, now + i64::from(days) * DAY),
        };
        let id = CouponId::new(self.id.clone(), number);
        WalletCoupon {
            coupon: Coupon {
                id: id.to_string(),
                title: self.title.clone(),
                value: self.value,
                scope: self.scope.clone(),
                valid_from,
                valid_until,
            },
            id,
            status: CouponStatus::Available,
            order_id: None,
            claimed_at: now,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CouponStatus {
    Available,
    /// Held by an order; it comes back if that order is cancelled or refunded.
    Used,
}

/// A coupon in a shopper's wallet, with the validity it got when it was claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletCoupon {
    pub id: CouponId,
    pub coupon: Coupon,
    pub status: CouponStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    pub claimed_at: i64,
}

impl WalletCoupon {
    pub fn usable_at(&self, now: i64) -> bool {
        self.status == CouponStatus::Available
            && self.coupon.valid_from <= now
            && now < self.coupon.valid_until
    }
}

/// The shop-wide promotion settings, kept as one item so a quote reads them in its one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRules {
    #[serde(default)]
    pub full_reductions: Vec<FullReduction>,
    #[serde(default)]
    pub points: PointsPolicy,
    /// Points a delivered order earns per whole yuan paid.
    #[serde(default = "default_earned_per_yuan")]
    pub points_earned_per_yuan: u64,
    /// What inviting a new shopper earns.
    #[serde(default)]
    pub invite: crate::social::InvitePolicy,
    /// What a daily check-in earns.
    #[serde(default)]
    pub checkin: crate::social::CheckinPolicy,
}

fn default_earned_per_yuan() -> u64 {
    1
}

impl Default for PromotionRules {
    fn default() -> Self {
        Self {
            full_reductions: Vec::new(),
            points: PointsPolicy::default(),
            points_earned_per_yuan: default_earned_per_yuan(),
            invite: crate::social::InvitePolicy::default(),
            checkin: crate::social::CheckinPolicy::default(),
        }
    }
}

/// A full-reduction rule the engine can apply: tiers rising in threshold, each taking off less
/// than it needs spent.
pub fn validated_full_reduction(rule: FullReduction) -> Result<FullReduction, PromotionError> {
    PromotionId::parse(&rule.id).map_err(|e| invalid("id", e.to_string()))?;
    check_scope(&rule.scope)?;
    if rule.tiers.is_empty() || rule.tiers.len() > 10 {
        return Err(invalid("tiers", "must have 1 to 10 tiers"));
    }
    let mut tiers = rule.tiers.clone();
    tiers.sort_by_key(|t| t.threshold);
    for pair in tiers.windows(2) {
        if pair[0].threshold == pair[1].threshold {
            return Err(invalid("tiers", "must not repeat a threshold"));
        }
        if pair[0].off >= pair[1].off {
            return Err(invalid(
                "tiers",
                "must take off more as the threshold rises",
            ));
        }
    }
    if let Some(t) = tiers
        .iter()
        .find(|t| t.off.get() == 0 || t.off >= t.threshold)
    {
        return Err(invalid(
            "tiers",
            format!(
                "each tier must take off more than 0 and less than its threshold ({} off {})",
                t.threshold.yuan_text(),
                t.off.yuan_text()
            ),
        ));
    }
    Ok(FullReduction { tiers, ..rule })
}

pub fn validated_points_policy(policy: PointsPolicy) -> Result<PointsPolicy, PromotionError> {
    if policy.points_per_unit == 0 || policy.fen_per_unit == 0 {
        return Err(invalid("pointsPerYuan", "must be more than 0"));
    }
    if policy.max_share_percent > 100 {
        return Err(invalid("maxSharePercent", "must be 0 to 100 percent"));
    }
    Ok(policy)
}

/// An invite reward that gives something: points, a coupon or both, and a daily cap.
pub fn validated_invite_policy(
    policy: crate::social::InvitePolicy,
) -> Result<crate::social::InvitePolicy, PromotionError> {
    if policy.points == 0 && policy.coupon_template.is_none() {
        return Err(invalid("points", "give points, a coupon or both"));
    }
    if policy.points > 100_000 {
        return Err(invalid("points", "must be at most 100000"));
    }
    if !(1..=1000).contains(&policy.daily_cap) {
        return Err(invalid("dailyCap", "must be 1 to 1000 rewards a day"));
    }
    Ok(policy)
}

/// A check-in reward whose streak counts up to a year at most.
pub fn validated_checkin_policy(
    policy: crate::social::CheckinPolicy,
) -> Result<crate::social::CheckinPolicy, PromotionError> {
    if policy.points > 10_000 {
        return Err(invalid("points", "must be at most 10000 a day"));
    }
    if policy.streak_bonus > 10_000 {
        return Err(invalid("streakBonus", "must be at most 10000"));
    }
    if !(1..=365).contains(&policy.streak_cap) {
        return Err(invalid("streakCap", "must be 1 to 365 days"));
    }
    Ok(policy)
}

/// Points earned for paying `total` fen: whole yuan times the shop's earning rate.
pub fn points_earned(total: crate::money::Fen, per_yuan: u64) -> u64 {
    (total.get() / 100).saturating_mul(per_yuan)
}

/// A coupon in the shopper's wallet, with whether it can be used now.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletView<'a> {
    pub coupon_id: String,
    pub title: &'a str,
    pub value: CouponValue,
    pub scope: &'a Scope,
    pub valid_from: i64,
    pub valid_until: i64,
    /// `available`, `used` (held by `orderId`), `expired` or `not_yet_valid`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub claimed_at: i64,
}

pub fn wallet_view(coupon: &WalletCoupon, now: i64) -> WalletView<'_> {
    let state = match coupon.status {
        CouponStatus::Used => "used",
        CouponStatus::Available if now >= coupon.coupon.valid_until => "expired",
        CouponStatus::Available if now < coupon.coupon.valid_from => "not_yet_valid",
        CouponStatus::Available => "available",
    };
    WalletView {
        coupon_id: coupon.id.to_string(),
        title: &coupon.coupon.title,
        value: coupon.coupon.value,
        scope: &coupon.coupon.scope,
        valid_from: coupon.coupon.valid_from,
        valid_until: coupon.coupon.valid_until,
        state,
        order_id: coupon.order_id.as_ref().map(ToString::to_string),
        claimed_at: coupon.claimed_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Fen;
    use crate::pricing::Tier;

    fn template() -> CouponTemplate {
        CouponTemplate {
            id: PromotionId::parse("new-user").unwrap(),
            title: " 新人券 ".into(),
            value: CouponValue::AmountOff {
                off: Fen::new(2000),
                min_spend: Fen::new(9900),
            },
            scope: Scope::Shop,
            validity: Validity::DaysAfterClaim { days: 7 },
            claim_until: None,
            total_limit: 100,
            per_user_limit: 1,
            issued: 0,
        }
    }

    #[test]
    fn coupon_ids_carry_the_template_and_the_claim_number() {
        let id = CouponId::parse("new-user.2").unwrap();
        assert_eq!((id.template().as_str(), id.number()), ("new-user", 2));
        assert_eq!(id.to_string(), "new-user.2");
        for bad in [
            "new-user",
            "new-user.0",
            "new-user.01",
            "New.1",
            ".1",
            "a.b",
            "a.-1",
        ] {
            assert!(CouponId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_template_that_makes_no_sense_is_refused_naming_the_field() {
        let field = |t: CouponTemplate| match t.validated() {
            Err(PromotionError::Invalid { field, .. }) => field,
            Ok(_) => "ok",
        };
        assert_eq!(field(template()), "ok");
        assert_eq!(
            field(CouponTemplate {
                title: "  ".into(),
                ..template()
            }),
            "title"
        );
        assert_eq!(
            field(CouponTemplate {
                value: CouponValue::AmountOff {
                    off: Fen::new(5000),
                    min_spend: Fen::new(3000)
                },
                ..template()
            }),
            "off"
        );
        assert_eq!(
            field(CouponTemplate {
                value: CouponValue::PercentOff {
                    percent: 100,
                    cap: Fen::new(1),
                    min_spend: Fen::ZERO
                },
                ..template()
            }),
            "percent"
        );
        assert_eq!(
            field(CouponTemplate {
                validity: Validity::Dates {
                    from: 10,
                    until: 10
                },
                ..template()
            }),
            "validUntil"
        );
        assert_eq!(
            field(CouponTemplate {
                per_user_limit: 0,
                ..template()
            }),
            "perUser"
        );
        assert_eq!(
            field(CouponTemplate {
                scope: Scope::Products {
                    product_ids: vec![]
                },
                ..template()
            }),
            "scope"
        );
    }

    #[test]
    fn a_coupon_claimed_now_is_valid_for_its_days_from_now() {
        let coupon = template().validated().unwrap().issue(1, 1_000);
        assert_eq!(coupon.id.to_string(), "new-user.1");
        assert_eq!(coupon.coupon.title, "新人券");
        assert_eq!(
            (coupon.coupon.valid_from, coupon.coupon.valid_until),
            (1_000, 1_000 + 7 * DAY)
        );
        assert!(coupon.usable_at(1_000) && !coupon.usable_at(1_000 + 7 * DAY));
    }

    #[test]
    fn claims_stop_when_the_coupons_run_out_or_end() {
        let dated = CouponTemplate {
            validity: Validity::Dates {
                from: 0,
                until: 500,
            },
            claim_until: Some(900),
            ..template()
        };
        assert_eq!(dated.claim_ends(), Some(500));
        assert_eq!(dated.claimable(499), Ok(()));
        assert_eq!(dated.claimable(500), Err(ClaimRefusal::Ended));
        let gone = CouponTemplate {
            issued: 100,
            ..template()
        };
        assert_eq!(gone.claimable(0), Err(ClaimRefusal::SoldOut));
    }

    #[test]
    fn full_reduction_tiers_must_rise_together() {
        let rule = |tiers: &[(u64, u64)]| FullReduction {
            id: "autumn".into(),
            scope: Scope::Shop,
            tiers: tiers
                .iter()
                .map(|(t, o)| Tier {
                    threshold: Fen::new(*t),
                    off: Fen::new(*o),
                })
                .collect(),
        };
        let ok = validated_full_reduction(rule(&[(29900, 4000), (19900, 2000)])).unwrap();
        assert_eq!(
            ok.tiers[0].threshold,
            Fen::new(19900),
            "sorted by threshold"
        );
        for bad in [
            &[][..],
            &[(19900, 2000), (19900, 3000)],
            &[(19900, 4000), (29900, 2000)],
            &[(1000, 1000)],
            &[(1000, 0)],
        ] {
            assert!(validated_full_reduction(rule(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn promotions_read_as_camel_case_json_like_the_rest_of_the_api() {
        let value = serde_json::to_value(CouponValue::PercentOff {
            percent: 10,
            cap: Fen::new(3000),
            min_spend: Fen::new(9900),
        })
        .unwrap();
        assert_eq!(
            value,
            serde_json::json!({"kind": "percentOff", "percent": 10, "cap": 3000, "minSpend": 9900})
        );
        let scope = serde_json::to_value(Scope::Category {
            category_id: crate::ids::CategoryId::parse("tea").unwrap(),
        })
        .unwrap();
        assert_eq!(
            scope,
            serde_json::json!({"kind": "category", "categoryId": "tea"})
        );
        let validity = serde_json::to_value(Validity::DaysAfterClaim { days: 7 }).unwrap();
        assert_eq!(
            validity,
            serde_json::json!({"kind": "daysAfterClaim", "days": 7})
        );
    }

    #[test]
    fn delivered_orders_earn_whole_yuan_times_the_rate() {
        assert_eq!(points_earned(Fen::new(12_899), 1), 128);
        assert_eq!(points_earned(Fen::new(12_899), 2), 256);
        assert_eq!(points_earned(Fen::new(99), 5), 0);
    }
}

//! The points mall (积分商城): items a shopper redeems with points, alone or with a cash top-up
//! (积分 + 钱). An item is a coupon (into the wallet) or a physical gift (a SKU of the catalog,
//! shipped as an order of its own), with its own redemption stock, a per-shopper limit and a
//! window.
//!
//! What is here is the rule: the item as staff write it, checked field by field, and whether a
//! shopper may redeem it now. Taking the points, a unit of the item and the shopper's count
//! happens in one conditional transaction in the store.

use crate::field::FieldError;
use crate::ids::SkuId;
use crate::money::Fen;
use serde::{Deserialize, Serialize};

pub use crate::ids::MallItemId;

/// What redeeming an item gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum MallReward {
    /// One coupon of this template into the shopper's wallet.
    #[serde(rename_all = "camelCase")]
    Coupon { template: String },
    /// One unit of this SKU, shipped to the address the shopper gives.
    #[serde(rename_all = "camelCase")]
    Gift { sku_id: SkuId },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MallItem {
    pub id: MallItemId,
    pub title: String,
    pub reward: MallReward,
    /// Points one redemption costs.
    pub points: u64,
    /// Money paid beside the points (a gift only); zero: points alone.
    pub cash: Fen,
    /// Units the mall offers in all (the redemption stock).
    pub stock: u64,
    pub per_shopper_limit: u32,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// Why a shopper cannot redeem an item now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemRefusal {
    NotStarted,
    Ended,
    SoldOut,
    /// They redeemed it as often as the item allows.
    LimitReached {
        limit: u32,
    },
    PointsShort {
        needed: u64,
        balance: u64,
    },
}

impl MallItem {
    /// Whether the shopper may redeem one more now, judged on what was read: the store's
    /// conditions decide again in the transaction, so a race cannot pass a limit.
    pub fn refusal(
        &self,
        now: i64,
        left: u64,
        redeemed: u32,
        balance: u64,
    ) -> Option<RedeemRefusal> {
        if now < self.starts_at {
            Some(RedeemRefusal::NotStarted)
        } else if now >= self.ends_at {
            Some(RedeemRefusal::Ended)
        } else if left == 0 {
            Some(RedeemRefusal::SoldOut)
        } else if redeemed >= self.per_shopper_limit {
            Some(RedeemRefusal::LimitReached {
                limit: self.per_shopper_limit,
            })
        } else if balance < self.points {
            Some(RedeemRefusal::PointsShort {
                needed: self.points,
                balance,
            })
        } else {
            None
        }
    }

    /// A gift ships; a coupon goes into the wallet.
    pub fn gift_sku(&self) -> Option<&SkuId> {
        match &self.reward {
            MallReward::Gift { sku_id } => Some(sku_id),
            MallReward::Coupon { .. } => None,
        }
    }
}

/// An item as staff write it; [`MallItemDraft::parse`] checks each field, naming the wrong one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MallItemDraft {
    pub title: Option<String>,
    pub reward: Option<MallReward>,
    pub points: Option<i64>,
    /// Fen, like every amount of the API.
    pub cash: Option<i64>,
    pub stock: Option<i64>,
    pub per_shopper_limit: Option<i64>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

impl MallItemDraft {
    pub fn parse(&self, id: MallItemId) -> Result<MallItem, FieldError> {
        let title = self.title.as_deref().map(str::trim).unwrap_or("");
        if !(1..=30).contains(&title.chars().count()) || title.chars().any(char::is_control) {
            return Err(FieldError::new("title", "must be 1 to 30 characters"));
        }
        let reward = self
            .reward
            .clone()
            .ok_or_else(|| FieldError::new("reward", "is required: a coupon or a gift"))?;
        if let MallReward::Coupon { template } = &reward
            && crate::ids::PromotionId::parse(template).is_err()
        {
            return Err(FieldError::new(
                "reward.template",
                "must name a coupon template",
            ));
        }
        let points = self
            .points
            .and_then(|p| u64::try_from(p).ok())
            .filter(|p| (1..=10_000_000).contains(p))
            .ok_or_else(|| FieldError::new("points", "must be 1 to 10000000 points"))?;
        let cash = match self.cash {
            None | Some(0) => Fen::ZERO,
            Some(_) if matches!(reward, MallReward::Coupon { .. }) => {
                return Err(FieldError::new(
                    "cash",
                    "a coupon is redeemed with points alone; only a gift takes a top-up",
                ));
            }
            Some(fen) => u64::try_from(fen)
                .ok()
                .filter(|f| *f <= 10_000_000)
                .map(Fen::new)
                .ok_or_else(|| FieldError::new("cash", "must be 0 to 10000000 fen"))?,
        };
        let stock = self
            .stock
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| (1..=10_000_000).contains(s))
            .ok_or_else(|| FieldError::new("stock", "must be 1 to 10000000 units"))?;
        let per_shopper_limit = self
            .per_shopper_limit
            .and_then(|l| u32::try_from(l).ok())
            .filter(|l| (1..=100).contains(l))
            .ok_or_else(|| FieldError::new("perShopperLimit", "must be 1 to 100"))?;
        let moment = crate::clock::moment_field;
        let starts_at = moment(self.starts_at.as_deref(), "startsAt")?;
        let ends_at = moment(self.ends_at.as_deref(), "endsAt")?;
        if ends_at <= starts_at {
            return Err(FieldError::new(
                "endsAt",
                "the item must end after it starts",
            ));
        }
        Ok(MallItem {
            id,
            title: title.to_string(),
            reward,
            points,
            cash,
            stock,
            per_shopper_limit,
            starts_at,
            ends_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(value: serde_json::Value) -> MallItemDraft {
        serde_json::from_value(value).expect("a draft")
    }

    fn gift() -> serde_json::Value {
        json!({
            "title": "定制茶杯", "reward": {"kind": "gift", "skuId": "cup-1"},
            "points": 800, "cash": 990, "stock": 5, "perShopperLimit": 1,
            "startsAt": "2026-12-01T00:00:00+08:00", "endsAt": "2026-12-31T00:00:00+08:00",
        })
    }

    fn item() -> MallItem {
        draft(gift())
            .parse(MallItemId::parse("cup").unwrap())
            .expect("a good draft")
    }

    #[test]
    fn a_good_draft_becomes_an_item_with_its_top_up_in_fen() {
        let item = item();
        assert_eq!(item.cash, Fen::new(990));
        assert_eq!(item.points, 800);
        assert_eq!(item.gift_sku().map(SkuId::as_str), Some("cup-1"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let id = || MallItemId::parse("x").unwrap();
        let refused = |change: serde_json::Value| {
            let mut value = gift();
            for (k, v) in change.as_object().unwrap() {
                value[k] = v.clone();
            }
            draft(value).parse(id()).unwrap_err().field
        };
        assert_eq!(refused(json!({"title": ""})), "title");
        assert_eq!(refused(json!({"points": 0})), "points");
        assert_eq!(refused(json!({"cash": -1})), "cash");
        assert_eq!(refused(json!({"stock": 0})), "stock");
        assert_eq!(refused(json!({"perShopperLimit": 0})), "perShopperLimit");
        assert_eq!(refused(json!({"startsAt": "soon"})), "startsAt");
        assert_eq!(
            refused(json!({"endsAt": "2026-11-01T00:00:00+08:00"})),
            "endsAt"
        );
        assert_eq!(
            refused(json!({"reward": {"kind": "coupon", "template": "new-user"}})),
            "cash",
            "a coupon takes no top-up"
        );
        assert_eq!(
            refused(json!({"reward": {"kind": "coupon", "template": "no such!"}})),
            "reward.template"
        );
    }

    #[test]
    fn a_shopper_is_refused_outside_the_window_past_the_stock_the_limit_or_their_points() {
        let item = item();
        let during = item.starts_at + 60;
        assert_eq!(item.refusal(during, 5, 0, 800), None);
        assert_eq!(
            item.refusal(item.starts_at - 1, 5, 0, 800),
            Some(RedeemRefusal::NotStarted)
        );
        assert_eq!(
            item.refusal(item.ends_at, 5, 0, 800),
            Some(RedeemRefusal::Ended)
        );
        assert_eq!(
            item.refusal(during, 0, 0, 800),
            Some(RedeemRefusal::SoldOut)
        );
        assert_eq!(
            item.refusal(during, 5, 1, 800),
            Some(RedeemRefusal::LimitReached { limit: 1 })
        );
        assert_eq!(
            item.refusal(during, 5, 0, 799),
            Some(RedeemRefusal::PointsShort {
                needed: 800,
                balance: 799
            })
        );
    }
}

//! The shop's promotions as staff and shopctl set them: coupon templates, 满减 rules, the points,
//! invite and check-in policies, and the warehouses parcels leave from. One use case for the
//! merchant's API and for shopctl: each change is checked by the domain's rules and committed
//! with its audit record in one transaction (the rules against the version read, retried when
//! someone changed them in between), so what checkout prices with is what the log says.

use crate::staff::Actor;
use domain::field::FieldError;
use domain::ids::PromotionId;
use domain::logistics::Warehouse;
use domain::pricing::{FullReduction, PointsPolicy};
use domain::promotions::{CouponTemplate, PromotionError, PromotionRules};
use domain::social::{CheckinPolicy, InvitePolicy};
use serde_json::{Value, json};
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::marketing::MarketingStore;
use store::shipments::ShipmentStore;
use store::users::UserStore;

/// A rules write that keeps meeting someone else's is given up after this many reads.
const RULE_TRIES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum PromotionDeskError {
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(FieldError),
    /// More coupons were claimed than the new total allows.
    #[error("{issued} are claimed already; the total cannot be lower")]
    TotalBelowIssued { issued: u64 },
    #[error("no full reduction named {0}")]
    NoSuchReduction(String),
    #[error("no such shopper")]
    NoSuchShopper,
    /// The promotion rules kept changing under this write.
    #[error("the promotion rules are being changed by someone else; try again")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<PromotionError> for PromotionDeskError {
    fn from(e: PromotionError) -> Self {
        match e {
            PromotionError::Invalid { field, problem } => {
                PromotionDeskError::Invalid(FieldError::new(field, problem))
            }
        }
    }
}

impl From<FieldError> for PromotionDeskError {
    fn from(e: FieldError) -> Self {
        PromotionDeskError::Invalid(e)
    }
}

#[derive(Clone)]
pub struct PromotionDesk {
    pub marketing: MarketingStore,
    pub shipments: ShipmentStore,
    /// Shoppers' membership levels.
    users: UserStore,
    audit: AuditLog,
}

/// A coupon template saved: whether it is new.
pub struct SavedCoupon {
    pub template: CouponTemplate,
    pub created: bool,
}

impl PromotionDesk {
    pub fn new(
        marketing: MarketingStore,
        shipments: ShipmentStore,
        users: UserStore,
        audit: AuditLog,
    ) -> Self {
        Self {
            marketing,
            shipments,
            users,
            audit,
        }
    }

    /// Makes a shopper a member of `level` (or, with `None`, no member): their member prices
    /// apply from their next quote. Audited as `member.level`.
    pub async fn set_member_level(
        &self,
        user: &domain::ids::UserId,
        level: Option<&str>,
        actor: &Actor,
        now: i64,
    ) -> Result<(), PromotionDeskError> {
        let level = level.map(domain::catalog::member_level).transpose()?;
        let write = self.users.member_level_write(user, level.as_deref())?;
        let entry = actor.entry(
            "member.level",
            format!("user:{user}"),
            json!(null),
            json!({ "level": level }),
            now,
        );
        match self.audit.commit(vec![write], entry).await? {
            Committed::Done(_) => Ok(()),
            Committed::Refused(_) => Err(PromotionDeskError::NoSuchShopper),
        }
    }

    /// Creates or replaces a coupon template (`coupon.save`), keeping how many were claimed;
    /// its total may not go under that.
    pub async fn save_coupon(
        &self,
        template: CouponTemplate,
        actor: &Actor,
        now: i64,
    ) -> Result<SavedCoupon, PromotionDeskError> {
        let template = CouponTemplate {
            issued: 0,
            ..template.validated()?
        };
        let existing = self.marketing.template(&template.id).await?;
        if let Some(existing) = &existing
            && template.total_limit < existing.issued
        {
            return Err(PromotionDeskError::TotalBelowIssued {
                issued: existing.issued,
            });
        }
        let write = self.marketing.template_write(&template)?;
        let entry = actor.entry(
            "coupon.save",
            format!("coupon:{}", template.id),
            json!(existing),
            json!(template),
            now,
        );
        match self.audit.commit(vec![write], entry).await? {
            Committed::Done(_) => {}
            // Claimed past the new total between the read and the write.
            Committed::Refused(_) => {
                let issued = self
                    .marketing
                    .template(&template.id)
                    .await?
                    .map_or(0, |t| t.issued);
                return Err(PromotionDeskError::TotalBelowIssued { issued });
            }
        }
        // The claimed count as read: the write kept it, so no second read is needed.
        let issued = existing.as_ref().map_or(0, |e| e.issued);
        Ok(SavedCoupon {
            template: CouponTemplate { issued, ..template },
            created: existing.is_none(),
        })
    }

    /// Changes the rules with `edit` against the version read, audited as `action` with the
    /// part `shown` picks before and after; re-read and retried when someone wrote in between.
    async fn edit_rules(
        &self,
        action: &str,
        target: String,
        shown: impl Fn(&PromotionRules) -> Value,
        edit: impl Fn(&mut PromotionRules) -> Result<(), PromotionDeskError>,
        actor: &Actor,
        now: i64,
    ) -> Result<PromotionRules, PromotionDeskError> {
        for _ in 0..RULE_TRIES {
            let (before, version) = self.marketing.versioned_rules().await?;
            let mut rules = before.clone();
            edit(&mut rules)?;
            let write = self.marketing.rules_write(&rules, version)?;
            let entry = actor.entry(action, target.clone(), shown(&before), shown(&rules), now);
            if let Committed::Done(_) = self.audit.commit(vec![write], entry).await? {
                return Ok(rules);
            }
        }
        Err(PromotionDeskError::Busy)
    }

    /// Adds or replaces a 满减 rule (`reduction.set`).
    pub async fn set_reduction(
        &self,
        rule: FullReduction,
        actor: &Actor,
        now: i64,
    ) -> Result<PromotionRules, PromotionDeskError> {
        let rule = domain::promotions::validated_full_reduction(rule)?;
        let id = rule.id.clone();
        let shown = |r: &PromotionRules| json!(r.full_reductions.iter().find(|f| f.id == id));
        self.edit_rules(
            "reduction.set",
            format!("reduction:{}", rule.id),
            shown,
            |rules| {
                rules.full_reductions.retain(|r| r.id != rule.id);
                rules.full_reductions.push(rule.clone());
                rules.full_reductions.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(())
            },
            actor,
            now,
        )
        .await
    }

    /// Removes a 满减 rule (`reduction.remove`).
    pub async fn remove_reduction(
        &self,
        id: &PromotionId,
        actor: &Actor,
        now: i64,
    ) -> Result<PromotionRules, PromotionDeskError> {
        let shown =
            |r: &PromotionRules| json!(r.full_reductions.iter().find(|f| f.id == id.as_str()));
        self.edit_rules(
            "reduction.remove",
            format!("reduction:{id}"),
            shown,
            |rules| {
                let before = rules.full_reductions.len();
                rules.full_reductions.retain(|r| r.id != id.as_str());
                if rules.full_reductions.len() == before {
                    return Err(PromotionDeskError::NoSuchReduction(id.to_string()));
                }
                Ok(())
            },
            actor,
            now,
        )
        .await
    }

    /// Sets how points pay (and, when given, how many a yuan earns): `points.policy`.
    pub async fn set_points(
        &self,
        policy: PointsPolicy,
        earned_per_yuan: Option<u64>,
        actor: &Actor,
        now: i64,
    ) -> Result<PromotionRules, PromotionDeskError> {
        let policy = domain::promotions::validated_points_policy(policy)?;
        if earned_per_yuan.is_some_and(|e| e > 1000) {
            return Err(FieldError::new("earnPerYuan", "must be 0 to 1000 points a yuan").into());
        }
        self.edit_rules(
            "points.policy",
            "promotions:points".into(),
            |r| json!({"points": r.points, "earnedPerYuan": r.points_earned_per_yuan}),
            |rules| {
                rules.points = policy;
                if let Some(earned) = earned_per_yuan {
                    rules.points_earned_per_yuan = earned;
                }
                Ok(())
            },
            actor,
            now,
        )
        .await
    }

    /// Sets what an invite earns (`invite.policy`); its coupon must exist.
    pub async fn set_invite(
        &self,
        policy: InvitePolicy,
        actor: &Actor,
        now: i64,
    ) -> Result<PromotionRules, PromotionDeskError> {
        let policy = domain::promotions::validated_invite_policy(policy)?;
        if let Some(coupon) = &policy.coupon_template
            && self.marketing.template(coupon).await?.is_none()
        {
            return Err(
                FieldError::new("couponTemplate", format!("no coupon template {coupon}")).into(),
            );
        }
        self.edit_rules(
            "invite.policy",
            "promotions:invite".into(),
            |r| json!(r.invite),
            |rules| {
                rules.invite = policy.clone();
                Ok(())
            },
            actor,
            now,
        )
        .await
    }

    /// Sets what a daily check-in earns (`checkin.policy`).
    pub async fn set_checkin(
        &self,
        policy: CheckinPolicy,
        actor: &Actor,
        now: i64,
    ) -> Result<PromotionRules, PromotionDeskError> {
        let policy = domain::promotions::validated_checkin_policy(policy)?;
        self.edit_rules(
            "checkin.policy",
            "promotions:checkin".into(),
            |r| json!(r.checkin),
            |rules| {
                rules.checkin = policy;
                Ok(())
            },
            actor,
            now,
        )
        .await
    }

    /// Creates or replaces a warehouse (`warehouse.save`).
    pub async fn save_warehouse(
        &self,
        warehouse: Warehouse,
        actor: &Actor,
        now: i64,
    ) -> Result<Warehouse, PromotionDeskError> {
        let warehouse = warehouse.validated()?;
        let before = self
            .shipments
            .warehouses()
            .await?
            .into_iter()
            .find(|w| w.id == warehouse.id);
        let write = self.shipments.warehouse_write(&warehouse)?;
        let entry = actor.entry(
            "warehouse.save",
            format!("warehouse:{}", warehouse.id),
            json!(before),
            json!(warehouse),
            now,
        );
        self.audit.commit(vec![write], entry).await?;
        Ok(warehouse)
    }

    /// Every warehouse, first to ship first.
    pub async fn warehouses(&self) -> Result<Vec<Warehouse>, PromotionDeskError> {
        let mut warehouses = self.shipments.warehouses().await?;
        warehouses.sort_by(|a, b| a.priority.cmp(&b.priority).then_with(|| a.id.cmp(&b.id)));
        Ok(warehouses)
    }
}

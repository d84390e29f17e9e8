//! The shop's promotions and warehouses for its staff: coupon templates, 满减 rules, the points,
//! invite and check-in policies, and where parcels leave from. Bodies are the domain's own
//! shapes (amounts in fen); the use case is shopctl's (`app::promotion_desk`).

use super::{Admin, actor};
use domain::ids::PromotionId;
use domain::logistics::Warehouse;
use domain::pricing::{FullReduction, PointsPolicy, Scope, Tier};
use domain::promotions::{CouponTemplate, PromotionRules};
use domain::social::{CheckinPolicy, InvitePolicy};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::StaffCaller;
use serde::Deserialize;
use serde_json::json;

fn rules_view(rules: &PromotionRules) -> ApiResponse {
    api::json(200, &json!({ "rules": rules }))
}

/// A rule's or a warehouse's id from the path, named as the body would name it.
fn path_id(req: &ApiRequest) -> Result<PromotionId, ApiError> {
    PromotionId::parse(req.path_param("id")?).map_err(|e| ApiError::invalid_field("id", e))
}

impl Admin {
    /// `GET /admin/v1/coupons`: every coupon template with how many were claimed.
    pub(crate) async fn coupons(&self) -> Result<ApiResponse, ApiError> {
        let items = self
            .promotions
            .marketing
            .templates()
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(api::json(200, &json!({ "items": items })))
    }

    /// `POST /admin/v1/coupons {id, title, value, scope, validity, claimUntil?, totalLimit,
    /// perUserLimit}`: creates (201) or replaces (200) a template, its claimed count kept.
    pub(crate) async fn save_coupon(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let template: CouponTemplate = req.json_body()?;
        let saved = self
            .promotions
            .save_coupon(template, &actor(req, caller), now)
            .await?;
        Ok(api::json(
            if saved.created { 201 } else { 200 },
            &json!({ "coupon": saved.template }),
        ))
    }

    /// `GET /admin/v1/lotteries`: the shop's lucky draws, latest start first, each prize with
    /// the units it has left (`null`: not counted).
    pub(crate) async fn lotteries(&self) -> Result<ApiResponse, ApiError> {
        let items: Vec<serde_json::Value> = self
            .lotteries
            .lotteries()
            .await?
            .into_iter()
            .map(|(lottery, left)| json!({ "lottery": lottery, "left": left }))
            .collect();
        Ok(api::json(200, &json!({ "items": items })))
    }

    /// `POST /admin/v1/lotteries {id, title, startsAt, endsAt, prizes, chances, dailyLimit}`:
    /// 201 with the new lucky draw (audited as `lottery.create`); 409 `lottery_exists`.
    pub(crate) async fn create_lottery(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(serde::Deserialize)]
        struct NewLottery {
            id: Option<String>,
            #[serde(flatten)]
            draft: domain::lottery::LotteryDraft,
        }
        let body: NewLottery = req.json_body()?;
        let lottery = self
            .lotteries
            .create(body.id.as_deref(), &body.draft, &actor(req, caller), now)
            .await?;
        Ok(api::json(201, &json!({ "lottery": lottery })))
    }

    /// `GET /admin/v1/lotteries/{id}/draws`: every draw, oldest first, and how many each prize
    /// gave, so the merchant can check each outcome against the prizes set.
    pub(crate) async fn lottery_draws(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let (lottery, draws) = self.lotteries.all_draws(req.path_param("id")?).await?;
        let won: serde_json::Map<String, serde_json::Value> = lottery
            .prizes
            .iter()
            .map(|p| {
                let count = draws.iter().filter(|d| d.prize_id == p.id).count();
                (p.id.clone(), json!(count))
            })
            .collect();
        Ok(api::json(
            200,
            &json!({ "lottery": lottery, "won": won, "items": draws }),
        ))
    }

    /// `GET /admin/v1/points-mall`: every item with what is left of it and how many were
    /// redeemed.
    pub(crate) async fn mall_items(&self) -> Result<ApiResponse, ApiError> {
        let items: Vec<serde_json::Value> = self
            .mall
            .listing()
            .await?
            .into_iter()
            .map(|(listed, redeemed)| {
                json!({ "item": listed.item, "left": listed.left, "redeemed": redeemed })
            })
            .collect();
        Ok(api::json(200, &json!({ "items": items })))
    }

    /// `POST /admin/v1/points-mall {id, title, reward, points, cash?, stock, perShopperLimit,
    /// startsAt, endsAt}`: 201 with the new item (audited as `mall.create`); 409
    /// `mall_item_exists`.
    pub(crate) async fn create_mall_item(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(serde::Deserialize)]
        struct NewItem {
            id: Option<String>,
            #[serde(flatten)]
            draft: domain::points_mall::MallItemDraft,
        }
        let body: NewItem = req.json_body()?;
        let item = self
            .mall
            .create(body.id.as_deref(), &body.draft, &actor(req, caller), now)
            .await?;
        Ok(api::json(201, &json!({ "item": item })))
    }

    /// `GET /admin/v1/points-mall/redemptions`: every redemption, oldest first (a gift's
    /// names its order, which ships from the orders list).
    pub(crate) async fn mall_redemptions(&self) -> Result<ApiResponse, ApiError> {
        let items = self.mall.all_redemptions().await?;
        Ok(api::json(200, &json!({ "items": items })))
    }

    /// `GET /admin/v1/tasks`: each task the shop has (set or not) and how the merchant set it.
    pub(crate) async fn task_settings(&self) -> Result<ApiResponse, ApiError> {
        let set = self.tasks.tasks().await?;
        let items: Vec<serde_json::Value> = domain::tasks::TaskKind::ALL
            .into_iter()
            .map(|kind| {
                json!({
                    "id": kind,
                    "defaultTitle": kind.default_title(),
                    "task": set.iter().find(|t| t.kind == kind),
                })
            })
            .collect();
        Ok(api::json(200, &json!({ "items": items })))
    }

    /// `POST /admin/v1/tasks/{id} {title?, points, dailyCap, seconds?, startsAt, endsAt}`: sets
    /// one task (audited as `task.set`); its id is its kind (`view-product`, ...).
    pub(crate) async fn set_task(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let draft: domain::tasks::TaskDraft = req.json_body()?;
        let task = self
            .tasks
            .configure(req.path_param("id")?, &draft, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &json!({ "task": task })))
    }

    /// `GET /admin/v1/promotions`: the 满减 rules and the points, invite and check-in policies.
    pub(crate) async fn promotion_rules(&self) -> Result<ApiResponse, ApiError> {
        let rules = self
            .promotions
            .marketing
            .rules()
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(rules_view(&rules))
    }

    /// `POST /admin/v1/promotions/reductions/{id} {scope, tiers: [{threshold, off}]}`.
    pub(crate) async fn set_reduction(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        struct Body {
            #[serde(default = "whole_shop")]
            scope: Scope,
            tiers: Vec<Tier>,
        }
        fn whole_shop() -> Scope {
            Scope::Shop
        }
        let id = path_id(req)?;
        let body: Body = req.json_body()?;
        let rule = FullReduction {
            id: id.to_string(),
            scope: body.scope,
            tiers: body.tiers,
        };
        let rules = self
            .promotions
            .set_reduction(rule, &actor(req, caller), now)
            .await?;
        Ok(rules_view(&rules))
    }

    /// `DELETE /admin/v1/promotions/reductions/{id}`.
    pub(crate) async fn remove_reduction(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let id = path_id(req)?;
        let rules = self
            .promotions
            .remove_reduction(&id, &actor(req, caller), now)
            .await?;
        Ok(rules_view(&rules))
    }

    /// `POST /admin/v1/promotions/points {pointsPerYuan, maxSharePercent, earnPerYuan?}`: how
    /// many points make a yuan off, the most of the goods they pay, what a yuan paid earns.
    pub(crate) async fn set_points(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            points_per_yuan: u64,
            max_share_percent: u8,
            earn_per_yuan: Option<u64>,
        }
        let body: Body = req.json_body()?;
        let policy = PointsPolicy {
            points_per_unit: body.points_per_yuan,
            fen_per_unit: 100,
            max_share_percent: body.max_share_percent,
        };
        let rules = self
            .promotions
            .set_points(policy, body.earn_per_yuan, &actor(req, caller), now)
            .await?;
        Ok(rules_view(&rules))
    }

    /// `POST /admin/v1/promotions/invite {points, dailyCap, couponTemplate?}`.
    pub(crate) async fn set_invite(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let policy: InvitePolicy = req.json_body()?;
        let rules = self
            .promotions
            .set_invite(policy, &actor(req, caller), now)
            .await?;
        Ok(rules_view(&rules))
    }

    /// `POST /admin/v1/promotions/checkin {points, streakBonus, streakCap}`.
    pub(crate) async fn set_checkin(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let policy: CheckinPolicy = req.json_body()?;
        let rules = self
            .promotions
            .set_checkin(policy, &actor(req, caller), now)
            .await?;
        Ok(rules_view(&rules))
    }

    /// `POST /admin/v1/shoppers/{id}/member-level {level | null}`: makes a shopper a member of
    /// a level (their member prices apply from their next quote), or no member.
    pub(crate) async fn set_member_level(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        struct Body {
            level: Option<String>,
        }
        let user = domain::ids::UserId::parse(req.path_param("id")?)
            .map_err(|_| ApiError::new(404, "shopper_not_found", "no such shopper"))?;
        let body: Body = req.json_body()?;
        self.promotions
            .set_member_level(&user, body.level.as_deref(), &actor(req, caller), now)
            .await?;
        Ok(api::json(
            200,
            &json!({"userId": user, "level": body.level}),
        ))
    }

    /// `GET /admin/v1/warehouses`: first to ship first.
    pub(crate) async fn warehouses(&self) -> Result<ApiResponse, ApiError> {
        let items = self.promotions.warehouses().await?;
        Ok(api::json(200, &json!({ "items": items })))
    }

    /// `POST /admin/v1/warehouses/{id} {name, provinces, priority, isDefault, courier,
    /// senderName, senderPhone, senderAddress}`: creates or replaces it.
    pub(crate) async fn save_warehouse(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Body {
            name: String,
            #[serde(default)]
            provinces: Vec<String>,
            priority: u32,
            #[serde(default)]
            is_default: bool,
            courier: String,
            sender_name: String,
            sender_phone: String,
            sender_address: String,
        }
        let id = path_id(req)?;
        let body: Body = req.json_body()?;
        let warehouse = Warehouse {
            id: id.to_string(),
            name: body.name,
            provinces: body.provinces,
            priority: body.priority,
            is_default: body.is_default,
            courier: body.courier,
            sender_name: body.sender_name,
            sender_phone: body.sender_phone,
            sender_address: body.sender_address,
        };
        let saved = self
            .promotions
            .save_warehouse(warehouse, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &json!({ "warehouse": saved })))
    }
}

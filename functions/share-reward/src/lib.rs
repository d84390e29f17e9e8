//! `share-reward`: share links, rewards, daily check-in, group-buy state and bargains.
//!
//! Routes: `POST /v1/shares`, `POST /v1/shares/{code}/open`, `GET /v1/rewards`,
//! `POST /v1/checkin`, `GET /v1/groups/{id}`, `POST /v1/bargains`,
//! `POST /v1/bargains/{id}/help`, `GET /v1/bargains/{id}`, `GET /v1/lotteries/{id}`,
//! `POST /v1/lotteries/{id}/draw`. Joining a group and paying for a
//! bargain happen at checkout; rewards are granted by the `rewards` consumer.

use domain::clock::now_epoch_seconds;
use domain::ids::{BargainId, GroupId, ShareCode};
use domain::ids::{ProductId, SkuId, UserId};
use domain::money::Fen;
use domain::social::Profile;
use domain::social::{BargainStatus, GroupStatus, draw_cuts};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::Sessions;
use edge::cursor::CursorSealer;
use edge::runtime::{Clients, HttpFunction, respond};
use serde::Serialize;
use serde_json::{Value, json};
use settings::{ConfigError, Settings};
use sha2::{Digest, Sha256};
use store::StoreError;
use store::cart::CartReader;
use store::catalog::CatalogStore;
use store::marketing::MarketingStore;
use store::points::PointsLedger;
use store::queue::{DeadlineMessage, Queue};
use store::social::{Bargain, CheckedIn, Help, SocialStore};

const LEDGER_PAGE: usize = 20;

pub struct ShareReward {
    metrics: telemetry::metrics::Metrics,
    social: SocialStore,
    catalog: CatalogStore,
    cart: CartReader,
    marketing: MarketingStore,
    points: PointsLedger,
    deadlines: Queue,
    sessions: Sessions,
    cursors: CursorSealer,
    lotteries: app::lottery_desk::LotteryDesk,
    /// Points tasks (积分任务): today's, claims, and the share task a friend's open completes.
    tasks: app::task_desk::TaskDesk,
}

/// Why a share-reward request did not succeed.
#[derive(Debug, thiserror::Error)]
enum SocialError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Queue(#[from] store::queue::QueueError),
}

impl From<SocialError> for ApiError {
    fn from(err: SocialError) -> Self {
        ApiError::unexpected(&err)
    }
}

/// A JSON object body, or an empty one when none was sent.
fn optional_body(req: &ApiRequest) -> Result<Value, ApiError> {
    let raw = req.body_bytes()?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let body: Value = req.json_body()?;
    if !body.is_object() {
        return Err(ApiError::invalid_field("body", "must be a JSON object"));
    }
    Ok(body)
}

/// Where the mini-program opens a share: the product page, the lucky draw's, or the home page
/// for a shop share.
fn share_path(code: &ShareCode, share: &store::social::Share) -> String {
    match (&share.product_id, &share.lottery_id) {
        (Some(p), _) => format!("/pages/product/index?id={p}&s={code}"),
        (None, Some(l)) => format!("/pages/lottery/index?id={l}&s={code}"),
        (None, None) => format!("/pages/index/index?s={code}"),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BargainView<'a> {
    id: &'a BargainId,
    sku_id: &'a SkuId,
    product_id: &'a ProductId,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    start_price: Fen,
    floor_price: Fen,
    price: Fen,
    reached_floor: bool,
    helpers: u32,
    helpers_left: u32,
    max_helpers: u32,
    /// `ACTIVE`, `ORDERED` or `EXPIRED` (an active bargain past its time shows as expired).
    status: BargainStatus,
    expires_at: String,
    seconds_left: i64,
    mine: bool,
    helped_by: Vec<Value>,
    /// The order that used it, for its owner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<String>,
}

fn bargain_view<'a>(
    b: &'a Bargain,
    helpers: &[store::social::Helper],
    viewer: Option<&UserId>,
    now: i64,
) -> BargainView<'a> {
    let status = if b.status == BargainStatus::Active && now >= b.expires_at {
        BargainStatus::Expired
    } else {
        b.status
    };
    let mine = viewer == Some(&b.owner_id);
    BargainView {
        id: &b.id,
        sku_id: &b.sku_id,
        product_id: &b.product_id,
        title: &b.title,
        image: b.image.as_deref(),
        start_price: b.start_price,
        floor_price: b.floor_price,
        price: b.price(),
        reached_floor: b.price() == b.floor_price,
        helpers: b.helpers,
        helpers_left: b.max_helpers().saturating_sub(b.helpers),
        max_helpers: b.max_helpers(),
        status,
        expires_at: domain::clock::rfc3339(b.expires_at),
        seconds_left: (b.expires_at - now).max(0),
        mine,
        helped_by: helpers
            .iter()
            .map(|h| {
                json!({"nickname": h.profile.nickname, "avatarUrl": h.profile.avatar_url,
                       "cut": h.cut, "at": domain::clock::rfc3339(h.at)})
            })
            .collect(),
        order_id: b
            .order_id
            .as_ref()
            .filter(|_| mine)
            .map(ToString::to_string),
    }
}

impl ShareReward {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let dynamodb = clients.dynamodb.clone();
        let jwt_secret = settings.secret("JWT_SECRET")?;
        let marketing = settings.required("MARKETING_TABLE")?;
        let catalog = settings.required("CATALOG_TABLE")?;
        Ok(Self {
            metrics: clients.metrics("share-reward"),
            social: SocialStore::new(dynamodb.clone(), &marketing),
            catalog: CatalogStore::new(dynamodb.clone(), &catalog),
            cart: CartReader::new(
                dynamodb.clone(),
                &catalog,
                settings.required("USERS_TABLE")?,
                &marketing,
            ),
            marketing: MarketingStore::new(dynamodb.clone(), &marketing),
            points: PointsLedger::new(dynamodb.clone(), &marketing),
            lotteries: app::lottery_desk::LotteryDesk::new(
                store::lottery::LotteryStore::new(dynamodb.clone(), &marketing),
                MarketingStore::new(dynamodb.clone(), &marketing),
                PointsLedger::new(dynamodb.clone(), &marketing),
                CatalogStore::new(dynamodb, &catalog),
            ),
            tasks: app::task_desk::TaskDesk::new(
                store::tasks::TaskStore::new(clients.dynamodb.clone(), &marketing),
                SocialStore::new(clients.dynamodb.clone(), &marketing),
            )
            .checking_claims_in(
                store::users::UserStore::new(
                    clients.dynamodb.clone(),
                    settings.required("USERS_TABLE")?,
                ),
                store::reviews::ReviewStore::new(
                    clients.dynamodb.clone(),
                    settings.required("REVIEWS_TABLE")?,
                ),
            ),
            deadlines: Queue::new(
                clients.sqs.clone(),
                settings.required("DEADLINES_QUEUE_URL")?,
            ),
            sessions: Sessions::new(
                &jwt_secret,
                store::users::UserStore::new(
                    clients.dynamodb.clone(),
                    settings.required("USERS_TABLE")?,
                ),
            )?,
            cursors: CursorSealer::derive(&jwt_secret),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    /// A share link for the shopper (and a product): the code is bound to them, so whoever signs
    /// up through it counts as their invitee.
    async fn create_share(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body = optional_body(req)?;
        let product = match body.get("productId") {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(
                ProductId::parse(raw)
                    .map_err(|e| ApiError::invalid_field("productId", e.to_string()))?,
            ),
            Some(_) => return Err(ApiError::invalid_field("productId", "must be a product id")),
        };
        let lottery = match body.get("lotteryId") {
            None | Some(Value::Null) => None,
            Some(Value::String(raw)) if product.is_none() => {
                let not_found = || {
                    let mut e = ApiError::new(404, "lottery_not_found", "no such lucky draw");
                    e.field = Some("lotteryId".into());
                    e
                };
                // Only a draw that exists is shared, so its opens can count.
                let id = domain::lottery::LotteryId::parse(raw).map_err(|_| not_found())?;
                if !self.lotteries.exists(&id).await? {
                    return Err(not_found());
                }
                Some(id)
            }
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "lotteryId",
                    "must be a lucky draw's id, and a share names a product or a draw, not both",
                ));
            }
        };
        if let Some(id) = &product {
            let on_shelf = self
                .catalog
                .product(id)
                .await
                .map_err(SocialError::from)?
                .is_some_and(|(p, _)| p.on_shelf);
            if !on_shelf {
                let mut e = ApiError::new(404, "product_not_found", "no such product on sale");
                e.field = Some("productId".into());
                return Err(e);
            }
        }
        let share = self
            .social
            .create_share(
                &user,
                product.as_ref(),
                lottery.as_ref(),
                now_epoch_seconds(),
            )
            .await
            .map_err(SocialError::from)?;
        Ok(api::json(
            201,
            &json!({
                "code": share.code,
                "productId": share.product_id,
                "lotteryId": share.lottery_id,
                "path": share_path(&share.code, &share),
            }),
        ))
    }

    /// Someone opened a share link. Counted once per visitor per day (a signed-in shopper by
    /// their id, others by the `visitorId` the mini-program keeps, else by a hash of their
    /// address); the sharer's own opens are not counted. Answers what the page needs, and the
    /// code to pass to login as `inviteCode`.
    async fn open_share(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let viewer = self.sessions.optional_user(req).await?;
        let not_found = || ApiError::new(404, "share_not_found", "no such share link");
        let code = ShareCode::parse(req.path_param("code")?).map_err(|_| not_found())?;
        let body = optional_body(req)?;
        let visitor = match (&viewer, body.get("visitorId")) {
            (Some(user), _) => format!("u:{user}"),
            (None, Some(Value::String(v)))
                if (8..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                format!("v:{v}")
            }
            (None, None | Some(Value::Null)) => {
                let ip = req.source_ip().unwrap_or("unknown");
                // Only a hash of the address is kept: enough to count, nothing to identify.
                format!(
                    "a:{}",
                    &hex::encode(Sha256::digest(format!("{code}|{ip}").as_bytes()))[..24]
                )
            }
            (None, Some(_)) => {
                return Err(ApiError::invalid_field(
                    "visitorId",
                    "must be 8 to 64 letters, digits, '-' or '_'",
                ));
            }
        };
        let Some(share) = self.social.share(&code).await.map_err(SocialError::from)? else {
            return Err(not_found());
        };
        let own = viewer.as_ref() == Some(&share.sharer_id);
        let counted = !own
            && self
                .social
                .record_visit(&code, &visitor, now_epoch_seconds())
                .await
                .map_err(SocialError::from)?;
        // A signed-in friend opening a shared lucky draw gives the sharer a chance (once per
        // friend, within the draw's daily cap).
        let chance_given = match (&share.lottery_id, &viewer) {
            (Some(lottery), Some(friend)) if !own => {
                self.lotteries
                    .friend_opened(lottery, &share.sharer_id, friend, now_epoch_seconds())
                    .await?
            }
            _ => false,
        };
        // A signed-in friend's open completes the sharer's share task (once per friend a day).
        let task_points = match &viewer {
            Some(friend) if !own => {
                self.tasks
                    .share_opened(&share.sharer_id, friend, now_epoch_seconds())
                    .await?
            }
            _ => None,
        };
        if let Some(points) = task_points {
            self.task_completed(req, points);
        }
        if counted {
            self.metrics.event(
                telemetry::metrics::BusinessEvent::ShareOpened,
                &telemetry::metrics::Facts {
                    channel: Some("share"),
                    ..Default::default()
                },
            );
        }
        tracing::info!(
            share_code = %code,
            counted,
            chance_given,
            task_done = task_points.is_some(),
            "share opened"
        );
        Ok(api::json(
            200,
            &json!({
                "code": code,
                "productId": share.product_id,
                "lotteryId": share.lottery_id,
                "path": share_path(&code, &share),
                "inviteCode": code,
                "counted": counted,
                "chanceGiven": chance_given,
            }),
        ))
    }

    /// Points (balance and a page of the ledger), coupons, check-in streak and invites with
    /// their rewards.
    async fn rewards(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let scope = format!("ledger|{user}");
        let offset: usize = match req.query_param("cursor").filter(|c| !c.is_empty()) {
            Some(c) => self.cursors.open(&scope, c)?,
            None => 0,
        };
        let now = now_epoch_seconds();
        let (balance, entries, wallet, invites, streak) = futures::join!(
            self.points.balance(&user),
            self.points.entries(&user),
            self.marketing.wallet(&user),
            self.social.invites(&user),
            self.social.streak(&user, now),
        );
        let (balance, entries, wallet, invites, (streak, checked_in_today)) = (
            balance.map_err(SocialError::from)?,
            entries.map_err(SocialError::from)?,
            wallet.map_err(SocialError::from)?,
            invites.map_err(SocialError::from)?,
            streak.map_err(SocialError::from)?,
        );
        let page: Vec<Value> = entries
            .iter()
            .skip(offset)
            .take(LEDGER_PAGE)
            .map(|e| {
                json!({"key": e.key, "delta": e.delta, "reason": e.reason,
                       "orderId": e.order_id, "at": domain::clock::rfc3339(e.at)})
            })
            .collect();
        let next = (entries.len() > offset + LEDGER_PAGE)
            .then(|| self.cursors.seal(&scope, &(offset + LEDGER_PAGE)));
        let count = |state: domain::social::InviteState| {
            invites.iter().filter(|i| i.state == state).count()
        };
        use domain::social::InviteState::*;
        Ok(api::json(
            200,
            &json!({
                "points": {"balance": balance, "entries": page, "nextCursor": next},
                "coupons": wallet.iter().map(|c| domain::promotions::wallet_view(c, now)).collect::<Vec<_>>(),
                "checkin": {"streak": streak, "checkedInToday": checked_in_today},
                "invites": {
                    "count": invites.len(),
                    "pending": count(Joined) + count(Pending),
                    "granted": count(Granted),
                    "items": invites.iter().map(|i| json!({
                        "joinedAt": domain::clock::rfc3339(i.joined_at),
                        "state": i.state,
                        "points": i.points,
                        "couponId": i.coupon_id,
                        "note": i.note,
                    })).collect::<Vec<_>>(),
                },
            }),
        ))
    }

    /// Today's check-in (Asia/Shanghai). A second one the same day is 409 and grants nothing.
    async fn check_in(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let now = now_epoch_seconds();
        match self
            .social
            .check_in(&user, now)
            .await
            .map_err(SocialError::from)?
        {
            CheckedIn::CheckedIn {
                streak,
                points,
                balance,
            } => Ok({
                self.task_completed(req, points);
                api::json(
                    201,
                    &json!({"day": domain::social::shanghai_day(now).1, "streak": streak,
                        "points": points, "balance": balance}),
                )
            }),
            CheckedIn::AlreadyToday => Err(ApiError::new(
                409,
                "already_checked_in",
                "you have checked in today already; come back tomorrow",
            )),
        }
    }

    /// A group as friends see it: product, price, members' public faces, seats and time left.
    async fn group(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let not_found = || ApiError::new(404, "group_not_found", "no such group");
        let id = GroupId::parse(req.path_param("id")?).map_err(|_| not_found())?;
        let (group, members) = futures::join!(self.social.group(&id), self.social.members(&id));
        let group = group.map_err(SocialError::from)?.ok_or_else(not_found)?;
        let members = members.map_err(SocialError::from)?;
        let now = now_epoch_seconds();
        // An open group past its time has failed, whether or not the deadline has run yet.
        let status = match (group.status, group.expires_at) {
            (GroupStatus::Open, Some(end)) if now >= end => GroupStatus::Failed,
            (status, _) => status,
        };
        Ok(api::json(
            200,
            &json!({
                "id": group.id,
                "skuId": group.sku_id,
                "productId": group.product_id,
                "title": group.title,
                "image": group.image,
                "price": group.price,
                "regularPrice": group.regular_price,
                "size": group.size,
                "status": status.as_str(),
                "paid": group.paid,
                "seatsLeft": u32::from(group.size).saturating_sub(group.seats),
                "expiresAt": group.expires_at.map(domain::clock::rfc3339),
                "secondsLeft": group.expires_at.map(|e| (e - now).max(0)),
                "members": members.iter().map(|m| json!({
                    "nickname": m.profile.nickname,
                    "avatarUrl": m.profile.avatar_url,
                    "leader": m.user_id == group.leader_id,
                    "paid": m.paid,
                })).collect::<Vec<_>>(),
            }),
        ))
    }

    /// Starts a bargain on a SKU that offers one; its cuts are drawn now and its expiry
    /// scheduled before it is written (a crash between the two leaves an expiry for nothing).
    async fn start_bargain(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body: Value = req.json_body()?;
        let sku_id = body
            .get("skuId")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_field("skuId", "is required"))
            .and_then(|raw| {
                SkuId::parse(raw).map_err(|e| ApiError::invalid_field("skuId", e.to_string()))
            })?;
        let snapshot = self
            .cart
            .read(&user, std::slice::from_ref(&sku_id), None, None)
            .await
            .map_err(SocialError::from)?;
        let unavailable = || {
            let mut e = ApiError::new(422, "bargain_unavailable", "this SKU offers no bargain");
            e.field = Some("skuId".into());
            e
        };
        let for_sale = snapshot
            .skus
            .into_iter()
            .find(|s| s.sku.id == sku_id && s.on_shelf)
            .ok_or_else(unavailable)?;
        let offer = for_sale.sku.bargain.clone().ok_or_else(unavailable)?;
        if offer.check(for_sale.sku.price).is_err() {
            return Err(unavailable());
        }
        let now = now_epoch_seconds();
        let bargain = Bargain {
            id: BargainId::generate(),
            owner_id: user,
            sku_id,
            product_id: for_sale.sku.product_id.clone(),
            title: for_sale.title,
            image: for_sale.image,
            start_price: for_sale.sku.price,
            floor_price: offer.floor_price,
            cuts: draw_cuts(
                for_sale.sku.price.saturating_sub(offer.floor_price),
                offer.max_helpers,
                &mut rand::rng(),
            ),
            helpers: 0,
            status: BargainStatus::Active,
            created_at: now,
            expires_at: now + i64::from(offer.time_limit_hours) * 3600,
            order_id: None,
        };
        let expiry = DeadlineMessage::BargainExpire {
            bargain_id: bargain.id.clone(),
            due_at: bargain.expires_at,
        };
        self.deadlines
            .send(&expiry, bargain.expires_at - now)
            .await
            .map_err(SocialError::from)?;
        self.social
            .start_bargain(&bargain)
            .await
            .map_err(SocialError::from)?;
        tracing::info!(bargain_id = %bargain.id, "bargain started");
        Ok(api::json(
            201,
            &bargain_view(&bargain, &[], Some(&bargain.owner_id), now),
        ))
    }

    async fn help_bargain(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let not_found = || ApiError::new(404, "bargain_not_found", "no such bargain");
        let id = BargainId::parse(req.path_param("id")?).map_err(|_| not_found())?;
        let profile = Profile::from_json(&optional_body(req)?, "")?;
        let now = now_epoch_seconds();
        match self
            .social
            .help(&id, &user, &profile, now)
            .await
            .map_err(SocialError::from)?
        {
            Help::Helped { helper, bargain } => {
                tracing::info!(bargain_id = %id, slot = helper.slot, "bargain helped");
                Ok(api::json(
                    200,
                    &json!({"cut": helper.cut, "bargain": bargain_view(&bargain, &[], Some(&user), now)}),
                ))
            }
            Help::Refused(refusal) => Err(ApiError::new(409, refusal.code(), refusal.to_string())),
            Help::Unknown => Err(not_found()),
        }
    }

    async fn bargain(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let viewer = self.sessions.optional_user(req).await?;
        let not_found = || ApiError::new(404, "bargain_not_found", "no such bargain");
        let id = BargainId::parse(req.path_param("id")?).map_err(|_| not_found())?;
        let (bargain, helpers) = futures::join!(self.social.bargain(&id), self.social.helpers(&id));
        let bargain = bargain.map_err(SocialError::from)?.ok_or_else(not_found)?;
        let helpers = helpers.map_err(SocialError::from)?;
        Ok(api::json(
            200,
            &bargain_view(&bargain, &helpers, viewer.as_ref(), now_epoch_seconds()),
        ))
    }
}

impl ShareReward {
    /// A lucky draw as the shopper sees it: its prizes with what is left of each (weights too,
    /// so the odds are public), their chances today, their balance and their last draws.
    async fn lottery(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let view = self
            .lotteries
            .view(req.path_param("id")?, &user, now_epoch_seconds())
            .await?;
        let total: u64 = view
            .lottery
            .prizes
            .iter()
            .map(|p| u64::from(p.weight))
            .sum();
        let prizes: Vec<Value> = view
            .lottery
            .prizes
            .iter()
            .zip(&view.left)
            .map(|(p, left)| {
                json!({
                    "id": p.id, "name": p.name, "reward": p.reward, "quantity": p.quantity,
                    "left": left, "weight": p.weight,
                    "oddsPermille": u64::from(p.weight) * 1000 / total.max(1),
                })
            })
            .collect();
        Ok(api::json(
            200,
            &json!({
                "id": view.lottery.id,
                "title": view.lottery.title,
                "startsAt": domain::clock::rfc3339(view.lottery.starts_at),
                "endsAt": domain::clock::rfc3339(view.lottery.ends_at),
                "dailyLimit": view.lottery.daily_limit,
                "chancePolicy": view.lottery.chances,
                "prizes": prizes,
                "chances": view.chances,
                "balance": view.balance,
                "draws": view.draws,
            }),
        ))
    }

    /// One draw: 201 with what it gave, or 409 naming why there is no draw to make.
    async fn draw(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        match self
            .lotteries
            .draw(req.path_param("id")?, &user, now_epoch_seconds())
            .await?
        {
            store::lottery::Drawn::Won(record) => {
                self.metrics.event(
                    telemetry::metrics::BusinessEvent::LotteryDrawn,
                    &telemetry::metrics::Facts {
                        channel: Some(edge::channel::channel_of(req)),
                        points_issued: match record.reward {
                            domain::lottery::Reward::Points { points } => points,
                            _ => 0,
                        },
                        points_spent: match record.chance {
                            domain::lottery::Chance::Points { points } => points,
                            _ => 0,
                        },
                        ..Default::default()
                    },
                );
                tracing::info!(
                    lottery = %record.lottery_id,
                    prize = record.prize_id.as_str(),
                    "lucky draw"
                );
                Ok(api::json(201, &json!({ "draw": record })))
            }
            store::lottery::Drawn::Refused(refusal) => Err(refusal.into()),
        }
    }
}

impl ShareReward {
    /// A task completion (check-ins included) counted with the points it gave.
    fn task_completed(&self, req: &ApiRequest, points: u64) {
        self.metrics.event(
            telemetry::metrics::BusinessEvent::TaskCompleted,
            &telemetry::metrics::Facts {
                channel: Some(edge::channel::channel_of(req)),
                points_issued: points,
                ..Default::default()
            },
        );
    }

    /// `GET /v1/tasks`: the tasks on today, with what the shopper did of each.
    async fn today_tasks(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let now = now_epoch_seconds();
        let (tasks, balance) =
            futures::join!(self.tasks.today(&user, now), self.points.balance(&user));
        Ok(api::json(
            200,
            &json!({"tasks": tasks?, "balance": balance.map_err(SocialError::from)?}),
        ))
    }

    /// `POST /v1/tasks/{id}/claim` (`{ticket}` for a product view): 201 with the points it
    /// earned and the balance; 409 when it earns nothing (too early, twice, over the cap, not
    /// done yet).
    async fn claim_task(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let body = optional_body(req)?;
        let proof = match body.get("ticket") {
            None | Some(Value::Null) => app::task_desk::Proof::Nothing,
            Some(Value::String(ticket)) => app::task_desk::Proof::View(
                self.cursors
                    .open(&edge::cursor::view_ticket_scope(&user), ticket)
                    .map_err(|_| {
                        ApiError::invalid_field("ticket", "is not a view ticket given to you")
                    })?,
            ),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "ticket",
                    "must be the viewTicket text",
                ));
            }
        };
        let now = now_epoch_seconds();
        let points = self
            .tasks
            .claim(&user, req.path_param("id")?, proof, now)
            .await?;
        self.task_completed(req, points);
        let balance = self
            .points
            .balance(&user)
            .await
            .map_err(SocialError::from)?;
        Ok(api::json(
            201,
            &json!({"points": points, "balance": balance}),
        ))
    }
}

#[async_trait::async_trait]
impl HttpFunction for ShareReward {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            match req.route() {
                "POST /v1/shares" => self.create_share(&req).await,
                "POST /v1/shares/{code}/open" => self.open_share(&req).await,
                "GET /v1/rewards" => self.rewards(&req).await,
                "POST /v1/checkin" => self.check_in(&req).await,
                "GET /v1/groups/{id}" => self.group(&req).await,
                "POST /v1/bargains" => self.start_bargain(&req).await,
                "POST /v1/bargains/{id}/help" => self.help_bargain(&req).await,
                "GET /v1/bargains/{id}" => self.bargain(&req).await,
                "GET /v1/lotteries/{id}" => self.lottery(&req).await,
                "POST /v1/lotteries/{id}/draw" => self.draw(&req).await,
                "GET /v1/tasks" => self.today_tasks(&req).await,
                "POST /v1/tasks/{id}/claim" => self.claim_task(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_paths_open_the_product_the_draw_or_the_shop() {
        let code = ShareCode::parse("abcdef123456").unwrap();
        let share = |product: Option<&str>, lottery: Option<&str>| store::social::Share {
            code: code.clone(),
            sharer_id: domain::ids::UserId::parse("u1").unwrap(),
            product_id: product.map(|p| ProductId::parse(p).unwrap()),
            lottery_id: lottery.map(|l| domain::lottery::LotteryId::parse(l).unwrap()),
            created_at: 0,
            opens: 0,
        };
        assert_eq!(
            share_path(&code, &share(Some("p1"), None)),
            "/pages/product/index?id=p1&s=abcdef123456"
        );
        assert_eq!(
            share_path(&code, &share(None, Some("d12"))),
            "/pages/lottery/index?id=d12&s=abcdef123456"
        );
        assert_eq!(
            share_path(&code, &share(None, None)),
            "/pages/index/index?s=abcdef123456"
        );
    }
}

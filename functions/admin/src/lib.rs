//! `admin`: the merchant's API, behind its own HTTP API (`AdminApi`), routes under
//! `/admin/v1/`. Staff sign in with username and password, then a TOTP code (owners always,
//! others once enrolled); tokens are the staff's own (their own secret and audience, 30
//! minutes, renewable), and each request reads its session, so signing out or disabling a
//! member refuses their tokens at once. Each route needs the one permission [`ROUTES`] names;
//! high-risk ones also a code within five minutes (step-up). Every change to staff is written
//! with its audit record in one transaction; `GET /admin/v1/audit` reads a day of the log with
//! the check of its hash chain.

mod catalog;
mod exports;
mod orders;
mod promotions;
mod reports;

use app::after_sales::{AfterSales, Verdict};
use app::payment::PaymentDesk;
use app::provider::Providers;
use app::staff::{Actor, StaffDesk, StaffError};
use domain::clock::now_epoch_seconds;
use domain::ids::OrderId;
use domain::money::Fen;
use domain::staff::{Permission, Role, STAFF_TOKEN_SECONDS};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::{StaffCaller, StaffSessions};
use edge::cursor::CursorSealer;
use edge::runtime::{Clients, HttpFunction, respond};
use serde::Deserialize;
use serde_json::{Value, json};
use settings::{ConfigError, Settings};
use store::ListPosition;
use store::shipments::ShipmentStore;
use store::staff::{StaffMember, StaffStore};

/// Every admin route and what it needs: `None` for signing in, which has no caller yet.
pub const ROUTES: &[(&str, Option<Permission>)] = &[
    ("POST /admin/v1/auth/sign-in", None),
    ("POST /admin/v1/auth/renew", Some(Permission::OwnAccount)),
    ("POST /admin/v1/auth/sign-out", Some(Permission::OwnAccount)),
    ("POST /admin/v1/auth/step-up", Some(Permission::OwnAccount)),
    ("GET /admin/v1/me", Some(Permission::OwnAccount)),
    ("POST /admin/v1/me/password", Some(Permission::OwnAccount)),
    ("POST /admin/v1/me/totp", Some(Permission::OwnAccount)),
    (
        "POST /admin/v1/me/totp/confirm",
        Some(Permission::OwnAccount),
    ),
    ("GET /admin/v1/staff", Some(Permission::StaffManage)),
    ("POST /admin/v1/staff", Some(Permission::StaffManage)),
    (
        "POST /admin/v1/staff/{id}/disable",
        Some(Permission::StaffManage),
    ),
    (
        "POST /admin/v1/staff/{id}/role",
        Some(Permission::StaffManage),
    ),
    ("GET /admin/v1/audit", Some(Permission::AuditRead)),
    (
        "GET /admin/v1/after-sales",
        Some(Permission::AfterSalesApprove),
    ),
    (
        "POST /admin/v1/orders/{id}/refunds/{refundNo}/approve",
        Some(Permission::AfterSalesApprove),
    ),
    (
        "POST /admin/v1/orders/{id}/refunds/{refundNo}/reject",
        Some(Permission::AfterSalesApprove),
    ),
    ("GET /admin/v1/orders", Some(Permission::OrdersRead)),
    ("GET /admin/v1/orders/{id}", Some(Permission::OrdersRead)),
    (
        "POST /admin/v1/orders/{id}/notes",
        Some(Permission::OrdersWrite),
    ),
    (
        "POST /admin/v1/orders/{id}/ship",
        Some(Permission::Shipping),
    ),
    (
        "POST /admin/v1/orders/{id}/cancel",
        Some(Permission::OrdersWrite),
    ),
    (
        "POST /admin/v1/orders/{id}/receiver",
        Some(Permission::PersonalDataReveal),
    ),
    ("POST /admin/v1/categories", Some(Permission::CatalogWrite)),
    (
        "POST /admin/v1/categories/{id}",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST /admin/v1/categories/{id}/move",
        Some(Permission::CatalogWrite),
    ),
    ("POST /admin/v1/uploads", Some(Permission::CatalogWrite)),
    ("GET /admin/v1/products", Some(Permission::StockWrite)),
    ("GET /admin/v1/products/{id}", Some(Permission::StockWrite)),
    ("POST /admin/v1/products", Some(Permission::CatalogWrite)),
    (
        "POST /admin/v1/products/{id}",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST /admin/v1/products/{id}/shelf",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST /admin/v1/skus/{id}/stock",
        Some(Permission::StockWrite),
    ),
    (
        "POST /admin/v1/skus/{id}/price",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST /admin/v1/skus/{id}/low-stock",
        Some(Permission::StockWrite),
    ),
    ("GET /admin/v1/stock/low", Some(Permission::StockWrite)),
    ("POST /admin/v1/stock/bulk", Some(Permission::StockWrite)),
    ("POST /admin/v1/prices/bulk", Some(Permission::CatalogWrite)),
    (
        "POST /admin/v1/skus/{id}/offers/{kind}",
        Some(Permission::PromotionsWrite),
    ),
    (
        "DELETE /admin/v1/skus/{id}/offers/{kind}",
        Some(Permission::PromotionsWrite),
    ),
    ("GET /admin/v1/coupons", Some(Permission::PromotionsWrite)),
    ("POST /admin/v1/coupons", Some(Permission::PromotionsWrite)),
    (
        "GET /admin/v1/promotions",
        Some(Permission::PromotionsWrite),
    ),
    (
        "POST /admin/v1/promotions/reductions/{id}",
        Some(Permission::PromotionsWrite),
    ),
    (
        "DELETE /admin/v1/promotions/reductions/{id}",
        Some(Permission::PromotionsWrite),
    ),
    (
        "POST /admin/v1/promotions/points",
        Some(Permission::PromotionsWrite),
    ),
    (
        "POST /admin/v1/promotions/invite",
        Some(Permission::PromotionsWrite),
    ),
    (
        "POST /admin/v1/promotions/checkin",
        Some(Permission::PromotionsWrite),
    ),
    ("GET /admin/v1/lotteries", Some(Permission::PromotionsWrite)),
    (
        "POST /admin/v1/lotteries",
        Some(Permission::PromotionsWrite),
    ),
    (
        "GET /admin/v1/lotteries/{id}/draws",
        Some(Permission::PromotionsWrite),
    ),
    (
        "GET /admin/v1/points-mall",
        Some(Permission::PromotionsWrite),
    ),
    (
        "POST /admin/v1/points-mall",
        Some(Permission::PromotionsWrite),
    ),
    (
        "GET /admin/v1/points-mall/redemptions",
        Some(Permission::PromotionsWrite),
    ),
    ("GET /admin/v1/tasks", Some(Permission::PromotionsWrite)),
    (
        "POST /admin/v1/tasks/{id}",
        Some(Permission::PromotionsWrite),
    ),
    (
        "POST /admin/v1/skus/{id}/member-prices/{level}",
        Some(Permission::CatalogWrite),
    ),
    (
        "POST /admin/v1/shoppers/{id}/member-level",
        Some(Permission::PromotionsWrite),
    ),
    ("GET /admin/v1/warehouses", Some(Permission::Shipping)),
    ("POST /admin/v1/warehouses/{id}", Some(Permission::Shipping)),
    (
        "POST /admin/v1/exports/orders",
        Some(Permission::DataExport),
    ),
    ("GET /admin/v1/exports/{id}", Some(Permission::DataExport)),
    (
        "GET /admin/v1/reports/funnel",
        Some(Permission::ReportsRead),
    ),
    (
        "GET /admin/v1/reports/hourly",
        Some(Permission::ReportsRead),
    ),
    (
        "GET /admin/v1/reports/top-products",
        Some(Permission::ReportsRead),
    ),
    (
        "GET /admin/v1/reports/channels",
        Some(Permission::ReportsRead),
    ),
];

/// Refunds above this many fen need a code entered within five minutes to approve, unless
/// `REFUND_STEP_UP_FEN` says otherwise.
pub const DEFAULT_REFUND_STEP_UP_FEN: i64 = 50_000;

/// The permission a route needs; `Err` for a route this function does not serve.
pub fn permission_of(route: &str) -> Result<Option<Permission>, ApiError> {
    ROUTES
        .iter()
        .find(|(r, _)| *r == route)
        .map(|(_, p)| *p)
        .ok_or_else(|| ApiError::route_not_found(route))
}

pub struct Admin {
    metrics: telemetry::metrics::Metrics,
    desk: StaffDesk,
    sessions: StaffSessions,
    /// Refunds waiting for staff, decided here (售后审核).
    after_sales: AfterSales,
    /// The shop's orders: listed, noted, shipped by hand, cancelled.
    orders: app::order_desk::OrderDesk,
    /// Parcels and their tracking.
    shipments: ShipmentStore,
    /// Stock and prices.
    catalog: app::catalog_desk::CatalogDesk,
    /// The shoppers' after-sales photos, shown through short-lived links.
    media: store::media::MediaBucket,
    /// Product images, uploaded by staff and shown from the shop's public address.
    images: app::catalog_desk::CatalogImages,
    /// The live reports, from the hourly counters.
    reports: app::reports::Reports,
    cursors: CursorSealer,
    /// The low-stock threshold of SKUs that set none (`LOW_STOCK_THRESHOLD`).
    low_stock_default: u64,
    /// Orders exported as CSV, written by the exports consumer.
    exports: app::exports::ExportDesk,
    /// Coupons, 满减, points, invite and check-in policies, warehouses.
    promotions: app::promotion_desk::PromotionDesk,
    /// Lucky draws (抽奖): set up, and every draw for the merchant to audit.
    lotteries: app::lottery_desk::LotteryDesk,
    /// The points mall (积分商城): items listed, and every redemption.
    mall: app::points_mall::PointsMall,
    /// Points tasks (积分任务): each task's points, daily cap and window.
    tasks: app::task_desk::TaskDesk,
}

/// The one place staff errors become HTTP answers.
fn refused(err: StaffError) -> ApiError {
    match err {
        StaffError::BadCredentials => ApiError::new(
            401,
            "invalid_credentials",
            "the username or password is wrong",
        ),
        StaffError::Locked { until } => {
            let mut locked = ApiError::new(
                423,
                "account_locked",
                "too many wrong passwords: try again in 15 minutes",
            );
            if let Some(until) = until {
                locked = locked.with_detail("lockedUntil", json!(until));
            }
            locked
        }
        StaffError::CodeRequired => ApiError::new(
            401,
            "code_required",
            "enter the 6-digit code from your authenticator app",
        )
        .with_field("code"),
        StaffError::BadCode => ApiError::new(
            401,
            "invalid_code",
            "the code is wrong, expired or used already; wait for the next one",
        )
        .with_field("code"),
        StaffError::UsernameTaken => {
            ApiError::new(409, "username_taken", "that username is taken").with_field("username")
        }
        StaffError::NotFound => ApiError::new(404, "staff_not_found", "no such staff member"),
        StaffError::NotEnrolling => ApiError::new(409, "not_enrolling", err.to_string()),
        StaffError::SecondFactorRequired => {
            ApiError::new(409, "second_factor_required", err.to_string()).with_field("role")
        }
        StaffError::Invalid(field) => ApiError::invalid_field(field.field, field.problem),
        StaffError::Hash(_) | StaffError::Store(_) => ApiError::unexpected(&err),
    }
}

#[derive(Deserialize)]
struct SignIn {
    username: Option<String>,
    password: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize)]
struct Code {
    code: Option<String>,
}

fn code_of(body: &Code) -> Result<&str, ApiError> {
    body.code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::invalid_field("code", "is required: the 6-digit code"))
}

/// The China days a listing or report covers: `from` and `to` (`YYYY-MM-DD`), `to` today and
/// `from` `default_days` before it (counting both) when absent, at most `max_days`.
pub(crate) fn day_range(
    req: &ApiRequest,
    now: i64,
    default_days: i64,
    max_days: usize,
) -> Result<app::reports::DayRange, ApiError> {
    let param = |name: &'static str| {
        req.query_param(name)
            .filter(|v| !v.is_empty())
            .map(|raw| {
                domain::clock::parse_day(raw).map_err(|e| ApiError::invalid_field(name, e.problem))
            })
            .transpose()
    };
    let to = param("to")?.unwrap_or_else(|| domain::clock::china_day(now));
    let from = param("from")?
        .unwrap_or_else(|| domain::clock::china_day(now - (default_days - 1) * 24 * 60 * 60));
    let days = domain::clock::days_back(&from, &to, max_days)?;
    Ok(app::reports::DayRange { from, to, days })
}

/// The caller as the audit log names them.
pub(crate) fn actor(req: &ApiRequest, caller: &StaffCaller) -> Actor {
    Actor {
        staff_id: caller.staff_id.clone(),
        role: caller.role.as_str().to_string(),
        request_id: req.request_id().to_string(),
    }
}

fn member_view(member: &StaffMember) -> Value {
    json!({
        "id": member.id,
        "username": member.username,
        "role": member.role.as_str(),
        "totpEnrolled": member.totp_secret.is_some(),
        "mustChangePassword": member.must_change_password,
        "permissions": member.role.permission_names(),
        "disabled": member.disabled,
        "createdAt": member.created_at,
    })
}

impl Admin {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let store = StaffStore::new(clients.dynamodb.clone(), settings.required("STAFF_TABLE")?);
        let audit = store::audit::AuditLog::new(
            clients.dynamodb.clone(),
            settings.required("AUDIT_TABLE")?,
        );
        let secret = settings.secret("ADMIN_JWT_SECRET")?;
        // Opens receivers to mask them (and to reveal them, audited); seals nothing.
        let payments = PaymentDesk::new(
            settings,
            clients.dynamodb.clone(),
            clients.sqs.clone(),
            clients.metrics("admin"),
        )?
        .with_personal_data(clients.personal_data(settings)?);
        let providers = Providers::from_settings(settings, clients.http())?;
        let shipments = ShipmentStore::new(
            clients.dynamodb.clone(),
            settings.required("ORDERS_TABLE")?,
            settings.required("CATALOG_TABLE")?,
        );
        let refund_step_up_above = Fen::new(
            u64::try_from(settings.number_in(
                "REFUND_STEP_UP_FEN",
                0..=100_000_000,
                DEFAULT_REFUND_STEP_UP_FEN,
            )?)
            .unwrap_or(0),
        );
        let after_sales = AfterSales::from_settings(
            settings,
            payments.clone(),
            providers.clone(),
            shipments.clone(),
        )?
        .deciding(audit.clone(), refund_step_up_above);
        let orders = app::order_desk::OrderDesk::new(payments, providers, shipments.clone())
            .for_staff(audit.clone());
        let catalog = store::catalog::CatalogStore::new(
            clients.dynamodb.clone(),
            settings.required("CATALOG_TABLE")?,
        );
        let media = clients.media_bucket(settings)?;
        let images = app::catalog_desk::CatalogImages {
            public: domain::media::PublicMedia::parse(&settings.required("MEDIA_PUBLIC_URL")?)
                .map_err(|problem| ConfigError::new("MEDIA_PUBLIC_URL", problem))?,
            bucket: media.clone(),
        };
        let exports = app::exports::ExportDesk::new(
            store::exports::ExportStore::new(
                clients.dynamodb.clone(),
                settings.required("ORDERS_TABLE")?,
            ),
            store::queue::Queue::new(clients.sqs.clone(), settings.required("EXPORTS_QUEUE_URL")?),
            audit.clone(),
            media.clone(),
        );
        let marketing_table = settings.required("MARKETING_TABLE")?;
        let lotteries = app::lottery_desk::LotteryDesk::new(
            store::lottery::LotteryStore::new(clients.dynamodb.clone(), &marketing_table),
            store::marketing::MarketingStore::new(clients.dynamodb.clone(), &marketing_table),
            store::points::PointsLedger::new(clients.dynamodb.clone(), &marketing_table),
            catalog.clone(),
        )
        .with_audit(audit.clone());
        let mall = app::points_mall::PointsMall::new(
            store::points_mall::MallStore::new(clients.dynamodb.clone(), &marketing_table),
            store::marketing::MarketingStore::new(clients.dynamodb.clone(), &marketing_table),
            store::points::PointsLedger::new(clients.dynamodb.clone(), &marketing_table),
            catalog.clone(),
        )
        .with_audit(audit.clone());
        let tasks = app::task_desk::TaskDesk::new(
            store::tasks::TaskStore::new(clients.dynamodb.clone(), &marketing_table),
            store::social::SocialStore::new(clients.dynamodb.clone(), &marketing_table),
        )
        .with_audit(audit.clone());
        let promotions = app::promotion_desk::PromotionDesk::new(
            store::marketing::MarketingStore::new(
                clients.dynamodb.clone(),
                settings.required("MARKETING_TABLE")?,
            ),
            shipments.clone(),
            store::users::UserStore::new(
                clients.dynamodb.clone(),
                settings.required("USERS_TABLE")?,
            ),
            audit.clone(),
        );
        Ok(Self {
            promotions,
            lotteries,
            mall,
            tasks,
            metrics: clients.metrics("admin"),
            sessions: StaffSessions::new(&secret, store.clone())?,
            desk: StaffDesk::new(store, audit.clone()),
            after_sales,
            orders,
            shipments,
            reports: app::reports::Reports::new(
                store::reports::ReportStore::new(
                    clients.dynamodb.clone(),
                    settings.required(edge::runtime::REPORTS_TABLE)?,
                ),
                catalog.clone(),
            ),
            catalog: app::catalog_desk::CatalogDesk::new(catalog, audit.clone())
                .with_images(images.clone())
                .syncing_terms_through(store::queue::Queue::new(
                    clients.sqs.clone(),
                    settings.required("DEADLINES_QUEUE_URL")?,
                )),
            media,
            images,
            cursors: CursorSealer::derive(&secret),
            low_stock_default: app::catalog_desk::low_stock_threshold(settings)?,
            exports,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    fn signed_in(&self, member: &StaffMember, sid: &str, expires_at: i64, now: i64) -> ApiResponse {
        let issued = self.sessions.issue(&member.id, sid, expires_at, now);
        api::json(
            200,
            &json!({"token": issued.token, "expiresIn": issued.expires_in, "staff": member_view(member)}),
        )
    }

    async fn member(&self, caller: &StaffCaller) -> Result<StaffMember, ApiError> {
        self.desk
            .store
            .get(&caller.staff_id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
            .ok_or_else(|| refused(StaffError::NotFound))
    }

    async fn sign_in(&self, req: &ApiRequest, now: i64) -> Result<ApiResponse, ApiError> {
        let body: SignIn = req.json_body()?;
        let username = body
            .username
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ApiError::invalid_field("username", "is required"))?;
        let password = body
            .password
            .as_deref()
            .filter(|p| !p.is_empty() && p.len() <= 256)
            .ok_or_else(|| ApiError::invalid_field("password", "is required"))?;
        let signed = self
            .desk
            .sign_in(username, password, body.code.as_deref(), now)
            .await
            .map_err(refused)?;
        tracing::info!(staff_id = %signed.member.id, role = signed.member.role.as_str(), "staff signed in");
        Ok(self.signed_in(&signed.member, &signed.sid, signed.expires_at, now))
    }

    /// A fresh token for the same session, another 30 minutes on.
    async fn renew(&self, caller: &StaffCaller, now: i64) -> Result<ApiResponse, ApiError> {
        let expires_at = now + STAFF_TOKEN_SECONDS;
        let live = self
            .desk
            .store
            .touch_session(&caller.staff_id, &caller.sid, Some(expires_at), None, now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        if !live {
            return Err(ApiError::unauthorized(
                "this session has lapsed; sign in again",
            ));
        }
        let member = self.member(caller).await?;
        Ok(self.signed_in(&member, &caller.sid, expires_at, now))
    }

    async fn sign_out(&self, caller: &StaffCaller) -> Result<ApiResponse, ApiError> {
        self.desk
            .store
            .close_session(&caller.staff_id, &caller.sid)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        tracing::info!(staff_id = %caller.staff_id, "staff signed out");
        Ok(api::empty(204))
    }

    async fn step_up(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let body: Code = req.json_body()?;
        let member = self.member(caller).await?;
        self.desk
            .check_code(&member, code_of(&body)?, now)
            .await
            .map_err(refused)?;
        self.desk
            .store
            .touch_session(&caller.staff_id, &caller.sid, None, Some(now), now)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(api::json(
            200,
            &json!({"steppedUpUntil": now + domain::staff::STEP_UP_SECONDS}),
        ))
    }

    async fn me(&self, caller: &StaffCaller) -> Result<ApiResponse, ApiError> {
        let member = self.member(caller).await?;
        let mut view = member_view(&member);
        view["sessionExpiresAt"] = json!(caller.expires_at);
        view["steppedUpAt"] = json!(caller.stepped_up_at);
        Ok(api::json(200, &view))
    }

    async fn change_password(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Change {
            current_password: Option<String>,
            new_password: Option<String>,
        }
        let body: Change = req.json_body()?;
        let current = body
            .current_password
            .as_deref()
            .ok_or_else(|| ApiError::invalid_field("currentPassword", "is required"))?;
        let new = body
            .new_password
            .as_deref()
            .ok_or_else(|| ApiError::invalid_field("newPassword", "is required"))?;
        let member = self.member(caller).await?;
        self.desk
            .change_password(&member, &caller.sid, current, new)
            .await
            .map_err(|err| match err {
                StaffError::Invalid(f) => ApiError::invalid_field("newPassword", f.problem),
                StaffError::BadCredentials => {
                    ApiError::new(401, "invalid_credentials", "the current password is wrong")
                        .with_field("currentPassword")
                }
                other => refused(other),
            })?;
        Ok(api::empty(204))
    }

    async fn start_totp(&self, caller: &StaffCaller) -> Result<ApiResponse, ApiError> {
        let member = self.member(caller).await?;
        if member.totp_secret.is_some() {
            return Err(ApiError::new(
                409,
                "already_enrolled",
                "a second factor is enrolled already",
            ));
        }
        let enrolment = self.desk.start_enrolment(&member).await.map_err(refused)?;
        Ok(api::json(
            201,
            &json!({"secret": enrolment.secret_base32, "otpauthUri": enrolment.otpauth_uri}),
        ))
    }

    async fn confirm_totp(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        let body: Code = req.json_body()?;
        let member = self.member(caller).await?;
        self.desk
            .confirm_enrolment(&member, code_of(&body)?, now)
            .await
            .map_err(refused)?;
        tracing::info!(staff_id = %member.id, "second factor enrolled");
        Ok(api::empty(204))
    }

    async fn staff_list(&self) -> Result<ApiResponse, ApiError> {
        let directory = self
            .desk
            .store
            .directory()
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let items: Vec<Value> = directory
            .iter()
            .map(|(id, username, role, disabled, created_at)| {
                json!({"id": id, "username": username, "role": role.as_str(), "disabled": disabled, "createdAt": created_at})
            })
            .collect();
        Ok(api::json(200, &json!({ "items": items })))
    }

    async fn add_staff(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        caller.require_step_up(now)?;
        let body: Value = req.json_body()?;
        let username = body
            .get("username")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_field("username", "is required"))?;
        let role = Role::parse(body.get("role").and_then(Value::as_str).unwrap_or(""))?;
        let (member, password, otpauth_uri) = self
            .desk
            .add(username, role, &actor(req, caller), now)
            .await
            .map_err(refused)?;
        tracing::info!(staff_id = %member.id, role = role.as_str(), by = %caller.staff_id, "staff member added");
        let mut view = member_view(&member);
        view["oneTimePassword"] = json!(password);
        if let Some(uri) = otpauth_uri {
            view["otpauthUri"] = json!(uri);
        }
        Ok(api::json(201, &view))
    }

    /// `GET /admin/v1/audit?day&staff&action&target`: a day of the log (today by default),
    /// filtered, with whether the day's chain is intact and where it breaks.
    async fn audit(&self, req: &ApiRequest, now: i64) -> Result<ApiResponse, ApiError> {
        let day = match req.query_param("day").filter(|d| !d.is_empty()) {
            Some(raw) => domain::clock::parse_day(raw)?,
            None => domain::clock::china_day(now),
        };
        let kept = self
            .desk
            .audit
            .day(&day)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let chain = match domain::audit::verify_chain(
            &kept.records,
            kept.head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        ) {
            Ok(()) => json!({"intact": true, "records": kept.records.len()}),
            Err(broken) => {
                tracing::error!(day, seq = broken.seq(), problem = %broken, "audit chain broken");
                json!({"intact": false, "brokenAt": broken.seq(), "problem": broken.to_string()})
            }
        };
        let wanted = |name: &str, value: &str| {
            req.query_param(name)
                .filter(|v| !v.is_empty())
                .is_none_or(|v| v == value)
        };
        let items: Vec<&domain::audit::AuditRecord> = kept
            .records
            .iter()
            .filter(|r| {
                wanted("staff", &r.staff_id)
                    && wanted("action", &r.action)
                    && wanted("target", &r.target)
            })
            .collect();
        Ok(api::json(
            200,
            &json!({"day": day, "items": items, "chain": chain}),
        ))
    }

    /// `POST /admin/v1/staff/{id}/role {role}`: step-up; never one's own.
    async fn change_role(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        caller.require_step_up(now)?;
        let id = req.path_param("id")?;
        let body: Value = req.json_body()?;
        let role = Role::parse(body.get("role").and_then(Value::as_str).unwrap_or(""))?;
        if id == caller.staff_id {
            return Err(ApiError::new(
                409,
                "cannot_change_own_role",
                "another owner must change your role",
            ));
        }
        let member = self
            .desk
            .change_role(id, role, &actor(req, caller), now)
            .await
            .map_err(refused)?;
        tracing::info!(staff_id = id, role = role.as_str(), by = %caller.staff_id, "staff role changed");
        Ok(api::json(200, &member_view(&member)))
    }

    async fn disable_staff(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        caller.require_step_up(now)?;
        let id = req.path_param("id")?;
        if id == caller.staff_id {
            return Err(ApiError::new(
                409,
                "cannot_disable_self",
                "another owner must disable you",
            ));
        }
        let disabled = self
            .desk
            .disable(id, &actor(req, caller), now)
            .await
            .map_err(refused)?;
        if !disabled {
            return Err(refused(StaffError::NotFound));
        }
        tracing::info!(staff_id = id, by = %caller.staff_id, "staff member disabled");
        Ok(api::json(200, &json!({"id": id, "disabled": true})))
    }
}

/// After-sales (售后审核): the queue of refunds waiting for staff, and their decisions.
impl Admin {
    /// `GET /admin/v1/after-sales?limit&cursor`: refunds awaiting approval, oldest first, with
    /// the shopper's reason and photos.
    async fn after_sales_queue(&self, req: &ApiRequest, now: i64) -> Result<ApiResponse, ApiError> {
        let scope = "after-sales";
        let after: Option<ListPosition> = self.cursors.position(req, scope)?;
        let page = self
            .after_sales
            .desk
            .orders
            .awaiting_approval(after, api::page_limit(req)?)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let mut items = Vec::with_capacity(page.items.len());
        for refund in &page.items {
            items.push(
                app::after_sales::shown(&self.media, refund, now)
                    .await
                    .map_err(|e| ApiError::unexpected(&e))?,
            );
        }
        let mut answer = json!({ "items": items });
        if let Some(next) = page.next {
            answer["nextCursor"] = json!(self.cursors.seal(scope, &next));
        }
        Ok(api::json(200, &answer))
    }

    /// `POST .../refunds/{refundNo}/approve {overrideReturn?}` and `.../reject {reason}`. A
    /// refund above `REFUND_STEP_UP_FEN` needs step-up to approve.
    async fn decide_refund(
        &self,
        req: &ApiRequest,
        caller: &StaffCaller,
        approve: bool,
        now: i64,
    ) -> Result<ApiResponse, ApiError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct Decide {
            override_return: Option<bool>,
            reason: Option<String>,
        }
        let not_found = || ApiError::new(404, "refund_not_found", "no such order or refund");
        let order_id = OrderId::parse(req.path_param("id")?).map_err(|_| not_found())?;
        let refund_no = req.path_param("refundNo")?;
        let body: Decide = req.json_body_or_default()?;
        let verdict = if approve {
            Verdict::Approve {
                override_return: body.override_return.unwrap_or(false),
                stepped_up: caller.stepped_up(now),
            }
        } else {
            Verdict::Reject {
                reason: domain::refund::rejection_reason(body.reason.as_deref())?,
            }
        };
        let refund = self
            .after_sales
            .decide(&order_id, refund_no, &verdict, &actor(req, caller), now)
            .await?;
        Ok(api::json(200, &json!({ "refund": refund })))
    }
}

#[async_trait::async_trait]
impl HttpFunction for Admin {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            let now = now_epoch_seconds();
            let route = req.route();
            if route == "POST /admin/v1/auth/sign-in" {
                return self.sign_in(&req, now).await;
            }
            let permission =
                permission_of(route)?.ok_or_else(|| ApiError::route_not_found(route))?;
            let caller = self.sessions.require(&req, permission, now).await?;
            match route {
                "POST /admin/v1/auth/sign-in" => self.sign_in(&req, now).await,
                "POST /admin/v1/auth/renew" => self.renew(&caller, now).await,
                "POST /admin/v1/auth/sign-out" => self.sign_out(&caller).await,
                "POST /admin/v1/auth/step-up" => self.step_up(&req, &caller, now).await,
                "GET /admin/v1/me" => self.me(&caller).await,
                "POST /admin/v1/me/password" => self.change_password(&req, &caller).await,
                "POST /admin/v1/me/totp" => self.start_totp(&caller).await,
                "POST /admin/v1/me/totp/confirm" => self.confirm_totp(&req, &caller, now).await,
                "GET /admin/v1/staff" => self.staff_list().await,
                "POST /admin/v1/staff" => self.add_staff(&req, &caller, now).await,
                "POST /admin/v1/staff/{id}/disable" => self.disable_staff(&req, &caller, now).await,
                "POST /admin/v1/staff/{id}/role" => self.change_role(&req, &caller, now).await,
                "GET /admin/v1/audit" => self.audit(&req, now).await,
                "GET /admin/v1/after-sales" => self.after_sales_queue(&req, now).await,
                "POST /admin/v1/orders/{id}/refunds/{refundNo}/approve" => {
                    self.decide_refund(&req, &caller, true, now).await
                }
                "POST /admin/v1/orders/{id}/refunds/{refundNo}/reject" => {
                    self.decide_refund(&req, &caller, false, now).await
                }
                "GET /admin/v1/orders" => self.orders_list(&req, now).await,
                "GET /admin/v1/orders/{id}" => self.order_detail(&req, now).await,
                "POST /admin/v1/orders/{id}/notes" => self.add_order_note(&req, &caller, now).await,
                "POST /admin/v1/orders/{id}/ship" => self.ship_order(&req, &caller, now).await,
                "POST /admin/v1/orders/{id}/cancel" => self.cancel_order(&req, &caller, now).await,
                "POST /admin/v1/orders/{id}/receiver" => {
                    self.reveal_receiver(&req, &caller, now).await
                }
                "POST /admin/v1/categories" => self.create_category(&req, &caller, now).await,
                "POST /admin/v1/categories/{id}" => self.edit_category(&req, &caller, now).await,
                "POST /admin/v1/categories/{id}/move" => {
                    self.move_category(&req, &caller, now).await
                }
                "POST /admin/v1/uploads" => self.upload_image(&req, now).await,
                "GET /admin/v1/products" => self.products(&req).await,
                "GET /admin/v1/products/{id}" => self.product(&req).await,
                "POST /admin/v1/products" => self.create_product(&req, &caller, now).await,
                "POST /admin/v1/products/{id}" => self.edit_product(&req, &caller, now).await,
                "POST /admin/v1/products/{id}/shelf" => self.set_shelf(&req, &caller, now).await,
                "POST /admin/v1/skus/{id}/stock" => self.change_stock(&req, &caller, now).await,
                "POST /admin/v1/skus/{id}/price" => self.change_price(&req, &caller, now).await,
                "POST /admin/v1/skus/{id}/low-stock" => {
                    self.set_low_stock_at(&req, &caller, now).await
                }
                "GET /admin/v1/stock/low" => self.low_stock().await,
                "POST /admin/v1/stock/bulk" => {
                    self.change_many(&req, &caller, store::catalog::SkuNumber::Stock, now)
                        .await
                }
                "POST /admin/v1/prices/bulk" => {
                    self.change_many(&req, &caller, store::catalog::SkuNumber::Price, now)
                        .await
                }
                "POST /admin/v1/skus/{id}/offers/{kind}" => {
                    self.set_offer(&req, &caller, now).await
                }
                "DELETE /admin/v1/skus/{id}/offers/{kind}" => {
                    self.end_offer(&req, &caller, now).await
                }
                "GET /admin/v1/coupons" => self.coupons().await,
                "POST /admin/v1/coupons" => self.save_coupon(&req, &caller, now).await,
                "GET /admin/v1/lotteries" => self.lotteries().await,
                "POST /admin/v1/lotteries" => self.create_lottery(&req, &caller, now).await,
                "GET /admin/v1/lotteries/{id}/draws" => self.lottery_draws(&req).await,
                "GET /admin/v1/points-mall" => self.mall_items().await,
                "POST /admin/v1/points-mall" => self.create_mall_item(&req, &caller, now).await,
                "GET /admin/v1/points-mall/redemptions" => self.mall_redemptions().await,
                "GET /admin/v1/tasks" => self.task_settings().await,
                "POST /admin/v1/tasks/{id}" => self.set_task(&req, &caller, now).await,
                "GET /admin/v1/promotions" => self.promotion_rules().await,
                "POST /admin/v1/promotions/reductions/{id}" => {
                    self.set_reduction(&req, &caller, now).await
                }
                "DELETE /admin/v1/promotions/reductions/{id}" => {
                    self.remove_reduction(&req, &caller, now).await
                }
                "POST /admin/v1/promotions/points" => self.set_points(&req, &caller, now).await,
                "POST /admin/v1/promotions/invite" => self.set_invite(&req, &caller, now).await,
                "POST /admin/v1/promotions/checkin" => self.set_checkin(&req, &caller, now).await,
                "POST /admin/v1/skus/{id}/member-prices/{level}" => {
                    self.set_member_price(&req, &caller, now).await
                }
                "POST /admin/v1/shoppers/{id}/member-level" => {
                    self.set_member_level(&req, &caller, now).await
                }
                "GET /admin/v1/warehouses" => self.warehouses().await,
                "POST /admin/v1/warehouses/{id}" => self.save_warehouse(&req, &caller, now).await,
                "POST /admin/v1/exports/orders" => self.export_orders(&req, &caller, now).await,
                "GET /admin/v1/exports/{id}" => self.export_status(&req, &caller, now).await,
                "GET /admin/v1/reports/funnel" => self.funnel_report(&req, now).await,
                "GET /admin/v1/reports/hourly" => self.hourly_report(&req, now).await,
                "GET /admin/v1/reports/top-products" => self.top_products_report(&req, now).await,
                "GET /admin/v1/reports/channels" => self.channels_report(&req, now).await,
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
    fn every_route_names_its_permission_once() {
        let mut seen = std::collections::HashSet::new();
        for (route, _) in ROUTES {
            assert!(route.contains(" /admin/v1/"), "{route}");
            assert!(seen.insert(route), "{route} twice");
        }
        assert_eq!(permission_of("POST /admin/v1/auth/sign-in").unwrap(), None);
        assert!(permission_of("GET /v1/products").is_err());
    }
}

//! `checkout`: prices, places and pays for orders, lists them, and cancels unpaid ones.
//!
//! Routes: `POST /v1/checkout/quote`, `POST /v1/orders`, `GET /v1/orders`,
//! `GET /v1/orders/{id}`, `POST /v1/orders/{id}/cancel`, `GET /v1/coupons/available`,
//! `POST /v1/coupons/{templateId}/claim`, refunds and returns, receipt confirmation, and the
//! cart (`/v1/cart`, `/v1/cart/items/{skuId}`).

mod cart;
mod mall;
mod receipt;
mod request;
mod reviews;
mod uploads;
mod views;

use app::payment::PaymentDesk;
use app::payment::Provider;
use app::provider::{PaymentStart, ProviderError, Providers};
use app::receipt::Receipts;
use domain::clock::now_epoch_seconds;
use domain::ids::GroupId;
use domain::ids::OrderId;
use domain::ids::PromotionId;
use domain::ids::{SkuId, UserId};
use domain::money::Fen;
use domain::order::{Order, OrderLine, OrderStatus, StatusChange};
use domain::pricing::{self, CartLine, PriceRequest, PricingError, Quote};
use domain::promotions::CouponStatus;
use domain::social::{BargainStatus, GroupStatus, HelpRefusal, JoinRefusal};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use edge::auth::Sessions;
use edge::cursor::CursorSealer;
use edge::runtime::{Clients, HttpFunction, respond};
use providers::wechat::WeChatApi;
use request::{CheckoutRequest, IdempotencyKey};
use serde::Serialize;
use settings::{ConfigError, Settings};
use store::ListPosition;
use store::StoreError;
use store::cart::{CartReader, CartSnapshot};
use store::catalog::SkuForSale;
use store::marketing::{Claim, MarketingStore};
use store::orders::{Created, FlashHold};
use store::queue::DeadlineMessage;
use store::queue::Queue;
use store::shipments::ShipmentStore;
use store::shopping::ShoppingStore;
use store::social::{Group, Member, SocialStore};
use store::users::UserStore;
use views::{OrderAnswer, PointsView};

/// Unpaid orders are cancelled and their stock released after this many minutes by default.
const DEFAULT_PAYMENT_MINUTES: i64 = 15;
const ORDERS_PAGE: usize = 20;

pub struct Checkout {
    metrics: telemetry::metrics::Metrics,
    /// Everything a price depends on, in one read.
    cart: CartReader,
    /// The shopper's cart lines and address book.
    shopping: ShoppingStore,
    /// Shoppers' photos: upload forms and the links that show them.
    media: store::media::MediaBucket,
    reviews: store::reviews::ReviewStore,
    shipments: ShipmentStore,
    marketing: MarketingStore,
    social: SocialStore,
    sessions: Sessions,
    cursors: CursorSealer,
    /// WeChat Pay, and Alipay when the shop takes it: picked per order.
    providers: Providers,
    payments: PaymentDesk,
    /// WeChat's `get_order`, for receipts confirmed through its component.
    wechat: WeChatApi,
    users: UserStore,
    receipts: Receipts,
    /// Refunds asked for: at once, or waiting for staff as `REFUND_APPROVAL` says.
    after_sales: app::after_sales::AfterSales,
    /// Cancelling an unpaid order, as staff cancel one.
    order_desk: app::order_desk::OrderDesk,
    /// The points mall: coupons into the wallet, gifts as orders of their own.
    mall: app::points_mall::PointsMall,
    /// Lucky draws' gift prizes, sent as orders once their winners give an address.
    lotteries: app::lottery_desk::LotteryDesk,
    payment_seconds: i64,
}

/// Why an order could not be placed, priced or changed.
#[derive(Debug, thiserror::Error)]
enum CheckoutError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Queue(#[from] store::queue::QueueError),
    #[error("SKU {sku} is unknown or off the shelf")]
    Unavailable { index: usize, sku: SkuId },
    #[error("out of stock")]
    OutOfStock(Vec<SkuId>),
    #[error("the Idempotency-Key was used for a different order")]
    KeyReused,
    #[error("{0}")]
    Pricing(PricingError),
    #[error("the payment provider did not take the order")]
    Prepay {
        order_id: OrderId,
        source: ProviderError,
    },
    #[error("the payment provider could not be reached")]
    Provider(#[source] ProviderError),
    #[error("this shop does not take {0}")]
    ProviderUnavailable(&'static str),
    #[error("log in through the {0} mini-program to pay with it")]
    PayerUnknown(&'static str),
    #[error("the account behind this token no longer exists")]
    UnknownUser,
    #[error("no such coupon in your wallet")]
    CouponNotInWallet,
    #[error("this coupon is already used by another order")]
    CouponUsed(Option<OrderId>),
    #[error("this coupon was just used by another order")]
    CouponTaken,
    #[error("this SKU has no group-buy offer")]
    NoGroupBuy,
    #[error("no such group")]
    GroupNotFound,
    #[error("{0}")]
    GroupRefused(JoinRefusal),
    #[error("no such bargain")]
    BargainNotFound,
    #[error("{0}")]
    BargainRefused(HelpRefusal),
    #[error("the bargain is for another SKU")]
    BargainOtherSku,
}

/// The error code of a pricing refusal, for errors and for the quote's coupon list.
pub(crate) fn pricing_code(e: &PricingError) -> &'static str {
    match e {
        PricingError::AmountOverflow => "amount_too_large",
        PricingError::CouponExpired => "coupon_expired",
        PricingError::CouponNotYetValid => "coupon_not_yet_valid",
        PricingError::CouponNotApplicable { .. } => "coupon_not_applicable",
    }
}

impl From<CheckoutError> for ApiError {
    fn from(err: CheckoutError) -> Self {
        match &err {
            CheckoutError::Store(_) | CheckoutError::Queue(_) => ApiError::unexpected(&err),
            CheckoutError::Unavailable { index, sku } => {
                let mut e = ApiError::new(422, "sku_unavailable", format!("SKU {sku} is unknown or no longer sold"));
                e.field = Some(format!("items[{index}].skuId"));
                e
            }
            CheckoutError::OutOfStock(skus) => {
                let names: Vec<&str> = skus.iter().map(SkuId::as_str).collect();
                ApiError::new(409, "out_of_stock", format!("not enough stock for: {}", names.join(", ")))
                    .with_detail("skuIds", serde_json::json!(names))
            }
            CheckoutError::KeyReused => ApiError::new(
                422,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different order; use a new key for a new order",
            ),
            CheckoutError::Pricing(e) => {
                let mut api = ApiError::new(422, pricing_code(e), e.to_string());
                if !matches!(e, PricingError::AmountOverflow) {
                    api.field = Some("couponId".into());
                }
                api
            }
            CheckoutError::CouponNotInWallet => {
                let mut e = ApiError::new(422, "coupon_not_found", "no such coupon in your wallet");
                e.field = Some("couponId".into());
                e
            }
            CheckoutError::CouponUsed(order) => {
                let mut e = ApiError::new(422, "coupon_used", "this coupon is already used by another order");
                if let Some(order) = order {
                    e = e.with_detail("orderId", serde_json::json!(order.as_str()));
                }
                e.field = Some("couponId".into());
                e
            }
            CheckoutError::CouponTaken => {
                let mut e = ApiError::new(409, "coupon_in_use", "this coupon was just used by another order");
                e.field = Some("couponId".into());
                e
            }
            CheckoutError::ProviderUnavailable(provider) => {
                let mut e = ApiError::new(422, "provider_unavailable", format!("this shop does not take {provider}"));
                e.field = Some("provider".into());
                e
            }
            CheckoutError::PayerUnknown(provider) => {
                let mut e = ApiError::new(
                    422,
                    "payer_unknown",
                    format!("log in through the {provider} mini-program to pay with it"),
                );
                e.field = Some("provider".into());
                e
            }
            CheckoutError::Prepay { order_id, source } => ApiError::new(
                502,
                "payment_unavailable",
                "the order is reserved but the payment provider did not answer; retry with the same Idempotency-Key",
            )
            .with_detail("orderId", serde_json::json!(order_id.as_str()))
            .with_cause(source),
            CheckoutError::Provider(source) => {
                ApiError::new(502, "payment_unavailable", "the payment provider did not answer; please retry").with_cause(source)
            }
            CheckoutError::UnknownUser => ApiError::unauthorized("the account behind this token no longer exists; log in again"),
            CheckoutError::NoGroupBuy => {
                let mut e = ApiError::new(422, "group_buy_unavailable", "this SKU has no group-buy offer");
                e.field = Some("items[0].skuId".into());
                e
            }
            CheckoutError::GroupNotFound => {
                let mut e = ApiError::new(404, "group_not_found", "no such group");
                e.field = Some("groupBuy.groupId".into());
                e
            }
            CheckoutError::GroupRefused(refusal) => {
                let mut e = ApiError::new(409, refusal.code(), refusal.to_string());
                e.field = Some("groupBuy.groupId".into());
                e
            }
            CheckoutError::BargainNotFound => {
                let mut e = ApiError::new(404, "bargain_not_found", "no such bargain of yours");
                e.field = Some("bargainId".into());
                e
            }
            CheckoutError::BargainRefused(refusal) => {
                let mut e = ApiError::new(409, refusal.code(), refusal.to_string());
                e.field = Some("bargainId".into());
                e
            }
            CheckoutError::BargainOtherSku => {
                let mut e = ApiError::new(422, "bargain_other_sku", "the bargain is for another SKU");
                e.field = Some("items[0].skuId".into());
                e
            }
        }
    }
}

/// The flash-sale units an order takes, with the quota and allowance they were priced against.
fn flash_holds(quote: &Quote, skus: &[SkuForSale]) -> Vec<FlashHold> {
    quote
        .lines
        .iter()
        .filter(|l| l.flash_quantity > 0)
        .filter_map(|l| {
            let sale = skus
                .iter()
                .find(|s| s.sku.id == l.sku_id)?
                .sku
                .flash_sale
                .as_ref()?;
            Some(FlashHold {
                sku_id: l.sku_id.clone(),
                units: l.flash_quantity,
                quota: sale.quota,
                per_user_limit: sale.per_user_limit,
            })
        })
        .collect()
}

/// Prices the one line of a group-buy or bargain order at the offer's price (no flash or member
/// price on top), after checking the shopper may take it.
fn offer_price(
    user: &UserId,
    offer: &request::Offer,
    snapshot: &CartSnapshot,
    line: &mut CartLine,
    now: i64,
) -> Result<(), CheckoutError> {
    let price = match offer {
        request::Offer::StartGroup(_) => {
            line.sku
                .group_buy
                .as_ref()
                .filter(|g| g.check(line.sku.price).is_ok())
                .ok_or(CheckoutError::NoGroupBuy)?
                .price
        }
        request::Offer::JoinGroup(..) => {
            let group = snapshot
                .group
                .as_ref()
                .ok_or(CheckoutError::GroupNotFound)?;
            if let Some(refusal) = join_refusal(group, user, snapshot.seated, &line.sku.id, now) {
                return Err(CheckoutError::GroupRefused(refusal));
            }
            group.price
        }
        request::Offer::Bargain(_) => {
            let bargain = snapshot
                .bargain
                .as_ref()
                .filter(|b| &b.owner_id == user)
                .ok_or(CheckoutError::BargainNotFound)?;
            if bargain.sku_id != line.sku.id {
                return Err(CheckoutError::BargainOtherSku);
            }
            match bargain.status {
                BargainStatus::Ordered => {
                    return Err(CheckoutError::BargainRefused(HelpRefusal::Closed));
                }
                BargainStatus::Expired => {
                    return Err(CheckoutError::BargainRefused(HelpRefusal::Expired));
                }
                BargainStatus::Active if now >= bargain.expires_at => {
                    return Err(CheckoutError::BargainRefused(HelpRefusal::Expired));
                }
                BargainStatus::Active => bargain.price(),
            }
        }
    };
    line.sku.price = price;
    line.sku.flash_sale = None;
    line.sku.member_prices.clear();
    line.flash_bought = 0;
    Ok(())
}

/// Why this shopper cannot take a seat in `group` for `sku` now, if they cannot.
fn join_refusal(
    group: &Group,
    user: &UserId,
    seated: bool,
    sku: &SkuId,
    now: i64,
) -> Option<JoinRefusal> {
    if &group.leader_id == user {
        return Some(JoinRefusal::OwnGroup);
    }
    if seated {
        return Some(JoinRefusal::AlreadyMember);
    }
    if &group.sku_id != sku {
        return Some(JoinRefusal::OtherSku);
    }
    match group.status {
        GroupStatus::Open if group.expires_at.is_some_and(|e| now >= e) => {
            Some(JoinRefusal::Expired)
        }
        GroupStatus::Open if group.seats >= u32::from(group.size) => Some(JoinRefusal::Full),
        GroupStatus::Open => None,
        GroupStatus::Completed => Some(JoinRefusal::Full),
        GroupStatus::Failed => Some(JoinRefusal::Expired),
        GroupStatus::AwaitingLeader | GroupStatus::Closed => Some(JoinRefusal::NotOpen),
    }
}

impl Checkout {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let (dynamodb, sqs, http) = (
            clients.dynamodb.clone(),
            clients.sqs.clone(),
            clients.http(),
        );
        let jwt_secret = settings.secret("JWT_SECRET")?;
        let catalog_table = settings.required("CATALOG_TABLE")?;
        let payment_minutes = settings.number_in(
            "PAYMENT_DEADLINE_MINUTES",
            1..=24 * 60,
            DEFAULT_PAYMENT_MINUTES,
        )?;
        let marketing_table = settings.required("MARKETING_TABLE")?;
        let personal = clients.personal_data(settings)?;
        let providers = Providers::from_settings(settings, http.clone())?;
        // Its order store also carries the catalog and idempotency tables: checkout reserves.
        let payments = PaymentDesk::new(
            settings,
            dynamodb.clone(),
            sqs.clone(),
            clients.metrics("checkout"),
        )?
        .with_personal_data(personal.clone());
        let gifts = app::points_mall::GiftOrders {
            orders: payments.orders.clone(),
            fulfillment: payments.fulfillment.clone(),
            deadlines: payments.deadlines.clone(),
            payment_seconds: payment_minutes * 60,
        };
        Ok(Self {
            metrics: clients.metrics("checkout"),
            cart: CartReader::new(
                dynamodb.clone(),
                &catalog_table,
                settings.required("USERS_TABLE")?,
                &marketing_table,
            ),
            shopping: ShoppingStore::new(dynamodb.clone(), settings.required("SHOPPING_TABLE")?)
                .with_personal_data(personal.clone()),
            media: clients.media_bucket(settings)?,
            reviews: store::reviews::ReviewStore::new(
                dynamodb.clone(),
                settings.required("REVIEWS_TABLE")?,
            ),
            social: SocialStore::new(dynamodb.clone(), &marketing_table),
            marketing: MarketingStore::new(dynamodb.clone(), &marketing_table),
            shipments: ShipmentStore::new(
                dynamodb.clone(),
                settings.required("ORDERS_TABLE")?,
                &catalog_table,
            ),
            sessions: Sessions::new(
                &jwt_secret,
                UserStore::new(dynamodb.clone(), settings.required("USERS_TABLE")?),
            )?,
            cursors: CursorSealer::derive(&jwt_secret),
            providers: providers.clone(),
            wechat: WeChatApi::new(settings, http)?,
            users: UserStore::new(dynamodb.clone(), settings.required("USERS_TABLE")?),
            receipts: Receipts::new(
                ShipmentStore::new(
                    dynamodb.clone(),
                    settings.required("ORDERS_TABLE")?,
                    &catalog_table,
                ),
                Queue::new(sqs.clone(), settings.required("DEADLINES_QUEUE_URL")?),
                clients.metrics("checkout"),
            ),
            // Its order store also carries the catalog and idempotency tables: checkout reserves.
            order_desk: app::order_desk::OrderDesk::new(
                payments.clone(),
                providers.clone(),
                ShipmentStore::new(
                    dynamodb.clone(),
                    settings.required("ORDERS_TABLE")?,
                    &catalog_table,
                ),
            ),
            after_sales: app::after_sales::AfterSales::from_settings(
                settings,
                payments.clone(),
                providers,
                ShipmentStore::new(
                    dynamodb.clone(),
                    settings.required("ORDERS_TABLE")?,
                    &catalog_table,
                ),
            )?,
            mall: app::points_mall::PointsMall::new(
                store::points_mall::MallStore::new(dynamodb.clone(), &marketing_table),
                MarketingStore::new(dynamodb.clone(), &marketing_table),
                store::points::PointsLedger::new(dynamodb.clone(), &marketing_table),
                store::catalog::CatalogStore::new(dynamodb.clone(), &catalog_table),
            )
            .with_gift_orders(gifts.clone()),
            lotteries: app::lottery_desk::LotteryDesk::new(
                store::lottery::LotteryStore::new(dynamodb.clone(), &marketing_table),
                MarketingStore::new(dynamodb.clone(), &marketing_table),
                store::points::PointsLedger::new(dynamodb.clone(), &marketing_table),
                store::catalog::CatalogStore::new(dynamodb, &catalog_table),
            )
            .with_gift_orders(gifts),
            payments,
            payment_seconds: payment_minutes * 60,
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    /// Prices a request for this buyer from one read of everything the price depends on (see
    /// `CartReader`); the pure engine does the rest.
    async fn priced(
        &self,
        user: &UserId,
        request: &CheckoutRequest,
    ) -> Result<(Quote, CartSnapshot, Vec<CartLine>), CheckoutError> {
        let ids: Vec<SkuId> = request.items.iter().map(|(id, _)| id.clone()).collect();
        let offer = request.offer.as_ref().and_then(request::Offer::reference);
        let snapshot = self
            .cart
            .read(user, &ids, request.coupon.as_ref(), offer.as_ref())
            .await?;
        if snapshot.buyer.is_none() {
            return Err(CheckoutError::UnknownUser);
        }
        let mut lines = Vec::with_capacity(ids.len());
        for (index, (id, quantity)) in request.items.iter().enumerate() {
            let for_sale = snapshot
                .skus
                .iter()
                .find(|s| &s.sku.id == id && s.on_shelf)
                .ok_or_else(|| CheckoutError::Unavailable {
                    index,
                    sku: id.clone(),
                })?;
            lines.push(CartLine {
                sku: for_sale.sku.clone(),
                category_id: for_sale.category_id.clone(),
                parent_categories: for_sale.parent_categories.clone(),
                quantity: *quantity,
                flash_bought: for_sale.flash_bought,
            });
        }
        if let (Some(offer), Some(line)) = (&request.offer, lines.first_mut()) {
            offer_price(user, offer, &snapshot, line, now_epoch_seconds())?;
        }
        let coupon = match (&request.coupon, &snapshot.coupon) {
            (None, _) => None,
            (Some(_), None) => return Err(CheckoutError::CouponNotInWallet),
            (Some(_), Some(held)) if held.status == CouponStatus::Used => {
                return Err(CheckoutError::CouponUsed(held.order_id.clone()));
            }
            (Some(_), Some(held)) => Some(held.coupon.clone()),
        };
        let quote = pricing::price(&Self::price_request(
            &lines,
            &snapshot,
            coupon.as_ref(),
            request.points,
        ))
        .map_err(CheckoutError::Pricing)?;
        Ok((quote, snapshot, lines))
    }

    fn price_request<'a>(
        lines: &'a [CartLine],
        snapshot: &'a CartSnapshot,
        coupon: Option<&'a pricing::Coupon>,
        points_wanted: u64,
    ) -> PriceRequest<'a> {
        PriceRequest {
            lines,
            member_level: snapshot
                .buyer
                .as_ref()
                .and_then(|b| b.member_level.as_deref()),
            now: now_epoch_seconds(),
            full_reductions: &snapshot.rules.full_reductions,
            coupon,
            points_balance: snapshot.points_balance,
            points_wanted,
            points_policy: snapshot.rules.points,
            shipping: snapshot.shipping,
        }
    }

    /// The price of a cart with its discounts, the points on offer and what each wallet coupon
    /// would save: one batched read and one wallet query, side by side.
    async fn quote(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let request = CheckoutRequest::parse_quote(req)?;
        let (priced, wallet) =
            futures::join!(self.priced(&user, &request), self.marketing.wallet(&user));
        let (quote, snapshot, lines) = priced?;
        self.metrics.event(
            telemetry::metrics::BusinessEvent::Quote,
            &telemetry::metrics::Facts {
                channel: Some(edge::channel::channel_of(req)),
                category: lines.first().map(|l| &l.category_id),
                ..Default::default()
            },
        );
        let now = now_epoch_seconds();
        let usable: Vec<pricing::Coupon> = wallet
            .map_err(CheckoutError::from)?
            .into_iter()
            .filter(|c| c.usable_at(now))
            .map(|c| c.coupon)
            .collect();
        let options =
            pricing::coupon_options(&Self::price_request(&lines, &snapshot, None, 0), &usable);
        let policy = snapshot.rules.points;
        let points = PointsView {
            balance: snapshot.points_balance,
            offered: quote.points_offered,
            used: quote.points_used,
            points_per_unit: policy.points_per_unit,
            fen_per_unit: policy.fen_per_unit,
        };
        Ok(api::json(
            200,
            &views::quote_answer(&quote, &snapshot.skus, points, &options),
        ))
    }

    async fn place_order(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let key = IdempotencyKey::from_request(req)?;
        let mut request = CheckoutRequest::parse_order(req)?;
        let hash = request.fingerprint();
        if request.from_cart || request.address_id.is_some() {
            // A retry finds the order its key placed, however the cart or the book changed since.
            if let Some((order, openid)) = self.replay(&user, key.as_str(), &hash).await? {
                let payment = self
                    .payment_for(&order, &openid, now_epoch_seconds())
                    .await?;
                return Ok(api::json(
                    201,
                    &OrderAnswer {
                        order: &order,
                        payment,
                    },
                ));
            }
            self.fill_from_saved(&user, &mut request).await?;
        }
        // A flash-sale line that lost its quota or allowance to a racing order is priced again
        // (at the regular price once the sale is gone) rather than refused; three tries at most.
        let mut attempt = 0;
        let (order, openid, now) = loop {
            attempt += 1;
            let (quote, snapshot, _) = match self.priced(&user, &request).await {
                Ok(priced) => priced,
                // A retry of an order that took its seat or bargain finds them taken by itself.
                Err(err) if request.offer.is_some() => {
                    match self.replay(&user, key.as_str(), &hash).await? {
                        Some((order, openid)) => break (order, openid, now_epoch_seconds()),
                        None => return Err(err.into()),
                    }
                }
                Err(err) => return Err(err.into()),
            };
            if !self.providers.takes(request.provider) {
                return Err(CheckoutError::ProviderUnavailable(request.provider.as_str()).into());
            }
            let buyer = snapshot.buyer.as_ref().ok_or(CheckoutError::UnknownUser)?;
            let openid = match request.provider {
                Provider::Wechat => buyer.openid.as_ref().map(|o| o.expose().to_string()),
                Provider::Alipay => buyer.alipay_open_id.clone(),
            }
            .ok_or(CheckoutError::PayerUnknown(request.provider.as_str()))?;
            let now = now_epoch_seconds();
            let mut order = self.new_order(&user, &request, &quote, &snapshot.skus, now);
            order.invited_by = snapshot.buyer.as_ref().and_then(|b| b.invited_by.clone());
            order.channel = Some(edge::channel::channel_of(req).to_string());
            order.provider = request.provider;
            let offer_writes = self.take_offer(&mut order, &request, &snapshot, now)?;
            let holds = flash_holds(&quote, &snapshot.skus);

            // The deadline goes out before the reservation: if we crash after reserving, the
            // stock still comes back; if the reservation fails, the deadline finds no order.
            let deadline = DeadlineMessage::OrderDeadline {
                order_id: order.id.clone(),
                due_at: order.pay_deadline,
            };
            self.payments
                .deadlines
                .send(&deadline, order.pay_deadline - now)
                .await
                .map_err(CheckoutError::from)?;

            match self
                .payments
                .orders
                .create(&order, &openid, key.as_str(), &hash, &holds, offer_writes)
                .await
                .map_err(CheckoutError::from)?
            {
                Created::Created => {
                    tracing::info!(order_id = %order.id, total = order.total.get(), "order placed");
                    self.metrics.event(
                        telemetry::metrics::BusinessEvent::OrderCreated,
                        &telemetry::metrics::Facts {
                            channel: order.channel.as_deref(),
                            category: snapshot.skus.first().map(|s| &s.category_id),
                            amount: Some(order.total),
                            points_spent: order.points_used,
                            ..Default::default()
                        },
                    );
                    break (order, openid, now);
                }
                Created::OutOfStock(short)
                    if attempt < 3
                        && short.iter().any(|s| holds.iter().any(|h| &h.sku_id == s)) =>
                {
                    continue;
                }
                Created::OutOfStock(short) => return Err(CheckoutError::OutOfStock(short).into()),
                // Points spent elsewhere meanwhile: price again with the balance as it is now.
                Created::PointsShort if attempt < 3 => continue,
                Created::PointsShort => {
                    return Err(ApiError::new(
                        409,
                        "points_changed",
                        "your points balance changed; please review the order again",
                    ));
                }
                Created::CouponTaken => return Err(CheckoutError::CouponTaken.into()),
                Created::OfferTaken => {
                    return Err(self.offer_taken(&user, &request, now).await?.into());
                }
                Created::KeyTaken {
                    order_id,
                    request_hash,
                } => {
                    if request_hash != hash {
                        return Err(CheckoutError::KeyReused.into());
                    }
                    let existing = self
                        .payments
                        .orders
                        .get(&order_id)
                        .await
                        .map_err(CheckoutError::from)?
                        .ok_or(CheckoutError::KeyReused)?;
                    break (existing.order, openid, now);
                }
            }
        };
        let payment = self.payment_for(&order, &openid, now).await?;
        Ok(api::json(
            201,
            &OrderAnswer {
                order: &order,
                payment,
            },
        ))
    }

    /// The order an Idempotency-Key already created for this same request, with its payer.
    async fn replay(
        &self,
        user: &UserId,
        key: &str,
        hash: &str,
    ) -> Result<Option<(Order, String)>, CheckoutError> {
        let Some((order_id, request_hash)) = self.payments.orders.claimed(user, key).await? else {
            return Ok(None);
        };
        if request_hash != hash {
            return Err(CheckoutError::KeyReused);
        }
        Ok(self.payments.orders.get(&order_id).await?.and_then(|s| {
            let payer = s.payer()?;
            Some((s.order, payer))
        }))
    }

    /// The writes that take the order's group seat or bargain, with the order marked as taking
    /// them; the order's own transaction makes them happen with it or not at all.
    fn take_offer(
        &self,
        order: &mut Order,
        request: &CheckoutRequest,
        snapshot: &CartSnapshot,
        now: i64,
    ) -> Result<Vec<aws_sdk_dynamodb::types::TransactWriteItem>, CheckoutError> {
        let member = |profile: &domain::social::Profile| Member {
            user_id: order.user_id.clone(),
            order_id: order.id.clone(),
            paid: false,
            joined_at: now,
            profile: profile.clone(),
        };
        let writes = match &request.offer {
            None => Vec::new(),
            Some(request::Offer::StartGroup(profile)) => {
                let for_sale = snapshot.skus.first().ok_or(CheckoutError::NoGroupBuy)?;
                let offer = for_sale
                    .sku
                    .group_buy
                    .as_ref()
                    .ok_or(CheckoutError::NoGroupBuy)?;
                let group = Group {
                    id: GroupId::generate(),
                    sku_id: for_sale.sku.id.clone(),
                    product_id: for_sale.sku.product_id.clone(),
                    title: for_sale.title.clone(),
                    image: for_sale.image.clone(),
                    price: offer.price,
                    regular_price: for_sale.sku.price,
                    size: offer.group_size,
                    time_limit_hours: offer.time_limit_hours,
                    leader_id: order.user_id.clone(),
                    status: GroupStatus::AwaitingLeader,
                    seats: 1,
                    paid: 0,
                    created_at: now,
                    expires_at: None,
                };
                let writes = self.social.start_writes(&group, &member(profile))?;
                order.group_id = Some(group.id);
                order.group_leader = true;
                writes
            }
            Some(request::Offer::JoinGroup(_, profile)) => {
                let group = snapshot
                    .group
                    .as_ref()
                    .ok_or(CheckoutError::GroupNotFound)?;
                let writes = self.social.join_writes(group, &member(profile), now)?;
                order.group_id = Some(group.id.clone());
                writes
            }
            Some(request::Offer::Bargain(id)) => {
                order.bargain_id = Some(id.clone());
                vec![self.social.order_write(id, order)?]
            }
        };
        Ok(writes)
    }

    /// Why the group seat or bargain could not be taken after all: read again to say which.
    async fn offer_taken(
        &self,
        user: &UserId,
        request: &CheckoutRequest,
        now: i64,
    ) -> Result<CheckoutError, CheckoutError> {
        let sku = &request.items[0].0;
        Ok(match &request.offer {
            Some(request::Offer::JoinGroup(id, _)) => match self.social.group(id).await? {
                Some(group) => CheckoutError::GroupRefused(
                    join_refusal(&group, user, false, sku, now).unwrap_or(JoinRefusal::Full),
                ),
                None => CheckoutError::GroupNotFound,
            },
            Some(request::Offer::Bargain(id)) => match self.social.bargain(id).await? {
                Some(b) if b.status == BargainStatus::Active && now < b.expires_at => {
                    CheckoutError::BargainRefused(HelpRefusal::Closed)
                }
                Some(b) if b.status == BargainStatus::Ordered => {
                    CheckoutError::BargainRefused(HelpRefusal::Closed)
                }
                Some(_) => CheckoutError::BargainRefused(HelpRefusal::Expired),
                None => CheckoutError::BargainNotFound,
            },
            _ => CheckoutError::GroupRefused(JoinRefusal::Full),
        })
    }

    fn new_order(
        &self,
        user: &UserId,
        request: &CheckoutRequest,
        quote: &Quote,
        skus: &[SkuForSale],
        now: i64,
    ) -> Order {
        let lines = quote
            .lines
            .iter()
            .map(|l| {
                let for_sale = skus.iter().find(|s| s.sku.id == l.sku_id);
                OrderLine {
                    sku_id: l.sku_id.clone(),
                    product_id: l.product_id.clone(),
                    title: for_sale.map(|s| s.title.clone()).unwrap_or_default(),
                    specs: for_sale.map(|s| s.sku.specs.clone()).unwrap_or_default(),
                    image: for_sale.and_then(|s| s.image.clone()),
                    unit_price: l.unit_price,
                    quantity: l.quantity,
                    flash_quantity: l.flash_quantity,
                    flash_price: l.flash_price,
                    line_total: l.payable,
                }
            })
            .collect();
        Order {
            id: OrderId::generate(now),
            user_id: user.clone(),
            status: OrderStatus::PendingPayment,
            lines,
            subtotal: quote.subtotal,
            discounts: quote.discount_list(),
            shipping: quote.shipping,
            total: quote.total,
            coupon_id: request
                .coupon
                .clone()
                .filter(|_| quote.discounts.iter().any(|d| d.discount.kind == "coupon")),
            points_used: quote.points_used,
            address: request
                .address
                .clone()
                .expect("orders are parsed with an address"),
            created_at: now,
            pay_deadline: now + self.payment_seconds,
            paid_at: None,
            transaction_id: None,
            shipment: None,
            delivered_at: None,
            confirmed_received_at: None,
            settled_at: None,
            estimated_settlement_at: None,
            shipping_upload: None,
            return_shipment: None,
            refunded_skus: Vec::new(),
            refunded_amount: Fen::ZERO,
            refund_count: 0,
            from_cart: request.from_cart,
            group_id: None,
            group_leader: false,
            bargain_id: None,
            mall_item: None,
            invited_by: None,
            channel: None,
            provider: app::payment::Provider::Wechat,
            history: vec![StatusChange {
                status: OrderStatus::PendingPayment,
                at: now,
                reason: None,
            }],
        }
    }

    /// What the shopper's pay call needs for an unpaid order, from the order's provider (which
    /// answers the same trade for the same order, so a retry after a failed start completes it).
    async fn payment_for(
        &self,
        order: &Order,
        payer: &str,
        now: i64,
    ) -> Result<Option<PaymentStart>, CheckoutError> {
        if order.status != OrderStatus::PendingPayment {
            return Ok(None);
        }
        let provider = self
            .providers
            .of(order.provider)
            .map_err(CheckoutError::Provider)?;
        match provider.start(order, payer, now).await {
            Ok(start) => Ok(Some(start)),
            Err(source) => Err(CheckoutError::Prepay {
                order_id: order.id.clone(),
                source,
            }),
        }
    }

    /// The order as it is now, after a change this request made.
    async fn current(&self, id: &OrderId) -> Result<Option<Order>, ApiError> {
        Ok(self
            .payments
            .orders
            .get(id)
            .await
            .map_err(CheckoutError::from)?
            .map(|s| s.order))
    }

    /// The caller's order, or 404 whether it is missing or someone else's.
    async fn own_order(
        &self,
        req: &ApiRequest,
        user: &UserId,
    ) -> Result<store::orders::StoredOrder, ApiError> {
        let not_found = || ApiError::new(404, "order_not_found", "no such order");
        let id = OrderId::parse(req.path_param("id")?).map_err(|_| not_found())?;
        match self
            .payments
            .orders
            .get(&id)
            .await
            .map_err(CheckoutError::from)?
        {
            Some(stored) if &stored.order.user_id == user => Ok(stored),
            _ => Err(not_found()),
        }
    }

    /// The order with its status history and, once shipped, the parcel's tracking, newest first.
    async fn get_order(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let stored = self.own_order(req, &user).await?;
        let mut answer =
            serde_json::to_value(&stored.order).map_err(|e| ApiError::unexpected(&e))?;
        if let Some(summary) = &stored.order.shipment
            && let Some(shipment) = self
                .shipments
                .shipment(&summary.number)
                .await
                .map_err(CheckoutError::from)?
        {
            answer["tracking"] = serde_json::json!({
                "company": shipment.company,
                "number": shipment.number,
                "state": shipment.state_code.map(domain::logistics::state_name),
                "events": shipment.timeline,
            });
        }
        if stored.order.refund_count > 0 {
            answer["afterSales"] = self.after_sales(&stored.order.id).await?;
        }
        Ok(api::json(200, &answer))
    }

    async fn list_orders(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let status = match req.query_param("status").filter(|s| !s.is_empty()) {
            Some(raw) => Some(
                OrderStatus::parse(raw)
                    .ok_or_else(|| ApiError::invalid_field("status", "is not an order status"))?,
            ),
            None => None,
        };
        let scope = format!("orders|{user}|{}", status.map_or("", OrderStatus::as_str));
        let after: Option<ListPosition> = self.cursors.position(req, &scope)?;
        let page = self
            .payments
            .orders
            .list_for_user(&user, status, after, ORDERS_PAGE)
            .await
            .map_err(CheckoutError::from)?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Listing {
            items: Vec<Order>,
            #[serde(skip_serializing_if = "Option::is_none")]
            next_cursor: Option<String>,
        }
        Ok(api::json(
            200,
            &Listing {
                items: page.items,
                next_cursor: page.next.map(|p| self.cursors.seal(&scope, &p)),
            },
        ))
    }

    async fn cancel(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let stored = self.own_order(req, &user).await?;
        let cancelled = self
            .order_desk
            .cancel_unpaid(
                &stored.order,
                "cancelled by shopper",
                None,
                now_epoch_seconds(),
            )
            .await?;
        Ok(api::json(200, &cancelled))
    }
}

/// After-sales: refunds and returns.
impl Checkout {
    /// Refunds some or all of a paid order's lines: the refund is recorded with the order moving
    /// to REFUNDING in one transaction, then asked of its provider under its own out_refund_no
    /// (a retry of the same request asks again for the same refund), or left waiting for staff
    /// (`AWAITING_APPROVAL`) as `REFUND_APPROVAL` says. Its notification finishes it.
    async fn refund(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let request = request::RefundRequest::parse(req, &user)?;
        let stored = self.own_order(req, &user).await?;
        if let Err(refusal) = request.evidence.fits(&stored.order) {
            return Err(ApiError::new(422, refusal.code(), refusal.to_string()).with_field("kind"));
        }
        let now = now_epoch_seconds();
        self.keep_photos("photos", &request.evidence.photos, now)
            .await?;
        let ask = app::after_sales::RefundAsk {
            reason: request.reason,
            lines: request.lines,
            evidence: request.evidence,
        };
        let order_id = stored.order.id.clone();
        let refund = self.after_sales.request(stored.order, &ask, now).await?;
        let current = self.current(&order_id).await?;
        Ok(api::json(
            202,
            &serde_json::json!({"refund": refund, "order": current}),
        ))
    }

    /// The waybill the shopper sends a shipped order's goods back under; tracked by the courier
    /// hook, and what a shipped order's refund waits for.
    async fn register_return(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let waybill = request::ReturnRequest::parse(req)?;
        let stored = self.own_order(req, &user).await?;
        let order = &stored.order;
        if let Some(existing) = &order.return_shipment {
            if existing.number == waybill.number && existing.company == waybill.company {
                return Ok(api::json(200, order));
            }
            return Err(ApiError::new(
                409,
                "return_registered",
                "this order's return waybill is registered already",
            ));
        }
        if !self
            .payments
            .orders
            .register_return(&order.id, &waybill.company, &waybill.number)
            .await
            .map_err(CheckoutError::from)?
        {
            return Err(ApiError::new(
                409,
                "order_not_returnable",
                format!("a {} order has nothing to send back", order.status.as_str()),
            ));
        }
        let message = store::queue::FulfillmentMessage::ReturnRegistered {
            order_id: order.id.clone(),
            company: waybill.company.clone(),
            number: waybill.number.clone(),
        };
        self.payments
            .fulfillment
            .send(&message, 0)
            .await
            .map_err(CheckoutError::from)?;
        let current = self.current(&order.id).await?;
        Ok(api::json(200, &current))
    }
}

impl Checkout {
    /// Coupons the shopper can claim, and the coupons in their wallet.
    async fn available_coupons(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let (templates, wallet) =
            futures::join!(self.marketing.templates(), self.marketing.wallet(&user));
        let templates = templates.map_err(CheckoutError::from)?;
        let wallet = wallet.map_err(CheckoutError::from)?;
        let now = now_epoch_seconds();
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Available<'a> {
            items: Vec<views::OfferView>,
            wallet: Vec<domain::promotions::WalletView<'a>>,
        }
        Ok(api::json(
            200,
            &Available {
                // Offers that ended are no news to a shopper; sold-out ones still show, greyed.
                items: templates
                    .iter()
                    .filter(|t| t.claim_ends().is_none_or(|end| now < end))
                    .map(|t| views::offer_view(t, &wallet, now))
                    .collect(),
                wallet: wallet
                    .iter()
                    .map(|c| domain::promotions::wallet_view(c, now))
                    .collect(),
            },
        ))
    }

    async fn claim_coupon(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let not_found = || ApiError::new(404, "coupon_not_found", "no such coupon on offer");
        let id = PromotionId::parse(req.path_param("templateId")?).map_err(|_| not_found())?;
        let now = now_epoch_seconds();
        match self
            .marketing
            .claim(&id, &user, now)
            .await
            .map_err(CheckoutError::from)?
        {
            Claim::Claimed(coupon) => {
                tracing::info!(coupon_id = %coupon.id, "coupon claimed");
                Ok(api::json(
                    201,
                    &domain::promotions::wallet_view(&coupon, now),
                ))
            }
            Claim::UnknownTemplate => Err(not_found()),
            Claim::Refused(refusal) => {
                let status = if refusal == domain::promotions::ClaimRefusal::SoldOut {
                    409
                } else {
                    422
                };
                Err(ApiError::new(status, refusal.code(), refusal.to_string()))
            }
        }
    }
}

#[async_trait::async_trait]
impl HttpFunction for Checkout {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            match req.route() {
                "POST /v1/checkout/quote" => self.quote(&req).await,
                "POST /v1/orders" => self.place_order(&req).await,
                "GET /v1/orders" => self.list_orders(&req).await,
                "GET /v1/orders/{id}" => self.get_order(&req).await,
                "POST /v1/orders/{id}/cancel" => self.cancel(&req).await,
                "GET /v1/coupons/available" => self.available_coupons(&req).await,
                "POST /v1/coupons/{templateId}/claim" => self.claim_coupon(&req).await,
                "POST /v1/orders/{id}/refund" => self.refund(&req).await,
                "POST /v1/orders/{id}/return" => self.register_return(&req).await,
                "GET /v1/orders/{id}/confirm-receipt" => self.confirm_receipt_params(&req).await,
                "POST /v1/orders/{id}/confirm-receipt" => self.confirm_receipt(&req).await,
                "POST /v1/uploads" => self.upload(&req).await,
                "POST /v1/orders/{id}/reviews" => self.review(&req).await,
                "GET /v1/me/reviews" => self.my_reviews(&req).await,
                "GET /v1/cart" => self.cart(&req).await,
                "POST /v1/cart/items" => self.add_to_cart(&req).await,
                "PATCH /v1/cart/items/{skuId}" => self.change_cart_line(&req).await,
                "DELETE /v1/cart/items/{skuId}" => self.remove_from_cart(&req).await,
                "GET /v1/points-mall" => self.points_mall(&req).await,
                "GET /v1/points-mall/redemptions" => self.my_redemptions(&req).await,
                "POST /v1/lotteries/{id}/draws/{drawId}/claim" => {
                    self.claim_lottery_gift(&req).await
                }
                "POST /v1/points-mall/{id}/redeem" => self.redeem(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}

//! The points mall (积分商城): items listed by staff (each audited), redeemed by shoppers. One
//! use case for the merchant's API and the shoppers': a coupon item goes into the wallet in one
//! conditional transaction; a gift becomes an order of its own that ships through fulfillment
//! like any other, free when it costs points alone (created paid), or paid through WeChat Pay
//! for its cash top-up (created awaiting payment, cancelled at its deadline). Either way the
//! points, the item's unit and the shopper's allowance are taken with the order, and come back
//! with a cancellation or a refund, once.

use crate::staff::Actor;
use domain::field::FieldError;
use domain::ids::{OrderId, UserId};
use domain::money::Fen;
use domain::order::{Address, Order, OrderLine, OrderStatus, Quantity, StatusChange};
use domain::points_mall::{MallItem, MallItemDraft, MallItemId, MallReward, RedeemRefusal};
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::catalog::CatalogStore;
use store::marketing::MarketingStore;
use store::orders::{Created, OrderStore};
use store::points::PointsLedger;
use store::points_mall::{Listed, MallStore, Redemption, redemption_id};
use store::queue::{DeadlineMessage, FulfillmentMessage, Queue, QueueError};

#[derive(Debug, thiserror::Error)]
pub enum MallError {
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(FieldError),
    #[error("an item with this id exists already")]
    Exists,
    #[error("no such item in the points mall")]
    NoSuchItem,
    #[error("the item cannot be redeemed now")]
    Refused(RedeemRefusal),
    #[error("a gift ships: give an address")]
    AddressNeeded,
    #[error("this Idempotency-Key was used for another redemption")]
    KeyReused,
    /// Set up without what the change needs (an audit log for staff changes, the order store
    /// and queues for a gift): a function that does not make such changes.
    #[error("this points mall desk cannot {0}")]
    NotHere(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<FieldError> for MallError {
    fn from(err: FieldError) -> Self {
        MallError::Invalid(err)
    }
}

/// The mall as a shopper sees it: each item with what is left, how many they hold, and their
/// points.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MallView {
    pub items: Vec<ShopperItem>,
    pub balance: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShopperItem {
    #[serde(flatten)]
    pub listed: Listed,
    pub redeemed: u32,
}

/// A redemption that went through (or had gone through: a retry), and for a gift its order.
#[derive(Debug)]
pub struct Redeemed {
    pub redemption: Redemption,
    pub order: Option<Order>,
    /// The payer an unpaid top-up order is paid by.
    pub payer: Option<String>,
    pub repeated: bool,
}

/// Where a gift goes and who pays its top-up.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub address: Address,
    /// The shopper's WeChat openid: a top-up is paid through WeChat Pay.
    pub payer: String,
}

/// What turns a gift into an order: the order store (which also takes the points and the
/// SKU's stock), the queues and the time a top-up may stay unpaid.
#[derive(Clone)]
pub struct GiftOrders {
    pub orders: OrderStore,
    pub fulfillment: Queue,
    pub deadlines: Queue,
    pub payment_seconds: i64,
}

/// One unit of a SKU sent to a shopper: a points-mall gift or a lucky draw's prize.
pub(crate) struct Gift<'a> {
    pub user: &'a UserId,
    pub sku: &'a domain::catalog::Sku,
    pub image: Option<String>,
    pub title: &'a str,
    /// The cash top-up: zero makes the order paid at once.
    pub cash: Fen,
    pub points: u64,
    pub mall_item: Option<MallItemId>,
    pub channel: &'static str,
    /// Why the order exists, in its history.
    pub reason: String,
    pub address: Address,
    pub now: i64,
    pub pay_deadline: i64,
}

/// The order a gift ships with: created paid when it costs no cash, else awaiting payment.
pub(crate) fn gift_order(gift: Gift<'_>) -> Order {
    let free = gift.cash == Fen::ZERO;
    let status = if free {
        OrderStatus::Paid
    } else {
        OrderStatus::PendingPayment
    };
    Order {
        id: OrderId::generate(gift.now),
        user_id: gift.user.clone(),
        status,
        lines: vec![OrderLine {
            sku_id: gift.sku.id.clone(),
            product_id: gift.sku.product_id.clone(),
            title: gift.title.to_string(),
            specs: gift.sku.specs.clone(),
            image: gift.image,
            unit_price: gift.cash,
            quantity: Quantity::new(1).expect("one is a quantity"),
            flash_quantity: 0,
            flash_price: None,
            line_total: gift.cash,
        }],
        subtotal: gift.cash,
        discounts: Vec::new(),
        shipping: Fen::ZERO,
        total: gift.cash,
        coupon_id: None,
        points_used: gift.points,
        group_id: None,
        group_leader: false,
        bargain_id: None,
        mall_item: gift.mall_item,
        provider: domain::payment::Provider::Wechat,
        channel: Some(gift.channel.into()),
        invited_by: None,
        address: gift.address,
        created_at: gift.now,
        pay_deadline: gift.pay_deadline,
        paid_at: free.then(|| domain::clock::rfc3339(gift.now)),
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
        from_cart: false,
        history: vec![StatusChange {
            status,
            at: gift.now,
            reason: Some(gift.reason),
        }],
    }
}

/// The product image a gift's order line shows.
pub(crate) async fn gift_image(
    catalog: &CatalogStore,
    sku: &domain::catalog::Sku,
) -> Result<Option<String>, StoreError> {
    Ok(catalog
        .product(&sku.product_id)
        .await?
        .and_then(|(p, _)| p.images.first().cloned()))
}

pub struct PointsMall {
    mall: MallStore,
    marketing: MarketingStore,
    points: PointsLedger,
    catalog: CatalogStore,
    audit: Option<AuditLog>,
    gifts: Option<GiftOrders>,
}

impl PointsMall {
    pub fn new(
        mall: MallStore,
        marketing: MarketingStore,
        points: PointsLedger,
        catalog: CatalogStore,
    ) -> Self {
        Self {
            mall,
            marketing,
            points,
            catalog,
            audit: None,
            gifts: None,
        }
    }

    /// The staff's desk: what it changes is audited.
    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The shoppers' desk: gifts become orders.
    pub fn with_gift_orders(mut self, gifts: GiftOrders) -> Self {
        self.gifts = Some(gifts);
        self
    }

    /// Lists a new item (`mall.create` in the audit log, in the same transaction). Its coupon
    /// template or gift SKU must exist.
    pub async fn create(
        &self,
        id: Option<&str>,
        draft: &MallItemDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<MallItem, MallError> {
        let id = id
            .and_then(|raw| MallItemId::parse(raw).ok())
            .ok_or_else(|| FieldError::new("id", "must be letters, digits, - and _ (1 to 40)"))?;
        let item = draft.parse(id)?;
        match &item.reward {
            MallReward::Coupon { template } => {
                let templates = self.marketing.templates().await?;
                if !templates.iter().any(|t| t.id.as_str() == template) {
                    return Err(FieldError::new(
                        "reward.template",
                        "names no coupon template of the shop",
                    )
                    .into());
                }
            }
            MallReward::Gift { sku_id } => {
                if self.catalog.sku(sku_id).await?.is_none() {
                    return Err(
                        FieldError::new("reward.skuId", "names no SKU of the catalog").into(),
                    );
                }
            }
        }
        let audit = self
            .audit
            .as_ref()
            .ok_or(MallError::NotHere("list items"))?;
        let entry = actor.entry(
            "mall.create",
            format!("mall:{}", item.id),
            json!(null),
            json!(item),
            now,
        );
        match audit
            .commit(vec![self.mall.create_write(&item, now)?], entry)
            .await?
        {
            Committed::Done(_) => Ok(item),
            Committed::Refused(_) => Err(MallError::Exists),
        }
    }

    /// The items on offer now (started, not ended), with the shopper's counts and points.
    pub async fn view(&self, user: &UserId, now: i64) -> Result<MallView, MallError> {
        let (items, mut redeemed, balance) = futures::try_join!(
            self.mall.items(),
            self.mall.redeemed(user),
            self.points.balance(user),
        )?;
        let items = items
            .into_iter()
            .filter(|l| l.item.starts_at <= now && now < l.item.ends_at)
            .map(|listed| ShopperItem {
                redeemed: redeemed.remove(&listed.item.id).unwrap_or(0),
                listed,
            })
            .collect();
        Ok(MallView { items, balance })
    }

    pub async fn redemptions(&self, user: &UserId) -> Result<Vec<Redemption>, MallError> {
        Ok(self.mall.redemptions(user).await?)
    }

    /// Every redemption, oldest first, for the merchant.
    pub async fn all_redemptions(&self) -> Result<Vec<Redemption>, MallError> {
        Ok(self.mall.all_redemptions().await?)
    }

    /// Every item with how many shoppers redeemed (counting each redemption, cancelled ones
    /// too: the merchant's record), for the merchant's list.
    pub async fn listing(&self) -> Result<Vec<(Listed, u64)>, MallError> {
        let (items, redemptions) =
            futures::try_join!(self.mall.items(), self.mall.all_redemptions())?;
        let mut counts: HashMap<MallItemId, u64> = HashMap::new();
        for r in &redemptions {
            *counts.entry(r.item_id.clone()).or_insert(0) += 1;
        }
        Ok(items
            .into_iter()
            .map(|listed| {
                let redeemed = counts.get(&listed.item.id).copied().unwrap_or(0);
                (listed, redeemed)
            })
            .collect())
    }

    /// One redemption for the shopper, named by the request's Idempotency-Key: a retry of the
    /// same request finds what the first did. A gift needs `delivery`.
    pub async fn redeem(
        &self,
        user: &UserId,
        item_id: &str,
        idempotency_key: &str,
        delivery: Option<Delivery>,
        now: i64,
    ) -> Result<Redeemed, MallError> {
        let id = MallItemId::parse(item_id).map_err(|_| MallError::NoSuchItem)?;
        let listed = self.mall.item(&id).await?.ok_or(MallError::NoSuchItem)?;
        let item = listed.item;
        let record = Redemption {
            id: redemption_id(user, idempotency_key),
            item_id: item.id.clone(),
            title: item.title.clone(),
            shopper: user.clone(),
            at: now,
            points: item.points,
            cash: item.cash,
            reward: item.reward.clone(),
            coupon_id: None,
            order_id: None,
        };
        // The window is judged here; the stock, the allowance and the points in the write.
        if let Some(refusal @ (RedeemRefusal::NotStarted | RedeemRefusal::Ended)) =
            item.refusal(now, 1, 0, u64::MAX)
        {
            return Err(MallError::Refused(refusal));
        }
        match &item.reward {
            MallReward::Coupon { template } => self.redeem_coupon(&item, template, record).await,
            MallReward::Gift { sku_id } => {
                let delivery = delivery.ok_or(MallError::AddressNeeded)?;
                self.redeem_gift(&item, sku_id, record, delivery, idempotency_key)
                    .await
            }
        }
    }

    async fn redeem_coupon(
        &self,
        item: &MallItem,
        template: &str,
        mut record: Redemption,
    ) -> Result<Redeemed, MallError> {
        let template = match domain::ids::PromotionId::parse(template) {
            Ok(id) => self.marketing.template(&id).await?,
            Err(_) => None,
        }
        // A template taken away since the item was listed: nothing left to give.
        .ok_or(MallError::Refused(RedeemRefusal::SoldOut))?;
        // Numbered apart from claims (which count from 1) and prize coupons, from the
        // redemption's id: a retry issues the same coupon, which the wallet holds once.
        let number = u32::from_str_radix(&record.id[..7], 16).unwrap_or(0) | 0x1000_0000;
        let coupon = template.issue(number, record.at);
        record.coupon_id = Some(coupon.id.to_string());
        let (redemption, repeated) = match self
            .mall
            .redeem_coupon(item, record, &template, &coupon)
            .await?
        {
            store::points_mall::Redeemed::Done(r) => (r, false),
            store::points_mall::Redeemed::Repeated(r) => (r, true),
            store::points_mall::Redeemed::Refused(refusal) => {
                return Err(MallError::Refused(refusal));
            }
        };
        Ok(Redeemed {
            redemption,
            order: None,
            payer: None,
            repeated,
        })
    }

    async fn redeem_gift(
        &self,
        item: &MallItem,
        sku_id: &domain::ids::SkuId,
        mut record: Redemption,
        delivery: Delivery,
        idempotency_key: &str,
    ) -> Result<Redeemed, MallError> {
        let gifts = self
            .gifts
            .as_ref()
            .ok_or(MallError::NotHere("ship gifts"))?;
        let now = record.at;
        let sku = self
            .catalog
            .sku(sku_id)
            .await?
            .ok_or(MallError::Refused(RedeemRefusal::SoldOut))?;
        let image = gift_image(&self.catalog, &sku).await?;
        let free = item.cash == Fen::ZERO;
        let order = gift_order(Gift {
            user: &record.shopper,
            sku: &sku,
            image,
            title: &item.title,
            cash: item.cash,
            points: item.points,
            mall_item: Some(item.id.clone()),
            channel: "points_mall",
            reason: format!("积分兑换：{} 积分", item.points),
            address: delivery.address,
            now,
            pay_deadline: now + gifts.payment_seconds,
        });
        record.order_id = Some(order.id.clone());
        let request_hash = format!("mall:{}", item.id);
        if !free {
            // Out before the order, as checkout does: a crash after creating it still finds
            // the unpaid top-up cancelled, its points and unit given back.
            gifts
                .deadlines
                .send(
                    &DeadlineMessage::OrderDeadline {
                        order_id: order.id.clone(),
                        due_at: order.pay_deadline,
                    },
                    order.pay_deadline - now,
                )
                .await?;
        }
        let writes = self.mall.take_writes(item, &record)?;
        let created = gifts
            .orders
            .create(
                &order,
                &delivery.payer,
                idempotency_key,
                &request_hash,
                &[],
                writes,
            )
            .await?;
        let (order, repeated) = match created {
            Created::Created => (order, false),
            Created::KeyTaken {
                order_id,
                request_hash: earlier,
            } => {
                if earlier != request_hash {
                    return Err(MallError::KeyReused);
                }
                let existing = gifts
                    .orders
                    .get(&order_id)
                    .await?
                    .ok_or(MallError::KeyReused)?;
                record.order_id = Some(order_id);
                (existing.order, true)
            }
            Created::PointsShort => {
                let balance = self.points.balance(&record.shopper).await?;
                return Err(MallError::Refused(RedeemRefusal::PointsShort {
                    needed: item.points,
                    balance,
                }));
            }
            Created::OutOfStock(_) => return Err(MallError::Refused(RedeemRefusal::SoldOut)),
            Created::OfferTaken | Created::CouponTaken => {
                let refusal = self
                    .mall
                    .refusal(&item.id, &record.shopper, now)
                    .await?
                    .unwrap_or(RedeemRefusal::SoldOut);
                return Err(MallError::Refused(refusal));
            }
        };
        if order.status == OrderStatus::Paid && order.transaction_id.is_none() {
            // Nothing to pay: it ships now. Sent again on a retry, in case the first stopped
            // before it (fulfillment ships an order once).
            gifts
                .fulfillment
                .send(&FulfillmentMessage::order_paid(&order.id, ""), 0)
                .await?;
        }
        if repeated
            && let Some(before) = self
                .mall
                .redemptions(&record.shopper)
                .await?
                .into_iter()
                .find(|r| r.order_id.as_ref() == Some(&order.id))
        {
            record = before;
        }
        Ok(Redeemed {
            redemption: record,
            payer: (order.status == OrderStatus::PendingPayment).then_some(delivery.payer),
            order: Some(order),
            repeated,
        })
    }
}

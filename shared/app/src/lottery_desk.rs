//! Lucky draws (抽奖): set up by staff (each audited), drawn by shoppers. One use case for the
//! merchant's API and the shoppers': the draft is checked by the domain's rules and the coupon
//! templates its prizes name must exist; a draw uses a CSPRNG (ChaCha12 seeded by the OS) and is
//! taken in one conditional transaction by the store.

use crate::points_mall::{Delivery, Gift, GiftOrders, gift_image, gift_order};
use crate::staff::Actor;
use domain::field::FieldError;
use domain::ids::UserId;
use domain::lottery::{ChancesLeft, Lottery, LotteryDraft, LotteryId, Reward};
use domain::order::Order;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::catalog::CatalogStore;
use store::lottery::{DrawRecord, Drawn, LotteryStore};
use store::marketing::MarketingStore;
use store::orders::Created;
use store::points::PointsLedger;
use store::queue::{FulfillmentMessage, QueueError};

/// The draws a shopper sees of their own.
pub const MY_DRAWS: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum LotteryDeskError {
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(FieldError),
    #[error("a lucky draw with this id exists already")]
    Exists,
    #[error("no such lucky draw")]
    NoSuchLottery,
    /// Set up without an audit log (a shoppers' function): staff changes go through the admin.
    #[error("this lottery desk keeps no audit log, so it changes no draw")]
    Unaudited,
    #[error("no such draw of yours")]
    NoSuchDraw,
    #[error("this draw won no gift to send")]
    NotAGift,
    #[error("a gift ships: give an address")]
    AddressNeeded,
    #[error("the gift is out of stock; the shop will contact you")]
    GiftOutOfStock,
    /// A shoppers' function without the order store (the share-reward function draws; the
    /// checkout function sends gifts).
    #[error("this lottery desk sends no gifts")]
    NoGiftOrders,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

impl From<FieldError> for LotteryDeskError {
    fn from(err: FieldError) -> Self {
        LotteryDeskError::Invalid(err)
    }
}

/// A draw as a shopper sees it: the prizes with what is left of each, their chances today and
/// their last draws.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LotteryView {
    pub lottery: Lottery,
    /// Units left per prize, in the lottery's order (`None`: not counted).
    pub left: Vec<Option<u64>>,
    pub chances: ChancesLeft,
    pub balance: u64,
    pub draws: Vec<DrawRecord>,
}

pub struct LotteryDesk {
    lotteries: LotteryStore,
    marketing: MarketingStore,
    points: PointsLedger,
    /// Staff changes are audited; a shoppers' function has no audit log to write.
    audit: Option<AuditLog>,
    /// The SKUs gift prizes are.
    catalog: CatalogStore,
    /// Where gift prizes become orders.
    gifts: Option<GiftOrders>,
}

/// A gift prize's order, and whether an earlier claim had made it.
#[derive(Debug)]
pub struct GiftSent {
    pub draw: DrawRecord,
    pub order: Order,
    pub repeated: bool,
}

impl LotteryDesk {
    pub fn new(
        lotteries: LotteryStore,
        marketing: MarketingStore,
        points: PointsLedger,
        catalog: CatalogStore,
    ) -> Self {
        Self {
            lotteries,
            marketing,
            points,
            catalog,
            audit: None,
            gifts: None,
        }
    }

    /// The desk that sends gift prizes as orders.
    pub fn with_gift_orders(mut self, gifts: GiftOrders) -> Self {
        self.gifts = Some(gifts);
        self
    }

    /// The staff's desk: what it changes is audited.
    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Sets up a new draw (`lottery.create` in the audit log, in the same transaction).
    pub async fn create(
        &self,
        id: Option<&str>,
        draft: &LotteryDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<Lottery, LotteryDeskError> {
        let id = id
            .and_then(|raw| LotteryId::parse(raw).ok())
            .ok_or_else(|| FieldError::new("id", "must be letters, digits, - and _ (1 to 40)"))?;
        let lottery = draft.parse(id)?;
        let templates = self.marketing.templates().await?;
        for (i, prize) in lottery.prizes.iter().enumerate() {
            let missing = match &prize.reward {
                Reward::Coupon { template } => {
                    (!templates.iter().any(|t| t.id.as_str() == template))
                        .then_some(("reward.template", "names no coupon template of the shop"))
                }
                Reward::Gift { sku_id } => self
                    .catalog
                    .sku(sku_id)
                    .await?
                    .is_none()
                    .then_some(("reward.skuId", "names no SKU of the catalog")),
                Reward::Points { .. } | Reward::Nothing => None,
            };
            if let Some((field, problem)) = missing {
                return Err(FieldError::new(format!("prizes[{i}].{field}"), problem).into());
            }
        }
        let audit = self.audit.as_ref().ok_or(LotteryDeskError::Unaudited)?;
        let writes = self.lotteries.create_writes(&lottery, now)?;
        let entry = actor.entry(
            "lottery.create",
            format!("lottery:{}", lottery.id),
            json!(null),
            json!(lottery),
            now,
        );
        match audit.commit(writes, entry).await? {
            Committed::Done(_) => Ok(lottery),
            Committed::Refused(_) => Err(LotteryDeskError::Exists),
        }
    }

    async fn lottery(&self, id: &str) -> Result<Lottery, LotteryDeskError> {
        let id = LotteryId::parse(id).map_err(|_| LotteryDeskError::NoSuchLottery)?;
        self.lotteries
            .lottery(&id)
            .await?
            .ok_or(LotteryDeskError::NoSuchLottery)
    }

    /// The shop's draws with what is left of each prize, latest start first.
    pub async fn lotteries(&self) -> Result<Vec<(Lottery, Vec<Option<u64>>)>, LotteryDeskError> {
        let lotteries = self.lotteries.lotteries().await?;
        let left =
            futures::future::try_join_all(lotteries.iter().map(|l| self.lotteries.left(l))).await?;
        Ok(lotteries.into_iter().zip(left).collect())
    }

    /// Whether `id` names a lucky draw of the shop.
    pub async fn exists(&self, id: &LotteryId) -> Result<bool, LotteryDeskError> {
        Ok(self.lotteries.lottery(id).await?.is_some())
    }

    /// A friend opened the sharer's link to the draw: a chance for the sharer, once per friend
    /// and within the draw's daily cap. False when it did not count (or the draw is gone).
    pub async fn friend_opened(
        &self,
        id: &LotteryId,
        sharer: &UserId,
        friend: &UserId,
        now: i64,
    ) -> Result<bool, LotteryDeskError> {
        let Some(lottery) = self.lotteries.lottery(id).await? else {
            return Ok(false);
        };
        if now < lottery.starts_at || now >= lottery.ends_at {
            return Ok(false);
        }
        Ok(self
            .lotteries
            .friend_opened(&lottery, sharer, friend, now)
            .await?)
    }

    /// The draw as the shopper sees it now.
    pub async fn view(
        &self,
        id: &str,
        user: &UserId,
        now: i64,
    ) -> Result<LotteryView, LotteryDeskError> {
        let lottery = self.lottery(id).await?;
        let (left, tally, balance, draws) = futures::try_join!(
            self.lotteries.left(&lottery),
            self.lotteries.tally(&lottery.id, user, now),
            self.points.balance(user),
            self.lotteries.draws(&lottery.id, user, MY_DRAWS),
        )?;
        Ok(LotteryView {
            chances: lottery.chances_left(&tally, balance),
            lottery,
            left,
            balance,
            draws,
        })
    }

    /// One draw for the shopper: won (with what), or refused by the draw's rules.
    pub async fn draw(&self, id: &str, user: &UserId, now: i64) -> Result<Drawn, LotteryDeskError> {
        let lottery = self.lottery(id).await?;
        let templates = self.marketing.templates().await?;
        // A CSPRNG of our own per draw: nobody can tell the next outcome from the last ones.
        let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
        Ok(self
            .lotteries
            .draw(&lottery, user, &templates, now, &mut rng)
            .await?)
    }

    /// The winner of a gift prize says where it goes: one order of the prize's SKU at no cost,
    /// created paid and shipped like any other. Once per draw: a second claim finds the first
    /// order.
    pub async fn claim_gift(
        &self,
        id: &str,
        draw_id: &str,
        user: &UserId,
        delivery: Option<Delivery>,
        now: i64,
    ) -> Result<GiftSent, LotteryDeskError> {
        let gifts = self.gifts.as_ref().ok_or(LotteryDeskError::NoGiftOrders)?;
        let catalog = &self.catalog;
        let lottery = self.lottery(id).await?;
        let draw = self
            .lotteries
            .draw_of(&lottery.id, user, draw_id)
            .await?
            .ok_or(LotteryDeskError::NoSuchDraw)?;
        let Reward::Gift { sku_id } = &draw.reward else {
            return Err(LotteryDeskError::NotAGift);
        };
        let key = format!("lottery-gift:{}", draw.id);
        if let Some(order_id) = &draw.order_id {
            return self.sent_before(gifts, draw.clone(), order_id).await;
        }
        let delivery = delivery.ok_or(LotteryDeskError::AddressNeeded)?;
        let sku = catalog
            .sku(sku_id)
            .await?
            .ok_or(LotteryDeskError::GiftOutOfStock)?;
        let order = gift_order(Gift {
            user,
            sku: &sku,
            image: gift_image(catalog, &sku).await?,
            title: &format!("{}：{}", lottery.title, draw.prize_name),
            cash: domain::money::Fen::ZERO,
            points: 0,
            mall_item: None,
            channel: "lottery",
            reason: format!("抽奖奖品：{}", draw.prize_name),
            address: delivery.address,
            now,
            pay_deadline: now + gifts.payment_seconds,
        });
        let writes = self.lotteries.gift_sent_writes(&draw, &order.id)?;
        match gifts
            .orders
            .create(&order, &delivery.payer, &key, &key, &[], writes)
            .await?
        {
            Created::Created => {}
            Created::KeyTaken { order_id, .. } => {
                return self.sent_before(gifts, draw, &order_id).await;
            }
            Created::OutOfStock(_) => return Err(LotteryDeskError::GiftOutOfStock),
            // The draw's record took an order meanwhile: a racing claim made it.
            Created::OfferTaken => {
                let raced = self
                    .lotteries
                    .draw_of(&lottery.id, user, draw_id)
                    .await?
                    .ok_or(LotteryDeskError::NoSuchDraw)?;
                let order_id = raced.order_id.clone().ok_or(LotteryDeskError::NoSuchDraw)?;
                return self.sent_before(gifts, raced, &order_id).await;
            }
            Created::PointsShort | Created::CouponTaken => {
                return Err(StoreError::Corrupt {
                    key,
                    problem: "a gift order took no points and no coupon".into(),
                }
                .into());
            }
        }
        gifts
            .fulfillment
            .send(&FulfillmentMessage::order_paid(&order.id, ""), 0)
            .await?;
        let mut draw = draw;
        draw.order_id = Some(order.id.clone());
        Ok(GiftSent {
            draw,
            order,
            repeated: false,
        })
    }

    /// A gift claimed before: its order, sent to fulfillment again in case the first claim
    /// stopped before it did (fulfillment ships an order once).
    async fn sent_before(
        &self,
        gifts: &GiftOrders,
        mut draw: DrawRecord,
        order_id: &domain::ids::OrderId,
    ) -> Result<GiftSent, LotteryDeskError> {
        let order = gifts
            .orders
            .get(order_id)
            .await?
            .ok_or(LotteryDeskError::NoSuchDraw)?
            .order;
        if order.status == domain::order::OrderStatus::Paid {
            gifts
                .fulfillment
                .send(&FulfillmentMessage::order_paid(&order.id, ""), 0)
                .await?;
        }
        draw.order_id = Some(order.id.clone());
        Ok(GiftSent {
            draw,
            order,
            repeated: true,
        })
    }

    /// Every draw of the lottery, oldest first, for the merchant to audit.
    pub async fn all_draws(
        &self,
        id: &str,
    ) -> Result<(Lottery, Vec<DrawRecord>), LotteryDeskError> {
        let lottery = self.lottery(id).await?;
        let draws = self.lotteries.all_draws(&lottery.id).await?;
        Ok((lottery, draws))
    }
}

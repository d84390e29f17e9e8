//! Lucky draws (抽奖): set up by staff (each audited), drawn by shoppers. One use case for the
//! merchant's API and the shoppers': the draft is checked by the domain's rules and the coupon
//! templates its prizes name must exist; a draw uses a CSPRNG (ChaCha12 seeded by the OS) and is
//! taken in one conditional transaction by the store.

use crate::staff::Actor;
use domain::field::FieldError;
use domain::ids::UserId;
use domain::lottery::{ChancesLeft, Lottery, LotteryDraft, LotteryId, Reward};
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::lottery::{DrawRecord, Drawn, LotteryStore};
use store::marketing::MarketingStore;
use store::points::PointsLedger;

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
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

impl LotteryDesk {
    pub fn new(lotteries: LotteryStore, marketing: MarketingStore, points: PointsLedger) -> Self {
        Self {
            lotteries,
            marketing,
            points,
            audit: None,
        }
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
            if let Reward::Coupon { template } = &prize.reward
                && !templates.iter().any(|t| t.id.as_str() == template)
            {
                return Err(FieldError::new(
                    format!("prizes[{i}].reward.template"),
                    "names no coupon template of the shop",
                )
                .into());
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

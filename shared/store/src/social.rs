//! Share links, invites, check-ins, group-buy groups and bargains in the marketing table
//! (keys `pk`, `sk`):
//! - `SHARE#<code>` / `SHARE`: who shared what, and `opens`; `SHARE#<code>` / `VISIT#<day>#<visitor>`
//!   makes a visitor count once a day
//! - `INVITES#<inviter>` / `INVITEE#<invitee>`: one invitee, written with the invitee's account;
//!   its `state` moves JOINED -> PENDING (first order paid) -> GRANTED | FORFEITED | NOT_REWARDED,
//!   each step conditional on the one before, so a reward is decided once
//! - `INVITES#<inviter>` / `DAY#<day>`: rewards granted that day, for the daily cap
//! - `CHECKIN#<user>` / `STREAK`: the last check-in day and the streak; the day's points entry
//!   (`checkin#<yyyy-mm-dd>` in the ledger) is what makes a check-in happen once a day
//! - `GROUP#<id>` / `GROUP`: a group-buy group with `seats` (taken, paid or not) and `paid`;
//!   `GROUP#<id>` / `MEMBER#<userId>`: one seat, keyed by shopper so nobody sits twice
//! - `BARGAIN#<id>` / `BARGAIN`: a bargain with its cuts drawn at the start and `helpers` so far;
//!   `BARGAIN#<id>` / `HELPER#<userId>`: one friend's cut

use super::points::{LedgerEntry, PointsLedger};
use super::{Item, StoreError, build_err, from_item, get_i64, key, n, put, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use domain::ids::OrderId;
use domain::ids::{BargainId, GroupId, ShareCode};
use domain::ids::{ProductId, SkuId, UserId};
use domain::money::Fen;
use domain::order::{Order, OrderStatus, StatusChange};
use domain::promotions::CouponTemplate;
use domain::social::{
    BargainStatus, CheckinPolicy, GroupStatus, HelpRefusal, InvitePolicy, InviteState, Profile,
    next_streak, shanghai_day,
};
use serde::{Deserialize, Serialize};

pub(crate) fn group_key(id: &GroupId) -> Item {
    key(format!("GROUP#{id}"), "GROUP")
}

pub(crate) fn member_key(id: &GroupId, user: &UserId) -> Item {
    key(format!("GROUP#{id}"), format!("MEMBER#{user}"))
}

pub(crate) fn bargain_key(id: &BargainId) -> Item {
    key(format!("BARGAIN#{id}"), "BARGAIN")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Share {
    pub code: ShareCode,
    pub sharer_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<ProductId>,
    /// A lucky draw shared: each friend who opens it gives the sharer a chance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lottery_id: Option<domain::lottery::LotteryId>,
    pub created_at: i64,
    #[serde(default)]
    pub opens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invite {
    pub inviter_id: UserId,
    pub invitee_id: UserId,
    pub code: ShareCode,
    pub joined_at: i64,
    pub state: InviteState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_order_id: Option<OrderId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<i64>,
    #[serde(default)]
    pub points: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<String>,
    /// Why a reward was not given, in the shop's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstOrder {
    /// This order is the invitee's first paid one: its fate decides the reward.
    First,
    /// An earlier order was first.
    NotFirst,
    /// No such invite.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Granted {
        points: u64,
        coupon: Option<String>,
    },
    /// The inviter's daily cap was full, or the invitee is the inviter under another account.
    NotRewarded(String),
    Forfeited,
    /// Decided before: a duplicate.
    AlreadySettled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedIn {
    CheckedIn {
        streak: u32,
        points: u64,
        balance: u64,
    },
    AlreadyToday,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub id: GroupId,
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub price: Fen,
    pub regular_price: Fen,
    pub size: u8,
    pub time_limit_hours: u32,
    pub leader_id: UserId,
    pub status: GroupStatus,
    /// Seats taken, paid or still being paid for.
    pub seats: u32,
    pub paid: u32,
    pub created_at: i64,
    /// Set when the leader pays: the group's time runs from then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: UserId,
    pub order_id: OrderId,
    pub paid: bool,
    pub joined_at: i64,
    #[serde(flatten)]
    pub profile: Profile,
}

/// What paying does to the payer's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStep {
    /// The seat is paid; the order waits for the group.
    Waiting,
    /// This payment filled the group: every member's order ships.
    Completed,
    /// The group failed, closed or ran out of time before this payment: refund the order.
    TooLate,
    /// The order was not PAID (a duplicate message): nothing changed.
    OrderMoved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bargain {
    pub id: BargainId,
    pub owner_id: UserId,
    pub sku_id: SkuId,
    pub product_id: ProductId,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    pub start_price: Fen,
    pub floor_price: Fen,
    /// Drawn at the start; helper n cuts `cuts[n - 1]`, and they add up to start - floor.
    pub cuts: Vec<Fen>,
    pub helpers: u32,
    pub status: BargainStatus,
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
}

impl Bargain {
    pub fn max_helpers(&self) -> u32 {
        u32::try_from(self.cuts.len()).unwrap_or(u32::MAX)
    }

    /// The price after the helpers so far.
    pub fn price(&self) -> Fen {
        let cut: u64 = self
            .cuts
            .iter()
            .take(self.helpers as usize)
            .map(|c| c.get())
            .sum();
        self.start_price.saturating_sub(Fen::new(cut))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Helper {
    pub user_id: UserId,
    pub slot: u32,
    pub cut: Fen,
    pub at: i64,
    #[serde(flatten)]
    pub profile: Profile,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Help {
    Helped {
        helper: Helper,
        bargain: Box<Bargain>,
    },
    Refused(HelpRefusal),
    Unknown,
}

#[derive(Clone)]
pub struct SocialStore {
    client: Client,
    table: String,
    points: PointsLedger,
}

impl SocialStore {
    pub fn new(client: Client, marketing: impl Into<String>) -> Self {
        let table = marketing.into();
        Self {
            points: PointsLedger::new(client.clone(), &table),
            client,
            table,
        }
    }

    async fn get(&self, key: Item, what: &'static str) -> Result<Option<Item>, StoreError> {
        super::get_consistent(&self.client, &self.table, key, what).await
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: Item,
        what: &'static str,
    ) -> Result<Option<T>, StoreError> {
        self.get(key, what)
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
    }

    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        prefix: &str,
        what: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        super::query_prefix(&self.client, &self.table, &pk, prefix, what)
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        what: &'static str,
    ) -> Result<Option<Vec<bool>>, StoreError> {
        super::transact(&self.client, items, what).await
    }
}

/// Share links and the visits they bring.
impl SocialStore {
    pub async fn create_share(
        &self,
        sharer: &UserId,
        product: Option<&ProductId>,
        lottery: Option<&domain::lottery::LotteryId>,
        now: i64,
    ) -> Result<Share, StoreError> {
        loop {
            let share = Share {
                code: ShareCode::generate(),
                sharer_id: sharer.clone(),
                product_id: product.cloned(),
                lottery_id: lottery.cloned(),
                created_at: now,
                opens: 0,
            };
            let mut item = to_item(&share);
            super::privacy::tag(&mut item, sharer);
            item.extend(key(format!("SHARE#{}", share.code), "SHARE"));
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            match result {
                Ok(_) => return Ok(share),
                // 60 random bits met an existing code: draw again.
                Err(err) if super::condition_failed(&err) => continue,
                Err(err) => return Err(StoreError::dynamo("PutItem share", err)),
            }
        }
    }

    pub async fn share(&self, code: &ShareCode) -> Result<Option<Share>, StoreError> {
        self.read(key(format!("SHARE#{code}"), "SHARE"), "GetItem share")
            .await
    }

    /// Counts `visitor`'s open of the link, once per Shanghai day; true when it counted.
    pub async fn record_visit(
        &self,
        code: &ShareCode,
        visitor: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (_, day) = shanghai_day(now);
        let mut visit = key(format!("SHARE#{code}"), format!("VISIT#{day}#{visitor}"));
        visit.insert("at".into(), n(now));
        // A visit only matters for its day's count; DynamoDB drops it two days later.
        visit.insert("purgeAt".into(), n(now + 2 * 24 * 60 * 60));
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("SHARE#{code}"), "SHARE")))
            .update_expression("ADD opens :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(build_err)?;
        let failed = self
            .transact(
                vec![
                    put(&self.table, visit, Some("attribute_not_exists(pk)"))?,
                    TransactWriteItem::builder().update(count).build(),
                ],
                "TransactWriteItems share visit",
            )
            .await?;
        Ok(failed.is_none())
    }
}

/// Invites and their rewards.
impl SocialStore {
    /// The invite record, for the transaction that creates the invitee's account: an invitee
    /// is attributed when, and only when, their account is new.
    pub fn invite_write(
        &self,
        inviter: &UserId,
        invitee: &UserId,
        code: &ShareCode,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let invite = Invite {
            inviter_id: inviter.clone(),
            invitee_id: invitee.clone(),
            code: code.clone(),
            joined_at: now,
            state: InviteState::Joined,
            first_order_id: None,
            settled_at: None,
            points: 0,
            coupon_id: None,
            note: None,
        };
        let mut item = to_item(&invite);
        item.extend(invite_key(inviter, invitee));
        put(&self.table, item, Some("attribute_not_exists(pk)"))
    }

    pub async fn invites(&self, inviter: &UserId) -> Result<Vec<Invite>, StoreError> {
        let mut invites: Vec<Invite> = self
            .list(format!("INVITES#{inviter}"), "INVITEE#", "Query invites")
            .await?;
        invites.sort_by_key(|i| std::cmp::Reverse(i.joined_at));
        Ok(invites)
    }

    pub async fn invite(
        &self,
        inviter: &UserId,
        invitee: &UserId,
    ) -> Result<Option<Invite>, StoreError> {
        self.read(invite_key(inviter, invitee), "GetItem invite")
            .await
    }

    /// Marks `order` as the invitee's first paid order, unless another was first.
    pub async fn first_order_paid(
        &self,
        inviter: &UserId,
        invitee: &UserId,
        order: &OrderId,
    ) -> Result<FirstOrder, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(invite_key(inviter, invitee)))
            .update_expression("SET firstOrderId = :o, #st = :pending")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(firstOrderId)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":o", s(order.as_str()))
            .expression_attribute_values(":pending", s(InviteState::Pending.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(FirstOrder::First),
            Err(err) if super::condition_failed(&err) => {
                Ok(match self.invite(inviter, invitee).await? {
                    Some(i) if i.first_order_id.as_ref() == Some(order) => FirstOrder::First,
                    Some(_) => FirstOrder::NotFirst,
                    None => FirstOrder::Unknown,
                })
            }
            Err(err) => Err(StoreError::dynamo("UpdateItem invite first order", err)),
        }
    }

    fn settle_write(
        &self,
        invite: &Invite,
        to: InviteState,
        points: u64,
        coupon: Option<&str>,
        note: Option<&str>,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(invite_key(&invite.inviter_id, &invite.invitee_id)))
            .update_expression(
                "SET #st = :to, settledAt = :now, points = :points, couponId = :coupon, note = :note",
            )
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":pending", s(InviteState::Pending.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":points", n(points));
        update = update
            .expression_attribute_values(":coupon", coupon.map_or(AttributeValue::Null(true), s))
            .expression_attribute_values(":note", note.map_or(AttributeValue::Null(true), s));
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_err)?)
            .build())
    }

    /// The invitee's first order was refunded or cancelled: no reward, ever.
    pub async fn forfeit(&self, invite: &Invite, now: i64) -> Result<Settled, StoreError> {
        let write = self.settle_write(
            invite,
            InviteState::Forfeited,
            0,
            None,
            Some("首单已退款"),
            now,
        )?;
        Ok(
            match self
                .transact(vec![write], "UpdateItem forfeit invite")
                .await?
            {
                None => Settled::Forfeited,
                Some(_) => Settled::AlreadySettled,
            },
        )
    }

    /// Decides a pending invite once: the inviter's points (and coupon) with the day's count,
    /// or why not. Everything in one transaction conditional on the invite being PENDING.
    pub async fn grant(
        &self,
        invite: &Invite,
        policy: &InvitePolicy,
        coupon: Option<&CouponTemplate>,
        same_person: bool,
        now: i64,
    ) -> Result<Settled, StoreError> {
        if same_person {
            let note = "邀请人与被邀请人为同一人";
            let write =
                self.settle_write(invite, InviteState::NotRewarded, 0, None, Some(note), now)?;
            return Ok(
                match self.transact(vec![write], "UpdateItem invite").await? {
                    None => Settled::NotRewarded(note.into()),
                    Some(_) => Settled::AlreadySettled,
                },
            );
        }
        let (day, _) = shanghai_day(now);
        let day_key = key(
            format!("INVITES#{}", invite.inviter_id),
            format!("DAY#{day}"),
        );
        let mut with_coupon = coupon;
        for _ in 0..5 {
            let granted_today = self
                .get(day_key.clone(), "GetItem invite day")
                .await?
                .and_then(|i| get_i64(&i, "granted"))
                .unwrap_or(0);
            if granted_today >= i64::from(policy.daily_cap) {
                let note = "今日邀请奖励已达上限";
                let write =
                    self.settle_write(invite, InviteState::NotRewarded, 0, None, Some(note), now)?;
                return Ok(
                    match self.transact(vec![write], "UpdateItem invite").await? {
                        None => Settled::NotRewarded(note.into()),
                        Some(_) => Settled::AlreadySettled,
                    },
                );
            }
            // The day's count is read and written back conditionally: it also numbers the
            // inviter's reward coupons, so no two rewards can share one.
            let count = Update::builder()
                .table_name(&self.table)
                .set_key(Some(day_key.clone()))
                .update_expression("SET granted = :next")
                .condition_expression("attribute_not_exists(granted) OR granted = :read")
                .expression_attribute_values(":next", n(granted_today + 1))
                .expression_attribute_values(":read", n(granted_today))
                .build()
                .map_err(build_err)?;
            let issued = with_coupon.map(|t| {
                let number =
                    u32::try_from(100_000 + day * 1000 + granted_today + 1).unwrap_or(u32::MAX);
                (t, t.issue(number, now))
            });
            let mut items = vec![
                self.settle_write(
                    invite,
                    InviteState::Granted,
                    policy.points,
                    issued.as_ref().map(|(_, c)| c.id.to_string()).as_deref(),
                    None,
                    now,
                )?,
                TransactWriteItem::builder().update(count).build(),
            ];
            let coupon_at = items.len();
            if let Some((template, wallet)) = &issued {
                items.extend(super::marketing::grant_writes(
                    &self.table,
                    template,
                    &invite.inviter_id,
                    wallet,
                )?);
            }
            if policy.points > 0 {
                let entry = LedgerEntry {
                    key: format!("invite#{}", invite.invitee_id),
                    delta: i64::try_from(policy.points).unwrap_or(i64::MAX),
                    reason: "邀请好友奖励".into(),
                    order_id: invite.first_order_id.clone(),
                    at: now,
                };
                items.extend(self.points.entry_writes(&invite.inviter_id, &entry)?);
            }
            match self
                .transact(items, "TransactWriteItems grant invite")
                .await?
            {
                None => {
                    return Ok(Settled::Granted {
                        points: policy.points,
                        coupon: issued.map(|(_, c)| c.id.to_string()),
                    });
                }
                Some(failed) if failed.first() == Some(&true) => {
                    return Ok(Settled::AlreadySettled);
                }
                // The coupon ran out: the points still come.
                Some(failed) if with_coupon.is_some() && failed.get(coupon_at) == Some(&true) => {
                    tracing::warn!(inviter = %invite.inviter_id, "invite reward coupon sold out; points only");
                    with_coupon = None;
                }
                // Another reward took the day's next number: count again.
                Some(_) => {}
            }
        }
        Err(StoreError::Corrupt {
            key: format!("INVITES#{}", invite.inviter_id),
            problem: "invite reward kept conflicting".into(),
        })
    }
}

fn invite_key(inviter: &UserId, invitee: &UserId) -> Item {
    key(format!("INVITES#{inviter}"), format!("INVITEE#{invitee}"))
}

/// Daily check-in.
impl SocialStore {
    /// Today's check-in (Asia/Shanghai) at the shop's policy: one read of the policy, the streak
    /// and the balance, then the day's points entry (written only if absent, so two check-ins at
    /// once grant once) with the streak in one transaction. The balance answered is the one read
    /// plus today's points.
    pub async fn check_in(&self, user: &UserId, now: i64) -> Result<CheckedIn, StoreError> {
        let (today, today_text) = shanghai_day(now);
        let streak_key = key(format!("CHECKIN#{user}"), "STREAK");
        for _ in 0..3 {
            let keys = [
                super::marketing::rules_key(),
                streak_key.clone(),
                PointsLedger::balance_key(user),
            ]
            .map(|k| (self.table.clone(), k))
            .to_vec();
            let found = super::batch_get(&self.client, keys, true)
                .await?
                .remove(&self.table)
                .unwrap_or_default();
            let with_sk = |sk: &str| found.iter().find(|i| super::get_s(i, "sk") == Some(sk));
            let policy: CheckinPolicy = super::marketing::read_rules(with_sk("RULES"))?.checkin;
            let balance = PointsLedger::balance_of(with_sk("BALANCE"));
            let last = with_sk("STREAK").cloned();
            let last_day = last.as_ref().and_then(|i| get_i64(i, "lastDay"));
            if last_day == Some(today) {
                return Ok(CheckedIn::AlreadyToday);
            }
            let previous = last_day.map(|d| {
                let streak = last
                    .as_ref()
                    .and_then(|i| get_i64(i, "streak"))
                    .and_then(|s| u32::try_from(s).ok())
                    .unwrap_or(0);
                (d, streak)
            });
            let streak = next_streak(previous, today);
            let points = policy.points_for(streak);
            let mut item = streak_key.clone();
            item.insert("lastDay".into(), n(today));
            item.insert("streak".into(), n(streak));
            let condition = match last_day {
                Some(_) => "lastDay = :read",
                None => "attribute_not_exists(pk)",
            };
            let mut streak_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition);
            if let Some(d) = last_day {
                streak_put = streak_put.expression_attribute_values(":read", n(d));
            }
            let entry = LedgerEntry {
                key: format!("checkin#{today_text}"),
                delta: i64::try_from(points).unwrap_or(i64::MAX),
                reason: format!("每日签到（连续{streak}天）"),
                order_id: None,
                at: now,
            };
            let mut items = self.points.entry_writes(user, &entry)?.to_vec();
            items.push(
                TransactWriteItem::builder()
                    .put(streak_put.build().map_err(build_err)?)
                    .build(),
            );
            match self.transact(items, "TransactWriteItems check-in").await? {
                None => {
                    return Ok(CheckedIn::CheckedIn {
                        streak,
                        points,
                        balance: balance.saturating_add(points),
                    });
                }
                Some(failed) if failed.first() == Some(&true) => {
                    return Ok(CheckedIn::AlreadyToday);
                }
                // Another check-in moved the streak first: read it again.
                Some(_) => {}
            }
        }
        Ok(CheckedIn::AlreadyToday)
    }

    /// The streak as of `now`: the days in a row ending today or yesterday.
    pub async fn streak(&self, user: &UserId, now: i64) -> Result<(u32, bool), StoreError> {
        let (today, _) = shanghai_day(now);
        let item = self
            .get(
                key(format!("CHECKIN#{user}"), "STREAK"),
                "GetItem check-in streak",
            )
            .await?;
        let last = item.as_ref().and_then(|i| get_i64(i, "lastDay"));
        let streak = item
            .as_ref()
            .and_then(|i| get_i64(i, "streak"))
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        Ok(match last {
            Some(d) if d == today => (streak, true),
            Some(d) if d == today - 1 => (streak, false),
            _ => (0, false),
        })
    }
}

/// Group-buy groups.
impl SocialStore {
    pub fn group_from(item: &Item) -> Result<Group, StoreError> {
        from_item(item)
    }

    pub async fn group(&self, id: &GroupId) -> Result<Option<Group>, StoreError> {
        self.read(group_key(id), "GetItem group").await
    }

    pub async fn members(&self, id: &GroupId) -> Result<Vec<Member>, StoreError> {
        let mut members: Vec<Member> = self
            .list(format!("GROUP#{id}"), "MEMBER#", "Query group members")
            .await?;
        members.sort_by_key(|m| m.joined_at);
        Ok(members)
    }

    fn member_put(
        &self,
        group: &GroupId,
        member: &Member,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = to_item(member);
        super::privacy::tag(&mut item, &member.user_id);
        item.extend(member_key(group, &member.user_id));
        put(&self.table, item, Some("attribute_not_exists(pk)"))
    }

    /// The writes that start a group with its leader's seat, for the order's transaction.
    pub fn start_writes(
        &self,
        group: &Group,
        leader: &Member,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut item = to_item(group);
        item.extend(group_key(&group.id));
        Ok(vec![
            put(&self.table, item, Some("attribute_not_exists(pk)"))?,
            self.member_put(&group.id, leader)?,
        ])
    }

    /// The writes that take a seat in an open group, for the order's transaction: never past
    /// its size or its time, and one seat per shopper.
    pub fn join_writes(
        &self,
        group: &Group,
        member: &Member,
        now: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let seat = Update::builder()
            .table_name(&self.table)
            .set_key(Some(group_key(&group.id)))
            .update_expression("ADD seats :one")
            .condition_expression("#gs = :open AND seats < :size AND expiresAt > :now")
            .expression_attribute_names("#gs", "status")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":open", s(GroupStatus::Open.as_str()))
            .expression_attribute_values(":size", n(group.size))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_err)?;
        Ok(vec![
            TransactWriteItem::builder().update(seat).build(),
            self.member_put(&group.id, member)?,
        ])
    }

    /// The writes that give back an unpaid order's seat, for its cancel transaction (which is
    /// conditional on the order, so this happens once). A leader who never paid closes the group.
    pub fn release_writes(&self, order: &Order) -> Result<Vec<TransactWriteItem>, StoreError> {
        let Some(group) = &order.group_id else {
            return Ok(Vec::new());
        };
        let release = Update::builder()
            .table_name(&self.table)
            .set_key(Some(group_key(group)))
            .update_expression("ADD seats :minus")
            .expression_attribute_values(":minus", n(-1))
            .build()
            .map_err(build_err)?;
        let close = Update::builder()
            .table_name(&self.table)
            .set_key(Some(group_key(group)))
            .update_expression("ADD seats :minus SET #gs = :closed")
            .expression_attribute_names("#gs", "status")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":closed", s(GroupStatus::Closed.as_str()))
            .build()
            .map_err(build_err)?;
        let leaves = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(member_key(group, &order.user_id)))
            .build()
            .map_err(build_err)?;
        Ok(vec![
            TransactWriteItem::builder()
                .update(if order.group_leader { close } else { release })
                .build(),
            TransactWriteItem::builder().delete(leaves).build(),
        ])
    }

    /// A paid member's seat, for the group: `PAID -> WAITING_GROUP` with the group's count in one
    /// transaction. The leader's payment opens the group and starts its clock; the payment that
    /// fills it completes it. Conditional on the group as read, so racing payments count once each.
    pub async fn seat_paid(
        &self,
        orders_table: &str,
        order: &Order,
        now: i64,
    ) -> Result<GroupStep, StoreError> {
        let Some(group_id) = &order.group_id else {
            return Ok(GroupStep::OrderMoved);
        };
        for _ in 0..10 {
            let Some(group) = self.group(group_id).await? else {
                return Ok(GroupStep::TooLate);
            };
            let leader = group.leader_id == order.user_id;
            let accepting = match group.status {
                GroupStatus::AwaitingLeader => leader,
                GroupStatus::Open => group.expires_at.is_some_and(|e| now < e),
                _ => false,
            };
            if !accepting {
                return Ok(GroupStep::TooLate);
            }
            let completes = !leader && group.paid + 1 >= u32::from(group.size);
            let change = StatusChange {
                status: OrderStatus::WaitingGroup,
                at: now,
                reason: Some("等待成团".into()),
            };
            let waiting = Update::builder()
                .table_name(orders_table)
                .set_key(Some(
                    super::orders::order_key(&order.id).into_iter().collect(),
                ))
                .update_expression("SET #s = :waiting, history = list_append(history, :h)")
                .condition_expression("#s = :paid")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":waiting", s(OrderStatus::WaitingGroup.as_str()))
                .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
                .expression_attribute_values(":h", super::orders::history_entry(&change))
                .build()
                .map_err(build_err)?;
            let mut count = Update::builder()
                .table_name(&self.table)
                .set_key(Some(group_key(group_id)))
                .condition_expression("#gs = :read AND paid = :paid")
                .expression_attribute_names("#gs", "status")
                .expression_attribute_values(":read", s(group.status.as_str()))
                .expression_attribute_values(":paid", n(group.paid))
                .expression_attribute_values(":next", n(group.paid + 1));
            count = if leader {
                count
                    .update_expression(
                        "SET paid = :next, #gs = :open, expiresAt = :expires, leaderPaidAt = :now",
                    )
                    .expression_attribute_values(":open", s(GroupStatus::Open.as_str()))
                    .expression_attribute_values(
                        ":expires",
                        n(now + i64::from(group.time_limit_hours) * 3600),
                    )
                    .expression_attribute_values(":now", n(now))
            } else if completes {
                count
                    .update_expression("SET paid = :next, #gs = :done")
                    .expression_attribute_values(":done", s(GroupStatus::Completed.as_str()))
            } else {
                count.update_expression("SET paid = :next")
            };
            let seat = Update::builder()
                .table_name(&self.table)
                .set_key(Some(member_key(group_id, &order.user_id)))
                .update_expression("SET paid = :yes")
                .condition_expression("orderId = :o")
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .expression_attribute_values(":o", s(order.id.as_str()))
                .build()
                .map_err(build_err)?;
            let items = vec![
                TransactWriteItem::builder().update(waiting).build(),
                TransactWriteItem::builder()
                    .update(count.build().map_err(build_err)?)
                    .build(),
                TransactWriteItem::builder().update(seat).build(),
            ];
            match self
                .transact(items, "TransactWriteItems group seat paid")
                .await?
            {
                None if completes => return Ok(GroupStep::Completed),
                None => return Ok(GroupStep::Waiting),
                Some(failed) if failed.first() == Some(&true) => return Ok(GroupStep::OrderMoved),
                // The seat is not this order's (released at its deadline, then paid late).
                Some(failed) if failed.get(2) == Some(&true) => return Ok(GroupStep::TooLate),
                // Another member paid meanwhile: read the group again.
                Some(_) => {}
            }
        }
        Err(StoreError::Corrupt {
            key: format!("GROUP#{group_id}"),
            problem: "group kept changing while counting a payment".into(),
        })
    }

    /// `OPEN -> FAILED` once its time is up short of members.
    pub async fn fail_group(&self, id: &GroupId, now: i64) -> Result<bool, StoreError> {
        self.time_up(
            group_key(id),
            GroupStatus::Open.as_str(),
            GroupStatus::Failed.as_str(),
            now,
            "UpdateItem fail group",
        )
        .await
    }

    /// The writes that free a paid member's seat when they are refunded before the group
    /// completes, for the refund's transaction: only while the group is open.
    pub fn leave_writes(&self, order: &Order) -> Result<Vec<TransactWriteItem>, StoreError> {
        let Some(group) = &order.group_id else {
            return Ok(Vec::new());
        };
        let free = Update::builder()
            .table_name(&self.table)
            .set_key(Some(group_key(group)))
            .update_expression("ADD seats :minus, paid :minus")
            .condition_expression("#gs = :open")
            .expression_attribute_names("#gs", "status")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":open", s(GroupStatus::Open.as_str()))
            .build()
            .map_err(build_err)?;
        let leaves = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(member_key(group, &order.user_id)))
            .condition_expression("orderId = :o")
            .expression_attribute_values(":o", s(order.id.as_str()))
            .build()
            .map_err(build_err)?;
        Ok(vec![
            TransactWriteItem::builder().update(free).build(),
            TransactWriteItem::builder().delete(leaves).build(),
        ])
    }
}

/// Bargains.
impl SocialStore {
    pub fn bargain_from(item: &Item) -> Result<Bargain, StoreError> {
        from_item(item)
    }

    pub async fn start_bargain(&self, bargain: &Bargain) -> Result<(), StoreError> {
        let mut item = to_item(bargain);
        super::privacy::tag(&mut item, &bargain.owner_id);
        item.extend(bargain_key(&bargain.id));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem bargain", e))?;
        Ok(())
    }

    pub async fn bargain(&self, id: &BargainId) -> Result<Option<Bargain>, StoreError> {
        self.read(bargain_key(id), "GetItem bargain").await
    }

    pub async fn helpers(&self, id: &BargainId) -> Result<Vec<Helper>, StoreError> {
        let mut helpers: Vec<Helper> = self
            .list(format!("BARGAIN#{id}"), "HELPER#", "Query bargain helpers")
            .await?;
        helpers.sort_by_key(|h| h.slot);
        Ok(helpers)
    }

    /// A friend's cut: the next drawn cut, taken with the helper count conditional on the count
    /// as read and the friend's record written only if absent, so racing friends take distinct
    /// cuts and nobody helps twice.
    pub async fn help(
        &self,
        id: &BargainId,
        helper: &UserId,
        profile: &Profile,
        now: i64,
    ) -> Result<Help, StoreError> {
        for attempt in 0..200u32 {
            let Some(mut bargain) = self.bargain(id).await? else {
                return Ok(Help::Unknown);
            };
            let refusal = if &bargain.owner_id == helper {
                Some(HelpRefusal::OwnBargain)
            } else if bargain.status == BargainStatus::Ordered {
                Some(HelpRefusal::Closed)
            } else if bargain.status == BargainStatus::Expired || now >= bargain.expires_at {
                Some(HelpRefusal::Expired)
            } else if bargain.helpers >= bargain.max_helpers() {
                Some(HelpRefusal::Full)
            } else {
                None
            };
            if let Some(refusal) = refusal {
                return Ok(Help::Refused(refusal));
            }
            let slot = bargain.helpers + 1;
            let cut = bargain.cuts[bargain.helpers as usize];
            let record = Helper {
                user_id: helper.clone(),
                slot,
                cut,
                at: now,
                profile: profile.clone(),
            };
            let take = Update::builder()
                .table_name(&self.table)
                .set_key(Some(bargain_key(id)))
                .update_expression("SET helpers = :next")
                .condition_expression("helpers = :read AND #bs = :active AND expiresAt > :now")
                .expression_attribute_names("#bs", "status")
                .expression_attribute_values(":next", n(slot))
                .expression_attribute_values(":read", n(bargain.helpers))
                .expression_attribute_values(":active", s(BargainStatus::Active.as_str()))
                .expression_attribute_values(":now", n(now))
                .build()
                .map_err(build_err)?;
            let mut item = to_item(&record);
            super::privacy::tag(&mut item, helper);
            item.extend(key(format!("BARGAIN#{id}"), format!("HELPER#{helper}")));
            let items = vec![
                TransactWriteItem::builder().update(take).build(),
                put(&self.table, item, Some("attribute_not_exists(pk)"))?,
            ];
            match self
                .transact(items, "TransactWriteItems bargain help")
                .await?
            {
                None => {
                    bargain.helpers = slot;
                    return Ok(Help::Helped {
                        helper: record,
                        bargain: Box::new(bargain),
                    });
                }
                Some(failed) if failed.get(1) == Some(&true) => {
                    return Ok(Help::Refused(HelpRefusal::AlreadyHelped));
                }
                Some(_) => {
                    // Another friend took this cut: back off a little and read again.
                    let wait = rand::random_range(0..(5 + attempt.min(20) * 5));
                    tokio::time::sleep(std::time::Duration::from_millis(u64::from(wait))).await;
                }
            }
        }
        Err(StoreError::Corrupt {
            key: format!("BARGAIN#{id}"),
            problem: "bargain kept changing while helping".into(),
        })
    }

    /// The write that spends a bargain on its owner's order, for the order's transaction: once,
    /// while active and in time.
    pub fn order_write(
        &self,
        id: &BargainId,
        order: &Order,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(bargain_key(id)))
            .update_expression("SET #bs = :ordered, orderId = :o")
            .condition_expression("#bs = :active AND ownerId = :u AND expiresAt > :now")
            .expression_attribute_names("#bs", "status")
            .expression_attribute_values(":ordered", s(BargainStatus::Ordered.as_str()))
            .expression_attribute_values(":active", s(BargainStatus::Active.as_str()))
            .expression_attribute_values(":o", s(order.id.as_str()))
            .expression_attribute_values(":u", s(order.user_id.as_str()))
            .expression_attribute_values(":now", n(order.created_at))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The write that makes a cancelled order's bargain usable again; only from that order.
    pub fn return_write(
        &self,
        id: &BargainId,
        order: &OrderId,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(bargain_key(id)))
            .update_expression("SET #bs = :active REMOVE orderId")
            .condition_expression("orderId = :o")
            .expression_attribute_names("#bs", "status")
            .expression_attribute_values(":active", s(BargainStatus::Active.as_str()))
            .expression_attribute_values(":o", s(order.as_str()))
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// `ACTIVE -> EXPIRED` once its time is up.
    pub async fn expire_bargain(&self, id: &BargainId, now: i64) -> Result<bool, StoreError> {
        self.time_up(
            bargain_key(id),
            BargainStatus::Active.as_str(),
            BargainStatus::Expired.as_str(),
            now,
            "UpdateItem expire bargain",
        )
        .await
    }

    /// `status` from `from` to `to`, only once `expiresAt` has passed: true if this call moved it.
    async fn time_up(
        &self,
        key: Item,
        from: &str,
        to: &str,
        now: i64,
        what: &'static str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET #status = :to")
            .condition_expression("#status = :from AND expiresAt <= :now")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(to))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo(what, err)),
        }
    }
}

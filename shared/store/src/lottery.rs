//! Lucky draws (抽奖) in the marketing table (keys `pk`, `sk`):
//! - `LOTTERY#<id>` / `LOTTERY`: the draw as staff set it up; `LOTTERIES` / `LOTTERY#<id>`: the
//!   same again, so the shop's draws are one Query (a shop runs a handful at a time)
//! - `LOTTERY#<id>` / `PRIZE#<prizeId>`: `left` of a prize with a quantity; a win takes one
//!   with `left > 0` as its condition, so no prize is given past its quantity
//! - `LOTTERY#<id>#SHOPPER#<userId>` / `DAY#<yyyy-mm-dd>`: the shopper's day (`draws`,
//!   `freeUsed`, `friendChances`, `friendUsed`), each moved under the condition that keeps it
//!   within the draw's rules, so racing draws cannot pass a limit
//! - `LOTTERY#<id>#SHOPPER#<userId>` / `DRAW#<at>#<drawId>`: one draw, its chance and outcome
//! - `LOTTERY#<id>#SHOPPER#<userId>` / `FRIEND#<day>#<friendId>`: a friend's open, counted once
//! - `LOTTERY#<id>#DRAWS` / `<at>#<drawId>`: every draw again, for the merchant to audit
//!
//! A draw is one transaction: the day's counts, the chance's points (if bought), a unit of the
//! prize (if counted), the records and the reward (points into the ledger or a coupon into the
//! wallet). When the prize ran out meanwhile, the same draw gives the fallback prize instead.

use super::marketing::grant_writes;
use super::points::{LedgerEntry, PointsLedger};
use super::{Item, StoreError, build_err, from_item, get_i64, key, n, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use domain::ids::{PromotionId, UserId};
use domain::lottery::{Chance, DayTally, DrawRefusal, Lottery, LotteryId, Reward, draw};
use domain::promotions::CouponTemplate;
use domain::social::shanghai_day;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// One draw as the shopper and the merchant see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrawRecord {
    pub id: String,
    pub lottery_id: LotteryId,
    /// Whose draw: written as `shopperId`, apart from the `shopper` the `ByShopper` index
    /// reads, which only the shopper's own partition carries.
    #[serde(rename = "shopperId")]
    pub shopper: UserId,
    pub at: i64,
    pub chance: Chance,
    pub prize_id: String,
    pub prize_name: String,
    pub reward: Reward,
    /// The wallet coupon a coupon prize became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<String>,
    /// The order a gift prize ships with, once the winner gave an address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<domain::ids::OrderId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drawn {
    Won(Box<DrawRecord>),
    Refused(DrawRefusal),
}

#[derive(Clone)]
pub struct LotteryStore {
    client: Client,
    table: String,
    points: PointsLedger,
}

fn lottery_key(id: &LotteryId) -> Item {
    key(format!("LOTTERY#{id}"), "LOTTERY")
}

fn prize_key(id: &LotteryId, prize: &str) -> Item {
    key(format!("LOTTERY#{id}"), format!("PRIZE#{prize}"))
}

fn shopper_pk(id: &LotteryId, user: &UserId) -> String {
    format!("LOTTERY#{id}#SHOPPER#{user}")
}

/// How often a draw is tried again when other draws took what it read first.
const ATTEMPTS: usize = 8;

impl LotteryStore {
    pub fn new(client: Client, marketing: impl Into<String>) -> Self {
        let table = marketing.into();
        Self {
            points: PointsLedger::new(client.clone(), table.clone()),
            client,
            table,
        }
    }

    /// The writes that set up a new draw with its prizes' quantities, for a transaction with
    /// its audit record; the first is refused when the id is taken.
    pub fn create_writes(
        &self,
        lottery: &Lottery,
        now: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut writes = Vec::new();
        for place in [
            lottery_key(&lottery.id),
            key("LOTTERIES".into(), format!("LOTTERY#{}", lottery.id)),
        ] {
            let mut item = to_item(lottery);
            item.extend(place);
            item.insert("createdAt".into(), n(now));
            writes.push(super::put(
                &self.table,
                item,
                Some("attribute_not_exists(pk)"),
            )?);
        }
        for prize in &lottery.prizes {
            let Some(quantity) = prize.quantity else {
                continue;
            };
            let mut item = prize_key(&lottery.id, &prize.id);
            item.insert("left".into(), n(quantity));
            writes.push(super::put(&self.table, item, None)?);
        }
        Ok(writes)
    }

    /// The shop's draws, latest start first.
    pub async fn lotteries(&self) -> Result<Vec<Lottery>, StoreError> {
        let items = super::query_partition(
            &self.client,
            &self.table,
            "LOTTERIES",
            None,
            "Query lotteries",
        )
        .await?;
        let mut lotteries = items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<Lottery>, _>>()?;
        lotteries.sort_by(|a, b| b.starts_at.cmp(&a.starts_at).then_with(|| a.id.cmp(&b.id)));
        Ok(lotteries)
    }

    pub async fn lottery(&self, id: &LotteryId) -> Result<Option<Lottery>, StoreError> {
        self.get(lottery_key(id), "GetItem lottery")
            .await?
            .map(|item| from_item(&item))
            .transpose()
    }

    /// What is left of each prize, in the draw's order (`None`: not counted).
    pub async fn left(&self, lottery: &Lottery) -> Result<Vec<Option<u64>>, StoreError> {
        let keys: Vec<_> = lottery
            .prizes
            .iter()
            .filter(|p| p.quantity.is_some())
            .map(|p| (self.table.clone(), prize_key(&lottery.id, &p.id)))
            .collect();
        let found = if keys.is_empty() {
            Vec::new()
        } else {
            super::batch_get(&self.client, keys, true)
                .await?
                .remove(&self.table)
                .unwrap_or_default()
        };
        Ok(lottery
            .prizes
            .iter()
            .map(|p| {
                p.quantity.map(|_| {
                    let sk = format!("PRIZE#{}", p.id);
                    found
                        .iter()
                        .find(|i| super::get_s(i, "sk") == Some(sk.as_str()))
                        .and_then(|i| get_i64(i, "left"))
                        .and_then(|l| u64::try_from(l).ok())
                        .unwrap_or(0)
                })
            })
            .collect())
    }

    /// The shopper's use of the draw on the China day of `now`.
    pub async fn tally(
        &self,
        id: &LotteryId,
        user: &UserId,
        now: i64,
    ) -> Result<DayTally, StoreError> {
        let (_, day) = shanghai_day(now);
        let item = self
            .get(
                key(shopper_pk(id, user), format!("DAY#{day}")),
                "GetItem lottery day",
            )
            .await?;
        let count = |name: &str| {
            item.as_ref()
                .and_then(|i| get_i64(i, name))
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0)
        };
        Ok(DayTally {
            draws: count("draws"),
            free_used: count("freeUsed"),
            friend_chances: count("friendChances"),
            friend_used: count("friendUsed"),
        })
    }

    /// A friend opened the shopper's share link: one more chance today, once per friend and
    /// at most the draw's daily cap. False when it did not count (again, or over the cap).
    pub async fn friend_opened(
        &self,
        lottery: &Lottery,
        user: &UserId,
        friend: &UserId,
        now: i64,
    ) -> Result<bool, StoreError> {
        if friend == user || lottery.chances.friend_cap_per_day == 0 {
            return Ok(false);
        }
        let (_, day) = shanghai_day(now);
        let pk = shopper_pk(&lottery.id, user);
        let mut marker = key(pk.clone(), format!("FRIEND#{day}#{friend}"));
        marker.insert("at".into(), n(now));
        marker.insert("shopper".into(), s(user.as_str()));
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, format!("DAY#{day}"))))
            .update_expression("ADD friendChances :one SET shopper = :shopper")
            .condition_expression("attribute_not_exists(friendChances) OR friendChances < :cap")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(lottery.chances.friend_cap_per_day))
            .expression_attribute_values(":shopper", s(user.as_str()))
            .build()
            .map_err(build_err)?;
        let writes = vec![
            super::put(&self.table, marker, Some("attribute_not_exists(pk)"))?,
            TransactWriteItem::builder().update(count).build(),
        ];
        Ok(
            super::transact(&self.client, writes, "TransactWriteItems lottery friend")
                .await?
                .is_none(),
        )
    }

    /// One draw for the shopper: the chance its rules give them next, the prize `rng` lands on
    /// among those with units left, and its reward, all or nothing. `templates` are the coupon
    /// templates the draw's coupon prizes name.
    pub async fn draw(
        &self,
        lottery: &Lottery,
        user: &UserId,
        templates: &[CouponTemplate],
        now: i64,
        rng: &mut (impl Rng + Send),
    ) -> Result<Drawn, StoreError> {
        let Some(fallback) = lottery.fallback() else {
            return Err(StoreError::Corrupt {
                key: format!("LOTTERY#{}", lottery.id),
                problem: "no prize without a quantity".into(),
            });
        };
        for _ in 0..ATTEMPTS {
            let tally = self.tally(&lottery.id, user, now).await?;
            let balance = if lottery.chances.points_per_draw.is_some() {
                self.points.balance(user).await?
            } else {
                0
            };
            let chance = match lottery.next_chance(&tally, balance, now) {
                Ok(chance) => chance,
                Err(refusal) => return Ok(Drawn::Refused(refusal)),
            };
            let mut left = self.left(lottery).await?;
            // A coupon prize whose template is gone counts as run out.
            for (i, p) in lottery.prizes.iter().enumerate() {
                if let Reward::Coupon { template } = &p.reward
                    && coupon_template(templates, template).is_none()
                {
                    left[i] = Some(0);
                }
            }
            let mut prize = draw(&lottery.prizes, &left, rng).unwrap_or(fallback);
            // Numbered apart from claims (which count from 1), so a prize coupon has a wallet
            // key of its own.
            let coupon_number = rng.random_range(10_000_000..u32::MAX);
            // The prize drawn may run out under this draw's feet: then the same draw gives
            // the fallback (counted by nothing, so it cannot run out).
            loop {
                let record = DrawRecord {
                    id: domain::ids::random_token(16),
                    lottery_id: lottery.id.clone(),
                    shopper: user.clone(),
                    at: now,
                    chance,
                    prize_id: lottery.prizes[prize].id.clone(),
                    prize_name: lottery.prizes[prize].name.clone(),
                    reward: lottery.prizes[prize].reward.clone(),
                    coupon_id: None,
                    order_id: None,
                };
                let (writes, record, at) =
                    self.draw_writes(lottery, record, prize, templates, coupon_number, now)?;
                match super::transact(&self.client, writes, "TransactWriteItems lottery draw")
                    .await?
                {
                    None => return Ok(Drawn::Won(Box::new(record))),
                    Some(failed) => {
                        let failed_at = |i: Option<usize>| {
                            i.is_some_and(|i| failed.get(i).copied().unwrap_or(false))
                        };
                        if prize != fallback && (failed_at(at.prize) || failed_at(at.coupon)) {
                            left[prize] = Some(0);
                            prize = fallback;
                            continue;
                        }
                        // The day's counts or the balance moved (another draw of theirs), or
                        // DynamoDB saw two transactions at once: read again and decide again.
                        break;
                    }
                }
            }
        }
        Err(StoreError::Corrupt {
            key: shopper_pk(&lottery.id, user),
            problem: "lottery draw kept conflicting".into(),
        })
    }

    /// The transaction of one draw, the record it writes, and where in it the prize's and the
    /// coupon template's conditions are.
    fn draw_writes(
        &self,
        lottery: &Lottery,
        mut record: DrawRecord,
        prize: usize,
        templates: &[CouponTemplate],
        coupon_number: u32,
        now: i64,
    ) -> Result<(Vec<TransactWriteItem>, DrawRecord, Places), StoreError> {
        let (_, day) = shanghai_day(now);
        let user = &record.shopper;
        let pk = shopper_pk(&lottery.id, user);
        let mut places = Places::default();
        let mut day_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), format!("DAY#{day}"))))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(lottery.daily_limit))
            .expression_attribute_values(":shopper", s(user.as_str()));
        let within_limit = "(attribute_not_exists(draws) OR draws < :limit)";
        day_update = match record.chance {
            Chance::Free => day_update
                .update_expression("ADD draws :one, freeUsed :one SET shopper = :shopper")
                .condition_expression(format!(
                    "{within_limit} AND (attribute_not_exists(freeUsed) OR freeUsed < :free)"
                ))
                .expression_attribute_values(":free", n(lottery.chances.free_per_day)),
            Chance::Friend => day_update
                .update_expression("ADD draws :one, friendUsed :one SET shopper = :shopper")
                .condition_expression(format!(
                    "{within_limit} AND attribute_exists(friendChances) AND \
                     (attribute_not_exists(friendUsed) OR friendUsed < friendChances)"
                )),
            // What the shopper pays in points keeps a points draw to what they can afford;
            // the day's count keeps it to the limit.
            Chance::Points { .. } => day_update
                .update_expression("ADD draws :one SET shopper = :shopper")
                .condition_expression(within_limit),
        };
        let mut writes = vec![
            TransactWriteItem::builder()
                .update(day_update.build().map_err(build_err)?)
                .build(),
        ];
        let mut entries = Vec::new();
        if let Chance::Points { points } = record.chance {
            entries.push(LedgerEntry {
                key: format!("lottery#{}#{}", lottery.id, record.id),
                delta: -i64::try_from(points).unwrap_or(i64::MAX),
                reason: format!("抽奖：{}", lottery.title),
                order_id: None,
                at: now,
            });
        }
        if lottery.prizes[prize].quantity.is_some() {
            places.prize = Some(writes.len());
            writes.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(prize_key(&lottery.id, &record.prize_id)))
                            .update_expression("ADD #left :minus")
                            .condition_expression("#left > :zero")
                            .expression_attribute_names("#left", "left")
                            .expression_attribute_values(":minus", n(-1))
                            .expression_attribute_values(":zero", n(0))
                            .build()
                            .map_err(build_err)?,
                    )
                    .build(),
            );
        }
        match &record.reward {
            Reward::Points { points } => entries.push(LedgerEntry {
                key: format!("lottery#{}#{}#prize", lottery.id, record.id),
                delta: i64::try_from(*points).unwrap_or(i64::MAX),
                reason: format!("抽奖中奖：{}", record.prize_name),
                order_id: None,
                at: now,
            }),
            Reward::Coupon { template } => {
                let template =
                    coupon_template(templates, template).ok_or_else(|| StoreError::Corrupt {
                        key: format!("LOTTERY#{}", lottery.id),
                        problem: format!("prize {} names no coupon template", record.prize_id),
                    })?;
                let coupon = template.issue(coupon_number, now);
                record.coupon_id = Some(coupon.id.to_string());
                places.coupon = Some(writes.len());
                writes.extend(grant_writes(&self.table, template, user, &coupon)?);
            }
            Reward::Gift { .. } | Reward::Nothing => {}
        }
        if !entries.is_empty() {
            writes.extend(self.points.entries_writes(user, &entries)?);
        }
        let mut mine = to_item(&record);
        mine.extend(key(pk, format!("DRAW#{:012}#{}", record.at, record.id)));
        mine.insert("shopper".into(), s(user.as_str()));
        let mut audit = to_item(&record);
        audit.extend(key(
            format!("LOTTERY#{}#DRAWS", lottery.id),
            format!("{:012}#{}", record.at, record.id),
        ));
        for item in [mine, audit] {
            writes.push(super::put(
                &self.table,
                item,
                Some("attribute_not_exists(pk)"),
            )?);
        }
        Ok((writes, record, places))
    }

    /// One of the shopper's draws, by its id.
    pub async fn draw_of(
        &self,
        id: &LotteryId,
        user: &UserId,
        draw_id: &str,
    ) -> Result<Option<DrawRecord>, StoreError> {
        Ok(self
            .draws(id, user, usize::MAX)
            .await?
            .into_iter()
            .find(|d| d.id == draw_id))
    }

    /// The writes that mark a gift prize as sent with `order`, for the order's own
    /// transaction: the shopper's record only if no order was made for it yet (so a prize
    /// ships once), the merchant's copy with it.
    pub fn gift_sent_writes(
        &self,
        record: &DrawRecord,
        order: &domain::ids::OrderId,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mine = key(
            shopper_pk(&record.lottery_id, &record.shopper),
            format!("DRAW#{:012}#{}", record.at, record.id),
        );
        let audit = key(
            format!("LOTTERY#{}#DRAWS", record.lottery_id),
            format!("{:012}#{}", record.at, record.id),
        );
        [
            (
                mine,
                "attribute_exists(pk) AND attribute_not_exists(orderId)",
            ),
            (audit, "attribute_exists(pk)"),
        ]
        .into_iter()
        .map(|(item_key, condition)| {
            Ok(TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(item_key))
                        .update_expression("SET orderId = :order")
                        .condition_expression(condition)
                        .expression_attribute_values(":order", s(order.as_str()))
                        .build()
                        .map_err(build_err)?,
                )
                .build())
        })
        .collect()
    }

    /// The shopper's draws, newest first (at most `limit`).
    pub async fn draws(
        &self,
        id: &LotteryId,
        user: &UserId,
        limit: usize,
    ) -> Result<Vec<DrawRecord>, StoreError> {
        let items = super::query_prefix(
            &self.client,
            &self.table,
            &shopper_pk(id, user),
            "DRAW#",
            "Query lottery draws",
        )
        .await?;
        let mut draws = items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<DrawRecord>, _>>()?;
        draws.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        draws.truncate(limit);
        Ok(draws)
    }

    /// Every draw of the lottery, oldest first: what the merchant audits.
    pub async fn all_draws(&self, id: &LotteryId) -> Result<Vec<DrawRecord>, StoreError> {
        let items = super::query_partition(
            &self.client,
            &self.table,
            &format!("LOTTERY#{id}#DRAWS"),
            None,
            "Query lottery draw records",
        )
        .await?;
        items.iter().map(from_item).collect()
    }

    async fn get(&self, key: Item, what: &'static str) -> Result<Option<Item>, StoreError> {
        super::get_consistent(&self.client, &self.table, key, what).await
    }
}

fn coupon_template<'a>(templates: &'a [CouponTemplate], id: &str) -> Option<&'a CouponTemplate> {
    let id = PromotionId::parse(id).ok()?;
    templates.iter().find(|t| t.id == id)
}

/// Where in a draw's transaction the conditions that mean "this prize is gone" are.
#[derive(Default)]
struct Places {
    prize: Option<usize>,
    coupon: Option<usize>,
}

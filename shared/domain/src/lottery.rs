//! Lucky draws (抽奖): a draw the shop sets up for a window, its prizes (points, a coupon, a
//! physical gift or nothing), each with a quantity and a weight, and how a shopper gets chances:
//! a free one a day, one bought with points, one for each friend who opens their share link
//! (capped a day). The server draws; a prize is given only while a unit of it is left.
//!
//! What is here is the rule: which prize a draw lands on given what is left, which chance a
//! shopper's next draw uses, and a draft checked field by field. Taking a unit of a prize, the
//! chance and the points happens in one conditional transaction in the store.

use crate::field::FieldError;
use crate::ids::SkuId;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The most prizes a draw has (a wheel of 12 slices at most).
pub const MAX_PRIZES: usize = 12;

pub use crate::ids::LotteryId;

/// What winning a prize gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Reward {
    /// Points into the shopper's ledger.
    #[serde(rename_all = "camelCase")]
    Points { points: u64 },
    /// One coupon of this template into the shopper's wallet.
    #[serde(rename_all = "camelCase")]
    Coupon { template: String },
    /// One unit of this SKU, sent as a zero-price order.
    #[serde(rename_all = "camelCase")]
    Gift { sku_id: SkuId },
    /// 谢谢参与.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prize {
    /// Unique within its draw: `a-z`, `0-9`, `-`, `_`, 1 to 20 characters.
    pub id: String,
    pub name: String,
    pub reward: Reward,
    /// How many can be won over the whole draw; `None`: as many as are drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    /// Its share of the draws, against the other prizes' weights.
    pub weight: u32,
}

/// How a shopper gets chances to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChancePolicy {
    /// Free draws a day.
    #[serde(default)]
    pub free_per_day: u32,
    /// A draw bought with this many points; `None`: draws are not sold for points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points_per_draw: Option<u64>,
    /// A chance for each friend who opens the shopper's share link, at most this many a day.
    #[serde(default)]
    pub friend_cap_per_day: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lottery {
    pub id: LotteryId,
    pub title: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub prizes: Vec<Prize>,
    pub chances: ChancePolicy,
    /// Draws a shopper may make a day, however they got the chances.
    pub daily_limit: u32,
}

/// The chance a draw uses, recorded with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Chance {
    Free,
    Friend,
    Points { points: u64 },
}

/// What a shopper has used of a draw today (China day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayTally {
    pub draws: u32,
    pub free_used: u32,
    /// Chances earned today from friends who opened the share link (already capped).
    pub friend_chances: u32,
    pub friend_used: u32,
}

/// Why a draw was refused; nothing was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DrawRefusal {
    #[error("this lucky draw has not started yet")]
    NotStarted,
    #[error("this lucky draw has ended")]
    Ended,
    #[error("you have drawn as many times as a day allows; come back tomorrow")]
    DailyLimit,
    #[error("you have no chance to draw left today")]
    NoChance,
    #[error("you do not have enough points for a draw")]
    NotEnoughPoints,
}

impl DrawRefusal {
    pub fn code(self) -> &'static str {
        match self {
            DrawRefusal::NotStarted => "lottery_not_started",
            DrawRefusal::Ended => "lottery_ended",
            DrawRefusal::DailyLimit => "draw_limit_reached",
            DrawRefusal::NoChance => "no_draw_chance",
            DrawRefusal::NotEnoughPoints => "insufficient_points",
        }
    }
}

impl Lottery {
    /// The chance the shopper's next draw uses: a free one first, then one a friend earned,
    /// then one bought with points (`balance` is what they have).
    pub fn next_chance(
        &self,
        tally: &DayTally,
        balance: u64,
        now: i64,
    ) -> Result<Chance, DrawRefusal> {
        if now < self.starts_at {
            return Err(DrawRefusal::NotStarted);
        }
        if now >= self.ends_at {
            return Err(DrawRefusal::Ended);
        }
        if tally.draws >= self.daily_limit {
            return Err(DrawRefusal::DailyLimit);
        }
        if tally.free_used < self.chances.free_per_day {
            return Ok(Chance::Free);
        }
        if tally.friend_used < tally.friend_chances.min(self.chances.friend_cap_per_day) {
            return Ok(Chance::Friend);
        }
        match self.chances.points_per_draw {
            Some(points) if balance >= points => Ok(Chance::Points { points }),
            Some(_) => Err(DrawRefusal::NotEnoughPoints),
            None => Err(DrawRefusal::NoChance),
        }
    }

    /// Chances the shopper has left today, by kind (points draws are counted by the balance).
    pub fn chances_left(&self, tally: &DayTally, balance: u64) -> ChancesLeft {
        let draws_left = self.daily_limit.saturating_sub(tally.draws);
        let free = self.chances.free_per_day.saturating_sub(tally.free_used);
        let friend = tally
            .friend_chances
            .min(self.chances.friend_cap_per_day)
            .saturating_sub(tally.friend_used);
        let by_points = self
            .chances
            .points_per_draw
            .filter(|p| *p > 0)
            .map_or(0, |p| u32::try_from(balance / p).unwrap_or(u32::MAX));
        ChancesLeft {
            draws_left,
            free: free.min(draws_left),
            friend: friend.min(draws_left),
            by_points: by_points.min(draws_left),
        }
    }

    /// The prize that is given when the one drawn has run out: the fallback prize (without a
    /// quantity) of the largest weight. Every checked draw has one.
    pub fn fallback(&self) -> Option<usize> {
        self.prizes
            .iter()
            .enumerate()
            .filter(|(_, p)| p.quantity.is_none())
            .max_by_key(|(i, p)| (p.weight, std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChancesLeft {
    pub draws_left: u32,
    pub free: u32,
    pub friend: u32,
    pub by_points: u32,
}

/// Which prize a draw lands on: each prize with units left (`left[i]`, `None` for no limit)
/// by its weight against the others still in the draw. `None` only if nothing is left to win
/// at all, which a checked draw (with a prize of no quantity) never reaches.
pub fn draw(prizes: &[Prize], left: &[Option<u64>], rng: &mut impl Rng) -> Option<usize> {
    let open = |i: usize| left.get(i).copied().flatten() != Some(0);
    let total: u64 = prizes
        .iter()
        .enumerate()
        .filter(|(i, _)| open(*i))
        .map(|(_, p)| u64::from(p.weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut ticket = rng.random_range(0..total);
    for (i, prize) in prizes.iter().enumerate().filter(|(i, _)| open(*i)) {
        let weight = u64::from(prize.weight);
        if ticket < weight {
            return Some(i);
        }
        ticket -= weight;
    }
    None
}

/// A draw as staff write it; [`LotteryDraft::parse`] checks each field, naming the wrong one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LotteryDraft {
    pub title: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub prizes: Option<Vec<PrizeDraft>>,
    pub chances: Option<ChancePolicy>,
    pub daily_limit: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrizeDraft {
    pub id: Option<String>,
    pub name: Option<String>,
    pub reward: Option<Reward>,
    pub quantity: Option<i64>,
    pub weight: Option<i64>,
}

fn slug(raw: &str) -> bool {
    (1..=20).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl LotteryDraft {
    pub fn parse(&self, id: LotteryId) -> Result<Lottery, FieldError> {
        let refuse = |field: &str, problem: &str| Err(FieldError::new(field, problem));
        let title = self.title.as_deref().map(str::trim).unwrap_or("");
        if !(1..=30).contains(&title.chars().count()) || title.chars().any(char::is_control) {
            return refuse("title", "must be 1 to 30 characters");
        }
        let moment = crate::clock::moment_field;
        let starts_at = moment(self.starts_at.as_deref(), "startsAt")?;
        let ends_at = moment(self.ends_at.as_deref(), "endsAt")?;
        if ends_at <= starts_at {
            return refuse("endsAt", "the draw must end after it starts");
        }
        let daily_limit = self
            .daily_limit
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| (1..=100).contains(d))
            .ok_or_else(|| FieldError::new("dailyLimit", "must be 1 to 100 draws a day"))?;
        let chances = self.chances.unwrap_or_default();
        if chances.free_per_day > 10 {
            return refuse("chances.freePerDay", "must be 0 to 10");
        }
        if chances.friend_cap_per_day > 50 {
            return refuse("chances.friendCapPerDay", "must be 0 to 50");
        }
        if chances
            .points_per_draw
            .is_some_and(|p| !(1..=1_000_000).contains(&p))
        {
            return refuse("chances.pointsPerDraw", "must be 1 to 1000000 points");
        }
        if chances.free_per_day == 0
            && chances.friend_cap_per_day == 0
            && chances.points_per_draw.is_none()
        {
            return refuse(
                "chances",
                "give shoppers a way to draw: free draws, friends' opens or points",
            );
        }
        let drafts = self.prizes.as_deref().unwrap_or_default();
        if !(2..=MAX_PRIZES).contains(&drafts.len()) {
            return refuse("prizes", "must be 2 to 12 prizes");
        }
        let mut prizes = Vec::with_capacity(drafts.len());
        for (i, draft) in drafts.iter().enumerate() {
            let field = |name: &str| format!("prizes[{i}].{name}");
            let id = draft.id.as_deref().unwrap_or("");
            if !slug(id) {
                return Err(FieldError::new(
                    field("id"),
                    "must be 1 to 20 of a-z, 0-9, - and _",
                ));
            }
            if prizes.iter().any(|p: &Prize| p.id == id) {
                return Err(FieldError::new(field("id"), "is used by another prize"));
            }
            let name = draft.name.as_deref().map(str::trim).unwrap_or("");
            if !(1..=20).contains(&name.chars().count()) {
                return Err(FieldError::new(field("name"), "must be 1 to 20 characters"));
            }
            let reward = draft.reward.clone().ok_or_else(|| {
                FieldError::new(
                    field("reward"),
                    "is required: points, coupon, gift or nothing",
                )
            })?;
            match &reward {
                Reward::Points { points } if !(1..=100_000).contains(points) => {
                    return Err(FieldError::new(
                        field("reward.points"),
                        "must be 1 to 100000",
                    ));
                }
                Reward::Coupon { template }
                    if crate::ids::PromotionId::parse(template).is_err() =>
                {
                    return Err(FieldError::new(
                        field("reward.template"),
                        "must name a coupon template",
                    ));
                }
                _ => {}
            }
            let quantity = match draft.quantity {
                None => None,
                Some(q) => Some(
                    u64::try_from(q)
                        .ok()
                        .filter(|q| (1..=10_000_000).contains(q))
                        .ok_or_else(|| {
                            FieldError::new(field("quantity"), "must be 1 to 10000000, or left out")
                        })?,
                ),
            };
            if quantity.is_none() && !matches!(reward, Reward::Nothing | Reward::Points { .. }) {
                return Err(FieldError::new(
                    field("quantity"),
                    "a coupon or a gift needs a quantity",
                ));
            }
            let weight = draft
                .weight
                .and_then(|w| u32::try_from(w).ok())
                .filter(|w| (1..=1_000_000).contains(w))
                .ok_or_else(|| FieldError::new(field("weight"), "must be 1 to 1000000"))?;
            prizes.push(Prize {
                id: id.to_string(),
                name: name.to_string(),
                reward,
                quantity,
                weight,
            });
        }
        let lottery = Lottery {
            id,
            title: title.to_string(),
            starts_at,
            ends_at,
            prizes,
            chances,
            daily_limit,
        };
        if lottery.fallback().is_none() {
            return refuse(
                "prizes",
                "one prize must have no quantity (such as 谢谢参与), for draws after the others run out",
            );
        }
        Ok(lottery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn prize(id: &str, weight: u32, quantity: Option<u64>) -> Prize {
        Prize {
            id: id.into(),
            name: id.into(),
            reward: if quantity.is_some() {
                Reward::Coupon {
                    template: "c".into(),
                }
            } else {
                Reward::Nothing
            },
            quantity,
            weight,
        }
    }

    fn lottery(chances: ChancePolicy, daily_limit: u32) -> Lottery {
        Lottery {
            id: LotteryId::parse("wheel").unwrap(),
            title: "双十二大转盘".into(),
            starts_at: 1_000,
            ends_at: 2_000,
            prizes: vec![prize("big", 1, Some(3)), prize("none", 9, None)],
            chances,
            daily_limit,
        }
    }

    /// Pearson's chi-square statistic of `counts` against `weights`.
    fn chi_square(counts: &[u64], weights: &[u32]) -> f64 {
        let n: u64 = counts.iter().sum();
        let total: u32 = weights.iter().sum();
        counts
            .iter()
            .zip(weights)
            .map(|(&c, &w)| {
                let expected = n as f64 * f64::from(w) / f64::from(total);
                (c as f64 - expected).powi(2) / expected
            })
            .sum()
    }

    #[test]
    fn draws_land_on_prizes_in_the_proportion_of_their_weights() {
        // given five prizes of weights 1, 4, 10, 35 and 50 with nothing running out
        let weights = [1, 4, 10, 35, 50];
        let prizes: Vec<_> = weights
            .iter()
            .enumerate()
            .map(|(i, w)| prize(&format!("p{i}"), *w, None))
            .collect();
        let left = vec![None; prizes.len()];
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261212);
        // when 100,000 draws are made
        let mut counts = vec![0u64; prizes.len()];
        for _ in 0..100_000 {
            counts[draw(&prizes, &left, &mut rng).unwrap()] += 1;
        }
        // then the counts fit the weights: chi-square under 18.47, the 0.1% critical value
        // for 4 degrees of freedom
        let statistic = chi_square(&counts, &weights);
        assert!(statistic < 18.47, "chi-square {statistic} for {counts:?}");
    }

    #[test]
    fn a_prize_that_ran_out_is_never_drawn_and_the_rest_keep_their_proportions() {
        let prizes = vec![
            prize("gone", 50, Some(5)),
            prize("a", 1, None),
            prize("b", 3, None),
        ];
        let left = [Some(0), None, None];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut counts = [0u64; 3];
        for _ in 0..40_000 {
            counts[draw(&prizes, &left, &mut rng).unwrap()] += 1;
        }
        assert_eq!(counts[0], 0);
        // 3.84: the 5% critical value for 1 degree of freedom; 10.83 the 0.1% one
        assert!(chi_square(&counts[1..], &[1, 3]) < 10.83, "{counts:?}");
        // and with nothing left to win at all there is no prize to land on
        assert_eq!(draw(&prizes[..1], &[Some(0)], &mut rng), None);
    }

    #[test]
    fn a_shoppers_next_draw_uses_the_free_chance_then_a_friends_then_points() {
        // given one free draw a day, friends' chances up to 2 and draws at 100 points
        let l = lottery(
            ChancePolicy {
                free_per_day: 1,
                points_per_draw: Some(100),
                friend_cap_per_day: 2,
            },
            5,
        );
        let mut tally = DayTally::default();
        assert_eq!(l.next_chance(&tally, 0, 1_500), Ok(Chance::Free));
        tally.free_used = 1;
        tally.draws = 1;
        // three friends opened the link, but only two count today
        tally.friend_chances = 3;
        tally.friend_used = 1;
        assert_eq!(l.next_chance(&tally, 0, 1_500), Ok(Chance::Friend));
        tally.friend_used = 2;
        assert_eq!(
            l.next_chance(&tally, 99, 1_500),
            Err(DrawRefusal::NotEnoughPoints)
        );
        assert_eq!(
            l.next_chance(&tally, 250, 1_500),
            Ok(Chance::Points { points: 100 })
        );
        let left = l.chances_left(&tally, 250);
        assert_eq!(
            (left.draws_left, left.free, left.friend, left.by_points),
            (4, 0, 0, 2)
        );
        // and the daily limit holds whatever chances are left
        tally.draws = 5;
        assert_eq!(
            l.next_chance(&tally, 250, 1_500),
            Err(DrawRefusal::DailyLimit)
        );
    }

    #[test]
    fn draws_are_refused_outside_the_window_and_without_a_way_to_draw() {
        let l = lottery(
            ChancePolicy {
                free_per_day: 1,
                ..ChancePolicy::default()
            },
            3,
        );
        let tally = DayTally {
            draws: 1,
            free_used: 1,
            ..DayTally::default()
        };
        assert_eq!(l.next_chance(&tally, 0, 999), Err(DrawRefusal::NotStarted));
        assert_eq!(l.next_chance(&tally, 0, 2_000), Err(DrawRefusal::Ended));
        assert_eq!(
            l.next_chance(&tally, 1_000_000, 1_500),
            Err(DrawRefusal::NoChance)
        );
    }

    fn draft() -> LotteryDraft {
        serde_json::from_value(serde_json::json!({
            "title": "双十二大转盘",
            "startsAt": "2026-12-12T00:00:00+08:00",
            "endsAt": "2026-12-13T00:00:00+08:00",
            "dailyLimit": 3,
            "chances": {"freePerDay": 1, "pointsPerDraw": 50, "friendCapPerDay": 3},
            "prizes": [
                {"id": "big", "name": "1000积分", "reward": {"kind": "points", "points": 1000},
                 "quantity": 3, "weight": 1},
                {"id": "coupon", "name": "20元券", "reward": {"kind": "coupon", "template": "new-user"},
                 "quantity": 100, "weight": 20},
                {"id": "points", "name": "10积分", "reward": {"kind": "points", "points": 10}, "weight": 30},
                {"id": "thanks", "name": "谢谢参与", "reward": {"kind": "nothing"}, "weight": 49}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn a_draft_becomes_a_draw_with_its_fallback() {
        let lottery = draft().parse(LotteryId::parse("d12").unwrap()).unwrap();
        assert_eq!(lottery.prizes.len(), 4);
        assert_eq!(lottery.ends_at - lottery.starts_at, 86_400);
        assert_eq!(lottery.prizes[0].reward, Reward::Points { points: 1000 });
        assert_eq!(lottery.prizes[0].quantity, Some(3));
        // the unlimited prize of the largest weight takes the draws of prizes that ran out
        assert_eq!(lottery.fallback(), Some(3));
    }

    #[test]
    fn a_wrong_draft_is_refused_by_the_field_that_is_wrong() {
        let id = || LotteryId::parse("d12").unwrap();
        let refused = |change: &dyn Fn(&mut LotteryDraft)| {
            let mut d = draft();
            change(&mut d);
            d.parse(id()).unwrap_err().field
        };
        assert_eq!(refused(&|d| d.title = Some(String::new())), "title");
        assert_eq!(refused(&|d| d.ends_at = d.starts_at.clone()), "endsAt");
        assert_eq!(refused(&|d| d.daily_limit = Some(0)), "dailyLimit");
        assert_eq!(
            refused(&|d| d.chances = Some(ChancePolicy::default())),
            "chances"
        );
        assert_eq!(
            refused(&|d| d.prizes.as_mut().unwrap()[1].id = Some("big".into())),
            "prizes[1].id"
        );
        assert_eq!(
            refused(&|d| d.prizes.as_mut().unwrap()[1].quantity = None),
            "prizes[1].quantity"
        );
        assert_eq!(
            refused(&|d| d.prizes.as_mut().unwrap()[2].weight = Some(0)),
            "prizes[2].weight"
        );
        // a gift is counted: the shop sends each one
        assert_eq!(
            refused(&|d| {
                let prize = &mut d.prizes.as_mut().unwrap()[2];
                prize.reward = Some(Reward::Gift {
                    sku_id: SkuId::parse("longjing-1").unwrap(),
                });
                prize.quantity = None;
            }),
            "prizes[2].quantity"
        );
        // without a prize of no quantity, a draw could run out of prizes to give
        assert_eq!(
            refused(&|d| {
                for (i, p) in d.prizes.as_mut().unwrap().iter_mut().enumerate() {
                    p.quantity = Some(10 + i as i64);
                    p.reward = Some(Reward::Points { points: 5 });
                }
            }),
            "prizes"
        );
    }
}

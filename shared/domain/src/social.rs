//! Social selling (社交裂变): share codes and invites, daily check-in, group-buy (拼团) and
//! bargain (砍价). The rules here are pure; `store::social` keeps their state.

use crate::ids::PromotionId;
use crate::money::Fen;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

const DAY: i64 = 24 * 60 * 60;
/// China Standard Time: a shop's "day" (check-in, reward caps) starts at midnight in Shanghai.
const SHANGHAI_OFFSET: i64 = 8 * 60 * 60;

/// The calendar day in Asia/Shanghai as days since 1970-01-01, and as `yyyy-mm-dd`.
pub fn shanghai_day(epoch_seconds: i64) -> (i64, String) {
    let index = (epoch_seconds + SHANGHAI_OFFSET).div_euclid(DAY);
    let text = time::OffsetDateTime::from_unix_timestamp(index * DAY)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_default();
    (index, text)
}

use crate::field::FieldError;

/// What an invitee's first kept order earns the inviter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitePolicy {
    pub points: u64,
    /// A coupon template given too; its total still limits how many exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_template: Option<PromotionId>,
    /// Rewards one inviter can earn per day (Asia/Shanghai); more invitees still count, unrewarded.
    pub daily_cap: u32,
}

impl Default for InvitePolicy {
    fn default() -> Self {
        Self {
            points: 100,
            coupon_template: None,
            daily_cap: 20,
        }
    }
}

/// Daily check-in (签到): `points` a day, plus `streak_bonus` for every consecutive day before
/// today, counted up to `streak_cap` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckinPolicy {
    pub points: u64,
    pub streak_bonus: u64,
    pub streak_cap: u32,
}

impl Default for CheckinPolicy {
    fn default() -> Self {
        Self {
            points: 5,
            streak_bonus: 1,
            streak_cap: 7,
        }
    }
}

impl CheckinPolicy {
    /// Points for the `streak`-th consecutive day (the first day is 1).
    pub fn points_for(&self, streak: u32) -> u64 {
        let extra_days = u64::from(streak.clamp(1, self.streak_cap.max(1)) - 1);
        self.points
            .saturating_add(self.streak_bonus.saturating_mul(extra_days))
    }
}

/// Today's streak, given the day of the previous check-in.
pub fn next_streak(last: Option<(i64, u32)>, today: i64) -> u32 {
    match last {
        Some((day, streak)) if day == today - 1 => streak.saturating_add(1),
        _ => 1,
    }
}

/// Where a group-buy group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupStatus {
    /// Started; opens to others when its leader pays.
    AwaitingLeader,
    /// The leader paid: friends can join until it is full or its time runs out.
    Open,
    /// Every seat paid: the members' orders ship.
    Completed,
    /// Time ran out short of members: every paid member is refunded.
    Failed,
    /// The leader never paid.
    Closed,
}

impl GroupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::AwaitingLeader => "AWAITING_LEADER",
            GroupStatus::Open => "OPEN",
            GroupStatus::Completed => "COMPLETED",
            GroupStatus::Failed => "FAILED",
            GroupStatus::Closed => "CLOSED",
        }
    }
}

/// Why a shopper cannot take a seat in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinRefusal {
    #[error("this group is full")]
    Full,
    #[error("this group's time is up")]
    Expired,
    #[error("this group is not taking members")]
    NotOpen,
    #[error("you cannot join your own group")]
    OwnGroup,
    #[error("you are already in this group")]
    AlreadyMember,
    #[error("this group is for another product")]
    OtherSku,
}

impl JoinRefusal {
    pub fn code(self) -> &'static str {
        match self {
            JoinRefusal::Full => "group_full",
            JoinRefusal::Expired => "group_expired",
            JoinRefusal::NotOpen => "group_not_open",
            JoinRefusal::OwnGroup => "group_own",
            JoinRefusal::AlreadyMember => "group_joined",
            JoinRefusal::OtherSku => "group_other_sku",
        }
    }
}

/// The cuts of a bargain, drawn when it starts: `helpers` random amounts of at least a fen each
/// that add up to `total` exactly, so the last allowed helper lands on the floor and nobody can
/// pass it. Early helpers tend to cut more (the usual 砍价 feel); the draw is uniform over the
/// ways to split `total`, then sorted largest first.
pub fn draw_cuts(total: Fen, helpers: u32, rng: &mut impl Rng) -> Vec<Fen> {
    let helpers = u64::from(helpers.max(1));
    let total = total.get();
    if total < helpers {
        // Unreachable for a checked offer; still never passes the floor.
        let mut cuts = vec![Fen::ZERO; helpers as usize];
        if let Some(last) = cuts.last_mut() {
            *last = Fen::new(total);
        }
        return cuts;
    }
    // Stars and bars: helpers - 1 distinct cut points in 1..total.
    let mut points = std::collections::BTreeSet::new();
    while (points.len() as u64) < helpers - 1 {
        points.insert(rng.random_range(1..total));
    }
    let mut cuts = Vec::with_capacity(helpers as usize);
    let mut previous = 0;
    for p in points.into_iter().chain(std::iter::once(total)) {
        cuts.push(Fen::new(p - previous));
        previous = p;
    }
    cuts.sort_by(|a, b| b.cmp(a));
    cuts
}

/// Where a bargain is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BargainStatus {
    Active,
    /// The owner placed an order at the bargained price.
    Ordered,
    Expired,
}

impl BargainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BargainStatus::Active => "ACTIVE",
            BargainStatus::Ordered => "ORDERED",
            BargainStatus::Expired => "EXPIRED",
        }
    }
}

/// Why a friend's help was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HelpRefusal {
    #[error("you cannot help your own bargain")]
    OwnBargain,
    #[error("you have helped this bargain already")]
    AlreadyHelped,
    #[error("this bargain has all the helpers it can take")]
    Full,
    #[error("this bargain's time is up")]
    Expired,
    #[error("this bargain has been used for an order")]
    Closed,
}

impl HelpRefusal {
    pub fn code(self) -> &'static str {
        match self {
            HelpRefusal::OwnBargain => "bargain_own",
            HelpRefusal::AlreadyHelped => "bargain_helped",
            HelpRefusal::Full => "bargain_full",
            HelpRefusal::Expired => "bargain_expired",
            HelpRefusal::Closed => "bargain_closed",
        }
    }
}

/// Where an invitee's reward stands, as the inviter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InviteState {
    /// Signed up; no paid order yet.
    Joined,
    /// Their first order is paid; the reward comes when its refund window passes unrefunded.
    Pending,
    Granted,
    /// Their first order was refunded or cancelled.
    Forfeited,
    /// The same person (same phone) or the inviter's daily cap was reached.
    NotRewarded,
}

impl InviteState {
    pub fn as_str(self) -> &'static str {
        match self {
            InviteState::Joined => "JOINED",
            InviteState::Pending => "PENDING",
            InviteState::Granted => "GRANTED",
            InviteState::Forfeited => "FORFEITED",
            InviteState::NotRewarded => "NOT_REWARDED",
        }
    }
}

/// Someone's public face in a group or a bargain: what they chose to show, never an openid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub nickname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

impl Default for Profile {
    /// What WeChat itself shows for a shopper who shared no profile.
    fn default() -> Self {
        Self {
            nickname: "微信用户".into(),
            avatar_url: None,
        }
    }
}

/// A shopper's chosen public face: `nickname` (1 to 20 characters) and an https `avatarUrl`.
impl Profile {
    /// Read from a request body's `<prefix>nickname` and `<prefix>avatarUrl`.
    pub fn from_json(body: &Value, prefix: &str) -> Result<Profile, FieldError> {
        let mut profile = Profile::default();
        match body.get("nickname") {
            None | Some(Value::Null) => {}
            Some(Value::String(n))
                if !n.trim().is_empty()
                    && n.trim().chars().count() <= 20
                    && !n.chars().any(char::is_control) =>
            {
                profile.nickname = n.trim().to_string();
            }
            Some(_) => {
                return Err(FieldError {
                    field: format!("{prefix}nickname"),
                    problem: "must be 1 to 20 characters of text".into(),
                });
            }
        }
        match body.get("avatarUrl") {
            None | Some(Value::Null) => {}
            Some(Value::String(u))
                if u.starts_with("https://")
                    && u.len() <= 300
                    && !u.chars().any(|c| c.is_control() || c.is_whitespace()) =>
            {
                profile.avatar_url = Some(u.clone());
            }
            Some(_) => {
                return Err(FieldError {
                    field: format!("{prefix}avatarUrl"),
                    problem: "must be an https URL of at most 300 characters".into(),
                });
            }
        }
        Ok(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ShareCode;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn profiles_name_the_bad_field() {
        assert_eq!(
            Profile::from_json(&json!({}), "").unwrap(),
            Profile::default()
        );
        let p = Profile::from_json(
            &json!({"nickname": " 小明 ", "avatarUrl": "https://a.example/x.png"}),
            "",
        )
        .unwrap();
        assert_eq!(p.nickname, "小明");
        for (body, field) in [
            (json!({"nickname": ""}), "nickname"),
            (json!({"nickname": "名".repeat(21)}), "nickname"),
            (json!({"nickname": 5}), "nickname"),
            (json!({"avatarUrl": "http://a.example/x.png"}), "avatarUrl"),
            (json!({"avatarUrl": "https://a b"}), "avatarUrl"),
        ] {
            assert_eq!(
                Some(Profile::from_json(&body, "").unwrap_err().field.as_str()),
                Some(field)
            );
        }
    }

    #[test]
    fn the_shop_day_turns_at_midnight_in_shanghai() {
        // 2026-11-24 15:59:59 UTC is 23:59:59 in Shanghai; a second later it is the 25th.
        let (a, a_text) = shanghai_day(1_795_535_999);
        let (b, b_text) = shanghai_day(1_795_536_000);
        assert_eq!(
            (a_text.as_str(), b_text.as_str()),
            ("2026-11-24", "2026-11-25")
        );
        assert_eq!(b, a + 1);
    }

    #[test]
    fn statuses_are_written_as_they_are_serialized() {
        for status in [
            BargainStatus::Active,
            BargainStatus::Ordered,
            BargainStatus::Expired,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        for status in [
            GroupStatus::AwaitingLeader,
            GroupStatus::Open,
            GroupStatus::Completed,
            GroupStatus::Failed,
            GroupStatus::Closed,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn a_streak_continues_only_from_yesterday() {
        assert_eq!(next_streak(None, 100), 1);
        assert_eq!(next_streak(Some((99, 3)), 100), 4);
        assert_eq!(next_streak(Some((98, 3)), 100), 1);
        let policy = CheckinPolicy {
            points: 5,
            streak_bonus: 2,
            streak_cap: 3,
        };
        assert_eq!(
            [1, 2, 3, 4, 9].map(|d| policy.points_for(d)),
            [5, 7, 9, 9, 9]
        );
    }

    #[test]
    fn codes_refuse_key_breaking_text() {
        assert!(ShareCode::parse(ShareCode::generate().as_str()).is_ok());
        for bad in ["abc", "a#bcdefg", &"a".repeat(33), "abc def"] {
            assert!(ShareCode::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn cuts_land_exactly_on_the_floor(total in 1u64..5_000_000, helpers in 1u32..=50) {
            prop_assume!(total >= u64::from(helpers));
            let cuts = draw_cuts(Fen::new(total), helpers, &mut rand::rng());
            prop_assert_eq!(cuts.len(), helpers as usize);
            prop_assert_eq!(cuts.iter().map(|c| c.get()).sum::<u64>(), total);
            prop_assert!(cuts.iter().all(|c| c.get() >= 1));
        }
    }
}

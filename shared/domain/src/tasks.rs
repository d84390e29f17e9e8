//! Points tasks (积分任务): what a shopper does to earn points beside buying. The merchant sets
//! each task's points, daily cap and window; a completion counts once (its ledger entry is keyed
//! by the event: this product viewed today, this friend's open today, the first review, the
//! phone bound), and no more than the cap a day.
//!
//! - `check-in`: the daily check-in, whose points follow the check-in policy (streak bonus)
//! - `view-product`: a product's page looked at for at least `seconds` (the product detail
//!   answer carries a signed view ticket; claiming it early or twice earns nothing)
//! - `share-opened`: a signed-in friend opening the shopper's share link (counted on its own)
//! - `first-review`: the shopper's first review with photos, once it is shown
//! - `bind-phone`: a phone number bound to the account, once

use crate::field::FieldError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    CheckIn,
    ViewProduct,
    ShareOpened,
    FirstReview,
    BindPhone,
}

impl TaskKind {
    pub const ALL: [TaskKind; 5] = [
        TaskKind::CheckIn,
        TaskKind::ViewProduct,
        TaskKind::ShareOpened,
        TaskKind::FirstReview,
        TaskKind::BindPhone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::CheckIn => "check-in",
            TaskKind::ViewProduct => "view-product",
            TaskKind::ShareOpened => "share-opened",
            TaskKind::FirstReview => "first-review",
            TaskKind::BindPhone => "bind-phone",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// Done once in a shopper's life, not once a day.
    pub fn once(self) -> bool {
        matches!(self, TaskKind::FirstReview | TaskKind::BindPhone)
    }

    /// What a shopper sees the task as, unless the merchant titles it.
    pub fn default_title(self) -> &'static str {
        match self {
            TaskKind::CheckIn => "每日签到",
            TaskKind::ViewProduct => "浏览商品",
            TaskKind::ShareOpened => "分享给好友",
            TaskKind::FirstReview => "首次晒单评价",
            TaskKind::BindPhone => "绑定手机号",
        }
    }
}

/// A task as the merchant set it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub kind: TaskKind,
    pub title: String,
    /// Points one completion earns (the check-in's come from its policy instead).
    pub points: u64,
    /// Completions that earn a day (1 for the once-only tasks).
    pub daily_cap: u32,
    /// For `view-product`: how long the page must have been open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u32>,
    pub starts_at: i64,
    pub ends_at: i64,
}

impl Task {
    pub fn active_at(&self, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// A task as staff write it; [`TaskDraft::parse`] checks each field, naming the wrong one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDraft {
    pub title: Option<String>,
    pub points: Option<i64>,
    pub daily_cap: Option<i64>,
    pub seconds: Option<i64>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

impl TaskDraft {
    pub fn parse(&self, kind: TaskKind) -> Result<Task, FieldError> {
        let title = match self.title.as_deref().map(str::trim) {
            None | Some("") => kind.default_title().to_string(),
            Some(t) if t.chars().count() <= 20 && !t.chars().any(char::is_control) => t.to_string(),
            Some(_) => return Err(FieldError::new("title", "must be at most 20 characters")),
        };
        let points = match (kind, self.points) {
            (TaskKind::CheckIn, None) => 0,
            (TaskKind::CheckIn, Some(_)) => {
                return Err(FieldError::new(
                    "points",
                    "the check-in's points follow its policy (POST /admin/v1/promotions/checkin)",
                ));
            }
            (_, p) => p
                .and_then(|p| u64::try_from(p).ok())
                .filter(|p| (1..=100_000).contains(p))
                .ok_or_else(|| FieldError::new("points", "must be 1 to 100000 points"))?,
        };
        let daily_cap = if kind.once() || kind == TaskKind::CheckIn {
            1
        } else {
            self.daily_cap
                .and_then(|c| u32::try_from(c).ok())
                .filter(|c| (1..=50).contains(c))
                .ok_or_else(|| FieldError::new("dailyCap", "must be 1 to 50 a day"))?
        };
        let seconds = match (kind, self.seconds) {
            (TaskKind::ViewProduct, s) => Some(
                s.and_then(|s| u32::try_from(s).ok())
                    .filter(|s| (3..=600).contains(s))
                    .ok_or_else(|| FieldError::new("seconds", "must be 3 to 600 seconds"))?,
            ),
            (_, None) => None,
            (_, Some(_)) => {
                return Err(FieldError::new(
                    "seconds",
                    "only a product view lasts seconds",
                ));
            }
        };
        let starts_at = crate::clock::moment_field(self.starts_at.as_deref(), "startsAt")?;
        let ends_at = crate::clock::moment_field(self.ends_at.as_deref(), "endsAt")?;
        if ends_at <= starts_at {
            return Err(FieldError::new(
                "endsAt",
                "the task must end after it starts",
            ));
        }
        Ok(Task {
            kind,
            title,
            points,
            daily_cap,
            seconds,
            starts_at,
            ends_at,
        })
    }
}

/// What a product view ticket says: who looked at which product, and when the page opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewTicket {
    #[serde(rename = "p")]
    pub product_id: crate::ids::ProductId,
    #[serde(rename = "t")]
    pub opened_at: i64,
}

/// A view ticket is claimed within this long of the page opening.
pub const VIEW_TICKET_SECONDS: i64 = 60 * 60;

/// Why a view ticket earns nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewRefusal {
    /// Claimed before the page was open long enough: `wait` more seconds.
    TooEarly {
        wait: i64,
    },
    Expired,
}

impl ViewTicket {
    pub fn judge(&self, seconds: u32, now: i64) -> Result<(), ViewRefusal> {
        let open_for = now - self.opened_at;
        if open_for < i64::from(seconds) {
            Err(ViewRefusal::TooEarly {
                wait: i64::from(seconds) - open_for,
            })
        } else if open_for > VIEW_TICKET_SECONDS {
            Err(ViewRefusal::Expired)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn draft(value: serde_json::Value) -> TaskDraft {
        serde_json::from_value(value).unwrap()
    }

    fn window() -> serde_json::Value {
        json!({"startsAt": "2026-12-01T00:00:00+08:00", "endsAt": "2027-01-01T00:00:00+08:00"})
    }

    fn with(mut base: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    #[test]
    fn a_view_task_needs_its_seconds_and_a_cap_and_others_take_none() {
        let view = draft(with(
            window(),
            json!({"points": 5, "dailyCap": 3, "seconds": 15}),
        ))
        .parse(TaskKind::ViewProduct)
        .unwrap();
        assert_eq!(
            (view.points, view.daily_cap, view.seconds),
            (5, 3, Some(15))
        );
        assert_eq!(view.title, "浏览商品");
        let refused = |kind, extra| draft(with(window(), extra)).parse(kind).unwrap_err().field;
        assert_eq!(
            refused(TaskKind::ViewProduct, json!({"points": 5, "dailyCap": 3})),
            "seconds"
        );
        assert_eq!(
            refused(TaskKind::ShareOpened, json!({"points": 5})),
            "dailyCap"
        );
        assert_eq!(refused(TaskKind::BindPhone, json!({"points": 0})), "points");
        assert_eq!(
            refused(TaskKind::BindPhone, json!({"points": 5, "seconds": 3})),
            "seconds"
        );
        assert_eq!(refused(TaskKind::CheckIn, json!({"points": 5})), "points");
        let once = draft(with(window(), json!({"points": 50, "dailyCap": 9})))
            .parse(TaskKind::FirstReview)
            .unwrap();
        assert_eq!(once.daily_cap, 1, "a once-only task completes once");
    }

    #[test]
    fn a_view_ticket_earns_after_its_seconds_and_before_it_expires() {
        let ticket = ViewTicket {
            product_id: crate::ids::ProductId::parse("longjing").unwrap(),
            opened_at: 1_000,
        };
        assert_eq!(
            ticket.judge(15, 1_010),
            Err(ViewRefusal::TooEarly { wait: 5 })
        );
        assert_eq!(ticket.judge(15, 1_015), Ok(()));
        assert_eq!(
            ticket.judge(15, 1_000 + VIEW_TICKET_SECONDS + 1),
            Err(ViewRefusal::Expired)
        );
    }

    #[test]
    fn kinds_read_back_from_their_names() {
        for kind in TaskKind::ALL {
            assert_eq!(TaskKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(TaskKind::parse("nap"), None);
    }
}

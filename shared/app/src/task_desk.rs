//! Points tasks (积分任务): set by staff (each audited), done by shoppers. One use case for the
//! merchant's API and the shoppers': today's tasks with what each shopper did of them, a claim
//! that proves the task was done (a product view ticket the function opened, the first shown
//! review with photos, the phone bound, the check-in itself), and the share-opened task that
//! counts when a friend opens the shopper's link. Each completion earns once, within its cap.

use crate::staff::Actor;
use domain::field::FieldError;
use domain::ids::UserId;
use domain::review::ReviewState;
use domain::social::shanghai_day;
use domain::tasks::{Task, TaskDraft, TaskKind, ViewRefusal, ViewTicket};
use serde::Serialize;
use serde_json::json;
use store::StoreError;
use store::audit::AuditLog;
use store::reviews::ReviewStore;
use store::social::{CheckedIn, SocialStore};
use store::tasks::{Completed, TaskStore};
use store::users::UserStore;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(FieldError),
    #[error("no such task, or it is not on now")]
    NoSuchTask,
    #[error("the task is not done yet")]
    NotDone(&'static str),
    #[error("the product page was not open long enough: {0} seconds more")]
    ViewTooEarly(i64),
    #[error("this view ticket is too old; open the product again")]
    ViewExpired,
    #[error("this completion earned its points already")]
    AlreadyDone,
    #[error("this task earned all it may today")]
    CapReached,
    #[error("this task counts itself when a friend opens your share link")]
    Automatic,
    #[error("this task desk keeps no audit log, so it changes no task")]
    Unaudited,
    #[error("this task desk reads no users or reviews, so it checks no claim of them")]
    CannotCheck,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FieldError> for TaskError {
    fn from(err: FieldError) -> Self {
        TaskError::Invalid(err)
    }
}

/// A task as a shopper sees it today.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskToday {
    #[serde(flatten)]
    pub task: Task,
    /// Completions that earned today (once-only tasks: ever).
    pub done: u32,
    /// Whether the shopper claims it (the share task counts itself).
    pub claimed_by_shopper: bool,
}

/// What a claim proves.
#[derive(Debug, Clone)]
pub enum Proof {
    Nothing,
    /// A product view ticket, already opened (and its signature checked) by the function.
    View(ViewTicket),
}

pub struct TaskDesk {
    tasks: TaskStore,
    social: SocialStore,
    /// Where the once-only tasks are proved: the shopper's phone and reviews (the shoppers'
    /// side only; the merchant's sets tasks and checks no claim).
    proofs: Option<(UserStore, ReviewStore)>,
    audit: Option<AuditLog>,
}

impl TaskDesk {
    pub fn new(tasks: TaskStore, social: SocialStore) -> Self {
        Self {
            tasks,
            social,
            proofs: None,
            audit: None,
        }
    }

    /// The shoppers' side: claims of a bound phone and a first review are checked here.
    pub fn checking_claims_in(mut self, users: UserStore, reviews: ReviewStore) -> Self {
        self.proofs = Some((users, reviews));
        self
    }

    pub fn with_audit(mut self, audit: AuditLog) -> Self {
        self.audit = Some(audit);
        self
    }

    /// Sets one task (`task.set` in the audit log, with what it was before).
    pub async fn configure(
        &self,
        kind: &str,
        draft: &TaskDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<Task, TaskError> {
        let kind = TaskKind::parse(kind).ok_or(TaskError::NoSuchTask)?;
        let task = draft.parse(kind)?;
        let audit = self.audit.as_ref().ok_or(TaskError::Unaudited)?;
        let before = self
            .tasks
            .tasks()
            .await?
            .into_iter()
            .find(|t| t.kind == kind);
        let entry = actor.entry(
            "task.set",
            format!("task:{}", kind.as_str()),
            json!(before),
            json!(task),
            now,
        );
        audit
            .commit(vec![self.tasks.put_write(&task)?], entry)
            .await?;
        Ok(task)
    }

    /// Every task the merchant set, on or not.
    pub async fn tasks(&self) -> Result<Vec<Task>, TaskError> {
        Ok(self.tasks.tasks().await?)
    }

    async fn task(&self, kind: TaskKind, now: i64) -> Result<Option<Task>, StoreError> {
        Ok(self
            .tasks
            .tasks()
            .await?
            .into_iter()
            .find(|t| t.kind == kind && t.active_at(now)))
    }

    /// Today's tasks (those on now) with what the shopper did of each.
    pub async fn today(&self, user: &UserId, now: i64) -> Result<Vec<TaskToday>, TaskError> {
        let (tasks, done, (_, checked_in)) = futures::try_join!(
            self.tasks.tasks(),
            self.tasks.done(user, now),
            self.social.streak(user, now),
        )?;
        Ok(tasks
            .into_iter()
            .filter(|t| t.active_at(now))
            .map(|task| TaskToday {
                done: match task.kind {
                    TaskKind::CheckIn => u32::from(checked_in),
                    kind => done.get(&kind).copied().unwrap_or(0),
                },
                claimed_by_shopper: task.kind != TaskKind::ShareOpened,
                task,
            })
            .collect())
    }

    /// The shopper claims a task they did: the points it earns (0 when the check-in policy
    /// gives none), or why it earns nothing.
    pub async fn claim(
        &self,
        user: &UserId,
        kind: &str,
        proof: Proof,
        now: i64,
    ) -> Result<u64, TaskError> {
        let kind = TaskKind::parse(kind).ok_or(TaskError::NoSuchTask)?;
        let task = self.task(kind, now).await?.ok_or(TaskError::NoSuchTask)?;
        let event = match (kind, proof) {
            (TaskKind::CheckIn, _) => {
                return match self.social.check_in(user, now).await? {
                    CheckedIn::CheckedIn { points, .. } => Ok(points),
                    CheckedIn::AlreadyToday => Err(TaskError::CapReached),
                };
            }
            (TaskKind::ShareOpened, _) => return Err(TaskError::Automatic),
            (TaskKind::ViewProduct, Proof::View(ticket)) => {
                ticket
                    .judge(task.seconds.unwrap_or(0), now)
                    .map_err(|refusal| match refusal {
                        ViewRefusal::TooEarly { wait } => TaskError::ViewTooEarly(wait),
                        ViewRefusal::Expired => TaskError::ViewExpired,
                    })?;
                // The day the page opened: one ticket, one product, one completion.
                let (_, opened_day) = shanghai_day(ticket.opened_at);
                format!("{}#{opened_day}", ticket.product_id)
            }
            (TaskKind::ViewProduct, Proof::Nothing) => {
                return Err(FieldError::new(
                    "ticket",
                    "is required: the viewTicket of the product's page",
                )
                .into());
            }
            (TaskKind::FirstReview, _) => {
                let (_, reviews) = self.proofs.as_ref().ok_or(TaskError::CannotCheck)?;
                let reviews = reviews.all_by_author(user).await?;
                if !reviews
                    .iter()
                    .any(|r| r.state == ReviewState::Shown && !r.photos.is_empty())
                {
                    return Err(TaskError::NotDone(
                        "review a delivered order with photos; it counts once it is shown",
                    ));
                }
                "once".into()
            }
            (TaskKind::BindPhone, _) => {
                let (users, _) = self.proofs.as_ref().ok_or(TaskError::CannotCheck)?;
                let bound = users.get(user).await?.is_some_and(|u| u.phone_bound());
                if !bound {
                    return Err(TaskError::NotDone("bind a phone number first"));
                }
                "once".into()
            }
        };
        match self.tasks.complete(user, &task, &event, now).await? {
            Completed::Earned { points } => Ok(points),
            Completed::AlreadyDone => Err(TaskError::AlreadyDone),
            Completed::CapReached => Err(TaskError::CapReached),
        }
    }

    /// A signed-in friend opened the sharer's link: the share task's points for the sharer,
    /// once per friend a day and within its cap. None when it earned nothing.
    pub async fn share_opened(
        &self,
        sharer: &UserId,
        friend: &UserId,
        now: i64,
    ) -> Result<Option<u64>, TaskError> {
        if sharer == friend {
            return Ok(None);
        }
        let Some(task) = self.task(TaskKind::ShareOpened, now).await? else {
            return Ok(None);
        };
        let (_, day) = shanghai_day(now);
        Ok(
            match self
                .tasks
                .complete(sharer, &task, &format!("{day}#{friend}"), now)
                .await?
            {
                Completed::Earned { points } => Some(points),
                Completed::AlreadyDone | Completed::CapReached => None,
            },
        )
    }
}

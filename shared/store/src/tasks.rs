//! Points tasks (积分任务) in the marketing table (keys `pk`, `sk`):
//! - `TASKS` / `TASK#<kind>`: a task as the merchant set it
//! - `TASKS#<userId>` / `DAY#<yyyy-mm-dd>#<kind>`: the shopper's completions of a daily task
//!   that day (`done`, moved under `done < cap`; gone two days on, `purgeAt`)
//! - `TASKS#<userId>` / `ONCE#<kind>`: a once-only task done
//!
//! A completion is one transaction: its ledger entry (keyed by the event, so the same event
//! earns once however often it is retried), the balance, and the day's count under the cap.

use super::points::{LedgerEntry, PointsLedger};
use super::{Item, StoreError, build_err, from_item, get_i64, key, n, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use domain::ids::UserId;
use domain::social::shanghai_day;
use domain::tasks::{Task, TaskKind};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completed {
    Earned {
        points: u64,
    },
    /// This event earned before: nothing changed.
    AlreadyDone,
    /// The task earned its cap today (or, once-only, ever): nothing changed.
    CapReached,
}

#[derive(Clone)]
pub struct TaskStore {
    client: Client,
    table: String,
    points: PointsLedger,
}

fn task_key(kind: TaskKind) -> Item {
    key("TASKS".into(), format!("TASK#{}", kind.as_str()))
}

fn count_sk(task: &Task, day: &str) -> String {
    if task.kind.once() {
        format!("ONCE#{}", task.kind.as_str())
    } else {
        format!("DAY#{day}#{}", task.kind.as_str())
    }
}

impl TaskStore {
    pub fn new(client: Client, marketing: impl Into<String>) -> Self {
        let table = marketing.into();
        Self {
            points: PointsLedger::new(client.clone(), table.clone()),
            client,
            table,
        }
    }

    /// The write that sets a task, for a transaction with its audit record.
    pub fn put_write(&self, task: &Task) -> Result<TransactWriteItem, StoreError> {
        let mut item = to_item(task);
        item.extend(task_key(task.kind));
        super::put(&self.table, item, None)
    }

    /// The tasks the merchant set, in the order of [`TaskKind::ALL`].
    pub async fn tasks(&self) -> Result<Vec<Task>, StoreError> {
        let items =
            super::query_prefix(&self.client, &self.table, "TASKS", "TASK#", "Query tasks").await?;
        let mut tasks = items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<Task>, _>>()?;
        tasks.sort_by_key(|t| t.kind);
        Ok(tasks)
    }

    /// How often the shopper completed each task today (once-only ones: ever).
    pub async fn done(
        &self,
        user: &UserId,
        now: i64,
    ) -> Result<HashMap<TaskKind, u32>, StoreError> {
        let (_, day) = shanghai_day(now);
        let items = super::query_partition(
            &self.client,
            &self.table,
            &format!("TASKS#{user}"),
            None,
            "Query task counts",
        )
        .await?;
        let today = format!("DAY#{day}#");
        Ok(items
            .iter()
            .filter_map(|item| {
                let sk = super::get_s(item, "sk")?;
                let kind = sk
                    .strip_prefix(&today)
                    .or_else(|| sk.strip_prefix("ONCE#"))
                    .and_then(TaskKind::parse)?;
                let done = get_i64(item, "done").and_then(|d| u32::try_from(d).ok())?;
                Some((kind, done))
            })
            .collect())
    }

    /// One completion of `task` by the shopper, for `event` (what makes it this completion
    /// and no other: `longjing#2026-12-03`): the points, once, within the cap.
    pub async fn complete(
        &self,
        user: &UserId,
        task: &Task,
        event: &str,
        now: i64,
    ) -> Result<Completed, StoreError> {
        let (_, day) = shanghai_day(now);
        let entry = LedgerEntry {
            key: format!("task#{}#{event}", task.kind.as_str()),
            delta: i64::try_from(task.points).unwrap_or(i64::MAX),
            reason: format!("任务：{}", task.title),
            order_id: None,
            at: now,
        };
        let mut writes = self.points.entry_writes(user, &entry)?.to_vec();
        // A daily count goes two days on; a once-only one stays, as the task was done.
        let (update, purge_at) = if task.kind.once() {
            ("ADD done :one", None)
        } else {
            (
                "ADD done :one SET purgeAt = :purge",
                Some(n(now + 2 * 24 * 60 * 60)),
            )
        };
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(format!("TASKS#{user}"), count_sk(task, &day))))
            .update_expression(update)
            .condition_expression("attribute_not_exists(done) OR done < :cap")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(task.daily_cap));
        let count = match purge_at {
            Some(at) => count.expression_attribute_values(":purge", at),
            None => count,
        };
        writes.push(
            TransactWriteItem::builder()
                .update(count.build().map_err(build_err)?)
                .build(),
        );
        match super::transact(&self.client, writes, "TransactWriteItems task completion").await? {
            None => Ok(Completed::Earned {
                points: task.points,
            }),
            Some(failed) if failed.first() == Some(&true) => Ok(Completed::AlreadyDone),
            Some(failed) if failed.get(2) == Some(&true) => Ok(Completed::CapReached),
            Some(_) => Err(StoreError::Corrupt {
                key: format!("TASKS#{user}"),
                problem: "task completion refused for no condition of its own".into(),
            }),
        }
    }
}

//! What the marketing table holds about one shopper, found for the export of their data and
//! erased with their account (个人信息保护法).
//!
//! A shopper's own partitions (`POINTS#`, `TASKS#`, `MALL#SHOPPER#`, `WALLET#`, `CHECKIN#`,
//! `INVITES#<userId>`) are read by
//! key. Their records in other partitions carry `shopper = <userId>`, and the sparse
//! `ByShopper` index (keys only) finds them without a scan: their share links
//! (`SHARE#<code>` / `SHARE`), their seats in groups (`GROUP#<id>` / `MEMBER#<userId>`), the
//! bargains they started (`BARGAIN#<id>` / `BARGAIN`) and the cuts they gave
//! (`BARGAIN#<id>` / `HELPER#<userId>`). Share-link visits are not indexed: they name their
//! visitor only for a day's count, and DynamoDB drops them two days later (`purgeAt`).

use super::social::{Bargain, Helper, Member, Share};
use super::{Item, StoreError, batch_get, from_item, get_s, s};
use aws_sdk_dynamodb::Client;
use domain::ids::{BargainId, GroupId, UserId};
use domain::social::Profile;

pub const INDEX_BY_SHOPPER: &str = "ByShopper";
const SHOPPER: &str = "shopper";

/// Marks an item in someone else's partition as being about `user`, so `ByShopper` finds it.
pub(crate) fn tag(item: &mut Item, user: &UserId) {
    item.insert(SHOPPER.into(), s(user.as_str()));
}

/// The partitions that belong to one shopper alone.
fn own_partitions(user: &UserId) -> [String; 6] {
    [
        format!("POINTS#{user}"),
        format!("TASKS#{user}"),
        format!("MALL#SHOPPER#{user}"),
        format!("WALLET#{user}"),
        format!("CHECKIN#{user}"),
        format!("INVITES#{user}"),
    ]
}

/// A shopper's records in other partitions, as found through `ByShopper`.
#[derive(Debug, Default)]
pub struct Traces {
    pub shares: Vec<Share>,
    pub seats: Vec<(GroupId, Member)>,
    pub bargains: Vec<Bargain>,
    pub helped: Vec<(BargainId, Helper)>,
    /// Their lucky draws (抽奖) and what each gave.
    pub draws: Vec<crate::lottery::DrawRecord>,
    /// What they redeemed in the points mall (their own partition).
    pub redemptions: Vec<crate::points_mall::Redemption>,
}

/// What an erasure removed or blanked, for its log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Erased {
    /// Points, coupons, check-ins and invites: deleted.
    pub own_records: usize,
    /// Share links: deleted, so they no longer open or attribute anyone.
    pub shares: usize,
    /// Seats and cuts: their nickname and avatar replaced by WeChat's anonymous face.
    pub faces: usize,
}

#[derive(Clone)]
pub struct ShopperRecords {
    client: Client,
    table: String,
}

enum Trace {
    Share,
    Seat(GroupId),
    Bargain,
    Helped(BargainId),
    /// A lucky draw of theirs (`DRAW#`), or their day's counts and friends' opens there.
    Lottery {
        draw: bool,
    },
}

fn trace_of(key: &Item) -> Option<Trace> {
    let (pk, sk) = (get_s(key, "pk")?, get_s(key, "sk")?);
    if pk.starts_with("SHARE#") && sk == "SHARE" {
        Some(Trace::Share)
    } else if let (Some(group), true) = (pk.strip_prefix("GROUP#"), sk.starts_with("MEMBER#")) {
        GroupId::parse(group).ok().map(Trace::Seat)
    } else if pk.starts_with("BARGAIN#") && sk == "BARGAIN" {
        Some(Trace::Bargain)
    } else if let (Some(bargain), true) = (pk.strip_prefix("BARGAIN#"), sk.starts_with("HELPER#")) {
        BargainId::parse(bargain).ok().map(Trace::Helped)
    } else if pk.starts_with("LOTTERY#") && pk.contains("#SHOPPER#") {
        Some(Trace::Lottery {
            draw: sk.starts_with("DRAW#"),
        })
    } else {
        None
    }
}

impl ShopperRecords {
    pub fn new(client: Client, marketing: impl Into<String>) -> Self {
        Self {
            client,
            table: marketing.into(),
        }
    }

    /// The keys of every record about `user` in other partitions.
    async fn traced_keys(&self, user: &UserId) -> Result<Vec<Item>, StoreError> {
        let mut keys = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_BY_SHOPPER)
                .key_condition_expression("#shopper = :u")
                .expression_attribute_names("#shopper", SHOPPER)
                .expression_attribute_values(":u", s(user.as_str()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query ByShopper", e))?;
            keys.extend(out.items.unwrap_or_default().iter().map(super::table_key));
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(keys);
            }
        }
    }

    /// The keys of every record in the shopper's own partitions.
    async fn own_keys(&self, user: &UserId) -> Result<Vec<Item>, StoreError> {
        let mut keys = Vec::new();
        for pk in own_partitions(user) {
            keys.extend(
                super::query_partition(
                    &self.client,
                    &self.table,
                    &pk,
                    Some("pk, sk"),
                    "Query own records",
                )
                .await?,
            );
        }
        Ok(keys)
    }

    /// The shopper's share links, seats, bargains and cuts, read in full.
    pub async fn traces(&self, user: &UserId) -> Result<Traces, StoreError> {
        let keys = self.traced_keys(user).await?;
        let found = batch_get(
            &self.client,
            keys.into_iter().map(|k| (self.table.clone(), k)).collect(),
            false,
        )
        .await?;
        let mut traces = Traces::default();
        for item in found.get(&self.table).into_iter().flatten() {
            match trace_of(item) {
                Some(Trace::Share) => traces.shares.push(from_item(item)?),
                Some(Trace::Seat(group)) => traces.seats.push((group, from_item(item)?)),
                Some(Trace::Bargain) => traces.bargains.push(from_item(item)?),
                Some(Trace::Helped(bargain)) => traces.helped.push((bargain, from_item(item)?)),
                Some(Trace::Lottery { draw: true }) => traces.draws.push(from_item(item)?),
                Some(Trace::Lottery { draw: false }) | None => {}
            }
        }
        traces.shares.sort_by_key(|s| s.created_at);
        traces.seats.sort_by_key(|(_, m)| m.joined_at);
        traces.bargains.sort_by_key(|b| b.created_at);
        traces.helped.sort_by_key(|(_, h)| h.at);
        traces.draws.sort_by_key(|d| d.at);
        traces.redemptions = super::query_prefix(
            &self.client,
            &self.table,
            &format!("MALL#SHOPPER#{user}"),
            "REDEEM#",
            "Query own redemptions",
        )
        .await?
        .iter()
        .map(from_item)
        .collect::<Result<_, _>>()?;
        Ok(traces)
    }

    /// Replaces the shopper's nickname and avatar on their seats and cuts with WeChat's
    /// anonymous face (the group and the bargain still count them). With `untag`, the records
    /// also stop naming the shopper to `ByShopper`, as when the account goes.
    pub async fn erase_faces(&self, user: &UserId, untag: bool) -> Result<usize, StoreError> {
        let keys = self.traced_keys(user).await?;
        let mut faces = 0;
        for key in keys {
            match trace_of(&key) {
                Some(Trace::Seat(_) | Trace::Helped(_)) => {
                    self.blank_face(key, untag).await?;
                    faces += 1;
                }
                Some(Trace::Bargain) if untag => self.untag(key).await?,
                _ => {}
            }
        }
        Ok(faces)
    }

    /// Everything about the shopper in the marketing table, for their account's deletion: their
    /// own records (points, coupons, check-ins, invites) deleted, their share links deleted,
    /// their face blanked on seats and cuts, and nothing left naming them to `ByShopper`.
    /// Safe to repeat: a second run finds nothing left to do.
    pub async fn erase(&self, user: &UserId) -> Result<Erased, StoreError> {
        let own = self.own_keys(user).await?;
        let own_records = own.len();
        self.delete_all(own).await?;
        let mut erased = Erased {
            own_records,
            ..Erased::default()
        };
        for key in self.traced_keys(user).await? {
            match trace_of(&key) {
                Some(Trace::Share) => {
                    self.delete_share(key, user).await?;
                    erased.shares += 1;
                }
                Some(Trace::Seat(_) | Trace::Helped(_)) => {
                    self.blank_face(key, true).await?;
                    erased.faces += 1;
                }
                // Their own partition of a draw: the day's counts, friends' opens and draws. The
                // merchant's copy of each draw names only the opaque id of an account now gone.
                Some(Trace::Lottery { .. }) => {
                    erased.own_records += 1;
                    self.delete_all(vec![key]).await?;
                }
                Some(Trace::Bargain) | None => self.untag(key).await?,
            }
        }
        Ok(erased)
    }

    async fn blank_face(&self, key: Item, untag: bool) -> Result<(), StoreError> {
        let expression = if untag {
            "SET nickname = :anonymous REMOVE avatarUrl, #shopper"
        } else {
            "SET nickname = :anonymous REMOVE avatarUrl"
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":anonymous", s(Profile::default().nickname));
        if untag {
            update = update.expression_attribute_names("#shopper", SHOPPER);
        }
        match update.send().await {
            Ok(_) => Ok(()),
            // Gone meanwhile (a seat given back): nothing left to blank.
            Err(err) if super::condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::dynamo("UpdateItem blank face", err)),
        }
    }

    async fn untag(&self, key: Item) -> Result<(), StoreError> {
        match self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("REMOVE #shopper")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#shopper", SHOPPER)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if super::condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::dynamo("UpdateItem untag", err)),
        }
    }

    /// A share link goes only if it is the shopper's: the index is read eventually consistently.
    async fn delete_share(&self, key: Item, user: &UserId) -> Result<(), StoreError> {
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .condition_expression("sharerId = :u")
            .expression_attribute_values(":u", s(user.as_str()))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if super::condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::dynamo("DeleteItem share", err)),
        }
    }

    /// Deletes records of the shopper's own partitions. Unconditional on purpose: nothing else
    /// refers to them once the account's orders are all finished, and deleting twice is
    /// deleting once.
    async fn delete_all(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        super::delete_keys(&self.client, &self.table, &keys)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pk: &str, sk: &str) -> Item {
        [("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))].into()
    }

    #[test]
    fn each_kind_of_trace_is_told_apart_by_its_key() {
        assert!(matches!(
            trace_of(&key("SHARE#s_abc123", "SHARE")),
            Some(Trace::Share)
        ));
        assert!(trace_of(&key("SHARE#s_abc123", "VISIT#2026-12-01#u1")).is_none());
        assert!(matches!(
            trace_of(&key("GROUP#group1", "MEMBER#u1")),
            Some(Trace::Seat(g)) if g.as_str() == "group1"
        ));
        assert!(trace_of(&key("GROUP#group1", "GROUP")).is_none());
        assert!(matches!(
            trace_of(&key("BARGAIN#bargain1", "BARGAIN")),
            Some(Trace::Bargain)
        ));
        assert!(matches!(
            trace_of(&key("BARGAIN#bargain1", "HELPER#u2")),
            Some(Trace::Helped(b)) if b.as_str() == "bargain1"
        ));
        let mut without_sk = key("SHARE#x", "SHARE");
        without_sk.remove("sk");
        assert!(trace_of(&without_sk).is_none());
    }
}

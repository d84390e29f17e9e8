//! The points mall (积分商城) in the marketing table (keys `pk`, `sk`):
//! - `MALL` / `ITEM#<id>`: an item as staff listed it, with `left`, its redemption stock; a
//!   redemption takes one with `left > 0` as its condition, so no item goes past its stock
//! - `MALL#SHOPPER#<userId>` / `ITEM#<itemId>`: how many of the item the shopper holds
//!   (`redeemed`), moved under `redeemed < limit`, so racing redemptions cannot pass the limit
//! - `MALL#SHOPPER#<userId>` / `REDEEM#<at>#<redemptionId>`: one redemption, as they see it
//! - `MALL#REDEMPTIONS` / `<at>#<redemptionId>`: every redemption again, for the merchant
//!
//! A coupon is redeemed in one transaction: the unit, the shopper's count, the points (a ledger
//! entry keyed by the redemption, so a retry spends nothing twice), the coupon into the wallet
//! and the records. A gift's unit, count and records go into the transaction that creates its
//! order (see `OrderStore::create`), whose cancellation or refund gives the unit and the count
//! back with the points, once.

use super::marketing::grant_writes;
use super::points::{LedgerEntry, PointsLedger};
use super::{Item, StoreError, build_err, from_item, get_i64, key, n, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use domain::ids::{OrderId, UserId};
use domain::money::Fen;
use domain::order::Order;
use domain::points_mall::{MallItem, MallItemId, MallReward, RedeemRefusal};
use domain::promotions::{CouponTemplate, WalletCoupon};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One redemption as the shopper and the merchant see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Redemption {
    pub id: String,
    pub item_id: MallItemId,
    pub title: String,
    /// Whose redemption. The shopper's copy lives in their own partition (exported and
    /// erased with the account); the merchant's names only the opaque id.
    #[serde(rename = "shopperId")]
    pub shopper: UserId,
    pub at: i64,
    pub points: u64,
    pub cash: Fen,
    pub reward: MallReward,
    /// The wallet coupon a coupon item became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coupon_id: Option<String>,
    /// The order a gift ships with (its status says whether it was paid, shipped or cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    Done(Redemption),
    /// This redemption (the same id) went through before: nothing changed.
    Repeated(Redemption),
    Refused(RedeemRefusal),
}

/// An item with what is left of its stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    #[serde(flatten)]
    pub item: MallItem,
    pub left: u64,
}

#[derive(Clone)]
pub struct MallStore {
    client: Client,
    table: String,
    points: PointsLedger,
}

fn item_key(id: &MallItemId) -> Item {
    key("MALL".into(), format!("ITEM#{id}"))
}

fn shopper_pk(user: &UserId) -> String {
    format!("MALL#SHOPPER#{user}")
}

fn count_key(user: &UserId, id: &MallItemId) -> Item {
    key(shopper_pk(user), format!("ITEM#{id}"))
}

/// A redemption's id from the shopper and the key their request carried: a retry of the same
/// request is the same redemption.
pub fn redemption_id(user: &UserId, idempotency_key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("{user}#{idempotency_key}").as_bytes(),
    );
    digest.as_ref()[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The writes that give a cancelled or refunded gift order's unit back to the mall and the
/// shopper's count back to them, for the transaction that moves the order (whose condition on
/// the status makes them happen once).
pub(crate) fn release_writes(
    table: &str,
    order: &Order,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let Some(id) = &order.mall_item else {
        return Ok(Vec::new());
    };
    let unit = Update::builder()
        .table_name(table)
        .set_key(Some(item_key(id)))
        .update_expression("ADD #left :one")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_names("#left", "left")
        .expression_attribute_values(":one", n(1))
        .build()
        .map_err(build_err)?;
    let count = Update::builder()
        .table_name(table)
        .set_key(Some(count_key(&order.user_id, id)))
        .update_expression("ADD redeemed :minus")
        .expression_attribute_values(":minus", n(-1))
        .build()
        .map_err(build_err)?;
    Ok(vec![
        TransactWriteItem::builder().update(unit).build(),
        TransactWriteItem::builder().update(count).build(),
    ])
}

impl MallStore {
    pub fn new(client: Client, marketing: impl Into<String>) -> Self {
        let table = marketing.into();
        Self {
            points: PointsLedger::new(client.clone(), table.clone()),
            client,
            table,
        }
    }

    /// The write that lists a new item with all its stock left, for a transaction with its
    /// audit record; refused when the id is taken.
    pub fn create_write(&self, item: &MallItem, now: i64) -> Result<TransactWriteItem, StoreError> {
        let mut stored = to_item(item);
        stored.extend(item_key(&item.id));
        stored.insert("left".into(), n(item.stock));
        stored.insert("createdAt".into(), n(now));
        super::put(&self.table, stored, Some("attribute_not_exists(pk)"))
    }

    fn listed(item: &Item) -> Result<Listed, StoreError> {
        Ok(Listed {
            item: from_item(item)?,
            left: get_i64(item, "left")
                .and_then(|l| u64::try_from(l).ok())
                .unwrap_or(0),
        })
    }

    /// The mall's items, soonest ending first.
    pub async fn items(&self) -> Result<Vec<Listed>, StoreError> {
        let items = super::query_prefix(
            &self.client,
            &self.table,
            "MALL",
            "ITEM#",
            "Query mall items",
        )
        .await?;
        let mut listed = items
            .iter()
            .map(Self::listed)
            .collect::<Result<Vec<_>, _>>()?;
        listed.sort_by(|a, b| {
            a.item
                .ends_at
                .cmp(&b.item.ends_at)
                .then_with(|| a.item.id.cmp(&b.item.id))
        });
        Ok(listed)
    }

    pub async fn item(&self, id: &MallItemId) -> Result<Option<Listed>, StoreError> {
        super::get_consistent(&self.client, &self.table, item_key(id), "GetItem mall item")
            .await?
            .as_ref()
            .map(Self::listed)
            .transpose()
    }

    /// How many of each item the shopper holds now.
    pub async fn redeemed(&self, user: &UserId) -> Result<HashMap<MallItemId, u32>, StoreError> {
        let items = super::query_prefix(
            &self.client,
            &self.table,
            &shopper_pk(user),
            "ITEM#",
            "Query mall counts",
        )
        .await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let id = super::get_s(i, "sk")?.strip_prefix("ITEM#")?;
                let count = get_i64(i, "redeemed").and_then(|c| u32::try_from(c).ok())?;
                Some((MallItemId::parse(id).ok()?, count))
            })
            .collect())
    }

    /// The writes that take a unit of the item and one of the shopper's allowance, and record
    /// the redemption: the unit's condition first, then the count's.
    pub fn take_writes(
        &self,
        item: &MallItem,
        record: &Redemption,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let user = &record.shopper;
        let unit = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item_key(&item.id)))
            .update_expression("ADD #left :minus")
            .condition_expression("#left > :zero")
            .expression_attribute_names("#left", "left")
            .expression_attribute_values(":minus", n(-1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(build_err)?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(count_key(user, &item.id)))
            .update_expression("ADD redeemed :one")
            .condition_expression("attribute_not_exists(redeemed) OR redeemed < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(item.per_shopper_limit))
            .build()
            .map_err(build_err)?;
        let mut mine = to_item(record);
        mine.extend(key(
            shopper_pk(user),
            format!("REDEEM#{:012}#{}", record.at, record.id),
        ));
        let mut audit = to_item(record);
        audit.extend(key(
            "MALL#REDEMPTIONS".into(),
            format!("{:012}#{}", record.at, record.id),
        ));
        Ok(vec![
            TransactWriteItem::builder().update(unit).build(),
            TransactWriteItem::builder().update(count).build(),
            super::put(&self.table, mine, Some("attribute_not_exists(pk)"))?,
            super::put(&self.table, audit, Some("attribute_not_exists(pk)"))?,
        ])
    }

    /// Why the item cannot be taken by the shopper now, read after a transaction was refused.
    pub async fn refusal(
        &self,
        item: &MallItemId,
        user: &UserId,
        now: i64,
    ) -> Result<Option<RedeemRefusal>, StoreError> {
        let Some(listed) = self.item(item).await? else {
            return Ok(Some(RedeemRefusal::SoldOut));
        };
        let redeemed = self.redeemed(user).await?.get(item).copied().unwrap_or(0);
        let balance = self.points.balance(user).await?;
        Ok(listed.item.refusal(now, listed.left, redeemed, balance))
    }

    /// A coupon item redeemed: its unit, the shopper's count, the points and the coupon into
    /// the wallet, all or nothing. A repeat of the same redemption (a retry) changes nothing.
    pub async fn redeem_coupon(
        &self,
        item: &MallItem,
        record: Redemption,
        template: &CouponTemplate,
        coupon: &WalletCoupon,
    ) -> Result<Redeemed, StoreError> {
        let user = record.shopper.clone();
        let entry = LedgerEntry {
            key: format!("mall#{}", record.id),
            delta: -i64::try_from(item.points).unwrap_or(i64::MAX),
            reason: format!("积分兑换：{}", item.title),
            order_id: None,
            at: record.at,
        };
        let mut writes = self.take_writes(item, &record)?;
        let entry_at = writes.len();
        writes.extend(self.points.entry_writes(&user, &entry)?);
        let coupon_at = writes.len();
        writes.extend(grant_writes(&self.table, template, &user, coupon)?);
        let Some(failed) =
            super::transact(&self.client, writes, "TransactWriteItems mall redeem").await?
        else {
            return Ok(Redeemed::Done(record));
        };
        let failed = |i: usize| failed.get(i).copied().unwrap_or(false);
        if failed(entry_at) {
            let before = self
                .redemptions(&user)
                .await?
                .into_iter()
                .find(|r| r.id == record.id)
                .unwrap_or(record);
            return Ok(Redeemed::Repeated(before));
        }
        if failed(coupon_at) {
            // The coupon template's own total ran out: the item is as good as sold out.
            return Ok(Redeemed::Refused(RedeemRefusal::SoldOut));
        }
        let refusal = self
            .refusal(&item.id, &user, record.at)
            .await?
            .unwrap_or(RedeemRefusal::SoldOut);
        Ok(Redeemed::Refused(refusal))
    }

    /// The shopper's redemptions, newest first.
    pub async fn redemptions(&self, user: &UserId) -> Result<Vec<Redemption>, StoreError> {
        let items = super::query_prefix(
            &self.client,
            &self.table,
            &shopper_pk(user),
            "REDEEM#",
            "Query mall redemptions",
        )
        .await?;
        let mut found = items
            .iter()
            .map(from_item)
            .collect::<Result<Vec<Redemption>, _>>()?;
        found.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
        Ok(found)
    }

    /// Every redemption, oldest first: what the merchant audits and ships.
    pub async fn all_redemptions(&self) -> Result<Vec<Redemption>, StoreError> {
        let items = super::query_partition(
            &self.client,
            &self.table,
            "MALL#REDEMPTIONS",
            None,
            "Query mall redemption records",
        )
        .await?;
        items.iter().map(from_item).collect()
    }
}

//! Coupons and promotion rules in the marketing table (keys `pk`, `sk`):
//! - `COUPONS` / `TEMPLATE#<templateId>`: a coupon template, with `issued` moved only by claims
//!   (one partition: a shop hands out tens of coupon kinds, and the list is one Query)
//! - `WALLET#<userId>` / `COUPON#<templateId>.<n>`: the shopper's n-th coupon of that template;
//!   the key is the per-user limit, so two racing claims cannot both be the n-th
//! - `PROMOTIONS` / `RULES`: full-reduction rules and the points policy, one item with a
//!   `version` so two admins' edits cannot silently overwrite each other
//!
//! The points ledger shares the table (`store::points`).

use super::{Item, StoreError, failed_conditions, from_item, get_i64, n, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use domain::ids::OrderId;
use domain::ids::UserId;
use domain::ids::{CouponId, PromotionId};
use domain::promotions::{
    ClaimRefusal, CouponStatus, CouponTemplate, PromotionRules, WalletCoupon,
};

#[derive(Clone)]
pub struct MarketingStore {
    client: Client,
    table: String,
}

pub enum Claim {
    Claimed(WalletCoupon),
    Refused(ClaimRefusal),
    UnknownTemplate,
}

fn template_key(id: &PromotionId) -> Item {
    [
        ("pk".to_string(), s("COUPONS")),
        ("sk".to_string(), s(format!("TEMPLATE#{id}"))),
    ]
    .into()
}

pub(crate) fn wallet_key(user: &UserId, coupon: &CouponId) -> Item {
    [
        ("pk".to_string(), s(format!("WALLET#{user}"))),
        ("sk".to_string(), s(format!("COUPON#{coupon}"))),
    ]
    .into()
}

/// The writes that hand `coupon` (issued from `template`) to a shopper as a reward, for a
/// transaction that records why: the template's `issued` count, never past its total (the first
/// write fails when it is sold out), and the wallet item, written only if absent.
pub(crate) fn grant_writes(
    table: &str,
    template: &CouponTemplate,
    user: &UserId,
    coupon: &WalletCoupon,
) -> Result<[TransactWriteItem; 2], StoreError> {
    let build = |e| StoreError::dynamo("build transaction", e);
    let take = Update::builder()
        .table_name(table)
        .set_key(Some(template_key(&template.id)))
        .update_expression("ADD issued :one")
        .condition_expression("attribute_exists(pk) AND issued < :total")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":total", n(template.total_limit))
        .build()
        .map_err(build)?;
    let mut item = to_item(coupon);
    item.extend(wallet_key(user, &coupon.id));
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build)?;
    Ok([
        TransactWriteItem::builder().update(take).build(),
        TransactWriteItem::builder().put(put).build(),
    ])
}

pub(crate) fn rules_key() -> Item {
    [
        ("pk".to_string(), s("PROMOTIONS")),
        ("sk".to_string(), s("RULES")),
    ]
    .into()
}

pub(crate) fn read_rules(item: Option<&Item>) -> Result<PromotionRules, StoreError> {
    item.map(from_item)
        .transpose()
        .map(Option::unwrap_or_default)
}

impl MarketingStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates or edits a template; how many were issued stays as claims left it.
    pub async fn template(&self, id: &PromotionId) -> Result<Option<CouponTemplate>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(template_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem coupon template", e))?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// Every coupon template, by id.
    pub async fn templates(&self) -> Result<Vec<CouponTemplate>, StoreError> {
        let items = self
            .query_all("COUPONS", "TEMPLATE#", "Query coupon templates")
            .await?;
        items.iter().map(from_item).collect()
    }

    /// A shopper's coupons, newest claim first.
    pub async fn wallet(&self, user: &UserId) -> Result<Vec<WalletCoupon>, StoreError> {
        let items = self
            .query_all(&format!("WALLET#{user}"), "COUPON#", "Query wallet")
            .await?;
        let mut coupons: Vec<WalletCoupon> =
            items.iter().map(from_item).collect::<Result<_, _>>()?;
        coupons.sort_by(|a, b| {
            b.claimed_at
                .cmp(&a.claimed_at)
                .then_with(|| b.id.to_string().cmp(&a.id.to_string()))
        });
        Ok(coupons)
    }

    async fn query_all(
        &self,
        pk: &str,
        prefix: &str,
        operation: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        super::query_prefix(&self.client, &self.table, pk, prefix, operation).await
    }

    /// Puts one coupon of `template` into the shopper's wallet: the template's `issued` count
    /// and the wallet item in one transaction, so neither the total nor the per-user limit can
    /// be passed by racing claims.
    pub async fn claim(
        &self,
        template_id: &PromotionId,
        user: &UserId,
        now: i64,
    ) -> Result<Claim, StoreError> {
        for _ in 0..3 {
            let Some(template) = self.template(template_id).await? else {
                return Ok(Claim::UnknownTemplate);
            };
            if let Err(refusal) = template.claimable(now) {
                return Ok(Claim::Refused(refusal));
            }
            let held = self
                .query_all(
                    &format!("WALLET#{user}"),
                    &format!("COUPON#{template_id}."),
                    "Query wallet for template",
                )
                .await?
                .len();
            let number = u32::try_from(held + 1).unwrap_or(u32::MAX);
            if number > template.per_user_limit {
                return Ok(Claim::Refused(ClaimRefusal::LimitReached));
            }
            let coupon = template.issue(number, now);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(
                    grant_writes(&self.table, &template, user, &coupon)?.to_vec(),
                ))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Claim::Claimed(coupon)),
                Err(err) => match failed_conditions(&err) {
                    Some(failed) if failed.first() == Some(&true) => {
                        return Ok(Claim::Refused(ClaimRefusal::SoldOut));
                    }
                    // The same shopper's other claim took this number first: count again.
                    Some(failed) if failed.get(1) == Some(&true) => continue,
                    _ => return Err(StoreError::dynamo("TransactWriteItems claim coupon", err)),
                },
            }
        }
        Ok(Claim::Refused(ClaimRefusal::LimitReached))
    }

    /// The write that holds a wallet coupon for an order: only an available coupon still valid
    /// at `now` is taken, so the same coupon in two racing orders succeeds once.
    pub fn lock_write(
        &self,
        user: &UserId,
        coupon: &CouponId,
        order: &OrderId,
        now: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(wallet_key(user, coupon)))
            .update_expression("SET #s = :used, orderId = :o")
            .condition_expression("#s = :available AND coupon.validUntil > :now")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":used", s(status_text(CouponStatus::Used)))
            .expression_attribute_values(":available", s(status_text(CouponStatus::Available)))
            .expression_attribute_values(":o", s(order.as_str()))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(|e| StoreError::dynamo("build transaction", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The write that gives an order's coupon back to the wallet; only from that order, so a
    /// second return (or one for an order that never held it) changes nothing.
    pub fn return_write(
        &self,
        user: &UserId,
        coupon: &CouponId,
        order: &OrderId,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(wallet_key(user, coupon)))
            .update_expression("SET #s = :available REMOVE orderId")
            .condition_expression("orderId = :o")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":available", s(status_text(CouponStatus::Available)))
            .expression_attribute_values(":o", s(order.as_str()))
            .build()
            .map_err(|e| StoreError::dynamo("build transaction", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    pub async fn rules(&self) -> Result<PromotionRules, StoreError> {
        Ok(self.versioned_rules().await?.0)
    }

    /// The rules with the version a write of them must find.
    pub async fn versioned_rules(&self) -> Result<(PromotionRules, i64), StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(rules_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem promotion rules", e))?;
        let version = out
            .item
            .as_ref()
            .and_then(|i| get_i64(i, "version"))
            .unwrap_or(0);
        Ok((read_rules(out.item.as_ref())?, version))
    }

    /// The write that replaces the rules read at `version`, refused if someone wrote them
    /// since: commit it with its audit record.
    pub fn rules_write(
        &self,
        rules: &PromotionRules,
        version: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = to_item(rules);
        item.extend(rules_key());
        item.insert("version".into(), n(version + 1));
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR version = :v")
            .expression_attribute_values(":v", n(version))
            .build()
            .map_err(|e| StoreError::dynamo("build transaction", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The write that creates or replaces a coupon template, keeping how many were claimed,
    /// refused when more were claimed than its new total: commit it with its audit record.
    pub fn template_write(
        &self,
        template: &CouponTemplate,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = to_item(template);
        item.remove("issued");
        let mut sets = vec!["issued = if_not_exists(issued, :zero)".to_string()];
        let mut update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(template_key(&template.id)))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":total", n(template.total_limit));
        for (i, (name, value)) in item.into_iter().enumerate() {
            let (a, v) = (format!("#a{i}"), format!(":v{i}"));
            sets.push(format!("{a} = {v}"));
            update = update
                .expression_attribute_names(a, name)
                .expression_attribute_values(v, value);
        }
        let update = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("attribute_not_exists(pk) OR issued <= :total")
            .build()
            .map_err(|e| StoreError::dynamo("build transaction", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

fn status_text(status: CouponStatus) -> &'static str {
    match status {
        CouponStatus::Available => "AVAILABLE",
        CouponStatus::Used => "USED",
    }
}

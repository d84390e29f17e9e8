//! Orders and the stock they hold.
//!
//! Orders table (keys `pk`, `sk`):
//! - `ORDER#<orderId>` / `ORDER`: the order, whom its provider charges (`openid` for WeChat Pay,
//!   `alipayOpenId` for Alipay; never shown),
//!   and `gsi1pk = USER#<userId>`, `gsi1sk = <createdAt>#<orderId>` (index `ByUser`, newest first)
//!   and `gsi2pk = ORDERS#<China day>`, `gsi2sk = <createdAt>#<orderId>` (index `ByDay`, the
//!   merchant's list)
//! - `ORDER#<orderId>` / `NOTE#<at>#<token>`: the shop's staff notes on the order
//! - `REVIEW#<kind>#<reference>` / `REVIEW`: payments a person must look at (unknown order,
//!   amount mismatch, late payment), keyed so a repeated notification writes the same record
//!
//! Idempotency table: `CHECKOUT#<userId>#<Idempotency-Key>` -> the order it created and the hash
//! of the request, claimed in the same transaction that takes the stock.

use super::catalog::flash_buy_key;
use super::marketing::MarketingStore;
use super::personal::{self, PersonalDataKeys};
use super::points::PointsLedger;
use super::social::SocialStore;
use super::{
    Item, ListPosition, Page, StoreError, failed_conditions, from_item, get_s, n, s, to_item,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use domain::ids::OrderId;
use domain::ids::{OpenId, SkuId, UserId};
use domain::order::{Order, OrderStatus, StatusChange};

pub const INDEX_BY_USER: &str = "ByUser";
/// Every order by the China day it was placed (`gsi2pk = ORDERS#<day>`, `gsi2sk =
/// <createdAt>#<orderId>`): the merchant's order list, newest first.
pub const INDEX_BY_DAY: &str = "ByDay";
/// An Idempotency-Key answers the same order for a day.
const IDEMPOTENCY_SECONDS: i64 = 24 * 60 * 60;

#[derive(Clone)]
pub struct OrderStore {
    pub(crate) client: Client,
    pub(crate) orders: String,
    pub(crate) catalog: String,
    idempotency: String,
    /// Coupons and points an order holds live in the marketing table.
    pub(crate) coupons: MarketingStore,
    pub(crate) points: PointsLedger,
    /// Group seats and bargains an order holds, too.
    pub(crate) social: SocialStore,
    /// What seals and opens the receiver's name, phone and street; without it they read empty.
    personal: Option<PersonalDataKeys>,
}

/// An order as stored: the order and whose WeChat account pays for it.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub order: Order,
    pub openid: Option<OpenId>,
    pub alipay_open_id: Option<String>,
}

impl StoredOrder {
    /// Whom the order's provider charges.
    pub fn payer(&self) -> Option<String> {
        match self.order.provider {
            domain::payment::Provider::Wechat => {
                self.openid.as_ref().map(|o| o.expose().to_string())
            }
            domain::payment::Provider::Alipay => self.alipay_open_id.clone(),
        }
    }
}

/// Flash-sale units an order takes from a SKU's sale, with the limits priced against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlashHold {
    pub sku_id: SkuId,
    pub units: u32,
    pub quota: u64,
    pub per_user_limit: u32,
}

pub enum Created {
    Created,
    /// The key was already used: this is what it created, and the hash of that request.
    KeyTaken {
        order_id: OrderId,
        request_hash: String,
    },
    /// These SKUs lacked the stock, or their flash sale the quota or the shopper's allowance.
    OutOfStock(Vec<SkuId>),
    /// The coupon was used by another order (or expired) since it was priced.
    CouponTaken,
    /// The points were spent elsewhere since the order was priced.
    PointsShort,
    /// The group seat or the bargain was taken, filled or ran out of time since it was read.
    OfferTaken,
}

/// What the merchant narrows the order list by.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub provider: Option<domain::payment::Provider>,
    pub channel: Option<String>,
}

/// Whether a conditional transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Done,
    /// The order was not in the state the transition leaves (duplicate or late event).
    NotApplicable,
}

pub(crate) fn order_key(id: &OrderId) -> [(String, AttributeValue); 2] {
    [
        ("pk".to_string(), s(format!("ORDER#{id}"))),
        ("sk".to_string(), s("ORDER")),
    ]
}

pub(crate) fn sku_key(id: &SkuId) -> [(String, AttributeValue); 2] {
    [
        ("pk".to_string(), s(format!("SKU#{id}"))),
        ("sk".to_string(), s("SKU")),
    ]
}

pub(crate) fn history_entry(change: &StatusChange) -> AttributeValue {
    AttributeValue::L(vec![AttributeValue::M(to_item(change))])
}

impl OrderStore {
    pub fn new(
        client: Client,
        orders: impl Into<String>,
        catalog: impl Into<String>,
        idempotency: impl Into<String>,
        marketing: impl Into<String>,
    ) -> Self {
        let marketing = marketing.into();
        Self {
            coupons: MarketingStore::new(client.clone(), &marketing),
            points: PointsLedger::new(client.clone(), &marketing),
            social: SocialStore::new(client.clone(), marketing),
            client,
            orders: orders.into(),
            catalog: catalog.into(),
            idempotency: idempotency.into(),
            personal: None,
        }
    }

    /// The same store sealing the receivers it writes and opening those it reads.
    pub fn with_personal_data(mut self, keys: PersonalDataKeys) -> Self {
        self.personal = Some(keys);
        self
    }

    /// Puts orders written before the merchant's list existed into it (`ByDay`), a scanned
    /// page at a time, each conditional on not being listed yet: how many were added. Safe to
    /// run again.
    pub async fn list_unlisted(&self) -> Result<usize, StoreError> {
        let mut added = 0;
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.orders)
                .filter_expression("sk = :order AND attribute_not_exists(gsi2pk)")
                .expression_attribute_values(":order", s("ORDER"))
                .projection_expression("pk, createdAt, id")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Scan orders not listed", e))?;
            for item in page.items.unwrap_or_default() {
                let (Some(id), Some(at)) = (get_s(&item, "id"), super::get_i64(&item, "createdAt"))
                else {
                    continue;
                };
                let Ok(id) = OrderId::parse(id) else { continue };
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.orders)
                    .set_key(Some(order_key(&id).into_iter().collect()))
                    .update_expression("SET gsi2pk = :day, gsi2sk = :at")
                    .condition_expression("attribute_exists(pk) AND attribute_not_exists(gsi2pk)")
                    .expression_attribute_values(
                        ":day",
                        s(format!("ORDERS#{}", domain::clock::china_day(at))),
                    )
                    .expression_attribute_values(":at", s(format!("{at:012}#{id}")))
                    .send()
                    .await;
                match result {
                    Ok(_) => added += 1,
                    Err(err) if super::condition_failed(&err) => {}
                    Err(err) => return Err(StoreError::dynamo("UpdateItem list order", err)),
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(added);
            }
        }
    }

    /// Seals the receivers that orders written before sealing existed keep in clear (an
    /// erased receiver has nothing left to seal).
    pub async fn seal_clear_receivers(&self) -> Result<personal::Migrated, StoreError> {
        personal::seal_what_is_clear(
            &self.client,
            self.personal.as_ref(),
            personal::ClearItems {
                table: &self.orders,
                sort_key: "ORDER",
                sort_key_is_prefix: false,
                attribute: Some("address"),
            },
        )
        .await
    }

    /// The item linking the keyed hash of the order's phone's last four digits to the order
    /// (`PHONE4#<hash>` / `<createdAt>#<orderId>`); none without keys or without a phone.
    async fn phone_tail_link(&self, order: &Order) -> Result<Option<Item>, StoreError> {
        let Some(keys) = &self.personal else {
            return Ok(None);
        };
        let Some(key) = keys.lookup_key(&self.client, &self.orders, true).await? else {
            return Ok(None);
        };
        Ok(
            personal::phone_tail_hash(&key, &order.address.phone).map(|hash| {
                Item::from([
                    ("pk".to_string(), s(format!("PHONE4#{hash}"))),
                    (
                        "sk".to_string(),
                        s(format!("{:012}#{}", order.created_at, order.id)),
                    ),
                    ("orderId".to_string(), s(order.id.as_str())),
                ])
            }),
        )
    }

    /// Orders whose receiver's phone ends in `tail` (four digits), newest first, found through
    /// the keyed hash of those digits, never by the number.
    pub async fn with_phone_tail(
        &self,
        tail: &str,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Order>, StoreError> {
        let keys = self.personal.as_ref().ok_or(StoreError::PersonalData {
            operation: "find by phone",
            problem: "this function was given no key for personal data".into(),
        })?;
        let Some(key) = keys.lookup_key(&self.client, &self.orders, false).await? else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let Some(hash) = personal::phone_tail_hash(&key, tail) else {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        };
        let out = self
            .client
            .query()
            .table_name(&self.orders)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(format!("PHONE4#{hash}")))
            .scan_index_forward(false)
            .set_exclusive_start_key(after.map(ListPosition::into_key))
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query orders by phone", e))?;
        let mut links = out.items.unwrap_or_default();
        let next = if links.len() > limit {
            links.truncate(limit);
            links
                .last()
                .map(|last| ListPosition::of(last, &["pk", "sk"]))
        } else {
            None
        };
        let keys: Vec<(String, Item)> = links
            .iter()
            .filter_map(|l| get_s(l, "orderId"))
            .filter_map(|id| OrderId::parse(id).ok())
            .map(|id| (self.orders.clone(), order_key(&id).into_iter().collect()))
            .collect();
        let mut found = super::batch_get(&self.client, keys, false)
            .await?
            .remove(&self.orders)
            .unwrap_or_default();
        found.sort_by(|a, b| get_s(b, "gsi1sk").cmp(&get_s(a, "gsi1sk")));
        Ok(Page {
            items: self.orders_of(found).await?,
            next,
        })
    }

    /// Orders as read, their receivers opened (or withheld, without keys).
    pub(crate) async fn orders_of(&self, mut items: Vec<Item>) -> Result<Vec<Order>, StoreError> {
        personal::open_items(self.personal.as_ref(), &mut items, Some("address")).await?;
        items.iter().map(from_item).collect()
    }

    /// Moves a shopper's count of flash-sale units bought for `sku` by `delta`.
    fn flash_count(
        &self,
        sku: &SkuId,
        user: &UserId,
        delta: i64,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        Update::builder()
            .table_name(&self.catalog)
            .set_key(Some(
                flash_buy_key(sku, user)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            ))
            .update_expression("ADD bought :d SET skuId = :sku")
            .expression_attribute_values(":d", n(delta))
            .expression_attribute_values(":sku", s(sku.as_str()))
    }

    fn idempotency_key(user: &UserId, key: &str) -> AttributeValue {
        s(format!("CHECKOUT#{user}#{key}"))
    }

    /// In one transaction: takes every line's stock (never below zero) and flash-sale quota,
    /// holds the coupon, spends the points, writes the order and claims the Idempotency-Key.
    /// Either all of it happens or none.
    pub async fn create(
        &self,
        order: &Order,
        payer: &str,
        idempotency_key: &str,
        request_hash: &str,
        flash: &[FlashHold],
        offer: Vec<TransactWriteItem>,
    ) -> Result<Created, StoreError> {
        let build = |e| StoreError::dynamo("build transaction", e);
        let mut items = Vec::with_capacity(order.lines.len() + 2);
        for line in &order.lines {
            let hold = flash
                .iter()
                .find(|h| h.sku_id == line.sku_id && h.units > 0);
            let mut update = Update::builder()
                .table_name(&self.catalog)
                .set_key(Some(sku_key(&line.sku_id).into_iter().collect()))
                .expression_attribute_values(":q", n(line.quantity.get()));
            update = match hold {
                // The sale's quota is taken with the stock: neither can be exceeded by racing orders.
                Some(h) => update
                    .update_expression("SET stock = stock - :q ADD flashSold :f")
                    .condition_expression("stock >= :q AND (attribute_not_exists(flashSold) OR flashSold <= :maxSold) AND flashSale.endsAt > :now")
                    .expression_attribute_values(":f", n(h.units))
                    .expression_attribute_values(":maxSold", n(h.quota.saturating_sub(u64::from(h.units))))
                    .expression_attribute_values(":now", n(order.created_at)),
                None => update.update_expression("SET stock = stock - :q").condition_expression("stock >= :q"),
            };
            items.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(build)?)
                    .build(),
            );
        }
        let mut order_item = to_item(order);
        order_item.extend(order_key(&order.id));
        // Staff find an order by the phone's last four digits through a keyed hash of them.
        let phone_link = self.phone_tail_link(order).await?;
        personal::seal_item(self.personal.as_ref(), &mut order_item, Some("address")).await?;
        let payer_attribute = match order.provider {
            domain::payment::Provider::Wechat => "openid",
            domain::payment::Provider::Alipay => "alipayOpenId",
        };
        order_item.insert(payer_attribute.into(), s(payer));
        order_item.insert("gsi1pk".into(), s(format!("USER#{}", order.user_id)));
        order_item.insert(
            "gsi1sk".into(),
            s(format!("{:012}#{}", order.created_at, order.id)),
        );
        order_item.insert(
            "gsi2pk".into(),
            s(format!(
                "ORDERS#{}",
                domain::clock::china_day(order.created_at)
            )),
        );
        order_item.insert(
            "gsi2sk".into(),
            s(format!("{:012}#{}", order.created_at, order.id)),
        );
        let put_order = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(order_item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        items.push(TransactWriteItem::builder().put(put_order).build());
        let mut claim = Item::new();
        claim.insert(
            "pk".into(),
            Self::idempotency_key(&order.user_id, idempotency_key),
        );
        claim.insert("orderId".into(), s(order.id.as_str()));
        claim.insert("requestHash".into(), s(request_hash));
        claim.insert(
            "expiresAt".into(),
            n(order.created_at + IDEMPOTENCY_SECONDS),
        );
        let put_claim = Put::builder()
            .table_name(&self.idempotency)
            .set_item(Some(claim))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build)?;
        items.push(TransactWriteItem::builder().put(put_claim).build());
        let held: Vec<&FlashHold> = flash.iter().filter(|h| h.units > 0).collect();
        for h in &held {
            // The shopper's own count, so the per-user limit holds across orders and races.
            let per_user = self
                .flash_count(&h.sku_id, &order.user_id, i64::from(h.units))
                .condition_expression("attribute_not_exists(bought) OR bought <= :maxUser")
                .expression_attribute_values(
                    ":maxUser",
                    n(h.per_user_limit.saturating_sub(h.units)),
                )
                .build()
                .map_err(build)?;
            items.push(TransactWriteItem::builder().update(per_user).build());
        }
        let coupon_at = items.len();
        if let Some(coupon) = &order.coupon_id {
            items.push(self.coupons.lock_write(
                &order.user_id,
                coupon,
                &order.id,
                order.created_at,
            )?);
        }
        let points_at = items.len();
        if order.points_used > 0 {
            items.extend(
                self.points
                    .entry_writes(&order.user_id, &PointsLedger::spend_entry(order))?,
            );
        }
        // The group seat or the bargain the order takes, last: one shopper's offer, one write each.
        let offer_at = items.len();
        let has_offer = !offer.is_empty();
        items.extend(offer);
        // Unconditional, so last: it never shifts whose condition failed.
        if let Some(link) = phone_link {
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.orders)
                            .set_item(Some(link))
                            .build()
                            .map_err(build)?,
                    )
                    .build(),
            );
        }

        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Created::Created),
            Err(err) => {
                let Some(codes) = failed_conditions(&err) else {
                    return Err(StoreError::dynamo("TransactWriteItems create order", err));
                };
                let failed = |i: usize| codes.get(i).copied().unwrap_or(false);
                if failed(order.lines.len() + 1)
                    && let Some((order_id, request_hash)) =
                        self.claimed(&order.user_id, idempotency_key).await?
                {
                    return Ok(Created::KeyTaken {
                        order_id,
                        request_hash,
                    });
                }
                if order.coupon_id.is_some() && failed(coupon_at) {
                    return Ok(Created::CouponTaken);
                }
                if order.points_used > 0 && failed(points_at + 1) {
                    return Ok(Created::PointsShort);
                }
                if has_offer && (offer_at..codes.len()).any(failed) {
                    return Ok(Created::OfferTaken);
                }
                let first_hold = order.lines.len() + 2;
                let mut short: Vec<SkuId> = order
                    .lines
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| failed(*i))
                    .map(|(_, l)| l.sku_id.clone())
                    .collect();
                short.extend(
                    held.iter()
                        .enumerate()
                        .filter(|(i, _)| failed(first_hold + i))
                        .map(|(_, h)| h.sku_id.clone()),
                );
                if short.is_empty() {
                    return Err(StoreError::dynamo("TransactWriteItems create order", err));
                }
                Ok(Created::OutOfStock(short))
            }
        }
    }

    /// The order an Idempotency-Key created, and its request hash.
    pub async fn claimed(
        &self,
        user: &UserId,
        idempotency_key: &str,
    ) -> Result<Option<(OrderId, String)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.idempotency)
            .key("pk", Self::idempotency_key(user, idempotency_key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem idempotency", e))?;
        Ok(out.item.and_then(|i| {
            let id = OrderId::parse(get_s(&i, "orderId")?).ok()?;
            Some((id, get_s(&i, "requestHash")?.to_string()))
        }))
    }

    /// The order's item as stored, read consistently.
    pub(crate) async fn order_item(&self, id: &OrderId) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(id).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem order", e))?;
        Ok(out.item)
    }

    pub async fn get(&self, id: &OrderId) -> Result<Option<StoredOrder>, StoreError> {
        let Some(mut item) = self.order_item(id).await? else {
            return Ok(None);
        };
        personal::open_items(
            self.personal.as_ref(),
            std::slice::from_mut(&mut item),
            Some("address"),
        )
        .await?;
        Ok(Some(StoredOrder {
            openid: get_s(&item, "openid").and_then(|o| OpenId::parse(o).ok()),
            alipay_open_id: get_s(&item, "alipayOpenId").map(str::to_string),
            order: from_item(&item)?,
        }))
    }

    /// A shopper's orders, newest first, optionally only those in one status.
    pub async fn list_for_user(
        &self,
        user: &UserId,
        status: Option<OrderStatus>,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Order>, StoreError> {
        let mut orders: Vec<Item> = Vec::new();
        let mut start = after.map(ListPosition::into_key);
        // A status filter is applied after DynamoDB's limit, so keep reading until the page is full.
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.orders)
                .index_name(INDEX_BY_USER)
                .key_condition_expression("gsi1pk = :u")
                .expression_attribute_values(":u", s(format!("USER#{user}")))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX));
            if let Some(status) = status {
                query = query
                    .filter_expression("#s = :s")
                    .expression_attribute_names("#s", "status")
                    .expression_attribute_values(":s", s(status.as_str()));
            }
            let out = query
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query orders by user", e))?;
            orders.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if orders.len() > limit || start.is_none() {
                break;
            }
        }
        let next = if orders.len() > limit {
            orders.truncate(limit);
            orders
                .last()
                .map(|last| ListPosition::of(last, &["pk", "sk", "gsi1pk", "gsi1sk"]))
        } else {
            None
        };
        Ok(Page {
            items: self.orders_of(orders).await?,
            next,
        })
    }

    /// Orders placed on `days` (China days, newest first), newest first, narrowed by `filter`:
    /// at most `limit` after `after`, reading on across days until the page is full.
    pub async fn placed_on(
        &self,
        days: &[String],
        filter: &OrderFilter,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Order>, StoreError> {
        let mut start = after.map(ListPosition::into_key);
        // A cursor names the day it stopped in: the days after it are done.
        let skip = start
            .as_ref()
            .and_then(|k| get_s(k, "gsi2pk"))
            .and_then(|d| days.iter().position(|day| format!("ORDERS#{day}") == d))
            .unwrap_or(0);
        let mut conditions = Vec::new();
        let mut values: Vec<(&str, AttributeValue)> = Vec::new();
        let mut names: Vec<(&str, &str)> = Vec::new();
        if let Some(status) = filter.status {
            conditions.push("#s = :s");
            names.push(("#s", "status"));
            values.push((":s", s(status.as_str())));
        }
        if let Some(provider) = filter.provider {
            // Orders from before Alipay carry no provider: they are WeChat Pay's.
            conditions.push(if provider == domain::payment::Provider::Wechat {
                "(attribute_not_exists(#p) OR #p = :p)"
            } else {
                "#p = :p"
            });
            names.push(("#p", "provider"));
            values.push((":p", s(provider.as_str())));
        }
        if let Some(channel) = &filter.channel {
            conditions.push("channel = :c");
            values.push((":c", s(channel)));
        }
        let mut items: Vec<Item> = Vec::new();
        'days: for day in &days[skip..] {
            loop {
                let mut query = self
                    .client
                    .query()
                    .table_name(&self.orders)
                    .index_name(INDEX_BY_DAY)
                    .key_condition_expression("gsi2pk = :day")
                    .expression_attribute_values(":day", s(format!("ORDERS#{day}")))
                    .scan_index_forward(false)
                    .set_exclusive_start_key(start.take())
                    .limit(i32::try_from(limit + 1 - items.len()).unwrap_or(i32::MAX));
                if !conditions.is_empty() {
                    query = query.filter_expression(conditions.join(" AND "));
                }
                for (name, attribute) in &names {
                    query = query.expression_attribute_names(*name, *attribute);
                }
                for (name, value) in &values {
                    query = query.expression_attribute_values(*name, value.clone());
                }
                let out = query
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("Query orders by day", e))?;
                items.extend(out.items.unwrap_or_default());
                if items.len() > limit {
                    break 'days;
                }
                match out.last_evaluated_key {
                    Some(key) => start = Some(key),
                    None => break,
                }
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| ListPosition::of(last, &["pk", "sk", "gsi2pk", "gsi2sk"]))
        } else {
            None
        };
        Ok(Page {
            items: self.orders_of(items).await?,
            next,
        })
    }

    /// The write that adds a staff note to an order, refused if the order does not exist:
    /// commit it with its audit record.
    pub fn note_writes(
        &self,
        order: &OrderId,
        note: &domain::order::StaffNote,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let build = |e| StoreError::dynamo("build note", e);
        let exists = aws_sdk_dynamodb::types::ConditionCheck::builder()
            .table_name(&self.orders)
            .set_key(Some(order_key(order).into_iter().collect()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(build)?;
        let mut item = to_item(note);
        item.insert("pk".into(), s(format!("ORDER#{order}")));
        item.insert(
            "sk".into(),
            s(format!(
                "NOTE#{:012}#{}",
                note.at,
                domain::ids::random_token(6)
            )),
        );
        let put = Put::builder()
            .table_name(&self.orders)
            .set_item(Some(item))
            .build()
            .map_err(build)?;
        Ok(vec![
            TransactWriteItem::builder().condition_check(exists).build(),
            TransactWriteItem::builder().put(put).build(),
        ])
    }

    /// The staff notes on an order, oldest first.
    pub async fn notes(
        &self,
        order: &OrderId,
    ) -> Result<Vec<domain::order::StaffNote>, StoreError> {
        super::query_prefix(
            &self.client,
            &self.orders,
            &format!("ORDER#{order}"),
            "NOTE#",
            "Query order notes",
        )
        .await?
        .iter()
        .map(from_item)
        .collect()
    }

    /// `PENDING_PAYMENT -> PAID`, recording the payment; nothing happens from any other state.
    pub async fn mark_paid(
        &self,
        id: &OrderId,
        transaction_id: &str,
        success_time: &str,
        now: i64,
    ) -> Result<Transition, StoreError> {
        let change = StatusChange {
            status: OrderStatus::Paid,
            at: now,
            reason: None,
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(id).into_iter().collect()))
            .update_expression("SET #s = :paid, transactionId = :t, paidAt = :pt, history = list_append(history, :h)")
            .condition_expression("#s = :pending")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
            .expression_attribute_values(":pending", s(OrderStatus::PendingPayment.as_str()))
            .expression_attribute_values(":t", s(transaction_id))
            .expression_attribute_values(":pt", s(success_time))
            .expression_attribute_values(":h", history_entry(&change))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Transition::Done),
            Err(err) if super::condition_failed(&err) => Ok(Transition::NotApplicable),
            Err(err) => Err(StoreError::dynamo("UpdateItem mark paid", err)),
        }
    }

    /// Every order of a shopper, newest first, for their data export and their account's
    /// deletion.
    pub async fn all_for_user(&self, user: &UserId) -> Result<Vec<Order>, StoreError> {
        let mut orders = Vec::new();
        let mut after = None;
        loop {
            let page = self.list_for_user(user, None, after, 100).await?;
            orders.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(orders),
            }
        }
    }

    /// Replaces the order's receiver with `Address::erased` and forgets whom its provider
    /// charged, conditional on the status as read: false when the order moved meanwhile (read
    /// it again: it may be in flight now). Amounts, lines and dates stay for the accounts.
    pub async fn erase_receiver(&self, order: &Order, now: i64) -> Result<bool, StoreError> {
        let erased = AttributeValue::M(to_item(&order.address.erased()));
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(&order.id).into_iter().collect()))
            .update_expression(
                "SET address = :erased, receiverErasedAt = :now REMOVE openid, alipayOpenId",
            )
            .condition_expression("#s = :read")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":erased", erased)
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":read", s(order.status.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(err) if super::condition_failed(&err) => return Ok(false),
            Err(err) => return Err(StoreError::dynamo("UpdateItem erase receiver", err)),
        }
        // Its phone no longer finds it (the receiver is gone; a retry deletes it again).
        if let Some(link) = self.phone_tail_link(order).await? {
            let key: Item = link
                .into_iter()
                .filter(|(k, _)| k == "pk" || k == "sk")
                .collect();
            self.client
                .delete_item()
                .table_name(&self.orders)
                .set_key(Some(key))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("DeleteItem phone link", e))?;
        }
        Ok(true)
    }

    /// Marks the order alerted for missing shipping information: true the first time only, so
    /// duplicate checks raise one alert.
    pub async fn record_shipping_alert(&self, id: &OrderId, now: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(id).into_iter().collect()))
            .update_expression("SET shippingAlertedAt = :now")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(shippingAlertedAt)",
            )
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem shipping alert", err)),
        }
    }

    /// `from -> to` with a history entry, conditional on `from`: a duplicate or late event finds
    /// the order moved on and changes nothing.
    pub async fn advance(
        &self,
        id: &OrderId,
        from: OrderStatus,
        to: OrderStatus,
        reason: &str,
        now: i64,
    ) -> Result<Transition, StoreError> {
        debug_assert!(from.can_become(to));
        let change = StatusChange {
            status: to,
            at: now,
            reason: Some(reason.to_string()),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.orders)
            .set_key(Some(order_key(id).into_iter().collect()))
            .update_expression("SET #s = :to, history = list_append(history, :h)")
            .condition_expression("#s = :from")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":h", history_entry(&change))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Transition::Done),
            Err(err) if super::condition_failed(&err) => Ok(Transition::NotApplicable),
            Err(err) => Err(StoreError::dynamo("UpdateItem advance order", err)),
        }
    }

    /// The writes that cancel an unpaid order and release everything it holds (stock, flash-sale
    /// quota, coupon, points, group seat, bargain), the first conditional on PENDING_PAYMENT:
    /// commit them as one transaction, with an audit record for a staff member's cancel.
    pub fn cancel_writes(
        &self,
        order: &Order,
        reason: &str,
        now: i64,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let build = |e| StoreError::dynamo("build transaction", e);
        let change = StatusChange {
            status: OrderStatus::Cancelled,
            at: now,
            reason: Some(reason.to_string()),
        };
        let cancel = Update::builder()
            .table_name(&self.orders)
            .set_key(Some(order_key(&order.id).into_iter().collect()))
            .update_expression("SET #s = :cancelled, history = list_append(history, :h)")
            .condition_expression("#s = :pending")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":cancelled", s(OrderStatus::Cancelled.as_str()))
            .expression_attribute_values(":pending", s(OrderStatus::PendingPayment.as_str()))
            .expression_attribute_values(":h", history_entry(&change))
            .build()
            .map_err(build)?;
        let mut items = vec![TransactWriteItem::builder().update(cancel).build()];
        for line in &order.lines {
            let mut release = Update::builder()
                .table_name(&self.catalog)
                .set_key(Some(sku_key(&line.sku_id).into_iter().collect()))
                .expression_attribute_values(":q", n(line.quantity.get()));
            release = if line.flash_quantity > 0 {
                release
                    .update_expression("ADD stock :q, flashSold :back")
                    .expression_attribute_values(":back", n(-i64::from(line.flash_quantity)))
            } else {
                release.update_expression("ADD stock :q")
            };
            items.push(
                TransactWriteItem::builder()
                    .update(release.build().map_err(build)?)
                    .build(),
            );
            if line.flash_quantity > 0 {
                let per_user = self
                    .flash_count(
                        &line.sku_id,
                        &order.user_id,
                        -i64::from(line.flash_quantity),
                    )
                    .build()
                    .map_err(build)?;
                items.push(TransactWriteItem::builder().update(per_user).build());
            }
        }
        if let Some(coupon) = &order.coupon_id {
            items.push(
                self.coupons
                    .return_write(&order.user_id, coupon, &order.id)?,
            );
        }
        if order.points_used > 0 {
            items.extend(
                self.points
                    .entry_writes(&order.user_id, &PointsLedger::return_entry(order, now))?,
            );
        }
        items.extend(self.social.release_writes(order)?);
        items.extend(super::points_mall::release_writes(
            self.points.table(),
            order,
        )?);
        if let Some(bargain) = &order.bargain_id {
            items.push(self.social.return_write(bargain, &order.id)?);
        }
        Ok(items)
    }

    /// `PENDING_PAYMENT -> CANCELLED` with every line's stock and flash-sale quota, the coupon
    /// and the points back, in one transaction: the condition on the order's status makes the
    /// release happen exactly once, however many cancels and deadlines race.
    pub async fn cancel_and_release(
        &self,
        order: &Order,
        reason: &str,
        now: i64,
    ) -> Result<Transition, StoreError> {
        let items = self.cancel_writes(order, reason, now)?;
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Transition::Done),
            Err(err) => match failed_conditions(&err) {
                Some(failed) if failed.first() == Some(&true) => Ok(Transition::NotApplicable),
                _ => Err(StoreError::dynamo("TransactWriteItems cancel order", err)),
            },
        }
    }

    /// Records a payment a person must look at. The same kind and reference overwrite one record,
    /// so a notification repeated 15 times is one item to review.
    pub async fn record_review(
        &self,
        kind: &str,
        reference: &str,
        details: &serde_json::Value,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut item = Item::new();
        item.insert("pk".into(), s(format!("REVIEW#{kind}#{reference}")));
        item.insert("sk".into(), s("REVIEW"));
        item.insert("kind".into(), s(kind));
        item.insert("reference".into(), s(reference));
        item.insert("details".into(), super::to_attribute(details));
        item.insert("recordedAt".into(), n(now));
        self.client
            .put_item()
            .table_name(&self.orders)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem review", e))?;
        Ok(())
    }

    pub async fn review(
        &self,
        kind: &str,
        reference: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders)
            .key("pk", s(format!("REVIEW#{kind}#{reference}")))
            .key("sk", s("REVIEW"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem review", e))?;
        Ok(out
            .item
            .and_then(|i| i.get("details").map(super::from_attribute)))
    }
}

//! Shoppers, keyed by our own user id, with a uniqueness record per WeChat openid; what they
//! viewed and bought (for recommendations); and the cached WeChat access_token.
//!
//! Items in the users table (key `pk`):
//! - `USER#<userId>`: the account; once deleted, only `deletedAt` is left of it, so every token
//!   it ever had is refused
//! - `ALIPAY#<open_id>`: the same for an Alipay identity (a shop's Alipay mini-program)
//! - `OPENID#<openid>`: which account an openid belongs to; created with the account in one
//!   transaction, conditional on not existing, so two racing first logins make one user
//! - `PREFS#<userId>`: counters `v_<categoryId>` (views) and `b_<categoryId>` (purchases), and
//!   the set `boughtProducts`
//! - `WECHAT#access_token`: the stable access_token and its expiry, shared by every cold start

use super::{Item, StoreError, failed_conditions, get_i64, get_s, n, s};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use domain::ids::{CategoryId, OpenId, ProductId, UserId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: UserId,
    pub created_at: i64,
    /// The share code a new user arrived with, for invite rewards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
    /// The sharer behind `invite_code`, set when the account is created and never after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_masked: Option<String>,
}

impl User {
    pub fn phone_bound(&self) -> bool {
        self.phone_hash.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Buyer {
    pub openid: Option<OpenId>,
    /// Whom Alipay charges, for a shopper who logged in through the Alipay mini-program.
    pub alipay_open_id: Option<String>,
    pub member_level: Option<String>,
    /// Who invited this shopper, when they signed up through a share link.
    pub invited_by: Option<UserId>,
}

impl Buyer {
    pub(crate) fn of(item: &Item) -> Self {
        Buyer {
            openid: get_s(item, "openid").and_then(|o| OpenId::parse(o).ok()),
            alipay_open_id: get_s(item, "alipayOpenId").map(str::to_string),
            member_level: get_s(item, "memberLevel").map(str::to_string),
            invited_by: get_s(item, "invitedBy").and_then(|u| UserId::parse(u).ok()),
        }
    }
}

/// Who a shopper is to a payment provider's mini-program: one account per identity.
#[derive(Debug, Clone)]
pub enum Identity {
    WeChat(OpenId),
    /// Alipay's `open_id` (or `user_id`) for our app.
    Alipay(String),
}

impl Identity {
    fn key(&self) -> String {
        match self {
            Identity::WeChat(openid) => format!("OPENID#{}", openid.expose()),
            Identity::Alipay(id) => format!("ALIPAY#{id}"),
        }
    }

    fn attribute(&self) -> &'static str {
        match self {
            Identity::WeChat(_) => "openid",
            Identity::Alipay(_) => "alipayOpenId",
        }
    }

    fn expose(&self) -> &str {
        match self {
            Identity::WeChat(openid) => openid.expose(),
            Identity::Alipay(id) => id,
        }
    }
}

pub struct SignIn {
    pub user: User,
    pub is_new: bool,
}

/// What a shopper looked at and bought, by category.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preferences {
    pub viewed: BTreeMap<CategoryId, u64>,
    pub bought: BTreeMap<CategoryId, u64>,
    pub bought_products: BTreeSet<ProductId>,
}

impl Preferences {
    /// Categories by interest, strongest first: a purchase weighs as much as three views.
    pub fn top_categories(&self, how_many: usize) -> Vec<CategoryId> {
        let mut score: BTreeMap<&CategoryId, u64> = BTreeMap::new();
        for (c, v) in &self.viewed {
            *score.entry(c).or_default() += v;
        }
        for (c, b) in &self.bought {
            *score.entry(c).or_default() += b * 3;
        }
        let mut ranked: Vec<_> = score.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ranked
            .into_iter()
            .take(how_many)
            .map(|(c, _)| c.clone())
            .collect()
    }
}

#[derive(Clone)]
pub struct UserStore {
    client: Client,
    table: String,
}

fn user_key(id: &UserId) -> AttributeValue {
    s(format!("USER#{id}"))
}

const ACCESS_TOKEN_KEY: &str = "WECHAT#access_token";

impl UserStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The account, unless it does not exist or was deleted.
    pub async fn get(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem user", e))?;
        out.item
            .filter(|i| !i.contains_key("deletedAt"))
            .as_ref()
            .map(super::from_item)
            .transpose()
    }

    /// The account this identity signed in to, if it has one (a deleted account's identity
    /// has none: its next login starts a new account).
    pub async fn user_id_for(&self, identity: &Identity) -> Result<Option<UserId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(identity.key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem openid", e))?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| get_s(i, "userId"))
            .and_then(|id| UserId::parse(id).ok()))
    }

    /// The account for this openid, created on first sight. Exactly one account exists per
    /// openid however many first logins race. A new account that arrived through a share link
    /// is attributed to its sharer in the same transaction: existing accounts never are.
    pub async fn sign_in(
        &self,
        identity: &Identity,
        invite_code: Option<&str>,
        inviter: Option<(&UserId, &super::social::SocialStore)>,
        now: i64,
    ) -> Result<SignIn, StoreError> {
        for _ in 0..3 {
            if let Some(id) = self.user_id_for(identity).await? {
                let user = self.get(&id).await?.ok_or_else(|| StoreError::Corrupt {
                    key: format!("USER#{id}"),
                    problem: "openid record points at a missing user".into(),
                })?;
                return Ok(SignIn {
                    user,
                    is_new: false,
                });
            }
            let user = User {
                id: UserId::generate(),
                created_at: now,
                invite_code: invite_code.map(str::to_string),
                invited_by: inviter.map(|(u, _)| u.clone()),
                member_level: None,
                phone_hash: None,
                phone_masked: None,
            };
            let mut user_item: Item = super::to_item(&user);
            user_item.insert("pk".into(), user_key(&user.id));
            // The provider's id stays in the table for payments and notices; it never leaves the
            // backend.
            user_item.insert(identity.attribute().into(), s(identity.expose()));
            let mut openid_item = Item::new();
            openid_item.insert("pk".into(), s(identity.key()));
            openid_item.insert("userId".into(), s(user.id.as_str()));
            openid_item.insert("createdAt".into(), n(now));
            let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| StoreError::dynamo("build Put", e))?;
                Ok(TransactWriteItem::builder().put(put).build())
            };
            let mut items = vec![put(openid_item)?, put(user_item)?];
            if let (Some((by, invites)), Some(code)) = (
                inviter,
                invite_code.and_then(|c| domain::ids::ShareCode::parse(c).ok()),
            ) {
                items.push(invites.invite_write(by, &user.id, &code, now)?);
            }
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(SignIn { user, is_new: true }),
                Err(err) if failed_conditions(&err).is_some_and(|f| f.contains(&true)) => continue,
                Err(err) => return Err(StoreError::dynamo("TransactWriteItems sign-in", err)),
            }
        }
        Err(StoreError::Corrupt {
            key: "<identity redacted>".into(),
            problem: "sign-in kept conflicting".into(),
        })
    }

    /// True when the account was deleted: its tokens are refused from then on. A strongly
    /// consistent read, so a deletion is seen by the very next request.
    pub async fn is_deleted(&self, id: &UserId) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .projection_expression("deletedAt")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem account state", e))?;
        Ok(out.item.is_some_and(|i| i.contains_key("deletedAt")))
    }

    /// Closes the account, in one transaction: everything it held (phone, provider ids, invite,
    /// member level) is removed and `deletedAt` set; its openid (or Alipay id) is released, so
    /// the same person's next login starts a new, empty account; the recommendation counters
    /// go. False when the account does not exist or was already closed.
    pub async fn close(&self, id: &UserId, now: i64) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem account to close", e))?;
        let Some(item) = out.item.filter(|i| !i.contains_key("deletedAt")) else {
            return Ok(false);
        };
        let mut identities = Vec::new();
        if let Some(openid) = get_s(&item, "openid") {
            identities.push(format!("OPENID#{openid}"));
        }
        if let Some(alipay) = get_s(&item, "alipayOpenId") {
            identities.push(format!("ALIPAY#{alipay}"));
        }
        let build = |e| StoreError::dynamo("build account close", e);
        let tombstone = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .update_expression(
                "SET deletedAt = :now REMOVE openid, alipayOpenId, phoneHash, phoneMasked, \
                 phoneBoundAt, inviteCode, invitedBy, memberLevel",
            )
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deletedAt)")
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build)?;
        let mut items = vec![TransactWriteItem::builder().update(tombstone).build()];
        for identity in identities {
            // Only if it still points here: the identity may already belong to a new account.
            let release = aws_sdk_dynamodb::types::Delete::builder()
                .table_name(&self.table)
                .key("pk", s(identity))
                .condition_expression("attribute_not_exists(pk) OR userId = :u")
                .expression_attribute_values(":u", s(id.as_str()))
                .build()
                .map_err(build)?;
            items.push(TransactWriteItem::builder().delete(release).build());
        }
        let prefs = aws_sdk_dynamodb::types::Delete::builder()
            .table_name(&self.table)
            .key("pk", s(format!("PREFS#{id}")))
            .build()
            .map_err(build)?;
        items.push(TransactWriteItem::builder().delete(prefs).build());
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if failed_conditions(&err).is_some() => Ok(false),
            Err(err) => Err(StoreError::dynamo("TransactWriteItems close account", err)),
        }
    }

    /// What checkout needs of a shopper: whom WeChat Pay charges and their member level.
    pub async fn buyer(&self, id: &UserId) -> Result<Option<Buyer>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .projection_expression("openid, alipayOpenId, memberLevel, invitedBy")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem buyer", e))?;
        Ok(out.item.as_ref().map(Buyer::of))
    }

    pub async fn openid_of(&self, id: &UserId) -> Result<Option<OpenId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .projection_expression("openid")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem openid of user", e))?;
        Ok(out
            .item
            .as_ref()
            .and_then(|i| get_s(i, "openid"))
            .and_then(|o| OpenId::parse(o).ok()))
    }

    /// Sets (or with `None` clears) a shopper's member level; false when there is no such user.
    /// The write that sets (or, with `None`, ends) a shopper's membership level, refused if
    /// there is no such shopper: commit it with its audit record.
    pub fn member_level_write(
        &self,
        id: &UserId,
        level: Option<&str>,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .condition_expression("attribute_exists(pk)");
        let update = match level {
            Some(level) => update
                .update_expression("SET memberLevel = :l")
                .expression_attribute_values(":l", s(level)),
            None => update.update_expression("REMOVE memberLevel"),
        };
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .update(
                update
                    .build()
                    .map_err(|e| StoreError::dynamo("build member level", e))?,
            )
            .build())
    }

    /// Records the phone's keyed hash and masked form; false when the user does not exist.
    pub async fn bind_phone(
        &self,
        id: &UserId,
        hash: &str,
        masked: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", user_key(id))
            .update_expression("SET phoneHash = :h, phoneMasked = :m, phoneBoundAt = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":h", s(hash))
            .expression_attribute_values(":m", s(masked))
            .expression_attribute_values(":t", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem bind phone", err)),
        }
    }

    /// Forgets the phone bound to this openid's account (its keyed hash and masked form), as
    /// when the shopper revokes it on WeChat; false when the openid has no account or no phone.
    pub async fn forget_phone(&self, openid: &OpenId) -> Result<bool, StoreError> {
        let Some(id) = self.user_id_for(&Identity::WeChat(openid.clone())).await? else {
            return Ok(false);
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", user_key(&id))
            .update_expression("REMOVE phoneHash, phoneMasked, phoneBoundAt")
            .condition_expression("attribute_exists(phoneHash) OR attribute_exists(phoneMasked)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if super::condition_failed(&err) => Ok(false),
            Err(err) => Err(StoreError::dynamo("UpdateItem forget phone", err)),
        }
    }

    pub async fn record_view(&self, id: &UserId, category: &CategoryId) -> Result<(), StoreError> {
        self.bump(id, &format!("v_{category}"), None).await
    }

    /// Counts a purchase for recommendations (called when an order is paid).
    pub async fn record_purchase(
        &self,
        id: &UserId,
        category: &CategoryId,
        product: &ProductId,
    ) -> Result<(), StoreError> {
        self.bump(id, &format!("b_{category}"), Some(product)).await
    }

    async fn bump(
        &self,
        id: &UserId,
        counter: &str,
        product: Option<&ProductId>,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("PREFS#{id}")))
            .expression_attribute_names("#c", counter)
            .expression_attribute_values(":one", n(1));
        update = match product {
            Some(p) => update
                .update_expression("ADD #c :one, boughtProducts :p")
                .expression_attribute_values(":p", AttributeValue::Ss(vec![p.to_string()])),
            None => update.update_expression("ADD #c :one"),
        };
        update
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem preferences", e))?;
        Ok(())
    }

    pub async fn preferences(&self, id: &UserId) -> Result<Preferences, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("PREFS#{id}")))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem preferences", e))?;
        let mut prefs = Preferences::default();
        let Some(item) = out.item else {
            return Ok(prefs);
        };
        for (name, value) in &item {
            let count = match value {
                AttributeValue::N(v) => v.parse::<u64>().unwrap_or(0),
                AttributeValue::Ss(products) if name == "boughtProducts" => {
                    prefs.bought_products = products
                        .iter()
                        .filter_map(|p| ProductId::parse(p).ok())
                        .collect();
                    continue;
                }
                _ => continue,
            };
            let (target, category) = if let Some(c) = name.strip_prefix("v_") {
                (&mut prefs.viewed, c)
            } else if let Some(c) = name.strip_prefix("b_") {
                (&mut prefs.bought, c)
            } else {
                continue;
            };
            if let Ok(category) = CategoryId::parse(category) {
                target.insert(category, count);
            }
        }
        Ok(prefs)
    }

    /// The cached WeChat access_token and when it expires (epoch seconds).
    pub async fn cached_access_token(&self) -> Result<Option<(SecretString, i64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(ACCESS_TOKEN_KEY))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem access token", e))?;
        Ok(out.item.and_then(|item| {
            let token = get_s(&item, "token")?.to_string();
            let expires_at = get_i64(&item, "expiresAt")?;
            Some((SecretString::from(token), expires_at))
        }))
    }

    pub async fn store_access_token(
        &self,
        token: &SecretString,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        use secrecy::ExposeSecret;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(ACCESS_TOKEN_KEY))
            .item("token", s(token.expose_secret()))
            .item("expiresAt", n(expires_at))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem access token", e))?;
        Ok(())
    }

    pub async fn forget_access_token(&self) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(ACCESS_TOKEN_KEY))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem access token", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purchases_outweigh_views_when_ranking_interests() {
        let cat = |c: &str| CategoryId::parse(c).unwrap();
        let prefs = Preferences {
            viewed: [(cat("tea"), 5), (cat("snack"), 2)].into(),
            bought: [(cat("snack"), 2)].into(),
            bought_products: BTreeSet::new(),
        };
        assert_eq!(prefs.top_categories(2), vec![cat("snack"), cat("tea")]);
        assert_eq!(prefs.top_categories(1).len(), 1);
    }
}

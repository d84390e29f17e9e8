//! Everything a price depends on, read in one BatchGetItem across the catalog, users and
//! marketing tables: the SKUs (with their flash-sale counters and the shopper's flash-sale
//! purchases), the shipping rule, the shopper's member level and openid, the promotion rules,
//! the points balance, the coupon the shopper chose, and the group-buy group or bargain the
//! order is for (with the shopper's seat in that group, if any).

use super::catalog::{SkuForSale, flash_buy_key, key_item, shipping_key, sku_for_sale, sku_key};
use super::marketing::{read_rules, rules_key, wallet_key};
use super::points::PointsLedger;
use super::social::{Bargain, Group, SocialStore, bargain_key, group_key, member_key};
use super::users::Buyer;
use super::{Item, StoreError, batch_get, from_item, get_i64, get_s};
use aws_sdk_dynamodb::Client;
use domain::ids::CouponId;
use domain::ids::{BargainId, GroupId};
use domain::ids::{SkuId, UserId};
use domain::pricing::ShippingRule;
use domain::promotions::{PromotionRules, WalletCoupon};
use std::collections::HashMap;

#[derive(Clone)]
pub struct CartReader {
    client: Client,
    catalog: String,
    users: String,
    marketing: String,
}

/// What one read found. Unknown SKUs are simply absent from `skus`.
#[derive(Debug, Clone)]
pub struct CartSnapshot {
    pub skus: Vec<SkuForSale>,
    pub shipping: ShippingRule,
    pub buyer: Option<Buyer>,
    pub rules: PromotionRules,
    pub points_balance: u64,
    /// The chosen coupon, if it is in this shopper's wallet.
    pub coupon: Option<WalletCoupon>,
    /// The group asked to join, and whether this shopper already sits in it.
    pub group: Option<Group>,
    pub seated: bool,
    pub bargain: Option<Bargain>,
}

/// The group-buy group or bargain a cart is priced for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferRef {
    Group(GroupId),
    Bargain(BargainId),
}

impl CartReader {
    pub fn new(
        client: Client,
        catalog: impl Into<String>,
        users: impl Into<String>,
        marketing: impl Into<String>,
    ) -> Self {
        Self {
            client,
            catalog: catalog.into(),
            users: users.into(),
            marketing: marketing.into(),
        }
    }

    pub async fn read(
        &self,
        buyer: &UserId,
        skus: &[SkuId],
        coupon: Option<&CouponId>,
        offer: Option<&OfferRef>,
    ) -> Result<CartSnapshot, StoreError> {
        let catalog = |key| (self.catalog.clone(), key_item(key));
        let mut keys: Vec<(String, Item)> = skus.iter().map(|id| catalog(sku_key(id))).collect();
        keys.extend(skus.iter().map(|id| catalog(flash_buy_key(id, buyer))));
        keys.push(catalog(shipping_key()));
        keys.push((
            self.users.clone(),
            [("pk".to_string(), super::s(format!("USER#{buyer}")))].into(),
        ));
        keys.push((self.marketing.clone(), rules_key()));
        keys.push((self.marketing.clone(), PointsLedger::balance_key(buyer)));
        if let Some(coupon) = coupon {
            keys.push((self.marketing.clone(), wallet_key(buyer, coupon)));
        }
        match offer {
            Some(OfferRef::Group(id)) => {
                keys.push((self.marketing.clone(), group_key(id)));
                keys.push((self.marketing.clone(), member_key(id, buyer)));
            }
            Some(OfferRef::Bargain(id)) => keys.push((self.marketing.clone(), bargain_key(id))),
            None => {}
        }
        let mut found = batch_get(&self.client, keys, true).await?;

        let mut snapshot = CartSnapshot {
            skus: Vec::with_capacity(skus.len()),
            shipping: ShippingRule::default(),
            buyer: None,
            rules: PromotionRules::default(),
            points_balance: 0,
            coupon: None,
            group: None,
            seated: false,
            bargain: None,
        };
        let mut bought: HashMap<String, u32> = HashMap::new();
        for item in found.remove(&self.catalog).unwrap_or_default() {
            match get_s(&item, "sk") {
                Some("shipping") => snapshot.shipping = from_item(&item)?,
                Some("FLASHBUY") => {
                    let units = get_i64(&item, "bought")
                        .and_then(|b| u32::try_from(b).ok())
                        .unwrap_or(0);
                    bought.insert(get_s(&item, "skuId").unwrap_or_default().to_string(), units);
                }
                Some("SKU") => snapshot.skus.push(sku_for_sale(&item)?),
                _ => {}
            }
        }
        for sku in &mut snapshot.skus {
            sku.flash_bought = bought.get(sku.sku.id.as_str()).copied().unwrap_or(0);
        }
        snapshot.buyer = found
            .remove(&self.users)
            .unwrap_or_default()
            .first()
            .map(Buyer::of);
        for item in found.remove(&self.marketing).unwrap_or_default() {
            match get_s(&item, "sk") {
                Some("RULES") => snapshot.rules = read_rules(Some(&item))?,
                Some("BALANCE") => snapshot.points_balance = PointsLedger::balance_of(Some(&item)),
                Some(sk) if sk.starts_with("COUPON#") => snapshot.coupon = Some(from_item(&item)?),
                Some("GROUP") => snapshot.group = Some(SocialStore::group_from(&item)?),
                Some(sk) if sk.starts_with("MEMBER#") => snapshot.seated = true,
                Some("BARGAIN") => snapshot.bargain = Some(SocialStore::bargain_from(&item)?),
                _ => {}
            }
        }
        Ok(snapshot)
    }
}

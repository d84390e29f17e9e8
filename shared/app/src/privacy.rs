//! A shopper's rights over what the shop keeps about them (个人信息保护法), however they
//! exercise them: from the mini-program (`GET /v1/me/export`, `DELETE /v1/me`) or on WeChat,
//! whose message push tells us of a revocation (`user_authorization_revoke`) or of the WeChat
//! account itself being deleted (`user_authorization_cancellation`).
//!
//! Deleting an account erases in an order that can be repeated after a crash at any point:
//! orders first (their receiver replaced, amounts, lines and dates kept for the accounts), then
//! the marketing and shopping records, then the reviews made anonymous (the words and stars
//! stay, without author, name or avatar), and last the account itself, whose close refuses every token it had.
//! Until that last step the shopper's token still works, so a failed deletion can be retried.

use domain::ids::{OpenId, OrderId, UserId};
use domain::order::{ERASED_RECEIVER, Order, OrderStatus};
use domain::phone::{PhoneHashKey, PhoneNumber};
use domain::platform::Revoked;
use domain::promotions::WalletCoupon;
use domain::review::Review;
use serde::Serialize;
use serde_json::{Value, json};
use store::StoreError;
use store::marketing::MarketingStore;
use store::orders::OrderStore;
use store::points::PointsLedger;
use store::privacy::{Erased, ShopperRecords};
use store::reviews::ReviewStore;
use store::shopping::ShoppingStore;
use store::social::SocialStore;
use store::users::{Identity, UserStore};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("orders still in flight: {}", .0.iter().map(|(id, _)| id.to_string()).collect::<Vec<_>>().join(", "))]
    InFlight(Vec<(OrderId, OrderStatus)>),
    #[error("no such account")]
    UnknownAccount,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a deletion did, for its log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    pub orders_erased: usize,
    /// Orders still in flight when WeChat said the account was gone: they keep their receiver
    /// until they are delivered or refunded.
    pub orders_kept: Vec<OrderId>,
    pub marketing: Erased,
    /// Cart lines, addresses, favorites and footprints: deleted.
    pub shopping: usize,
    /// Reviews that stay, anonymous: no author, name or avatar.
    pub reviews_anonymised: usize,
}

/// What a revocation on WeChat changed, for its log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub phone: bool,
    pub receivers: usize,
    /// Addresses taken out of the address book.
    pub addresses: usize,
    /// Addresses whose phone was the revoked number: blanked.
    pub address_phones: usize,
    pub faces: usize,
    /// Kinds revoked that the shop never keeps.
    pub not_kept: Vec<u32>,
}

/// Everything the shop keeps about one shopper, as `GET /v1/me/export` answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Export {
    pub exported_at: i64,
    pub profile: Value,
    /// What recommendations learned from the shopper's views and purchases, by category.
    pub interests: Value,
    pub orders: Vec<Order>,
    pub points: Value,
    pub coupons: Vec<WalletCoupon>,
    pub check_in: Value,
    /// Share links with how often they were opened, and the shopper's seats, bargains and cuts.
    pub shares: Value,
    /// Their points-mall redemptions.
    pub points_mall: Value,
    /// The people who joined through the shopper's links: only when and what it earned.
    pub invites: Vec<Value>,
    /// The cart, the address book, favorites and footprints, as kept.
    pub shopping: Vec<Value>,
    /// Every review written, with where its checks stand.
    pub reviews: Vec<Review>,
}

pub struct Privacy {
    users: UserStore,
    orders: OrderStore,
    points: PointsLedger,
    coupons: MarketingStore,
    social: SocialStore,
    records: ShopperRecords,
    shopping: ShoppingStore,
    reviews: ReviewStore,
    /// How the bound phone is kept: a revoked number is found in addresses by its keyed hash.
    phone_key: PhoneHashKey,
}

impl Privacy {
    pub fn new(
        dynamodb: aws_sdk_dynamodb::Client,
        users: &str,
        orders: &str,
        marketing: &str,
        shopping: &str,
        reviews: &str,
        phone_key: PhoneHashKey,
    ) -> Self {
        Self {
            users: UserStore::new(dynamodb.clone(), users),
            // Only the orders table is read or written here.
            orders: OrderStore::new(dynamodb.clone(), orders, "", "", marketing),
            points: PointsLedger::new(dynamodb.clone(), marketing),
            coupons: MarketingStore::new(dynamodb.clone(), marketing),
            social: SocialStore::new(dynamodb.clone(), marketing),
            records: ShopperRecords::new(dynamodb.clone(), marketing),
            shopping: ShoppingStore::new(dynamodb.clone(), shopping),
            reviews: ReviewStore::new(dynamodb, reviews),
            phone_key,
        }
    }

    /// The same use case opening and sealing receivers: the export shows the shopper their
    /// addresses, and a revoked phone leaves addresses that are sealed again.
    pub fn with_personal_data(mut self, keys: store::personal::PersonalDataKeys) -> Self {
        self.orders = self.orders.with_personal_data(keys.clone());
        self.shopping = self.shopping.with_personal_data(keys);
        self
    }

    pub async fn export(&self, user: &UserId, now: i64) -> Result<Export, PrivacyError> {
        let account = self
            .users
            .get(user)
            .await?
            .ok_or(PrivacyError::UnknownAccount)?;
        let reads = Box::pin(async {
            futures::try_join!(
                self.users.preferences(user),
                self.orders.all_for_user(user),
                self.points.balance(user),
                self.points.entries(user),
                self.coupons.wallet(user),
                self.social.streak(user, now),
                self.records.traces(user),
                self.social.invites(user),
                self.shopping.everything(user),
                self.reviews.all_by_author(user),
            )
        });
        let (prefs, orders, balance, entries, coupons, streak, traces, invites, shopping, reviews) =
            reads.await?;
        let named = |counts: &std::collections::BTreeMap<domain::ids::CategoryId, u64>| -> Value {
            counts
                .iter()
                .map(|(c, n)| (c.to_string(), json!(n)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        Ok(Export {
            exported_at: now,
            profile: json!({
                "id": account.id,
                "createdAt": account.created_at,
                "phone": account.phone_masked,
                "memberLevel": account.member_level,
                "inviteCode": account.invite_code,
                "invitedBy": account.invited_by,
            }),
            interests: json!({
                "viewedCategories": named(&prefs.viewed),
                "boughtCategories": named(&prefs.bought),
                "boughtProducts": prefs.bought_products,
            }),
            orders,
            points: json!({
                "balance": balance,
                "entries": entries.iter().map(|e| json!({
                    "key": e.key, "delta": e.delta, "reason": e.reason,
                    "orderId": e.order_id, "at": e.at,
                })).collect::<Vec<_>>(),
            }),
            coupons,
            check_in: json!({"streak": streak.0, "checkedInToday": streak.1}),
            shares: json!({
                "links": traces.shares,
                "groupSeats": traces.seats.iter().map(|(g, m)| json!({"groupId": g, "seat": m})).collect::<Vec<_>>(),
                "bargains": traces.bargains,
                "bargainHelps": traces.helped.iter().map(|(b, h)| json!({"bargainId": b, "help": h})).collect::<Vec<_>>(),
                "luckyDraws": traces.draws,
            }),
            points_mall: json!({ "redemptions": traces.redemptions }),
            invites: invites
                .iter()
                .map(|i| {
                    json!({
                        "code": i.code, "joinedAt": i.joined_at, "state": i.state.as_str(),
                        "points": i.points, "couponId": i.coupon_id,
                    })
                })
                .collect(),
            shopping,
            reviews,
        })
    }

    /// `DELETE /v1/me`: refused, naming them, while any order is in flight.
    pub async fn delete_account(&self, user: &UserId, now: i64) -> Result<Deleted, PrivacyError> {
        if self.users.get(user).await?.is_none() {
            return Err(PrivacyError::UnknownAccount);
        }
        // Boxed: erasing awaits a dozen stores in turn, too deep a future for a small stack.
        Box::pin(self.erase(user, now, true)).await
    }

    /// `user_authorization_cancellation`: the WeChat account is gone, so the shop's goes too.
    /// Orders in flight cannot be refused to WeChat: they keep their receiver to be delivered
    /// or refunded, and everything else goes. None when the openid has no account.
    pub async fn wechat_account_gone(
        &self,
        openid: &OpenId,
        now: i64,
    ) -> Result<Option<Deleted>, PrivacyError> {
        let Some(user) = self
            .users
            .user_id_for(&Identity::WeChat(openid.clone()))
            .await?
        else {
            return Ok(None);
        };
        Box::pin(self.erase(&user, now, false)).await.map(Some)
    }

    /// `user_authorization_revoke`: the kinds of data taken back, forgotten wherever we keep
    /// them. Addresses go from finished orders; an order in flight keeps its receiver until
    /// it is delivered.
    pub async fn revoke(
        &self,
        openid: &OpenId,
        kinds: &[u32],
        now: i64,
    ) -> Result<Forgotten, PrivacyError> {
        let mut forgotten = Forgotten::default();
        let user = self
            .users
            .user_id_for(&Identity::WeChat(openid.clone()))
            .await?;
        for kind in kinds {
            match (Revoked::of(*kind), &user) {
                (Revoked::Phone, Some(user)) => {
                    // The addresses first, while the account still knows which number it was.
                    if let Some(bound) = self.users.get(user).await?.and_then(|u| u.phone_hash) {
                        forgotten.address_phones += self
                            .shopping
                            .forget_address_phones(user, |phone| {
                                PhoneNumber::parse_mainland(phone)
                                    .is_ok_and(|p| p.keyed_hash(&self.phone_key) == bound)
                            })
                            .await?;
                    }
                    forgotten.phone = self.users.forget_phone(openid).await?;
                }
                (Revoked::Phone, None) => {}
                (Revoked::Address, Some(user)) => {
                    let orders = self.orders.all_for_user(user).await?;
                    let (erased, _) = self.erase_receivers(orders, now).await?;
                    forgotten.receivers += erased;
                    forgotten.addresses += self.shopping.erase_addresses(user).await?;
                }
                (Revoked::Profile, Some(user)) => {
                    forgotten.faces += self.records.erase_faces(user, false).await?;
                    forgotten.faces += self.reviews.anonymise(user, false).await?;
                }
                (Revoked::Other(kind), _) => forgotten.not_kept.push(kind),
                (Revoked::Address | Revoked::Profile, None) => {}
            }
        }
        Ok(forgotten)
    }

    async fn erase(
        &self,
        user: &UserId,
        now: i64,
        refuse_in_flight: bool,
    ) -> Result<Deleted, PrivacyError> {
        let orders = self.orders.all_for_user(user).await?;
        if refuse_in_flight {
            let in_flight: Vec<_> = orders
                .iter()
                .filter(|o| o.status.in_flight())
                .map(|o| (o.id.clone(), o.status))
                .collect();
            if !in_flight.is_empty() {
                return Err(PrivacyError::InFlight(in_flight));
            }
        }
        let (orders_erased, orders_kept) = self.erase_receivers(orders, now).await?;
        if refuse_in_flight && !orders_kept.is_empty() {
            // An order moved into flight while we worked (a refund asked for meanwhile).
            return Err(PrivacyError::InFlight(orders_kept));
        }
        let marketing = self.records.erase(user).await?;
        let shopping = self.shopping.erase(user).await?;
        let reviews_anonymised = self.reviews.anonymise(user, true).await?;
        self.users.close(user, now).await?;
        Ok(Deleted {
            orders_erased,
            orders_kept: orders_kept.into_iter().map(|(id, _)| id).collect(),
            marketing,
            shopping,
            reviews_anonymised,
        })
    }

    /// Erases the receiver of every finished order; answers how many it erased and the orders
    /// in flight it left alone.
    async fn erase_receivers(
        &self,
        orders: Vec<Order>,
        now: i64,
    ) -> Result<(usize, Vec<(OrderId, OrderStatus)>), PrivacyError> {
        let mut erased = 0;
        let mut kept = Vec::new();
        for mut order in orders {
            // Each try is conditional on the status read; a few moves in a row is plenty.
            for _ in 0..3 {
                if order.status.in_flight() {
                    kept.push((order.id.clone(), order.status));
                    break;
                }
                if order.address.name == ERASED_RECEIVER && order.address.phone.is_empty() {
                    break;
                }
                if self.orders.erase_receiver(&order, now).await? {
                    erased += 1;
                    break;
                }
                match self.orders.get(&order.id).await? {
                    Some(stored) => order = stored.order,
                    None => break,
                }
            }
        }
        Ok((erased, kept))
    }
}

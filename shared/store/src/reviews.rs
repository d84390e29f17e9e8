//! Reviews, in the reviews table (keys `pk`, `sk`):
//! - `PRODUCT#<productId>` / `REVIEW#<orderId>#<skuId>`: one line's review, so a line is
//!   reviewed once by the key itself. Only shown reviews carry `listedAt` and `photoRank`, the
//!   sort keys of the `Newest` and `PhotosFirst` local indexes, so those list nothing else.
//!   `author` and `createdAt` key the `ByAuthor` index (a shopper's own reviews, whatever
//!   their state); a deleted account's reviews lose `author` and leave it. Reviews WeChat
//!   left to the merchant carry `merchantQueue`, which keys the `AwaitingMerchant` index.
//! - `TRACE#<traceId>` / `TRACE`: a photo sent to WeChat's `mediaCheckAsync`, which review and
//!   photo it is, and WeChat's verdict once pushed. Whichever of the two writes comes second
//!   finds the other's half, so a verdict pushed before we recorded the trace is not lost.
//!
//! The product's rating (`RATING` beside its `META` in the catalog table) moves in the same
//! transaction that shows a review, conditional on the review's version: counted once.

use super::{Item, ListPosition, Page, StoreError, from_item, get_s, n, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Put, ReturnValue, TransactWriteItem, Update};
use domain::ids::{OrderId, ProductId, SkuId, UserId};
use domain::review::{RatingSummary, Review, ReviewOrder, ReviewState, Verdict, photos_first_rank};

pub const INDEX_NEWEST: &str = "Newest";
pub const INDEX_PHOTOS_FIRST: &str = "PhotosFirst";
pub const INDEX_BY_AUTHOR: &str = "ByAuthor";
pub const INDEX_AWAITING_MERCHANT: &str = "AwaitingMerchant";
/// The one partition of the merchant's queue: it holds only what waits, so it stays small.
const MERCHANT_QUEUE: &str = "IN_REVIEW";
/// A trace is kept long past WeChat's 30-minute verdict.
const TRACE_SECONDS: i64 = 7 * 24 * 60 * 60;

/// Which review, and which of its photos a trace is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewKey {
    pub product_id: ProductId,
    pub order_id: OrderId,
    pub sku_id: SkuId,
}

impl ReviewKey {
    pub fn of(review: &Review) -> Self {
        Self {
            product_id: review.product_id.clone(),
            order_id: review.order_id.clone(),
            sku_id: review.sku_id.clone(),
        }
    }

    fn item(&self) -> Item {
        Item::from([
            ("pk".to_string(), s(format!("PRODUCT#{}", self.product_id))),
            (
                "sk".to_string(),
                s(format!("REVIEW#{}#{}", self.order_id, self.sku_id)),
            ),
        ])
    }
}

/// What submitting a review found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    Stored,
    /// The line was reviewed already: this is that review.
    Exists(Box<Review>),
}

fn trace_key(trace_id: &str) -> Item {
    Item::from([
        ("pk".to_string(), s(format!("TRACE#{trace_id}"))),
        ("sk".to_string(), s("TRACE")),
    ])
}

/// The catalog key of a product's rating, read beside its SKUs.
pub fn rating_key(product: &ProductId) -> Item {
    Item::from([
        ("pk".to_string(), s(format!("PRODUCT#{product}"))),
        ("sk".to_string(), s("RATING")),
    ])
}

/// The product's rating as the catalog table keeps it.
pub fn rating_of(item: &Item) -> RatingSummary {
    let count = |name: &str| {
        super::get_i64(item, name)
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0)
    };
    RatingSummary {
        count: count("count"),
        stars: count("stars"),
        good: count("good"),
    }
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::dynamo("build review write", e)
}

fn review_item(review: &Review) -> Item {
    let mut item = to_item(review);
    item.extend(ReviewKey::of(review).item());
    if review.state == ReviewState::InReview {
        item.insert("merchantQueue".into(), s(MERCHANT_QUEUE));
    }
    if let (ReviewState::Shown, Some(at)) = (review.state, review.shown_at) {
        item.insert("listedAt".into(), n(at));
        item.insert("photoRank".into(), n(photos_first_rank(&review.photos, at)));
    }
    item
}

#[derive(Clone)]
pub struct ReviewStore {
    client: Client,
    table: String,
    /// Where each product's rating is kept, beside the product: only writers that show
    /// reviews need it.
    catalog: Option<String>,
}

impl ReviewStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            catalog: None,
        }
    }

    /// Shows reviews: counts their stars in the ratings kept in the `catalog` table.
    pub fn showing(mut self, catalog: impl Into<String>) -> Self {
        self.catalog = Some(catalog.into());
        self
    }

    /// Stores a new review, unless its line has one.
    pub async fn submit(&self, review: &Review) -> Result<Submitted, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(review_item(review)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Submitted::Stored),
            Err(err) if super::condition_failed(&err) => {
                match self.get(&ReviewKey::of(review)).await? {
                    Some(existing) => Ok(Submitted::Exists(Box::new(existing))),
                    None => Err(StoreError::dynamo("PutItem review", err)),
                }
            }
            Err(err) => Err(StoreError::dynamo("PutItem review", err)),
        }
    }

    pub async fn get(&self, key: &ReviewKey) -> Result<Option<Review>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem review", e))?;
        out.item.as_ref().map(from_item).transpose()
    }

    /// Writes `review` (its version one past the one read) unless another write came between;
    /// when `shown` it is counted in its product's rating in the same transaction. False when
    /// the review changed meanwhile: read it again and redo the change.
    pub async fn save(&self, review: &Review, shown: bool) -> Result<bool, StoreError> {
        let read = review.version;
        let mut next = review.clone();
        next.version = read + 1;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(review_item(&next)))
            .condition_expression("version = :read")
            .expression_attribute_values(":read", n(read))
            .build()
            .map_err(build_err)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        if shown {
            let Some(catalog) = &self.catalog else {
                return Err(StoreError::Corrupt {
                    key: format!("PRODUCT#{}", review.product_id),
                    problem: "a review cannot be shown by a store without the catalog table".into(),
                });
            };
            let good = u8::from(review.rating.good());
            let rating = Update::builder()
                .table_name(catalog)
                .set_key(Some(rating_key(&review.product_id)))
                .update_expression("ADD #count :one, stars :stars, good :good")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":stars", n(review.rating.stars()))
                .expression_attribute_values(":good", n(good))
                .build()
                .map_err(build_err)?;
            items.push(TransactWriteItem::builder().update(rating).build());
        }
        Ok(
            super::transact(&self.client, items, "TransactWriteItems review")
                .await?
                .is_none(),
        )
    }

    /// Records that photo `photo` of the review went to WeChat as `trace_id`; WeChat's
    /// verdict when it was pushed already.
    pub async fn attach_trace(
        &self,
        trace_id: &str,
        review: &ReviewKey,
        photo: usize,
        now: i64,
    ) -> Result<Option<Verdict>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(trace_key(trace_id)))
            .update_expression(
                "SET productId = :p, orderId = :o, skuId = :s, photo = :i, expiresAt = :e",
            )
            .expression_attribute_values(":p", s(review.product_id.as_str()))
            .expression_attribute_values(":o", s(review.order_id.as_str()))
            .expression_attribute_values(":s", s(review.sku_id.as_str()))
            .expression_attribute_values(":i", n(photo))
            .expression_attribute_values(":e", n(now + TRACE_SECONDS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem review trace", e))?;
        Ok(out
            .attributes
            .as_ref()
            .and_then(|item| item.get("verdict"))
            .and_then(|v| serde_json::from_value(super::from_attribute(v)).ok()))
    }

    /// Records WeChat's verdict on `trace_id`; which review and photo it is about, once the
    /// trace was attached.
    pub async fn record_verdict(
        &self,
        trace_id: &str,
        verdict: &Verdict,
        now: i64,
    ) -> Result<Option<(ReviewKey, usize)>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(trace_key(trace_id)))
            .update_expression("SET verdict = :v, expiresAt = :e")
            .expression_attribute_values(
                ":v",
                super::to_attribute(&serde_json::to_value(verdict).unwrap_or_default()),
            )
            .expression_attribute_values(":e", n(now + TRACE_SECONDS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem review verdict", e))?;
        let Some(item) = out.attributes else {
            return Ok(None);
        };
        let key = (|| {
            Some((
                ReviewKey {
                    product_id: ProductId::parse(get_s(&item, "productId")?).ok()?,
                    order_id: OrderId::parse(get_s(&item, "orderId")?).ok()?,
                    sku_id: SkuId::parse(get_s(&item, "skuId")?).ok()?,
                },
                usize::try_from(super::get_i64(&item, "photo")?).ok()?,
            ))
        })();
        Ok(key)
    }

    /// A page of the product's shown reviews.
    pub async fn shown(
        &self,
        product: &ProductId,
        order: ReviewOrder,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Review>, StoreError> {
        let (index, sort) = match order {
            ReviewOrder::Newest => (INDEX_NEWEST, "listedAt"),
            ReviewOrder::PhotosFirst => (INDEX_PHOTOS_FIRST, "photoRank"),
        };
        let pk = format!("PRODUCT#{product}");
        self.page(index, ("pk", &pk), sort, after, limit).await
    }

    /// A page of the shopper's own reviews, newest first, whatever their state.
    pub async fn by_author(
        &self,
        author: &UserId,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Review>, StoreError> {
        self.page(
            INDEX_BY_AUTHOR,
            ("author", author.as_str()),
            "createdAt",
            after,
            limit,
        )
        .await
    }

    async fn page(
        &self,
        index: &str,
        partition: (&str, &str),
        sort: &str,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Review>, StoreError> {
        let page = super::index_page(
            &self.client,
            &self.table,
            index,
            partition,
            sort,
            after,
            limit,
        )
        .await?;
        Ok(Page {
            items: page.items.iter().map(from_item).collect::<Result<_, _>>()?,
            next: page.next,
        })
    }

    /// A page of the reviews waiting for the merchant, newest first.
    pub async fn awaiting_merchant(
        &self,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Review>, StoreError> {
        self.page(
            INDEX_AWAITING_MERCHANT,
            ("merchantQueue", MERCHANT_QUEUE),
            "createdAt",
            after,
            limit,
        )
        .await
    }

    /// Every review the shopper wrote (their export and the deletion of their account).
    pub async fn all_by_author(&self, author: &UserId) -> Result<Vec<Review>, StoreError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self.by_author(author, after, 100).await?;
            all.extend(page.items);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Takes the author's name and avatar off their reviews, and with `leave` the author
    /// too, so the reviews stay only as anonymous words and stars. Answers how many changed.
    pub async fn anonymise(&self, author: &UserId, leave: bool) -> Result<usize, StoreError> {
        let reviews = self.all_by_author(author).await?;
        let mut changed = 0;
        for review in &reviews {
            let expression = if leave {
                "REMOVE nickname, avatarUrl, author SET version = version + :one"
            } else {
                "REMOVE nickname, avatarUrl SET version = version + :one"
            };
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(ReviewKey::of(review).item()))
                .update_expression(expression)
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":one", n(1))
                .send()
                .await;
            match update {
                Ok(_) => changed += 1,
                Err(err) if super::condition_failed(&err) => {}
                Err(err) => return Err(StoreError::dynamo("UpdateItem review author", err)),
            }
        }
        Ok(changed)
    }
}

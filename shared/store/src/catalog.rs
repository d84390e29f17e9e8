//! The catalog table (keys `pk`, `sk`):
//! - `CATEGORY` / `<categoryId>`: a category
//! - `PRODUCT#<productId>` / `META`: a product, with `skuIds` and its search `terms`; while on
//!   the shelf it also carries `gsi1pk = CATEGORY#<id>` (index `ByCategory`) and `gsi2pk = SHELF`
//!   (index `Shelf`), both sorted by `rank` (best sellers first), so off-shelf products drop out
//!   of every listing without a filter; off the shelf it carries `gsi2pk = OFF_SHELF` (staff
//!   list those). `version` counts its writes (staff edit against one); `postedTerms` are the
//!   terms whose postings exist, until [`CatalogStore::sync_terms`] brings them in step
//! - `SKU#<skuId>` / `SKU`: a SKU with its stock, keyed on its own so checkout can take stock by
//!   SKU id alone with a conditional write
//! - `TERM#<term>` / `<productId>`: the search posting lists, with `categoryId` and `rank`
//! - `CONFIG` / `<name>`: shop settings (for example shipping rules)

use super::{Item, StoreError, from_item, get_i64, get_s, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use domain::catalog::{Category, Product, ProductSummary, Sku, summarize};
use domain::ids::{CategoryId, ProductId, SkuId, UserId};

use std::collections::{BTreeSet, HashMap};

/// The most postings read for one search term: a shop's catalog, not the web.
const MAX_POSTINGS_PER_TERM: usize = 2000;

pub const INDEX_BY_CATEGORY: &str = "ByCategory";
pub const INDEX_SHELF: &str = "Shelf";
/// The `Shelf` index's partitions: products on sale, and the rest (listed to staff only).
const SHELF: &str = "SHELF";
const OFF_SHELF: &str = "OFF_SHELF";

/// How a product write finds what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductExpect {
    /// Created: refused if the id is taken.
    New,
    /// Changed from the version the staff member saw: refused if anyone wrote it since.
    Version(u64),
    /// Whatever is there (the seed).
    Any,
}

/// A product as staff see it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffProduct {
    pub product: Product,
    pub skus: Vec<Sku>,
    /// How many writes the product has had: an edit names the one it was made against.
    pub version: u64,
}

fn version_of(meta: &Item) -> u64 {
    get_i64(meta, "version")
        .and_then(|v| u64::try_from(v).ok())
        .unwrap_or(0)
}

fn list_of(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::L(values)) => values
            .iter()
            .filter_map(|v| v.as_s().ok().cloned())
            .collect(),
        Some(AttributeValue::Ss(values)) => values.clone(),
        _ => Vec::new(),
    }
}

pub use super::{ListPosition, Page};
use domain::pricing::ShippingRule;

/// A SKU as checkout sees it.
#[derive(Debug, Clone)]
pub struct SkuForSale {
    pub sku: Sku,
    pub title: String,
    pub image: Option<String>,
    pub on_shelf: bool,
    pub category_id: CategoryId,
    /// The categories above the product's, nearest first: category-wide promotions cover them.
    pub parent_categories: Vec<CategoryId>,
    /// Flash-sale units of this SKU the buyer has already bought.
    pub flash_bought: u32,
}

/// Best sellers sort first under an ascending sort key; ties by product id.
pub fn rank_key(sales: u64, id: &ProductId) -> String {
    format!(
        "{:013}#{id}",
        9_999_999_999_999u64.saturating_sub(sales.min(9_999_999_999_999))
    )
}

fn meta_key(id: &ProductId) -> [(&'static str, AttributeValue); 2] {
    [("pk", s(format!("PRODUCT#{id}"))), ("sk", s("META"))]
}

pub(crate) fn sku_key(id: &SkuId) -> [(&'static str, AttributeValue); 2] {
    [("pk", s(format!("SKU#{id}"))), ("sk", s("SKU"))]
}

pub(crate) fn key_item(key: [(&'static str, AttributeValue); 2]) -> Item {
    key.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[derive(Clone)]
pub struct CatalogStore {
    client: Client,
    table: String,
}

/// A product as stored: the product, the ids of its SKUs and its indexed terms.
struct StoredProduct {
    product: Product,
    sku_ids: Vec<SkuId>,
    terms: BTreeSet<String>,
}

fn stored_product(item: &Item) -> Result<StoredProduct, StoreError> {
    let product: Product = from_item(item)?;
    let list = |name: &str| list_of(item, name);
    Ok(StoredProduct {
        sku_ids: list("skuIds")
            .iter()
            .filter_map(|s| SkuId::parse(s).ok())
            .collect(),
        terms: list("terms").into_iter().collect(),
        product,
    })
}

impl CatalogStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Every item under one partition key, page by page, up to `cap` items.
    async fn partition(
        &self,
        pk: String,
        projection: Option<&str>,
        cap: usize,
        operation: &'static str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .set_exclusive_start_key(start);
            if let Some(projection) = projection {
                // "rank" is a reserved word in DynamoDB expressions.
                query = query
                    .projection_expression(projection.replace("rank", "#r"))
                    .expression_attribute_names("#r", "rank");
            }
            let out = query
                .send()
                .await
                .map_err(|e| StoreError::dynamo(operation, e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() || items.len() >= cap {
                return Ok(items);
            }
        }
    }

    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        self.partition("CATEGORY".into(), None, usize::MAX, "Query categories")
            .await?
            .iter()
            .map(from_item)
            .collect()
    }

    /// A product and its SKUs (in the order the product lists them), on or off the shelf.
    pub async fn product(&self, id: &ProductId) -> Result<Option<(Product, Vec<Sku>)>, StoreError> {
        Ok(self
            .product_read(id, false)
            .await?
            .map(|(product, skus, _)| (product, skus)))
    }

    /// The product, its SKUs and its rating, the rating read in the same batch as the SKUs.
    pub async fn product_with_rating(
        &self,
        id: &ProductId,
    ) -> Result<Option<(Product, Vec<Sku>, domain::review::RatingSummary)>, StoreError> {
        self.product_read(id, true).await
    }

    async fn product_read(
        &self,
        id: &ProductId,
        with_rating: bool,
    ) -> Result<Option<(Product, Vec<Sku>, domain::review::RatingSummary)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(meta_key(id))))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem product", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let stored = stored_product(&item)?;
        let mut keys: Vec<Item> = stored
            .sku_ids
            .iter()
            .map(|id| key_item(sku_key(id)))
            .collect();
        if with_rating {
            keys.push(crate::reviews::rating_key(id));
        }
        let mut rating = domain::review::RatingSummary::default();
        let mut skus = Vec::with_capacity(stored.sku_ids.len());
        for item in self.batch_get(keys).await? {
            if get_s(&item, "sk") == Some("RATING") {
                rating = crate::reviews::rating_of(&item);
            } else {
                skus.push(read_sku(&item)?);
            }
        }
        let order: HashMap<&SkuId, usize> = stored
            .sku_ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s, i))
            .collect();
        skus.sort_by_key(|s| order.get(&s.id).copied().unwrap_or(usize::MAX));
        Ok(Some((stored.product, skus, rating)))
    }

    pub async fn skus(&self, ids: &[SkuId]) -> Result<Vec<Sku>, StoreError> {
        let keys: Vec<Item> = ids.iter().map(|id| key_item(sku_key(id))).collect();
        self.batch_get(keys).await?.iter().map(read_sku).collect()
    }

    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let keys = keys.into_iter().map(|k| (self.table.clone(), k)).collect();
        Ok(super::batch_get(&self.client, keys, false)
            .await?
            .remove(&self.table)
            .unwrap_or_default())
    }
}

/// The shop's shipping rule.
pub(crate) fn shipping_key() -> [(&'static str, AttributeValue); 2] {
    [("pk", s("CONFIG")), ("sk", s("shipping"))]
}

/// The per-shopper count of flash-sale units bought, kept beside the SKU.
pub fn flash_buy_key(sku: &SkuId, buyer: &UserId) -> [(&'static str, AttributeValue); 2] {
    [
        ("pk", s(format!("FLASHBUY#{sku}#{buyer}"))),
        ("sk", s("FLASHBUY")),
    ]
}

/// A SKU item: the SKU, with its flash sale's live `flashSold` counter (a top-level number, so
/// orders can add to it atomically and cancellations take it back).
fn read_sku(item: &Item) -> Result<Sku, StoreError> {
    let mut sku: Sku = from_item(item)?;
    if let Some(sale) = sku.flash_sale.as_mut() {
        sale.sold = get_i64(item, "flashSold")
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
    }
    Ok(sku)
}

pub(crate) fn sku_for_sale(item: &Item) -> Result<SkuForSale, StoreError> {
    Ok(SkuForSale {
        sku: read_sku(item)?,
        title: get_s(item, "productTitle").unwrap_or_default().to_string(),
        image: get_s(item, "image").map(str::to_string),
        on_shelf: matches!(item.get("onShelf"), Some(AttributeValue::Bool(true))),
        // Written with every SKU; an item without one only misses category-scoped promotions.
        category_id: get_s(item, "categoryId")
            .and_then(|c| CategoryId::parse(c).ok())
            .unwrap_or_else(|| CategoryId::parse("uncategorized").expect("valid id")),
        parent_categories: match item.get("parentCategories") {
            Some(AttributeValue::L(ids)) => ids
                .iter()
                .filter_map(|id| id.as_s().ok())
                .filter_map(|id| CategoryId::parse(id).ok())
                .collect(),
            _ => Vec::new(),
        },
        flash_bought: 0,
    })
}

impl CatalogStore {
    pub async fn put_shipping_rule(&self, rule: &ShippingRule) -> Result<(), StoreError> {
        let mut item = to_item(rule);
        item.extend(key_item(shipping_key()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem shipping rule", e))?;
        Ok(())
    }

    /// Listing lines for these products, in the given order; unknown and off-shelf ones are left out.
    pub async fn summaries(&self, ids: &[ProductId]) -> Result<Vec<ProductSummary>, StoreError> {
        let metas = self
            .batch_get(ids.iter().map(|id| key_item(meta_key(id))).collect())
            .await?;
        self.summaries_of(metas, ids).await
    }

    /// The titles of these products, on the shelf or off it; unknown ones are left out.
    pub async fn titles(&self, ids: &[ProductId]) -> Result<Vec<(ProductId, String)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.batch_get(ids.iter().map(|id| key_item(meta_key(id))).collect())
            .await?
            .iter()
            .map(|item| stored_product(item).map(|p| (p.product.id, p.product.title)))
            .collect()
    }

    async fn summaries_of(
        &self,
        metas: Vec<Item>,
        order: &[ProductId],
    ) -> Result<Vec<ProductSummary>, StoreError> {
        let stored: Vec<StoredProduct> = metas
            .iter()
            .map(stored_product)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|p| p.product.on_shelf)
            .collect();
        let all_skus: Vec<SkuId> = stored
            .iter()
            .flat_map(|p| p.sku_ids.iter().cloned())
            .collect();
        let skus = self.skus(&all_skus).await?;
        let mut by_product: HashMap<&ProductId, Vec<Sku>> = HashMap::new();
        for sku in &skus {
            by_product
                .entry(&sku.product_id)
                .or_default()
                .push(sku.clone());
        }
        let mut lines: HashMap<ProductId, ProductSummary> = stored
            .iter()
            .map(|p| {
                (
                    p.product.id.clone(),
                    summarize(
                        &p.product,
                        by_product
                            .get(&p.product.id)
                            .map(Vec::as_slice)
                            .unwrap_or(&[]),
                    ),
                )
            })
            .collect();
        Ok(order.iter().filter_map(|id| lines.remove(id)).collect())
    }

    /// One page of products' items from `index` under `pk` (name, value), in its sort order,
    /// and where the next page starts: one item more than the page is read, so a last page
    /// is known without an empty one after it.
    async fn index_page(
        &self,
        index: &str,
        (pk_name, pk_value): (&str, &str),
        sk_name: &str,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<ListPosition>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_name)
            .expression_attribute_values(":pk", s(pk_value))
            .set_exclusive_start_key(after.map(ListPosition::into_key))
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query listing", e))?;
        let mut items = out.items.unwrap_or_default();
        let next = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|last| ListPosition::of(last, &["pk", "sk", pk_name, sk_name]))
        } else {
            None
        };
        Ok((items, next))
    }

    /// One page of on-shelf products, best sellers first, optionally in one category.
    pub async fn list(
        &self,
        category: Option<&CategoryId>,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<ProductSummary>, StoreError> {
        let (index, pk_name, pk_value, sk_name) = match category {
            Some(c) => (
                INDEX_BY_CATEGORY,
                "gsi1pk",
                format!("CATEGORY#{c}"),
                "gsi1sk",
            ),
            None => (INDEX_SHELF, "gsi2pk", "SHELF".to_string(), "gsi2sk"),
        };
        let (metas, next) = self
            .index_page(index, (pk_name, &pk_value), sk_name, after, limit)
            .await?;
        let order: Vec<ProductId> = metas
            .iter()
            .filter_map(|m| get_s(m, "id"))
            .filter_map(|id| ProductId::parse(id).ok())
            .collect();
        Ok(Page {
            items: self.summaries_of(metas, &order).await?,
            next,
        })
    }

    /// Products carrying every term, best sellers first, optionally in one category.
    pub async fn search(
        &self,
        terms: &[String],
        category: Option<&CategoryId>,
    ) -> Result<Vec<ProductId>, StoreError> {
        let lists = futures::future::try_join_all(terms.iter().map(|t| self.postings(t))).await?;
        let mut lists = lists.into_iter();
        let Some(mut matches) = lists.next() else {
            return Ok(Vec::new());
        };
        for list in lists {
            matches.retain(|id, _| list.contains_key(id));
        }
        let mut hits: Vec<(String, ProductId)> = matches
            .into_iter()
            .filter(|(_, (cat, _))| category.is_none_or(|c| c.as_str() == cat))
            .map(|(id, (_, rank))| (rank, id))
            .collect();
        hits.sort();
        Ok(hits.into_iter().map(|(_, id)| id).collect())
    }

    async fn postings(
        &self,
        term: &str,
    ) -> Result<HashMap<ProductId, (String, String)>, StoreError> {
        let items = self
            .partition(
                format!("TERM#{term}"),
                Some("sk, categoryId, rank"),
                MAX_POSTINGS_PER_TERM,
                "Query postings",
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let id = ProductId::parse(get_s(item, "sk")?).ok()?;
                Some((
                    id,
                    (
                        get_s(item, "categoryId")?.to_string(),
                        get_s(item, "rank")?.to_string(),
                    ),
                ))
            })
            .collect())
    }

    /// The write that creates (`new`: refused if the id is taken) or replaces (refused if
    /// there is none) a category: commit it with its audit record.
    pub fn category_write(
        &self,
        category: &Category,
        new: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item = to_item(category);
        item.insert("pk".into(), s("CATEGORY"));
        item.insert("sk".into(), s(category.id.as_str()));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(if new {
                "attribute_not_exists(pk)"
            } else {
                "attribute_exists(pk)"
            })
            .build()
            .map_err(|e| StoreError::dynamo("build category", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The write that moves a category under `category.parent_id`, for one transaction with
    /// its audit record: refused if its parent is no longer `from` or if any category on the
    /// new parent's way up (`chain`, as read) has moved since, so two moves made at once can
    /// never make a loop.
    pub fn category_move_writes(
        &self,
        category: &Category,
        from: Option<&CategoryId>,
        chain: &[Category],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let parent_as_read = |c: Option<&CategoryId>| match c {
            Some(p) => (
                "attribute_exists(pk) AND parentId = :parent",
                Some(s(p.as_str())),
            ),
            None => (
                "attribute_exists(pk) AND attribute_not_exists(parentId)",
                None,
            ),
        };
        let mut item = to_item(category);
        item.insert("pk".into(), s("CATEGORY"));
        item.insert("sk".into(), s(category.id.as_str()));
        let (condition, value) = parent_as_read(from);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(value.map(|v| HashMap::from([(":parent".into(), v)])))
            .build()
            .map_err(|e| StoreError::dynamo("build category move", e))?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        for above in chain {
            let (condition, value) = parent_as_read(above.parent_id.as_ref());
            let check = aws_sdk_dynamodb::types::ConditionCheck::builder()
                .table_name(&self.table)
                .key("pk", s("CATEGORY"))
                .key("sk", s(above.id.as_str()))
                .condition_expression(condition)
                .set_expression_attribute_values(
                    value.map(|v| HashMap::from([(":parent".into(), v)])),
                )
                .build()
                .map_err(|e| StoreError::dynamo("build category check", e))?;
            writes.push(TransactWriteItem::builder().condition_check(check).build());
        }
        Ok(writes)
    }

    /// One page of the shop's products (those on the shelf, then those off it) from `from`:
    /// the SKUs of each product in one of `moved` are given the categories above their
    /// product's as `categories` say now. Where the next page starts, if there is one.
    /// Idempotent: it writes what the tree says, however often and in whatever order it runs.
    pub async fn restamp_categories(
        &self,
        categories: &[Category],
        moved: &[CategoryId],
        from: CategoryPass,
    ) -> Result<Option<CategoryPass>, StoreError> {
        let shelf = if from.off_shelf { OFF_SHELF } else { SHELF };
        let (metas, next) = self
            .index_page(
                INDEX_SHELF,
                ("gsi2pk", shelf),
                "gsi2sk",
                from.after,
                RESTAMP_PAGE,
            )
            .await?;
        for meta in &metas {
            let stored = stored_product(meta)?;
            if !moved.contains(&stored.product.category_id) {
                continue;
            }
            let above = domain::catalog::categories_above(categories, &stored.product.category_id);
            let above = AttributeValue::L(above.iter().map(|c| s(c.as_str())).collect());
            for sku in &stored.sku_ids {
                let updated = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_item(sku_key(sku))))
                    .update_expression("SET parentCategories = :above")
                    .condition_expression("attribute_exists(pk) AND productId = :product")
                    .expression_attribute_values(":above", above.clone())
                    .expression_attribute_values(":product", s(stored.product.id.as_str()))
                    .send()
                    .await;
                match updated {
                    Ok(_) => {}
                    // Gone or another product's now: nothing of this product's to stamp.
                    Err(err) if super::condition_failed(&err) => {}
                    Err(err) => return Err(StoreError::dynamo("UpdateItem SKU categories", err)),
                }
            }
        }
        Ok(match (next, from.off_shelf) {
            (Some(after), off_shelf) => Some(CategoryPass {
                off_shelf,
                after: Some(after),
            }),
            (None, false) => Some(CategoryPass {
                off_shelf: true,
                after: None,
            }),
            (None, true) => None,
        })
    }

    pub async fn put_category(&self, category: &Category) -> Result<(), StoreError> {
        let mut item = to_item(category);
        item.insert("pk".into(), s("CATEGORY"));
        item.insert("sk".into(), s(category.id.as_str()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem category", e))?;
        Ok(())
    }

    /// Creates or refreshes a product with its SKUs and search terms (the demo seed and
    /// shopctl's bootstrap; staff write through [`CatalogStore::product_writes`] with their
    /// audit record). Stock and sales already recorded are kept.
    pub async fn put_product(&self, product: &Product, skus: &[Sku]) -> Result<(), StoreError> {
        let categories = self.categories().await?;
        let writes = self
            .product_writes(product, skus, &categories, ProductExpect::Any)
            .await?;
        if let Some(failed) =
            super::transact(&self.client, writes, "TransactWriteItems product").await?
        {
            return Err(StoreError::Corrupt {
                key: format!("PRODUCT#{}", product.id),
                problem: format!("a SKU belongs to another product ({failed:?})"),
            });
        }
        self.sync_terms(&product.id).await
    }

    /// The writes that create or change a product and its SKUs, for one transaction (with the
    /// audit record when staff make them): the product first, conditional as `expect` says,
    /// then each SKU, refused if the id is another product's. A SKU already stored keeps its
    /// stock, price, member prices and offers (each changed by its own conditional write); a
    /// new one takes the given ones. The product's `version` counts its writes. Its search
    /// postings follow with [`CatalogStore::sync_terms`]. `categories` are the shop's, as the
    /// caller read them (to check the product's), for the categories above the product's.
    pub async fn product_writes(
        &self,
        product: &Product,
        skus: &[Sku],
        categories: &[Category],
        expect: ProductExpect,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let previous = self.stored_meta(&product.id).await?;
        let sales = previous
            .as_ref()
            .map_or(product.sales, |(p, _)| p.product.sales.max(product.sales));
        let version = previous.as_ref().map_or(0, |(_, meta)| version_of(meta));
        let rank = rank_key(sales, &product.id);
        let terms = domain::search::shelf_terms(
            &format!("{} {}", product.title, product.subtitle),
            product.on_shelf,
        );
        // The categories above the product's, so checkout needs no tree to apply a category rule.
        let parent_categories = domain::catalog::categories_above(categories, &product.category_id);

        let mut meta = to_item(&Product {
            sales,
            ..product.clone()
        });
        meta.extend(key_item(meta_key(&product.id)));
        let sku_ids: Vec<SkuId> = skus.iter().map(|k| k.id.clone()).collect();
        meta.insert(
            "skuIds".into(),
            AttributeValue::L(sku_ids.iter().map(|k| s(k.as_str())).collect()),
        );
        meta.insert(
            "terms".into(),
            AttributeValue::L(terms.iter().map(s).collect()),
        );
        // Postings written for earlier terms, so the next sync removes the stale ones.
        let posted: BTreeSet<String> = previous
            .as_ref()
            .map(|(p, meta)| match meta.get("postedTerms") {
                Some(_) => list_of(meta, "postedTerms").into_iter().collect(),
                None => p.terms.clone(),
            })
            .unwrap_or_default();
        meta.insert(
            "postedTerms".into(),
            AttributeValue::L(posted.iter().map(s).collect()),
        );
        meta.insert("rank".into(), s(&rank));
        meta.insert("version".into(), super::n(version + 1));
        meta.insert(
            "gsi2pk".into(),
            s(if product.on_shelf { SHELF } else { OFF_SHELF }),
        );
        meta.insert("gsi2sk".into(), s(&rank));
        if product.on_shelf {
            meta.insert(
                "gsi1pk".into(),
                s(format!("CATEGORY#{}", product.category_id)),
            );
            meta.insert("gsi1sk".into(), s(&rank));
        }
        let put = Put::builder().table_name(&self.table).set_item(Some(meta));
        let put = match expect {
            ProductExpect::Any => put,
            ProductExpect::New => put.condition_expression("attribute_not_exists(pk)"),
            ProductExpect::Version(seen) if seen == version => put
                .condition_expression(
                    "attribute_exists(pk) AND (attribute_not_exists(version) OR version = :seen)",
                )
                .expression_attribute_values(":seen", super::n(seen)),
            // Stale already: a condition that cannot hold refuses it in the transaction.
            ProductExpect::Version(seen) => put
                .condition_expression("version = :seen")
                .expression_attribute_values(":seen", super::n(seen)),
        };
        let mut writes = vec![
            TransactWriteItem::builder()
                .put(
                    put.build()
                        .map_err(|e| StoreError::dynamo("build product", e))?,
                )
                .build(),
        ];
        let dropped: Vec<SkuId> = previous
            .iter()
            .flat_map(|(p, _)| p.sku_ids.iter())
            .filter(|id| !sku_ids.contains(id))
            .cloned()
            .collect();
        for sku in skus {
            writes.push(self.sku_write(product, sku, &parent_categories, product.on_shelf)?);
        }
        // A SKU taken out of the list goes off sale rather than selling on alone; its stock and
        // history stay.
        for id in &dropped {
            writes.push(self.sku_off_sale(product, id)?);
        }
        Ok(writes)
    }

    /// A SKU's item as its product says: what checkout shows of the product travels with it.
    fn sku_write(
        &self,
        product: &Product,
        sku: &Sku,
        parent_categories: &[CategoryId],
        on_shelf: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut sets: Vec<(&str, AttributeValue, bool)> = vec![
            ("id", s(sku.id.as_str()), false),
            ("productId", s(product.id.as_str()), false),
            (
                "specs",
                super::to_attribute(&serde_json::json!(sku.specs)),
                false,
            ),
            ("productTitle", s(&product.title), false),
            ("onShelf", AttributeValue::Bool(on_shelf), false),
            ("categoryId", s(product.category_id.as_str()), false),
            (
                "parentCategories",
                AttributeValue::L(parent_categories.iter().map(|c| s(c.as_str())).collect()),
                false,
            ),
            ("price", super::n(sku.price.get()), true),
            ("stock", super::n(sku.stock), true),
        ];
        if let Some(original) = sku.original_price {
            sets.push(("originalPrice", super::n(original.get()), false));
        }
        if let Some(image) = product.images.first() {
            sets.push(("image", s(image), false));
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(sku_key(&sku.id))))
            .condition_expression("attribute_not_exists(pk) OR productId = :product")
            .expression_attribute_values(":product", s(product.id.as_str()));
        let mut clauses = Vec::new();
        for (i, (name, value, keep)) in sets.into_iter().enumerate() {
            let (n, v) = (format!("#a{i}"), format!(":v{i}"));
            clauses.push(if keep {
                format!("{n} = if_not_exists({n}, {v})")
            } else {
                format!("{n} = {v}")
            });
            update = update
                .expression_attribute_names(n, name)
                .expression_attribute_values(v, value);
        }
        let mut expression = format!("SET {}", clauses.join(", "));
        let removed: Vec<&str> = [
            (sku.original_price.is_none(), "originalPrice"),
            (product.images.is_empty(), "image"),
        ]
        .into_iter()
        .filter_map(|(gone, name)| gone.then_some(name))
        .collect();
        if !removed.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
        }
        Ok(TransactWriteItem::builder()
            .update(
                update
                    .update_expression(expression)
                    .build()
                    .map_err(|e| StoreError::dynamo("build SKU", e))?,
            )
            .build())
    }

    /// A SKU the product no longer lists: off sale, its stock and history kept.
    fn sku_off_sale(&self, product: &Product, id: &SkuId) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(sku_key(id))))
            .update_expression("SET onShelf = :off")
            .condition_expression("attribute_not_exists(pk) OR productId = :product")
            .expression_attribute_values(":off", AttributeValue::Bool(false))
            .expression_attribute_values(":product", s(product.id.as_str()))
            .build()
            .map_err(|e| StoreError::dynamo("build SKU off sale", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    async fn stored_meta(
        &self,
        id: &ProductId,
    ) -> Result<Option<(StoredProduct, Item)>, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(meta_key(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem product", e))?
            .item;
        item.map(|i| Ok((stored_product(&i)?, i))).transpose()
    }

    /// Brings a product's search postings in step with its terms: a posting per term (with
    /// its category and rank now), none for a term it no longer has. Idempotent, and safe to
    /// run again at any time (a staff write runs it at once, and a queued message runs it
    /// again later in case the function stopped in between).
    pub async fn sync_terms(&self, id: &ProductId) -> Result<(), StoreError> {
        let Some((stored, meta)) = self.stored_meta(id).await? else {
            return Ok(());
        };
        let posted: BTreeSet<String> = list_of(&meta, "postedTerms").into_iter().collect();
        let terms = &stored.terms;
        let rank = get_s(&meta, "rank").unwrap_or_default().to_string();
        let mut writes: Vec<WriteRequest> = Vec::new();
        for term in terms {
            let mut posting = Item::new();
            posting.insert("pk".into(), s(format!("TERM#{term}")));
            posting.insert("sk".into(), s(id.as_str()));
            posting.insert("categoryId".into(), s(stored.product.category_id.as_str()));
            posting.insert("rank".into(), s(&rank));
            writes.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(posting))
                            .build()
                            .expect("item set"),
                    )
                    .build(),
            );
        }
        for stale in posted.difference(terms) {
            let mut key = Item::new();
            key.insert("pk".into(), s(format!("TERM#{stale}")));
            key.insert("sk".into(), s(id.as_str()));
            writes.push(
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key))
                            .build()
                            .expect("key set"),
                    )
                    .build(),
            );
        }
        self.batch_write(writes).await?;
        // Recorded only while the terms are still those: a write in between syncs again.
        let recorded = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(meta_key(id))))
            .update_expression("SET postedTerms = terms")
            .condition_expression("terms = :terms")
            .expression_attribute_values(":terms", AttributeValue::L(terms.iter().map(s).collect()))
            .send()
            .await;
        match recorded {
            Ok(_) => Ok(()),
            Err(err) if super::condition_failed(&err) => Ok(()),
            Err(err) => Err(StoreError::dynamo("UpdateItem posted terms", err)),
        }
    }

    /// One page of the shop's products on the shelf or off it, best sellers first, with their
    /// SKUs and versions: what staff list.
    pub async fn staff_page(
        &self,
        on_shelf: bool,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<StaffProduct>, StoreError> {
        let shelf = if on_shelf { SHELF } else { OFF_SHELF };
        let (metas, next) = self
            .index_page(INDEX_SHELF, ("gsi2pk", shelf), "gsi2sk", after, limit)
            .await?;
        let stored: Vec<(StoredProduct, u64)> = metas
            .iter()
            .map(|m| Ok((stored_product(m)?, version_of(m))))
            .collect::<Result<_, StoreError>>()?;
        Ok(Page {
            items: self.with_skus(stored).await?,
            next,
        })
    }

    /// Stored products with their SKUs, as staff see them.
    async fn with_skus(
        &self,
        stored: Vec<(StoredProduct, u64)>,
    ) -> Result<Vec<StaffProduct>, StoreError> {
        let ids: Vec<SkuId> = stored.iter().flat_map(|(p, _)| p.sku_ids.clone()).collect();
        let skus: HashMap<SkuId, Sku> = self
            .skus(&ids)
            .await?
            .into_iter()
            .map(|k| (k.id.clone(), k))
            .collect();
        Ok(stored
            .into_iter()
            .map(|(p, version)| StaffProduct {
                skus: p
                    .sku_ids
                    .iter()
                    .filter_map(|id| skus.get(id).cloned())
                    .collect(),
                product: p.product,
                version,
            })
            .collect())
    }

    /// These products as staff see them, in the given order; unknown ones are left out.
    pub async fn staff_products(&self, ids: &[ProductId]) -> Result<Vec<StaffProduct>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let metas = self
            .batch_get(ids.iter().map(|id| key_item(meta_key(id))).collect())
            .await?;
        let mut stored: HashMap<ProductId, (StoredProduct, u64)> = metas
            .iter()
            .map(|m| stored_product(m).map(|p| (p.product.id.clone(), (p, version_of(m)))))
            .collect::<Result<_, StoreError>>()?;
        let ordered = ids.iter().filter_map(|id| stored.remove(id)).collect();
        self.with_skus(ordered).await
    }

    /// A product as staff edit it: with its SKUs and the version their edit is made against.
    pub async fn staff_product(&self, id: &ProductId) -> Result<Option<StaffProduct>, StoreError> {
        let Some((stored, meta)) = self.stored_meta(id).await? else {
            return Ok(None);
        };
        let skus = self.skus(&stored.sku_ids).await?;
        Ok(Some(StaffProduct {
            product: stored.product,
            skus,
            version: version_of(&meta),
        }))
    }

    async fn batch_write(&self, writes: Vec<WriteRequest>) -> Result<(), StoreError> {
        super::batch_write(&self.client, &self.table, writes).await
    }
}

/// Products a category move's pass looks at per page (and per queue message).
const RESTAMP_PAGE: usize = 100;

/// Where a pass over the shop's products after a category move is: in the products on the
/// shelf or those off it, after which one.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CategoryPass {
    #[serde(default)]
    pub off_shelf: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<ListPosition>,
}

/// A number of a SKU staff change, each conditional on the value they saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkuNumber {
    Stock,
    /// The price in fen.
    Price,
}

impl SkuNumber {
    fn attribute(self) -> &'static str {
        match self {
            SkuNumber::Stock => "stock",
            SkuNumber::Price => "price",
        }
    }
}

impl CatalogStore {
    /// The write that changes a SKU's stock or price from `seen` to `to`, refused if the SKU
    /// is gone or the number is no longer `seen` (someone else changed it, or orders took
    /// stock): commit it with its audit record, so a stale edit is never a lost update.
    pub fn sku_number_write(
        &self,
        sku: &SkuId,
        number: SkuNumber,
        seen: u64,
        to: u64,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(sku_key(sku))))
            .update_expression("SET #v = :to")
            .condition_expression("attribute_exists(pk) AND #v = :seen")
            .expression_attribute_names("#v", number.attribute())
            .expression_attribute_values(":to", super::n(to))
            .expression_attribute_values(":seen", super::n(seen))
            .build()
            .map_err(|e| StoreError::dynamo("build SKU change", e))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .update(update)
            .build())
    }
}

/// A SKU at or under its low-stock threshold, with its product's title.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LowSku {
    pub product_id: ProductId,
    pub title: String,
    pub sku_id: SkuId,
    pub specs: std::collections::BTreeMap<String, String>,
    pub stock: u64,
    pub threshold: u64,
}

/// The shop's low-stock list: lowest stock first.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LowStock {
    pub items: Vec<LowSku>,
    /// More products are on the shelf than one look reads ([`MAX_PRODUCTS_LOOKED_AT`]).
    pub truncated: bool,
}

/// The most on-shelf products the low-stock list looks at: a shop's catalog, as for search.
pub const MAX_PRODUCTS_LOOKED_AT: usize = 2000;

impl CatalogStore {
    /// Every on-shelf SKU at or under its threshold (`default` where the SKU sets none): the
    /// shelf's products from the `Shelf` index (only their SKU ids and titles), then their SKUs
    /// by key, 100 at a time, so the reads grow with the catalog, never with the orders.
    pub async fn low_stock(&self, default: u64) -> Result<LowStock, StoreError> {
        let mut metas = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(INDEX_SHELF)
                .key_condition_expression("gsi2pk = :pk")
                .expression_attribute_values(":pk", s(SHELF))
                .projection_expression("id, title, skuIds")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query shelf for low stock", e))?;
            metas.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() || metas.len() >= MAX_PRODUCTS_LOOKED_AT {
                break;
            }
        }
        let truncated = start.is_some();
        metas.truncate(MAX_PRODUCTS_LOOKED_AT);
        let titles: HashMap<String, String> = metas
            .iter()
            .filter_map(|m| Some((get_s(m, "id")?.to_string(), get_s(m, "title")?.to_string())))
            .collect();
        let ids: Vec<SkuId> = metas
            .iter()
            .flat_map(|m| list_of(m, "skuIds"))
            .filter_map(|id| SkuId::parse(&id).ok())
            .collect();
        let mut items: Vec<LowSku> = self
            .skus(&ids)
            .await?
            .into_iter()
            .filter(|sku| sku.is_low(default))
            .map(|sku| LowSku {
                title: titles
                    .get(sku.product_id.as_str())
                    .cloned()
                    .unwrap_or_default(),
                threshold: sku.low_stock_at.unwrap_or(default),
                product_id: sku.product_id,
                sku_id: sku.id,
                specs: sku.specs,
                stock: sku.stock,
            })
            .collect();
        items.sort_by(|a, b| (a.stock, &a.sku_id).cmp(&(b.stock, &b.sku_id)));
        Ok(LowStock { items, truncated })
    }

    /// Whether the low-stock alert of China day `day` was sent.
    pub async fn low_stock_alert_sent(&self, day: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s("CONFIG"))
            .key("sk", s(format!("lowStockAlert#{day}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem low-stock alert", e))?;
        Ok(out.item.is_some())
    }

    /// Records that the low-stock alert of `day` was sent (one small item a day).
    pub async fn record_low_stock_alert(&self, day: &str, now: i64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s("CONFIG"))
            .item("sk", s(format!("lowStockAlert#{day}")))
            .item("sentAt", super::n(now))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem low-stock alert", e))?;
        Ok(())
    }

    /// The write that sets (or with `None` clears, back to the shop's default) a SKU's
    /// low-stock threshold, refused if the SKU is gone: commit it with its audit record.
    pub fn low_stock_at_write(
        &self,
        sku: &SkuId,
        threshold: Option<u64>,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(sku_key(sku))))
            .condition_expression("attribute_exists(pk)");
        let update = match threshold {
            Some(t) => update
                .update_expression("SET lowStockAt = :t")
                .expression_attribute_values(":t", super::n(t)),
            None => update.update_expression("REMOVE lowStockAt"),
        }
        .build()
        .map_err(|e| StoreError::dynamo("build low-stock threshold", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// What the merchant changes on a SKU's promotions.
impl CatalogStore {
    /// The write that sets (or with `None` removes) a SKU's offer under `attribute`
    /// (`flashSale`, `groupBuy`, `bargain`), refused if the SKU is gone: commit it with its
    /// audit record. A flash sale with `restart_count` counts its quota from zero again (a new
    /// sale); editing the running one keeps what it has sold.
    pub fn offer_write(
        &self,
        sku: &SkuId,
        attribute: &'static str,
        offer: Option<&serde_json::Value>,
        restart_count: bool,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(sku_key(sku))))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#offer", attribute);
        let update = match offer {
            Some(offer) if restart_count => update
                .update_expression("SET #offer = :offer, flashSold = :zero")
                .expression_attribute_values(":offer", super::to_attribute(offer))
                .expression_attribute_values(":zero", super::n(0)),
            Some(offer) => update
                .update_expression("SET #offer = :offer")
                .expression_attribute_values(":offer", super::to_attribute(offer)),
            None => update.update_expression("REMOVE #offer"),
        }
        .build()
        .map_err(|e| StoreError::dynamo("build SKU offer", e))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .update(update)
            .build())
    }

    /// The write that replaces a SKU's member prices `before` with `after`, refused if the SKU
    /// is gone or its member prices changed since they were read: commit it with its audit
    /// record.
    pub fn member_prices_write(
        &self,
        sku: &SkuId,
        before: &std::collections::BTreeMap<String, domain::money::Fen>,
        after: &std::collections::BTreeMap<String, domain::money::Fen>,
    ) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
        let map = |prices: &std::collections::BTreeMap<String, domain::money::Fen>| {
            AttributeValue::M(
                prices
                    .iter()
                    .map(|(k, v)| (k.clone(), super::n(v.get())))
                    .collect(),
            )
        };
        let condition = if before.is_empty() {
            "attribute_exists(pk) AND (attribute_not_exists(memberPrices) OR memberPrices = :before)"
        } else {
            "attribute_exists(pk) AND memberPrices = :before"
        };
        let update = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(sku_key(sku))))
            .update_expression("SET memberPrices = :after")
            .condition_expression(condition)
            .expression_attribute_values(":before", map(before))
            .expression_attribute_values(":after", map(after))
            .build()
            .map_err(|e| StoreError::dynamo("build member prices", e))?;
        Ok(aws_sdk_dynamodb::types::TransactWriteItem::builder()
            .update(update)
            .build())
    }

    /// One SKU as stored, with its flash sale's live count.
    pub async fn sku(&self, id: &SkuId) -> Result<Option<Sku>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(sku_key(id))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem SKU", e))?;
        out.item.as_ref().map(read_sku).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_sorts_best_sellers_first() {
        let p = ProductId::parse("p").unwrap();
        let mut keys = vec![
            rank_key(3, &p),
            rank_key(300, &p),
            rank_key(0, &p),
            rank_key(u64::MAX, &p),
        ];
        keys.sort();
        assert_eq!(
            keys,
            vec![
                rank_key(u64::MAX, &p),
                rank_key(300, &p),
                rank_key(3, &p),
                rank_key(0, &p)
            ]
        );
    }
}

//! The shop's catalog as its staff change it: products and their SKUs created and edited (the
//! edit against the version the staff member saw), stock and prices changed from the number
//! they saw, so an edit made on a stale page is refused (never a lost update); each committed
//! with its audit record in one transaction.
//!
//! Search terms: the product's own item holds its terms, written in that transaction; the
//! postings search reads are brought in step right after it (and once more by a queued
//! `catalog.terms` message, sent before the write, in case the function stops in between), so
//! shoppers' listings change with the write and search a moment later at worst.

use crate::staff::Actor;
use domain::catalog::{
    Category, CategoryDraft, OfferKind, ProductDraft, Sku, SkuOffer, StockChange,
};
use domain::ids::{CategoryId, ProductId, SkuId};
use domain::media::{ImageType, MediaKey, PublicMedia, upload_size};
use domain::money::Fen;
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::catalog::{CatalogStore, ProductExpect, SkuNumber, StaffProduct};
use store::media::{Kept, MediaBucket, MediaError, UploadForm};
use store::queue::{DeadlineMessage, Queue};

/// How long the queued second sync of a product's search postings waits.
const TERMS_AGAIN_SECONDS: i64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum CatalogDeskError {
    #[error("no such SKU")]
    NotFound,
    /// Changed since the staff member saw it: this is what it is now.
    #[error("the SKU changed since it was read: it is {current} now")]
    Stale { current: u64 },
    #[error("stock cannot go below zero")]
    BelowZero,
    /// The offer does not fit the SKU (its price, its numbers).
    #[error("{}: {}", .0.field, .0.problem)]
    Invalid(domain::field::FieldError),
    #[error("no such product")]
    ProductNotFound,
    #[error("a product with this id exists")]
    ProductExists,
    /// Written since the staff member read it: this is the version now.
    #[error("the product changed since it was read: it is at version {current} now")]
    StaleProduct { current: u64 },
    /// A SKU id the draft lists belongs to another product.
    #[error("skus[{index}].id belongs to another product")]
    SkuTaken { index: usize },
    #[error("no such category")]
    NoSuchCategory,
    #[error("a category with this id exists")]
    CategoryExists,
    /// The category or one above its new parent moved while this move was made.
    #[error("the categories changed while this move was made; read them again")]
    CategoryMoving,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("queueing the search postings' second sync failed: {0}")]
    Queue(String),
    /// The media bucket could not sign an upload or keep an image.
    #[error("the media bucket is unavailable")]
    Media(#[from] MediaError),
    /// The SKU kept changing under this write.
    #[error("the SKU is being changed by someone else; try again")]
    Busy,
    /// A bulk change met SKUs changed (or gone) since they were read: nothing was written.
    #[error("{} of the SKUs changed since they were read", .0.len())]
    StaleMany(Vec<StaleSku>),
}

/// The most SKUs one bulk change moves (one transaction with its audit record).
pub const MAX_BULK: usize = 50;

/// One SKU's stock or price in a bulk change: from what the staff member saw, to what it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkChange {
    pub sku: SkuId,
    pub seen: u64,
    pub to: u64,
}

/// A SKU a bulk change found changed: its place in the list and its number now (`None`: gone).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaleSku {
    pub index: usize,
    pub sku_id: SkuId,
    pub current: Option<u64>,
}

/// Product images: uploaded by staff straight to the media bucket under `uploads/catalog/`,
/// kept (tagged so the unused-upload rule leaves them) when a product first names them, and
/// shown to shoppers from the shop's public address.
#[derive(Clone)]
pub struct CatalogImages {
    pub public: PublicMedia,
    pub bucket: MediaBucket,
}

/// What `POST /admin/v1/uploads` answers: the form that uploads one image, and the link a
/// product names it by once it is uploaded.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogUpload {
    #[serde(flatten)]
    pub form: UploadForm,
    pub image_url: String,
}

impl CatalogImages {
    /// A form for one image of `content_type` and `size` bytes, good for ten minutes.
    pub async fn upload(
        &self,
        content_type: Option<&str>,
        size: Option<i64>,
        now: i64,
    ) -> Result<CatalogUpload, CatalogDeskError> {
        let image =
            ImageType::parse(content_type.unwrap_or("")).map_err(CatalogDeskError::Invalid)?;
        upload_size(size).map_err(CatalogDeskError::Invalid)?;
        let key = MediaKey::catalog_image(image);
        let form = self.bucket.upload_form(&key, image, now).await?;
        Ok(CatalogUpload {
            image_url: self.public.link(&key),
            form,
        })
    }

    /// Keeps the catalog images `images` names that `before` did not (each one S3 call); an
    /// image never uploaded is refused by its place in the list.
    async fn keep_new(
        &self,
        images: &[String],
        before: &[String],
        now: i64,
    ) -> Result<(), CatalogDeskError> {
        for (i, link) in images.iter().enumerate() {
            if before.contains(link) {
                continue;
            }
            let Some(Ok(key)) = self.public.catalog_key(link) else {
                continue;
            };
            if self.bucket.keep(&key, now).await? == Kept::Missing {
                return Err(CatalogDeskError::Invalid(domain::field::FieldError::new(
                    format!("images[{i}]"),
                    "was never uploaded: upload the image with the form POST /admin/v1/uploads gave",
                )));
            }
        }
        Ok(())
    }
}

pub struct CatalogDesk {
    pub catalog: CatalogStore,
    audit: AuditLog,
    /// Where staff upload product images; without it (shopctl) a product names https links only.
    images: Option<CatalogImages>,
    /// Where the second sync of search postings and category moves' passes over the products
    /// are queued (the deadlines queue).
    terms_again: Option<Queue>,
}

impl CatalogDesk {
    pub fn new(catalog: CatalogStore, audit: AuditLog) -> Self {
        Self {
            catalog,
            audit,
            terms_again: None,
            images: None,
        }
    }

    /// The same desk taking product images uploaded to the media bucket.
    pub fn with_images(mut self, images: CatalogImages) -> Self {
        self.images = Some(images);
        self
    }

    fn media(&self) -> Option<&PublicMedia> {
        self.images.as_ref().map(|i| &i.public)
    }

    /// The same desk queueing a second sync of search postings after each product write.
    pub fn syncing_terms_through(mut self, deadlines: Queue) -> Self {
        self.terms_again = Some(deadlines);
        self
    }

    /// Creates a product from `draft`, refused if `id` is taken or a SKU id is another
    /// product's; audited as `product.create`.
    pub async fn create_product(
        &self,
        id: &ProductId,
        draft: &ProductDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<StaffProduct, CatalogDeskError> {
        let (product, skus) = draft
            .parse(id, self.media())
            .map_err(CatalogDeskError::Invalid)?;
        self.write_product(
            "product.create",
            &product,
            &skus,
            ProductExpect::New,
            None,
            actor,
            now,
        )
        .await
    }

    /// Replaces a product's text, category, images, shelf state and SKU list from `draft`,
    /// against `seen` (the version the staff member read); SKUs already stored keep their
    /// stock and price. Audited as `product.edit` with what it was.
    pub async fn edit_product(
        &self,
        id: &ProductId,
        seen: u64,
        draft: &ProductDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<StaffProduct, CatalogDeskError> {
        let before = self.stored(id).await?;
        let (product, skus) = draft
            .parse(id, self.media())
            .map_err(CatalogDeskError::Invalid)?;
        self.write_product(
            "product.edit",
            &product,
            &skus,
            ProductExpect::Version(seen),
            Some(before),
            actor,
            now,
        )
        .await
    }

    /// The product as stored, to write against.
    async fn stored(&self, id: &ProductId) -> Result<StaffProduct, CatalogDeskError> {
        self.catalog
            .staff_product(id)
            .await?
            .ok_or(CatalogDeskError::ProductNotFound)
    }

    /// Puts a product on the shelf or takes it off, against `seen`; audited as `product.shelf`.
    pub async fn set_shelf(
        &self,
        id: &ProductId,
        seen: u64,
        on_shelf: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<StaffProduct, CatalogDeskError> {
        let before = self.stored(id).await?;
        let product = domain::catalog::Product {
            on_shelf,
            ..before.product.clone()
        };
        let skus = before.skus.clone();
        self.write_product(
            "product.shelf",
            &product,
            &skus,
            ProductExpect::Version(seen),
            Some(before),
            actor,
            now,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_product(
        &self,
        action: &str,
        product: &domain::catalog::Product,
        skus: &[Sku],
        expect: ProductExpect,
        before: Option<StaffProduct>,
        actor: &Actor,
        now: i64,
    ) -> Result<StaffProduct, CatalogDeskError> {
        let categories = self.catalog.categories().await?;
        if !categories.iter().any(|c| c.id == product.category_id) {
            return Err(CatalogDeskError::NoSuchCategory);
        }
        if let Some(images) = &self.images {
            // Kept before the write: a write then refused leaves an image kept that no product
            // shows, never a product showing an image the bucket forgets.
            let shown = before.as_ref().map_or(&[][..], |b| &b.product.images[..]);
            images.keep_new(&product.images, shown, now).await?;
        }
        let writes = self
            .catalog
            .product_writes(product, skus, &categories, expect)
            .await?;
        let sku_view = |skus: &[Sku]| -> Vec<serde_json::Value> {
            skus.iter()
                .map(|k| json!({"id": k.id, "specs": k.specs, "price": k.price, "stock": k.stock}))
                .collect()
        };
        let before_view = before.as_ref().map_or(
            serde_json::Value::Null,
            |b| json!({"product": b.product, "skus": sku_view(&b.skus), "version": b.version}),
        );
        let entry = actor.entry(
            action,
            format!("product:{}", product.id),
            before_view,
            json!({"product": product, "skus": sku_view(skus)}),
            now,
        );
        if let Some(queue) = &self.terms_again {
            let again = DeadlineMessage::CatalogTerms {
                product_id: product.id.clone(),
            };
            queue
                .send(&again, TERMS_AGAIN_SECONDS)
                .await
                .map_err(|e| CatalogDeskError::Queue(e.to_string()))?;
        }
        match self.audit.commit(writes, entry).await? {
            Committed::Done(_) => {}
            Committed::Refused(failed) => {
                return Err(match failed.iter().position(|f| *f) {
                    Some(0) => match expect {
                        ProductExpect::New => CatalogDeskError::ProductExists,
                        _ => match self.catalog.staff_product(&product.id).await? {
                            Some(now) => CatalogDeskError::StaleProduct {
                                current: now.version,
                            },
                            None => CatalogDeskError::ProductNotFound,
                        },
                    },
                    // The product's item is first, then each SKU in the draft's order.
                    Some(i) => CatalogDeskError::SkuTaken { index: i - 1 },
                    None => CatalogDeskError::ProductNotFound,
                });
            }
        }
        self.catalog.sync_terms(&product.id).await?;
        self.catalog
            .staff_product(&product.id)
            .await?
            .ok_or(CatalogDeskError::ProductNotFound)
    }

    async fn sku(&self, id: &SkuId) -> Result<Sku, CatalogDeskError> {
        self.catalog
            .sku(id)
            .await?
            .ok_or(CatalogDeskError::NotFound)
    }

    async fn change(
        &self,
        id: &SkuId,
        number: SkuNumber,
        seen: u64,
        to: u64,
        entry: domain::audit::AuditEntry,
    ) -> Result<Sku, CatalogDeskError> {
        let write = self.catalog.sku_number_write(id, number, seen, to)?;
        match self.audit.commit(vec![write], entry).await? {
            Committed::Done(_) => self.sku(id).await,
            Committed::Refused(_) => {
                let now = self.sku(id).await?;
                Err(CatalogDeskError::Stale {
                    current: match number {
                        SkuNumber::Stock => now.stock,
                        SkuNumber::Price => now.price.get(),
                    },
                })
            }
        }
    }

    /// Changes the stock (or the price) of up to [`MAX_BULK`] SKUs at once, each from what the
    /// staff member saw, all or none: one transaction with one audit record (`stock.bulk`,
    /// `price.bulk`). The caller checks the step-up.
    pub async fn change_many(
        &self,
        number: SkuNumber,
        changes: &[BulkChange],
        reason: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<(), CatalogDeskError> {
        let (action, attribute) = match number {
            SkuNumber::Stock => ("stock.bulk", "stock"),
            SkuNumber::Price => ("price.bulk", "price"),
        };
        let writes = changes
            .iter()
            .map(|c| self.catalog.sku_number_write(&c.sku, number, c.seen, c.to))
            .collect::<Result<Vec<_>, _>>()?;
        let entry = actor.entry(
            action,
            format!("skus:{}", changes.len()),
            json!(changes.iter().map(|c| json!({"sku": c.sku, attribute: c.seen})).collect::<Vec<_>>()),
            json!({
                "skus": changes.iter().map(|c| json!({"sku": c.sku, attribute: c.to})).collect::<Vec<_>>(),
                "reason": reason,
            }),
            now,
        );
        match self.audit.commit(writes, entry).await? {
            Committed::Done(_) => Ok(()),
            Committed::Refused(failed) => {
                let mut stale = Vec::new();
                for (index, change) in changes.iter().enumerate() {
                    if !failed.get(index).copied().unwrap_or(false) {
                        continue;
                    }
                    let current = self.catalog.sku(&change.sku).await?.map(|s| match number {
                        SkuNumber::Stock => s.stock,
                        SkuNumber::Price => s.price.get(),
                    });
                    stale.push(StaleSku {
                        index,
                        sku_id: change.sku.clone(),
                        current,
                    });
                }
                Err(CatalogDeskError::StaleMany(stale))
            }
        }
    }

    /// Sets (or, with `None`, removes) what members of `level` pay for a SKU, below its list
    /// price; audited as `member_price.set`. The other levels' prices are kept: written against
    /// the prices read, re-read when another change landed first.
    pub async fn set_member_price(
        &self,
        id: &SkuId,
        level: &str,
        price: Option<Fen>,
        actor: &Actor,
        now: i64,
    ) -> Result<Sku, CatalogDeskError> {
        for _ in 0..5 {
            let sku = self.sku(id).await?;
            if let Some(price) = price {
                domain::catalog::check_member_price(price, sku.price)
                    .map_err(CatalogDeskError::Invalid)?;
            }
            let mut after = sku.member_prices.clone();
            match price {
                Some(p) => after.insert(level.to_string(), p),
                None => after.remove(level),
            };
            let write = self
                .catalog
                .member_prices_write(id, &sku.member_prices, &after)?;
            let entry = actor.entry(
                "member_price.set",
                format!("sku:{id}"),
                json!({ "level": level, "price": sku.member_prices.get(level) }),
                json!({ "level": level, "price": price }),
                now,
            );
            if let Committed::Done(_) = self.audit.commit(vec![write], entry).await? {
                return self.sku(id).await;
            }
        }
        Err(CatalogDeskError::Busy)
    }

    /// Sets or moves a SKU's stock from `seen`, the stock the staff member was shown.
    pub async fn change_stock(
        &self,
        id: &SkuId,
        seen: u64,
        change: StockChange,
        reason: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Sku, CatalogDeskError> {
        let to = change.applied_to(seen).ok_or(CatalogDeskError::BelowZero)?;
        let entry = actor.entry(
            "stock.set",
            format!("sku:{id}"),
            json!({"stock": seen}),
            json!({"stock": to, "reason": reason}),
            now,
        );
        self.change(id, SkuNumber::Stock, seen, to, entry).await
    }

    /// Sets a SKU's price from `seen`, the price the staff member was shown.
    pub async fn change_price(
        &self,
        id: &SkuId,
        seen: Fen,
        price: Fen,
        reason: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Sku, CatalogDeskError> {
        let entry = actor.entry(
            "price.set",
            format!("sku:{id}"),
            json!({"price": seen}),
            json!({"price": price, "reason": reason}),
            now,
        );
        self.change(id, SkuNumber::Price, seen.get(), price.get(), entry)
            .await
    }

    /// Creates a category (under `parentId` when given, which must exist); audited as
    /// `category.create`.
    pub async fn create_category(
        &self,
        id: CategoryId,
        draft: &CategoryDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<Category, CatalogDeskError> {
        let categories = self.catalog.categories().await?;
        let parent = match draft.parent_id.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(
                categories
                    .iter()
                    .map(|c| &c.id)
                    .find(|c| c.as_str() == raw)
                    .cloned()
                    .ok_or_else(|| {
                        CatalogDeskError::Invalid(domain::field::FieldError::new(
                            "parentId",
                            "must be an existing category's id",
                        ))
                    })?,
            ),
        };
        let category = draft.parse(id, parent).map_err(CatalogDeskError::Invalid)?;
        let write = self.catalog.category_write(&category, true)?;
        let entry = actor.entry(
            "category.create",
            format!("category:{}", category.id),
            serde_json::Value::Null,
            json!(category),
            now,
        );
        match self.audit.commit(vec![write], entry).await? {
            Committed::Done(_) => Ok(category),
            Committed::Refused(_) => Err(CatalogDeskError::CategoryExists),
        }
    }

    /// Renames, re-sorts or re-icons a category; its parent stays (products carry the
    /// categories above theirs for promotions, so a category does not move). Audited as
    /// `category.edit`.
    pub async fn edit_category(
        &self,
        id: CategoryId,
        draft: &CategoryDraft,
        actor: &Actor,
        now: i64,
    ) -> Result<Category, CatalogDeskError> {
        let before = self
            .catalog
            .categories()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(CatalogDeskError::NoSuchCategory)?;
        let category = draft
            .parse(id, before.parent_id.clone())
            .map_err(CatalogDeskError::Invalid)?;
        let write = self.catalog.category_write(&category, false)?;
        let entry = actor.entry(
            "category.edit",
            format!("category:{}", category.id),
            json!(before),
            json!(category),
            now,
        );
        match self.audit.commit(vec![write], entry).await? {
            Committed::Done(_) => Ok(category),
            Committed::Refused(_) => Err(CatalogDeskError::NoSuchCategory),
        }
    }

    /// Moves a category under `to` (`None`: to the top), with everything under it; audited as
    /// `category.move`. Products in it keep selling throughout: their SKUs take the new
    /// categories above theirs (for category promotions) in a pass through the deadlines
    /// queue right after, and again a minute later in case the function stops in between.
    pub async fn move_category(
        &self,
        id: CategoryId,
        to: Option<&str>,
        actor: &Actor,
        now: i64,
    ) -> Result<Category, CatalogDeskError> {
        let categories = self.catalog.categories().await?;
        let before = categories
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or(CatalogDeskError::NoSuchCategory)?;
        let to = match to.map(str::trim).filter(|t| !t.is_empty()) {
            None => None,
            Some(raw) => Some(CategoryId::parse(raw).map_err(|_| {
                CatalogDeskError::Invalid(domain::field::FieldError::new(
                    "parentId",
                    "must be an existing category's id",
                ))
            })?),
        };
        domain::catalog::check_category_move(&categories, &id, to.as_ref())
            .map_err(CatalogDeskError::Invalid)?;
        let moved = Category {
            parent_id: to.clone(),
            ..before.clone()
        };
        // The new parent and every category above it, as read: none may move meanwhile.
        let chain: Vec<Category> = to
            .iter()
            .cloned()
            .chain(
                to.as_ref()
                    .map(|t| domain::catalog::categories_above(&categories, t))
                    .unwrap_or_default(),
            )
            .filter_map(|c| categories.iter().find(|k| k.id == c).cloned())
            .collect();
        let writes =
            self.catalog
                .category_move_writes(&moved, before.parent_id.as_ref(), &chain)?;
        let entry = actor.entry(
            "category.move",
            format!("category:{id}"),
            json!({"parentId": before.parent_id}),
            json!({"parentId": moved.parent_id}),
            now,
        );
        self.queue_category_pass(&id, TERMS_AGAIN_SECONDS).await?;
        match self.audit.commit(writes, entry).await? {
            Committed::Done(_) => {}
            Committed::Refused(_) => return Err(CatalogDeskError::CategoryMoving),
        }
        self.queue_category_pass(&id, 0).await?;
        Ok(moved)
    }

    async fn queue_category_pass(
        &self,
        id: &CategoryId,
        delay: i64,
    ) -> Result<(), CatalogDeskError> {
        let Some(queue) = &self.terms_again else {
            return Ok(());
        };
        let message = DeadlineMessage::CategoryMoved {
            category_id: id.clone(),
            pass: Default::default(),
        };
        queue
            .send(&message, delay)
            .await
            .map_err(|e| CatalogDeskError::Queue(e.to_string()))
    }

    /// Sets a SKU's low-stock threshold (`None`: the shop's default again); audited as
    /// `stock.threshold`.
    pub async fn set_low_stock_at(
        &self,
        id: &SkuId,
        threshold: Option<u64>,
        actor: &Actor,
        now: i64,
    ) -> Result<Sku, CatalogDeskError> {
        let sku = self.sku(id).await?;
        let write = self.catalog.low_stock_at_write(id, threshold)?;
        let entry = actor.entry(
            "stock.threshold",
            format!("sku:{id}"),
            json!({"lowStockAt": sku.low_stock_at}),
            json!({"lowStockAt": threshold}),
            now,
        );
        self.commit_sku_write(id, write, entry).await
    }

    /// Starts or changes a promotion on a SKU, checked against its price now; audited. A
    /// flash sale with a new start time counts its quota from zero.
    pub async fn set_offer(
        &self,
        id: &SkuId,
        offer: &SkuOffer,
        actor: &Actor,
        now: i64,
    ) -> Result<Sku, CatalogDeskError> {
        let sku = self.sku(id).await?;
        offer.check(sku.price).map_err(CatalogDeskError::Invalid)?;
        let kind = offer.kind();
        let restart_count = match offer {
            SkuOffer::FlashSale(sale) => sku
                .flash_sale
                .as_ref()
                .is_none_or(|running| running.starts_at != sale.starts_at),
            _ => false,
        };
        let stored = offer.stored();
        let write = self
            .catalog
            .offer_write(id, kind.attribute(), Some(&stored), restart_count)?;
        let entry = actor.entry(
            "offer.set",
            format!("sku:{id}"),
            json!({ kind.attribute(): kind.on(&sku) }),
            json!({ kind.attribute(): stored }),
            now,
        );
        self.commit_sku_write(id, write, entry).await
    }

    /// Ends a SKU's promotion of `kind`: groups and bargains already started run their
    /// course. Audited; ending one there is none of changes nothing else.
    pub async fn end_offer(
        &self,
        id: &SkuId,
        kind: OfferKind,
        actor: &Actor,
        now: i64,
    ) -> Result<Sku, CatalogDeskError> {
        let sku = self.sku(id).await?;
        let write = self
            .catalog
            .offer_write(id, kind.attribute(), None, false)?;
        let entry = actor.entry(
            "offer.end",
            format!("sku:{id}"),
            json!({ kind.attribute(): kind.on(&sku) }),
            json!({ kind.attribute(): null }),
            now,
        );
        self.commit_sku_write(id, write, entry).await
    }

    /// Commits one write to a SKU with its audit record; refused means the SKU is gone.
    async fn commit_sku_write(
        &self,
        id: &SkuId,
        write: aws_sdk_dynamodb::types::TransactWriteItem,
        entry: domain::audit::AuditEntry,
    ) -> Result<Sku, CatalogDeskError> {
        match self.audit.commit(vec![write], entry).await? {
            Committed::Done(_) => self.sku(id).await,
            Committed::Refused(_) => Err(CatalogDeskError::NotFound),
        }
    }
}

/// The shop's low-stock threshold for SKUs that set none: `LOW_STOCK_THRESHOLD`, or 10.
pub fn low_stock_threshold(settings: &settings::Settings) -> Result<u64, settings::ConfigError> {
    let max = i64::try_from(domain::catalog::MAX_LOW_STOCK_AT).unwrap_or(i64::MAX);
    let n = settings.number_in(
        "LOW_STOCK_THRESHOLD",
        0..=max,
        i64::from(domain::catalog::LOW_STOCK_THRESHOLD),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The most SKUs an alert names; the rest are counted (the list is in the console).
const ALERT_LINES: usize = 50;

/// The low-stock alert for `low` as its subject and text, in the shop's language; `None` when
/// nothing is low.
pub fn low_stock_alert(low: &store::catalog::LowStock) -> Option<(String, String)> {
    if low.items.is_empty() {
        return None;
    }
    let subject = format!("库存预警：{} 个 SKU 库存不足", low.items.len());
    let mut text = String::from("以下 SKU 的库存已到或低于预警值：\n");
    for item in low.items.iter().take(ALERT_LINES) {
        let specs: Vec<String> = item.specs.values().cloned().collect();
        text.push_str(&format!(
            "- {} {}（{}）：剩 {} 件，预警值 {}\n",
            item.title,
            specs.join(" "),
            item.sku_id,
            item.stock,
            item.threshold
        ));
    }
    if low.items.len() > ALERT_LINES {
        text.push_str(&format!(
            "……另有 {} 个，见后台库存预警列表。\n",
            low.items.len() - ALERT_LINES
        ));
    }
    if low.truncated {
        text.push_str("（上架商品过多，仅检查了前 2000 个。）\n");
    }
    Some((subject, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::catalog::{LowSku, LowStock};

    fn low(n: usize) -> LowStock {
        LowStock {
            items: (0..n)
                .map(|i| LowSku {
                    product_id: ProductId::parse("longjing").unwrap(),
                    title: "西湖龙井".into(),
                    sku_id: SkuId::parse(&format!("lj-{i}")).unwrap(),
                    specs: [("规格".to_string(), "250g".to_string())].into(),
                    stock: i as u64,
                    threshold: 10,
                })
                .collect(),
            truncated: false,
        }
    }

    #[test]
    fn the_alert_names_each_low_sku_up_to_fifty_and_counts_the_rest() {
        assert_eq!(low_stock_alert(&low(0)), None);
        let (subject, text) = low_stock_alert(&low(2)).unwrap();
        assert_eq!(subject, "库存预警：2 个 SKU 库存不足");
        assert!(
            text.contains("- 西湖龙井 250g（lj-1）：剩 1 件，预警值 10"),
            "{text}"
        );
        let (_, long) = low_stock_alert(&low(53)).unwrap();
        assert_eq!(long.lines().filter(|l| l.starts_with("- ")).count(), 50);
        assert!(long.contains("另有 3 个"), "{long}");
    }
}

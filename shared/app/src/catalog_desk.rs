//! The shop's stock and prices as its staff change them: each change conditional on the number
//! the staff member saw, so an edit made on a stale page is refused (never a lost update), and
//! committed with its audit record.

use crate::staff::Actor;
use domain::catalog::{OfferKind, Sku, SkuOffer, StockChange};
use domain::ids::SkuId;
use domain::money::Fen;
use serde_json::json;
use store::StoreError;
use store::audit::{AuditLog, Committed};
use store::catalog::{CatalogStore, SkuNumber};

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
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct CatalogDesk {
    pub catalog: CatalogStore,
    audit: AuditLog,
}

impl CatalogDesk {
    pub fn new(catalog: CatalogStore, audit: AuditLog) -> Self {
        Self { catalog, audit }
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
        self.commit_offer(id, write, entry).await
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
        self.commit_offer(id, write, entry).await
    }

    async fn commit_offer(
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

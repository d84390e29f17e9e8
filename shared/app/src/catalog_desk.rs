//! The shop's stock and prices as its staff change them: each change conditional on the number
//! the staff member saw, so an edit made on a stale page is refused (never a lost update), and
//! committed with its audit record.

use crate::staff::Actor;
use domain::catalog::{Sku, StockChange};
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
}

//! What a shopper keeps for their own shopping, in the shopping table (keys `pk`, `sk`), one
//! partition per shopper (`SHOPPER#<userId>`), so their export reads it and the deletion of
//! their account erases it whole:
//! - `CART` (`lines`): how many lines the cart holds, moved in the transaction that adds or
//!   removes a line, so the 100-line limit holds under racing adds
//! - `CART#<skuId>`: a line (`quantity`, `selected`, `addedAt`; `lastOrder`, the paid order
//!   that last took units from it, so a repeated payment message takes them once)
//! - `ADDRESSES` (`count`, `defaultId`): the address book's size and its one default
//! - `ADDRESS#<id>`: an address
//! - `FAV#<productId>`: a favorite (`favoredAt`, sorted by the `Favorites` local index)
//! - `VIEW#<productId>`: the latest view of a product (`viewedAt`, sorted by the `Footprints`
//!   local index; `expiresAt` 90 days on, when DynamoDB drops it)
//! - `FOOTPRINTS` (`count`): how many products were viewed, so a view reads the footprints
//!   only when they may be past the 200 kept (expired ones make it count high; a trim sets
//!   it right)

use super::personal::{self, PersonalDataKeys};
use super::{Item, ListPosition, Page, StoreError, from_item, get_i64, get_s};
use super::{n, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem, Update,
};
use domain::address_book::{MAX_ADDRESSES, SavedAddress};
use domain::cart::{CartItem, CartQuantity, MAX_CART_LINES};
use domain::ids::{AddressId, CategoryId, OrderId, ProductId, SkuId, UserId};

pub const INDEX_FAVORITES: &str = "Favorites";
pub const INDEX_FOOTPRINTS: &str = "Footprints";
/// A shopper's footprints keep the latest view of at most this many products.
pub const MAX_FOOTPRINTS: usize = 200;
/// The record counting a shopper's footprints.
const FOOTPRINT_COUNT: &str = "FOOTPRINTS";
/// A footprint is forgotten this long after the view.
const FOOTPRINT_SECONDS: i64 = 90 * 24 * 60 * 60;

fn partition(user: &UserId) -> AttributeValue {
    s(format!("SHOPPER#{user}"))
}

fn key(user: &UserId, sk: impl Into<String>) -> Item {
    [
        ("pk".to_string(), partition(user)),
        ("sk".to_string(), s(sk)),
    ]
    .into()
}

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::dynamo("build shopping write", e)
}

/// What adding to the cart did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// The line now holds this many.
    Added(u32),
    /// The line holds this many already and cannot take that many more.
    LineFull(u32),
    /// The cart has its 100 lines.
    CartFull,
}

/// What saving an address did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Saved,
    BookFull,
    NotFound,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressBook {
    /// Newest first.
    pub addresses: Vec<SavedAddress>,
    pub default_id: Option<AddressId>,
}

/// A favorite or a footprint: the product and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub product_id: ProductId,
    pub at: i64,
    /// The product's category when it was viewed (footprints only).
    pub category_id: Option<CategoryId>,
}

#[derive(Clone)]
pub struct ShoppingStore {
    client: Client,
    table: String,
    /// What seals and opens addresses' names, phones and streets; without it they read empty.
    personal: Option<PersonalDataKeys>,
}

impl ShoppingStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            personal: None,
        }
    }

    /// The same store sealing the addresses it writes and opening those it reads.
    pub fn with_personal_data(mut self, keys: PersonalDataKeys) -> Self {
        self.personal = Some(keys);
        self
    }

    /// Seals the addresses written before sealing existed that are still in clear.
    pub async fn seal_clear_addresses(&self) -> Result<personal::Migrated, StoreError> {
        personal::seal_what_is_clear(
            &self.client,
            self.personal.as_ref(),
            personal::ClearItems {
                table: &self.table,
                sort_key: "ADDRESS#",
                sort_key_is_prefix: true,
                attribute: None,
            },
        )
        .await
    }

    async fn addresses_of(&self, mut items: Vec<Item>) -> Result<Vec<SavedAddress>, StoreError> {
        personal::open_items(self.personal.as_ref(), &mut items, None).await?;
        items.iter().map(from_item).collect()
    }

    async fn address_item(
        &self,
        user: &UserId,
        address: &SavedAddress,
    ) -> Result<Item, StoreError> {
        let mut item = to_item(address);
        item.extend(key(user, format!("ADDRESS#{}", address.id)));
        personal::seal_item(self.personal.as_ref(), &mut item, None).await?;
        Ok(item)
    }

    async fn items(&self, user: &UserId, prefix: &str) -> Result<Vec<Item>, StoreError> {
        super::query_prefix(
            &self.client,
            &self.table,
            &format!("SHOPPER#{user}"),
            prefix,
            "Query shopping",
        )
        .await
    }

    /// Every record of the shopper's partition.
    async fn partition_items(&self, user: &UserId) -> Result<Vec<Item>, StoreError> {
        super::query_partition(
            &self.client,
            &self.table,
            &format!("SHOPPER#{user}"),
            None,
            "Query shopping partition",
        )
        .await
    }

    /// Deletes these records (of the shopper's own partition: nothing else refers to them, and
    /// deleting twice is deleting once); how many.
    async fn delete_items(&self, items: &[Item]) -> Result<usize, StoreError> {
        super::delete_keys(&self.client, &self.table, items).await
    }

    async fn item(&self, key: Item, what: &'static str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo(what, e))?;
        Ok(out.item)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        what: &'static str,
    ) -> Result<Option<Vec<bool>>, StoreError> {
        super::transact(&self.client, items, what).await
    }

    fn put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(build_err)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Moves a header's counter by `delta`; growing it only while under `max`.
    fn count(
        &self,
        user: &UserId,
        header: &str,
        delta: i64,
        max: Option<u32>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, header)))
            .update_expression("ADD #count :delta")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":delta", n(delta));
        if let Some(max) = max {
            update = update
                .condition_expression("attribute_not_exists(#count) OR #count < :max")
                .expression_attribute_values(":max", n(max));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(build_err)?)
            .build())
    }
}

/// The cart.
impl ShoppingStore {
    pub async fn cart(&self, user: &UserId) -> Result<Vec<CartItem>, StoreError> {
        let mut items: Vec<CartItem> = self
            .items(user, "CART#")
            .await?
            .iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        items.sort_by(|a, b| {
            b.added_at
                .cmp(&a.added_at)
                .then_with(|| a.sku_id.cmp(&b.sku_id))
        });
        Ok(items)
    }

    /// Adds `quantity` of `sku`, merging into its line when there is one (and selecting it).
    /// Racing adds of the same SKU make one line with the sum.
    pub async fn add_to_cart(
        &self,
        user: &UserId,
        sku: &SkuId,
        quantity: CartQuantity,
        now: i64,
    ) -> Result<Added, StoreError> {
        let line_key = key(user, format!("CART#{sku}"));
        for _ in 0..5 {
            let merged = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(line_key.clone()))
                .update_expression("ADD quantity :q SET selected = :yes")
                .condition_expression("attribute_exists(sk) AND quantity <= :room")
                .expression_attribute_values(":q", n(quantity.get()))
                .expression_attribute_values(":room", n(quantity.room()))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match merged {
                Ok(out) => {
                    let held = out
                        .attributes
                        .as_ref()
                        .and_then(|a| get_i64(a, "quantity"))
                        .and_then(|q| u32::try_from(q).ok())
                        .unwrap_or(quantity.get());
                    return Ok(Added::Added(held));
                }
                Err(err) if super::condition_failed(&err) => {}
                Err(err) => return Err(StoreError::dynamo("UpdateItem cart line", err)),
            }
            if let Some(line) = self.item(line_key.clone(), "GetItem cart line").await? {
                let held = get_i64(&line, "quantity")
                    .and_then(|q| u32::try_from(q).ok())
                    .unwrap_or(0);
                if held + quantity.get() > domain::cart::MAX_LINE_QUANTITY {
                    return Ok(Added::LineFull(held));
                }
                // Merged by someone else meanwhile with room left: merge again.
                continue;
            }
            let line = CartItem {
                sku_id: sku.clone(),
                quantity,
                selected: true,
                added_at: now,
            };
            let mut item = to_item(&line);
            item.extend(line_key.clone());
            let writes = vec![
                self.put(item, "attribute_not_exists(sk)")?,
                self.count(user, "CART", 1, Some(MAX_CART_LINES))?,
            ];
            match self.transact(writes, "TransactWriteItems cart add").await? {
                None => return Ok(Added::Added(quantity.get())),
                Some(failed) if failed.get(1) == Some(&true) => return Ok(Added::CartFull),
                // The line appeared meanwhile: merge into it.
                Some(_) => continue,
            }
        }
        Err(StoreError::Corrupt {
            key: format!("SHOPPER#{user}/CART#{sku}"),
            problem: "cart line kept changing while adding".into(),
        })
    }

    /// Sets a line's quantity and whether it is selected; None when the SKU is not in the cart.
    pub async fn change_line(
        &self,
        user: &UserId,
        sku: &SkuId,
        quantity: Option<CartQuantity>,
        selected: Option<bool>,
    ) -> Result<Option<CartItem>, StoreError> {
        let mut sets = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user, format!("CART#{sku}"))))
            .condition_expression("attribute_exists(sk)")
            .return_values(ReturnValue::AllNew);
        if let Some(q) = quantity {
            sets.push("quantity = :q");
            update = update.expression_attribute_values(":q", n(q.get()));
        }
        if let Some(selected) = selected {
            sets.push("selected = :s");
            update = update.expression_attribute_values(":s", AttributeValue::Bool(selected));
        }
        if sets.is_empty() {
            return self
                .item(key(user, format!("CART#{sku}")), "GetItem cart line")
                .await?
                .as_ref()
                .map(from_item)
                .transpose();
        }
        match update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await
        {
            Ok(out) => out.attributes.as_ref().map(from_item).transpose(),
            Err(err) if super::condition_failed(&err) => Ok(None),
            Err(err) => Err(StoreError::dynamo("UpdateItem cart line", err)),
        }
    }

    /// Takes the line out of the cart; false when it was not there.
    pub async fn remove_line(&self, user: &UserId, sku: &SkuId) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, format!("CART#{sku}"))))
            .condition_expression("attribute_exists(sk)")
            .build()
            .map_err(build_err)?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            self.count(user, "CART", -1, None)?,
        ];
        Ok(self
            .transact(writes, "TransactWriteItems cart remove")
            .await?
            .is_none())
    }

    /// Takes what a paid order bought out of the cart it was ordered from: each line loses the
    /// units bought (and goes when none are left), once per order however often the payment is
    /// reported. A line added again after the order was placed is left alone.
    pub async fn take_bought(
        &self,
        user: &UserId,
        order: &OrderId,
        ordered_at: i64,
        bought: &[(SkuId, u32)],
    ) -> Result<(), StoreError> {
        for (sku, units) in bought {
            let line_key = key(user, format!("CART#{sku}"));
            for _ in 0..5 {
                let Some(line) = self.item(line_key.clone(), "GetItem cart line").await? else {
                    break;
                };
                let held = get_i64(&line, "quantity").unwrap_or(0);
                if get_s(&line, "lastOrder") == Some(order.as_str())
                    || get_i64(&line, "addedAt").unwrap_or(0) > ordered_at
                {
                    break;
                }
                let unchanged =
                    "quantity = :held AND (attribute_not_exists(lastOrder) OR lastOrder <> :o)";
                let result = if held <= i64::from(*units) {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(line_key.clone()))
                        .condition_expression(unchanged)
                        .expression_attribute_values(":held", n(held))
                        .expression_attribute_values(":o", s(order.as_str()))
                        .build()
                        .map_err(build_err)?;
                    self.transact(
                        vec![
                            TransactWriteItem::builder().delete(delete).build(),
                            self.count(user, "CART", -1, None)?,
                        ],
                        "TransactWriteItems cart bought",
                    )
                    .await?
                    .is_none()
                } else {
                    match self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(line_key.clone()))
                        .update_expression("SET quantity = :left, lastOrder = :o")
                        .condition_expression(unchanged)
                        .expression_attribute_values(":held", n(held))
                        .expression_attribute_values(":left", n(held - i64::from(*units)))
                        .expression_attribute_values(":o", s(order.as_str()))
                        .send()
                        .await
                    {
                        Ok(_) => true,
                        Err(err) if super::condition_failed(&err) => false,
                        Err(err) => return Err(StoreError::dynamo("UpdateItem cart bought", err)),
                    }
                };
                if result {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The address book.
impl ShoppingStore {
    /// Every address (newest first) and which is the default, in one query.
    pub async fn address_book(&self, user: &UserId) -> Result<AddressBook, StoreError> {
        let mut book = AddressBook::default();
        let mut addresses = Vec::new();
        for item in self.items(user, "ADDRESS").await? {
            match get_s(&item, "sk") {
                Some("ADDRESSES") => {
                    book.default_id =
                        get_s(&item, "defaultId").and_then(|d| AddressId::parse(d).ok());
                }
                Some(_) => addresses.push(item),
                None => {}
            }
        }
        book.addresses = self.addresses_of(addresses).await?;
        book.addresses.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(book)
    }

    pub async fn address(
        &self,
        user: &UserId,
        id: &AddressId,
    ) -> Result<Option<SavedAddress>, StoreError> {
        let Some(item) = self
            .item(key(user, format!("ADDRESS#{id}")), "GetItem address")
            .await?
        else {
            return Ok(None);
        };
        Ok(self.addresses_of(vec![item]).await?.pop())
    }

    /// Adds an address, within the book's 20; the first one, or one asked to be, becomes the
    /// default.
    pub async fn add_address(
        &self,
        user: &UserId,
        address: &SavedAddress,
        make_default: bool,
    ) -> Result<Saved, StoreError> {
        let item = self.address_item(user, address).await?;
        let default = if make_default {
            "defaultId = :id"
        } else {
            "defaultId = if_not_exists(defaultId, :id)"
        };
        let header = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, "ADDRESSES")))
            .update_expression(format!("ADD #count :one SET {default}"))
            .condition_expression("attribute_not_exists(#count) OR #count < :max")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(MAX_ADDRESSES))
            .expression_attribute_values(":id", s(address.id.as_str()))
            .build()
            .map_err(build_err)?;
        let writes = vec![
            self.put(item, "attribute_not_exists(sk)")?,
            TransactWriteItem::builder().update(header).build(),
        ];
        Ok(
            match self
                .transact(writes, "TransactWriteItems address add")
                .await?
            {
                None => Saved::Saved,
                Some(_) => Saved::BookFull,
            },
        )
    }

    /// Replaces an address's fields; `NotFound` when it is not in the book.
    pub async fn replace_address(
        &self,
        user: &UserId,
        address: &SavedAddress,
    ) -> Result<Saved, StoreError> {
        let item = self.address_item(user, address).await?;
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(sk)")
            .send()
            .await
        {
            Ok(_) => Ok(Saved::Saved),
            Err(err) if super::condition_failed(&err) => Ok(Saved::NotFound),
            Err(err) => Err(StoreError::dynamo("PutItem address", err)),
        }
    }

    /// Makes the address the default: exactly one default whatever races, and never one that
    /// was removed. False when the address is not in the book.
    pub async fn set_default_address(
        &self,
        user: &UserId,
        id: &AddressId,
    ) -> Result<bool, StoreError> {
        let exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, format!("ADDRESS#{id}"))))
            .condition_expression("attribute_exists(sk)")
            .build()
            .map_err(build_err)?;
        let header = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(user, "ADDRESSES")))
            .update_expression("SET defaultId = :id")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":id", s(id.as_str()))
            .build()
            .map_err(build_err)?;
        let writes = vec![
            TransactWriteItem::builder().condition_check(exists).build(),
            TransactWriteItem::builder().update(header).build(),
        ];
        Ok(self
            .transact(writes, "TransactWriteItems default address")
            .await?
            .is_none())
    }

    /// Blanks the phone of every address `revoked` says holds the revoked number (the shopper
    /// took it back on WeChat); such an address is kept but must be given a phone before an
    /// order can use it. How many were blanked.
    pub async fn forget_address_phones(
        &self,
        user: &UserId,
        revoked: impl Fn(&str) -> bool,
    ) -> Result<usize, StoreError> {
        let book = self.address_book(user).await?;
        let mut forgotten = 0;
        for saved in book.addresses.iter().filter(|a| revoked(&a.address.phone)) {
            let mut blank = saved.clone();
            blank.address.phone = String::new();
            if self.replace_address(user, &blank).await? == Saved::Saved {
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }

    /// Removes an address; when it was the default, the newest other one becomes the default.
    /// False when it was not in the book.
    pub async fn remove_address(&self, user: &UserId, id: &AddressId) -> Result<bool, StoreError> {
        for _ in 0..5 {
            let book = self.address_book(user).await?;
            if !book.addresses.iter().any(|a| &a.id == id) {
                return Ok(false);
            }
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(user, format!("ADDRESS#{id}"))))
                .condition_expression("attribute_exists(sk)")
                .build()
                .map_err(build_err)?;
            let mut header = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(user, "ADDRESSES")))
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":minus", n(-1));
            header = match &book.default_id {
                Some(default) => header
                    .condition_expression("defaultId = :read")
                    .expression_attribute_values(":read", s(default.as_str())),
                None => header.condition_expression("attribute_not_exists(defaultId)"),
            };
            let successor = book.addresses.iter().find(|a| &a.id != id);
            header = match (book.default_id.as_ref() == Some(id), successor) {
                (true, Some(next)) => header
                    .update_expression("ADD #count :minus SET defaultId = :next")
                    .expression_attribute_values(":next", s(next.id.as_str())),
                (true, None) => header.update_expression("ADD #count :minus REMOVE defaultId"),
                (false, _) => header.update_expression("ADD #count :minus"),
            };
            let writes = vec![
                TransactWriteItem::builder().delete(delete).build(),
                TransactWriteItem::builder()
                    .update(header.build().map_err(build_err)?)
                    .build(),
            ];
            match self
                .transact(writes, "TransactWriteItems address remove")
                .await?
            {
                None => return Ok(true),
                Some(failed) if failed.first() == Some(&true) => return Ok(false),
                // The default changed meanwhile: read the book again.
                Some(_) => continue,
            }
        }
        Err(StoreError::Corrupt {
            key: format!("SHOPPER#{user}/ADDRESSES"),
            problem: "address book kept changing while removing".into(),
        })
    }
}

/// Favorites and footprints.
impl ShoppingStore {
    pub async fn favor(
        &self,
        user: &UserId,
        product: &ProductId,
        now: i64,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                key(user, format!("FAV#{product}"))
                    .into_iter()
                    .chain([
                        ("productId".to_string(), s(product.as_str())),
                        ("favoredAt".to_string(), n(now)),
                    ])
                    .collect(),
            ))
            // Favoring twice keeps the first time.
            .condition_expression("attribute_not_exists(sk)")
            .send()
            .await
            .map(|_| ())
            .or_else(|err| {
                if super::condition_failed(&err) {
                    Ok(())
                } else {
                    Err(StoreError::dynamo("PutItem favorite", err))
                }
            })
    }

    pub async fn unfavor(&self, user: &UserId, product: &ProductId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user, format!("FAV#{product}"))))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem favorite", e))?;
        Ok(())
    }

    /// Records a view: the product's footprint moves to now and lives 90 more days.
    /// Keeps the view as the product's footprint; answers whether the footprints may now be
    /// past the 200 kept (then [`ShoppingStore::trim_footprints`]).
    pub async fn record_footprint(
        &self,
        user: &UserId,
        product: &ProductId,
        category: &CategoryId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                key(user, format!("VIEW#{product}"))
                    .into_iter()
                    .chain([
                        ("productId".to_string(), s(product.as_str())),
                        ("categoryId".to_string(), s(category.as_str())),
                        ("viewedAt".to_string(), n(now)),
                        ("expiresAt".to_string(), n(now + FOOTPRINT_SECONDS)),
                    ])
                    .collect(),
            ))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem footprint", e))?;
        if put.attributes.is_some_and(|old| !old.is_empty()) {
            // A product viewed again: still as many footprints.
            return Ok(false);
        }
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user, FOOTPRINT_COUNT)))
            .update_expression("ADD #count :one")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem footprint count", e))?;
        let count = counted
            .attributes
            .as_ref()
            .and_then(|a| get_i64(a, "count"))
            .unwrap_or(0);
        Ok(usize::try_from(count).unwrap_or(usize::MAX) > MAX_FOOTPRINTS)
    }

    /// Forgets the oldest footprints past the 200 kept; how many it forgot.
    pub async fn trim_footprints(&self, user: &UserId) -> Result<usize, StoreError> {
        let all = self
            .marks(user, INDEX_FOOTPRINTS, "viewedAt", None, usize::MAX)
            .await?;
        let stale: Vec<_> = all.items.iter().skip(MAX_FOOTPRINTS).collect();
        for mark in &stale {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(user, format!("VIEW#{}", mark.product_id))))
                .send()
                .await
                .map_err(|e| StoreError::dynamo("DeleteItem footprint", e))?;
        }
        let kept = all.items.len() - stale.len();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(
                key(user, FOOTPRINT_COUNT)
                    .into_iter()
                    .chain([("count".to_string(), n(kept))])
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("PutItem footprint count", e))?;
        Ok(stale.len())
    }

    pub async fn clear_footprints(&self, user: &UserId) -> Result<usize, StoreError> {
        let views = self.items(user, "VIEW#").await?;
        let cleared = self.delete_items(&views).await?;
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user, FOOTPRINT_COUNT)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("DeleteItem footprint count", e))?;
        Ok(cleared)
    }

    /// Newest first, a page at a time.
    pub async fn favorites(
        &self,
        user: &UserId,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Mark>, StoreError> {
        self.marks(user, INDEX_FAVORITES, "favoredAt", after, limit)
            .await
    }

    /// Newest first, a page at a time.
    pub async fn footprints(
        &self,
        user: &UserId,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Mark>, StoreError> {
        self.marks(user, INDEX_FOOTPRINTS, "viewedAt", after, limit)
            .await
    }

    async fn marks(
        &self,
        user: &UserId,
        index: &str,
        at: &str,
        after: Option<ListPosition>,
        limit: usize,
    ) -> Result<Page<Mark>, StoreError> {
        let pk = format!("SHOPPER#{user}");
        let Page { items, next } = super::index_page(
            &self.client,
            &self.table,
            index,
            ("pk", &pk),
            at,
            after,
            limit,
        )
        .await?;
        Ok(Page {
            items: items
                .iter()
                .filter_map(|item| {
                    Some(Mark {
                        product_id: ProductId::parse(get_s(item, "productId")?).ok()?,
                        at: get_i64(item, at)?,
                        category_id: get_s(item, "categoryId")
                            .and_then(|c| CategoryId::parse(c).ok()),
                    })
                })
                .collect(),
            next,
        })
    }
}

/// Everything at once, for the shopper's export and the deletion of their account.
impl ShoppingStore {
    /// Every record of the shopper's partition, as stored (keys left out).
    /// Addresses come opened: the export is the shopper's own.
    pub async fn everything(&self, user: &UserId) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut items = self.partition_items(user).await?;
        personal::open_items(self.personal.as_ref(), &mut items, None).await?;
        Ok(items
            .iter()
            .map(|item| {
                let mut value = super::from_attribute(&AttributeValue::M(item.clone()));
                if let Some(map) = value.as_object_mut() {
                    map.remove("pk");
                    let record = map.remove("sk").unwrap_or(serde_json::Value::Null);
                    map.insert("record".into(), record);
                }
                value
            })
            .collect())
    }

    /// Deletes the whole partition; how many records went. Safe to repeat.
    pub async fn erase(&self, user: &UserId) -> Result<usize, StoreError> {
        let items = self.partition_items(user).await?;
        self.delete_items(&items).await
    }

    /// Deletes the address book: a shopper revoked their addresses on WeChat. How many
    /// addresses went.
    pub async fn erase_addresses(&self, user: &UserId) -> Result<usize, StoreError> {
        let items = self.items(user, "ADDRESS").await?;
        let addresses = items
            .iter()
            .filter(|i| get_s(i, "sk").is_some_and(|sk| sk.starts_with("ADDRESS#")))
            .count();
        self.delete_items(&items).await?;
        Ok(addresses)
    }
}

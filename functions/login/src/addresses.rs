//! The shopper's address book (收货地址): `GET /v1/addresses`, `POST /v1/addresses`,
//! `PUT /v1/addresses/{id}`, `DELETE /v1/addresses/{id}`, `POST /v1/addresses/{id}/default`.
//! At most 20 addresses, each checked as an order's address is; exactly one default whatever
//! races (the book keeps one `defaultId`, and every change to it is conditional).

use super::Login;
use domain::address_book::{MAX_ADDRESSES, SavedAddress, parse_label};
use domain::clock::now_epoch_seconds;
use domain::ids::AddressId;
use domain::order::{Address, AddressInput};
use edge::api::{self, ApiError, ApiRequest, ApiResponse, RequestExt};
use serde::{Deserialize, Serialize};
use store::shopping::{AddressBook, Saved};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressBody {
    #[serde(flatten)]
    address: AddressInput,
    label: Option<String>,
    is_default: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AddressView<'a> {
    #[serde(flatten)]
    saved: &'a SavedAddress,
    is_default: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BookView<'a> {
    items: Vec<AddressView<'a>>,
    default_id: Option<&'a AddressId>,
    max: u32,
}

fn book_view(book: &AddressBook) -> BookView<'_> {
    BookView {
        items: book
            .addresses
            .iter()
            .map(|saved| AddressView {
                saved,
                is_default: book.default_id.as_ref() == Some(&saved.id),
            })
            .collect(),
        default_id: book.default_id.as_ref(),
        max: MAX_ADDRESSES,
    }
}

fn address_id(req: &ApiRequest) -> Result<AddressId, ApiError> {
    AddressId::parse(req.path_param("id")?).map_err(|e| ApiError::invalid_field("id", e))
}

fn not_found() -> ApiError {
    ApiError::new(404, "address_not_found", "no such address in your book")
}

/// The body's address, checked, with its label and whether it should be the default.
fn parse_body(req: &ApiRequest) -> Result<(Address, Option<String>, bool), ApiError> {
    let body: AddressBody = req.json_body()?;
    let address = Address::parse(&body.address, "")?;
    let label = parse_label(body.label.as_deref())?;
    Ok((address, label, body.is_default.unwrap_or(false)))
}

impl Login {
    /// `GET /v1/addresses`: newest first, the default marked.
    pub(crate) async fn addresses(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let book = self
            .shopping
            .address_book(&user)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(api::json(200, &book_view(&book)))
    }

    /// `POST /v1/addresses`: the first address, or one sent with `isDefault`, is the default.
    pub(crate) async fn add_address(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let (address, label, make_default) = parse_body(req)?;
        let now = now_epoch_seconds();
        let saved = SavedAddress {
            id: AddressId::generate(),
            address,
            label,
            created_at: now,
            updated_at: now,
        };
        match self
            .shopping
            .add_address(&user, &saved, make_default)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
        {
            Saved::Saved => {}
            Saved::BookFull | Saved::NotFound => {
                return Err(ApiError::new(
                    422,
                    "address_book_full",
                    format!("an address book holds at most {MAX_ADDRESSES} addresses"),
                ));
            }
        }
        self.answer_address(&user, &saved.id, 201).await
    }

    /// `PUT /v1/addresses/{id}`: replaces the address's fields (and makes it the default when
    /// asked).
    pub(crate) async fn replace_address(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let id = address_id(req)?;
        let (address, label, make_default) = parse_body(req)?;
        let unexpected = |e: store::StoreError| ApiError::unexpected(&e);
        let existing = self
            .shopping
            .address(&user, &id)
            .await
            .map_err(unexpected)?
            .ok_or_else(not_found)?;
        let saved = SavedAddress {
            address,
            label,
            updated_at: now_epoch_seconds(),
            ..existing
        };
        if self
            .shopping
            .replace_address(&user, &saved)
            .await
            .map_err(unexpected)?
            == Saved::NotFound
        {
            return Err(not_found());
        }
        if make_default
            && !self
                .shopping
                .set_default_address(&user, &id)
                .await
                .map_err(unexpected)?
        {
            return Err(not_found());
        }
        self.answer_address(&user, &id, 200).await
    }

    /// `DELETE /v1/addresses/{id}`: 204 whether or not it was there; the newest other address
    /// becomes the default when the default goes.
    pub(crate) async fn remove_address(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let id = address_id(req)?;
        self.shopping
            .remove_address(&user, &id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        Ok(api::empty(204))
    }

    /// `POST /v1/addresses/{id}/default`.
    pub(crate) async fn set_default_address(
        &self,
        req: &ApiRequest,
    ) -> Result<ApiResponse, ApiError> {
        let user = self.sessions.require_user(req).await?;
        let id = address_id(req)?;
        if !self
            .shopping
            .set_default_address(&user, &id)
            .await
            .map_err(|e| ApiError::unexpected(&e))?
        {
            return Err(not_found());
        }
        self.answer_address(&user, &id, 200).await
    }

    /// The address as the book now has it, with whether it is the default.
    async fn answer_address(
        &self,
        user: &domain::ids::UserId,
        id: &AddressId,
        status: u16,
    ) -> Result<ApiResponse, ApiError> {
        let book = self
            .shopping
            .address_book(user)
            .await
            .map_err(|e| ApiError::unexpected(&e))?;
        let saved = book
            .addresses
            .iter()
            .find(|a| &a.id == id)
            .ok_or_else(not_found)?;
        Ok(api::json(
            status,
            &AddressView {
                saved,
                is_default: book.default_id.as_ref() == Some(id),
            },
        ))
    }
}

//! `browse`: the catalog as shoppers see it. Every answer comes from key lookups and queries,
//! never a table scan.
//!
//! Routes: `GET /v1/categories`, `GET /v1/products`, `GET /v1/products/{id}`,
//! `GET /v1/products/{id}/reviews`, `GET /v1/recommendations`, favorites (`/v1/favorites`) and
//! footprints (`/v1/footprints`). Product detail carries its rating (`rating`: count, average,
//! share of 4 and 5 stars), read in the same batch as its SKUs.

mod marks;
mod reviews;

use domain::catalog::{self, ProductSummary, category_tree};
use domain::clock::now_epoch_seconds;
use domain::ids::{CategoryId, ProductId, UserId};
use domain::search;
use edge::api::{ApiError, ApiRequest, ApiResponse, Caching, RequestExt, cached_json, page_limit};
use edge::auth::Sessions;
use edge::cursor::CursorSealer;
use edge::runtime::{Background, Clients, HttpFunction, respond};
use serde::Serialize;
use settings::{ConfigError, Settings};
use std::collections::HashSet;
use store::StoreError;
use store::catalog::{CatalogStore, ListPosition};
use store::reviews::ReviewStore;
use store::shopping::ShoppingStore;
use store::users::UserStore;

const RECOMMENDATIONS: usize = 10;
/// Categories a personal recommendation draws from.
const INTEREST_CATEGORIES: usize = 3;
/// The latest footprints a recommendation looks at.
const RECENT_FOOTPRINTS: usize = 10;

/// The categories to recommend from: that of the latest view first (what the shopper is after
/// now), then their strongest interests over time; three at most.
fn interests(recent: &[store::shopping::Mark], strongest: &[CategoryId]) -> Vec<CategoryId> {
    let mut picked: Vec<CategoryId> = Vec::with_capacity(INTEREST_CATEGORIES);
    let latest = recent.iter().find_map(|m| m.category_id.clone());
    for category in latest.into_iter().chain(strongest.iter().cloned()) {
        if picked.len() < INTEREST_CATEGORIES && !picked.contains(&category) {
            picked.push(category);
        }
    }
    picked
}

pub struct Browse {
    metrics: telemetry::metrics::Metrics,
    catalog: CatalogStore,
    users: UserStore,
    /// Favorites and footprints.
    shopping: ShoppingStore,
    reviews: ReviewStore,
    /// Review photos, shown by links that expire.
    media: store::media::MediaBucket,
    sessions: Sessions,
    cursors: CursorSealer,
    background: Background,
}

fn store_failure(err: StoreError) -> ApiError {
    ApiError::unexpected(&err)
}

/// What `GET /v1/products` was asked for, parsed from the query string.
struct ListingQuery {
    category: Option<CategoryId>,
    keywords: Option<String>,
    cursor: Option<String>,
    limit: usize,
}

impl ListingQuery {
    fn parse(req: &ApiRequest) -> Result<Self, ApiError> {
        let category = req
            .query_param("category")
            .filter(|c| !c.is_empty())
            .map(|c| CategoryId::parse(c).map_err(|e| ApiError::invalid_field("category", e)))
            .transpose()?;
        let keywords = edge::api::search_keywords(req)?;
        let limit = page_limit(req)?;
        let cursor = req
            .query_param("cursor")
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        Ok(Self {
            category,
            keywords,
            cursor,
            limit,
        })
    }

    /// Binds a cursor to this exact listing: a cursor from another category or search is refused.
    fn scope(&self) -> String {
        format!(
            "products|{}|{}|{}",
            self.category.as_ref().map_or("", CategoryId::as_str),
            self.keywords.as_deref().unwrap_or(""),
            self.limit
        )
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    items: Vec<ProductSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Recommendations {
    items: Vec<ProductSummary>,
    personalized: bool,
}

impl Browse {
    pub fn new(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let dynamodb = clients.dynamodb.clone();
        let jwt_secret = settings.secret("JWT_SECRET")?;
        Ok(Self {
            metrics: clients.metrics("browse"),
            catalog: CatalogStore::new(dynamodb.clone(), settings.required("CATALOG_TABLE")?),
            shopping: ShoppingStore::new(dynamodb.clone(), settings.required("SHOPPING_TABLE")?),
            reviews: ReviewStore::new(dynamodb.clone(), settings.required("REVIEWS_TABLE")?),
            media: clients.media_bucket(settings)?,
            users: UserStore::new(dynamodb, settings.required("USERS_TABLE")?),
            sessions: Sessions::new(
                &jwt_secret,
                UserStore::new(clients.dynamodb.clone(), settings.required("USERS_TABLE")?),
            )?,
            cursors: CursorSealer::derive(&jwt_secret),
            background: Background::default(),
        })
    }

    pub async fn from_env() -> Result<Self, ConfigError> {
        let (settings, clients) = edge::runtime::from_env().await?;
        Self::new(&settings, &clients)
    }

    /// Waits for best-effort work started by earlier requests (view records).
    pub async fn settle(&self) {
        self.background.settle().await;
    }

    async fn categories(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let all = self.catalog.categories().await.map_err(store_failure)?;
        #[derive(Serialize)]
        struct Answer {
            categories: Vec<catalog::CategoryNode>,
        }
        Ok(cached_json(
            req,
            Caching::Public { max_age: 300 },
            &Answer {
                categories: category_tree(all),
            },
        ))
    }

    async fn products(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let query = ListingQuery::parse(req)?;
        let scope = query.scope();
        let listing = match &query.keywords {
            Some(keywords) => {
                let terms = search::query_terms(keywords);
                let hits = if terms.is_empty() {
                    Vec::new()
                } else {
                    self.catalog
                        .search(&terms, query.category.as_ref())
                        .await
                        .map_err(store_failure)?
                };
                let (page, next_cursor) =
                    self.cursors
                        .page_of(&scope, query.cursor.as_deref(), &hits, query.limit)?;
                Listing {
                    items: self.catalog.summaries(page).await.map_err(store_failure)?,
                    next_cursor,
                }
            }
            None => {
                let after = query
                    .cursor
                    .as_deref()
                    .map(|c| self.cursors.open::<ListPosition>(&scope, c))
                    .transpose()?;
                let page = self
                    .catalog
                    .list(query.category.as_ref(), after, query.limit)
                    .await
                    .map_err(store_failure)?;
                Listing {
                    items: page.items,
                    next_cursor: page.next.map(|p| self.cursors.seal(&scope, &p)),
                }
            }
        };
        Ok(cached_json(req, Caching::Public { max_age: 60 }, &listing))
    }

    async fn product(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = ProductId::parse(req.path_param("id")?)
            .map_err(|e| ApiError::invalid_field("id", e))?;
        let viewer = self.sessions.optional_user(req).await?;
        let (product, skus, rating) = self
            .catalog
            .product_with_rating(&id)
            .await
            .map_err(store_failure)?
            .ok_or_else(|| ApiError::new(404, "product_not_found", format!("no product {id}")))?;
        self.metrics.event(
            telemetry::metrics::BusinessEvent::ProductViewed,
            &telemetry::metrics::Facts {
                channel: Some(edge::channel::channel_of(req)),
                category: Some(&product.category_id),
                product: Some(&product.id),
                ..Default::default()
            },
        );
        let now = now_epoch_seconds();
        // A signed-in viewer's proof of when this page opened, claimed for the view task.
        let view_ticket = viewer.as_ref().map(|viewer| {
            self.cursors.seal(
                &edge::cursor::view_ticket_scope(viewer),
                &domain::tasks::ViewTicket {
                    product_id: product.id.clone(),
                    opened_at: now,
                },
            )
        });
        if let Some(viewer) = viewer {
            // Best effort and off the answer's path: a lost view only dulls recommendations.
            let (users, shopping) = (self.users.clone(), self.shopping.clone());
            let (category, product_id) = (product.category_id.clone(), product.id.clone());
            self.background.spawn(async move {
                let (counted, footprint) =
                    futures::join!(users.record_view(&viewer, &category), async {
                        let over = shopping
                            .record_footprint(&viewer, &product_id, &category, now)
                            .await?;
                        if over {
                            shopping.trim_footprints(&viewer).await
                        } else {
                            Ok(0)
                        }
                    });
                if let Err(err) = counted.map(|_| ()).and(footprint.map(|_| ())) {
                    tracing::warn!(error = %err, "view not recorded");
                }
            });
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Answer {
            #[serde(flatten)]
            detail: catalog::ProductDetail,
            on_shelf: bool,
            rating: serde_json::Value,
            #[serde(skip_serializing_if = "Option::is_none")]
            view_ticket: Option<String>,
        }
        let caching = match view_ticket {
            Some(_) => Caching::Private,
            None => Caching::Public { max_age: 30 },
        };
        let answer = Answer {
            detail: catalog::detail(&product, &skus, now),
            on_shelf: product.on_shelf,
            rating: rating.to_json(),
            view_ticket,
        };
        Ok(cached_json(req, caching, &answer))
    }

    async fn recommendations(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        match self.sessions.optional_user(req).await? {
            None => {
                let popular = self
                    .catalog
                    .list(None, None, RECOMMENDATIONS)
                    .await
                    .map_err(store_failure)?
                    .items;
                Ok(cached_json(
                    req,
                    Caching::Public { max_age: 60 },
                    &Recommendations {
                        items: popular,
                        personalized: false,
                    },
                ))
            }
            Some(user) => {
                let answer = self
                    .personal_recommendations(&user)
                    .await
                    .map_err(store_failure)?;
                Ok(cached_json(req, Caching::Private, &answer))
            }
        }
    }

    /// Best sellers from the shopper's favourite categories, taken in turn, without what they
    /// already bought; topped up with shop-wide best sellers.
    async fn personal_recommendations(&self, user: &UserId) -> Result<Recommendations, StoreError> {
        let (prefs, recent) = futures::try_join!(
            self.users.preferences(user),
            self.shopping.footprints(user, None, RECENT_FOOTPRINTS)
        )?;
        let interests = interests(&recent.items, &prefs.top_categories(INTEREST_CATEGORIES));
        let per_category = futures::future::try_join_all(interests.iter().map(|c| {
            self.catalog.list(
                Some(c),
                None,
                RECOMMENDATIONS + prefs.bought_products.len().min(20),
            )
        }))
        .await?;
        // Neither what they bought nor what they have just looked at: more like it instead.
        let mut seen: HashSet<ProductId> = prefs.bought_products.iter().cloned().collect();
        seen.extend(recent.items.iter().map(|m| m.product_id.clone()));
        let mut picked = Vec::new();
        let mut lists: Vec<_> = per_category
            .into_iter()
            .map(|p| p.items.into_iter())
            .collect();
        while picked.len() < RECOMMENDATIONS && !lists.is_empty() {
            lists.retain_mut(|list| {
                for item in list.by_ref() {
                    if seen.insert(item.id.clone()) {
                        picked.push(item);
                        return true;
                    }
                }
                false
            });
        }
        picked.truncate(RECOMMENDATIONS);
        let personalized = !picked.is_empty();
        if picked.len() < RECOMMENDATIONS {
            let popular = self
                .catalog
                .list(None, None, RECOMMENDATIONS + seen.len().min(30))
                .await?;
            for item in popular.items {
                if picked.len() == RECOMMENDATIONS {
                    break;
                }
                if seen.insert(item.id.clone()) {
                    picked.push(item);
                }
            }
        }
        Ok(Recommendations {
            items: picked,
            personalized,
        })
    }
}

#[async_trait::async_trait]
impl HttpFunction for Browse {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        respond(&self.metrics, &req, async {
            match req.route() {
                "GET /v1/categories" => self.categories(&req).await,
                "GET /v1/products" => self.products(&req).await,
                "GET /v1/products/{id}" => self.product(&req).await,
                "GET /v1/products/{id}/reviews" => self.reviews(&req).await,
                "GET /v1/recommendations" => self.recommendations(&req).await,
                "PUT /v1/favorites/{productId}" => self.favor(&req).await,
                "DELETE /v1/favorites/{productId}" => self.unfavor(&req).await,
                "GET /v1/favorites" => self.favorites(&req).await,
                "GET /v1/footprints" => self.footprints(&req).await,
                "DELETE /v1/footprints" => self.clear_footprints(&req).await,
                other => Err(ApiError::route_not_found(other)),
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &[(&str, &str)]) -> ApiRequest {
        let raw = query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /v1/products",
            "rawPath": "/v1/products",
            "rawQueryString": raw,
            "queryStringParameters": query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<std::collections::HashMap<_, _>>(),
            "requestContext": {"http": {"method": "GET", "path": "/v1/products"}, "requestId": "t"},
            "isBase64Encoded": false
        });
        edge::api::request_from_event(&event).unwrap()
    }

    #[test]
    fn limit_defaults_to_20_and_must_be_1_to_50() {
        assert_eq!(ListingQuery::parse(&request(&[])).unwrap().limit, 20);
        assert_eq!(
            ListingQuery::parse(&request(&[("limit", "50")]))
                .unwrap()
                .limit,
            50
        );
        for bad in ["0", "51", "-1", "ten", "2.5"] {
            let err = ListingQuery::parse(&request(&[("limit", bad)]))
                .err()
                .unwrap();
            assert_eq!(err.field.as_deref(), Some("limit"), "{bad}");
        }
    }

    #[test]
    fn bad_category_and_overlong_query_name_their_field() {
        let err = ListingQuery::parse(&request(&[("category", "a#b")]))
            .err()
            .unwrap();
        assert_eq!(err.field.as_deref(), Some("category"));
        let long = "茶".repeat(41);
        let err = ListingQuery::parse(&request(&[("q", &long)]))
            .err()
            .unwrap();
        assert_eq!(err.field.as_deref(), Some("q"));
    }

    #[test]
    fn cursor_scope_differs_by_category_query_and_page_size() {
        let a = ListingQuery::parse(&request(&[("category", "tea")]))
            .unwrap()
            .scope();
        let b = ListingQuery::parse(&request(&[("category", "snack")]))
            .unwrap()
            .scope();
        let c = ListingQuery::parse(&request(&[("category", "tea"), ("limit", "5")]))
            .unwrap()
            .scope();
        assert_ne!(a, b);
        assert_ne!(a, c);
    }
}

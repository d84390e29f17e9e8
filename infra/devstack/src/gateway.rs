//! The local API Gateway: routes from template.yaml, each request turned into the HTTP API
//! payload 2.0 event API Gateway would send, handed to the function's handler in-process, and
//! its answer written back.

use crate::server::{Incoming, Outgoing, Serve, form_pairs};
use crate::template::{Route, Template};
use anyhow::bail;
use base64::Engine;
use edge::api::Body;
use serde_json::{Map, Value, json};

use edge::api::{ApiRequest, ApiResponse};
use edge::runtime::HttpFunction;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub struct Gateway {
    /// Most specific first, so `/v1/orders/mine` would win over `/v1/orders/{id}`.
    routes: Vec<(Route, Arc<dyn HttpFunction>)>,
    /// `GET /docs`, `/openapi.yaml` and `/openapi.json`: the API document, served beside the API.
    docs: crate::docs::ApiDocs,
    /// False while `make dev` seeds the demo shop: a client that starts when the port opens
    /// gets 503 `starting` rather than a half-seeded catalog.
    open: std::sync::atomic::AtomicBool,
    /// What ShopCdn serves in AWS from the media bucket: product images, `GET /uploads/catalog/*`.
    public_media: Option<PublicMedia>,
    /// What ShopCdn serves from the console bucket: the merchant console's bundle at `/console/`.
    console: Option<Console>,
    /// `POST /__local/staff-session`: a staff session aged on purpose (local only, never in AWS).
    staff_sessions: Option<store::staff::StaffStore>,
}

/// The console's built bundle and the `config.json` a deploy writes beside it.
struct Console {
    dist: std::path::PathBuf,
    config: String,
}

/// The headers ShopCdn's `ConsoleHeaders` policy adds, so a page that breaks them breaks here.
const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data: blob: http: https:; connect-src 'self' http://127.0.0.1:*; object-src 'none'; \
    base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

fn content_type_of(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The media bucket read with the stack's own rights, as CloudFront's origin access does.
struct PublicMedia {
    bucket: store::media::MediaBucket,
    http: reqwest::Client,
}

/// Content types API Gateway passes as text; any other body arrives base64-encoded.
fn is_text(content_type: &str) -> bool {
    let ct = content_type.to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
}

impl Gateway {
    /// Every route in the template must have its function here: a route with nothing behind it
    /// is a wiring mistake, caught at start-up rather than by a shopper.
    pub fn new(
        template: &Template,
        functions: &HashMap<String, Arc<dyn HttpFunction>>,
    ) -> anyhow::Result<Self> {
        let mut routes = Vec::new();
        for (spec, route) in template.routes() {
            let Some(function) = functions.get(&spec.logical_id) else {
                bail!(
                    "{} serves {} but no local handler is registered for it",
                    spec.logical_id,
                    route.key()
                );
            };
            routes.push((route.clone(), function.clone()));
        }
        routes.sort_by_key(|(r, _)| std::cmp::Reverse(r.specificity()));
        Ok(Self {
            routes,
            docs: crate::docs::ApiDocs::project()?,
            open: std::sync::atomic::AtomicBool::new(true),
            public_media: None,
            console: None,
            staff_sessions: None,
        })
    }

    /// Serves the console built in `dist` at `/console/`, telling it the admin API is `api_url`.
    pub fn serving_console(mut self, dist: std::path::PathBuf, api_url: &str) -> Self {
        self.console = Some(Console {
            dist,
            config: serde_json::json!({ "apiUrl": api_url, "shopApiUrl": api_url }).to_string(),
        });
        self
    }

    /// A file of the console's bundle, as ShopCdn answers it (`/console/` is its index.html).
    fn console_file(console: &Console, path: &str) -> Outgoing {
        let headers = |content_type: &str, cache: &str| {
            vec![
                ("content-type".to_string(), content_type.to_string()),
                ("cache-control".to_string(), cache.to_string()),
                (
                    "content-security-policy".to_string(),
                    CONSOLE_CSP.to_string(),
                ),
                ("x-frame-options".to_string(), "DENY".to_string()),
                ("x-content-type-options".to_string(), "nosniff".to_string()),
                ("referrer-policy".to_string(), "same-origin".to_string()),
            ]
        };
        if path == "/console" {
            return Outgoing {
                status: 302,
                headers: vec![("location".into(), "/console/".into())],
                body: Vec::new(),
            };
        }
        if path == "/console/config.json" {
            return Outgoing {
                status: 200,
                headers: headers("application/json", "no-store"),
                body: console.config.as_bytes().to_vec(),
            };
        }
        let relative = match path.trim_start_matches("/console/") {
            "" => "index.html",
            other => other,
        };
        let safe = relative
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
        let file = console.dist.join(relative);
        match std::fs::read(&file) {
            Ok(body) if safe => {
                // Hashed asset names never change content; index.html must be read fresh.
                let cache = if relative.starts_with("assets/") {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-cache"
                };
                Outgoing {
                    status: 200,
                    headers: headers(content_type_of(&file), cache),
                    body,
                }
            }
            _ if relative == "index.html" => Outgoing {
                status: 503,
                headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
                body: "the console is not built: make dev builds it (npm ci, npm run build in functions/admin/console)\n"
                    .as_bytes()
                    .to_vec(),
            },
            _ => outgoing(
                edge::api::ApiError::new(404, "not_found", "no such file in the console").into_response(),
            ),
        }
    }

    /// Lets a local client age a staff session as time would: `POST /__local/staff-session
    /// {token, steppedUpAgo?: seconds, lapse?: true}` moves its last step-up that far back, or
    /// ends it as if its hours had run out. The console's browser tests prove the step-up
    /// dialog and the way back to sign-in with it, without waiting five minutes or eight hours.
    pub fn serving_session_controls(mut self, staff: store::staff::StaffStore) -> Self {
        self.staff_sessions = Some(staff);
        self
    }

    async fn age_staff_session(staff: &store::staff::StaffStore, req: &Incoming) -> Outgoing {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Age {
            token: String,
            stepped_up_ago: Option<i64>,
            #[serde(default)]
            lapse: bool,
        }
        let refuse = |field: &str, problem: &str| {
            outgoing(edge::api::ApiError::invalid_field(field, problem).into_response())
        };
        let Ok(age) = serde_json::from_slice::<Age>(&req.body) else {
            return refuse(
                "token",
                "send {token, steppedUpAgo?: seconds, lapse?: true}",
            );
        };
        // Local only: the token's claims are read, not checked; the session must still exist.
        let claims: Option<Value> = age
            .token
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|json| serde_json::from_slice(&json).ok());
        let (Some(staff_id), Some(sid)) = (
            claims.as_ref().and_then(|c| c["sub"].as_str()),
            claims.as_ref().and_then(|c| c["sid"].as_str()),
        ) else {
            return refuse("token", "is not a staff token");
        };
        let now = domain::clock::now_epoch_seconds();
        let lapse_at = age.lapse.then_some(now);
        let stepped_up_at = age.stepped_up_ago.map(|ago| now - ago.max(0));
        match staff
            .touch_session(staff_id, sid, lapse_at, stepped_up_at, now)
            .await
        {
            Ok(true) => Outgoing {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: json!({"steppedUpAt": stepped_up_at, "lapsed": age.lapse})
                    .to_string()
                    .into_bytes(),
            },
            Ok(false) => outgoing(
                edge::api::ApiError::new(404, "session_not_found", "no such live session")
                    .into_response(),
            ),
            Err(e) => outgoing(edge::api::ApiError::unexpected(&e).into_response()),
        }
    }

    /// Serves product images from `bucket` at `/uploads/catalog/...`, as ShopCdn does.
    pub fn serving_product_images(mut self, bucket: store::media::MediaBucket) -> Self {
        self.public_media = Some(PublicMedia {
            bucket,
            http: reqwest::Client::new(),
        });
        self
    }

    /// A product image as ShopCdn answers it: the object, or 404 for anything but a catalog
    /// image's key (shoppers' photos stay private).
    async fn product_image(&self, media: &PublicMedia, path: &str) -> Outgoing {
        let not_found = || {
            outgoing(edge::api::ApiError::new(404, "not_found", "no such image").into_response())
        };
        let Some(key) = domain::media::MediaKey::parse(path.trim_start_matches('/'))
            .ok()
            .filter(domain::media::MediaKey::is_catalog_image)
        else {
            return not_found();
        };
        let now = domain::clock::now_epoch_seconds();
        let Ok(link) = media.bucket.presigned_get(&key, now, 60).await else {
            return not_found();
        };
        let Ok(answer) = media.http.get(link).send().await else {
            return not_found();
        };
        if !answer.status().is_success() {
            return not_found();
        }
        let content_type = answer
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        match answer.bytes().await {
            Ok(body) => Outgoing {
                status: 200,
                headers: vec![
                    ("content-type".into(), content_type),
                    (
                        "cache-control".into(),
                        "public, max-age=31536000, immutable".into(),
                    ),
                ],
                body: body.to_vec(),
            },
            Err(_) => not_found(),
        }
    }

    /// Answers 503 `starting` to everything until [`Gateway::open`].
    pub fn hold(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// The shop is ready: requests reach their functions.
    pub fn open(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn route_keys(&self) -> Vec<String> {
        self.routes.iter().map(|(r, _)| r.key()).collect()
    }

    /// The event API Gateway would send for this request, and the function it goes to.
    pub fn event_for(&self, req: &Incoming) -> Option<(ApiRequest, Arc<dyn HttpFunction>)> {
        let (route, params, function) = self.routes.iter().find_map(|(route, f)| {
            route
                .matches(req.method.as_str(), &req.path)
                .map(|p| (route, p, f.clone()))
        })?;
        let event = build_event(req, &route.key(), &params);
        // lambda_http's own parsing, as on Lambda: a difference between the two cannot hide.
        let event = edge::api::request_from_event(&event).ok()?;
        Some((event, function))
    }
}

fn build_event(req: &Incoming, route_key: &str, params: &BTreeMap<String, String>) -> Value {
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &req.headers {
        let Ok(value) = value.to_str() else { continue };
        if name.as_str() == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_string())
            .or_default()
            .push(value.to_string());
    }
    // HTTP API joins repeated headers and query parameters with commas.
    let headers: Map<String, Value> = headers
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect();
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in form_pairs(&req.query) {
        query.entry(k).or_default().push(v);
    }
    let query: Map<String, Value> = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect();
    let content_type = req
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (body, base64) = if req.body.is_empty() {
        (Value::Null, false)
    } else if is_text(content_type) && std::str::from_utf8(&req.body).is_ok() {
        (
            Value::String(String::from_utf8_lossy(&req.body).into_owned()),
            false,
        )
    } else {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(&req.body)),
            true,
        )
    };
    let now = time::OffsetDateTime::now_utc();
    let request_id = format!("local-{}", domain::ids::random_token(16));
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": req.path,
        "rawQueryString": req.query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": req.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": req.method.as_str(),
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": req.peer.ip().to_string(),
                "userAgent": req.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "isBase64Encoded": base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = json!(params);
    }
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

/// What API Gateway sends back to the client for a function's answer.
fn outgoing(response: ApiResponse) -> Outgoing {
    let (parts, body) = response.into_parts();
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let body = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Outgoing {
        status: parts.status.as_u16(),
        headers,
        body,
    }
}

#[async_trait::async_trait]
impl Serve for Gateway {
    async fn serve(&self, req: Incoming) -> Outgoing {
        if !self.open.load(std::sync::atomic::Ordering::SeqCst) {
            let mut starting = edge::api::ApiError::new(
                503,
                "starting",
                "the shop is starting (seeding the demo shop); retry in a moment",
            )
            .into_response();
            starting
                .headers_mut()
                .insert("retry-after", http::HeaderValue::from_static("1"));
            return outgoing(starting);
        }
        if req.method == http::Method::GET {
            let document = |content_type: &str, body: &str| Outgoing {
                status: 200,
                headers: vec![("content-type".into(), content_type.into())],
                body: body.as_bytes().to_vec(),
            };
            match req.path.as_str() {
                "/docs" | "/docs/" => return document("text/html; charset=utf-8", &self.docs.html),
                "/openapi.yaml" => return document("application/yaml", &self.docs.yaml),
                "/openapi.json" => return document("application/json", &self.docs.json),
                path if path == "/console" || path.starts_with("/console/") => {
                    if let Some(console) = &self.console {
                        return Self::console_file(console, path);
                    }
                }
                path if path.starts_with("/uploads/") => {
                    if let Some(media) = &self.public_media {
                        return self.product_image(media, path).await;
                    }
                }
                _ => {}
            }
        }
        if req.method == http::Method::POST
            && req.path == "/__local/staff-session"
            && let Some(staff) = &self.staff_sessions
        {
            return Self::age_staff_session(staff, &req).await;
        }
        let response = match self.event_for(&req) {
            Some((event, function)) => function.handle(event).await,
            None => edge::api::ApiError::route_not_found(&format!("{} {}", req.method, req.path))
                .into_response(),
        };
        outgoing(response)
    }
}

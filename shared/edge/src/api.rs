//! The HTTP edge: how requests are read and how every answer, good or bad, is written.
//!
//! Use cases return their own error enums; each converts into [`ApiError`], and
//! [`ApiError::into_response`] is the single place an error becomes a status and a JSON body.

use http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::RequestExt as _;
use lambda_http::request::RequestContext;

/// A request's or an answer's body: empty, text, or bytes (a base64 event body, decoded).
pub use lambda_http::Body;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// A request as lambda_http turns API Gateway's HTTP API (payload 2.0) event into one: on
/// Lambda, and in the local gateway, which builds the same event and parses it the same way.
/// Path parameters, the query and the request context ride in its extensions.
pub type ApiRequest = lambda_http::Request;
/// An answer; lambda_http writes it back as the payload 2.0 response API Gateway expects.
pub type ApiResponse = http::Response<Body>;

/// Largest JSON body any route accepts; API Gateway allows more, the shop never needs it.
/// Shoppers send a few KiB; a courier push with a long Chinese history, percent-encoded, far more.
const MAX_BODY_BYTES: usize = 256 * 1024;

/// An answer that is not a success, as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// What went wrong inside, for the log only; never written to the client.
    pub cause: Option<String>,
    /// More for the client to act on (the order id of a failed prepay, the SKUs out of stock).
    pub details: Vec<(&'static str, serde_json::Value)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            cause: None,
            details: Vec::new(),
        }
    }

    /// 400 for one bad field of the request, named so a developer can fix the call.
    pub fn invalid_field(field: impl Into<String>, problem: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self {
            status: 400,
            code: "invalid_request",
            message: format!("{field}: {problem}"),
            field: Some(field),
            cause: None,
            details: Vec::new(),
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} not found"))
    }

    /// The function was handed a route it does not serve: a wiring mistake, answered like API Gateway's 404.
    pub fn route_not_found(route: &str) -> Self {
        Self::new(404, "route_not_found", format!("no route {route}"))
    }

    /// 500 with a fixed message: the cause goes to the log, never to the client.
    pub fn internal() -> Self {
        Self::new(
            500,
            "internal_error",
            "something went wrong on our side; please retry",
        )
    }

    /// 500 for a failure of ours (storage, a bug); the cause chain is kept for the log.
    pub fn unexpected(err: &(dyn std::error::Error + 'static)) -> Self {
        Self::internal().with_cause(err)
    }

    /// Names the request field a refusal is about (an error with its own code, not a 400).
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_detail(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.details.push((key, value));
        self
    }

    /// Keeps the full cause chain of `err` for the log line of this request.
    pub fn with_cause(mut self, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        self.cause = Some(chain);
        self
    }

    pub fn into_response(self) -> ApiResponse {
        #[derive(Serialize)]
        struct Envelope<'a> {
            error: Detail<'a>,
        }
        #[derive(Serialize)]
        struct Detail<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
            #[serde(flatten)]
            details: serde_json::Map<String, serde_json::Value>,
        }
        json(
            self.status,
            &Envelope {
                error: Detail {
                    code: self.code,
                    message: &self.message,
                    field: self.field.as_deref(),
                    details: self
                        .details
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                },
            },
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// A domain rule refusing one field of the request: 400 naming it.
impl From<domain::field::FieldError> for ApiError {
    fn from(err: domain::field::FieldError) -> Self {
        Self::invalid_field(err.field, err.problem)
    }
}

/// A payload 2.0 event turned into a request by lambda_http's own parsing, exactly as on
/// Lambda: for the local gateway, the bench and tests, which build or read such events.
pub fn request_from_event(event: &serde_json::Value) -> Result<ApiRequest, serde_json::Error> {
    lambda_http::request::from_str(&event.to_string())
}

/// An answer with the given status, content type and text body.
pub fn text(status: u16, content_type: &'static str, body: impl Into<String>) -> ApiResponse {
    let mut response = http::Response::new(Body::Text(body.into()));
    *response.status_mut() = status_of(status);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// An answer with no body (204, 304).
pub fn empty(status: u16) -> ApiResponse {
    let mut response = http::Response::new(Body::Empty);
    *response.status_mut() = status_of(status);
    response
}

/// Our statuses are all valid; one that is not is a bug answered as a 500, never a panic.
fn status_of(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON answer with the given status.
pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> ApiResponse {
    // Serializing our own response types cannot fail (no maps with non-string keys).
    let body = serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"));
    text(status, "application/json; charset=utf-8", body)
}

/// How long clients and CDNs may keep a public catalog answer.
#[derive(Debug, Clone, Copy)]
pub enum Caching {
    /// Same for everyone: shared caches may keep it for this many seconds.
    Public { max_age: u32 },
    /// Depends on who asks: never stored by shared caches.
    Private,
}

/// A JSON answer with an ETag and Cache-Control; a matching `If-None-Match` gets 304 and no body.
pub fn cached_json<T: Serialize + ?Sized>(
    req: &ApiRequest,
    caching: Caching,
    value: &T,
) -> ApiResponse {
    let mut response = json(200, value);
    let cache_control = match caching {
        Caching::Public { max_age } => format!("public, max-age={max_age}"),
        Caching::Private => String::from("private, no-store"),
    };
    if let Ok(v) = HeaderValue::from_str(&cache_control) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    if let Caching::Private = caching {
        return response;
    }
    let digest = Sha256::digest(response.body().as_ref());
    let etag = format!("\"{}\"", hex::encode(&digest[..12]));
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
        });
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    if matches {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        *response.body_mut() = Body::Empty;
        response.headers_mut().remove(header::CONTENT_TYPE);
    }
    response
}

/// The fields of an `application/x-www-form-urlencoded` body, in order; `None` when a field is
/// not valid percent-encoded UTF-8.
pub fn form_fields(body: &[u8]) -> Option<Vec<(String, String)>> {
    fn decode(part: &[u8]) -> Option<String> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part.get(i + 1..i + 3)?;
                    out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |b| *b == b'=');
            let name = decode(halves.next().unwrap_or_default())?;
            let value = decode(halves.next().unwrap_or_default())?;
            Some((name, value))
        })
        .collect()
}

/// Reading the parts of a request the way every handler does, errors as the 4xx they are.
pub trait RequestExt {
    fn request_id(&self) -> &str;
    fn route(&self) -> &str;
    fn header_str(&self, name: &str) -> Option<&str>;
    fn path_param(&self, name: &str) -> Result<&str, ApiError>;
    fn query_param(&self, name: &str) -> Option<&str>;
    /// The caller's address as API Gateway saw it.
    fn source_ip(&self) -> Option<&str>;
    /// The body's exact bytes (lambda_http has already undone API Gateway's base64), so a
    /// webhook's signature is checked over what was sent.
    fn body_bytes(&self) -> Result<&[u8], ApiError>;
    /// The JSON body as `T`; a missing, mistyped or malformed field is a 400 naming it.
    fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError>;
    /// The same for a body that may be left out: none (or only whitespace) is `T::default()`.
    fn json_body_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError>;
}

fn http_context(
    req: &ApiRequest,
) -> Option<&aws_lambda_events::apigw::ApiGatewayV2httpRequestContext> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => Some(context),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

impl RequestExt for ApiRequest {
    fn request_id(&self) -> &str {
        http_context(self)
            .and_then(|c| c.request_id.as_deref())
            .unwrap_or("-")
    }

    fn route(&self) -> &str {
        http_context(self)
            .and_then(|c| c.route_key.as_deref())
            .unwrap_or("")
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }

    fn path_param(&self, name: &str) -> Result<&str, ApiError> {
        self.path_parameters_ref()
            .and_then(|p| p.first(name))
            .ok_or_else(|| ApiError::invalid_field(name, "is required in the path"))
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.query_string_parameters_ref()?.first(name)
    }

    fn source_ip(&self) -> Option<&str> {
        http_context(self)?.http.source_ip.as_deref()
    }

    fn body_bytes(&self) -> Result<&[u8], ApiError> {
        let bytes = self.body().as_ref();
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                413,
                "body_too_large",
                "request body is larger than 256 KiB",
            ));
        }
        Ok(bytes)
    }

    fn json_body_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.body_bytes()?.iter().all(u8::is_ascii_whitespace) {
            Ok(T::default())
        } else {
            self.json_body()
        }
    }

    fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let bytes = self.body_bytes()?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid_field("body", "a JSON object is required"));
        }
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            field_error(&path, &inner)
        })
    }
}

fn field_error(path: &str, err: &serde_json::Error) -> ApiError {
    let text = err.to_string();
    // serde reports a missing field at its parent's path, naming the field in backticks.
    if let Some(name) = text
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        let field = if path == "." || path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        return ApiError::invalid_field(field, "is required");
    }
    if err.is_syntax() || err.is_eof() {
        return ApiError::invalid_field("body", "is not valid JSON");
    }
    let problem = text
        .split(" at line ")
        .next()
        .unwrap_or("is invalid")
        .to_string();
    let field = if path == "." || path.is_empty() {
        "body".to_string()
    } else {
        path.to_string()
    };
    ApiError::invalid_field(field, problem)
}

/// Headers of an answer, for tests and the local gateway.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A page holds 20 items unless the request's `limit` asks for 1 to 50.
pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 50;

/// A listing's `limit`: 1 to 50, 20 when absent.
/// The `q` a listing is searched with: trimmed, `None` when empty, at most
/// [`domain::search::MAX_QUERY_CHARS`].
pub fn search_keywords(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    use domain::search::MAX_QUERY_CHARS;
    let keywords = req
        .query_param("q")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_string);
    if keywords
        .as_ref()
        .is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS)
    {
        return Err(ApiError::invalid_field(
            "q",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    Ok(keywords)
}

pub fn page_limit(req: &ApiRequest) -> Result<usize, ApiError> {
    match req.query_param("limit").filter(|l| !l.is_empty()) {
        None => Ok(DEFAULT_PAGE),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| {
                ApiError::invalid_field(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_bodies_are_percent_decoded_field_by_field() {
        let fields =
            super::form_fields(b"param=%7B%22a%22%3A%22%E5%B7%B2+%E7%AD%BE%22%7D&sign=AB12")
                .unwrap();
        assert_eq!(
            fields,
            vec![
                ("param".to_string(), "{\"a\":\"已 签\"}".to_string()),
                ("sign".to_string(), "AB12".to_string())
            ]
        );
        assert!(super::form_fields(b"a=%E5%B7").is_none());
        assert!(super::form_fields(b"a=%zz").is_none());
    }

    use super::*;
    use serde::Deserialize;

    fn request_with_body(body: &str) -> ApiRequest {
        ApiRequest::new(Body::Text(body.to_string()))
    }

    /// A POST as API Gateway sends one with a base64 body, through lambda_http's own parsing.
    fn base64_post(path: &str, content_type: &str, body: &[u8]) -> ApiRequest {
        let event = serde_json::json!({
            "version": "2.0",
            "routeKey": format!("POST {path}"),
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"content-type": content_type},
            "requestContext": {"http": {"method": "POST", "path": path}},
            "body": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body),
            "isBase64Encoded": true,
        });
        request_from_event(&event).expect("a payload 2.0 event")
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Login {
        code: String,
        nested: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        level: u8,
    }

    #[test]
    fn missing_field_is_named() {
        let err = request_with_body("{}").json_body::<Login>().unwrap_err();
        assert_eq!(err.status, 400);
        assert_eq!(err.field.as_deref(), Some("code"));
    }

    #[test]
    fn mistyped_nested_field_is_named_by_path() {
        let err = request_with_body(r#"{"code":"x","nested":{"level":"high"}}"#)
            .json_body::<Login>()
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("nested.level"));
    }

    #[test]
    fn malformed_json_and_empty_body_blame_the_body() {
        for body in ["{\"code\":", "", "   "] {
            let err = request_with_body(body).json_body::<Login>().unwrap_err();
            assert_eq!(err.field.as_deref(), Some("body"), "{body:?}");
        }
    }

    #[test]
    fn base64_body_is_decoded_before_parsing() {
        let req = base64_post(
            "/v1/auth/login",
            "application/octet-stream",
            br#"{"code":"abc"}"#,
        );
        let login: Login = req.json_body().unwrap();
        assert_eq!(login.code, "abc");
    }

    #[test]
    fn a_base64_body_reaches_the_handler_byte_for_byte() {
        // A webhook's signature covers the exact bytes, including ones that are not UTF-8.
        let sent: Vec<u8> = vec![b'a', b'=', 0xe5, 0xb7, 0xff, 0x00, b'&'];
        let req = base64_post(
            "/v1/logistics/kuaidi100/notify",
            "application/x-www-form-urlencoded",
            &sent,
        );
        assert_eq!(req.body_bytes().unwrap(), sent.as_slice());
    }

    #[test]
    fn the_request_context_path_and_query_come_from_the_event() {
        let req = request_from_event(&serde_json::json!({
            "version": "2.0",
            "routeKey": "GET /v1/products/{id}",
            "rawPath": "/v1/products/longjing",
            "rawQueryString": "fields=a%2Cb&page=2",
            "headers": {"x-wx-scene": "1011"},
            "pathParameters": {"id": "longjing"},
            "requestContext": {
                "requestId": "req-1",
                "routeKey": "GET /v1/products/{id}",
                "http": {"method": "GET", "path": "/v1/products/longjing", "sourceIp": "203.0.113.9"}
            },
            "isBase64Encoded": false,
        }))
        .unwrap();
        assert_eq!(req.request_id(), "req-1");
        assert_eq!(req.route(), "GET /v1/products/{id}");
        assert_eq!(req.path_param("id").unwrap(), "longjing");
        assert_eq!(req.query_param("fields"), Some("a,b"));
        assert_eq!(req.query_param("page"), Some("2"));
        assert_eq!(req.source_ip(), Some("203.0.113.9"));
        assert_eq!(req.header_str("x-wx-scene"), Some("1011"));
        assert_eq!(
            req.path_param("sku").unwrap_err().field.as_deref(),
            Some("sku")
        );
    }

    #[test]
    fn error_body_has_code_message_and_field() {
        let resp = ApiError::invalid_field("code", "is required").into_response();
        assert_eq!(resp.status(), 400);
        let Body::Text(body) = resp.into_body() else {
            panic!("text body expected")
        };
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "invalid_request");
        assert_eq!(v["error"]["field"], "code");
    }

    #[test]
    fn matching_etag_gives_304_without_body() {
        let first = cached_json(
            &ApiRequest::default(),
            Caching::Public { max_age: 60 },
            &[1, 2, 3],
        );
        let etag = first.headers().get(header::ETAG).unwrap().clone();
        let mut again = ApiRequest::default();
        again.headers_mut().insert(header::IF_NONE_MATCH, etag);
        let second = cached_json(&again, Caching::Public { max_age: 60 }, &[1, 2, 3]);
        assert_eq!(second.status(), 304);
        assert!(matches!(second.body(), Body::Empty));
        let changed = cached_json(&again, Caching::Public { max_age: 60 }, &[1, 2, 4]);
        assert_eq!(changed.status(), 200);
    }
}

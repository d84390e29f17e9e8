//! The HTTP edge: how requests are read and how every answer, good or bad, is written.
//!
//! Use cases return their own error enums; each converts into [`ApiError`], and
//! [`ApiError::into_response`] is the single place an error becomes a status and a JSON body.

use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub type ApiRequest = ApiGatewayV2httpRequest;
pub type ApiResponse = ApiGatewayV2httpResponse;

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

/// A JSON answer with the given status.
pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> ApiResponse {
    // Serializing our own response types cannot fail (no maps with non-string keys).
    let body = serde_json::to_string(value).unwrap_or_else(|_| String::from("{}"));
    let mut response = ApiResponse::default();
    response.status_code = i64::from(status);
    response.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response.body = Some(Body::Text(body));
    response
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
        response.headers.insert(header::CACHE_CONTROL, v);
    }
    if let Caching::Private = caching {
        return response;
    }
    let Some(Body::Text(body)) = &response.body else {
        return response;
    };
    let digest = Sha256::digest(body.as_bytes());
    let etag = format!("\"{}\"", hex::encode(&digest[..12]));
    let matches = req
        .headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
        });
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers.insert(header::ETAG, v);
    }
    if matches {
        response.status_code = 304;
        response.body = None;
        response.headers.remove(header::CONTENT_TYPE);
    }
    response
}

/// Reading the parts of an API Gateway HTTP API (payload 2.0) event.
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

pub trait RequestExt {
    fn request_id(&self) -> &str;
    fn route(&self) -> &str;
    fn header_str(&self, name: &str) -> Option<&str>;
    fn path_param(&self, name: &str) -> Result<&str, ApiError>;
    fn query_param(&self, name: &str) -> Option<&str>;
    fn body_bytes(&self) -> Result<Vec<u8>, ApiError>;
    /// The JSON body as `T`; a missing, mistyped or malformed field is a 400 naming it.
    fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError>;
}

impl RequestExt for ApiRequest {
    fn request_id(&self) -> &str {
        self.request_context.request_id.as_deref().unwrap_or("-")
    }

    fn route(&self) -> &str {
        self.route_key
            .as_deref()
            .or(self.request_context.route_key.as_deref())
            .unwrap_or("")
    }

    fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn path_param(&self, name: &str) -> Result<&str, ApiError> {
        self.path_parameters
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::invalid_field(name, "is required in the path"))
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.query_string_parameters.first(name)
    }

    fn body_bytes(&self) -> Result<Vec<u8>, ApiError> {
        let raw = self.body.as_deref().unwrap_or("");
        let bytes = if self.is_base64_encoded {
            base64::engine::general_purpose::STANDARD
                .decode(raw)
                .map_err(|_| ApiError::invalid_field("body", "is not valid base64"))?
        } else {
            raw.as_bytes().to_vec()
        };
        if bytes.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                413,
                "body_too_large",
                "request body is larger than 256 KiB",
            ));
        }
        Ok(bytes)
    }

    fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let bytes = self.body_bytes()?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::invalid_field("body", "a JSON object is required"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
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
        let mut req = ApiRequest::default();
        req.body = Some(body.to_string());
        req
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
        let mut req = request_with_body("eyJjb2RlIjoiYWJjIn0=");
        req.is_base64_encoded = true;
        let login: Login = req.json_body().unwrap();
        assert_eq!(login.code, "abc");
    }

    #[test]
    fn error_body_has_code_message_and_field() {
        let resp = ApiError::invalid_field("code", "is required").into_response();
        assert_eq!(resp.status_code, 400);
        let Some(Body::Text(body)) = resp.body else {
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
        let etag = first.headers.get(header::ETAG).unwrap().clone();
        let mut again = ApiRequest::default();
        again.headers.insert(header::IF_NONE_MATCH, etag);
        let second = cached_json(&again, Caching::Public { max_age: 60 }, &[1, 2, 3]);
        assert_eq!(second.status_code, 304);
        assert!(second.body.is_none());
        let changed = cached_json(&again, Caching::Public { max_age: 60 }, &[1, 2, 4]);
        assert_eq!(changed.status_code, 200);
    }
}

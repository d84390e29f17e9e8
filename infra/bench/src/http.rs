//! The bench's HTTP client: shared's reqwest client behind a boxed function. The bench does not
//! depend on reqwest itself, since that would change Cargo.lock for a client the workspace
//! already builds; a closure lets it use the client without naming its type.

use hyper::body::Bytes;
use hyper::{HeaderMap, Method};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

type Pending = Pin<Box<dyn Future<Output = anyhow::Result<Response>> + Send>>;

#[derive(Clone)]
pub struct Http(Arc<dyn Fn(Request) -> Pending + Send + Sync>);

impl Http {
    pub fn new() -> Self {
        // Not the providers' 5 s: moto answers one request at a time, and a harness that gives
        // up on a slow emulator measures nothing.
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .unwrap_or_default();
        Self(Arc::new(move |request: Request| {
            let sent = client
                .request(request.method, request.url)
                .headers(request.headers)
                .body(request.body)
                .send();
            Box::pin(async move {
                let response = sent.await?;
                Ok(Response {
                    status: response.status().as_u16(),
                    headers: response.headers().clone(),
                    body: response.bytes().await?,
                })
            })
        }))
    }

    pub async fn send(&self, request: Request) -> anyhow::Result<Response> {
        (self.0)(request).await
    }

    /// POSTs `body` as JSON with `headers`; returns the status and the JSON answer (`null` if none).
    pub async fn post_json(
        &self,
        url: String,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut map = HeaderMap::new();
        map.insert("content-type", "application/json".parse()?);
        for (name, value) in headers {
            map.insert(hyper::header::HeaderName::try_from(*name)?, value.parse()?);
        }
        let response = self
            .send(Request {
                method: Method::POST,
                url,
                headers: map,
                body: Bytes::from(body.to_string()),
            })
            .await?;
        let answer = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Ok((response.status, answer))
    }
}

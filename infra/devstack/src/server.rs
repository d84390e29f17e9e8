//! The small HTTP server under the local gateway and the provider sandboxes.

use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Lambda's synchronous payload limit; API Gateway refuses larger bodies too.
const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub peer: SocketAddr,
}

pub struct Outgoing {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Outgoing {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: value.to_string().into_bytes(),
        }
    }
}

#[async_trait::async_trait]
pub trait Serve: Send + Sync + 'static {
    async fn serve(&self, request: Incoming) -> Outgoing;
}

/// Serves `app` on `listener` until the returned task is aborted.
pub fn spawn(listener: TcpListener, app: Arc<dyn Serve>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let app = app.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let app = app.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
                            Ok(collected) => {
                                let incoming = Incoming {
                                    method: parts.method,
                                    path: parts.uri.path().to_string(),
                                    query: parts.uri.query().unwrap_or("").to_string(),
                                    headers: parts.headers,
                                    body: collected.to_bytes(),
                                    peer,
                                };
                                app.serve(incoming).await
                            }
                            Err(_) => Outgoing::json(
                                413,
                                &serde_json::json!({"error": {"code": "body_too_large", "message": "request body is larger than 6 MB"}}),
                            ),
                        };
                        let mut builder = hyper::Response::builder().status(
                            StatusCode::from_u16(response.status)
                                .unwrap_or(StatusCode::BAD_GATEWAY),
                        );
                        for (name, value) in &response.headers {
                            builder = builder.header(name, value);
                        }
                        let reply = builder
                            .body(Full::new(Bytes::from(response.body)))
                            .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())));
                        Ok::<_, Infallible>(reply)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Decoded `k=v&k2=v2` pairs (form bodies and query strings).
pub fn form_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Form-encodes `text` (everything but unreserved characters as %XX, UTF-8).
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decoding; in query strings and form bodies (`plus_as_space`) '+' is a space too.
pub fn percent_decode(raw: &str, plus_as_space: bool) -> String {
    let bytes = raw.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_as_space => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_pairs_decode_plus_and_percent() {
        let pairs = form_pairs("q=%E6%99%AE%E6%B4%B1+%E8%8C%B6&limit=5&flag&bad=%zz");
        assert_eq!(pairs[0], ("q".to_string(), "普洱 茶".to_string()));
        assert_eq!(pairs[1], ("limit".to_string(), "5".to_string()));
        assert_eq!(pairs[2], ("flag".to_string(), String::new()));
        assert_eq!(pairs[3], ("bad".to_string(), "%zz".to_string()));
    }
}

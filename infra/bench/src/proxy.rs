//! A counting proxy in front of moto. Function processes get its address as their
//! `AWS_ENDPOINT_URL`; it forwards every request as it came and tallies the AWS calls by service
//! and action, so the report shows the calls a route really makes, retries included.
//!
//! It can also let one DynamoDB write at a time through. moto 5 is not safe under concurrent
//! writes: TransactWriteItems deep-copies the tables it touches, and another thread writing
//! meanwhile makes it fail with a 500 ("dictionary changed size during iteration").

use crate::http::{Http, Request};
use devstack::server::{Incoming, Outgoing, Serve};
use hyper::HeaderMap;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Calls by (service, action), e.g. `("DynamoDB", "GetItem")`.
pub type Tally = BTreeMap<(String, String), u64>;

/// Headers that describe one connection or its framing, not the request: the forwarding
/// client and the proxy's own server set them anew.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
];

const DYNAMODB_WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
];

struct Forward {
    upstream: String,
    http: Http,
    tally: Arc<Mutex<Tally>>,
    /// When set, DynamoDB writes take it alone and reads share it.
    dynamodb_turns: Option<tokio::sync::RwLock<()>>,
}

pub struct CountingProxy {
    url: String,
    tally: Arc<Mutex<Tally>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl CountingProxy {
    /// A proxy to `upstream`; with `one_write_at_a_time`, DynamoDB writes wait for each other
    /// and for reads in progress.
    pub async fn start(upstream: &str, one_write_at_a_time: bool) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let tally = Arc::new(Mutex::default());
        let forward = Forward {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: Http::new(),
            tally: tally.clone(),
            dynamodb_turns: one_write_at_a_time.then(tokio::sync::RwLock::default),
        };
        let server = devstack::server::spawn(listener, Arc::new(forward));
        Ok(Self { url, tally, server })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The calls counted since the last take.
    pub fn take(&self) -> Tally {
        std::mem::take(&mut self.tally.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn without_hop_by_hop(mut headers: HeaderMap) -> HeaderMap {
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    headers
}

/// The service and action of an AWS request. JSON-protocol calls name both in `X-Amz-Target`
/// (`DynamoDB_20120810.GetItem`, `AmazonSQS.SendMessage`); query-protocol calls carry the action
/// in the form body and the service only in the signature's credential scope.
pub fn classify(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some((prefix, action)) = header("x-amz-target").and_then(|t| t.split_once('.')) {
        return (service_name(prefix), action.to_string());
    }
    let action = devstack::server::form_pairs(&String::from_utf8_lossy(body))
        .into_iter()
        .find_map(|(k, v)| (k == "Action").then_some(v));
    // Credential=<key>/<date>/<region>/<service>/aws4_request
    let service = header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3));
    (
        service_name(service.unwrap_or("unknown")),
        action.unwrap_or_else(|| "unknown".into()),
    )
}

fn service_name(raw: &str) -> String {
    if raw.starts_with("DynamoDB") || raw == "dynamodb" {
        "DynamoDB".into()
    } else if raw == "AmazonSQS" || raw == "sqs" {
        "SQS".into()
    } else if raw == "TrentService" || raw == "kms" {
        "KMS".into()
    } else {
        raw.to_string()
    }
}

#[async_trait::async_trait]
impl Serve for Forward {
    async fn serve(&self, request: Incoming) -> Outgoing {
        let call = classify(&request.headers, &request.body);
        // Held until moto has answered.
        let (_shared, _alone);
        if let Some(turns) = self
            .dynamodb_turns
            .as_ref()
            .filter(|_| call.0 == "DynamoDB")
        {
            if DYNAMODB_WRITES.contains(&call.1.as_str()) {
                _alone = turns.write().await;
            } else {
                _shared = turns.read().await;
            }
        }
        *self
            .tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(call)
            .or_default() += 1;
        let query = if request.query.is_empty() {
            String::new()
        } else {
            format!("?{}", request.query)
        };
        let forwarded = self
            .http
            .send(Request {
                method: request.method,
                url: format!("{}{}{query}", self.upstream, request.path),
                headers: without_hop_by_hop(request.headers),
                body: request.body,
            })
            .await;
        match forwarded {
            Ok(answer) => Outgoing {
                status: answer.status,
                headers: without_hop_by_hop(answer.headers)
                    .iter()
                    .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                    .collect(),
                body: answer.body.to_vec(),
            },
            // 502 is what a proxy answers; the SDK reports it as the function's error, failing the event.
            Err(err) => Outgoing::json(
                502,
                &serde_json::json!({"message": format!("bench proxy: moto unreachable: {err:#}")}),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    hyper::header::HeaderName::from_static(k),
                    v.parse().unwrap(),
                )
            })
            .collect()
    }

    fn call(service: &str, action: &str) -> (String, String) {
        (service.to_string(), action.to_string())
    }

    #[test]
    fn json_protocol_calls_are_named_by_their_target() {
        let dynamodb = headers(&[("x-amz-target", "DynamoDB_20120810.TransactWriteItems")]);
        let sqs = headers(&[("x-amz-target", "AmazonSQS.SendMessage")]);
        assert_eq!(
            classify(&dynamodb, b"{}"),
            call("DynamoDB", "TransactWriteItems")
        );
        assert_eq!(classify(&sqs, b"{}"), call("SQS", "SendMessage"));
        let kms = headers(&[("x-amz-target", "TrentService.GenerateDataKey")]);
        assert_eq!(classify(&kms, b"{}"), call("KMS", "GenerateDataKey"));
    }

    #[test]
    fn query_protocol_calls_are_named_by_form_and_credential_scope() {
        let signed = headers(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=bench/20261124/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
        )]);
        assert_eq!(
            classify(&signed, b"Action=SendMessage&QueueUrl=http%3A%2F%2Fq"),
            call("SQS", "SendMessage")
        );
        assert_eq!(classify(&HeaderMap::new(), b""), call("unknown", "unknown"));
    }
}

//! A local stand-in for the Lambda Runtime API: just enough for `lambda_runtime` to poll for
//! events, answer them and report errors, with a clock on the two moments the bench needs: the
//! process's first poll (its cold start is over) and each event's hand-out and answer.
//!
//! One instance serves one function process. Dropping it closes the event queue, which also
//! ends a poll left hanging by a process that was killed mid-wait.

use anyhow::{Context, anyhow, bail};
use devstack::server::{Incoming, Outgoing, Serve};
use hyper::Method;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

const PREFIX: &str = "/2018-06-01/runtime";
/// Long enough for any local invocation; a function that takes longer is broken, not slow.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The deadline handed to the function, as API Gateway would give it.
const DEADLINE: Duration = Duration::from_secs(30);

type Answer = Result<(Duration, Vec<u8>), String>;

struct Invocation {
    seq: u64,
    id: String,
    event: Vec<u8>,
    done: oneshot::Sender<Answer>,
}

struct InFlight {
    handed_out: Instant,
    done: oneshot::Sender<Answer>,
}

struct State {
    function_arn: String,
    queue: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: std::sync::Mutex<HashMap<String, InFlight>>,
    first_poll: watch::Sender<Option<Instant>>,
    init_error: std::sync::Mutex<Option<String>>,
}

pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<State>,
    // Owned here rather than by `State` so that dropping the API ends any hanging poll.
    queue: mpsc::UnboundedSender<Invocation>,
    next_id: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    pub async fn start(function_name: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the Runtime API stand-in")?;
        let addr = listener.local_addr()?;
        let (queue, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}"),
            queue: Mutex::new(receiver),
            in_flight: std::sync::Mutex::default(),
            first_poll: watch::Sender::new(None),
            init_error: std::sync::Mutex::default(),
        });
        let server = devstack::server::spawn(listener, state.clone());
        Ok(Self {
            addr,
            state,
            queue,
            next_id: AtomicU64::new(1),
            server,
        })
    }

    /// The `host:port` for `AWS_LAMBDA_RUNTIME_API`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the process first asked for an event, waiting for it if it has not yet.
    pub async fn first_poll(&self) -> anyhow::Result<Instant> {
        let mut seen = self.state.first_poll.subscribe();
        let first = seen.wait_for(Option::is_some).await?;
        (*first).context("first poll unset")
    }

    /// What the function posted to `/init/error`, if anything.
    pub fn init_error(&self) -> Option<String> {
        lock(&self.state.init_error).clone()
    }

    /// Hands `event` to the function and waits for its answer. Returns the time from hand-out
    /// to answer and the answer; an `/error` post or no answer in time is an error.
    pub async fn invoke(&self, event: &Value) -> anyhow::Result<(Duration, Value)> {
        let seq = self.next_id.fetch_add(1, Ordering::Relaxed);
        let id = format!("bench-{seq}");
        let (done, answered) = oneshot::channel();
        self.queue
            .send(Invocation {
                seq,
                id: id.clone(),
                event: serde_json::to_vec(event)?,
                done,
            })
            .map_err(|_| anyhow!("the Runtime API stand-in has stopped"))?;
        let answer = tokio::time::timeout(INVOKE_TIMEOUT, answered)
            .await
            .with_context(|| format!("invocation {id}: no answer within {INVOKE_TIMEOUT:?}"))?
            .with_context(|| format!("invocation {id}: dropped unanswered"))?;
        match answer {
            Ok((took, body)) => Ok((
                took,
                serde_json::from_slice(&body)
                    .with_context(|| format!("invocation {id}: the answer is not JSON"))?,
            )),
            Err(report) => bail!("invocation {id} failed: {report}"),
        }
    }
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn status(code: u16) -> Outgoing {
    Outgoing {
        status: code,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn epoch_millis(after: Duration) -> u128 {
    (SystemTime::now() + after)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

impl State {
    async fn next(&self) -> Outgoing {
        let polled = Instant::now();
        self.first_poll.send_if_modified(|first| {
            let unset = first.is_none();
            if unset {
                *first = Some(polled);
            }
            unset
        });
        // The long poll: only one process polls, so holding the lock while waiting is fine.
        let Some(invocation) = self.queue.lock().await.recv().await else {
            return status(410);
        };
        let headers = vec![
            ("content-type".into(), "application/json".into()),
            (
                "lambda-runtime-aws-request-id".into(),
                invocation.id.clone(),
            ),
            (
                "lambda-runtime-deadline-ms".into(),
                epoch_millis(DEADLINE).to_string(),
            ),
            (
                "lambda-runtime-invoked-function-arn".into(),
                self.function_arn.clone(),
            ),
            (
                "lambda-runtime-trace-id".into(),
                format!(
                    "Root=1-{:08x}-{:024x};Sampled=0",
                    epoch_millis(Duration::ZERO) / 1000,
                    invocation.seq
                ),
            ),
        ];
        lock(&self.in_flight).insert(
            invocation.id,
            InFlight {
                handed_out: Instant::now(),
                done: invocation.done,
            },
        );
        Outgoing {
            status: 200,
            headers,
            body: invocation.event,
        }
    }

    fn finish(&self, id: &str, answer: impl FnOnce(Duration) -> Answer) -> Outgoing {
        let answered = Instant::now();
        match lock(&self.in_flight).remove(id) {
            Some(flight) => {
                // The bench may have given up on it already; the function still gets its 202.
                let _ = flight
                    .done
                    .send(answer(answered.duration_since(flight.handed_out)));
                status(202)
            }
            None => status(400),
        }
    }
}

#[async_trait::async_trait]
impl Serve for State {
    async fn serve(&self, request: Incoming) -> Outgoing {
        let Some(rest) = request.path.strip_prefix(PREFIX) else {
            return status(404);
        };
        let invocation = rest
            .strip_prefix("/invocation/")
            .and_then(|r| r.split_once('/'));
        match (&request.method, rest, invocation) {
            (&Method::GET, "/invocation/next", _) => self.next().await,
            (&Method::POST, _, Some((id, "response"))) => {
                let body = request.body.to_vec();
                self.finish(id, |took| Ok((took, body)))
            }
            (&Method::POST, _, Some((id, "error"))) => {
                let report = String::from_utf8_lossy(&request.body).into_owned();
                self.finish(id, |_| Err(report))
            }
            (&Method::POST, "/init/error", _) => {
                *lock(&self.init_error) = Some(String::from_utf8_lossy(&request.body).into_owned());
                status(202)
            }
            _ => status(404),
        }
    }
}

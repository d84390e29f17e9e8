//! Running a function: on Lambda through the Runtime API, and in-process for the local gateway
//! and tests, both through the same [`HttpFunction::handle`].

use crate::api::{ApiError, ApiRequest, ApiResponse, RequestExt};
use lambda_runtime::{LambdaEvent, service_fn};
use settings::{ConfigError, Settings};
use std::convert::Infallible;
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

/// The setting naming the KMS key that seals shoppers' personal data.
pub const PERSONAL_DATA_KEY_ID: &str = "PERSONAL_DATA_KEY_ID";

/// The setting naming the table of hourly report counters.
pub const REPORTS_TABLE: &str = "REPORTS_TABLE";

/// The clients a function talks to the world with, built once per cold start (or once per local
/// stack) and handed to every function's constructor. An SDK client opens nothing until used;
/// the HTTP client loads TLS roots, so it is built only for functions that call a provider.
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// What the clients were built from (region, credentials, endpoint), for signing media
    /// uploads and reads; absent for clients put together by hand.
    config: Option<aws_config::SdkConfig>,
    http: std::sync::Arc<std::sync::OnceLock<reqwest::Client>>,
    /// Where metric lines go: stdout on Lambda (CloudWatch reads EMF from it).
    metrics: std::sync::Arc<dyn telemetry::metrics::MetricSink>,
}

impl Clients {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, sqs: aws_sdk_sqs::Client) -> Self {
        Self {
            dynamodb,
            sqs,
            config: None,
            http: Default::default(),
            metrics: std::sync::Arc::new(telemetry::metrics::StdoutSink),
        }
    }

    /// The same clients writing metric lines to `sink` (the local stack's metric log).
    pub fn with_metric_sink(
        mut self,
        sink: std::sync::Arc<dyn telemetry::metrics::MetricSink>,
    ) -> Self {
        self.metrics = sink;
        self
    }

    /// Metrics for the function called `function`.
    pub fn metrics(&self, function: &'static str) -> telemetry::metrics::Metrics {
        telemetry::metrics::Metrics::new(self.metrics.clone(), function)
    }

    /// For one SDK configuration (region, credentials, `AWS_ENDPOINT_URL`).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            config: Some(config.clone()),
            ..Self::new(
                aws_sdk_dynamodb::Client::new(config),
                aws_sdk_sqs::Client::new(config),
            )
        }
    }

    /// The media bucket named by `MEDIA_BUCKET`, signed for with these clients' credentials.
    pub fn media_bucket(
        &self,
        settings: &Settings,
    ) -> Result<store::media::MediaBucket, ConfigError> {
        let bucket = settings.required("MEDIA_BUCKET")?;
        let config = self.config.as_ref().ok_or_else(|| {
            ConfigError::new(
                "MEDIA_BUCKET",
                "needs clients built from an AWS configuration",
            )
        })?;
        store::media::MediaBucket::new(config, bucket)
            .map_err(|problem| ConfigError::new("MEDIA_BUCKET", problem))
    }

    /// The SNS topic the setting `name` holds the ARN of.
    pub fn topic(
        &self,
        settings: &Settings,
        name: &str,
    ) -> Result<store::topic::Topic, ConfigError> {
        let arn = settings.required(name)?;
        let config = self.config.as_ref().ok_or_else(|| {
            ConfigError::new(name, "needs clients built from an AWS configuration")
        })?;
        Ok(store::topic::Topic::from_config(config, arn))
    }

    /// The keys to shoppers' personal data, under the KMS key `PERSONAL_DATA_KEY_ID`. KMS is
    /// first called when a store first seals or opens, not here.
    pub fn personal_data(
        &self,
        settings: &Settings,
    ) -> Result<store::personal::PersonalDataKeys, ConfigError> {
        let key_id = settings.required(PERSONAL_DATA_KEY_ID)?;
        let config = self.config.as_ref().ok_or_else(|| {
            ConfigError::new(
                PERSONAL_DATA_KEY_ID,
                "needs clients built from an AWS configuration",
            )
        })?;
        store::personal::PersonalDataKeys::from_config(config, key_id)
            .map_err(|problem| ConfigError::new(PERSONAL_DATA_KEY_ID, problem))
    }

    /// For WeChat and WeChat Pay, with the timeouts every provider call needs; one per stack.
    pub fn http(&self) -> reqwest::Client {
        self.http
            .get_or_init(providers::wechat::http_client)
            .clone()
    }
}

/// A function's settings and clients on Lambda, once per cold start: the environment with the
/// shop secret laid over it (one GetSecretValue when `SHOP_SECRET_ARN` is set), and the clients.
pub async fn from_env() -> Result<(Settings, Clients), ConfigError> {
    let config = store::aws_config().await;
    let settings = crate::secrets::with_shop_secret(
        Settings::from_process_env(),
        &aws_sdk_secretsmanager::Client::new(&config),
    )
    .await?;
    Ok((settings, Clients::from_config(&config)))
}

/// A Lambda behind API Gateway HTTP API routes. Every outcome, errors included, is an answer.
#[async_trait::async_trait]
pub trait HttpFunction: Send + Sync {
    async fn handle(&self, req: ApiRequest) -> ApiResponse;
}

/// The one place a request gets its log span (request id, route, and the user id once the token
/// is read), its access log line with the latency, its route metrics (latency, 4xx, 5xx) and its
/// error mapping: errors become their JSON answer, and a 5xx logs its cause chain.
pub async fn respond<Fut>(
    metrics: &telemetry::metrics::Metrics,
    req: &ApiRequest,
    work: Fut,
) -> ApiResponse
where
    Fut: Future<Output = Result<ApiResponse, ApiError>>,
{
    let span = tracing::info_span!(
        "request",
        request_id = %req.request_id(),
        route = %req.route(),
        user_id = tracing::field::Empty
    );
    async move {
        let started = Instant::now();
        let response = match work.await {
            Ok(response) => response,
            Err(err) => {
                let cause = err.cause.as_deref().unwrap_or("");
                if err.status >= 500 {
                    tracing::error!(code = err.code, cause, "request failed");
                } else if !cause.is_empty() {
                    tracing::warn!(code = err.code, cause, "request refused");
                }
                err.into_response()
            }
        };
        let latency = started.elapsed();
        tracing::info!(
            status = response.status().as_u16(),
            latency_us = latency.as_micros() as u64,
            "answered"
        );
        metrics.route(
            req.route(),
            response.status().as_u16(),
            latency.as_secs_f64() * 1000.0,
        );
        response
    }
    .instrument(span)
    .await
}

/// Logging, then the function's own setup; a bad setting is logged by name before the exit.
async fn cold_start<F>(
    init: impl Future<Output = Result<F, ConfigError>>,
) -> Result<F, ConfigError> {
    telemetry::logs::init();
    init.await
        .inspect_err(|err| tracing::error!(error = %err, "cold start failed"))
}

/// A function's whole `main`: logging, its cold-start setup (config and clients, once), then
/// the Lambda Runtime API loop through lambda_http, which turns each payload 2.0 event into an
/// [`ApiRequest`] and each answer back. A bad setting stops the cold start with a log line
/// naming it.
pub async fn run_http<F, Init>(init: Init) -> Result<(), lambda_runtime::Error>
where
    F: HttpFunction,
    Init: Future<Output = Result<F, ConfigError>>,
{
    let function = cold_start(init).await?;
    let function = &function;
    lambda_http::run(lambda_http::service_fn(move |req: ApiRequest| async move {
        Ok::<_, Infallible>(function.handle(req).await)
    }))
    .await
}

/// Work a request starts but does not wait for (recording a view). On Lambda it finishes while
/// the runtime waits for the next event; tests call [`Background::settle`] to wait for it.
#[derive(Default)]
pub struct Background {
    tasks: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

impl Background {
    pub fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(work);
    }

    pub async fn settle(&self) {
        let mut tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        while tasks.join_next().await.is_some() {}
    }
}

/// A Lambda fed by an SQS event source with `ReportBatchItemFailures`: it answers which
/// messages failed, so one bad message never makes SQS redeliver the whole batch.
#[async_trait::async_trait]
pub trait QueueFunction: Send + Sync {
    async fn handle(
        &self,
        event: aws_lambda_events::sqs::SqsEvent,
    ) -> aws_lambda_events::sqs::SqsBatchResponse;
}

/// A queue consumer's whole `main`, like [`run_http`].
pub async fn run_sqs<F, Init>(init: Init) -> Result<(), lambda_runtime::Error>
where
    F: QueueFunction,
    Init: Future<Output = Result<F, ConfigError>>,
{
    let function = cold_start(init).await?;
    let function = &function;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
            Ok::<_, Infallible>(function.handle(event.payload).await)
        },
    ))
    .await
}

/// Runs `work` on every message of a batch, concurrently, and reports the ones that failed.
/// A message that can never succeed (a poison message) should return `Err` too: after the
/// queue's maxReceiveCount it moves to the dead-letter queue instead of blocking the batch.
pub async fn each_message<'a, Fut>(
    event: &'a aws_lambda_events::sqs::SqsEvent,
    work: impl Fn(&'a aws_lambda_events::sqs::SqsMessage) -> Fut,
) -> aws_lambda_events::sqs::SqsBatchResponse
where
    Fut: Future<Output = Result<(), String>>,
{
    let results = futures::future::join_all(event.records.iter().map(|m| {
        let id = m.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("message", message_id = %id);
        let fut = work(m);
        async move { (id, fut.await) }.instrument(span)
    }))
    .await;
    let mut response = aws_lambda_events::sqs::SqsBatchResponse::default();
    for (id, result) in results {
        if let Err(problem) = result {
            tracing::warn!(message_id = %id, problem, "message failed; SQS will redeliver it");
            let mut failure = aws_lambda_events::sqs::BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// A Lambda fed by CloudWatch Logs subscription filters: each invocation is a batch of one log
/// stream's lines that matched the filter. An `Err` makes Lambda retry the same batch (twice,
/// as for any asynchronous invocation), so a consumer must be idempotent per batch.
#[async_trait::async_trait]
pub trait LogsFunction: Send + Sync {
    async fn handle(
        &self,
        event: aws_lambda_events::cloudwatch_logs::LogsEvent,
    ) -> Result<(), String>;
}

/// A log subscriber's whole `main`, like [`run_http`].
pub async fn run_logs<F, Init>(init: Init) -> Result<(), lambda_runtime::Error>
where
    F: LogsFunction,
    Init: Future<Output = Result<F, ConfigError>>,
{
    let function = cold_start(init).await?;
    let function = &function;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::cloudwatch_logs::LogsEvent>| async move {
            let span = tracing::info_span!("log batch", request_id = %event.context.request_id);
            function
                .handle(event.payload)
                .instrument(span)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}

//! The local stack: template.yaml read as the single source of truth, its tables and queues in
//! the moto emulator, the provider sandboxes, and a gateway calling the functions in-process.
//! `make dev` runs it as a server; the integration tests start one per test.

pub mod alipay_sandbox;
pub mod docs;
pub mod gateway;
pub mod kuaidi100_sandbox;
pub mod resources;
pub mod seed;
pub mod server;
pub mod template;
pub mod wechat_sandbox;
pub mod wechatpay_sandbox;

use anyhow::Context;
use aws_lambda_events::sqs::SqsEvent;
use edge::runtime::{Clients, HttpFunction, QueueFunction};
use resources::LocalResources;
use settings::Settings;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use template::Template;
use tokio::net::TcpListener;

/// Settings a developer may export before `make dev`: a real provider or another double instead
/// of the sandboxes (design.md's configuration list), and the shop's own tunables.
pub const PROVIDER_SETTINGS: &[&str] = &[
    "PAYMENT_DEADLINE_MINUTES",
    "WECHATPAY_PLATFORM_CERTIFICATES",
    "JWT_SECRET",
    "WECHAT_API_BASE",
    "WECHAT_APPID",
    "WECHAT_SECRET",
    "WECHATPAY_API_BASE",
    "WECHATPAY_MCHID",
    "WECHATPAY_MERCHANT_SERIAL",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_ID",
    "WECHATPAY_NOTIFY_URL",
    "ALIPAY_APP_ID",
    "ALIPAY_PUBLIC_KEY",
    "KUAIDI100_API_BASE",
    "KUAIDI100_KEY",
    "KUAIDI100_CUSTOMER",
    "KUAIDI100_SALT",
];

/// The AppID the sandbox plays; shaped like a real one so template validation would accept it.
pub const SANDBOX_APPID: &str = "wx5a0d0c0ffee0d00d";
/// The Kuaidi100 API key the sandbox accepts (not a secret: the sandbox is local).
pub const SANDBOX_KUAIDI100_KEY: &str = "sandbox-kuaidi100-key";

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The SDK configuration for the emulator at `endpoint`, with throwaway credentials when none are set.
pub async fn aws_config(endpoint: &str) -> aws_config::SdkConfig {
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint);
    if std::env::var("AWS_ACCESS_KEY_ID").is_err() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local", "local", None, None, "devstack",
        ));
    }
    if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        loader = loader.region(aws_sdk_dynamodb::config::Region::new("us-east-1"));
    }
    loader.load().await
}

/// DynamoDB and SQS clients for the emulator at `endpoint`.
pub async fn aws_clients(
    endpoint: &str,
) -> anyhow::Result<(aws_sdk_dynamodb::Client, aws_sdk_sqs::Client)> {
    let config = aws_config(endpoint).await;
    Ok((
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    ))
}

/// A stack's running parts.
pub struct LocalStack {
    pub template: Template,
    pub resources: LocalResources,
    pub settings: HashMap<String, String>,
    /// The settings each function (by logical id) was given, before any shop secret was read:
    /// with `ShopSecret::SecretsManager`, no secret's value is among them.
    pub function_settings: HashMap<String, HashMap<String, String>>,
    pub login: Arc<login::Login>,
    pub browse: Arc<browse::Browse>,
    pub checkout: Arc<checkout::Checkout>,
    pub pay_notify: Arc<pay_notify::PayNotify>,
    pub deadlines: Arc<deadlines::Deadlines>,
    pub fulfillment: Arc<fulfillment::Fulfillment>,
    pub logistics_hook: Arc<logistics_hook::LogisticsHook>,
    pub share_reward: Arc<share_reward::ShareReward>,
    pub rewards: Arc<rewards::Rewards>,
    /// Writes the orders exports staff ask for.
    pub exports: Arc<exports::Exports>,
    pub wechat_push: Arc<wechat_push::WeChatPush>,
    pub admin: Arc<admin::Admin>,
    /// The subscriber of the functions' log groups, fed by [`LocalStack::ship_logs`].
    pub reports: Arc<reports::Reports>,
    /// Log events' ids, unique within the stack as CloudWatch's are.
    log_events: std::sync::atomic::AtomicU64,
    pub gateway: Arc<gateway::Gateway>,
    /// Queue consumers by the logical id of the queue they read.
    pub consumers: Vec<(String, Arc<dyn QueueFunction>)>,
    pub wechat: Arc<wechat_sandbox::WeChatSandbox>,
    pub wechatpay: Arc<wechatpay_sandbox::WeChatPaySandbox>,
    pub kuaidi100: Arc<kuaidi100_sandbox::Kuaidi100Sandbox>,
    pub alipay: Arc<alipay_sandbox::AlipaySandbox>,
    pub sandbox_url: String,
    pub api_url: String,
    /// Every metric line the stack's functions wrote (EMF, as on Lambda's stdout).
    pub metrics: Arc<telemetry::metrics::MetricLog>,
    /// The emulator's URL.
    pub endpoint: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The keys to personal data, as the functions that seal it hold them.
    pub personal_data: store::personal::PersonalDataKeys,
}

/// Random secrets for one local run: nothing secret is ever written into the repository.
pub fn local_secrets() -> HashMap<String, String> {
    HashMap::from([
        ("JWT_SECRET".to_string(), domain::ids::random_token(48)),
        (
            "ADMIN_JWT_SECRET".to_string(),
            domain::ids::random_token(48),
        ),
        ("WECHAT_SECRET".to_string(), domain::ids::random_token(32)),
        (
            "KUAIDI100_SECRET".to_string(),
            domain::ids::random_token(32),
        ),
        ("KUAIDI100_SALT".to_string(), domain::ids::random_token(16)),
        // The message push's Token and EncodingAESKey, as a shop enters them in WeChat's
        // console; the WeChat sandbox signs and encrypts its pushes with the same pair.
        (
            "WECHAT_PUSH_TOKEN".to_string(),
            domain::ids::random_token(24).replace(['-', '_'], "x"),
        ),
        (
            "WECHAT_PUSH_AES_KEY".to_string(),
            domain::ids::random_token(43).replace(['-', '_'], "A"),
        ),
    ])
}

/// Both provider sandboxes on one port, told apart by path as the real hosts are by name.
struct Sandboxes {
    alipay: Arc<alipay_sandbox::AlipaySandbox>,
    wechat: Arc<wechat_sandbox::WeChatSandbox>,
    wechatpay: Arc<wechatpay_sandbox::WeChatPaySandbox>,
    kuaidi100: Arc<kuaidi100_sandbox::Kuaidi100Sandbox>,
}

#[async_trait::async_trait]
impl server::Serve for Sandboxes {
    async fn serve(&self, request: server::Incoming) -> server::Outgoing {
        if request.path == "/gateway.do" || request.path.starts_with("/__sandbox/alipay") {
            self.alipay.serve(request).await
        } else if request.path.starts_with("/v3/")
            || request.path.starts_with("/__sandbox/wechatpay")
        {
            self.wechatpay.serve(request).await
        } else if request.path.starts_with("/label/")
            || request.path == "/poll"
            || request.path.starts_with("/__sandbox/kuaidi100")
        {
            self.kuaidi100.serve(request).await
        } else {
            self.wechat.serve(request).await
        }
    }
}

pub struct StackOptions {
    pub endpoint: String,
    pub prefix: String,
    pub sandbox_addr: SocketAddr,
    pub gateway_addr: SocketAddr,
    /// Settings that win over the sandbox defaults (tests point providers elsewhere with them).
    pub extra: HashMap<String, String>,
    /// Where the functions' metric lines are appended (besides memory), as CloudWatch Logs
    /// would keep them: `make dev` writes .local/dev-metrics.jsonl for `make funnel`.
    pub metrics_file: Option<PathBuf>,
    pub wechatpay_keys: wechatpay_sandbox::WeChatPayKeys,
    /// Where the functions find the shop secret's keys.
    pub shop_secret: ShopSecret,
    /// The gateway answers 503 `starting` until `gateway.open()` (`make dev` opens it once the
    /// demo shop is seeded); otherwise it serves at once.
    pub hold_requests: bool,
}

/// Where the functions find the shop secret's keys (`settings::SHOP_SECRET_KEYS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShopSecret {
    /// In their settings, as plain values: `make dev` and most tests.
    #[default]
    Plain,
    /// In the emulator's Secrets Manager, one JSON secret: the functions are given only
    /// `SHOP_SECRET_ARN` and read it at their cold start, as in AWS.
    SecretsManager,
}

impl LocalStack {
    /// Provisions the template's resources under the prefix, starts the sandboxes and the
    /// gateway, and builds every function of the template.
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let template = Template::project()?;
        let config = aws_config(&options.endpoint).await;
        let (dynamodb, sqs) = (
            aws_sdk_dynamodb::Client::new(&config),
            aws_sdk_sqs::Client::new(&config),
        );
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let resources = LocalResources::provision(
            &template,
            &options.prefix,
            &dynamodb,
            &sqs,
            &options.endpoint,
        )
        .await?;

        let sandbox_listener = TcpListener::bind(options.sandbox_addr)
            .await
            .with_context(|| format!("binding the sandboxes to {}", options.sandbox_addr))?;
        let sandbox_url = format!("http://{}", sandbox_listener.local_addr()?);
        let gateway_listener = TcpListener::bind(options.gateway_addr)
            .await
            .with_context(|| format!("binding the API gateway to {}", options.gateway_addr))?;
        let api_url = format!("http://{}", gateway_listener.local_addr()?);

        let mut overrides = local_secrets();
        overrides.insert("WECHAT_APPID".into(), SANDBOX_APPID.into());
        overrides.insert("WECHAT_API_BASE".into(), sandbox_url.clone());
        overrides.insert("WECHATPAY_API_BASE".into(), sandbox_url.clone());
        overrides.insert(
            "WECHATPAY_NOTIFY_URL".into(),
            format!("{api_url}/v1/pay/wechat/notify"),
        );
        overrides.insert(
            "ALIPAY_NOTIFY_URL".into(),
            format!("{api_url}/v1/pay/alipay/notify"),
        );
        // ShopCdn's part locally: the gateway serves product images too.
        overrides.insert("MEDIA_PUBLIC_URL".into(), api_url.clone());
        overrides.insert("KUAIDI100_API_BASE".into(), sandbox_url.clone());
        overrides.insert("KUAIDI100_KEY".into(), SANDBOX_KUAIDI100_KEY.into());
        overrides.insert(
            "LOGISTICS_NOTIFY_URL".into(),
            format!("{api_url}/v1/logistics/kuaidi100/notify"),
        );
        overrides.extend(options.wechatpay_keys.settings());
        let alipay = Arc::new(alipay_sandbox::AlipaySandbox::new());
        overrides.extend(alipay.settings(&sandbox_url));
        overrides.extend(options.extra);
        let wechat = Arc::new(
            wechat_sandbox::WeChatSandbox::new(
                &overrides["WECHAT_APPID"],
                &overrides["WECHAT_SECRET"],
            )
            .pushing_to(
                format!("{api_url}/v1/wechat/events"),
                &overrides["WECHAT_PUSH_TOKEN"],
                &overrides["WECHAT_PUSH_AES_KEY"],
            )?,
        );
        let wechatpay = Arc::new(wechatpay_sandbox::WeChatPaySandbox::new(
            &options.wechatpay_keys,
        ));
        let kuaidi100 = Arc::new(kuaidi100_sandbox::Kuaidi100Sandbox::new(
            &overrides["KUAIDI100_KEY"],
            &overrides["KUAIDI100_SECRET"],
        ));
        server::spawn(
            sandbox_listener,
            Arc::new(Sandboxes {
                alipay: alipay.clone(),
                wechat: wechat.clone(),
                wechatpay: wechatpay.clone(),
                kuaidi100: kuaidi100.clone(),
            }),
        );

        // The shop secret's keys leave the plain settings; each function that names
        // SHOP_SECRET_ARN gets them back either as plain values or through Secrets Manager.
        let shop_secret: HashMap<String, String> = settings::SHOP_SECRET_KEYS
            .iter()
            .filter_map(|key| Some((key.to_string(), overrides.remove(*key)?)))
            .collect();
        let secret_arn = match options.shop_secret {
            ShopSecret::Plain => String::new(),
            ShopSecret::SecretsManager => {
                store_shop_secret(&secrets, &options.prefix, &shop_secret).await?
            }
        };
        overrides.insert(settings::SHOP_SECRET_ARN.into(), secret_arn);

        let metrics = Arc::new(match &options.metrics_file {
            Some(path) => telemetry::metrics::MetricLog::appending_to(path)
                .with_context(|| format!("opening {}", path.display()))?,
            None => telemetry::metrics::MetricLog::default(),
        });
        let clients = Clients::from_config(&config).with_metric_sink(metrics.clone());
        let mut functions: HashMap<String, Arc<dyn HttpFunction>> = HashMap::new();
        let mut consumers: Vec<(String, Arc<dyn QueueFunction>)> = Vec::new();
        let mut all_settings = HashMap::new();
        let (mut login, mut browse, mut checkout, mut pay_notify, mut deadlines) =
            (None, None, None, None, None);
        let (mut fulfillment, mut logistics_hook) = (None, None);
        let (mut share_reward, mut rewards, mut wechat_push, mut admin) = (None, None, None, None);
        let mut exports = None;
        let mut reports = None;
        all_settings.extend(shop_secret.clone());
        let mut function_settings = HashMap::new();
        for spec in &template.functions {
            let mut settings = resources.settings_for(&template, spec, &overrides)?;
            all_settings.extend(settings.clone());
            let reads_shop_secret = settings.contains_key(settings::SHOP_SECRET_ARN);
            if reads_shop_secret && options.shop_secret == ShopSecret::Plain {
                settings.extend(shop_secret.clone());
            }
            function_settings.insert(spec.logical_id.clone(), settings.clone());
            let settings = edge::secrets::with_shop_secret(Settings::from_map(settings), &secrets)
                .await
                .with_context(|| format!("reading the shop secret for {}", spec.logical_id))?;
            let context = || format!("building {}", spec.logical_id);
            // Each function counts in the reports only if the template hands it the table.
            let http_function: Arc<dyn HttpFunction> = match spec.logical_id.as_str() {
                "LoginFunction" => {
                    let f = Arc::new(login::Login::new(&settings, &clients).with_context(context)?);
                    login = Some(f.clone());
                    f
                }
                "BrowseFunction" => {
                    let f =
                        Arc::new(browse::Browse::new(&settings, &clients).with_context(context)?);
                    browse = Some(f.clone());
                    f
                }
                "CheckoutFunction" => {
                    let f = Arc::new(
                        checkout::Checkout::new(&settings, &clients).with_context(context)?,
                    );
                    checkout = Some(f.clone());
                    f
                }
                "PayNotifyFunction" => {
                    let f = Arc::new(
                        pay_notify::PayNotify::new(&settings, &clients).with_context(context)?,
                    );
                    pay_notify = Some(f.clone());
                    f
                }
                "DeadlinesFunction" => {
                    let f = Arc::new(
                        deadlines::Deadlines::new(&settings, &clients).with_context(context)?,
                    );
                    for queue in &spec.queues {
                        consumers.push((queue.clone(), f.clone()));
                    }
                    deadlines = Some(f);
                    continue;
                }
                "FulfillmentFunction" => {
                    let f = Arc::new(
                        fulfillment::Fulfillment::new(&settings, &clients).with_context(context)?,
                    );
                    for queue in &spec.queues {
                        consumers.push((queue.clone(), f.clone()));
                    }
                    fulfillment = Some(f);
                    continue;
                }
                "LogisticsHookFunction" => {
                    let f = Arc::new(
                        logistics_hook::LogisticsHook::new(&settings, &clients)
                            .with_context(context)?,
                    );
                    logistics_hook = Some(f.clone());
                    f
                }
                "ShareRewardFunction" => {
                    let f = Arc::new(
                        share_reward::ShareReward::new(&settings, &clients)
                            .with_context(context)?,
                    );
                    share_reward = Some(f.clone());
                    f
                }
                "WeChatPushFunction" => {
                    let f = Arc::new(
                        wechat_push::WeChatPush::new(&settings, &clients).with_context(context)?,
                    );
                    wechat_push = Some(f.clone());
                    f
                }
                "AdminFunction" => {
                    let f = Arc::new(admin::Admin::new(&settings, &clients).with_context(context)?);
                    admin = Some(f.clone());
                    f
                }
                "ReportsFunction" => {
                    anyhow::ensure!(
                        !spec.log_groups.is_empty(),
                        "ReportsFunction subscribes to no log group"
                    );
                    reports = Some(Arc::new(
                        reports::Reports::new(&settings, &clients).with_context(context)?,
                    ));
                    continue;
                }
                "ExportsFunction" => {
                    let f =
                        Arc::new(exports::Exports::new(&settings, &clients).with_context(context)?);
                    for queue in &spec.queues {
                        consumers.push((queue.clone(), f.clone()));
                    }
                    exports = Some(f);
                    continue;
                }
                "RewardsFunction" => {
                    let f =
                        Arc::new(rewards::Rewards::new(&settings, &clients).with_context(context)?);
                    for queue in &spec.queues {
                        consumers.push((queue.clone(), f.clone()));
                    }
                    rewards = Some(f);
                    continue;
                }
                other => anyhow::bail!(
                    "template function {other} has no local handler: register it in devstack"
                ),
            };
            functions.insert(spec.logical_id.clone(), http_function);
        }
        let media_bucket = resources
            .buckets
            .get("MediaBucket")
            .context("the template has no MediaBucket")?;
        let gateway = Arc::new(
            gateway::Gateway::new(&template, &functions)?
                .serving_product_images(
                    store::media::MediaBucket::new(&config, media_bucket.clone())
                        .map_err(anyhow::Error::msg)?,
                )
                .serving_console(
                    project_root().join("functions/admin/console/dist"),
                    &api_url,
                )
                .serving_session_controls(store::staff::StaffStore::new(
                    dynamodb.clone(),
                    all_settings
                        .get("STAFF_TABLE")
                        .context("the template names no STAFF_TABLE")?
                        .clone(),
                )),
        );
        if options.hold_requests {
            gateway.hold();
        }
        server::spawn(gateway_listener, gateway.clone());
        let personal_data_key = resources
            .keys
            .get("PersonalDataKey")
            .cloned()
            .context("template has no PersonalDataKey")?;
        Ok(Self {
            template,
            resources,
            settings: all_settings,
            function_settings,
            login: login.context("template has no LoginFunction")?,
            browse: browse.context("template has no BrowseFunction")?,
            checkout: checkout.context("template has no CheckoutFunction")?,
            pay_notify: pay_notify.context("template has no PayNotifyFunction")?,
            deadlines: deadlines.context("template has no DeadlinesFunction")?,
            fulfillment: fulfillment.context("template has no FulfillmentFunction")?,
            logistics_hook: logistics_hook.context("template has no LogisticsHookFunction")?,
            share_reward: share_reward.context("template has no ShareRewardFunction")?,
            rewards: rewards.context("template has no RewardsFunction")?,
            exports: exports.context("template has no ExportsFunction")?,
            wechat_push: wechat_push.context("template has no WeChatPushFunction")?,
            admin: admin.context("template has no AdminFunction")?,
            reports: reports.context("template has no ReportsFunction")?,
            log_events: Default::default(),
            gateway,
            consumers,
            wechat,
            wechatpay,
            kuaidi100,
            alipay,
            sandbox_url,
            api_url,
            metrics,
            endpoint: options.endpoint.clone(),
            dynamodb,
            sqs,
            personal_data: store::personal::PersonalDataKeys::from_config(
                &config,
                personal_data_key,
            )
            .map_err(anyhow::Error::msg)?,
        })
    }

    /// The media bucket as the functions sign for it.
    pub async fn media_bucket(&self) -> anyhow::Result<store::media::MediaBucket> {
        store::media::MediaBucket::new(
            &aws_config(&self.endpoint).await,
            self.settings
                .get("MEDIA_BUCKET")
                .ok_or_else(|| anyhow::anyhow!("the template names no MEDIA_BUCKET"))?,
        )
        .map_err(anyhow::Error::msg)
    }

    pub fn catalog_store(&self) -> store::catalog::CatalogStore {
        store::catalog::CatalogStore::new(
            self.dynamodb.clone(),
            self.resources.tables["CatalogTable"].clone(),
        )
    }

    /// The merchant's tool, pointed at this stack's tables.
    pub fn admin(&self) -> shopctl::Admin {
        let table = |id: &str| self.resources.tables[id].clone();
        shopctl::Admin::new(
            self.dynamodb.clone(),
            &shopctl::Tables {
                catalog: &table("CatalogTable"),
                marketing: &table("MarketingTable"),
                users: &table("UsersTable"),
                orders: &table("OrdersTable"),
                reviews: &table("ReviewsTable"),
                staff: &table("StaffTable"),
                audit: &table("AuditTable"),
            },
        )
    }

    /// Runs a shopctl command against this stack, as a merchant would.
    pub async fn shopctl(&self, words: &[&str]) -> Result<String, shopctl::CliError> {
        shopctl::run(&self.admin(), words, domain::clock::now_epoch_seconds()).await
    }

    /// What `make shopctl` needs to reach this stack: the emulator and the table names.
    pub fn shopctl_env(&self) -> String {
        let table = |id: &str| self.resources.tables[id].clone();
        format!(
            "# Written by `make dev` for `make shopctl`: the local stack's emulator, tables and\n\
             # WeChat sandbox (its AppSecret is this run's random one, never a real shop's).\n\
             AWS_ENDPOINT_URL={}\nAWS_ACCESS_KEY_ID=local\nAWS_SECRET_ACCESS_KEY=local\nAWS_REGION=us-east-1\n\
             CATALOG_TABLE={}\nMARKETING_TABLE={}\nUSERS_TABLE={}\nORDERS_TABLE={}\nREVIEWS_TABLE={}\nSTAFF_TABLE={}\nAUDIT_TABLE={}\n\
             SHOPPING_TABLE={}\nPERSONAL_DATA_KEY_ID={}\n\
             WECHAT_APPID={}\nWECHAT_API_BASE={}\nWECHAT_SECRET={}\n",
            self.endpoint,
            table("CatalogTable"),
            table("MarketingTable"),
            table("UsersTable"),
            table("OrdersTable"),
            table("ReviewsTable"),
            table("StaffTable"),
            table("AuditTable"),
            table("ShoppingTable"),
            self.resources.keys["PersonalDataKey"],
            self.settings["WECHAT_APPID"],
            self.sandbox_url,
            self.settings["WECHAT_SECRET"],
        )
    }

    pub fn user_store(&self) -> store::users::UserStore {
        store::users::UserStore::new(
            self.dynamodb.clone(),
            self.resources.tables["UsersTable"].clone(),
        )
    }

    pub fn order_store(&self) -> store::orders::OrderStore {
        store::orders::OrderStore::new(
            self.dynamodb.clone(),
            self.resources.tables["OrdersTable"].clone(),
            self.resources.tables["CatalogTable"].clone(),
            self.resources.tables["IdempotencyTable"].clone(),
            self.resources.tables["MarketingTable"].clone(),
        )
        .with_personal_data(self.personal_data.clone())
    }

    /// The shopping table's store, opening and sealing addresses as the functions do.
    pub fn shopping_store(&self) -> store::shopping::ShoppingStore {
        store::shopping::ShoppingStore::new(
            self.dynamodb.clone(),
            self.resources.tables["ShoppingTable"].clone(),
        )
        .with_personal_data(self.personal_data.clone())
    }

    /// Feeds the visible messages of a queue to its consumer like Lambda's event source does,
    /// deleting the ones it handled, until the queue shows none. Returns how many were handled.
    pub async fn drain(&self, queue: &str) -> anyhow::Result<usize> {
        let mut handled = 0;
        while let Some(n) = self.poll_once(queue, 0).await? {
            handled += n;
        }
        Ok(handled)
    }

    /// One receive-invoke-delete round; `None` when nothing was waiting.
    async fn poll_once(&self, queue: &str, wait_seconds: i32) -> anyhow::Result<Option<usize>> {
        let url = self
            .resources
            .queue_urls
            .get(queue)
            .with_context(|| format!("no queue {queue}"))?;
        let arn = self
            .resources
            .queue_arns
            .get(queue)
            .cloned()
            .unwrap_or_default();
        let consumer = self
            .consumers
            .iter()
            .find(|(q, _)| q == queue)
            .map(|(_, f)| f.clone());
        let received = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(None);
        }
        let Some(consumer) = consumer else {
            anyhow::bail!("queue {queue} has no consumer in the template")
        };
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, serde_json::Value> = m
                    .attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), serde_json::Value::String(v.clone()))).collect())
                    .unwrap_or_default();
                serde_json::json!({
                    "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                    "md5OfBody": m.md5_of_body(), "attributes": attributes, "messageAttributes": {},
                    "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1",
                })
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(serde_json::json!({ "Records": records }))?;
        let response = consumer.handle(event).await;
        let failed: std::collections::HashSet<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        let mut handled = 0;
        for m in &messages {
            if failed.contains(m.message_id().unwrap_or_default()) {
                continue;
            }
            if let Some(handle) = m.receipt_handle() {
                self.sqs
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e))
                    })?;
                handled += 1;
            }
        }
        Ok(Some(handled))
    }

    /// Hands the report lines written since the last call to the reports consumer, as
    /// CloudWatch Logs does through the subscription filters: one batch, gzipped and base64
    /// encoded, with an id per log event. Returns how many lines went. Tests call it before
    /// reading the reports; `make dev` every second.
    pub async fn ship_logs(&self) -> anyhow::Result<usize> {
        use std::sync::atomic::Ordering;
        let lines = self.metrics.take_unshipped();
        if lines.is_empty() {
            return Ok(0);
        }
        let first_id = self
            .log_events
            .fetch_add(lines.len() as u64, Ordering::Relaxed);
        // Lambda's asynchronous invocation: the same event, tried three times in all.
        let mut problem = String::new();
        for _ in 0..3 {
            let event = logs_event(&lines, first_id)?;
            match edge::runtime::LogsFunction::handle(&*self.reports, event).await {
                Ok(()) => return Ok(lines.len()),
                Err(failed) => problem = failed,
            }
        }
        anyhow::bail!(
            "the reports consumer failed three times (on AWS the batch goes to ReportsDeadLetterQueue): {problem}"
        )
    }

    /// Polls every consumed queue forever, like Lambda's SQS event sources (for `make dev`).
    pub fn spawn_pollers(self: &Arc<Self>) {
        let queues: Vec<String> = self.consumers.iter().map(|(q, _)| q.clone()).collect();
        for queue in queues {
            let stack = self.clone();
            tokio::spawn(async move {
                loop {
                    // Short polls: the emulator serves one request at a time, a long poll would hold it.
                    match stack.poll_once(&queue, 0).await {
                        Ok(Some(_)) => {}
                        Ok(None) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
                        Err(err) => {
                            tracing::warn!(queue, error = %err, "polling failed");
                            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        }
                    }
                }
            });
        }
        let stack = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Err(err) = stack.ship_logs().await {
                    tracing::warn!(error = %err, "shipping report lines failed");
                }
            }
        });
        // WeChat judges review photos a moment later and pushes each verdict.
        let wechat = self.wechat.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if wechat.media_checks_waiting() > 0
                    && let Err(err) = wechat.release_media_checks().await
                {
                    tracing::warn!(error = %err, "pushing photo verdicts failed");
                }
            }
        });
    }
}

/// A CloudWatch Logs subscription's event for `lines`, as Lambda hands it over: the batch
/// gzipped and base64 encoded, with log event ids counting up from `first_id`.
pub fn logs_event(
    lines: &[String],
    first_id: u64,
) -> anyhow::Result<aws_lambda_events::cloudwatch_logs::LogsEvent> {
    let now_ms = domain::clock::now_epoch_seconds() * 1000;
    let events: Vec<serde_json::Value> = lines
        .iter()
        .zip(first_id..)
        .map(|(line, id)| serde_json::json!({"id": format!("{id:056}"), "timestamp": now_ms, "message": line}))
        .collect();
    let data = serde_json::json!({
        "owner": "000000000000", "logGroup": "/shop/local", "logStream": "local",
        "subscriptionFilters": ["ReportLines"], "messageType": "DATA_MESSAGE",
        "logEvents": events,
    });
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, data.to_string().as_bytes())?;
    let data = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, gzip.finish()?);
    // From text, as the Lambda runtime reads it (the event's reader borrows its keys).
    let event = serde_json::json!({ "awslogs": { "data": data } }).to_string();
    Ok(serde_json::from_str(&event)?)
}

/// Stores the shop secret in the emulator's Secrets Manager as one JSON object, the way the
/// deploy guide has the shop owner create it; answers its ARN.
pub async fn store_shop_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    prefix: &str,
    values: &HashMap<String, String>,
) -> anyhow::Result<String> {
    let created = secrets
        .create_secret()
        .name(format!("{prefix}shop-secret"))
        .secret_string(serde_json::to_string(values)?)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "creating the shop secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    created
        .arn
        .context("Secrets Manager answered no ARN for the shop secret")
}

/// What the developer exported for providers (real WeChat, another double) before `make dev`.
pub fn provider_overrides_from_env() -> HashMap<String, String> {
    PROVIDER_SETTINGS
        .iter()
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (name.to_string(), v))
        })
        .collect()
}

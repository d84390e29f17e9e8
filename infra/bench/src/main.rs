//! `shop-bench`: cold start, first-event and warm latency, peak memory, size and AWS calls per
//! request of each function's release binary, run as Lambda would run it: a fresh process
//! talking to a Runtime API (a local stand-in), with the tables in the moto emulator at
//! `AWS_ENDPOINT_URL` and the WeChat sandboxes; then orders per second on one contended SKU.
//! Prints a Markdown report; `make bench` is the way to run it.

mod http;
mod proxy;
mod report;
mod routes;
mod runtime_api;
mod shop;

use anyhow::{Context, bail, ensure};
use domain::ids::OrderId;
use domain::order::OrderStatus;
use proxy::CountingProxy;
use report::{AwsCalls, FunctionFigures, RouteRow, percentile};
use routes::{Calls, Emulators, EventSource, Route};
use runtime_api::RuntimeApi;
use shop::{Gateway, ORDER_SKU};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

const USAGE: &str = "usage: shop-bench [--cold-starts N] [--warm M] [--bin-dir DIR] [--clients K] [--contended N]
  --cold-starts N  fresh processes per function (default 20)
  --warm M         measured events per route in one warm process (default 200)
  --bin-dir DIR    where the release binaries are (default $CARGO_TARGET_DIR/release or target/release)
  --clients K      orders in flight in the contended-SKU run (default 16)
  --contended N    orders the contended-SKU run places (default 300)
Needs AWS_ENDPOINT_URL pointing at a moto server: run it through `make bench`.";

const FUNCTIONS: &[&str] = &[
    "login",
    "browse",
    "checkout",
    "pay-notify",
    "logistics-hook",
    "share-reward",
];
/// Parcels the courier pushes go round: 225 pushes make about 22 events per parcel.
const PARCELS: usize = 10;
/// Paid orders the fulfillment consumer ships in the throughput run, in batches of ten.
const FULFILLMENT_MESSAGES: usize = 100;
/// Events per route before the warm measurement starts: lazy connection pools and caches fill
/// during the first few, and those belong to the first-event figure, not the warm one.
const WARM_UP: usize = 5;
/// A healthy cold start takes milliseconds; this only stops a hung process from hanging the bench.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

struct Options {
    cold_starts: usize,
    warm: usize,
    bin_dir: PathBuf,
    clients: usize,
    contended: usize,
}

fn parse_args(args: &[String]) -> anyhow::Result<Options> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| devstack::project_root().join("target"));
    let mut options = Options {
        cold_starts: 20,
        warm: 200,
        bin_dir: target.join("release"),
        clients: 16,
        contended: 300,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--cold-starts" => options.cold_starts = value()?.parse().context("--cold-starts")?,
            "--warm" => options.warm = value()?.parse().context("--warm")?,
            "--bin-dir" => options.bin_dir = PathBuf::from(value()?),
            "--clients" => options.clients = value()?.parse().context("--clients")?,
            "--contended" => options.contended = value()?.parse().context("--contended")?,
            _ => bail!("unknown argument {flag}\n{USAGE}"),
        }
    }
    if [
        options.cold_starts,
        options.warm,
        options.clients,
        options.contended,
    ]
    .contains(&0)
    {
        bail!("--cold-starts, --warm, --clients and --contended must be at least 1");
    }
    Ok(options)
}

/// One function process under a Runtime API of its own.
struct FunctionProcess {
    child: Child,
    api: RuntimeApi,
    /// Spawn to first poll for an event.
    cold_start: Duration,
}

impl FunctionProcess {
    async fn start(
        binary: &Path,
        name: &str,
        env: &HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let api = RuntimeApi::start(name).await?;
        let mut command = Command::new(binary);
        // Lambda gives a function its own configuration and little else; so does the bench,
        // which also keeps this machine's AWS profile files and proxies out of the timing.
        command
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr().to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .stdin(Stdio::null())
            // Logs (warnings and up) go to the bench's stderr, keeping stdout for the report.
            .stdout(std::io::stderr())
            .stderr(std::io::stderr())
            .kill_on_drop(true);
        let spawned = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let polled = tokio::select! {
            polled = api.first_poll() => polled?,
            exited = child.wait() => bail!(
                "{name} exited before polling for an event ({}); init error: {}",
                exited.map_or_else(|e| e.to_string(), |s| s.to_string()),
                api.init_error().unwrap_or_else(|| "none posted".into())
            ),
            () = tokio::time::sleep(READY_TIMEOUT) => bail!("{name} did not poll for an event within {READY_TIMEOUT:?}"),
        };
        Ok(Self {
            child,
            api,
            cold_start: polled.duration_since(spawned),
        })
    }

    /// The process's peak resident set so far (`VmHWM`), in MB.
    fn peak_rss_mb(&self) -> anyhow::Result<f64> {
        let pid = self.child.id().context("the function process has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmHWM in /proc/<pid>/status")?;
        Ok(kib / 1024.0)
    }

    async fn stop(mut self) {
        // Killing is the expected end; an error only means it is gone already.
        let _ = self.child.kill().await;
    }
}

struct Bench {
    options: Options,
    env: HashMap<String, String>,
    /// The same configuration as in AWS: `SHOP_SECRET_ARN` instead of the secrets' values, so
    /// the cold start reads the shop secret from Secrets Manager (moto, through the proxy).
    secret_env: HashMap<String, String>,
    emulators: Emulators,
    /// Between the function processes and moto, counting their calls.
    proxy: CountingProxy,
    source: EventSource,
    gateway: Gateway,
    /// The stack's own order store, to check what pay-notify did.
    orders: store::orders::OrderStore,
    /// The unpaid orders checkout placed; pay-notify's events pay them.
    placed: Vec<OrderId>,
    /// Numbers events and replays, so that every single-use WeChat code is fresh.
    sequence: u64,
    /// The stack's fulfillment consumer, to ship the orders the courier pushes are about.
    fulfillment: std::sync::Arc<dyn edge::runtime::QueueFunction>,
}

impl Bench {
    fn next(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    async fn invoke(
        &mut self,
        process: &FunctionProcess,
        route: &Route,
    ) -> anyhow::Result<Duration> {
        let event = route.event(self.next())?;
        let (took, answer) = process.api.invoke(&event).await?;
        route.check(&answer)?;
        if matches!(route.calls, Calls::PlaceOrder) {
            let id = routes::body(&answer)["order"]["id"]
                .as_str()
                .and_then(|id| OrderId::parse(id).ok())
                .with_context(|| format!("no order id in {answer}"))?;
            self.placed.push(id);
        }
        Ok(took)
    }

    async fn function(&mut self, name: &'static str) -> anyhow::Result<Vec<RouteRow>> {
        let binary = self.options.bin_dir.join(name);
        let size = std::fs::metadata(&binary)
            .with_context(|| {
                format!(
                    "no {} (build it: cargo build --release -p {name})",
                    binary.display()
                )
            })?
            .len();
        let paid = self.prepare(name).await?;
        let routes = routes::routes(name, &self.source);
        let main = routes.first().context("a function without routes")?;

        let mut cold = Vec::new();
        let mut cold_with_secret = Vec::new();
        let mut first = Vec::new();
        // The KMS calls of the cold starts and their first events: a function that seals
        // personal data makes its one GenerateDataKey in its first event that seals.
        self.proxy.take();
        for _ in 0..self.options.cold_starts {
            let process = FunctionProcess::start(&binary, name, &self.env).await?;
            cold.push(process.cold_start);
            first.push(self.invoke(&process, main).await?);
            process.stop().await;
            // Alternating, so drift hits both series alike; the event proves the secret was read.
            let process = FunctionProcess::start(&binary, name, &self.secret_env).await?;
            cold_with_secret.push(process.cold_start);
            self.invoke(&process, main).await?;
            process.stop().await;
        }
        let processes = 2 * self.options.cold_starts;
        let kms_per_process = report::kms_calls(&self.proxy.take(), processes);

        let process = FunctionProcess::start(&binary, name, &self.env).await?;
        let mut rows = Vec::new();
        for route in &routes {
            let mut warm = Vec::new();
            let mut emulator = Vec::new();
            for i in 0..WARM_UP + self.options.warm {
                if i == WARM_UP {
                    // Only the measured events' calls count.
                    self.proxy.take();
                }
                let took = self.invoke(&process, route).await?;
                // Alternating with the function's own calls lets drift (tables growing, CPU
                // clocks) hit both series alike.
                let n = self.next();
                let started = Instant::now();
                self.emulators
                    .replay(route.calls, n)
                    .await
                    .with_context(|| format!("replaying the calls of {}", route.name))?;
                if i >= WARM_UP {
                    warm.push(took);
                    emulator.push(started.elapsed());
                }
            }
            rows.push(RouteRow {
                function: name,
                route: route.name,
                warm_p50: percentile(&warm, 50),
                warm_p90: percentile(&warm, 90),
                emulator_p50: (!matches!(route.calls, Calls::None))
                    .then(|| percentile(&emulator, 50)),
                figures: None,
                aws: AwsCalls {
                    requests: warm.len(),
                    tally: self.proxy.take(),
                    budget: route.budget,
                },
            });
        }
        let peak_rss_mb = process.peak_rss_mb()?;
        process.stop().await;
        self.check_paid(&paid).await?;

        if let Some(row) = rows.first_mut() {
            row.figures = Some(FunctionFigures {
                cold_p50: percentile(&cold, 50),
                cold_p90: percentile(&cold, 90),
                cold_with_secret_p50: percentile(&cold_with_secret, 50),
                first_event_p50: percentile(&first, 50),
                kms_per_process,
                peak_rss_mb,
                binary_mb: size as f64 / (1024.0 * 1024.0),
                file: describe_file(&binary).await,
            });
        }
        Ok(rows)
    }

    /// Places, pays and ships one order; returns its waybill number.
    async fn ship_one(&self, key: &str) -> anyhow::Result<String> {
        let order = self
            .gateway
            .place_order(&self.source.token, key, ORDER_SKU)
            .await?;
        let now = domain::clock::now_epoch_seconds();
        self.orders
            .mark_paid(
                &order.id,
                &format!("4200{key}"),
                "2026-11-24T10:00:00+08:00",
                now,
            )
            .await?;
        let handled = self
            .fulfillment
            .handle(shop::order_paid_event(std::slice::from_ref(&order.id))?)
            .await;
        ensure!(
            handled.batch_item_failures.is_empty(),
            "shipping {} failed",
            order.id
        );
        let shipped = self
            .orders
            .get(&order.id)
            .await?
            .context("the shipped order")?;
        Ok(shipped
            .order
            .shipment
            .context("no shipment on a shipped order")?
            .number)
    }

    /// Sets up what a function's events and replays need. pay-notify pays the orders checkout
    /// left unpaid: its events the ones the function placed (one per cold start and warm event,
    /// as pay-notify needs), its replays the replays' own. Returns the orders pay-notify must
    /// leave PAID, with their transaction ids.
    async fn prepare(&mut self, name: &str) -> anyhow::Result<Vec<(OrderId, String)>> {
        match name {
            "checkout" => {
                let order = self
                    .gateway
                    .place_order(&self.source.token, "template", ORDER_SKU)
                    .await?;
                // The shopper's coupon and points for the promotions quote.
                let user = order.user_id.clone();
                let claimed = self
                    .emulators
                    .marketing
                    .claim(
                        domain::ids::CouponId::parse(routes::BENCH_COUPON)?.template(),
                        &user,
                        domain::clock::now_epoch_seconds(),
                    )
                    .await?;
                ensure!(
                    matches!(claimed, store::marketing::Claim::Claimed(_)),
                    "the bench shopper could not claim {}",
                    routes::BENCH_COUPON
                );
                let gift = store::points::LedgerEntry {
                    key: "bench#gift".into(),
                    delta: routes::BENCH_POINTS,
                    reason: "bench".into(),
                    order_id: None,
                    at: 0,
                };
                store::points::PointsLedger::new(
                    self.emulators.dynamodb.clone(),
                    self.emulators.marketing.table(),
                )
                .post(&user, &gift)
                .await?;
                self.emulators.order_template = Some(order);
                Ok(Vec::new())
            }
            "logistics-hook" => {
                let mut events = Vec::with_capacity(PARCELS);
                let mut replays = Vec::with_capacity(PARCELS);
                for i in 0..PARCELS {
                    events.push(
                        self.ship_one(&format!("push-events-{i}"))
                            .await
                            .context("shipping the pushes' orders")?,
                    );
                    replays.push(
                        self.ship_one(&format!("push-replays-{i}"))
                            .await
                            .context("shipping the replays' orders")?,
                    );
                }
                *self
                    .source
                    .waybills
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = events;
                self.emulators.replay_waybills = replays;
                Ok(Vec::new())
            }
            "share-reward" => {
                let sharer = domain::ids::UserId::parse("ubenchsharer")?;
                let share = self
                    .emulators
                    .social
                    .create_share(&sharer, None, None, domain::clock::now_epoch_seconds())
                    .await?;
                *self
                    .source
                    .share_code
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = share.code.to_string();
                self.emulators.share_code = Some(share.code);
                Ok(Vec::new())
            }
            "pay-notify" => {
                let events = self.options.cold_starts + WARM_UP + self.options.warm;
                ensure!(
                    self.placed.len() >= events
                        && self.emulators.unpaid.len() >= WARM_UP + self.options.warm,
                    "pay-notify pays the orders checkout placed: bench checkout first"
                );
                let mut paid = Vec::with_capacity(self.placed.len());
                for id in self.placed.drain(..) {
                    let transaction = self
                        .source
                        .wechatpay
                        .mark_paid(id.as_str())
                        .with_context(|| format!("the sandbox has no prepay for {id}"))?;
                    paid.push((id, transaction));
                }
                *self
                    .source
                    .paid
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    paid.iter().map(|(id, _)| id.clone()).collect();
                Ok(paid)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// A 204 also answers notifications the function only recorded for review; each of these
    /// orders must have become PAID with its own transaction.
    async fn check_paid(&self, paid: &[(OrderId, String)]) -> anyhow::Result<()> {
        for (id, transaction) in paid {
            let order = self
                .orders
                .get(id)
                .await?
                .with_context(|| format!("order {id} is gone"))?
                .order;
            ensure!(
                order.status == OrderStatus::Paid
                    && order.transaction_id.as_deref() == Some(transaction.as_str()),
                "order {id} is {:?} with transaction {:?} after its notification, not PAID with {transaction}",
                order.status,
                order.transaction_id
            );
        }
        Ok(())
    }
}

/// `env` as a function is configured in AWS: the shop secret's values stored as one secret in the
/// emulator's Secrets Manager (directly, not through the counting proxy), and only its ARN left.
async fn with_shop_secret(
    env: &HashMap<String, String>,
    endpoint: &str,
) -> anyhow::Result<HashMap<String, String>> {
    use settings::{SHOP_SECRET_ARN, SHOP_SECRET_KEYS};
    let values: HashMap<String, String> = SHOP_SECRET_KEYS
        .iter()
        .filter_map(|key| Some((key.to_string(), env.get(*key)?.clone())))
        .collect();
    let client = aws_sdk_secretsmanager::Client::new(&devstack::aws_config(endpoint).await);
    let arn = devstack::store_shop_secret(
        &client,
        &format!("bench{}-", domain::ids::random_token(8)),
        &values,
    )
    .await?;
    let mut configured: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| !SHOP_SECRET_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    configured.insert(SHOP_SECRET_ARN.to_string(), arn);
    Ok(configured)
}

/// A stack with the demo catalog in tables of its own.
async fn start_stack(endpoint: &str) -> anyhow::Result<devstack::LocalStack> {
    let stack = devstack::LocalStack::start(devstack::StackOptions {
        endpoint: endpoint.to_string(),
        prefix: format!("bench{}-", domain::ids::random_token(8)),
        sandbox_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        gateway_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        extra: HashMap::new(),
        wechatpay_keys: devstack::wechatpay_sandbox::WeChatPayKeys::generate(),
        metrics_file: None,
        shop_secret: devstack::ShopSecret::Plain,
        hold_requests: false,
    })
    .await?;
    devstack::seed::seed(&stack.catalog_store())
        .await
        .context("seeding the demo catalog")?;
    devstack::seed::warehouses(&stack.admin(), 0)
        .await
        .context("setting up the demo warehouses")?;
    for command in routes::BENCH_PROMOTIONS {
        stack
            .shopctl(command)
            .await
            .with_context(|| format!("shopctl {}", command.join(" ")))?;
    }
    Ok(stack)
}

/// Deletes a finished run's tables: moto copies its whole store on every transaction, so what
/// earlier runs left behind would slow (and time out) the runs after them.
async fn drop_tables(stack: &devstack::LocalStack) -> anyhow::Result<()> {
    for table in stack.resources.tables.values() {
        stack
            .dynamodb
            .delete_table()
            .table_name(table)
            .send()
            .await
            .with_context(|| format!("deleting table {table}"))?;
    }
    Ok(())
}

/// What `file` makes of a binary, to show it is stripped.
async fn describe_file(binary: &Path) -> String {
    match Command::new("file").arg("-b").arg(binary).output().await {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_string(),
        _ => "(`file` unavailable)".to_string(),
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<String> {
    let options = parse_args(&args[1.min(args.len())..])?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .with_context(|| format!("AWS_ENDPOINT_URL must point at a moto server\n{USAGE}"))?;
    // The stack's own clients serve many requests at once (the gateway's handlers, the
    // contended orders), which moto only survives one write at a time.
    let stack_proxy = CountingProxy::start(&endpoint, true).await?;
    let stack = start_stack(stack_proxy.url()).await?;
    shop::set_stock(&stack, ORDER_SKU, shop::PLENTY).await?;

    // The replays reach moto through a proxy too, so that its hop cancels out of the handler
    // column; only the function processes' proxy is read.
    let counting = CountingProxy::start(&endpoint, false).await?;
    let replaying = CountingProxy::start(&endpoint, false).await?;
    let gateway = Gateway::new(&stack.api_url);
    let source = EventSource {
        token: gateway.login("benchshopper.1").await?,
        wechatpay: stack.wechatpay.clone(),
        paid: Default::default(),
        kuaidi100_salt: stack.settings["KUAIDI100_SALT"].clone(),
        waybills: Default::default(),
        tokens: std::sync::Arc::new(edge::auth::TokenService::new(
            &stack.settings["JWT_SECRET"].clone().into(),
        )?),
        share_code: Default::default(),
    };

    // The returning-user login needs the user to exist before the first measured event.
    let routes = routes::routes("login", &source);
    let returning = routes.first().context("login has no routes")?;
    let answer = edge::runtime::HttpFunction::handle(
        stack.login.as_ref(),
        edge::api::request_from_event(&returning.event(0)?)?,
    )
    .await;
    if answer.status() != 200 {
        bail!("creating the bench user failed: {answer:?}");
    }

    let settings = settings::Settings::from_map(stack.settings.clone());
    let (dynamodb, sqs) = devstack::aws_clients(replaying.url()).await?;
    let table = |id: &str| stack.resources.tables[id].clone();
    let queue = |id: &str| stack.resources.queue_urls[id].clone();
    let emulators = Emulators {
        dynamodb: dynamodb.clone(),
        catalog_table: table("CatalogTable"),
        users_table: table("UsersTable"),
        wechat: providers::wechat::WeChatApi::new(&settings, providers::wechat::http_client())?,
        cart: store::cart::CartReader::new(
            dynamodb.clone(),
            table("CatalogTable"),
            table("UsersTable"),
            table("MarketingTable"),
        ),
        marketing: store::marketing::MarketingStore::new(dynamodb.clone(), table("MarketingTable")),
        shipments: store::shipments::ShipmentStore::new(
            dynamodb.clone(),
            table("OrdersTable"),
            table("CatalogTable"),
        ),
        replay_waybills: Vec::new(),
        // Sealing the receiver as checkout does: its data key made once, like the function's.
        orders: store::orders::OrderStore::new(
            dynamodb.clone(),
            table("OrdersTable"),
            table("CatalogTable"),
            table("IdempotencyTable"),
            table("MarketingTable"),
        )
        .with_personal_data(
            store::personal::PersonalDataKeys::from_config(
                &devstack::aws_config(replaying.url()).await,
                stack.resources.keys["PersonalDataKey"].clone(),
            )
            .map_err(anyhow::Error::msg)?,
        ),
        fulfillment: store::queue::Queue::new(sqs.clone(), queue("FulfillmentQueue")),
        deadlines: store::queue::Queue::new(sqs, queue("DeadlinesQueue")),
        pay: providers::wechatpay::WeChatPay::new(&settings, providers::wechat::http_client())?,
        order_template: None,
        unpaid: Vec::new(),
        users: store::users::UserStore::new(dynamodb.clone(), table("UsersTable")),
        social: store::social::SocialStore::new(dynamodb, table("MarketingTable")),
        share_code: None,
    };
    let mut env = stack.settings.clone();
    env.extend(
        [
            ("AWS_ENDPOINT_URL", counting.url()),
            ("AWS_ACCESS_KEY_ID", "bench"),
            ("AWS_SECRET_ACCESS_KEY", "bench"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("RUST_LOG", "warn"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let secret_env = with_shop_secret(&env, &endpoint).await?;
    let runs = format!(
        "{} cold starts per function; {} warm events per route after {WARM_UP} warm-up events; \
         contended run: {} orders, {} in flight; {} CPU cores; binaries in {}",
        options.cold_starts,
        options.warm,
        options.contended,
        options.clients,
        std::thread::available_parallelism().map_or(0, usize::from),
        options.bin_dir.display()
    );
    let (clients, contended) = (options.clients, options.contended);
    let mut bench = Bench {
        options,
        env,
        secret_env,
        emulators,
        proxy: counting,
        source,
        gateway: gateway.clone(),
        orders: stack.order_store(),
        placed: Vec::new(),
        sequence: 0,
        fulfillment: stack.fulfillment.clone(),
    };
    let mut rows = Vec::new();
    for name in FUNCTIONS {
        rows.extend(bench.function(name).await?);
    }
    // On fresh tables, the earlier ones gone: moto copies its tables on every transaction,
    // so the orders the runs above left behind would slow each contended order down.
    drop_tables(&stack).await?;
    let fresh = start_stack(stack_proxy.url()).await?;
    let contention =
        shop::contend(&fresh, &Gateway::new(&fresh.api_url), clients, contended).await?;
    // Fresh tables again, for the same reason.
    drop_tables(&fresh).await?;
    let shipping = start_stack(stack_proxy.url()).await?;
    let throughput = shop::fulfillment_throughput(&shipping, FULFILLMENT_MESSAGES)
        .await
        .context("the fulfillment throughput run")?;
    let date = domain::clock::rfc3339(domain::clock::now_epoch_seconds());
    // bench.sh names itself, the command to repeat; the harness's own line shows what it ran.
    let command = match std::env::var("BENCH_COMMAND") {
        Ok(outer) => format!("`{outer}` (which ran `{}`)", args.join(" ")),
        Err(_) => format!("`{}`", args.join(" ")),
    };
    Ok(report::render(&rows, &contention, &date, &command, &runs)
        + &throughput.render()
        + &staff_passwords())
}

/// What a staff sign-in spends on its password: Argon2id with the admin function's
/// parameters, the median of 15 hashes on one core of this machine.
fn staff_passwords() -> String {
    use app::credentials::{ARGON2_LANES, ARGON2_MEMORY_KIB, ARGON2_PASSES, hash_password};
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let started = std::time::Instant::now();
            let _ = hash_password("bench-Password-1");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    format!(
        "\n### Staff passwords\n\nArgon2id m={ARGON2_MEMORY_KIB} KiB, t={ARGON2_PASSES}, p={ARGON2_LANES}: \
         median {:.1} ms a hash (15 hashes, one core of this machine; Lambda gives the admin \
         function's 1024 MB about 0.6 of a core).\n",
        times[times.len() / 2]
    )
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        let _ = writeln!(std::io::stdout(), "{USAGE}");
        return ExitCode::SUCCESS;
    }
    match run(args).await {
        Ok(report) => match std::io::stdout().write_all(report.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        },
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "bench failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn flags_override_the_defaults() {
        let options =
            parse_args(&args(&["--warm", "7", "--bin-dir", "/x", "--clients", "4"])).unwrap();
        assert_eq!(
            (options.cold_starts, options.warm, options.bin_dir),
            (20, 7, PathBuf::from("/x"))
        );
        assert_eq!((options.clients, options.contended), (4, 300));
        assert!(parse_args(&args(&["--warm"])).is_err());
        assert!(parse_args(&args(&["--cold-starts", "0"])).is_err());
        assert!(parse_args(&args(&["--contended", "0"])).is_err());
        assert!(parse_args(&args(&["--fast"])).is_err());
    }
}

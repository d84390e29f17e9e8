//! `devstack dev`: the whole shop on this machine. Starts the moto emulator (unless
//! `AWS_ENDPOINT_URL` points at one already), creates the template's tables and queues, seeds
//! the demo shop, starts the WeChat sandbox and serves the API; Ctrl-C stops all of it.
//!
//! Ports: `PORT` (API, 3000), `SANDBOX_PORT` (3001), `MOTO_PORT` (5000). `MOTO_PYTHON` names a
//! Python with moto installed (the Makefile makes one in .local/venv) to run infra/scripts/emulator.py.

use anyhow::{Context, bail};
use devstack::wechatpay_sandbox::WeChatPayKeys;
use devstack::{LocalStack, ShopSecret, StackOptions, provider_overrides_from_env, seed};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

fn port(name: &str, default: u16) -> anyhow::Result<u16> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a port number")),
        Err(_) => Ok(default),
    }
}

async fn start_moto(port: u16) -> anyhow::Result<Child> {
    let root = devstack::project_root();
    let python = std::env::var("MOTO_PYTHON")
        .unwrap_or_else(|_| root.join(".local/venv/bin/python").display().to_string());
    let child = Command::new(&python)
        .arg(root.join("infra/scripts/emulator.py"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!("starting the emulator with {python} (run `make dev`, which installs moto)")
        })?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!(
                "the emulator did not listen on 127.0.0.1:{port} within 30 s (is the port taken?)"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(child)
}

async fn dev() -> anyhow::Result<()> {
    let api_port = port("PORT", 3000)?;
    let sandbox_port = port("SANDBOX_PORT", 3001)?;
    let mut moto = None;
    let endpoint = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) => url,
        Err(_) => {
            let moto_port = port("MOTO_PORT", 5000)?;
            moto = Some(start_moto(moto_port).await?);
            format!("http://127.0.0.1:{moto_port}")
        }
    };
    let keys = WeChatPayKeys::load_or_create(&devstack::project_root().join(".local"))?;
    let stack = Arc::new(
        LocalStack::start(StackOptions {
            endpoint: endpoint.clone(),
            prefix: "shop-".into(),
            sandbox_addr: SocketAddr::from(([127, 0, 0, 1], sandbox_port)),
            gateway_addr: SocketAddr::from(([127, 0, 0, 1], api_port)),
            extra: provider_overrides_from_env(),
            wechatpay_keys: keys,
            metrics_file: Some(devstack::project_root().join(".local/dev-metrics.jsonl")),
            shop_secret: ShopSecret::Plain,
            // A client that starts when the port opens gets 503 `starting`, not a half-seeded shop.
            hold_requests: true,
        })
        .await?,
    );
    let (categories, products) = seed::seed(&stack.catalog_store())
        .await
        .context("seeding the demo shop")?;
    let now = domain::clock::now_epoch_seconds();
    seed::warehouses(&stack.admin(), now)
        .await
        .context("setting up the demo warehouses")?;
    let promotions = seed::promotions(&stack.admin(), now)
        .await
        .context("setting up the demo promotions")?;
    let demo_owner = demo_owner(&stack, now).await?;
    let env_file = devstack::project_root().join(".local/dev.env");
    std::fs::write(&env_file, stack.shopctl_env())
        .with_context(|| format!("writing {}", env_file.display()))?;
    stack.spawn_pollers();
    stack.gateway.open();

    let base = stack.api_url.clone();
    // Everything awaited is gathered before stdout is locked: the lock held across an await
    // blocked every worker thread whose task logged meanwhile, and the shop hung once open.
    let mut listings = Vec::new();
    for listing in [&["rules"][..], &["coupon", "list"], &["warehouse", "list"]] {
        listings.push(stack.shopctl(listing).await?);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nThe shop is up: {base}")?;
    writeln!(
        out,
        "  emulator (DynamoDB + SQS): {endpoint}   WeChat + WeChat Pay sandbox: {}",
        stack.sandbox_url
    )?;
    writeln!(
        out,
        "  demo shop: {categories} categories, {products} products; routes: {}",
        stack.gateway.route_keys().len()
    )?;
    writeln!(
        out,
        "  promotions, set up by {} shopctl commands (see make shopctl ARGS=\"help\"):",
        promotions.len()
    )?;
    for line in listings.iter().flat_map(|listing| listing.lines()) {
        writeln!(out, "    {line}")?;
    }
    writeln!(out, "  merchant console {base}/console/")?;
    match &demo_owner {
        Some(owner) => {
            writeln!(
                out,
                "  merchant API {}/admin/v1/ (demo only): sign in as {} with the one-time password {}",
                base, owner.username, owner.password
            )?;
            writeln!(
                out,
                "    and a code from {} (scan it into an authenticator app; also in .local/demo-owner.json)",
                owner.otpauth_uri
            )?;
        }
        None => writeln!(
            out,
            "  merchant API {base}/admin/v1/: the demo owner exists from an earlier run (.local/demo-owner.json)"
        )?,
    }
    writeln!(out, "\nTry:")?;
    writeln!(out, "  curl -s {base}/v1/categories")?;
    writeln!(
        out,
        "  curl -s '{base}/v1/products?q=%E6%99%AE%E6%B4%B1&limit=5'        # search 普洱"
    )?;
    writeln!(
        out,
        "  curl -s -X POST {base}/v1/auth/login -H 'content-type: application/json' -d '{{\"code\":\"alice.1\"}}'"
    )?;
    writeln!(
        out,
        "  then order and pay: see README, \"Order, pay and watch it change\""
    )?;
    writeln!(out, "\nCtrl-C stops everything.")?;
    drop(out);

    wait_for_stop().await;
    if let Some(mut moto) = moto {
        let _ = moto.kill().await;
    }
    Ok(())
}

/// The demo shop's owner, as `shopctl staff create-owner` makes one: a one-time password and a
/// TOTP secret drawn for this run (never a fixed one), written to `.local/demo-owner.json` for
/// the console's and the fuzzer's sign-in. `None` when an earlier run against the same emulator
/// made it already.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DemoOwner {
    username: String,
    password: String,
    totp_secret: String,
    otpauth_uri: String,
}

async fn demo_owner(stack: &LocalStack, now: i64) -> anyhow::Result<Option<DemoOwner>> {
    match stack.admin().staff.create_owner("demo-owner", now).await {
        Ok((member, password, otpauth_uri)) => {
            let secret = member.totp_secret.unwrap_or_default();
            let owner = DemoOwner {
                username: member.username.as_str().to_string(),
                password,
                totp_secret: app::credentials::base32(&secret),
                otpauth_uri,
            };
            // The test scripts' own shops write theirs elsewhere, leaving `make dev`'s alone.
            let file = std::env::var_os("DEMO_OWNER_FILE")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| devstack::project_root().join(".local/demo-owner.json"));
            std::fs::write(&file, serde_json::to_string_pretty(&owner)?)
                .with_context(|| format!("writing {}", file.display()))?;
            Ok(Some(owner))
        }
        Err(app::staff::StaffError::UsernameTaken) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context("making the demo owner")),
    }
}

async fn wait_for_stop() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match terminate.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::logs::init();
    let command = std::env::args().nth(1).unwrap_or_else(|| "dev".into());
    let result = match command.as_str() {
        "dev" => dev().await,
        other => Err(anyhow::anyhow!(
            "unknown command {other:?}; usage: devstack dev"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "devstack failed");
            ExitCode::FAILURE
        }
    }
}

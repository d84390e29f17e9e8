//! The local stack: template.yaml read as the single source of truth, its tables and queues in
//! the moto emulator, the provider sandboxes, and a gateway calling the functions in-process.
//! `make dev` runs it as a server; the integration tests start one per test.

pub mod gateway;
pub mod resources;
pub mod seed;
pub mod server;
pub mod template;
pub mod wechat_sandbox;

use anyhow::Context;
use resources::LocalResources;
use shared::config::Settings;
use shared::runtime::HttpFunction;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use template::Template;
use tokio::net::TcpListener;

/// Settings a developer may export before `make dev` to use a real provider or another double
/// instead of the sandboxes (design.md's configuration list).
pub const PROVIDER_SETTINGS: &[&str] = &[
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

pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// AWS clients for the emulator at `AWS_ENDPOINT_URL`, with throwaway credentials when none are set.
pub async fn aws_clients(
    endpoint: &str,
) -> anyhow::Result<(aws_sdk_dynamodb::Client, aws_sdk_sqs::Client)> {
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
    let config = loader.load().await;
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
    pub login: Arc<login::Login>,
    pub browse: Arc<browse::Browse>,
    pub gateway: Arc<gateway::Gateway>,
    pub wechat: Arc<wechat_sandbox::WeChatSandbox>,
    pub wechat_url: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// Random secrets for one local run: nothing secret is ever written into the repository.
pub fn local_secrets() -> HashMap<String, String> {
    HashMap::from([
        ("JWT_SECRET".to_string(), shared::ids::random_token(48)),
        ("WECHAT_SECRET".to_string(), shared::ids::random_token(32)),
    ])
}

impl LocalStack {
    /// Provisions the template's resources under `prefix`, starts the sandboxes and builds every
    /// function. `extra` settings win over the sandbox defaults (tests point providers elsewhere).
    pub async fn start(
        endpoint: &str,
        prefix: &str,
        sandbox_addr: SocketAddr,
        extra: HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let template = Template::project()?;
        let (dynamodb, sqs) = aws_clients(endpoint).await?;
        let resources = LocalResources::provision(&template, prefix, &dynamodb, &sqs).await?;

        let listener = TcpListener::bind(sandbox_addr)
            .await
            .with_context(|| format!("binding the WeChat sandbox to {sandbox_addr}"))?;
        let wechat_url = format!("http://{}", listener.local_addr()?);
        let mut overrides = local_secrets();
        overrides.insert("WECHAT_APPID".into(), SANDBOX_APPID.into());
        overrides.insert("WECHAT_API_BASE".into(), wechat_url.clone());
        overrides.extend(extra);
        let wechat = Arc::new(wechat_sandbox::WeChatSandbox::new(
            &overrides["WECHAT_APPID"],
            &overrides["WECHAT_SECRET"],
        ));
        server::spawn(listener, wechat.clone());

        let http = shared::wechat::http_client();
        let mut functions: HashMap<String, Arc<dyn HttpFunction>> = HashMap::new();
        let mut login = None;
        let mut browse = None;
        let mut all_settings = HashMap::new();
        for spec in &template.functions {
            let settings = resources.settings_for(&template, spec, &overrides)?;
            all_settings.extend(settings.clone());
            let settings = Settings::from_map(settings);
            match spec.logical_id.as_str() {
                "LoginFunction" => {
                    let f = Arc::new(login::Login::new(
                        &settings,
                        dynamodb.clone(),
                        http.clone(),
                    )?);
                    functions.insert(spec.logical_id.clone(), f.clone());
                    login = Some(f);
                }
                "BrowseFunction" => {
                    let f = Arc::new(browse::Browse::new(&settings, dynamodb.clone())?);
                    functions.insert(spec.logical_id.clone(), f.clone());
                    browse = Some(f);
                }
                other => anyhow::bail!(
                    "template function {other} has no local handler: register it in devstack"
                ),
            }
        }
        let gateway = Arc::new(gateway::Gateway::new(&template, &functions)?);
        Ok(Self {
            template,
            resources,
            settings: all_settings,
            login: login.context("template has no LoginFunction")?,
            browse: browse.context("template has no BrowseFunction")?,
            gateway,
            wechat,
            wechat_url,
            dynamodb,
            sqs,
        })
    }

    pub fn catalog_store(&self) -> shared::store::catalog::CatalogStore {
        shared::store::catalog::CatalogStore::new(
            self.dynamodb.clone(),
            self.resources.tables["CatalogTable"].clone(),
        )
    }

    pub fn user_store(&self) -> shared::store::users::UserStore {
        shared::store::users::UserStore::new(
            self.dynamodb.clone(),
            self.resources.tables["UsersTable"].clone(),
        )
    }

    /// Serves the gateway on `addr`; returns the bound address.
    pub async fn serve_gateway(&self, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the API gateway to {addr}"))?;
        let bound = listener.local_addr()?;
        server::spawn(listener, self.gateway.clone());
        Ok(bound)
    }
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

//! `shopctl`: the merchant's tool for the shop's setup from a terminal. Promotions, offers and
//! warehouses go through the same use cases as the merchant API (`app::promotion_desk`,
//! `app::catalog_desk`), audited as `shopctl`; every command names the option that is wrong,
//! so what it writes is exactly what checkout prices with. The demo seed runs these commands.
//!
//! Amounts are yuan as merchants write them ("19.9", "20"); times are `YYYY-MM-DD`,
//! `YYYY-MM-DDTHH:MM` (both in China time), RFC 3339, or `now`, `now+2h`, `now-30m`, `now+7d`.

mod args;

use app::staff::Actor;
use args::Args;
use domain::catalog::{FlashSale, GroupBuyOffer, OfferKind, SkuOffer};
use domain::ids::PromotionId;
use domain::ids::{CategoryId, ProductId, SkuId, UserId};
use domain::logistics::Warehouse;
use domain::money::Fen;
use domain::pricing::{CouponValue, FullReduction, PointsPolicy, Scope, Tier};
use domain::promotions::{CouponTemplate, PromotionError, PromotionRules, Validity};
use std::fmt::Write as _;
use store::StoreError;
use store::catalog::CatalogStore;
use store::marketing::MarketingStore;
use store::reviews::{ReviewKey, ReviewStore};
use store::shipments::ShipmentStore;
use store::users::UserStore;
use telemetry::metrics::{BusinessEvent, Funnel};

pub const USAGE: &str = "\
shopctl: set up the shop's promotions

  shopctl coupon create <id> --title <text>
          (--off <yuan> [--min-spend <yuan>] | --percent <1-99> --cap <yuan> [--min-spend <yuan>])
          (--valid-days <n> | --valid-from <time> --valid-until <time>)
          --total <n> [--per-user <n>] [--claim-until <time>]
          [--category <id> | --products <id,id,...>]
  shopctl coupon list
  shopctl reduction set <id> --tiers <yuan>-<yuan>,... [--category <id> | --products <id,...>]
          e.g. --tiers 199-20,299-40: over 199 minus 20, over 299 minus 40
  shopctl reduction remove <id>
  shopctl rules
  shopctl points policy --points-per-yuan <n> --max-share <percent> [--earn-per-yuan <n>]
  shopctl flash-sale set <skuId> --price <yuan> --quota <n> --per-user <n> --starts <time> --ends <time>
  shopctl flash-sale end <skuId>
  shopctl member-price set <skuId> --level <level> --price <yuan>
  shopctl member-price remove <skuId> --level <level>
  shopctl member set <userId> --level <level>
  shopctl member clear <userId>
  shopctl group-buy set <skuId> --size <2-10> --price <yuan> --hours <1-168>
  shopctl group-buy end <skuId>
  shopctl bargain set <skuId> --floor <yuan> --helpers <1-50> --hours <1-168>
  shopctl bargain end <skuId>
  shopctl invite policy --points <n> --daily-cap <n> [--coupon <templateId>|none]
  shopctl checkin policy --points <n> --streak-bonus <n> --streak-cap <days>
  shopctl task set <check-in|view-product|share-opened|first-review|bind-phone>
          [--title <text>] [--points <n>] [--daily-cap <n>] [--seconds <n>] --starts <time> --ends <time>
          a points task (积分任务); --seconds for view-product, --daily-cap for the daily ones
  shopctl task list
  shopctl funnel [--log <file>] [--since <2h|30m|7d> | --from <time> --to <time>]
          view -> quote -> order -> paid -> shipped -> delivered from the metric lines
          (default: .local/dev-metrics.jsonl, the last 24 hours)
  shopctl warehouse set <id> --name <text> --courier <kuaidi100 company code> --priority <n>
          [--provinces 浙江,江苏,...] [--default yes] --sender-name <text> --sender-phone <mobile>
          --sender-address <text>
  shopctl warehouse list
  shopctl shipments exceptions
  shopctl staff create-owner <username>
          the shop's first owner: prints a one-time password and the otpauth:// URI to scan
          into an authenticator app (owners always sign in with its code); everything else
          about staff happens through the admin API
  shopctl audit verify --day <YYYY-MM-DD>
          recomputes the day's audit chain; names the first record deleted or changed
  shopctl reviews pending
          reviews WeChat's content checks left to the merchant (IN_REVIEW), newest first
  shopctl reviews approve --product <id> --order <id> --sku <id>
  shopctl reviews reject --product <id> --order <id> --sku <id> [--reason <text, told to its author>]
  shopctl orders list-unlisted
          puts orders written before the merchant's order list existed into it (by day);
          safe to run again
  shopctl personal-data seal
          seals the receivers' names, phones and streets that orders and address books written
          before sealing existed keep in clear (needs SHOPPING_TABLE and PERSONAL_DATA_KEY_ID)
  shopctl wechat paths [--order-detail 'pages/order/detail?id=${商品订单号}'] [--message-jump <page>]
          the pages WeChat opens from its order screens and its shipping messages
          (needs WECHAT_APPID and WECHAT_SECRET, or SHOP_SECRET_ARN, and WECHAT_API_BASE locally)

Tables come from CATALOG_TABLE, MARKETING_TABLE, USERS_TABLE, ORDERS_TABLE, REVIEWS_TABLE,
STAFF_TABLE and AUDIT_TABLE (and AWS_ENDPOINT_URL for the local emulator). For the shop `make dev` runs: make shopctl ARGS=\"coupon list\".";

/// What went wrong, for the merchant: a usage mistake names the option.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}\n\n{USAGE}")]
    Usage(String),
    #[error("--{option}: {problem}")]
    Invalid { option: String, problem: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A provider (WeChat) could not do it.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn invalid(option: &str, problem: impl std::fmt::Display) -> Self {
        CliError::Invalid {
            option: option.to_string(),
            problem: problem.to_string(),
        }
    }

    /// Exit status: 2 for what the merchant typed, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Invalid { .. } => 2,
            CliError::NotFound(_) | CliError::Store(_) | CliError::Failed(_) => 1,
        }
    }
}

impl From<app::catalog_desk::CatalogDeskError> for CliError {
    fn from(e: app::catalog_desk::CatalogDeskError) -> Self {
        use app::catalog_desk::CatalogDeskError;
        match e {
            CatalogDeskError::NotFound => CliError::NotFound("no such SKU".into()),
            CatalogDeskError::Invalid(field) => {
                CliError::invalid(option_of(&field.field), field.problem)
            }
            CatalogDeskError::Store(err) => CliError::Store(err),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<PromotionError> for CliError {
    fn from(e: PromotionError) -> Self {
        match e {
            PromotionError::Invalid { field, problem } => {
                CliError::invalid(option_of(field), problem)
            }
        }
    }
}

impl From<app::task_desk::TaskError> for CliError {
    fn from(e: app::task_desk::TaskError) -> Self {
        use app::task_desk::TaskError;
        match e {
            TaskError::Invalid(field) => CliError::invalid(option_of(&field.field), field.problem),
            e @ TaskError::NoSuchTask => CliError::invalid("task", e),
            TaskError::Store(err) => CliError::Store(err),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<app::promotion_desk::PromotionDeskError> for CliError {
    fn from(e: app::promotion_desk::PromotionDeskError) -> Self {
        use app::promotion_desk::PromotionDeskError;
        match e {
            PromotionDeskError::Invalid(field) => {
                CliError::invalid(option_of(&field.field), field.problem)
            }
            e @ PromotionDeskError::TotalBelowIssued { .. } => CliError::invalid("total", e),
            e @ PromotionDeskError::NoSuchReduction(_) => CliError::NotFound(e.to_string()),
            PromotionDeskError::Store(err) => CliError::Store(err),
            other => CliError::Failed(other.to_string()),
        }
    }
}

/// The command-line option a domain field comes from.
fn option_of(field: &str) -> &str {
    match field {
        "validUntil" => "valid-until",
        "validDays" => "valid-days",
        "perUser" => "per-user",
        "startsAt" => "starts",
        "endsAt" => "ends",
        "pointsPerYuan" => "points-per-yuan",
        "maxSharePercent" => "max-share",
        "scope" => "products",
        "dailyCap" => "daily-cap",
        "couponTemplate" => "coupon",
        "streakBonus" => "streak-bonus",
        "streakCap" => "streak-cap",
        "earnPerYuan" => "earn-per-yuan",
        "senderName" => "sender-name",
        "senderPhone" => "sender-phone",
        "senderAddress" => "sender-address",
        "provinces" => "provinces",
        other => other,
    }
}

/// `shopctl wechat paths`: tells WeChat which mini-program pages its order screens
/// (`--order-detail`, with `${商品订单号}`) and its shipping messages (`--message-jump`) open.
pub async fn wechat_paths<S: AsRef<str>>(
    wechat: &providers::wechat::WeChatApi,
    users: &UserStore,
    words: &[S],
    now: i64,
) -> Result<String, CliError> {
    use domain::shipping_info::MiniProgramPath;
    let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    let args = Args::parse(&words)?;
    let detail = args
        .optional("order-detail")
        .map(|raw| {
            MiniProgramPath::order_detail(raw).map_err(|e| CliError::invalid("order-detail", e))
        })
        .transpose()?;
    let jump = args
        .optional("message-jump")
        .map(|raw| MiniProgramPath::parse(raw).map_err(|e| CliError::invalid("message-jump", e)))
        .transpose()?;
    if detail.is_none() && jump.is_none() {
        return Err(CliError::invalid(
            "order-detail",
            "give --order-detail, --message-jump or both",
        ));
    }
    let token = app::wechat::access_token(wechat, users, now)
        .await
        .map_err(|e| CliError::Failed(format!("WeChat's access_token: {e}")))?;
    let mut said = Vec::new();
    if let Some(path) = &detail {
        wechat
            .set_order_detail_path(&token, path.as_str())
            .await
            .map_err(|e| CliError::Failed(format!("WeChat refused the order detail path: {e}")))?;
        said.push(format!("order detail path: {}", path.as_str()));
    }
    if let Some(path) = &jump {
        wechat
            .set_message_jump_path(&token, path.as_str())
            .await
            .map_err(|e| CliError::Failed(format!("WeChat refused the message jump path: {e}")))?;
        said.push(format!("message jump path: {}", path.as_str()));
    }
    Ok(said.join("\n"))
}

/// The stores the tool writes to.
pub struct Admin {
    pub catalog: CatalogStore,
    /// SKU promotions, as the merchant API changes them (audited).
    pub catalog_desk: app::catalog_desk::CatalogDesk,
    pub marketing: MarketingStore,
    pub users: UserStore,
    pub shipments: ShipmentStore,
    pub reviews: ReviewStore,
    pub staff: app::staff::StaffDesk,
    /// Coupons, 满减, points, invite and check-in policies and warehouses, as the merchant API
    /// changes them (audited).
    pub promotions: app::promotion_desk::PromotionDesk,
    /// Only the orders table: for keeping the merchant's order list whole.
    pub orders: store::orders::OrderStore,
    /// Points tasks, as the merchant API sets them (audited).
    pub tasks: app::task_desk::TaskDesk,
}

/// The shop's tables, by what they hold.
pub struct Tables<'a> {
    pub catalog: &'a str,
    pub marketing: &'a str,
    pub users: &'a str,
    pub orders: &'a str,
    pub reviews: &'a str,
    pub staff: &'a str,
    pub audit: &'a str,
}

impl Admin {
    pub fn new(client: aws_sdk_dynamodb::Client, tables: &Tables<'_>) -> Self {
        Self {
            catalog: CatalogStore::new(client.clone(), tables.catalog),
            catalog_desk: app::catalog_desk::CatalogDesk::new(
                CatalogStore::new(client.clone(), tables.catalog),
                store::audit::AuditLog::new(client.clone(), tables.audit),
            ),
            marketing: MarketingStore::new(client.clone(), tables.marketing),
            users: UserStore::new(client.clone(), tables.users),
            shipments: ShipmentStore::new(client.clone(), tables.orders, tables.catalog),
            reviews: ReviewStore::new(client.clone(), tables.reviews).showing(tables.catalog),
            orders: store::orders::OrderStore::new(client.clone(), tables.orders, "", "", ""),
            promotions: app::promotion_desk::PromotionDesk::new(
                MarketingStore::new(client.clone(), tables.marketing),
                ShipmentStore::new(client.clone(), tables.orders, tables.catalog),
                UserStore::new(client.clone(), tables.users),
                store::audit::AuditLog::new(client.clone(), tables.audit),
            ),
            tasks: app::task_desk::TaskDesk::new(
                store::tasks::TaskStore::new(client.clone(), tables.marketing),
                store::social::SocialStore::new(client.clone(), tables.marketing),
            )
            .with_audit(store::audit::AuditLog::new(client.clone(), tables.audit)),
            staff: app::staff::StaffDesk::new(
                store::staff::StaffStore::new(client.clone(), tables.staff),
                store::audit::AuditLog::new(client, tables.audit),
            ),
        }
    }
}

/// `personal-data seal`: seals the receivers and addresses that orders and address books
/// written before sealing existed keep in clear. Safe to run again; it says what it did.
pub async fn seal_personal_data(
    orders: &store::orders::OrderStore,
    shopping: &store::shopping::ShoppingStore,
) -> Result<String, CliError> {
    let receivers = orders.seal_clear_receivers().await?;
    let addresses = shopping.seal_clear_addresses().await?;
    let mut said = format!(
        "sealed {} order receivers and {} saved addresses",
        receivers.sealed, addresses.sealed
    );
    let meanwhile = receivers.changed_meanwhile + addresses.changed_meanwhile;
    if meanwhile > 0 {
        said.push_str(&format!(
            "; {meanwhile} changed while being sealed: run it again to seal them"
        ));
    }
    Ok(said)
}

/// Runs one command (the words after `shopctl`) at time `now`; answers what it did.
pub async fn run<S: AsRef<str>>(admin: &Admin, words: &[S], now: i64) -> Result<String, CliError> {
    let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    match words.as_slice() {
        ["coupon", "create", rest @ ..] => coupon_create(admin, Args::parse(rest)?, now).await,
        ["coupon", "list"] => coupon_list(admin).await,
        ["reduction", "set", rest @ ..] => reduction_set(admin, Args::parse(rest)?, now).await,
        ["reduction", "remove", rest @ ..] => {
            reduction_remove(admin, Args::parse(rest)?, now).await
        }
        ["rules"] => Ok(describe_rules(&admin.marketing.rules().await?)),
        ["points", "policy", rest @ ..] => points_policy(admin, Args::parse(rest)?, now).await,
        ["flash-sale", "set", rest @ ..] => flash_sale_set(admin, Args::parse(rest)?, now).await,
        ["flash-sale", "end", rest @ ..] => {
            offer_end(admin, Args::parse(rest)?, OfferKind::FlashSale, now).await
        }
        ["member-price", "set", rest @ ..] => {
            member_price(admin, Args::parse(rest)?, true, now).await
        }
        ["member-price", "remove", rest @ ..] => {
            member_price(admin, Args::parse(rest)?, false, now).await
        }
        ["member", "set", rest @ ..] => member(admin, Args::parse(rest)?, true, now).await,
        ["member", "clear", rest @ ..] => member(admin, Args::parse(rest)?, false, now).await,
        ["group-buy", "set", rest @ ..] => group_buy_set(admin, Args::parse(rest)?, now).await,
        ["group-buy", "end", rest @ ..] => {
            offer_end(admin, Args::parse(rest)?, OfferKind::GroupBuy, now).await
        }
        ["bargain", "set", rest @ ..] => bargain_set(admin, Args::parse(rest)?, now).await,
        ["bargain", "end", rest @ ..] => {
            offer_end(admin, Args::parse(rest)?, OfferKind::Bargain, now).await
        }
        ["invite", "policy", rest @ ..] => invite_policy(admin, Args::parse(rest)?, now).await,
        ["checkin", "policy", rest @ ..] => checkin_policy(admin, Args::parse(rest)?, now).await,
        ["task", "set", rest @ ..] => task_set(admin, Args::parse(rest)?, now).await,
        ["task", "list"] => task_list(admin).await,
        ["warehouse", "set", rest @ ..] => warehouse_set(admin, Args::parse(rest)?, now).await,
        ["warehouse", "list"] => warehouse_list(admin).await,
        ["shipments", "exceptions"] => shipment_exceptions(admin).await,
        ["staff", "create-owner", name] => create_owner(admin, name, now).await,
        ["audit", "verify", rest @ ..] => audit_verify(admin, Args::parse(rest)?).await,
        ["reviews", "pending"] => reviews_pending(admin).await,
        ["reviews", "approve", rest @ ..] => {
            review_decide(admin, Args::parse(rest)?, true, now).await
        }
        ["reviews", "reject", rest @ ..] => {
            review_decide(admin, Args::parse(rest)?, false, now).await
        }
        ["orders", "list-unlisted"] => {
            let added = admin.orders.list_unlisted().await?;
            Ok(format!(
                "listed {added} orders written before the merchant's order list existed"
            ))
        }
        ["funnel", rest @ ..] => funnel(rest, now),
        [] | ["help"] | ["--help"] | ["-h"] => Ok(USAGE.to_string()),
        _ => Err(CliError::Usage(format!(
            "unknown command: shopctl {}",
            words.join(" ")
        ))),
    }
}

fn yuan(args: &Args, option: &str) -> Result<Option<Fen>, CliError> {
    args.optional(option)
        .map(|raw| Fen::parse_yuan(raw).map_err(|e| CliError::invalid(option, e)))
        .transpose()
}

fn required_yuan(args: &Args, option: &str) -> Result<Fen, CliError> {
    yuan(args, option)?.ok_or_else(|| CliError::invalid(option, "is required"))
}

fn number<T: std::str::FromStr>(args: &Args, option: &str) -> Result<Option<T>, CliError> {
    args.optional(option)
        .map(|raw| {
            raw.parse::<T>().map_err(|_| {
                CliError::invalid(option, format!("must be a whole number, not {raw:?}"))
            })
        })
        .transpose()
}

fn required_number<T: std::str::FromStr>(args: &Args, option: &str) -> Result<T, CliError> {
    number(args, option)?.ok_or_else(|| CliError::invalid(option, "is required"))
}

fn time_option(args: &Args, option: &str, now: i64) -> Result<Option<i64>, CliError> {
    args.optional(option)
        .map(|raw| args::parse_time(raw, now).map_err(|e| CliError::invalid(option, e)))
        .transpose()
}

fn promotion_id(args: &Args) -> Result<PromotionId, CliError> {
    let raw = args.single_positional("id")?;
    PromotionId::parse(raw).map_err(|e| CliError::invalid("id", e))
}

fn scope(args: &Args) -> Result<Scope, CliError> {
    match (args.optional("category"), args.optional("products")) {
        (Some(_), Some(_)) => Err(CliError::invalid(
            "products",
            "give either --category or --products, not both",
        )),
        (Some(category), None) => Ok(Scope::Category {
            category_id: CategoryId::parse(category)
                .map_err(|e| CliError::invalid("category", e))?,
        }),
        (None, Some(list)) => Ok(Scope::Products {
            product_ids: list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    ProductId::parse(p)
                        .map_err(|e| CliError::invalid("products", format!("{p:?} {e}")))
                })
                .collect::<Result<_, _>>()?,
        }),
        (None, None) => Ok(Scope::Shop),
    }
}

fn describe_scope(scope: &Scope) -> String {
    match scope {
        Scope::Shop => "the whole shop".into(),
        Scope::Category { category_id } => format!("category {category_id}"),
        Scope::Products { product_ids } => format!(
            "products {}",
            product_ids
                .iter()
                .map(ProductId::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn describe_value(value: &CouponValue) -> String {
    match value {
        CouponValue::AmountOff { off, min_spend } if min_spend.get() == 0 => {
            format!("{} yuan off, no minimum", off.yuan_text())
        }
        CouponValue::AmountOff { off, min_spend } => {
            format!(
                "{} yuan off from {} yuan",
                off.yuan_text(),
                min_spend.yuan_text()
            )
        }
        CouponValue::PercentOff {
            percent,
            cap,
            min_spend,
        } => format!(
            "{percent}% off up to {} yuan{}",
            cap.yuan_text(),
            if min_spend.get() > 0 {
                format!(" from {} yuan", min_spend.yuan_text())
            } else {
                String::new()
            }
        ),
    }
}

async fn coupon_create(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&[
        "title",
        "off",
        "percent",
        "cap",
        "min-spend",
        "valid-days",
        "valid-from",
        "valid-until",
        "total",
        "per-user",
        "claim-until",
        "category",
        "products",
    ])?;
    let id = promotion_id(&args)?;
    let min_spend = yuan(&args, "min-spend")?.unwrap_or(Fen::ZERO);
    let value = match (args.optional("off"), args.optional("percent")) {
        (Some(_), Some(_)) => {
            return Err(CliError::invalid(
                "percent",
                "give either --off or --percent, not both",
            ));
        }
        (Some(_), None) => {
            if args.optional("cap").is_some() {
                return Err(CliError::invalid(
                    "cap",
                    "only applies to --percent coupons",
                ));
            }
            CouponValue::AmountOff {
                off: required_yuan(&args, "off")?,
                min_spend,
            }
        }
        (None, Some(_)) => CouponValue::PercentOff {
            percent: required_number(&args, "percent")?,
            cap: required_yuan(&args, "cap")?,
            min_spend,
        },
        (None, None) => {
            return Err(CliError::invalid(
                "off",
                "give --off <yuan> or --percent <n> --cap <yuan>",
            ));
        }
    };
    let validity = match (
        number::<u32>(&args, "valid-days")?,
        time_option(&args, "valid-from", now)?,
        time_option(&args, "valid-until", now)?,
    ) {
        (Some(days), None, None) => Validity::DaysAfterClaim { days },
        (None, Some(from), Some(until)) => Validity::Dates { from, until },
        (None, None, Some(until)) => Validity::Dates { from: now, until },
        (Some(_), _, _) => {
            return Err(CliError::invalid(
                "valid-days",
                "give either --valid-days or --valid-from/--valid-until",
            ));
        }
        _ => {
            return Err(CliError::invalid(
                "valid-until",
                "give --valid-days <n> or --valid-until <time>",
            ));
        }
    };
    let template = CouponTemplate {
        id: id.clone(),
        title: args.optional("title").unwrap_or_default().to_string(),
        value,
        scope: scope(&args)?,
        validity,
        claim_until: time_option(&args, "claim-until", now)?,
        total_limit: required_number(&args, "total")?,
        per_user_limit: number(&args, "per-user")?.unwrap_or(1),
        issued: 0,
    };
    let saved = admin
        .promotions
        .save_coupon(template, &Actor::shopctl(), now)
        .await?;
    let template = saved.template;
    Ok(format!(
        "coupon {} {}: {} ({}), {}, {} in all, {} per shopper, for {}",
        template.id,
        if saved.created { "created" } else { "updated" },
        template.title,
        describe_value(&template.value),
        match template.validity {
            Validity::DaysAfterClaim { days } => format!("valid {days} days after claiming"),
            Validity::Dates { from, until } => format!(
                "valid {} to {}",
                domain::clock::rfc3339_shanghai(from),
                domain::clock::rfc3339_shanghai(until)
            ),
        },
        template.total_limit,
        template.per_user_limit,
        describe_scope(&template.scope),
    ))
}

async fn coupon_list(admin: &Admin) -> Result<String, CliError> {
    let templates = admin.marketing.templates().await?;
    if templates.is_empty() {
        return Ok("no coupons yet; create one with `shopctl coupon create`".into());
    }
    let mut out = String::new();
    for t in templates {
        let _ = writeln!(
            out,
            "{}  {}  {}  claimed {}/{}  (max {} per shopper)  {}",
            t.id,
            t.title,
            describe_value(&t.value),
            t.issued,
            t.total_limit,
            t.per_user_limit,
            describe_scope(&t.scope)
        );
    }
    Ok(out.trim_end().to_string())
}

fn parse_tiers(raw: &str) -> Result<Vec<Tier>, CliError> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|tier| {
            let (threshold, off) = tier.split_once('-').ok_or_else(|| {
                CliError::invalid(
                    "tiers",
                    format!("{tier:?} must be <over yuan>-<minus yuan>, like 199-20"),
                )
            })?;
            Ok(Tier {
                threshold: Fen::parse_yuan(threshold)
                    .map_err(|e| CliError::invalid("tiers", format!("{tier:?}: {e}")))?,
                off: Fen::parse_yuan(off)
                    .map_err(|e| CliError::invalid("tiers", format!("{tier:?}: {e}")))?,
            })
        })
        .collect()
}

/// "199" for 199.00 yuan, "19.90" otherwise: how prices read on a poster.
fn short_yuan(fen: Fen) -> String {
    let text = fen.yuan_text();
    text.strip_suffix(".00")
        .map_or(text.clone(), str::to_string)
}

fn describe_rules(rules: &PromotionRules) -> String {
    let mut out = String::new();
    if rules.full_reductions.is_empty() {
        out.push_str("full reductions: none\n");
    }
    for rule in &rules.full_reductions {
        let tiers: Vec<String> = rule
            .tiers
            .iter()
            .map(|t| format!("满{}减{}", short_yuan(t.threshold), short_yuan(t.off)))
            .collect();
        let _ = writeln!(
            out,
            "full reduction {}: {} on {}",
            rule.id,
            tiers.join(" / "),
            describe_scope(&rule.scope)
        );
    }
    let p = rules.points;
    let _ = write!(
        out,
        "points: {} points = {} yuan, at most {}% of the goods; delivered orders earn {} per yuan",
        p.points_per_unit,
        Fen::new(p.fen_per_unit).yuan_text(),
        p.max_share_percent,
        rules.points_earned_per_yuan
    );
    let invite = &rules.invite;
    let _ = write!(
        out,
        "\ninvites: {} points{} per invitee whose first order is kept, at most {} a day per inviter",
        invite.points,
        invite
            .coupon_template
            .as_ref()
            .map(|c| format!(" and the coupon {c}"))
            .unwrap_or_default(),
        invite.daily_cap
    );
    let c = rules.checkin;
    let _ = write!(
        out,
        "\ncheck-in: {} points a day, +{} per day in a row up to {} days",
        c.points, c.streak_bonus, c.streak_cap
    );
    out
}

async fn reduction_set(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["tiers", "category", "products"])?;
    let id = promotion_id(&args)?;
    let rule = FullReduction {
        id: id.to_string(),
        scope: scope(&args)?,
        tiers: parse_tiers(args.required("tiers")?)?,
    };
    let rules = admin
        .promotions
        .set_reduction(rule, &Actor::shopctl(), now)
        .await?;
    Ok(describe_rules(&rules))
}

async fn reduction_remove(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&[])?;
    let id = promotion_id(&args)?;
    let rules = admin
        .promotions
        .remove_reduction(&id, &Actor::shopctl(), now)
        .await?;
    Ok(describe_rules(&rules))
}

async fn points_policy(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["points-per-yuan", "max-share", "earn-per-yuan"])?;
    args.no_positionals()?;
    let policy = PointsPolicy {
        points_per_unit: required_number(&args, "points-per-yuan")?,
        fen_per_unit: 100,
        max_share_percent: required_number(&args, "max-share")?,
    };
    let earn = number::<u64>(&args, "earn-per-yuan")?;
    let rules = admin
        .promotions
        .set_points(policy, earn, &Actor::shopctl(), now)
        .await?;
    Ok(describe_rules(&rules))
}

fn sku_id(args: &Args) -> Result<SkuId, CliError> {
    let raw = args.single_positional("skuId")?;
    SkuId::parse(raw).map_err(|e| CliError::invalid("skuId", e))
}

/// A catalog desk refusal about `sku`, named as the merchant typed it.
fn on_sku(sku: &SkuId) -> impl Fn(app::catalog_desk::CatalogDeskError) -> CliError + '_ {
    move |e| match e {
        app::catalog_desk::CatalogDeskError::NotFound => {
            CliError::NotFound(format!("no SKU {sku}"))
        }
        other => other.into(),
    }
}

async fn flash_sale_set(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["price", "quota", "per-user", "starts", "ends"])?;
    let sku = sku_id(&args)?;
    let starts_at = time_option(&args, "starts", now)?
        .ok_or_else(|| CliError::invalid("starts", "is required"))?;
    let ends_at =
        time_option(&args, "ends", now)?.ok_or_else(|| CliError::invalid("ends", "is required"))?;
    let sale = FlashSale {
        starts_at,
        ends_at,
        price: required_yuan(&args, "price")?,
        quota: required_number(&args, "quota")?,
        sold: 0,
        per_user_limit: required_number(&args, "per-user")?,
    };
    let set = admin
        .catalog_desk
        .set_offer(
            &sku,
            &SkuOffer::FlashSale(sale.clone()),
            &Actor::shopctl(),
            now,
        )
        .await
        .map_err(on_sku(&sku))?;
    Ok(format!(
        "flash sale on {sku}: {} yuan (list {}), {} units, at most {} per shopper, {} to {}",
        sale.price.yuan_text(),
        set.price.yuan_text(),
        sale.quota,
        sale.per_user_limit,
        domain::clock::rfc3339_shanghai(starts_at),
        domain::clock::rfc3339_shanghai(ends_at)
    ))
}

async fn group_buy_set(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["size", "price", "hours"])?;
    let sku = sku_id(&args)?;
    let offer = GroupBuyOffer {
        group_size: required_number(&args, "size")?,
        price: required_yuan(&args, "price")?,
        time_limit_hours: required_number(&args, "hours")?,
    };
    let set = admin
        .catalog_desk
        .set_offer(
            &sku,
            &SkuOffer::GroupBuy(offer.clone()),
            &Actor::shopctl(),
            now,
        )
        .await
        .map_err(on_sku(&sku))?;
    Ok(format!(
        "group-buy on {sku}: {} people at {} yuan each (list {}), {} hours to fill",
        offer.group_size,
        offer.price.yuan_text(),
        set.price.yuan_text(),
        offer.time_limit_hours
    ))
}

async fn bargain_set(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["floor", "helpers", "hours"])?;
    let sku = sku_id(&args)?;
    let offer = domain::catalog::BargainOffer {
        floor_price: required_yuan(&args, "floor")?,
        max_helpers: required_number(&args, "helpers")?,
        time_limit_hours: required_number(&args, "hours")?,
    };
    let set = admin
        .catalog_desk
        .set_offer(
            &sku,
            &SkuOffer::Bargain(offer.clone()),
            &Actor::shopctl(),
            now,
        )
        .await
        .map_err(on_sku(&sku))?;
    Ok(format!(
        "bargain on {sku}: from {} down to {} yuan with {} friends' help, {} hours",
        set.price.yuan_text(),
        offer.floor_price.yuan_text(),
        offer.max_helpers,
        offer.time_limit_hours
    ))
}

async fn offer_end(
    admin: &Admin,
    args: Args,
    kind: OfferKind,
    now: i64,
) -> Result<String, CliError> {
    args.only(&[])?;
    let sku = sku_id(&args)?;
    admin
        .catalog_desk
        .end_offer(&sku, kind, &Actor::shopctl(), now)
        .await
        .map_err(on_sku(&sku))?;
    Ok(match kind {
        OfferKind::FlashSale => format!("flash sale on {sku} ended"),
        _ => format!(
            "{} offer on {sku} ended (groups and bargains already started run their course)",
            kind.attribute()
        ),
    })
}

async fn invite_policy(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["points", "daily-cap", "coupon"])?;
    args.no_positionals()?;
    let coupon_template = match args.optional("coupon") {
        None | Some("none") => None,
        Some(raw) => Some(PromotionId::parse(raw).map_err(|e| CliError::invalid("coupon", e))?),
    };
    let policy = domain::social::InvitePolicy {
        points: required_number(&args, "points")?,
        coupon_template,
        daily_cap: required_number(&args, "daily-cap")?,
    };
    let rules = admin
        .promotions
        .set_invite(policy, &Actor::shopctl(), now)
        .await?;
    Ok(describe_rules(&rules))
}

async fn checkin_policy(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["points", "streak-bonus", "streak-cap"])?;
    args.no_positionals()?;
    let policy = domain::social::CheckinPolicy {
        points: required_number(&args, "points")?,
        streak_bonus: required_number(&args, "streak-bonus")?,
        streak_cap: required_number(&args, "streak-cap")?,
    };
    let rules = admin
        .promotions
        .set_checkin(policy, &Actor::shopctl(), now)
        .await?;
    Ok(describe_rules(&rules))
}

async fn task_set(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&["title", "points", "daily-cap", "seconds", "starts", "ends"])?;
    let kind = args.single_positional("task")?;
    let number = |option: &str| {
        args.optional(option)
            .map(|raw| {
                raw.parse::<i64>()
                    .map_err(|_| CliError::invalid(option, "must be a whole number"))
            })
            .transpose()
    };
    // The draft takes RFC 3339, as the merchant API does; shopctl reads its friendlier times.
    let moment = |option: &str| -> Result<Option<String>, CliError> {
        time_option(&args, option, now)?
            .map(|t| {
                time::OffsetDateTime::from_unix_timestamp(t)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .ok_or_else(|| CliError::invalid(option, "is out of range"))
            })
            .transpose()
    };
    let draft = domain::tasks::TaskDraft {
        title: args.optional("title").map(str::to_string),
        points: number("points")?,
        daily_cap: number("daily-cap")?,
        seconds: number("seconds")?,
        starts_at: moment("starts")?,
        ends_at: moment("ends")?,
    };
    let task = admin
        .tasks
        .configure(kind, &draft, &Actor::shopctl(), now)
        .await?;
    Ok(describe_task(&task))
}

async fn task_list(admin: &Admin) -> Result<String, CliError> {
    let tasks = admin.tasks.tasks().await?;
    if tasks.is_empty() {
        return Ok("no points tasks set".into());
    }
    Ok(tasks
        .iter()
        .map(describe_task)
        .collect::<Vec<_>>()
        .join("\n"))
}

fn describe_task(task: &domain::tasks::Task) -> String {
    let points = match task.kind {
        domain::tasks::TaskKind::CheckIn => "points by the check-in policy".to_string(),
        _ => format!("{} points", task.points),
    };
    let seconds = task
        .seconds
        .map(|s| format!(", after {s} s on the page"))
        .unwrap_or_default();
    format!(
        "task {} ({}): {points}, {} a day{seconds}, {} to {}",
        task.kind.as_str(),
        task.title,
        task.daily_cap,
        domain::clock::china_day(task.starts_at),
        domain::clock::china_day(task.ends_at),
    )
}

/// The metric log `make dev` writes.
pub const DEV_METRICS_LOG: &str = ".local/dev-metrics.jsonl";

/// `shopctl funnel`: reads metric lines (EMF, as the functions write them) and prints the funnel
/// with each step's share of the one before, for a time window. Needs no tables.
pub fn funnel<S: AsRef<str>>(words: &[S], now: i64) -> Result<String, CliError> {
    let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
    let args = Args::parse(&words)?;
    args.only(&["log", "since", "from", "to"])?;
    args.no_positionals()?;
    let path = args.optional("log").unwrap_or(DEV_METRICS_LOG);
    let (from, to) = match (args.optional("since"), args.optional("from")) {
        (Some(_), Some(_)) => {
            return Err(CliError::invalid(
                "since",
                "give --since or --from/--to, not both",
            ));
        }
        (since, None) => {
            let since = since.unwrap_or("24h");
            let from = args::parse_time(&format!("now-{since}"), now)
                .map_err(|_| CliError::invalid("since", "must be like 30m, 2h or 7d"))?;
            (from, now + 1)
        }
        (None, Some(_)) => {
            let from = time_option(&args, "from", now)?.unwrap_or(now);
            let to = time_option(&args, "to", now)?.unwrap_or(now + 1);
            if to <= from {
                return Err(CliError::invalid("to", "must be after --from"));
            }
            (from, to)
        }
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError::NotFound(format!(
            "cannot read the metric log {path}: {e} (make dev writes it; or pass --log)"
        ))
    })?;
    let counted = Funnel::count(text.lines(), from * 1000, to * 1000);
    Ok(describe_funnel(&counted, from, to))
}

fn event_label(event: BusinessEvent) -> &'static str {
    match event {
        BusinessEvent::Visit => "visit",
        BusinessEvent::ProductViewed => "product viewed",
        BusinessEvent::CartAdd => "added to cart",
        BusinessEvent::Quote => "quote",
        BusinessEvent::OrderCreated => "order created",
        BusinessEvent::OrderPaid => "order paid",
        BusinessEvent::Shipped => "shipped",
        BusinessEvent::Delivered => "delivered",
        BusinessEvent::Refunded => "refunded",
        BusinessEvent::ShareOpened => "share opened",
        BusinessEvent::InviteRewarded => "invite rewarded",
        BusinessEvent::TaskCompleted => "task completed",
        BusinessEvent::MallRedeemed => "mall redeemed",
        BusinessEvent::LotteryDrawn => "lottery drawn",
    }
}

fn percent(tenths: u64) -> String {
    format!("{}.{}%", tenths / 10, tenths % 10)
}

pub fn describe_funnel(funnel: &Funnel, from: i64, to: i64) -> String {
    let mut out = format!(
        "funnel {} to {}\n",
        domain::clock::rfc3339_shanghai(from),
        domain::clock::rfc3339_shanghai(to)
    );
    let mut previous = "";
    for (step, n, share) in funnel.steps() {
        let _ = write!(out, "  {:<16} {n:>8}", event_label(step));
        if let Some(share) = share {
            let _ = write!(out, "   {:>6} of {previous}", percent(share));
        }
        out.push('\n');
        previous = event_label(step);
    }
    let _ = writeln!(
        out,
        "  revenue {} yuan; refunded {} ({} yuan); shares opened {}; invites rewarded {}",
        Fen::new(funnel.revenue).yuan_text(),
        funnel.of(BusinessEvent::Refunded),
        Fen::new(funnel.refunded).yuan_text(),
        funnel.of(BusinessEvent::ShareOpened),
        funnel.of(BusinessEvent::InviteRewarded)
    );
    let _ = writeln!(
        out,
        "  points issued {}, spent {}; tasks completed {}; mall redemptions {}; lottery draws {}",
        funnel.points_issued,
        funnel.points_spent,
        funnel.of(BusinessEvent::TaskCompleted),
        funnel.of(BusinessEvent::MallRedeemed),
        funnel.of(BusinessEvent::LotteryDrawn)
    );
    for (channel, counts) in &funnel.by_channel {
        let get = |e| counts.get(&e).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "  channel {channel}: viewed {}, ordered {}, paid {}",
            get(BusinessEvent::ProductViewed),
            get(BusinessEvent::OrderCreated),
            get(BusinessEvent::OrderPaid)
        );
    }
    out
}

fn level(args: &Args) -> Result<String, CliError> {
    domain::catalog::member_level(args.required("level")?)
        .map_err(|e| CliError::invalid("level", e.problem))
}

async fn member_price(admin: &Admin, args: Args, set: bool, now: i64) -> Result<String, CliError> {
    args.only(if set { &["level", "price"] } else { &["level"] })?;
    let sku = sku_id(&args)?;
    let level = level(&args)?;
    let price = if set {
        Some(required_yuan(&args, "price")?)
    } else {
        None
    };
    admin
        .catalog_desk
        .set_member_price(&sku, &level, price, &Actor::shopctl(), now)
        .await
        .map_err(on_sku(&sku))?;
    Ok(match price {
        Some(p) => format!("{sku}: {level} members pay {} yuan", p.yuan_text()),
        None => format!("{sku}: no {level} member price"),
    })
}

async fn member(admin: &Admin, args: Args, set: bool, now: i64) -> Result<String, CliError> {
    args.only(if set { &["level"] } else { &[] })?;
    let raw = args.single_positional("userId")?;
    let user = UserId::parse(raw).map_err(|e| CliError::invalid("userId", e))?;
    let level = if set { Some(level(&args)?) } else { None };
    admin
        .promotions
        .set_member_level(&user, level.as_deref(), &Actor::shopctl(), now)
        .await
        .map_err(|e| match e {
            app::promotion_desk::PromotionDeskError::NoSuchShopper => {
                CliError::NotFound(format!("no user {user}"))
            }
            other => other.into(),
        })?;
    Ok(match level {
        Some(l) => format!("user {user} is now a {l} member"),
        None => format!("user {user} is no longer a member"),
    })
}

async fn warehouse_set(admin: &Admin, args: Args, now: i64) -> Result<String, CliError> {
    args.only(&[
        "name",
        "courier",
        "priority",
        "provinces",
        "default",
        "sender-name",
        "sender-phone",
        "sender-address",
    ])?;
    let id = promotion_id(&args)?.to_string();
    let is_default = match args.optional("default") {
        None | Some("no") => false,
        Some("yes") => true,
        Some(_) => return Err(CliError::invalid("default", "must be yes or no")),
    };
    let text = |option: &str| args.required(option).map(str::to_string);
    let warehouse = Warehouse {
        id,
        name: text("name")?,
        provinces: args
            .optional("provinces")
            .unwrap_or("")
            .split([',', '，'])
            .map(str::to_string)
            .collect(),
        priority: required_number(&args, "priority")?,
        is_default,
        courier: text("courier")?,
        sender_name: text("sender-name")?,
        sender_phone: text("sender-phone")?,
        sender_address: text("sender-address")?,
    };
    let warehouse = admin
        .promotions
        .save_warehouse(warehouse, &Actor::shopctl(), now)
        .await?;
    Ok(format!(
        "warehouse {} ({}) ships with {} to {}{}",
        warehouse.id,
        warehouse.name,
        warehouse.courier,
        if warehouse.provinces.is_empty() {
            "-".to_string()
        } else {
            warehouse.provinces.join("、")
        },
        if warehouse.is_default {
            ", and everywhere no other warehouse serves"
        } else {
            ""
        }
    ))
}

async fn warehouse_list(admin: &Admin) -> Result<String, CliError> {
    let warehouses = admin.promotions.warehouses().await?;
    if warehouses.is_empty() {
        return Ok(
            "no warehouses yet: paid orders cannot ship until `shopctl warehouse set`".into(),
        );
    }
    Ok(warehouses
        .iter()
        .map(|w| {
            format!(
                "{}  {}  priority {}  {}  {}{}",
                w.id,
                w.name,
                w.priority,
                w.courier,
                w.provinces.join("、"),
                if w.is_default { "  (default)" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

async fn shipment_exceptions(admin: &Admin) -> Result<String, CliError> {
    let shipments = admin.shipments.exceptions().await?;
    if shipments.is_empty() {
        return Ok("no parcels in trouble".into());
    }
    Ok(shipments
        .iter()
        .filter_map(|s| {
            let e = s.exception.as_ref()?;
            Some(format!(
                "order {}  {} {}  {}: {}",
                s.order_id, s.company, s.number, e.state, e.context
            ))
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

async fn reviews_pending(admin: &Admin) -> Result<String, CliError> {
    let page = admin.reviews.awaiting_merchant(None, 50).await?;
    if page.items.is_empty() {
        return Ok("no reviews wait for you".into());
    }
    let mut said: Vec<String> = page
        .items
        .iter()
        .map(|r| {
            format!(
                "--product {} --order {} --sku {}  {}★  {} photo(s)  {}",
                r.product_id,
                r.order_id,
                r.sku_id,
                r.rating.stars(),
                r.photos.len(),
                r.text.chars().take(60).collect::<String>()
            )
        })
        .collect();
    if page.next.is_some() {
        said.push("(more: decide these first)".into());
    }
    Ok(said.join("\n"))
}

async fn review_decide(
    admin: &Admin,
    args: Args,
    approved: bool,
    now: i64,
) -> Result<String, CliError> {
    args.only(&["product", "order", "sku", "reason"])?;
    args.no_positionals()?;
    let key = ReviewKey {
        product_id: ProductId::parse(args.required("product")?)
            .map_err(|e| CliError::invalid("product", e))?,
        order_id: domain::ids::OrderId::parse(args.required("order")?)
            .map_err(|e| CliError::invalid("order", e))?,
        sku_id: SkuId::parse(args.required("sku")?).map_err(|e| CliError::invalid("sku", e))?,
    };
    let reason = args.optional("reason").unwrap_or("").trim();
    if approved && !reason.is_empty() {
        return Err(CliError::invalid("reason", "is only for a rejection"));
    }
    if reason.chars().count() > 100 {
        return Err(CliError::invalid(
            "reason",
            "must be at most 100 characters",
        ));
    }
    match app::reviews::decide_by_merchant(&admin.reviews, &key, approved, reason, now).await {
        Ok(review) => Ok(format!(
            "review of {} in order {}: {}",
            review.sku_id,
            review.order_id,
            review.state.as_str()
        )),
        Err(app::reviews::ReviewError::Store(e)) => Err(CliError::Store(e)),
        Err(e @ app::reviews::ReviewError::NotFound) => Err(CliError::NotFound(e.to_string())),
        Err(e) => Err(CliError::Failed(e.to_string())),
    }
}

async fn create_owner(admin: &Admin, name: &str, now: i64) -> Result<String, CliError> {
    match admin.staff.create_owner(name, now).await {
        Ok((owner, password, uri)) => Ok(format!(
            "owner {} ({})\n\
             one-time password (change it at the first sign-in): {password}\n\
             scan into an authenticator app; sign-ins need its code:\n{uri}",
            owner.username.as_str(),
            owner.id
        )),
        Err(app::staff::StaffError::Invalid(f)) => {
            Err(CliError::Usage(format!("the username {}", f.problem)))
        }
        Err(app::staff::StaffError::UsernameTaken) => {
            Err(CliError::Failed(format!("{name}: that username is taken")))
        }
        Err(app::staff::StaffError::Store(e)) => Err(CliError::Store(e)),
        Err(e) => Err(CliError::Failed(e.to_string())),
    }
}

async fn audit_verify(admin: &Admin, args: Args) -> Result<String, CliError> {
    args.only(&["day"])?;
    args.no_positionals()?;
    let day = domain::clock::parse_day(args.required("day")?)
        .map_err(|e| CliError::invalid("day", e.problem))?;
    let kept = admin.staff.audit.day(&day).await?;
    match domain::audit::verify_chain(
        &kept.records,
        kept.head.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
    ) {
        Ok(()) => Ok(format!(
            "{day}: {} records, the chain is intact",
            kept.records.len()
        )),
        Err(broken) => Err(CliError::Failed(format!(
            "{day}: the chain breaks at record {}: {broken}",
            broken.seq()
        ))),
    }
}

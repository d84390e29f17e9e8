//! `shopctl <command>`: see `shopctl help`. Answers on stdout; mistakes on stderr with exit 2.

use shopctl::{Admin, CliError, Tables, USAGE, run};
use std::io::Write;
use std::process::ExitCode;

fn table(name: &str) -> Result<String, String> {
    std::env::var(name)
        .map_err(|_| format!("{name} is not set: name the table (see `shopctl help`)"))
}

fn main() -> ExitCode {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let mut stderr = std::io::stderr().lock();
    // The funnel reads a metric log, not the tables.
    if words.first().map(String::as_str) == Some("funnel") {
        return match shopctl::funnel(&words[1..], domain::clock::now_epoch_seconds()) {
            Ok(said) => {
                let _ = writeln!(std::io::stdout(), "{said}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = writeln!(stderr, "{e}");
                ExitCode::from(e.exit_code())
            }
        };
    }
    let tables = (|| {
        Ok::<_, String>((
            table("CATALOG_TABLE")?,
            table("MARKETING_TABLE")?,
            table("USERS_TABLE")?,
            table("ORDERS_TABLE")?,
            table("REVIEWS_TABLE")?,
            table("STAFF_TABLE")?,
            table("AUDIT_TABLE")?,
        ))
    })();
    let (catalog, marketing, users, orders, reviews, staff, audit) = match tables {
        Ok(t) => t,
        Err(e) if words.is_empty() || words[0] == "help" => {
            let _ = writeln!(std::io::stdout(), "{USAGE}\n\n({e})");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = writeln!(stderr, "{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(stderr, "cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let config = store::aws_config().await;
        let admin = Admin::new(
            aws_sdk_dynamodb::Client::new(&config),
            &Tables {
                catalog: &catalog,
                marketing: &marketing,
                users: &users,
                orders: &orders,
                reviews: &reviews,
                staff: &staff,
                audit: &audit,
            },
        );
        let now = domain::clock::now_epoch_seconds();
        let answer = match words.as_slice() {
            // WeChat's server API, with the shop's settings and secret as a function reads them.
            [first, second, rest @ ..] if first == "wechat" && second == "paths" => {
                match edge::runtime::from_env().await {
                    Ok((settings, clients)) => {
                        match providers::wechat::WeChatApi::new(&settings, clients.http()) {
                            Ok(wechat) => {
                                shopctl::wechat_paths(&wechat, &admin.users, rest, now).await
                            }
                            Err(e) => Err(CliError::Failed(e.to_string())),
                        }
                    }
                    Err(e) => Err(CliError::Failed(e.to_string())),
                }
            }
            // Reads and seals shoppers' personal data: it needs the KMS key the functions use.
            [first, second] if first == "personal-data" && second == "seal" => {
                match (table("SHOPPING_TABLE"), std::env::var("PERSONAL_DATA_KEY_ID")) {
                    (Ok(shopping), Ok(key)) => {
                        match store::personal::PersonalDataKeys::from_config(&config, key) {
                            Ok(keys) => {
                                let client = aws_sdk_dynamodb::Client::new(&config);
                                shopctl::seal_personal_data(
                                    &store::orders::OrderStore::new(
                                        client.clone(),
                                        &orders,
                                        "",
                                        "",
                                        "",
                                    )
                                    .with_personal_data(keys.clone()),
                                    &store::shopping::ShoppingStore::new(client, shopping)
                                        .with_personal_data(keys),
                                )
                                .await
                            }
                            Err(problem) => Err(CliError::Failed(problem)),
                        }
                    }
                    (Err(e), _) => Err(CliError::Failed(e)),
                    (_, Err(_)) => Err(CliError::Failed(
                        "PERSONAL_DATA_KEY_ID is not set: name the KMS key (the stack's PersonalDataKey)".into(),
                    )),
                }
            }
            _ => run(&admin, &words, now).await,
        };
        match answer {
            Ok(answer) => {
                let _ = writeln!(std::io::stdout(), "{answer}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                let detail = match &err {
                    CliError::Store(e) => std::error::Error::source(e)
                        .map(|s| format!("{e}: {s}"))
                        .unwrap_or_else(|| e.to_string()),
                    other => other.to_string(),
                };
                let _ = writeln!(stderr, "{detail}");
                ExitCode::from(err.exit_code())
            }
        }
    })
}

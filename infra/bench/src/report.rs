//! Percentiles and the Markdown report.

use crate::proxy::Tally;
use crate::routes::Budget;
use crate::shop::Contention;
use std::fmt::Write as _;
use std::time::Duration;

pub const TARGET_COLD_START_MS: f64 = 20.0;
pub const TARGET_HANDLER_MS: f64 = 2.0;
pub const TARGET_RSS_MB: f64 = 40.0;
pub const TARGET_BINARY_MB: f64 = 8.0;

/// The nearest-rank percentile (`p` in 0..=100): always a value that was measured.
pub fn percentile(samples: &[Duration], p: u32) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (sorted.len() * p as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Per-function figures, shown on the function's first (main) row.
pub struct FunctionFigures {
    pub cold_p50: Duration,
    pub cold_p90: Duration,
    /// The same, configured as in AWS: the shop secret read from Secrets Manager.
    pub cold_with_secret_p50: Duration,
    pub first_event_p50: Duration,
    /// KMS calls per process over its cold start and first event, by action.
    pub kms_per_process: String,
    pub peak_rss_mb: f64,
    pub binary_mb: f64,
    /// What `file` says about the binary.
    pub file: String,
}

pub struct RouteRow {
    pub function: &'static str,
    pub route: &'static str,
    pub warm_p50: Duration,
    pub warm_p90: Duration,
    /// Median of the same emulator calls made from the bench; `None` for routes without any.
    pub emulator_p50: Option<Duration>,
    pub figures: Option<FunctionFigures>,
    pub aws: AwsCalls,
}

/// The AWS calls of a route's warm run, as the counting proxy saw them.
pub struct AwsCalls {
    pub requests: usize,
    pub tally: Tally,
    pub budget: Option<Budget>,
}

impl AwsCalls {
    /// Calls to `service` per request, and per request by action ("GetItem 1, PutItem 0.5").
    fn per_request(&self, service: &str) -> (f64, String) {
        let requests = self.requests.max(1) as f64;
        let mut total = 0.0;
        let mut actions = Vec::new();
        for ((s, action), calls) in &self.tally {
            if s == service {
                let each = *calls as f64 / requests;
                total += each;
                actions.push(format!("{action} {}", count(each)));
            }
        }
        (total, actions.join(", "))
    }
}

/// KMS calls in `tally` per process, by action ("GenerateDataKey 1"), or "0".
pub fn kms_calls(tally: &Tally, processes: usize) -> String {
    let each: Vec<String> = tally
        .iter()
        .filter(|((service, _), _)| service == "KMS")
        .map(|((_, action), calls)| {
            format!(
                "{action} {}",
                count(*calls as f64 / processes.max(1) as f64)
            )
        })
        .collect();
    if each.is_empty() {
        "0".into()
    } else {
        each.join(", ")
    }
}

/// A count per request: whole numbers as such, averages to two places.
fn count(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Calls per request with their actions, in bold when over `budget`.
fn calls_cell(total: f64, actions: &str, budget: Option<u32>) -> String {
    let total = match budget {
        Some(most) if total > f64::from(most) => format!("**{}**", count(total)),
        _ => count(total),
    };
    if actions.is_empty() {
        total
    } else {
        format!("{total} ({actions})")
    }
}

/// A number, in bold when it misses its target.
fn judged(value: f64, target: f64, decimals: usize) -> String {
    if value < target {
        format!("{value:.decimals$}")
    } else {
        format!("**{value:.decimals$}**")
    }
}

/// The report; `command` is Markdown already (code spans), `runs` says what was measured.
pub fn render(
    rows: &[RouteRow],
    contention: &Contention,
    date: &str,
    command: &str,
    runs: &str,
) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "# Function benchmark\n");
    let _ = writeln!(out, "- Date: {date}");
    let _ = writeln!(out, "- Command: {command}");
    let _ = writeln!(out, "- {runs}\n");
    let _ = writeln!(
        out,
        "| Function | Route | Cold start p50 / p90 (ms) | Cold start with SHOP_SECRET_ARN p50 (ms) \
         | First event p50 (ms) | KMS calls, cold start + first event | Warm p50 / p90 (ms) \
         | Emulator calls p50 (ms) | Handler p50 excl. emulator (ms) | Peak RSS (MB) | Binary (MB) |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let emulator = row.emulator_p50.unwrap_or_default();
        let handler = ms(row.warm_p50) - ms(emulator);
        let (cold, cold_secret, first, kms, rss, binary) = match &row.figures {
            Some(f) => (
                format!(
                    "{} / {:.1}",
                    judged(ms(f.cold_p50), TARGET_COLD_START_MS, 1),
                    ms(f.cold_p90)
                ),
                judged(ms(f.cold_with_secret_p50), TARGET_COLD_START_MS, 1),
                format!("{:.2}", ms(f.first_event_p50)),
                f.kms_per_process.clone(),
                judged(f.peak_rss_mb, TARGET_RSS_MB, 1),
                judged(f.binary_mb, TARGET_BINARY_MB, 2),
            ),
            None => (
                "″".into(),
                "″".into(),
                "″".into(),
                "″".into(),
                "″".into(),
                "″".into(),
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {cold} | {cold_secret} | {first} | {kms} | {:.2} / {:.2} | {} | {} | {rss} | {binary} |",
            row.function,
            row.route,
            ms(row.warm_p50),
            ms(row.warm_p90),
            row.emulator_p50
                .map_or_else(|| "–".to_string(), |e| format!("{:.2}", ms(e))),
            judged(handler, TARGET_HANDLER_MS, 2),
        );
    }
    let _ = writeln!(
        out,
        "\nTargets: cold start < {TARGET_COLD_START_MS} ms median; warm handler < {TARGET_HANDLER_MS} ms \
         median excluding emulator time; peak RSS < {TARGET_RSS_MB} MB; binary < {TARGET_BINARY_MB} MB. \
         Misses are in **bold**. MB = 2^20 bytes.\n"
    );
    let _ = writeln!(
        out,
        "- Cold start: process spawn to its first `GET /runtime/invocation/next` (config read, clients built). \
         With SHOP_SECRET_ARN: configured as in AWS, the same plus one GetSecretValue (to moto). \
         First event: the main route's first invocation after that; for a function that seals \
         personal data it includes the one GenerateDataKey (to moto's KMS) of its first seal, \
         counted per process in the KMS column."
    );
    let _ = writeln!(
        out,
        "- Warm: hand-out on `/next` to the posted `/response`, in one process after a warm-up. \
         Emulator calls: the same DynamoDB and SQS (moto) and WeChat sandbox calls the route makes, \
         timed from the bench; the handler column is the warm median minus that median."
    );
    let _ = writeln!(
        out,
        "- ″ = same process as the row above. Peak RSS: `VmHWM` after the warm run."
    );
    let _ = writeln!(
        out,
        "- Functions and replays reach moto through a proxy (below); its hop is in the warm \
         columns and cancels out of the handler column."
    );
    for row in rows {
        if let Some(f) = &row.figures {
            let _ = writeln!(out, "- `file` on {}: {}", row.function, f.file);
        }
    }
    render_aws_calls(&mut out, rows);
    render_contention(&mut out, contention);
    out
}

fn render_aws_calls(out: &mut String, rows: &[RouteRow]) {
    let _ = writeln!(out, "\n## AWS calls per request\n");
    let _ = writeln!(
        out,
        "| Function | Route | DynamoDB calls / request | SQS calls / request | Budget |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for row in rows {
        let (dynamodb, dynamodb_actions) = row.aws.per_request("DynamoDB");
        let (sqs, sqs_actions) = row.aws.per_request("SQS");
        let budget = row.aws.budget;
        let stated = budget.map_or_else(String::new, |b| {
            let mut stated = format!("DynamoDB ≤ {}", b.dynamodb);
            if let Some(sqs) = b.sqs {
                let _ = write!(stated, ", SQS ≤ {sqs}");
            }
            if !b.besides.is_empty() {
                let _ = write!(stated, " + {}", b.besides);
            }
            stated
        });
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {stated} |",
            row.function,
            row.route,
            calls_cell(dynamodb, &dynamodb_actions, budget.map(|b| b.dynamodb)),
            calls_cell(sqs, &sqs_actions, budget.and_then(|b| b.sqs)),
        );
    }
    let _ = writeln!(
        out,
        "\nCounted by a proxy between each function process and moto that forwards every request \
         unchanged and names it by `X-Amz-Target` (or the query protocol's `Action`); averaged \
         over each route's warm run, retries included. Calls to the WeChat sandboxes (login's \
         code2session, checkout's prepay) are not AWS calls and not counted. Over budget in **bold**."
    );
}

fn render_contention(out: &mut String, c: &Contention) {
    let seconds = c.elapsed.as_secs_f64();
    let _ = writeln!(out, "\n## Contended SKU: orders per second\n");
    let _ = writeln!(
        out,
        "| SKU | Clients in flight | Orders placed (all 201) | Wall time (s) | Orders / s | Stock before → after |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {seconds:.2} | {:.1} | {} → {} |",
        c.sku,
        c.clients,
        c.orders,
        c.orders as f64 / seconds.max(f64::EPSILON),
        c.stock_before,
        c.stock_after,
    );
    let _ = writeln!(
        out,
        "\n`POST /v1/orders` for one unit each, through the in-process gateway at `stack.api_url` \
         (the checkout handler in the bench's own process, not the release binary), with at most \
         {} requests in flight from {} shoppers. Every answer was checked (201, unpaid order) and \
         the stock fell by exactly the orders placed. moto serializes writes (the bench makes \
         sure: moto 5 fails concurrent TransactWriteItems, so the stack reaches it through a \
         proxy that lets one DynamoDB write through at a time), so this measures our code plus \
         the emulator, not DynamoDB.",
        c.clients, c.clients
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn kms_calls_are_counted_per_process_by_action() {
        let mut tally = Tally::new();
        tally.insert(("KMS".into(), "GenerateDataKey".into()), 40);
        tally.insert(("DynamoDB".into(), "GetItem".into()), 99);
        assert_eq!(kms_calls(&tally, 40), "GenerateDataKey 1");
        tally.insert(("KMS".into(), "Decrypt".into()), 10);
        assert_eq!(kms_calls(&tally, 40), "Decrypt 0.25, GenerateDataKey 1");
        assert_eq!(kms_calls(&Tally::new(), 40), "0");
    }

    #[test]
    fn nearest_rank_percentiles_pick_measured_values() {
        let samples = ms_list(&[9, 1, 8, 2, 7, 3, 6, 4, 5, 10]);
        assert_eq!(percentile(&samples, 50), Duration::from_millis(5));
        assert_eq!(percentile(&samples, 90), Duration::from_millis(9));
        assert_eq!(percentile(&samples, 100), Duration::from_millis(10));
        assert_eq!(percentile(&ms_list(&[4]), 90), Duration::from_millis(4));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn calls_are_averaged_per_request_by_service_and_judged_against_the_budget() {
        let calls = AwsCalls {
            requests: 2,
            tally: Tally::from([
                (("DynamoDB".into(), "GetItem".into()), 2),
                (("DynamoDB".into(), "TransactWriteItems".into()), 3),
                (("SQS".into(), "SendMessage".into()), 2),
            ]),
            budget: None,
        };
        let (dynamodb, actions) = calls.per_request("DynamoDB");
        assert_eq!(
            (dynamodb, actions.as_str()),
            (2.5, "GetItem 1, TransactWriteItems 1.50")
        );
        assert_eq!(
            calls_cell(dynamodb, &actions, Some(3)),
            "2.50 (GetItem 1, TransactWriteItems 1.50)"
        );
        assert_eq!(calls_cell(dynamodb, "", Some(2)), "**2.50**");
        assert_eq!(calls.per_request("S3"), (0.0, String::new()));
    }

    #[test]
    fn misses_are_bold() {
        assert_eq!(judged(1.5, 2.0, 1), "1.5");
        assert_eq!(judged(2.0, 2.0, 1), "**2.0**");
    }
}

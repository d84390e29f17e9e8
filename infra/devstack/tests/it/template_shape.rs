//! What cfn-lint does not check: the template's shape as this project requires it.

use serde_yaml::Value;

fn template() -> Value {
    serde_yaml::from_str(
        &std::fs::read_to_string(devstack::project_root().join("template.yaml")).unwrap(),
    )
    .unwrap()
}

fn resources_of(t: &Value, kind: &str) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(k, r)| (k.as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// Every statement of a function's inline policies.
fn statements(f: &Value) -> Vec<Value> {
    f["Properties"]["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|policy| {
            policy["Statement"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn tag(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => Some(t.tag.to_string().trim_start_matches('!').to_string()),
        _ => None,
    }
}

#[test]
fn every_function_is_an_arm64_rust_lambda_built_by_cargo_lambda() {
    let t = template();
    let globals = &t["Globals"]["Function"];
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let prop = |name: &str| {
            if f["Properties"][name].is_null() {
                globals[name].clone()
            } else {
                f["Properties"][name].clone()
            }
        };
        assert_eq!(prop("Runtime").as_str(), Some("provided.al2023"), "{id}");
        assert_eq!(prop("Handler").as_str(), Some("bootstrap"), "{id}");
        assert_eq!(prop("Architectures")[0].as_str(), Some("arm64"), "{id}");
        assert_eq!(prop("Tracing").as_str(), Some("Active"), "{id}: X-Ray");
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
        let binary = f["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} names no Binary"));
        let main = devstack::project_root().join(format!("functions/{binary}/src/main.rs"));
        assert!(main.exists(), "{id}: {} is missing", main.display());
    }
}

#[test]
fn tables_are_on_demand_with_point_in_time_recovery() {
    let t = template();
    let tables = resources_of(&t, "AWS::DynamoDB::Table");
    assert!(tables.len() >= 3);
    for (id, table) in tables {
        assert_eq!(
            table["Properties"]["BillingMode"].as_str(),
            Some("PAY_PER_REQUEST"),
            "{id}"
        );
        assert_eq!(
            table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
                .as_bool(),
            Some(true),
            "{id}"
        );
    }
}

#[test]
fn no_secret_is_in_a_functions_configuration_and_the_shop_secret_is_readable_where_named() {
    let t = template();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for (name, value) in &vars {
            let name = name.as_str().unwrap();
            assert!(
                !settings::SHOP_SECRET_KEYS.contains(&name),
                "{id}.{name} is a secret: functions read it from SHOP_SECRET_ARN"
            );
            assert!(
                !format!("{value:?}").contains("{{resolve:"),
                "{id}.{name}: a dynamic reference puts the value into the configuration"
            );
        }
        let names_secret = vars.get("SHOP_SECRET_ARN").is_some();
        if names_secret {
            assert_eq!(
                tag(&vars["SHOP_SECRET_ARN"]).as_deref(),
                Some("Ref"),
                "{id}: SHOP_SECRET_ARN is the ShopSecretArn parameter"
            );
            assert_eq!(
                vars["SHOP_SECRET_ARN"].as_str(),
                Some("ShopSecretArn"),
                "{id}"
            );
        }
        // GetSecretValue on the shop secret exactly where SHOP_SECRET_ARN is given, on nothing else.
        let mut may_read = false;
        for statement in statements(&f) {
            let actions = format!("{:?}", statement["Action"]);
            if actions.contains("secretsmanager:") {
                assert_eq!(
                    format!("{:?}", statement["Action"]),
                    format!(
                        "{:?}",
                        serde_yaml::from_str::<Value>("[secretsmanager:GetSecretValue]").unwrap()
                    ),
                    "{id}"
                );
                assert_eq!(tag(&statement["Resource"]).as_deref(), Some("Ref"), "{id}");
                assert!(
                    format!("{:?}", statement["Resource"]).contains("ShopSecretArn"),
                    "{id}: the shop secret only"
                );
                may_read = true;
            }
        }
        assert_eq!(
            may_read, names_secret,
            "{id}: GetSecretValue on ShopSecretArn if and only if it is given SHOP_SECRET_ARN"
        );
    }
}

#[test]
fn notify_urls_are_built_from_the_public_base_url_never_from_the_api_itself() {
    // A function routed on ShopApi that names ShopApi is a dependency cycle after the transform.
    let t = template();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for (name, value) in vars {
            let name = name.as_str().unwrap();
            if name.ends_with("_NOTIFY_URL") {
                assert_eq!(tag(&value).as_deref(), Some("Sub"), "{id}.{name}");
                let text = format!("{value:?}");
                assert!(text.contains("${PublicBaseUrl}/v1/"), "{id}.{name}: {text}");
                assert!(!text.contains("ShopApi"), "{id}.{name}: {text}");
            }
        }
    }
}

#[test]
fn policies_name_their_resources() {
    let t = template();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        for statement in statements(&f) {
            let text = format!("{:?}", statement["Resource"]);
            assert!(!text.contains("\"*\""), "{id} has a wildcard resource");
            assert!(
                !format!("{:?}", statement["Action"]).contains("dynamodb:*"),
                "{id} grants dynamodb:*"
            );
        }
    }
}

#[test]
fn the_media_bucket_is_private_and_forgets_unused_uploads() {
    let t = template();
    let buckets = resources_of(&t, "AWS::S3::Bucket");
    let (_, media) = buckets
        .iter()
        .find(|(name, _)| name == "MediaBucket")
        .expect("a MediaBucket");
    let block = &media["Properties"]["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], Value::Bool(true), "{setting}");
    }
    // The tag is the one the upload form sets and keeping a photo replaces.
    let unused = media["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|r| r["Id"] == "ExpireUnusedUploads")
        .expect("a rule for unused uploads");
    assert_eq!(unused["Status"], "Enabled");
    assert_eq!(unused["Prefix"], "uploads/");
    assert_eq!(unused["TagFilters"][0]["Key"], "media");
    assert_eq!(unused["TagFilters"][0]["Value"], "unused");
    assert!(store::media::UNUSED_TAGGING.contains("<Key>media</Key><Value>unused</Value>"));
    assert!(unused["ExpirationInDays"].as_u64().is_some_and(|d| d <= 7));
}

#[test]
fn only_the_functions_that_need_shoppers_personal_data_may_open_it_and_fewer_may_seal_it() {
    let t = template();
    let keys = resources_of(&t, "AWS::KMS::Key");
    let (_, key) = keys
        .iter()
        .find(|(name, _)| name == "PersonalDataKey")
        .expect("a PersonalDataKey");
    assert_eq!(key["Properties"]["EnableKeyRotation"], Value::Bool(true));
    assert_eq!(
        key["DeletionPolicy"], "Retain",
        "losing the key loses every sealed address"
    );

    let mut opening = Vec::new();
    let mut sealing = Vec::new();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let kms: Vec<Value> = statements(&f)
            .into_iter()
            .filter(|s| format!("{:?}", s["Action"]).contains("kms:"))
            .collect();
        let actions = format!("{:?}", kms.iter().map(|s| &s["Action"]).collect::<Vec<_>>());
        for statement in &kms {
            assert!(
                format!("{:?}", statement["Resource"]).contains("PersonalDataKey"),
                "{id}: KMS only on the personal data key"
            );
            assert_eq!(
                statement["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"],
                "shop-personal-data",
                "{id}: only data keys made for personal data"
            );
        }
        let named = !f["Properties"]["Environment"]["Variables"]["PERSONAL_DATA_KEY_ID"].is_null();
        assert_eq!(
            named,
            !kms.is_empty(),
            "{id}: the key named exactly where it may be used"
        );
        if actions.contains("kms:Decrypt") {
            opening.push(id.clone());
        }
        if actions.contains("kms:GenerateDataKey") {
            sealing.push(id);
        }
    }
    opening.sort();
    sealing.sort();
    // The shopper's own pages and privacy requests, the courier's label, and the merchant's
    // order pages (masked, or revealed with step-up).
    assert_eq!(
        opening,
        [
            "AdminFunction",
            "CheckoutFunction",
            "ExportsFunction",
            "FulfillmentFunction",
            "LoginFunction",
            "WeChatPushFunction"
        ]
    );
    assert_eq!(
        sealing,
        ["CheckoutFunction", "LoginFunction", "WeChatPushFunction"]
    );
}

#[test]
fn every_sqs_event_source_reports_partial_batch_failures() {
    let t = template();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        for (_, event) in f["Properties"]["Events"]
            .as_mapping()
            .cloned()
            .unwrap_or_default()
        {
            if event["Type"].as_str() == Some("SQS") {
                let types = format!("{:?}", event["Properties"]["FunctionResponseTypes"]);
                assert!(types.contains("\"ReportBatchItemFailures\""), "{id}");
            }
        }
    }
}

#[test]
fn consumed_queues_outlast_their_consumers_six_times_and_have_dead_letter_queues() {
    let t = template();
    let globals_timeout = t["Globals"]["Function"]["Timeout"].as_u64().unwrap_or(3);
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let timeout = f["Properties"]["Timeout"]
            .as_u64()
            .unwrap_or(globals_timeout);
        for (_, event) in f["Properties"]["Events"]
            .as_mapping()
            .cloned()
            .unwrap_or_default()
        {
            if event["Type"].as_str() != Some("SQS") {
                continue;
            }
            let queue_id = match &event["Properties"]["Queue"] {
                Value::Tagged(tagged) => tagged
                    .value
                    .as_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap()
                    .to_string(),
                other => panic!("{id}: queue must be !GetAtt Queue.Arn, got {other:?}"),
            };
            let queue = &t["Resources"][queue_id.as_str()]["Properties"];
            let visibility = queue["VisibilityTimeout"].as_u64().unwrap_or(30);
            assert!(
                visibility >= 6 * timeout,
                "{queue_id}: visibility {visibility}s < 6 x {id}'s {timeout}s"
            );
            assert_eq!(
                queue["RedrivePolicy"]["maxReceiveCount"].as_u64(),
                Some(5),
                "{queue_id} needs a DLQ after 5 receives"
            );
        }
    }
}

#[test]
fn the_dashboard_shows_the_funnel_every_function_and_every_dead_letter_queue() {
    let t = template();
    let dashboards = resources_of(&t, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let body = match &dashboards[0].1["Properties"]["DashboardBody"] {
        Value::Tagged(sub) => sub.value.as_str().unwrap().to_string(),
        other => panic!("DashboardBody must be a !Sub string, not {other:?}"),
    };
    let json: serde_json::Value = serde_json::from_str(&body).expect("the body is JSON");
    assert!(json["widgets"].as_array().unwrap().len() >= 6);
    for event in telemetry::metrics::FUNNEL_STEPS {
        assert!(
            body.contains(&format!("\"{}\"", event.metric())),
            "{}",
            event.metric()
        );
    }
    assert!(body.contains("\"Revenue\""));
    for (id, _) in resources_of(&t, "AWS::Serverless::Function") {
        assert!(
            body.contains(&format!("${{{id}}}")),
            "{id} has no duration/errors"
        );
    }
    for (id, q) in resources_of(&t, "AWS::SQS::Queue") {
        if q["Properties"]["RedrivePolicy"].is_null() {
            assert!(
                body.contains(&format!("${{{id}.QueueName}}")),
                "{id} depth not shown"
            );
        }
    }
    let alarms: Vec<String> = resources_of(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    for wanted in [
        "PaidToShippedBacklogAlarm",
        "PaymentWebhook5xxAlarm",
        "LogisticsWebhook5xxAlarm",
    ] {
        assert!(alarms.iter().any(|a| a == wanted), "{wanted}");
    }
}

/// The README's "Finding a route's code" rows: (first cell, code path, handler), backticks off.
fn readme_code_rows() -> Vec<(String, String, String)> {
    let readme = std::fs::read_to_string(devstack::project_root().join("README.md")).unwrap();
    let section = readme
        .split("### Finding a route's code")
        .nth(1)
        .expect("README has a \"Finding a route's code\" section");
    let section = section.split("\n#").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let unquote = |c: &str| c.split('`').nth(1).unwrap_or_default().to_string();
            (unquote(cells[0]), unquote(cells[1]), unquote(cells[2]))
        })
        .collect()
}

#[test]
fn the_readme_finds_every_route_and_queue_in_one_hop_from_the_template() {
    let template = devstack::template::Template::project().unwrap();
    let rows = readme_code_rows();
    let source = |path: &str| std::fs::read_to_string(devstack::project_root().join(path)).unwrap();
    let code_of = |f: &devstack::template::FunctionSpec| {
        format!("functions/{}/src/lib.rs", f.binary.as_deref().unwrap())
    };

    for function in &template.functions {
        for route in &function.routes {
            let key = route.key();
            let (_, code, handler) = rows
                .iter()
                .find(|(r, _, _)| *r == key)
                .unwrap_or_else(|| panic!("README: no row for {key}"));
            assert_eq!(*code, code_of(function), "README: {key}");
            let method = handler.split("::").nth(1).unwrap();
            // The match arm, on one line or (when rustfmt wraps it) in a block.
            let text = source(code);
            let arm = format!("\"{key}\" =>");
            let sends = text.find(&arm).is_some_and(|at| {
                let rest = text[at + arm.len()..].trim_start();
                let rest = rest.strip_prefix('{').unwrap_or(rest).trim_start();
                rest.starts_with(&format!("self.{method}("))
            });
            assert!(sends, "{code} does not send {key} to {handler}");
        }
        for queue in &function.queues {
            let (_, code, handler) = rows
                .iter()
                .find(|(r, _, _)| r == queue)
                .unwrap_or_else(|| panic!("README: no row for {queue}"));
            assert_eq!(*code, code_of(function), "README: {queue}");
            let method = handler.split("::").nth(1).unwrap();
            assert!(
                source(code).contains(&format!("self.{method}(m)")),
                "{code}: {handler} does not consume {queue}"
            );
        }
        if !function.log_groups.is_empty() {
            let (_, code, handler) = rows
                .iter()
                .find(|(r, _, _)| r.starts_with("{ $.Report"))
                .expect("README: no row for the report lines");
            assert_eq!(*code, code_of(function), "README: the report lines");
            let (kind, method) = handler.split_once("::").unwrap();
            assert!(
                source(code).contains(&format!("impl LogsFunction for {kind}"))
                    && source(code).contains(&format!("async fn {method}(")),
                "{code}: {handler} does not take the log lines"
            );
        }
    }
    let listed = template
        .functions
        .iter()
        .map(|f| f.routes.len() + f.queues.len() + usize::from(!f.log_groups.is_empty()))
        .sum::<usize>();
    assert_eq!(
        rows.len(),
        listed,
        "README lists a route or queue the template lacks"
    );
}

#[test]
fn every_functions_report_lines_reach_the_reports_consumer_and_only_it_adds_to_the_counters() {
    let t = template();
    let functions = resources_of(&t, "AWS::Serverless::Function");
    let (_, reports) = functions
        .iter()
        .find(|(id, _)| id == "ReportsFunction")
        .expect("a ReportsFunction");
    let (tag, version) = telemetry::metrics::REPORT_TAG;
    let pattern = format!("{{ $.{tag} = \"{version}\" }}");
    let subscribed: Vec<(String, String)> = reports["Properties"]["Events"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|e| e["Type"] == "CloudWatchLogs")
        .map(|e| {
            (
                tag_value(&e["Properties"]["LogGroupName"]),
                e["Properties"]["FilterPattern"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let log_group_of = |f: &Value| tag_value(&f["Properties"]["LoggingConfig"]["LogGroup"]);
    for (id, f) in &functions {
        let group = log_group_of(f);
        assert!(
            !group.is_empty(),
            "{id} logs to a log group of the template's"
        );
        let reached = subscribed.iter().any(|(g, p)| *g == group && *p == pattern);
        if id == "ReportsFunction" {
            assert!(!reached, "the consumer must not read its own lines");
        } else {
            assert!(
                reached,
                "{id}'s report lines are not subscribed with {pattern}"
            );
        }
        let writes = statements(f).iter().any(|st| {
            tag_value(&st["Resource"]).starts_with("ReportsTable")
                && st["Action"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .any(|a| a != "dynamodb:Query")
        });
        assert_eq!(
            writes,
            id == "ReportsFunction",
            "{id} and the report counters"
        );
    }
}

/// What a `!Ref` or `!GetAtt` names.
fn tag_value(v: &Value) -> String {
    match v {
        Value::Tagged(t) => t.value.as_str().unwrap_or_default().to_string(),
        _ => String::new(),
    }
}

#[test]
fn every_schedule_puts_a_message_the_deadlines_consumer_reads_on_its_queue() {
    let t = template();
    let rules = resources_of(&t, "AWS::Events::Rule");
    assert!(!rules.is_empty());
    for (id, rule) in rules {
        for target in rule["Properties"]["Targets"].as_sequence().unwrap() {
            assert_eq!(
                tag_value(&target["Arn"]),
                "DeadlinesQueue.Arn",
                "{id} targets the deadlines queue"
            );
            let input = target["Input"].as_str().unwrap();
            let parsed: Result<store::queue::DeadlineMessage, _> = serde_json::from_str(input);
            assert!(parsed.is_ok(), "{id}: {input} is not a deadline message");
        }
        let allowed = resources_of(&t, "AWS::SQS::QueuePolicy")
            .iter()
            .any(|(_, p)| {
                p["Properties"]["PolicyDocument"]["Statement"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .any(|st| {
                        tag_value(&st["Condition"]["ArnEquals"]["aws:SourceArn"])
                            == format!("{id}.Arn")
                    })
            });
        assert!(allowed, "no queue policy lets {id} send");
    }
}

/// The text of a `!Sub` (or a plain string).
fn sub_text(v: &Value) -> String {
    match v {
        Value::Tagged(t) => t.value.as_str().unwrap_or_default().to_string(),
        other => other.as_str().unwrap_or_default().to_string(),
    }
}

#[test]
fn the_shops_address_reads_only_product_images_and_the_console_from_private_buckets() {
    let t = template();
    let policies = resources_of(&t, "AWS::S3::BucketPolicy");
    // Each bucket grants CloudFront one prefix, for this stack's distribution only.
    for (policy, prefix) in [
        ("MediaBucketPolicy", "${MediaBucket.Arn}/uploads/catalog/*"),
        ("ConsoleBucketPolicy", "${ConsoleBucket.Arn}/console/*"),
    ] {
        let (_, p) = policies
            .iter()
            .find(|(name, _)| name == policy)
            .unwrap_or_else(|| panic!("a {policy}"));
        let statements = p["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap();
        assert_eq!(statements.len(), 1, "{policy}");
        let s = &statements[0];
        assert_eq!(s["Principal"]["Service"], "cloudfront.amazonaws.com");
        assert_eq!(s["Action"], "s3:GetObject");
        assert_eq!(sub_text(&s["Resource"]), prefix, "{policy}");
        assert!(
            sub_text(&s["Condition"]["StringEquals"]["AWS:SourceArn"])
                .ends_with(":distribution/${ShopCdn}"),
            "{policy}"
        );
    }
    let buckets = resources_of(&t, "AWS::S3::Bucket");
    let (_, console) = buckets.iter().find(|(n, _)| n == "ConsoleBucket").unwrap();
    assert_eq!(
        console["Properties"]["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"],
        Value::Bool(true)
    );
    // Every answer carries the console's security headers: no inline script, no framing, HSTS.
    let (_, cdn) = resources_of(&t, "AWS::CloudFront::Distribution")
        .into_iter()
        .find(|(n, _)| n == "ShopCdn")
        .expect("a ShopCdn distribution");
    let config = &cdn["Properties"]["DistributionConfig"];
    let behaviours = std::iter::once(&config["DefaultCacheBehavior"])
        .chain(config["CacheBehaviors"].as_sequence().unwrap());
    for b in behaviours {
        assert_eq!(b["ViewerProtocolPolicy"], "redirect-to-https");
        assert_eq!(tag(&b["ResponseHeadersPolicyId"]).as_deref(), Some("Ref"));
    }
    let (_, headers) = resources_of(&t, "AWS::CloudFront::ResponseHeadersPolicy")
        .into_iter()
        .find(|(n, _)| n == "ConsoleHeaders")
        .unwrap();
    let security = &headers["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    let csp = sub_text(&security["ContentSecurityPolicy"]["ContentSecurityPolicy"]);
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        security["StrictTransportSecurity"]["AccessControlMaxAgeSec"]
            .as_u64()
            .is_some_and(|s| s >= 31_536_000)
    );
    // Origins are reached through origin access control, never a public bucket website.
    for origin in config["Origins"].as_sequence().unwrap() {
        assert_eq!(
            tag(&origin["OriginAccessControlId"]).as_deref(),
            Some("GetAtt")
        );
    }
}

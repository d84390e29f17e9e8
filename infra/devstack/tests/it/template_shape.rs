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
fn secrets_are_resolved_at_deploy_time_never_written_in() {
    let t = template();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let vars = f["Properties"]["Environment"]["Variables"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        for (name, value) in vars {
            let name = name.as_str().unwrap();
            let secret = name.ends_with("SECRET")
                || name.ends_with("PRIVATE_KEY")
                || name.ends_with("APIV3_KEY")
                || name.ends_with("SALT")
                || name == "KUAIDI100_KEY";
            if secret {
                assert_eq!(
                    tag(&value).as_deref(),
                    Some("Sub"),
                    "{id}.{name} must be a !Sub resolve reference"
                );
                assert!(
                    value.as_str().is_some_and(|v| v.starts_with("{{resolve:")),
                    "{id}.{name}"
                );
            }
        }
    }
}

#[test]
fn policies_name_their_resources() {
    let t = template();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        for policy in f["Properties"]["Policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_default()
        {
            for statement in policy["Statement"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
            {
                let text = format!("{:?}", statement["Resource"]);
                assert!(!text.contains("\"*\""), "{id} has a wildcard resource");
                assert!(
                    !format!("{:?}", statement["Action"]).contains("dynamodb:*"),
                    "{id} grants dynamodb:*"
                );
            }
        }
    }
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
    for event in shared::metrics::FUNNEL_STEPS {
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

//! The API document and the template describe the same API: every route of template.yaml is an
//! operation of openapi.yaml and the other way round, and the document holds together.

use crate::support::TestShop;
use serde_json::Value;
use std::collections::BTreeSet;

fn document() -> Value {
    serde_yaml::from_str(
        &std::fs::read_to_string(devstack::project_root().join("openapi.yaml")).unwrap(),
    )
    .unwrap()
}

#[test]
fn the_document_and_the_template_have_the_same_routes() {
    let doc = document();
    let documented: BTreeSet<String> = devstack::docs::operations(&doc)
        .into_iter()
        .map(|(method, path, _)| format!("{method} {path}"))
        .collect();
    let template = devstack::template::Template::project().unwrap();
    let deployed: BTreeSet<String> = template.routes().map(|(_, r)| r.key()).collect();

    let undocumented: Vec<&String> = deployed.difference(&documented).collect();
    let unrouted: Vec<&String> = documented.difference(&deployed).collect();
    assert!(
        undocumented.is_empty(),
        "in template.yaml, not in openapi.yaml: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "in openapi.yaml, not in template.yaml: {unrouted:?}"
    );
}

/// Every `$ref` in the document names something it defines.
fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.trim_start_matches('#');
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    for (method, path, op) in devstack::docs::operations(&doc) {
        assert!(
            op["operationId"].is_string(),
            "{method} {path}: operationId"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}"
        );
        for placeholder in path.split('/').filter(|s| s.starts_with('{')) {
            let name = placeholder.trim_matches(|c| c == '{' || c == '}');
            let declared = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    let p = match p.get("$ref").and_then(Value::as_str) {
                        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
                        None => p,
                    };
                    p["name"] == name && p["in"] == "path"
                })
            });
            assert!(declared, "{method} {path}: path parameter {name}");
        }
    }
    // Amounts are integer fen everywhere.
    assert_eq!(doc["components"]["schemas"]["Fen"]["type"], "integer");
}

#[tokio::test]
async fn the_gateway_serves_the_document_and_its_page() {
    let shop = TestShop::with_settings(Default::default()).await;
    let page = shop.get("/docs").await;
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains("POST</span> /v1/orders"));
    let yaml = shop.get("/openapi.yaml").await;
    assert_eq!(
        yaml.text,
        std::fs::read_to_string(devstack::project_root().join("openapi.yaml")).unwrap()
    );
    let json = shop.get("/openapi.json").await;
    assert_eq!(json.body["openapi"], "3.1.0");
}

//! Every sample event in events/ (the files `sam local invoke -e` takes) goes through its
//! function's handler against the emulator and must succeed.

use crate::support::TestShop;
use shared::api::ApiRequest;
use shared::runtime::HttpFunction;
use std::path::PathBuf;
use std::sync::Arc;

const TOKEN_PLACEHOLDER: &str = "REPLACE_WITH_A_TOKEN_FROM_LOGIN";

fn event_files() -> Vec<PathBuf> {
    let dir = devstack::project_root().join("events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn route_of(file: &PathBuf) -> String {
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    event["routeKey"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn every_sample_event_succeeds_through_its_handler() {
    let shop = TestShop::start().await;
    let (token, _) = shop.login("events-setup.1").await;
    let files = event_files();
    assert!(!files.is_empty());

    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace(TOKEN_PLACEHOLDER, &token);
        let event: ApiRequest =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let route = route_of(&file);
        let function = shop
            .stack
            .template
            .routes()
            .find(|(_, r)| r.key() == route)
            .map(|(f, _)| f.logical_id.clone())
            .unwrap_or_else(|| panic!("{}: route {route} is not in template.yaml", file.display()));
        let handler: Arc<dyn HttpFunction> = match function.as_str() {
            "LoginFunction" => shop.stack.login.clone(),
            "BrowseFunction" => shop.stack.browse.clone(),
            "CheckoutFunction" => shop.stack.checkout.clone(),
            "PayNotifyFunction" => shop.stack.pay_notify.clone(),
            other => panic!("no handler for {other}"),
        };

        let response = handler.handle(event).await;

        assert!(
            (200..300).contains(&response.status_code),
            "{}: {} {:?}",
            file.display(),
            response.status_code,
            response.body
        );
    }
}

#[tokio::test]
async fn every_route_in_the_template_has_a_sample_event() {
    let template = devstack::template::Template::project().unwrap();
    let covered: Vec<String> = event_files().iter().map(route_of).collect();

    for (_, route) in template.routes() {
        assert!(
            covered.contains(&route.key()),
            "events/ has no sample for {}",
            route.key()
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::runtime::run_http(logistics_hook::LogisticsHook::from_env()).await
}

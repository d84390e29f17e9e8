#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::runtime::run_http(pay_notify::PayNotify::from_env()).await
}

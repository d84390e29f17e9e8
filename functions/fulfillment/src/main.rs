#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::runtime::run_sqs(fulfillment::Fulfillment::from_env()).await
}

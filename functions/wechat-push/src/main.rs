#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    edge::runtime::run_http(wechat_push::WeChatPush::from_env()).await
}

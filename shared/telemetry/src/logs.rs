//! Logs: JSON lines through `tracing`, one span per request carrying its request id.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once per cold start. `RUST_LOG` overrides the default level.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .try_init();
}

//! Logs go to stderr through `tracing`; stdout is kept for the platform's
//! `FC Invoke Start/End` lines and one-shot results.

/// Installs the process-wide subscriber once. `RUST_LOG` sets the filter
/// (default `info`); `FC_LOG_FORMAT=json` switches to one JSON object per line.
pub fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = if std::env::var("FC_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    // Already installed by the embedding program: keep theirs.
    let _ = result;
}

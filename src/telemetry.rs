//! Logging: `tracing` to stderr, as text or JSON lines.
//!
//! What may be logged: service ids, hookInstance, card uuids, rule ids, counts, timings, client
//! issuers. Never tokens, JWTs, resource bodies, patient identifiers or free text from clinicians.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).map_err(|error| anyhow::anyhow!("invalid log filter `{filter}`: {error}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    let result = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init(),
    };
    result.map_err(|error| anyhow::anyhow!("cannot start logging: {error}"))
}

//! The composition root: builds the parts from the configuration and runs the commands.
//! Start-up problems end here as `anyhow` errors with context; nothing below this module uses anyhow.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use time::OffsetDateTime;

use crate::audit::{self, FeedbackFact, PatientKey};
use crate::auth::{Profile, ReplayStore, Trust, TrustSettings};
use crate::config::{
    AuditArgs, AuditCommand, ClinicalArgs, DemoCommand, EvaluateArgs, FeedbackCommand, GatherArgs, ReportArgs,
    ReportFormat, ServeArgs, StorageArgs,
};
use crate::feedback_store::{AuditStore, FeedbackStore, PostgresStore, SqliteFeedbackStore};
use crate::gather::{self, GatherSettings, Gatherer};
use crate::http::{self, AppState, ConnectionSettings, CorsOrigins, HttpSettings};
use crate::pipeline::{self, Deps};
use dvt_cds_core::cards;
use dvt_cds_core::cds_hooks::Discovery;
use dvt_cds_core::knowledge::KnowledgeBase;

/// The discovery document, embedded so the binary runs from anywhere.
pub const DISCOVERY_JSON: &str = include_str!("../cds-services.json");

/// Parses and checks the embedded discovery document; the service does not start without it.
pub fn discovery() -> anyhow::Result<Discovery> {
    let discovery = Discovery::parse(DISCOVERY_JSON).context("cds-services.json is invalid")?;
    gather::check_discovery(&discovery).context("cds-services.json does not fit what gathering reads")?;
    Ok(discovery)
}

/// `dvt-cds serve`: runs until SIGTERM or Ctrl-C, then finishes in-flight requests and closes the store.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // The handlers first: a SIGTERM that arrives once the service says it listens must stop it cleanly,
    // not kill it with the default action.
    let shutdown = shutdown_signal()?;
    let running = start(args).await?;
    shutdown.await;
    running.stop().await
}

/// A service listening on its socket.
pub struct Running {
    address: SocketAddr,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops taking connections, lets in-flight requests finish, and closes the feedback store.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        self.task.await.context("the server task failed")?
    }
}

/// Builds every part from `args`, binds, and starts serving in the background.
pub async fn start(args: ServeArgs) -> anyhow::Result<Running> {
    let discovery = discovery()?;
    let trust_settings = trust_settings(&args)?;
    trust_settings.check_bind(args.bind)?;
    let cors = cors_origins(&args.cors_origins)?;
    let Stores { feedback: store, replay, audit: audit_store } = open_stores(&args.storage).await?;
    let audit = audit_settings(&args.audit, audit_store, &args.clinical.thresholds)?;
    purge_audit_now_and_then(Arc::clone(&audit.store), args.audit.audit_retention);
    match &args.storage.database_url {
        Some(url) => {
            tracing::info!(database = %url.location(), "feedback, the audit and the jti replay cache are in PostgreSQL");
        }
        None => tracing::info!(
            database = %args.storage.feedback_db().display(),
            "feedback and the audit are in SQLite, the jti replay cache in memory: one instance only"
        ),
    }

    let listener =
        tokio::net::TcpListener::bind(args.bind).await.with_context(|| format!("cannot listen on {}", args.bind))?;
    let address = listener.local_addr().context("cannot read the listening address")?;
    if !address.ip().is_loopback() {
        tracing::warn!(%address, "listening beyond loopback: put TLS in front of this service");
    }
    if let Some(now) = args.now {
        tracing::warn!(%now, "the clock is frozen: every request is evaluated at this instant");
    }
    let trust = match replay {
        Some(replay) => Trust::with_replay_store(trust_settings, address, replay)?,
        None => Trust::new(trust_settings, address)?,
    };
    log_trust(&trust);
    let settings = HttpSettings {
        max_body_bytes: args.max_body_bytes,
        request_timeout: args.request_timeout,
        max_evaluations: match args.max_evaluations {
            Some(limit) => usize::try_from(limit).context("--max-evaluations is too large")?,
            None => http::default_max_evaluations(),
        },
        cors,
        frozen_now: args.now,
        trust: Arc::new(trust),
    };
    let state_max_evaluations = settings.max_evaluations;
    let state =
        AppState::with_audit(discovery, deps(&args.gather, &args.clinical)?, Arc::clone(&store), settings, Some(audit));
    let connections = ConnectionSettings {
        max_connections: match args.max_connections {
            Some(limit) => usize::try_from(limit).context("--max-connections is too large")?,
            None => http::default_max_connections(),
        },
        header_read_timeout: args.header_read_timeout,
        shutdown_grace: args.shutdown_grace,
    };
    tracing::info!(
        max_connections = connections.max_connections,
        max_evaluations = state_max_evaluations,
        "connections and evaluations are limited"
    );
    tracing::info!(discovery = %format!("http://{address}/cds-services"), "listening on http://{address}");

    let (shutdown, shutdown_requested) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = shutdown_requested.await;
        };
        http::serve(listener, http::router(state), connections, stopped).await.context("the server failed")?;
        tracing::info!("stopped taking requests; closing the feedback store");
        store.close().await.context("cannot close the feedback store")?;
        tracing::info!("stopped");
        Ok(())
    });
    Ok(Running { address, shutdown, task })
}

/// Where state lives: PostgreSQL when `--database-url` is given (feedback and the shared replay
/// cache), otherwise SQLite under the data directory (feedback) and memory (the replay cache).
struct Stores {
    feedback: Arc<dyn FeedbackStore>,
    /// `None`: the in-memory cache of this instance.
    replay: Option<Arc<dyn ReplayStore>>,
    audit: Arc<dyn AuditStore>,
}

async fn open_stores(storage: &StorageArgs) -> anyhow::Result<Stores> {
    if let Some(url) = &storage.database_url {
        url.check().map_err(anyhow::Error::msg)?;
        let location = url.location();
        let store = PostgresStore::connect(url.as_str())
            .await
            .with_context(|| format!("cannot open the PostgreSQL database at {location}"))?;
        let store = Arc::new(store);
        return Ok(Stores {
            feedback: Arc::clone(&store) as Arc<dyn FeedbackStore>,
            replay: Some(Arc::clone(&store) as Arc<dyn ReplayStore>),
            audit: store,
        });
    }
    let feedback_db = storage.feedback_db();
    let store = SqliteFeedbackStore::open(&feedback_db)
        .with_context(|| format!("cannot open the feedback database `{}`", feedback_db.display()))?;
    let store = Arc::new(store);
    Ok(Stores { feedback: Arc::clone(&store) as Arc<dyn FeedbackStore>, replay: None, audit: store })
}

/// `sha256:` and 16 hex digits of the knowledge files and the configured thresholds: two decisions
/// with the same version were made with the same criteria.
fn knowledge_version(thresholds: &[(String, f64)]) -> String {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    for file in dvt_cds_core::knowledge::embedded_texts() {
        digest.update(u64::try_from(file.len()).unwrap_or(u64::MAX).to_le_bytes());
        digest.update(file.as_bytes());
    }
    for (id, value) in thresholds {
        digest.update(format!("{id}={value}\n").as_bytes());
    }
    let hex: String = digest.finalize().iter().take(8).map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

fn audit_settings(
    args: &AuditArgs,
    store: Arc<dyn AuditStore>,
    thresholds: &[(String, f64)],
) -> anyhow::Result<http::Audit> {
    let key = match &args.audit_key_file {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read the audit key `{}`", path.display()))?;
            let key = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            Some(PatientKey::new(key).with_context(|| format!("the audit key `{}` is too short", path.display()))?)
        }
        None => {
            tracing::warn!("no --audit-key-file: the decision audit records no patient");
            None
        }
    };
    Ok(http::Audit { store, key, knowledge_version: knowledge_version(thresholds) })
}

/// Deletes audit entries older than `retention` now, then hourly; `0s` keeps everything.
fn purge_audit_now_and_then(store: Arc<dyn AuditStore>, retention: std::time::Duration) {
    if retention.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            let now = OffsetDateTime::now_utc();
            let before = now.replace_nanosecond(0).unwrap_or(now) - retention;
            match store.purge_audit(before).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "audit entries past their retention deleted"),
                Err(error) => tracing::warn!(error = %error, "cannot delete audit entries past their retention"),
            }
        }
    });
}

/// The trust configuration: the `--config` file, or the development profile; then `--public-base-url`.
fn trust_settings(args: &ServeArgs) -> anyhow::Result<TrustSettings> {
    let settings = match &args.config {
        Some(path) => TrustSettings::load(path)?,
        None => TrustSettings::development()?,
    };
    Ok(match &args.public_base_url {
        Some(url) => settings.with_public_base_url(url)?,
        None => settings,
    })
}

fn log_trust(trust: &Trust) {
    let profile = trust.profile().as_str();
    let tokens = if trust.token_required(crate::auth::Endpoint::Service) { "required" } else { "optional" };
    tracing::info!(profile, tokens, issuers = trust.issuer_count(), "client tokens are verified");
    if trust.profile() == Profile::Production && trust.issuer_count() == 0 {
        tracing::warn!(
            "production profile with no trusted issuer: every token is refused, so every service call is a 401; \
             add an [[issuers]] entry to the trust configuration"
        );
    }
    if trust.profile() == Profile::Sandbox {
        tracing::warn!(
            "sandbox profile: TEST ONLY, the sandbox's private key is public and anyone can mint its tokens"
        );
    }
}

/// What evaluation needs: the knowledge with the configured thresholds, and the FHIR client.
fn deps(gather: &GatherArgs, clinical: &ClinicalArgs) -> anyhow::Result<Deps> {
    let knowledge = KnowledgeBase::embedded_with(&clinical.thresholds).context("the knowledge base is invalid")?;
    let settings = GatherSettings {
        deadline: gather.fhir_deadline,
        max_pages: usize::try_from(gather.fhir_max_pages).context("--fhir-max-pages is too large")?,
        max_response_bytes: gather.fhir_max_response_bytes,
        max_total_bytes: gather.fhir_max_total_bytes,
        run_ahead_ttl: gather.run_ahead_ttl,
    };
    let zone = dvt_cds_core::evidence::DayZone::named(&clinical.time_zone)
        .with_context(|| format!("--time-zone `{}` is not an IANA time zone name", clinical.time_zone))?;
    Ok(Deps::new(knowledge, Gatherer::new(settings)?).in_zone(zone))
}

fn cors_origins(values: &[String]) -> anyhow::Result<CorsOrigins> {
    if values.iter().any(|value| value == "*") {
        return Ok(CorsOrigins::Any);
    }
    let mut origins = Vec::new();
    let mut loopback = false;
    for value in values.iter().map(|value| value.trim()).filter(|value| !value.is_empty()) {
        if value == "loopback" {
            loopback = true;
            continue;
        }
        let url = url::Url::parse(value).with_context(|| format!("CORS origin `{value}` is not a URL"))?;
        if url.path() != "/" || url.query().is_some() || !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("CORS origin `{value}` must be scheme://host[:port] only");
        }
        origins.push(value.trim_end_matches('/').to_owned());
    }
    Ok(CorsOrigins::List { origins, loopback })
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). Both handlers are installed when this is called, not
/// when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        tracing::info!("shutdown requested");
    })
}

/// `dvt-cds evaluate`: the same checks and pipeline as the HTTP route, on a request from a file.
pub async fn evaluate(args: EvaluateArgs) -> anyhow::Result<()> {
    let discovery = discovery()?;
    let body = if args.request.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut body).context("cannot read the request from stdin")?;
        body
    } else {
        std::fs::read(&args.request).with_context(|| format!("cannot read `{}`", args.request.display()))?
    };
    let service = match &args.service {
        Some(id) => discovery.find(id).with_context(|| format!("no service with id `{id}`"))?,
        None => {
            // The `hook` alone: the rest is skipped, not built (a whole `Value` costs ten times the body).
            #[derive(serde::Deserialize)]
            struct HookOnly {
                hook: Option<String>,
            }
            let hook = serde_json::from_slice::<HookOnly>(&body)
                .ok()
                .and_then(|request| request.hook)
                .context("the request is not JSON with a `hook`")?;
            discovery
                .services()
                .iter()
                .find(|service| service.hook().as_str() == hook)
                .with_context(|| format!("no service serves hook `{hook}`"))?
        }
    };
    // The route's checks, with the allow-list of the same trust configuration (no client is verified
    // here, so the global list applies).
    let trust = match &args.config {
        Some(path) => TrustSettings::load(path)?,
        None => TrustSettings::development()?,
    };
    let request = pipeline::admit(service, &body, &trust.fhir_servers, None)?;
    let now = args.now.unwrap_or_else(OffsetDateTime::now_utc);
    let deps = deps(&args.gather, &args.clinical)?;
    let mut stdout = std::io::stdout().lock();
    if args.explain {
        let evaluation = pipeline::assess(service, &request, &deps, now).await?;
        let explained = cards::explain(&evaluation.assessment).context("cannot word the assessment")?;
        serde_json::to_writer_pretty(&mut stdout, &explained).context("cannot write the assessment")?;
    } else {
        let response = pipeline::evaluate(service, &request, &deps, now, pipeline::Deadline::NONE).await?;
        serde_json::to_writer_pretty(&mut stdout, &response).context("cannot write the response")?;
    }
    writeln!(stdout).context("cannot write the response")?;
    Ok(())
}

/// `dvt-cds feedback list`.
pub async fn feedback(command: FeedbackCommand) -> anyhow::Result<()> {
    let FeedbackCommand::List { storage, limit } = command;
    let store = open_existing(&storage).await?.feedback;
    let rows = store.recent(limit).await?;
    let mut stdout = std::io::stdout().lock();
    for row in rows {
        serde_json::to_writer(&mut stdout, &row).context("cannot write feedback")?;
        writeln!(stdout).context("cannot write feedback")?;
    }
    store.close().await?;
    Ok(())
}

/// `dvt-cds audit list`.
pub async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List { storage, since, limit } = command;
    let stores = open_existing(&storage).await?;
    let entries = stores.audit.audit(since, limit).await?;
    let mut stdout = std::io::stdout().lock();
    for entry in entries {
        serde_json::to_writer(&mut stdout, &entry).context("cannot write the audit")?;
        writeln!(stdout).context("cannot write the audit")?;
    }
    stores.feedback.close().await?;
    Ok(())
}

/// Most audit entries and feedback items one report reads.
const REPORT_LIMIT: usize = 1_000_000;

/// `dvt-cds report`.
pub async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let stores = open_existing(&args.storage).await?;
    let entries = stores.audit.audit(args.since, REPORT_LIMIT).await?;
    let since_text =
        args.since.map(|since| since.format(&time::format_description::well_known::Rfc3339)).transpose()?;
    let feedback: Vec<FeedbackFact> = stores
        .feedback
        .recent(REPORT_LIMIT)
        .await?
        .into_iter()
        .filter(|row| since_text.as_deref().is_none_or(|since| row.received_at.as_str() >= since))
        .map(|row| FeedbackFact {
            card: row.card,
            outcome: row.outcome,
            override_reason: row.override_reason_code.or(row.override_reason_display),
        })
        .collect();
    stores.feedback.close().await?;
    let format = match args.format {
        ReportFormat::Text => audit::Format::Text,
        ReportFormat::Json => audit::Format::Json,
        ReportFormat::Html => audit::Format::Html,
    };
    let text = audit::report(&entries, &feedback, since_text).render(format).context("cannot write the report")?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).context("cannot write the report")?;
    if !text.ends_with('\n') {
        writeln!(stdout).context("cannot write the report")?;
    }
    Ok(())
}

/// The stores of a service that has run: SQLite must exist already (reading never creates it).
async fn open_existing(storage: &StorageArgs) -> anyhow::Result<Stores> {
    let path = storage.feedback_db();
    if storage.database_url.is_none() && !path.exists() {
        anyhow::bail!("no database at `{}`", path.display());
    }
    open_stores(storage).await
}

/// `dvt-cds demo load`: uploads the demo patients and prints `patient-id<TAB>scenario` for each.
pub async fn demo(command: DemoCommand) -> anyhow::Result<()> {
    let DemoCommand::Load { fhir_server } = command;
    let gatherer = Gatherer::new(GatherSettings::default())?;
    let loaded = gather::load_demo(&gatherer, &fhir_server)
        .await
        .with_context(|| format!("cannot load the demo patients into `{fhir_server}`"))?;
    let mut stdout = std::io::stdout().lock();
    for patient in loaded {
        writeln!(stdout, "{}\t{}", patient.patient_id, patient.scenario).context("cannot write the patient ids")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_discovery_document_is_valid() {
        let discovery = discovery().unwrap();
        let ids: Vec<&str> = discovery.services().iter().map(|service| service.id().as_str()).collect();
        assert_eq!(ids, ["dvt-order-select", "dvt-order-sign", "dvt-patient-view"]);
    }

    #[test]
    fn the_observation_query_asks_for_every_code_the_knowledge_reads() {
        let discovery = discovery().unwrap();
        let knowledge = dvt_cds_core::knowledge::KnowledgeBase::embedded().unwrap();
        for service in discovery.services() {
            let (_, template) = service.prefetch().iter().find(|(key, _)| key == "observations").unwrap();
            let query = template.as_str().split_once("&code=").unwrap().1;
            let mut asked: Vec<String> = query
                .split('&')
                .next()
                .unwrap()
                .split(',')
                .map(|token| token.strip_prefix("http://loinc.org|").unwrap().to_owned())
                .collect();
            asked.sort();
            assert_eq!(asked, knowledge.observation_codes(), "{}", service.id());
        }
    }

    #[test]
    fn the_knowledge_version_covers_every_knowledge_file_and_the_thresholds() {
        fn files(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files(&path, out);
                } else if path.extension().is_some_and(|ext| ext == "toml") {
                    out.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let mut on_disk = Vec::new();
        files(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge"), &mut on_disk);
        on_disk.sort();
        let mut embedded = dvt_cds_core::knowledge::embedded_texts();
        embedded.sort();
        assert_eq!(on_disk, embedded, "knowledge::Files must embed every knowledge/*.toml");
        let version = knowledge_version(&[]);
        assert!(version.starts_with("sha256:") && version.len() == 23, "{version}");
        assert_ne!(version, knowledge_version(&[("lysis-platelets-below".to_owned(), 80.0)]));
    }

    #[test]
    fn cors_origins_are_parsed() {
        let origins = cors_origins(&["https://sandbox.cds-hooks.org/".to_owned(), "loopback".to_owned()]).unwrap();
        assert_eq!(
            origins,
            CorsOrigins::List { origins: vec!["https://sandbox.cds-hooks.org".to_owned()], loopback: true }
        );
        assert_eq!(cors_origins(&["*".to_owned()]).unwrap(), CorsOrigins::Any);
        assert!(cors_origins(&["https://ehr.example/path".to_owned()]).is_err());
        assert!(cors_origins(&["ehr.example".to_owned()]).is_err());
    }
}

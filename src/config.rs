//! The command line. Every option can also come from an environment variable (`DVT_CDS_*`);
//! `dvt-cds <command> --help` is the configuration reference.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `dvt-cds --version`: the package version and the commit it was built from (see `build.rs`).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("DVT_CDS_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(name = "dvt-cds", version = VERSION, about = "CDS Hooks service: ACR Appropriateness Criteria for iliofemoral DVT")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "DVT_CDS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Log filter, e.g. `info`, `debug`, `dvt_cds=debug,info`.
    #[arg(long, env = "DVT_CDS_LOG", default_value = "info", global = true)]
    pub log: String,
}

impl Cli {
    /// The command line from `argv` alone: no option falls back to its `DVT_CDS_*` variable. For
    /// running the service inside another program (and tests): clap reads the variables at parse time,
    /// and a process's environment cannot safely be changed while other threads run.
    pub fn parse_args_only<I, T>(argv: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{CommandFactory, FromArgMatches};
        let matches = without_env(Cli::command()).try_get_matches_from(argv)?;
        Cli::from_arg_matches(&matches)
    }
}

/// `command` and its subcommands with the `env` of every argument removed.
fn without_env(command: clap::Command) -> clap::Command {
    command.mut_args(|arg| arg.env(None::<&'static str>)).mut_subcommands(without_env)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
#[expect(clippy::large_enum_variant, reason = "parsed once at start-up: boxing `serve`'s options would save nothing")]
pub enum Command {
    /// Run the CDS Hooks service.
    Serve(ServeArgs),
    /// Evaluate one CDS Hooks request read from a file (or `-` for stdin) and print the response.
    Evaluate(EvaluateArgs),
    /// Read the stored card feedback.
    #[command(subcommand)]
    Feedback(FeedbackCommand),
    /// Demo patients for testing with the public CDS Hooks sandbox.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Read the decision audit.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The governance report: the audit joined with feedback, per card kind, variant and rule.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Loopback by default: listening on any other address must be asked for.
    #[arg(long, env = "DVT_CDS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub storage: StorageArgs,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "DVT_CDS_MAX_BODY_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Time limit for answering one request, e.g. `5s` or `1500ms`.
    #[arg(long, env = "DVT_CDS_REQUEST_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Hook calls evaluated at once [default: four per core]; as many more wait for one to finish
    /// (within the request timeout), and beyond that a call is answered 503 with `Retry-After` at once.
    #[arg(long, env = "DVT_CDS_MAX_EVALUATIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_evaluations: Option<u32>,

    /// Connections served at once [default: half the process's file limit]; one more is answered 503
    /// and closed at once, and the refusal is logged.
    #[arg(long, env = "DVT_CDS_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// Time a client has to send a whole request head, e.g. `10s`; counted from the accept, or from the
    /// previous response on a keep-alive connection, so it is also the idle keep-alive timeout.
    #[arg(long, env = "DVT_CDS_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// On SIGTERM or Ctrl-C, time left to in-flight requests, e.g. `10s`; connections still open then
    /// (a half-sent request, a slow client) are closed and the process exits.
    #[arg(long, env = "DVT_CDS_SHUTDOWN_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Browser origins allowed to call the service (comma separated): exact origins such as
    /// `https://sandbox.cds-hooks.org`, `loopback` for any http://localhost or 127.0.0.1 port, or `*`.
    #[arg(
        long = "cors-origin",
        env = "DVT_CDS_CORS_ORIGINS",
        value_delimiter = ',',
        default_values = ["https://sandbox.cds-hooks.org", "loopback"]
    )]
    pub cors_origins: Vec<String>,

    /// Evaluate every request as if it were this instant (RFC 3339): for demos and reproducible tests.
    #[arg(long, env = "DVT_CDS_NOW", value_parser = parse_instant)]
    pub now: Option<OffsetDateTime>,

    /// Trust configuration (TOML): token verification, trusted issuers, allowed FHIR servers.
    /// Ready profiles are in `config/`; without a file, the development profile (loopback only,
    /// tokens optional).
    #[arg(long, env = "DVT_CDS_CONFIG")]
    pub config: Option<PathBuf>,

    /// The URL clients call this service by, e.g. `https://cds.example.org`; a token's `aud` must be
    /// it followed by the endpoint's path. Overrides `public_base_url` in the configuration file.
    #[arg(long, env = "DVT_CDS_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    #[command(flatten)]
    pub gather: GatherArgs,

    #[command(flatten)]
    pub clinical: ClinicalArgs,

    #[command(flatten)]
    pub audit: AuditArgs,
}

/// The decision audit: every hook call that returns cards or rating actions is recorded.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// File holding the key (at least 32 bytes; e.g. `openssl rand -hex 32`) patient ids are hashed
    /// under (HMAC-SHA-256) in the audit. Without it the audit records no patient at all.
    #[arg(long, env = "DVT_CDS_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,

    /// How long audit entries are kept, e.g. `365days`; `0s` keeps them for ever.
    #[arg(long, env = "DVT_CDS_AUDIT_RETENTION", default_value = "365days", value_parser = humantime::parse_duration)]
    pub audit_retention: Duration,
}

/// Clinical settings that no source fixes.
#[derive(Debug, Clone, Args)]
pub struct ClinicalArgs {
    /// A threshold with no external source, set to this value: `ID=VALUE`, comma separated, e.g.
    /// `lysis-platelets-below=80`. The ids and defaults are in `knowledge/thresholds.toml` (source LOCAL);
    /// thresholds a guideline fixes cannot be changed.
    #[arg(long = "threshold", env = "DVT_CDS_THRESHOLDS", value_delimiter = ',', value_parser = parse_threshold)]
    pub thresholds: Vec<(String, f64)>,

    /// The time zone the thrombus age and every window are counted in, as calendar days: an IANA name such
    /// as `America/Chicago` (the tz database is built in).
    #[arg(long = "time-zone", env = "DVT_CDS_TIME_ZONE", default_value = "UTC", value_parser = parse_zone)]
    pub time_zone: String,
}

/// An IANA time zone name the bundled tz database knows.
fn parse_zone(text: &str) -> Result<String, String> {
    match jiff::tz::TimeZone::get(text.trim()) {
        Ok(_) => Ok(text.trim().to_owned()),
        Err(_) => Err(format!("`{text}` is not an IANA time zone name")),
    }
}

fn parse_threshold(text: &str) -> Result<(String, f64), String> {
    let (id, value) = text.split_once('=').ok_or_else(|| format!("`{text}` is not ID=VALUE"))?;
    let value: f64 = value.trim().parse().map_err(|_| format!("`{value}` is not a number"))?;
    Ok((id.trim().to_owned(), value))
}

/// How prefetch keys missing from a request are fetched from its `fhirServer`.
#[derive(Debug, Clone, Args)]
pub struct GatherArgs {
    /// Time limit for all FHIR queries of one request together (every missing prefetch key, its
    /// pages, and the server's version check), e.g. `2s` or `800ms`. Keys not obtained by then are
    /// unavailable: a 412 when a decision needs them, otherwise the cards say what could not be seen.
    #[arg(long, env = "DVT_CDS_FHIR_DEADLINE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub fhir_deadline: Duration,

    /// Search result pages read per prefetch key (`Bundle.link` next); a key with more is unavailable.
    #[arg(long, env = "DVT_CDS_FHIR_MAX_PAGES", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub fhir_max_pages: u32,

    /// Largest single FHIR server response read, in bytes; a larger one makes its key unavailable.
    #[arg(long, env = "DVT_CDS_FHIR_MAX_RESPONSE_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub fhir_max_response_bytes: usize,

    /// Most bytes read from the FHIR server for one request, all keys and pages together.
    #[arg(long, env = "DVT_CDS_FHIR_MAX_TOTAL_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub fhir_max_total_bytes: usize,

    /// How long data gathered at `order-select` is reused at `order-sign` for the same patient, FHIR
    /// server and access token, e.g. `60s`; `0s` turns reuse off.
    #[arg(long, env = "DVT_CDS_RUN_AHEAD_TTL", default_value = "60s", value_parser = humantime::parse_duration)]
    pub run_ahead_ttl: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the service's data.
    #[arg(long, env = "DVT_CDS_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Feedback database file [default: DATA_DIR/feedback.sqlite3].
    #[arg(long, env = "DVT_CDS_FEEDBACK_DB")]
    pub feedback_db: Option<PathBuf>,

    /// PostgreSQL instead of the embedded SQLite, for two or more instances on one database:
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`. Feedback, the audit and the `jti` replay cache go there
    /// (tokens are refused while it cannot be reached).
    #[arg(long, env = "DVT_CDS_DATABASE_URL", value_parser = parse_database_url)]
    pub database_url: Option<DatabaseUrl>,
}

/// A PostgreSQL URL. It may hold a password: it has no printable form but its host.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a PostgreSQL URL with a host; the message never quotes the value.
    pub fn check(&self) -> Result<(), &'static str> {
        let url = url::Url::parse(&self.0).map_err(|_| "--database-url is not a URL")?;
        if !matches!(url.scheme(), "postgres" | "postgresql") || url.host_str().is_none_or(str::is_empty) {
            return Err("--database-url must be postgres://USER:PASSWORD@HOST:PORT/DATABASE");
        }
        Ok(())
    }

    /// `host:port/database`, for the log.
    pub fn location(&self) -> String {
        url::Url::parse(&self.0).map_or_else(
            |_| "?".to_owned(),
            |url| format!("{}:{}{}", url.host_str().unwrap_or("?"), url.port().unwrap_or(5432), url.path()),
        )
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.location())
    }
}

/// Any text is taken here and checked by [`DatabaseUrl::check`] at start-up: clap's own errors
/// quote the value, and this one may hold a password.
fn parse_database_url(text: &str) -> Result<DatabaseUrl, std::convert::Infallible> {
    Ok(DatabaseUrl(text.to_owned()))
}

impl StorageArgs {
    pub fn feedback_db(&self) -> PathBuf {
        self.feedback_db.clone().unwrap_or_else(|| self.data_dir.join("feedback.sqlite3"))
    }
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The CDS Hooks request (JSON), or `-` to read it from stdin.
    pub request: PathBuf,

    /// The instant every date comparison uses (RFC 3339); the clock when absent.
    #[arg(long, value_parser = parse_instant)]
    pub now: Option<OffsetDateTime>,

    /// The service to call; by default the one that serves the request's hook.
    #[arg(long)]
    pub service: Option<String>,

    /// Print the assessment (variants, rules fired, evidence, missing facts, safety flags) instead of the
    /// CDS Hooks response.
    #[arg(long)]
    pub explain: bool,

    /// Trust configuration (TOML) whose `fhirServer` allow-list the request must pass, as on the route;
    /// without a file, the development profile's (loopback only).
    #[arg(long, env = "DVT_CDS_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub gather: GatherArgs,

    #[command(flatten)]
    pub clinical: ClinicalArgs,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Upload the demo patients (transaction Bundles) to a FHIR R4 server and print
    /// `patient-id<TAB>scenario` for each.
    Load {
        /// The FHIR R4 server's base URL, e.g. `http://localhost:8103/fhir/R4`.
        #[arg(long, env = "DVT_CDS_DEMO_FHIR_SERVER")]
        fhir_server: url::Url,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeedbackCommand {
    /// Print the most recent feedback items as JSON lines, oldest first.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// How many items to print.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print audit entries as JSON lines, oldest first.
    List {
        #[command(flatten)]
        storage: StorageArgs,
        /// Only entries recorded at or after this instant (RFC 3339) or day (YYYY-MM-DD, UTC).
        #[arg(long, value_parser = parse_since)]
        since: Option<OffsetDateTime>,
        /// How many entries (the newest).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Only calls and feedback at or after this instant (RFC 3339) or day (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<OffsetDateTime>,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    /// One self-contained file with an inline SVG bar chart.
    Html,
}

fn parse_since(text: &str) -> Result<OffsetDateTime, String> {
    let day = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(text, &day) {
        Ok(date) => Ok(date.midnight().assume_utc()),
        Err(_) => parse_instant(text),
    }
}

/// An RFC 3339 date-time. A date alone is the usual mistake: the message says what to add.
fn parse_instant(text: &str) -> Result<OffsetDateTime, String> {
    const EXAMPLE: &str = "2026-11-24T12:00:00Z";
    OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        let date = time::macros::format_description!("[year]-[month]-[day]");
        if time::Date::parse(text.trim(), &date).is_ok() {
            format!("`{text}` is a date; a date-time with a time zone is needed, e.g. `{}T12:00:00Z`", text.trim())
        } else {
            format!("`{text}` is not an RFC 3339 date-time with a time zone, e.g. `{EXAMPLE}`")
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parsing_the_arguments_alone_reads_no_environment_variable() {
        fn envs(command: &clap::Command) -> Vec<String> {
            let mut names: Vec<String> = command
                .get_arguments()
                .filter_map(|arg| arg.get_env())
                .map(|env| env.to_string_lossy().into_owned())
                .collect();
            names.extend(command.get_subcommands().flat_map(envs));
            names
        }
        let real = envs(&Cli::command());
        assert!(real.contains(&"DVT_CDS_CONFIG".to_owned()) && real.contains(&"DVT_CDS_LOG".to_owned()), "{real:?}");
        assert_eq!(envs(&without_env(Cli::command())), Vec::<String>::new());
    }

    #[test]
    fn serve_defaults_to_loopback_and_the_data_directory() {
        let cli = Cli::parse_args_only(["dvt-cds", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        assert_eq!(args.bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.storage.feedback_db(), PathBuf::from("./data/feedback.sqlite3"));
        assert_eq!(args.request_timeout, Duration::from_secs(5));
        assert_eq!(args.max_connections, None);
        assert_eq!(args.max_evaluations, None);
        assert_eq!(args.header_read_timeout, Duration::from_secs(10));
        assert_eq!(args.shutdown_grace, Duration::from_secs(10));
        assert_eq!(args.cors_origins, ["https://sandbox.cds-hooks.org", "loopback"]);
        assert_eq!(args.gather.fhir_deadline, Duration::from_secs(2));
        assert_eq!(args.gather.fhir_max_pages, 10);
        assert_eq!(args.gather.run_ahead_ttl, Duration::from_secs(60));
    }

    #[test]
    fn gathering_limits_are_checked() {
        let parse = |extra: &[&str]| Cli::parse_args_only([&["dvt-cds", "serve"], extra].concat());
        assert!(parse(&["--fhir-deadline", "800ms", "--run-ahead-ttl", "0s"]).is_ok());
        assert!(parse(&["--fhir-max-pages", "0"]).is_err());
        assert!(parse(&["--fhir-deadline", "soon"]).is_err());
    }

    #[test]
    fn a_database_url_must_be_postgres_and_never_prints_its_password() {
        let parse = |url: &str| Cli::parse_args_only(["dvt-cds", "serve", "--database-url", url]);
        let Command::Serve(args) = parse("postgres://cds:s3cret@db.internal:5433/dvt").unwrap().command else {
            panic!("not serve")
        };
        let url = args.storage.database_url.unwrap();
        assert_eq!(url.as_str(), "postgres://cds:s3cret@db.internal:5433/dvt");
        assert_eq!(format!("{url:?}"), "DatabaseUrl(db.internal:5433/dvt)");
        assert_eq!(url.check(), Ok(()));
        for refused in ["mysql://cds:s3cret@db/dvt", "cds:s3cret@db.internal:5432", "postgres:///dvt"] {
            let Command::Serve(args) = parse(refused).unwrap().command else { panic!("not serve") };
            let error = args.storage.database_url.unwrap().check().unwrap_err();
            assert!(!error.contains("s3cret") && error.contains("--database-url"), "{error}");
        }
        let Command::Serve(args) = Cli::parse_args_only(["dvt-cds", "serve"]).unwrap().command else { panic!() };
        assert_eq!(args.storage.database_url, None);
    }

    #[test]
    fn now_must_be_an_rfc_3339_instant() {
        assert!(Cli::parse_args_only(["dvt-cds", "evaluate", "r.json", "--now", "2026-11-24T12:00:00Z"]).is_ok());
        assert!(Cli::parse_args_only(["dvt-cds", "evaluate", "r.json", "--now", "2026-11-24"]).is_err());
        assert_eq!(
            parse_instant("2026-11-24").unwrap_err(),
            "`2026-11-24` is a date; a date-time with a time zone is needed, e.g. `2026-11-24T12:00:00Z`"
        );
        assert_eq!(
            parse_instant("yesterday").unwrap_err(),
            "`yesterday` is not an RFC 3339 date-time with a time zone, e.g. `2026-11-24T12:00:00Z`"
        );
    }
}

//! Command line (clap) and TOML configuration file → validated [`Settings`].
//!
//! Owner: `config`. Invariant: everything the rest of the program reads is
//! validated here once; a bad value is an error naming the flag or key, and
//! every command-line flag overrides the same key of the file.

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9477";

#[derive(Debug, Parser)]
#[command(
    name = "sipsentinel",
    version,
    about = "Passive SIP/RTP sensor: measures how much call metadata and media your network exposes, as Prometheus metrics."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture live from an interface (or replay a file) and serve /metrics.
    Run(RunArgs),
    /// Read capture files and print a one-shot report (no privileges needed).
    Audit(AuditArgs),
    /// Audit or sanitize what the PBX keeps: call detail records.
    #[command(subcommand)]
    Cdr(CdrCommand),
    /// Check Asterisk logger.conf / kamailio.cfg: which logs keep SIP
    /// messages, call traces or DTMF.
    PbxLogging(PbxLoggingArgs),
}

#[derive(Debug, Subcommand)]
pub enum CdrCommand {
    /// Class the columns of a CDR store and measure its age (values never shown).
    Audit(CdrAuditArgs),
    /// Fold records older than --keep-days into daily aggregates and delete them (dry run unless --apply).
    Sanitize(CdrSanitizeArgs),
}

/// What every `cdr` subcommand takes.
#[derive(Debug, Args)]
pub struct CdrCommon {
    /// SQLite file, `postgres://` URL or Asterisk Master.csv (default: `[cdr] source`).
    pub source: Option<String>,
    /// Schema preset: `asterisk` (table cdr) or `kamailio-acc` (acc, missed_calls).
    #[arg(long)]
    pub schema: Option<String>,
    /// Table to read instead of the preset's.
    #[arg(long)]
    pub table: Option<String>,
    /// Retention in days (default: `[cdr] keep_days`, else 30).
    #[arg(long)]
    pub keep_days: Option<u32>,
    /// TOML configuration file (`[cdr]`, `[findings] key_file`).
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// SQLite: how long to wait for a writer's lock, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub busy_timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct CdrAuditArgs {
    #[command(flatten)]
    pub common: CdrCommon,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Show N rows per table, every identifying value pseudonymised.
    #[arg(long, default_value_t = 0)]
    pub samples: usize,
}

#[derive(Debug, Args)]
pub struct CdrSanitizeArgs {
    #[command(flatten)]
    pub common: CdrCommon,
    /// Change the store (default: a dry run that only counts).
    #[arg(long)]
    pub apply: bool,
    /// Rows per transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch: usize,
}

#[derive(Debug, Args)]
pub struct PbxLoggingArgs {
    /// Asterisk logger.conf and/or kamailio.cfg files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Interface to capture on (a mirror/SPAN port, or `any`). Repeat it
    /// for a SPAN session that delivers the two directions on two ports:
    /// one capture thread per interface, the same workers.
    #[arg(short = 'i', long, conflicts_with = "read")]
    pub interface: Vec<String>,
    /// Replay pcap/pcapng files (repeat the flag for several, read in
    /// order) through the live pipeline instead of capturing.
    #[arg(short = 'r', long)]
    pub read: Vec<PathBuf>,
    /// BPF capture filter (libpcap syntax).
    #[arg(short = 'f', long)]
    pub filter: Option<String>,
    /// Address for /metrics, /healthz and /api/exposures.
    #[arg(short = 'l', long)]
    pub listen: Option<SocketAddr>,
    /// Worker threads (default: number of cores).
    #[arg(short = 'w', long)]
    pub workers: Option<usize>,
    /// TOML configuration file; flags override its keys.
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// With --read: exit when the file is done instead of serving until stopped.
    #[arg(long, requires = "read")]
    pub exit_when_done: bool,
    /// Kernel capture buffer in MiB.
    #[arg(long)]
    pub buffer_mib: Option<u32>,
    /// Log format.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log level filter (tracing EnvFilter syntax, e.g. `info`, `debug`);
    /// SIGHUP re-reads it from the config file.
    #[arg(long)]
    pub log_level: Option<String>,
    /// When started as root: after opening the capture, switch to this user
    /// and drop every capability (as `tcpdump -Z`).
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Web configuration file (the Prometheus exporter-toolkit YAML
    /// format): TLS and basic auth for every HTTP endpoint.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// Write each new finding as one JSON line to FILE (`-`: stdout),
    /// rotated at `[limits] findings_log_bytes`.
    #[arg(long, value_name = "FILE")]
    pub findings_log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// pcap or pcapng files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Text)]
    pub format: AuditFormat,
    /// Worker threads (default: number of cores).
    #[arg(short = 'w', long)]
    pub workers: Option<usize>,
    /// TOML configuration file (bounds, zones).
    #[arg(short = 'c', long)]
    pub config: Option<PathBuf>,
    /// No progress bar (it is shown only when stderr is a terminal).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Also write a redacted copy of the capture, safe to share (pcapng).
    #[arg(long, value_name = "OUT.pcapng")]
    pub redact_pcap: Option<PathBuf>,
    /// Write each new finding as one JSON line to FILE (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub findings_log: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Prometheus,
}

/// `audit --format`: the report formats, and the HTML page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Text,
    Json,
    Prometheus,
    /// One self-contained HTML page (no script, no external asset).
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The TOML file. Unknown keys are errors (`deny_unknown_fields`), so a typo
/// is reported with its name instead of silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `interface = "eth0"` or `interface = ["eth1", "eth2"]`.
    pub interface: Option<OneOrMany>,
    pub filter: Option<String>,
    pub listen: Option<String>,
    pub workers: Option<usize>,
    pub buffer_mib: Option<u32>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub user: Option<String>,
    /// Web configuration file (TLS, basic auth), as `--web-config`.
    pub web_config: Option<PathBuf>,
    #[serde(default)]
    pub limits: FileLimits,
    /// Named CIDR sets; an exposure is labelled with the zone of its sender.
    #[serde(default)]
    pub zones: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub findings: FileFindings,
    /// The CDR store to watch (`cdr audit` defaults and the sensor's check).
    pub cdr: Option<FileCdr>,
}

/// A key that takes one string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCdr {
    pub source: Option<String>,
    pub schema: Option<String>,
    pub table: Option<String>,
    pub keep_days: Option<u32>,
    pub check_every_secs: Option<u64>,
    /// Role → column: `time`, `caller`, `callee`, `disposition`, `billsec`.
    #[serde(default)]
    pub columns: std::collections::BTreeMap<String, String>,
    /// Column → class, overriding the built-in classing.
    #[serde(default)]
    pub classes: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileFindings {
    pub capacity: Option<usize>,
    pub ttl_secs: Option<u64>,
    /// File with at least 32 random bytes: stable pseudonyms across restarts.
    pub key_file: Option<PathBuf>,
    /// As `--findings-log`.
    pub log: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub queue_batches: Option<usize>,
    pub batch_frames: Option<usize>,
    pub defrag_datagrams: Option<usize>,
    pub defrag_timeout_secs: Option<u64>,
    pub defrag_bytes: Option<usize>,
    pub tcp_streams: Option<usize>,
    pub tcp_buffer_bytes: Option<usize>,
    pub tcp_idle_secs: Option<u64>,
    pub tcp_bytes: Option<usize>,
    pub media_streams: Option<usize>,
    pub media_idle_secs: Option<u64>,
    pub media_endpoints: Option<usize>,
    pub calls: Option<usize>,
    pub linkable_identifiers: Option<usize>,
    pub registrations: Option<usize>,
    pub findings_log_bytes: Option<usize>,
    pub findings_log_files: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("run needs --interface or --read (or `interface` in the config file)")]
    NoSource,
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One or more interfaces (validated: not empty, no duplicates, at most
    /// [`range::INTERFACES`]), one capture thread each.
    Interfaces(Vec<String>),
    Files(Vec<PathBuf>),
}

/// Bounds on every table and queue; hitting one is counted, never fatal.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Batches queued per worker before capture drops (live) or waits (files).
    pub queue_batches: usize,
    /// Frames per batch.
    pub batch_frames: usize,
    pub defrag_datagrams: usize,
    pub defrag_timeout: Duration,
    /// Byte budget of the IP reassembly pool, per worker.
    pub defrag_bytes: usize,
    pub tcp_streams: usize,
    pub tcp_buffer_bytes: usize,
    pub tcp_idle: Duration,
    /// Byte budget of TCP reassembly (in-order and out-of-order buffers,
    /// WebSocket message and scratch buffers), per worker.
    pub tcp_bytes: usize,
    /// RTP streams tracked, per worker.
    pub media_streams: usize,
    pub media_idle: Duration,
    /// SDP-announced media endpoints remembered (shared).
    pub media_endpoints: usize,
    /// How long an announced endpoint is remembered without being refreshed.
    pub endpoint_ttl: Duration,
    /// Call-IDs tracked per class (calls being set up, answered, registrations).
    pub calls: usize,
    /// Identifier tags the observer's linker remembers (shared).
    pub linkable_identifiers: usize,
    /// REGISTER transactions and registered bindings tracked, each (shared).
    pub registrations: usize,
    /// The findings log is rotated past this size ...
    pub findings_log_bytes: usize,
    /// ... keeping this many rotated files (`FILE.1` newest).
    pub findings_log_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            queue_batches: 256,
            batch_frames: 64,
            defrag_datagrams: 4096,
            defrag_timeout: Duration::from_secs(30),
            defrag_bytes: 8 << 20,
            tcp_streams: 65_536,
            tcp_buffer_bytes: 256 * 1024,
            tcp_idle: Duration::from_secs(600),
            tcp_bytes: 64 << 20,
            media_streams: 65_536,
            media_idle: Duration::from_secs(60),
            media_endpoints: 262_144,
            endpoint_ttl: Duration::from_secs(4 * 3600),
            calls: 200_000,
            linkable_identifiers: 131_072,
            registrations: 100_000,
            findings_log_bytes: 64 << 20,
            findings_log_files: 5,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub source: Source,
    pub filter: Option<String>,
    pub listen: SocketAddr,
    pub workers: usize,
    pub exit_when_done: bool,
    pub buffer_mib: u32,
    pub log_format: LogFormat,
    pub log_level: String,
    pub user: Option<String>,
    pub config_file: Option<PathBuf>,
    pub limits: Limits,
    /// Zone name → CIDRs, validated where zones are built (`exposure`).
    pub zones: Vec<(String, Vec<String>)>,
    pub findings_capacity: usize,
    pub findings_ttl: Duration,
    pub key_file: Option<PathBuf>,
    /// Web configuration file (TLS, basic auth); loaded and checked at
    /// startup by `http::webconfig`.
    pub web_config: Option<PathBuf>,
    /// `--findings-log` / `[findings] log`: `-` is stdout.
    pub findings_log: Option<PathBuf>,
}

/// What SIGHUP can change without a restart, re-read from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloadable {
    pub log_level: String,
    pub zones: Vec<(String, Vec<String>)>,
}

/// Most zone names: each is a label value, so they stay few.
pub const MAX_ZONES: usize = 64;

fn zones(f: &FileConfig) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    if f.zones.len() > MAX_ZONES {
        return Err(ConfigError::Invalid {
            key: "zones",
            message: format!("{} zones, at most {MAX_ZONES}", f.zones.len()),
        });
    }
    for name in f.zones.keys() {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok || name == "unknown" || name == "other" {
            return Err(ConfigError::Invalid {
                key: "zones",
                message: format!(
                    "zone name {name:?}: 1-32 letters, digits, _ or -, and not `unknown`/`other`"
                ),
            });
        }
    }
    Ok(f.zones
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

/// Re-read the reloadable keys; the whole file must still be valid.
pub fn reload(path: &Path) -> Result<Reloadable, ConfigError> {
    let f = load_file(path)?;
    let log_level = f
        .log_level
        .clone()
        .unwrap_or_else(|| DEFAULT_LOG_LEVEL.into());
    check_log_level(&log_level)?;
    limits(&f.limits)?;
    Ok(Reloadable {
        log_level,
        zones: zones(&f)?,
    })
}

pub const DEFAULT_LOG_LEVEL: &str = "info";

fn check_log_level(s: &str) -> Result<(), ConfigError> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| ())
        .map_err(|e| ConfigError::Invalid {
            key: "log_level",
            message: e.to_string(),
        })
}

/// The `[cdr]` section and `[findings] key_file` of a config file (for the
/// `cdr` subcommands), or defaults without a file.
pub fn cdr_file(path: Option<&Path>) -> Result<(FileCdr, Option<PathBuf>), ConfigError> {
    match path {
        Some(p) => {
            let f = load_file(p)?;
            Ok((f.cdr.unwrap_or_default(), f.findings.key_file))
        }
        None => Ok((FileCdr::default(), None)),
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_file(&text).map_err(|message| ConfigError::Parse {
        path: path.to_owned(),
        message,
    })
}

/// Parse the TOML text; the message names the offending key.
pub fn parse_file(text: &str) -> Result<FileConfig, String> {
    toml::from_str(text).map_err(|e| e.message().to_string())
}

fn findings_capacity(f: &FileConfig) -> Result<usize, ConfigError> {
    bounded(
        "findings.capacity",
        f.findings.capacity,
        10_000,
        range::FINDINGS_CAPACITY,
    )
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Interface names: each non-empty, none twice (two capture threads on one
/// port would count every frame twice and split nothing), at most
/// [`range::INTERFACES`].
pub fn interfaces(list: Vec<String>) -> Result<Vec<String>, ConfigError> {
    match interface_problem(&list) {
        None => Ok(list),
        Some(message) => Err(ConfigError::Invalid {
            key: "interface",
            message,
        }),
    }
}

fn interface_problem(list: &[String]) -> Option<String> {
    let (min, max) = range::INTERFACES;
    if !(min..=max).contains(&list.len()) {
        return Some(format!(
            "{} interfaces given; between {min} and {max} are supported",
            list.len()
        ));
    }
    for (k, i) in list.iter().enumerate() {
        if i.is_empty() {
            return Some("is empty".into());
        }
        if list[..k].contains(i) {
            return Some(format!(
                "{i:?} is given twice (each interface is captured once)"
            ));
        }
    }
    None
}

/// What clap cannot check about `run`'s flags alone: a usage error (exit 2),
/// e.g. the same `--interface` twice.
pub fn usage_error(a: &RunArgs) -> Option<String> {
    if a.interface.is_empty() {
        return None;
    }
    interface_problem(&a.interface).map(|m| format!("invalid value for --interface: {m}"))
}

fn workers(n: Option<usize>) -> Result<usize, ConfigError> {
    match n {
        None => Ok(default_workers()),
        Some(n) if (1..=256).contains(&n) => Ok(n),
        Some(n) => Err(ConfigError::Invalid {
            key: "workers",
            message: format!("{n} is not between 1 and 256"),
        }),
    }
}

/// A count or size limit: `default` when absent, else within `min..=max`.
///
/// Every limit has a maximum as well as a minimum: a value past it is a
/// clear error at start, never an abort later (a queue of 2^40 batches is
/// an allocation failure; `batch_frames * 256` would overflow; a timeout
/// of u64::MAX seconds overflows `now + timeout`).
fn bounded(
    key: &'static str,
    v: Option<usize>,
    default: usize,
    (min, max): (usize, usize),
) -> Result<usize, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(ConfigError::Invalid {
            key,
            message: format!("{v} is not between {min} and {max}"),
        }),
    }
}

/// [`bounded`] for a number of seconds.
fn bounded_secs(
    key: &'static str,
    v: Option<u64>,
    default: Duration,
    (min, max): (u64, u64),
) -> Result<Duration, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(Duration::from_secs(v)),
        Some(v) => Err(ConfigError::Invalid {
            key,
            message: format!("{v} is not between {min} and {max} seconds"),
        }),
    }
}

/// The documented range of every `[limits]` key (README, "Configuration").
pub mod range {
    /// Interfaces captured at once, one capture thread each. A SPAN session
    /// needs two (one per direction); 16 leaves room for a few sessions
    /// while keeping the thread count (and the kernel ring buffers,
    /// `buffer_mib` each) far from what one host can spare.
    pub const INTERFACES: (usize, usize) = (1, 16);
    /// Per worker; each queued batch holds up to `batch_frames` frames.
    pub const QUEUE_BATCHES: (usize, usize) = (1, 16_384);
    pub const BATCH_FRAMES: (usize, usize) = (1, 4_096);
    pub const DEFRAG_DATAGRAMS: (usize, usize) = (1, 1 << 20);
    /// RFC 791 suggests 15 s, Linux `ipfrag_time` is 30 s.
    pub const DEFRAG_TIMEOUT_SECS: (u64, u64) = (1, 300);
    /// Bytes per worker; the minimum holds the largest datagram (64 KiB)
    /// with its overhead.
    pub const DEFRAG_BYTES: (usize, usize) = (256 << 10, 1 << 30);
    /// Bytes per worker: TCP in-order and out-of-order buffers, WebSocket
    /// message and scratch buffers.
    pub const TCP_BYTES: (usize, usize) = (1 << 20, 16 << 30);
    pub const TCP_STREAMS: (usize, usize) = (1, 1 << 22);
    /// At least one large SIP message; at most 16 MiB per stream direction.
    pub const TCP_BUFFER_BYTES: (usize, usize) = (1_024, 16 << 20);
    pub const TCP_IDLE_SECS: (u64, u64) = (1, 86_400);
    pub const MEDIA_STREAMS: (usize, usize) = (1, 1 << 22);
    pub const MEDIA_IDLE_SECS: (u64, u64) = (1, 86_400);
    pub const MEDIA_ENDPOINTS: (usize, usize) = (1, 1 << 24);
    pub const CALLS: (usize, usize) = (1, 1 << 24);
    /// Shared; about 64 bytes each (`observer::linker::BYTES_PER_ENTRY`).
    pub const LINKABLE_IDENTIFIERS: (usize, usize) = (1, 1 << 24);
    /// Shared; transactions and bindings, each.
    pub const REGISTRATIONS: (usize, usize) = (1, 1 << 24);
    /// `[findings]`.
    pub const FINDINGS_CAPACITY: (usize, usize) = (1, 1_000_000);
    pub const FINDINGS_TTL_SECS: (u64, u64) = (1, 366 * 86_400);
    /// At least a few lines; at most 64 GiB per file.
    pub const FINDINGS_LOG_BYTES: (usize, usize) = (4_096, 64 << 30);
    pub const FINDINGS_LOG_FILES: (usize, usize) = (1, 1_000);
}

fn limits(f: &FileLimits) -> Result<Limits, ConfigError> {
    let d = Limits::default();
    Ok(Limits {
        queue_batches: bounded(
            "limits.queue_batches",
            f.queue_batches,
            d.queue_batches,
            range::QUEUE_BATCHES,
        )?,
        batch_frames: bounded(
            "limits.batch_frames",
            f.batch_frames,
            d.batch_frames,
            range::BATCH_FRAMES,
        )?,
        defrag_datagrams: bounded(
            "limits.defrag_datagrams",
            f.defrag_datagrams,
            d.defrag_datagrams,
            range::DEFRAG_DATAGRAMS,
        )?,
        defrag_timeout: bounded_secs(
            "limits.defrag_timeout_secs",
            f.defrag_timeout_secs,
            d.defrag_timeout,
            range::DEFRAG_TIMEOUT_SECS,
        )?,
        defrag_bytes: bounded(
            "limits.defrag_bytes",
            f.defrag_bytes,
            d.defrag_bytes,
            range::DEFRAG_BYTES,
        )?,
        tcp_streams: bounded(
            "limits.tcp_streams",
            f.tcp_streams,
            d.tcp_streams,
            range::TCP_STREAMS,
        )?,
        tcp_buffer_bytes: bounded(
            "limits.tcp_buffer_bytes",
            f.tcp_buffer_bytes,
            d.tcp_buffer_bytes,
            range::TCP_BUFFER_BYTES,
        )?,
        tcp_idle: bounded_secs(
            "limits.tcp_idle_secs",
            f.tcp_idle_secs,
            d.tcp_idle,
            range::TCP_IDLE_SECS,
        )?,
        tcp_bytes: bounded(
            "limits.tcp_bytes",
            f.tcp_bytes,
            d.tcp_bytes,
            range::TCP_BYTES,
        )?,
        media_streams: bounded(
            "limits.media_streams",
            f.media_streams,
            d.media_streams,
            range::MEDIA_STREAMS,
        )?,
        media_idle: bounded_secs(
            "limits.media_idle_secs",
            f.media_idle_secs,
            d.media_idle,
            range::MEDIA_IDLE_SECS,
        )?,
        media_endpoints: bounded(
            "limits.media_endpoints",
            f.media_endpoints,
            d.media_endpoints,
            range::MEDIA_ENDPOINTS,
        )?,
        endpoint_ttl: d.endpoint_ttl,
        calls: bounded("limits.calls", f.calls, d.calls, range::CALLS)?,
        linkable_identifiers: bounded(
            "limits.linkable_identifiers",
            f.linkable_identifiers,
            d.linkable_identifiers,
            range::LINKABLE_IDENTIFIERS,
        )?,
        registrations: bounded(
            "limits.registrations",
            f.registrations,
            d.registrations,
            range::REGISTRATIONS,
        )?,
        findings_log_bytes: bounded(
            "limits.findings_log_bytes",
            f.findings_log_bytes,
            d.findings_log_bytes,
            range::FINDINGS_LOG_BYTES,
        )?,
        findings_log_files: bounded(
            "limits.findings_log_files",
            f.findings_log_files,
            d.findings_log_files,
            range::FINDINGS_LOG_FILES,
        )?,
    })
}

fn findings_ttl(f: &FileConfig) -> Result<Duration, ConfigError> {
    bounded_secs(
        "findings.ttl_secs",
        f.findings.ttl_secs,
        Duration::from_secs(24 * 3600),
        range::FINDINGS_TTL_SECS,
    )
}

impl Settings {
    pub fn from_run(a: &RunArgs) -> Result<Settings, ConfigError> {
        let file = match &a.config {
            Some(p) => load_file(p)?,
            None => FileConfig::default(),
        };
        let source = if !a.read.is_empty() {
            Source::Files(a.read.clone())
        } else if !a.interface.is_empty() {
            Source::Interfaces(interfaces(a.interface.clone())?)
        } else if let Some(i) = file.interface.clone() {
            Source::Interfaces(interfaces(i.into_vec())?)
        } else {
            return Err(ConfigError::NoSource);
        };
        let listen = match (a.listen, &file.listen) {
            (Some(l), _) => l,
            (None, Some(s)) => s.parse().map_err(|_| ConfigError::Invalid {
                key: "listen",
                message: format!("{s:?} is not ADDR:PORT"),
            })?,
            (None, None) => DEFAULT_LISTEN.parse().expect("default listen address"),
        };
        let buffer_mib = a.buffer_mib.or(file.buffer_mib).unwrap_or(64);
        if !(1..=4096).contains(&buffer_mib) {
            return Err(ConfigError::Invalid {
                key: "buffer_mib",
                message: format!("{buffer_mib} is not between 1 and 4096"),
            });
        }
        let log_level = a
            .log_level
            .clone()
            .or(file.log_level.clone())
            .unwrap_or_else(|| DEFAULT_LOG_LEVEL.into());
        check_log_level(&log_level)?;
        let user = a.user.clone().or(file.user.clone());
        if user.as_deref() == Some("") {
            return Err(ConfigError::Invalid {
                key: "user",
                message: "is empty".into(),
            });
        }
        Ok(Settings {
            source,
            filter: a.filter.clone().or(file.filter.clone()),
            listen,
            workers: workers(a.workers.or(file.workers))?,
            exit_when_done: a.exit_when_done,
            buffer_mib,
            log_format: a.log_format.or(file.log_format).unwrap_or_default(),
            log_level,
            user,
            config_file: a.config.clone(),
            limits: limits(&file.limits)?,
            zones: zones(&file)?,
            findings_capacity: findings_capacity(&file)?,
            findings_ttl: findings_ttl(&file)?,
            key_file: file.findings.key_file.clone(),
            web_config: a.web_config.clone().or(file.web_config.clone()),
            findings_log: a.findings_log.clone().or(file.findings.log.clone()),
        })
    }

    pub fn from_audit(a: &AuditArgs) -> Result<Settings, ConfigError> {
        let file = match &a.config {
            Some(p) => load_file(p)?,
            None => FileConfig::default(),
        };
        Ok(Settings {
            source: Source::Files(a.files.clone()),
            filter: None,
            listen: DEFAULT_LISTEN.parse().expect("default listen address"),
            workers: workers(a.workers.or(file.workers))?,
            exit_when_done: true,
            buffer_mib: 64,
            log_format: file.log_format.unwrap_or_default(),
            log_level: file
                .log_level
                .clone()
                .unwrap_or_else(|| DEFAULT_LOG_LEVEL.into()),
            user: None,
            config_file: a.config.clone(),
            limits: limits(&file.limits)?,
            zones: zones(&file)?,
            findings_capacity: findings_capacity(&file)?,
            findings_ttl: findings_ttl(&file)?,
            key_file: file.findings.key_file.clone(),
            web_config: None,
            findings_log: a.findings_log.clone().or(file.findings.log.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_named() {
        let e = parse_file("interfac = \"eth0\"").unwrap_err();
        assert!(e.contains("interfac"), "{e}");
        let e = parse_file("[limits]\ntcp_stream = 3").unwrap_err();
        assert!(e.contains("tcp_stream"), "{e}");
    }

    #[test]
    fn interface_is_a_string_or_a_list_without_duplicates() {
        let f = parse_file("interface = [\"eth1\", \"eth2\"]").unwrap();
        let list = f.interface.unwrap().into_vec();
        assert_eq!(interfaces(list).unwrap(), vec!["eth1", "eth2"]);
        let f = parse_file("interface = \"eth1\"").unwrap();
        assert_eq!(f.interface.unwrap().into_vec(), vec!["eth1"]);
        let e = interfaces(vec!["eth1".into(), "eth1".into()]).unwrap_err();
        assert!(e.to_string().contains("\"eth1\" is given twice"), "{e}");
        let e = interfaces(vec![String::new()]).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        let many: Vec<String> = (0..17).map(|i| format!("eth{i}")).collect();
        let e = interfaces(many).unwrap_err();
        assert!(e.to_string().contains("between 1 and 16"), "{e}");
        assert!(interfaces(Vec::new()).is_err());
        let cli = Cli::parse_from(["sipsentinel", "run", "-i", "a", "--interface", "a"]);
        let Command::Run(a) = cli.command else {
            panic!()
        };
        let e = usage_error(&a).unwrap();
        assert!(e.contains("--interface") && e.contains("twice"), "{e}");
    }

    #[test]
    fn flags_override_file() {
        let dir = std::env::temp_dir().join(format!("ss-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(
            &p,
            "interface = \"eth9\"\nworkers = 3\nlisten = \"127.0.0.1:1\"\n",
        )
        .unwrap();
        let cli = Cli::parse_from(["sipsentinel", "run", "-c", p.to_str().unwrap(), "-w", "2"]);
        let Command::Run(a) = cli.command else {
            panic!()
        };
        let s = Settings::from_run(&a).unwrap();
        assert_eq!(s.source, Source::Interfaces(vec!["eth9".into()]));
        assert_eq!(s.workers, 2);
        assert_eq!(s.listen, "127.0.0.1:1".parse().unwrap());
    }

    #[test]
    fn every_limit_has_a_minimum_and_a_maximum() {
        // (key, absurd value, an in-range value)
        let cases = [
            ("queue_batches", "1099511627776", "256"),
            ("batch_frames", "9223372036854775807", "64"),
            ("defrag_datagrams", "0", "4096"),
            ("defrag_timeout_secs", "9223372036854775807", "30"),
            ("tcp_streams", "99999999999", "65536"),
            ("tcp_buffer_bytes", "1", "262144"),
            ("tcp_idle_secs", "0", "600"),
            ("media_streams", "0", "65536"),
            ("media_idle_secs", "100000000000", "60"),
            ("media_endpoints", "99999999999", "262144"),
            ("calls", "0", "200000"),
            ("linkable_identifiers", "0", "131072"),
            ("registrations", "99999999999", "100000"),
            ("findings_log_bytes", "100", "1048576"),
            ("findings_log_files", "0", "3"),
        ];
        for (key, bad, good) in cases {
            let f = parse_file(&format!("[limits]\n{key} = {bad}")).unwrap();
            let e = limits(&f.limits).unwrap_err().to_string();
            assert!(
                e.contains(key) && e.contains("is not between"),
                "{key}: {e}"
            );
            let f = parse_file(&format!("[limits]\n{key} = {good}")).unwrap();
            assert!(limits(&f.limits).is_ok(), "{key} = {good}");
        }
        for (text, key) in [
            ("[findings]\ncapacity = 0", "findings.capacity"),
            ("[findings]\ncapacity = 1000000000000", "findings.capacity"),
            (
                "[findings]\nttl_secs = 9223372036854775807",
                "findings.ttl_secs",
            ),
            ("[findings]\nttl_secs = 0", "findings.ttl_secs"),
        ] {
            let f = parse_file(text).unwrap();
            let e = findings_capacity(&f)
                .err()
                .or(findings_ttl(&f).err())
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn byte_budgets_are_bounded() {
        let l = |t: &str| limits(&parse_file(t).unwrap().limits);
        let d = l("").unwrap();
        assert_eq!((d.defrag_bytes, d.tcp_bytes), (8 << 20, 64 << 20));
        let ok = l("[limits]\ndefrag_bytes = 262144\ntcp_bytes = 1048576").unwrap();
        assert_eq!((ok.defrag_bytes, ok.tcp_bytes), (262_144, 1_048_576));
        for bad in [
            "[limits]\ndefrag_bytes = 1000",
            "[limits]\ndefrag_bytes = 2000000000",
            "[limits]\ntcp_bytes = 0",
            "[limits]\ntcp_bytes = 20000000000",
        ] {
            let e = l(bad).unwrap_err().to_string();
            let key = bad.split('\n').nth(1).unwrap().split(' ').next().unwrap();
            assert!(e.contains(key) && e.contains("between"), "{e}");
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        let cli = Cli::parse_from(["sipsentinel", "run", "-i", "lo", "-w", "0"]);
        let Command::Run(a) = cli.command else {
            panic!()
        };
        let e = Settings::from_run(&a).unwrap_err().to_string();
        assert!(e.contains("workers"), "{e}");
    }
}

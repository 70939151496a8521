//! The edge: parse the command line, set up logging, run, and turn errors
//! into one line on stderr and an exit code. Exit codes are chosen here only:
//! 0 success, 1 runtime error (bad file, interface, permission), 2 usage.

#![forbid(unsafe_code)]

use anyhow::Context as _;
use clap::Parser as _;
use sipsentinel::config::{self, AuditFormat, Cli, Command, LogFormat, Settings, Source};
use sipsentinel::exposure::Zones;
use sipsentinel::findings::{Store, StoreConfig};
use sipsentinel::health::Health;
use sipsentinel::pipeline::Context;
use sipsentinel::{http, metrics::Metrics, pipeline, report};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::RwLock;

type LogHandle =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Logs go to stderr, human-readable or JSON. The level comes from
/// `SIPSENTINEL_LOG` if set, else the config/flag; SIGHUP can change it.
fn init_logging(format: LogFormat, level: &str) -> Option<LogHandle> {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIPSENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    // Colour only on a terminal: journald and log files get plain text.
    use std::io::IsTerminal as _;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let r = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(filter)
            .with(fmt)
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(fmt.json())
            .try_init(),
    };
    r.ok().map(|_| handle)
}

/// Registry, findings store and zones for one run.
fn context(settings: &Settings) -> anyhow::Result<Context> {
    let cfg = StoreConfig {
        capacity: settings.findings_capacity,
        ttl: settings.findings_ttl,
    };
    let store = match &settings.key_file {
        Some(p) => Store::with_key_file(p, cfg).context("findings.key_file")?,
        None => Store::new(cfg).context("cannot create the findings store")?,
    };
    let zones = Zones::new(settings.zones.clone()).context("invalid zones in the config file")?;
    let metrics = Metrics::new();
    if let Some(path) = &settings.findings_log {
        use sipsentinel::findings::log;
        let rot = log::Rotation {
            max_bytes: settings.limits.findings_log_bytes as u64,
            keep: settings.limits.findings_log_files,
        };
        let (sink, _writer) = log::start(path, rot, metrics.findings_log_dropped.clone())?;
        let _ = store.set_log(sink);
    }
    Ok(Context {
        health: Health::new(Some(metrics.thread_up.clone())),
        metrics,
        store: Arc::new(store),
        zones: Arc::new(RwLock::new(zones)),
    })
}

/// SIGHUP: re-read the config file and apply what can change without a
/// restart (the log level, the zones), saying what was done; a bad file
/// changes nothing. Runs on its own small thread, polling a flag set by the
/// handler.
fn spawn_reloader(
    config: Option<std::path::PathBuf>,
    log: Option<LogHandle>,
    zones: Arc<RwLock<Zones>>,
) -> anyhow::Result<()> {
    let hup = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .context("cannot install SIGHUP handler")?;
    std::thread::Builder::new()
        .name("reload".into())
        .spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            if !hup.swap(false, Ordering::Relaxed) {
                continue;
            }
            let Some(path) = &config else {
                tracing::info!("SIGHUP: no config file given; nothing to reload");
                continue;
            };
            let new = config::reload(path).map_err(anyhow::Error::from).and_then(|r| {
                // Validate everything before changing anything.
                let z = Zones::new(r.zones.clone()).context("invalid zones")?;
                Ok((r, z))
            });
            match new {
                Ok((r, z)) => {
                    let applied = log.as_ref().map(|h| {
                        h.reload(tracing_subscriber::EnvFilter::new(&r.log_level))
                            .is_ok()
                    });
                    *zones.write().unwrap_or_else(|p| p.into_inner()) = z;
                    tracing::info!(
                        log_level = %r.log_level,
                        applied = applied.unwrap_or(false),
                        zones = r.zones.len(),
                        "SIGHUP: configuration reloaded"
                    );
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "SIGHUP: configuration not reloaded, keeping the current one"),
            }
        })
        .context("cannot start reload thread")?;
    Ok(())
}

fn shutdown_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, flag.clone()).context("cannot install signal handler")?;
    }
    Ok(flag)
}

type CdrCheck = Option<(
    sipsentinel::cdr::cli::CdrSettings,
    sipsentinel::metrics::CdrMetrics,
)>;

/// `[cdr]` in the config file: validated and its gauges registered now (so
/// a sensor without a CDR store exports no CDR families); the check thread
/// starts later, with [`start_cdr_check`], after privileges are dropped.
fn prepare_cdr_check(settings: &Settings, ctx: &Context) -> anyhow::Result<CdrCheck> {
    let Some(path) = &settings.config_file else {
        return Ok(None);
    };
    let (file, _) = config::cdr_file(Some(path))?;
    if file.source.is_none() {
        return Ok(None);
    }
    let s = sipsentinel::cdr::cli::settings(&file, None)?;
    let m = sipsentinel::metrics::CdrMetrics::register(&ctx.metrics.registry);
    Ok(Some((s, m)))
}

fn start_cdr_check(check: CdrCheck, shutdown: &Arc<AtomicBool>) -> anyhow::Result<()> {
    if let Some((s, m)) = check {
        sipsentinel::cdr::cli::spawn_watch(s, m, shutdown.clone())
            .context("cannot start the CDR check thread")?;
    }
    Ok(())
}

/// What the HTTP thread serves for `ctx`.
fn http_options(ctx: &Context, web: Option<http::WebConfig>) -> http::Options {
    http::Options {
        store: Some(ctx.store.clone()),
        health: Some(ctx.health.clone()),
        web,
    }
}

fn run(args: &config::RunArgs) -> anyhow::Result<()> {
    let settings = Settings::from_run(args)?;
    let log = init_logging(settings.log_format, &settings.log_level);
    // Read before anything starts: a bad file is a startup error (its
    // message names the file and the key).
    let web = settings
        .web_config
        .as_deref()
        .map(http::WebConfig::load)
        .transpose()?;
    if let Some(w) = http::exposure_warning(settings.listen, web.as_ref()) {
        tracing::warn!(listen = %settings.listen, "{w}");
    }
    let shutdown = shutdown_flag()?;
    let ctx = context(&settings)?;
    let cdr_check = prepare_cdr_check(&settings, &ctx)?;
    let listener = http::bind(settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    match &settings.source {
        Source::Interfaces(ifaces) => {
            // Open every capture first, so a wrong interface or a missing
            // capability fails fast with a clear message; then drop root
            // (before any other thread exists), then serve.
            let c = ctx.clone();
            let user = settings.user.clone();
            let config_file = settings.config_file.clone();
            let stop = shutdown.clone();
            pipeline::capture_live(ifaces, &settings, &ctx, shutdown.clone(), move || {
                if let Some(u) = &user {
                    sipsentinel::privdrop::drop_to(u)?;
                    tracing::info!(user = %u, "dropped privileges: all capabilities gone");
                } else {
                    use sipsentinel::privdrop::{keep_capture_only, Kept};
                    if let Kept::NetRawOnly { dropped } = keep_capture_only()? {
                        tracing::info!(
                            dropped,
                            "dropped privileges: every capability but CAP_NET_RAW gone"
                        );
                    }
                }
                spawn_reloader(config_file, log, c.zones.clone())?;
                start_cdr_check(cdr_check, &stop)?;
                http::spawn_with(listener, c.metrics.clone(), http_options(&c, web))
                    .context("cannot start http thread")?;
                Ok(())
            })?;
            tracing::info!("stopped");
        }
        Source::Files(files) => {
            if settings.user.is_some() {
                anyhow::bail!("--user is for live capture; replaying a file needs no privileges");
            }
            spawn_reloader(settings.config_file.clone(), log, ctx.zones.clone())?;
            start_cdr_check(cdr_check, &shutdown)?;
            let _http = http::spawn_with(listener, ctx.metrics.clone(), http_options(&ctx, web))
                .context("cannot start http thread")?;
            let progress = Arc::new(sipsentinel::progress::ReadProgress::new(files));
            let logger = sipsentinel::progress::spawn_log(progress.clone(), PROGRESS_LOG_EVERY)
                .context("cannot start the progress thread")?;
            let out = pipeline::read_files_with(files, &settings, &ctx, &shutdown, Some(&progress));
            progress.finish();
            let _ = logger.join();
            let out = out?;
            ctx.store.flush_log(FLUSH_LOG_WAIT);
            tracing::info!(frames = out.frames, "replay done");
            if let Some(e) = out.error {
                tracing::warn!(error = %e, "replay stopped early");
            }
            if !settings.exit_when_done {
                while !shutdown.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    }
    ctx.store.flush_log(FLUSH_LOG_WAIT);
    Ok(())
}

/// `run --read` logs its progress this often.
const PROGRESS_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// Longest wait at exit for the findings log to be written.
const FLUSH_LOG_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn audit(args: &config::AuditArgs) -> anyhow::Result<()> {
    let settings = Settings::from_audit(args)?;
    let _ = init_logging(settings.log_format, &settings.log_level);
    let shutdown = shutdown_flag()?;
    let ctx = context(&settings)?;
    // A bar only for a person watching: stderr on a terminal, not --quiet.
    use std::io::IsTerminal as _;
    let progress = Arc::new(sipsentinel::progress::ReadProgress::new(&args.files));
    let bar = (!args.quiet && std::io::stderr().is_terminal())
        .then(|| sipsentinel::progress::spawn_bar(progress.clone()))
        .transpose()
        .context("cannot start the progress thread")?;
    let out = pipeline::read_files_with(&args.files, &settings, &ctx, &shutdown, Some(&progress));
    progress.finish();
    if let Some(b) = bar {
        let _ = b.join();
    }
    let out = out?;
    ctx.store.flush_log(FLUSH_LOG_WAIT);
    if let Some(dest) = &args.redact_pcap {
        let s = sipsentinel::share::redact_files(&args.files, dest, ctx.store.pseudonymizer())
            .with_context(|| format!("cannot write the redacted capture {}", dest.display()))?;
        tracing::info!(
            frames_in = s.frames_in,
            frames_out = s.frames_out,
            sip_messages = s.sip_messages,
            "redacted capture written"
        );
    }
    let text = match args.format {
        AuditFormat::Prometheus => ctx.metrics.render(),
        AuditFormat::Text => report::text_with_findings(&ctx.metrics, &ctx.store, &args.files),
        AuditFormat::Json => report::json_with_findings(&ctx.metrics, &ctx.store, &args.files),
        AuditFormat::Html => report::html::page(
            &ctx.metrics,
            Some(&ctx.store),
            report::html::Source::Files(&args.files),
        ),
    };
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    match out.error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// `cdr audit` / `cdr sanitize`: the report on stdout (a closed pipe is
/// not an error).
fn cdr(c: &config::CdrCommand) -> anyhow::Result<()> {
    let text = match c {
        config::CdrCommand::Audit(a) => sipsentinel::cdr::cli::audit(a)?,
        config::CdrCommand::Sanitize(a) => sipsentinel::cdr::cli::sanitize(a)?,
    };
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    Ok(())
}

/// `pbx-logging`: which logs keep call data, and a verdict.
fn pbx_logging(a: &config::PbxLoggingArgs) -> anyhow::Result<()> {
    let reports = a
        .files
        .iter()
        .map(|f| sipsentinel::pbxlog::check(f))
        .collect::<Result<Vec<_>, _>>()?;
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(sipsentinel::pbxlog::text(&reports).as_bytes());
    let _ = stdout.flush();
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Run(a) = &cli.command {
        if let Some(msg) = config::usage_error(a) {
            use clap::CommandFactory as _;
            Cli::command()
                .error(clap::error::ErrorKind::ValueValidation, msg)
                .exit();
        }
    }
    let r = match &cli.command {
        Command::Run(a) => run(a),
        Command::Audit(a) => audit(a),
        Command::Cdr(c) => cdr(c),
        Command::PbxLogging(a) => pbx_logging(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipsentinel: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

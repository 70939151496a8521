//! The edge: parse the command line, set up logging, run, and turn errors
//! into one line on stderr and an exit code. Exit codes are chosen here only:
//! 0 success, 1 runtime error (bad file, interface, permission), 2 usage.

use anyhow::Context as _;
use clap::Parser as _;
use sipsentinel::config::{self, Cli, Command, LogFormat, ReportFormat, Settings, Source};
use sipsentinel::{http, metrics::Metrics, pipeline, report};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIPSENTINEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

fn shutdown_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, flag.clone()).context("cannot install signal handler")?;
    }
    Ok(flag)
}

fn run(args: &config::RunArgs) -> anyhow::Result<()> {
    let settings = Settings::from_run(args)?;
    init_logging(settings.log_format);
    let shutdown = shutdown_flag()?;
    let metrics = Metrics::new();
    let listener = http::bind(settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    match &settings.source {
        Source::Interface(iface) => {
            // Open the capture before serving, so a wrong interface or a
            // missing capability fails fast with a clear message.
            let _http =
                http::spawn(listener, metrics.clone()).context("cannot start http thread")?;
            pipeline::capture_live(iface, &settings, &metrics, shutdown.clone())?;
            tracing::info!("stopped");
        }
        Source::Files(files) => {
            let _http =
                http::spawn(listener, metrics.clone()).context("cannot start http thread")?;
            let out = pipeline::read_files(files, &settings, &metrics, &shutdown)?;
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
    Ok(())
}

fn audit(args: &config::AuditArgs) -> anyhow::Result<()> {
    let settings = Settings::from_audit(args)?;
    init_logging(settings.log_format);
    let shutdown = shutdown_flag()?;
    let metrics = Metrics::new();
    let out = pipeline::read_files(&args.files, &settings, &metrics, &shutdown)?;
    let text = match args.format {
        ReportFormat::Prometheus => metrics.render(),
        ReportFormat::Text => report::text(&metrics, &args.files),
        ReportFormat::Json => report::json(&metrics, &args.files),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match &cli.command {
        Command::Run(a) => run(a),
        Command::Audit(a) => audit(a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipsentinel: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

//! Runs of `sipsentinel` under a time and an address-space limit, with its
//! peak RSS measured (the robustness tests: `mutated`, `malformed_sip`,
//! `flood`, `hostile_*`), and the robustness contract every such run keeps.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one bounded run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size of the process, KiB (GNU time `%M`).
    pub max_rss_kib: u64,
    pub elapsed: Duration,
    pub timed_out: bool,
}

/// Run `sipsentinel ARGS` with a wall-clock limit (`timeout -s KILL`) and an
/// address-space limit (`prlimit --as`), measuring peak RSS with GNU time
/// written to a file (so stderr stays the program's own).
pub fn run_limited(args: &[&str], limit: Duration, as_mib: u64, scratch: &Path) -> Run {
    assert!(
        Path::new("/usr/bin/time").is_file(),
        "GNU time (/usr/bin/time, Debian package `time`) is needed to measure peak RSS"
    );
    let rss_file = scratch.join(format!(
        "rss-{}-{}.txt",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg("timeout")
        .args(["-s", "KILL", &format!("{}", limit.as_secs().max(1))])
        .arg("prlimit")
        .arg(format!("--as={}", as_mib * 1024 * 1024))
        .arg("--")
        .arg(super::bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sipsentinel under time/timeout/prlimit");
    let elapsed = start.elapsed();
    let rss = std::fs::read_to_string(&rss_file).unwrap_or_default();
    let _ = std::fs::remove_file(&rss_file);
    // GNU time prints "Command terminated by signal N" before %M when killed.
    let max_rss_kib = rss
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or(0);
    let code = out.status.code();
    Run {
        timed_out: code == Some(137) || code == Some(124),
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        max_rss_kib,
        elapsed,
    }
}

/// `sipsentinel audit --format prometheus --workers N` of `pcap` with
/// `limits` as the config file's `[limits]` section, under
/// [`run_limited`] (10 min, `as_mib` of address space); the run must keep
/// the robustness contract and exit 0.
pub fn audit_with_limits(
    dir: &Path,
    pcap: &Path,
    limits: &str,
    workers: usize,
    as_mib: u64,
) -> Run {
    let cfg = dir.join("limits.toml");
    std::fs::write(&cfg, format!("[limits]\n{limits}\n")).unwrap();
    let run = run_limited(
        &[
            "audit",
            &pcap.to_string_lossy(),
            "--format",
            "prometheus",
            "--workers",
            &workers.to_string(),
            "--config",
            &cfg.to_string_lossy(),
        ],
        Duration::from_secs(600),
        as_mib,
        dir,
    );
    assert_contract(&run, &pcap.display().to_string());
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    run
}

static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The robustness contract of one run: it ended in time, printed no panic,
/// exited 0, or 1 with exactly one `sipsentinel: error:` line.
pub fn assert_contract(run: &Run, what: &str) {
    assert!(!run.timed_out, "{what}: killed by the time limit: {run:?}");
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "{what}: panic: {}",
        run.stderr
    );
    match run.code {
        Some(0) => {}
        Some(1) => {
            let errs: Vec<&str> = run
                .stderr
                .lines()
                .filter(|l| l.starts_with("sipsentinel: error:"))
                .collect();
            assert_eq!(
                errs.len(),
                1,
                "{what}: exit 1 wants one error line: {}",
                run.stderr
            );
        }
        other => panic!("{what}: exit status {other:?}: {}", run.stderr),
    }
}

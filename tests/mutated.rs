//! Mutated captures: every capture of the corpus (`$SIPSENTINEL_CORPUS`,
//! default `../shared/corpus`; missing ⇒ a note and return, a failure under
//! `CI=true`) is damaged in three ways and audited:
//!
//! - `editcap -E 0.02 --seed S`: 2 % of the bytes of every frame flipped
//!   (three fixed seeds per capture);
//! - truncation of the file at a random offset (two per capture; the last
//!   record is cut mid-header or mid-frame);
//! - a random snaplen (`editcap -s N`, N in 40..=400, one per capture).
//!
//! Each copy goes through `sipsentinel audit COPY --format prometheus` under
//! a 60 s time limit and a 4 GiB address-space limit; the contract is: no
//! panic text, exit 0 (or 1 with exactly one `sipsentinel: error:` line) and
//! a peak RSS under [`RSS_BOUND_MIB`]. Deterministic (fixed seeds), run two
//! at a time; about 200 audits.

mod common;

use common::xorshift;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

const RSS_BOUND_MIB: u64 = 256;
const SEEDS: [u32; 3] = [1, 2, 3];

fn editcap(args: &[&str], src: &Path, dst: &Path) -> bool {
    let out = Command::new("editcap")
        .args(args)
        .arg(src)
        .arg(dst)
        .output()
        .expect("editcap (wireshark-common) is installed");
    out.status.success()
}

/// The mutated copies of one capture: (label, path).
fn variants(src: &Path, dir: &Path, rng: &mut u64) -> Vec<(String, PathBuf)> {
    let name = src.file_name().unwrap().to_string_lossy().into_owned();
    let mut v = Vec::new();
    for seed in SEEDS {
        let dst = dir.join(format!("{name}.E{seed}"));
        let seed = seed.to_string();
        if editcap(&["-E", "0.02", "--seed", &seed], src, &dst) {
            v.push((format!("{name} -E 0.02 --seed {seed}"), dst));
        }
    }
    let bytes = std::fs::read(src).unwrap();
    for k in 0..2 {
        let cut = 24 + (xorshift(rng) as usize) % bytes.len().saturating_sub(24).max(1);
        let dst = dir.join(format!("{name}.T{k}"));
        std::fs::write(&dst, &bytes[..cut.min(bytes.len())]).unwrap();
        v.push((format!("{name} truncated at {cut}"), dst));
    }
    let snap = 40 + xorshift(rng) % 361;
    let dst = dir.join(format!("{name}.s{snap}"));
    if editcap(&["-s", &snap.to_string()], src, &dst) {
        v.push((format!("{name} -s {snap}"), dst));
    }
    v
}

#[derive(Default, Debug)]
struct Tally {
    runs: usize,
    exit0: usize,
    exit1: usize,
    max_rss_kib: u64,
    max_rss_what: String,
    failures: Vec<String>,
}

#[test]
fn mutated_captures() {
    let Some(corpus) = common::corpus::required() else {
        return;
    };
    let files = common::corpus::files(&corpus);
    assert!(!files.is_empty(), "no captures in {}", corpus.display());
    let dir = common::temp_dir("mutated");
    let mut rng = 0x5EED_CAFE_F00D_u64;
    let mut jobs = Vec::new();
    for f in &files {
        jobs.extend(variants(f, &dir, &mut rng));
    }
    let jobs = Mutex::new(jobs);
    let tally = Mutex::new(Tally::default());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((what, path)) = jobs.lock().unwrap().pop() else {
                    return;
                };
                let p = path.to_string_lossy().into_owned();
                let run = common::limited::run_limited(
                    &["audit", &p, "--format", "prometheus"],
                    Duration::from_secs(60),
                    4096,
                    &dir,
                );
                let verdict =
                    std::panic::catch_unwind(|| common::limited::assert_contract(&run, &what));
                let mut t = tally.lock().unwrap();
                t.runs += 1;
                match run.code {
                    Some(0) => t.exit0 += 1,
                    Some(1) => t.exit1 += 1,
                    _ => {}
                }
                if run.max_rss_kib > t.max_rss_kib {
                    t.max_rss_kib = run.max_rss_kib;
                    t.max_rss_what = what.clone();
                }
                if verdict.is_err() {
                    t.failures
                        .push(format!("{what}: {:?} {}", run.code, run.stderr));
                } else if run.max_rss_kib / 1024 > RSS_BOUND_MIB {
                    t.failures
                        .push(format!("{what}: peak RSS {} KiB", run.max_rss_kib));
                }
                let _ = std::fs::remove_file(&path);
            });
        }
    });
    let t = tally.into_inner().unwrap();
    eprintln!(
        "mutated captures: {} audits of {} captures; exit 0: {}, exit 1: {}; \
         peak RSS {} MiB ({}); failures: {}",
        t.runs,
        files.len(),
        t.exit0,
        t.exit1,
        t.max_rss_kib / 1024,
        t.max_rss_what,
        t.failures.len()
    );
    assert!(t.failures.is_empty(), "{:#?}", t.failures);
    assert!(t.runs >= files.len() * 4, "too few variants: {}", t.runs);
}

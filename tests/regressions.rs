//! Replays every file under `tests/regressions/<target>/` through the fuzz
//! harness of the same name (`fuzz/harness.rs`, shared with the cargo-fuzz
//! targets), so a crash found by fuzzing stays fixed. A file there is a
//! minimized fuzz input (or a hand-made hostile one); an unknown target
//! directory is an error, so a typo cannot silently skip seeds.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;

#[test]
fn replay_regression_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut replayed = 0usize;
    let mut failed = Vec::new();
    for dir in std::fs::read_dir(&root).expect("tests/regressions exists") {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(&(_, run)) = harness::TARGETS.iter().find(|(t, _)| *t == name) else {
            panic!("tests/regressions/{name}: no fuzz target of that name");
        };
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file() && !matches!(p.extension(), Some(e) if e == "md"))
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                failed.push(f.display().to_string());
            }
            replayed += 1;
        }
    }
    eprintln!("replayed {replayed} regression inputs");
    assert!(
        failed.is_empty(),
        "regression inputs that still fail: {failed:#?}"
    );
}

/// Every harness accepts the empty input and a few trivial ones (keeps the
/// harness itself honest when no seeds exist for a target).
#[test]
fn harnesses_accept_trivial_inputs() {
    for (name, run) in harness::TARGETS {
        for input in [
            &b""[..],
            b"\0",
            b"\xff\xff\xff\xff",
            b"SIP/2.0 200 OK\r\n\r\n",
        ] {
            run(input);
        }
        eprintln!("{name}: ok");
    }
}

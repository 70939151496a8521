//! Supply chain and memory-safety guards.
//!
//! - `cargo deny check licenses bans sources` against `deny.toml`: only the
//!   permissive licenses the tree uses, no wildcard versions, crates.io
//!   only. `advisories` is not run here: the RustSec advisory database is a
//!   git repository on GitHub, which this project's machines and CI cannot
//!   reach (only crates.io, Debian, PyPI and npm are), so the check could
//!   never fetch it (see `docs/robustness.md`). Needs cargo-deny
//!   (`cargo install --locked cargo-deny`); missing ⇒ a note and return,
//!   a failure under `CI=true`.
//! - No `unsafe` anywhere in `src/`, and `#![forbid(unsafe_code)]` at the
//!   top of both crate roots so none can be added.

mod common;

use std::path::Path;
use std::process::Command;

fn have_cargo_deny() -> bool {
    let ok = Command::new("cargo")
        .args(["deny", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("cargo-deny is not installed (CI=true): cargo install --locked cargo-deny");
        }
        eprintln!("note: cargo-deny not installed; skipping (cargo install --locked cargo-deny)");
    }
    ok
}

#[test]
fn cargo_deny_licenses_bans_sources() {
    if !have_cargo_deny() {
        return;
    }
    let out = Command::new("cargo")
        .current_dir(common::repo_root())
        .args([
            "deny",
            "--offline",
            "--locked",
            "check",
            "licenses",
            "bans",
            "sources",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "cargo deny failed (offline: `cargo fetch --locked` first, as tests/run.sh does, \
         so the crates of every target platform are present):\n{err}"
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `line` with the contents of its one-line string literals blanked: a CSP
/// header's `'unsafe-inline'` is text, not the keyword.
fn outside_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in line.chars() {
        if in_str {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => {
                    in_str = false;
                    out.push(c);
                }
                _ => escaped = false,
            }
            continue;
        }
        in_str = c == '"';
        out.push(c);
    }
    out
}

#[test]
fn outside_strings_keeps_code_only() {
    assert_eq!(
        outside_strings(r#"let a = "unsafe"; unsafe {"#),
        r#"let a = ""; unsafe {"#
    );
    assert_eq!(outside_strings(r#""a\"unsafe" unsafe"#), r#""" unsafe"#);
}

#[test]
fn no_unsafe_in_src() {
    let mut files = Vec::new();
    rust_files(&common::repo_root().join("src"), &mut files);
    assert!(!files.is_empty());
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = outside_strings(line.split("//").next().unwrap_or(""));
            let hit = code
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|w| w == "unsafe");
            if hit {
                found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "unsafe in src/: {found:#?}");
}

fn forbids_unsafe(file: &str) -> bool {
    std::fs::read_to_string(common::repo_root().join(file))
        .unwrap()
        .lines()
        .any(|l| l.trim() == "#![forbid(unsafe_code)]")
}

#[test]
fn lib_forbids_unsafe_code() {
    assert!(
        forbids_unsafe("src/lib.rs"),
        "src/lib.rs lacks #![forbid(unsafe_code)]"
    );
}

#[test]
fn main_forbids_unsafe_code() {
    assert!(
        forbids_unsafe("src/main.rs"),
        "src/main.rs lacks #![forbid(unsafe_code)]"
    );
}

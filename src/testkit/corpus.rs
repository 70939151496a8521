//! Where the third-party capture corpus is: `$SIPSENTINEL_CORPUS`, else
//! `../shared/corpus` beside the repository (README, "Testing").

use std::path::{Path, PathBuf};

/// The corpus directory, whether or not it exists.
pub fn path() -> PathBuf {
    std::env::var_os("SIPSENTINEL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// The corpus directory when it exists.
pub fn existing() -> Option<PathBuf> {
    let dir = path();
    dir.is_dir().then_some(dir)
}

/// The corpus directory, or `None` with a note when it is missing; under
/// `CI=true` a missing corpus panics (fails the test) instead of skipping.
pub fn required() -> Option<PathBuf> {
    if let Some(dir) = existing() {
        return Some(dir);
    }
    let dir = path();
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("capture corpus {} is missing (CI=true)", dir.display());
    }
    eprintln!(
        "note: capture corpus {} is missing; set SIPSENTINEL_CORPUS. Skipping.",
        dir.display()
    );
    None
}

/// Is `p` named like a capture (`.pcap`, `.pcapng`, `.cap`)?
pub fn is_capture(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("pcap" | "pcapng" | "cap")
    )
}

/// Every capture in `dir`, sorted. Panics when `dir` cannot be read.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("read corpus directory entry").path())
        .collect();
    v.retain(|p| is_capture(p));
    v.sort();
    v
}

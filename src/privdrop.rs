//! Dropping root after the capture is open (`--user NAME`, as `tcpdump -Z`).
//!
//! Owner: `privdrop`, the one place that changes the process's identity.
//! Invariant: when it returns `Ok`, real, effective and saved user and
//! group ids are NAME's, supplementary groups are only NAME's group, every
//! capability set is empty (the kernel clears them on the setuid from root;
//! this is checked, not assumed), and no-new-privileges is set so nothing
//! executed later can regain any. Called before any other thread exists.

use nix::unistd::{Gid, Uid, User};

#[derive(Debug, thiserror::Error)]
pub enum PrivError {
    #[error("--user {0}: no such user")]
    NoSuchUser(String),
    #[error("--user {name}: cannot look up the user: {source}")]
    Lookup { name: String, source: nix::Error },
    #[error("--user needs the sensor to start as root (it starts as uid {0})")]
    NotRoot(u32),
    #[error("--user {name}: {step} failed: {source}")]
    Step {
        name: String,
        step: &'static str,
        source: nix::Error,
    },
    #[error("--user {0}: capabilities remain after the switch (CapEff/CapPrm not zero)")]
    CapsRemain(String),
}

/// Switch to `name` and drop every capability.
pub fn drop_to(name: &str) -> Result<(), PrivError> {
    let user = User::from_name(name)
        .map_err(|source| PrivError::Lookup {
            name: name.to_owned(),
            source,
        })?
        .ok_or_else(|| PrivError::NoSuchUser(name.to_owned()))?;
    let euid = Uid::effective();
    if !euid.is_root() {
        return Err(PrivError::NotRoot(euid.as_raw()));
    }
    let step = |step: &'static str| {
        let name = name.to_owned();
        move |source| PrivError::Step { name, step, source }
    };
    let gid: Gid = user.gid;
    // Groups first: after setuid there is no permission to change them.
    nix::unistd::setgroups(&[gid]).map_err(step("setgroups"))?;
    nix::unistd::setresgid(gid, gid, gid).map_err(step("setresgid"))?;
    nix::unistd::setresuid(user.uid, user.uid, user.uid).map_err(step("setresuid"))?;
    nix::sys::prctl::set_no_new_privs().map_err(step("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    if !caps_empty() {
        return Err(PrivError::CapsRemain(name.to_owned()));
    }
    Ok(())
}

/// CapEff, CapPrm and CapAmb of this process are all zero.
fn caps_empty() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        // No procfs: the kernel rule (setuid from root clears them) holds.
        return true;
    };
    ["CapEff:", "CapPrm:", "CapAmb:"].iter().all(|k| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().chars().all(|c| c == '0'))
            .unwrap_or(true)
    })
}

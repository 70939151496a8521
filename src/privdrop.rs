//! Dropping privileges after the capture is open: every capability but
//! CAP_NET_RAW ([`keep_capture_only`]), or root altogether (`--user NAME`,
//! as `tcpdump -Z`, [`drop_to`]).
//!
//! Owner: `privdrop`, the one place that changes the process's identity
//! and capabilities. Measured: an open libpcap handle in promiscuous mode
//! needs CAP_NET_RAW only (promiscuity is a packet-socket membership, no
//! CAP_NET_ADMIN; the TPACKET_V3 ring needs none), and reopening after a
//! link flap needs the same. So CAP_NET_RAW is all the sensor keeps.
//!
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
    #[error("cannot reduce capabilities to CAP_NET_RAW: {step} failed: {detail}")]
    Caps { step: &'static str, detail: String },
}

/// What [`keep_capture_only`] found and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// The process had no capability to drop (an unprivileged start).
    Nothing,
    /// Every set now holds CAP_NET_RAW at most; `dropped` others went.
    NetRawOnly { dropped: usize },
}

/// After the capture is open, keep CAP_NET_RAW (to reopen after a link
/// flap) and drop every other capability from the effective, permitted,
/// inheritable and ambient sets, and from the bounding set when allowed
/// (CAP_SETPCAP), so nothing executed later could regain them; then set
/// no-new-privileges. A root start without `--user` thus keeps uid 0 but
/// none of root's powers beyond raw packet sockets. Capabilities are per
/// thread: call before any other thread exists, like [`drop_to`].
pub fn keep_capture_only() -> Result<Kept, PrivError> {
    use caps::{CapSet, Capability, CapsHashSet};
    let fail = |step: &'static str| {
        move |e: caps::errors::CapsError| PrivError::Caps {
            step,
            detail: e.to_string(),
        }
    };
    let permitted = caps::read(None, CapSet::Permitted).map_err(fail("capget"))?;
    if permitted.is_empty() {
        return Ok(Kept::Nothing);
    }
    let keep: CapsHashSet = [Capability::CAP_NET_RAW]
        .into_iter()
        .filter(|c| permitted.contains(c))
        .collect();
    let dropped = permitted.len() - keep.len();
    if dropped == 0 {
        // Started with CAP_NET_RAW alone (the systemd unit): only the
        // ambient set, which would pass it to a child, is emptied, with
        // prctl; no capset, which the unit's `~@privileged` filter refuses.
        caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient"))?;
        nix::sys::prctl::set_no_new_privs().map_err(|e| PrivError::Caps {
            step: "prctl(PR_SET_NO_NEW_PRIVS)",
            detail: e.to_string(),
        })?;
        return Ok(Kept::NetRawOnly { dropped });
    }
    // The bounding set first: lowering it needs CAP_SETPCAP, which goes
    // with the effective set below. Without CAP_SETPCAP (a systemd unit
    // already bounds the set) it is left as the unit made it.
    let effective = caps::read(None, CapSet::Effective).map_err(fail("capget"))?;
    if effective.contains(&Capability::CAP_SETPCAP) {
        let bounding = caps::read(None, CapSet::Bounding).map_err(fail("capget"))?;
        for c in bounding.iter().filter(|c| !keep.contains(c)) {
            caps::drop(None, CapSet::Bounding, *c).map_err(fail("PR_CAPBSET_DROP"))?;
        }
    }
    // Ambient and inheritable matter only across exec, which the sensor
    // never does: empty both. Effective before permitted (the effective
    // set must stay a subset of the permitted one).
    caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient"))?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::default())
        .map_err(fail("capset inheritable"))?;
    caps::set(None, CapSet::Effective, &keep).map_err(fail("capset effective"))?;
    caps::set(None, CapSet::Permitted, &keep).map_err(fail("capset permitted"))?;
    nix::sys::prctl::set_no_new_privs().map_err(|e| PrivError::Caps {
        step: "prctl(PR_SET_NO_NEW_PRIVS)",
        detail: e.to_string(),
    })?;
    Ok(Kept::NetRawOnly { dropped })
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

//! `Lab`: a Linux bridge in the root namespace plus N network namespaces, each
//! joined to the bridge by a veth pair. Capturing on the bridge sees all
//! traffic between the namespaces, like a switch mirror port.
//!
//! Naming (all interface names <= 15 chars):
//! - tag    = `<pid % 1000><n>` where n is a per-process counter
//! - bridge = `ssbr<tag>`
//! - veth   = `ssv<tag>h<k>` (root side, enslaved to the bridge) and
//!   `ssv<tag>n<k>` (moved into namespace k)
//! - netns  = `ssns<pid>_<n>_<k>` (full pid)
//!
//! Addresses (exist only inside the namespaces; each lab is its own L2
//! segment, so labs may reuse them): namespace k gets 10.99.<n%250>.<10+k>/24
//! and fd00:99:<n%250>::<10+k>/64 (nodad). The bridge has no address and IPv6
//! is disabled on it and on the root-side veths, so the root namespace never
//! originates packets on the segment. In the namespaces, router solicitations
//! are disabled (accept_ra=0) to keep recordings free of background noise.
//!
//! Root-side links carry an alias `sipsentinel-harness pid=<pid>`;
//! `cleanup_stale()` removes links and namespaces whose owner pid is dead.
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{require_root, require_tool, run_bounded};

const ALIAS_PREFIX: &str = "sipsentinel-harness pid=";
const NS_PREFIX: &str = "ssns";
const CMD_LIMIT: Duration = Duration::from_secs(10);

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

#[derive(Debug, Clone)]
pub struct Node {
    /// network namespace name
    pub ns: String,
    /// interface name inside the namespace
    pub ifname: String,
    /// root-side veth (bridge port)
    pub host_if: String,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
}

#[derive(Debug)]
pub struct Lab {
    pub bridge: String,
    pub nodes: Vec<Node>,
    pub tag: String,
}

/// Run `ip ARGS...` (bounded); panic with stderr on failure.
pub fn ip(args: &[&str]) -> String {
    let out = run_bounded(Command::new("ip").args(args), CMD_LIMIT);
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run `ip ARGS...`, ignoring failures (used in cleanup).
fn ip_quiet(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Names of network namespaces currently present (from `ip netns list`).
pub fn netns_list() -> Vec<String> {
    let out = run_bounded(Command::new("ip").args(["netns", "list"]), CMD_LIMIT);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Names of links in the root namespace.
pub fn link_list() -> Vec<String> {
    link_list_with_alias().into_iter().map(|(n, _)| n).collect()
}

/// (link name, alias) for links in the root namespace.
fn link_list_with_alias() -> Vec<(String, Option<String>)> {
    let out = run_bounded(Command::new("ip").args(["-o", "link", "show"]), CMD_LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v = Vec::new();
    for line in text.lines() {
        // "12: ssbr1231: <...> mtu ... \    alias sipsentinel-harness pid=1"
        let mut parts = line.splitn(3, ": ");
        let _idx = parts.next();
        let Some(name) = parts.next() else { continue };
        let name = name.split('@').next().unwrap_or(name).to_string();
        let alias = line
            .find("alias ")
            .map(|i| line[i + 6..].trim().to_string());
        v.push((name, alias));
    }
    v
}

/// Remove leftovers of earlier crashed runs: namespaces `ssns<pid>_...` and
/// links carrying our alias whose owning process no longer exists. Leftovers
/// of live processes (tests running concurrently) are left alone.
/// Returns what was removed.
pub fn cleanup_stale() -> Vec<String> {
    let mut removed = Vec::new();
    for ns in netns_list() {
        let Some(rest) = ns.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('_').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !pid_alive(pid) && ip_quiet(&["netns", "del", &ns]) {
            removed.push(format!("netns {ns}"));
        }
    }
    for (name, alias) in link_list_with_alias() {
        let Some(alias) = alias else { continue };
        let Some(pid) = alias
            .strip_prefix(ALIAS_PREFIX)
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if !pid_alive(pid) && ip_quiet(&["link", "del", &name]) {
            removed.push(format!("link {name}"));
        }
    }
    removed
}

fn write_sysctl_root(path: &str, value: &str) {
    // Best effort: root-namespace sysctl for our own interfaces only.
    let _ = std::fs::write(path, value);
}

impl Lab {
    /// Create a lab with `n` namespaces. Fails (panics) when not root.
    pub fn new(n: usize) -> Lab {
        require_root();
        require_tool("ip");
        assert!((1..=9).contains(&n), "Lab supports 1..=9 namespaces");
        cleanup_stale();
        let pid = std::process::id();
        let c = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}{}", pid % 1000, c % 100);
        let bridge = format!("ssbr{tag}");
        let subnet = (c % 250) as u8;
        let mut lab = Lab {
            bridge: bridge.clone(),
            nodes: Vec::new(),
            tag: tag.clone(),
        };
        // From here on, Drop cleans up whatever was created if we panic.
        ip(&["link", "add", &bridge, "type", "bridge"]);
        let alias = format!("{ALIAS_PREFIX}{pid}");
        ip(&["link", "set", "dev", &bridge, "alias", &alias]);
        write_sysctl_root(
            &format!("/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6"),
            "1",
        );
        ip(&["link", "set", &bridge, "up"]);
        for k in 0..n {
            let node = Node {
                ns: format!("{NS_PREFIX}{pid}_{c}_{k}"),
                ifname: format!("ssv{tag}n{k}"),
                host_if: format!("ssv{tag}h{k}"),
                ipv4: Ipv4Addr::new(10, 99, subnet, 10 + k as u8),
                ipv6: Ipv6Addr::new(0xfd00, 0x99, subnet as u16, 0, 0, 0, 0, 10 + k as u16),
            };
            lab.nodes.push(node.clone());
            ip(&["netns", "add", &node.ns]);
            ip(&[
                "link",
                "add",
                &node.host_if,
                "type",
                "veth",
                "peer",
                "name",
                &node.ifname,
            ]);
            ip(&["link", "set", "dev", &node.host_if, "alias", &alias]);
            write_sysctl_root(
                &format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", node.host_if),
                "1",
            );
            ip(&["link", "set", &node.host_if, "master", &bridge]);
            ip(&["link", "set", &node.ifname, "netns", &node.ns]);
            // Quiet IPv6 in the namespace: no router solicitations.
            for conf in ["all", "default", node.ifname.as_str()] {
                lab.sh(
                    k,
                    &format!("echo 0 > /proc/sys/net/ipv6/conf/{conf}/accept_ra"),
                );
            }
            ip(&[
                "-n",
                &node.ns,
                "addr",
                "add",
                &format!("{}/24", node.ipv4),
                "dev",
                &node.ifname,
            ]);
            ip(&[
                "-n",
                &node.ns,
                "addr",
                "add",
                &format!("{}/64", node.ipv6),
                "dev",
                &node.ifname,
                "nodad",
            ]);
            ip(&["-n", &node.ns, "link", "set", "lo", "up"]);
            ip(&["-n", &node.ns, "link", "set", &node.ifname, "up"]);
            ip(&["link", "set", &node.host_if, "up"]);
        }
        lab.wait_links_up(Duration::from_secs(5));
        lab
    }

    pub fn node(&self, k: usize) -> &Node {
        &self.nodes[k]
    }

    fn wait_links_up(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let all_up = self.nodes.iter().all(|n| {
                let o = ip(&["-n", &n.ns, "-o", "link", "show", &n.ifname]);
                o.contains("LOWER_UP") && o.contains("state UP")
            });
            if all_up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "lab links did not come up within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `Command` that runs `program` inside namespace k
    /// (`ip netns exec NS program`). Add args and spawn it yourself.
    pub fn command(&self, k: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.nodes[k].ns, program]);
        c
    }

    /// Run `cmd` (program + args) inside namespace k, bounded to 30 s;
    /// returns its output (does not check the exit status).
    pub fn exec(&self, k: usize, cmd: &[&str]) -> Output {
        assert!(!cmd.is_empty());
        let mut c = self.command(k, cmd[0]);
        c.args(&cmd[1..]);
        run_bounded(&mut c, Duration::from_secs(30))
    }

    /// Run a shell snippet inside namespace k; panics if it fails.
    pub fn sh(&self, k: usize, script: &str) -> String {
        let out = self.exec(k, &["sh", "-c", script]);
        assert!(
            out.status.success(),
            "in netns {}: `{script}` failed: {}",
            self.nodes[k].ns,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Set the MTU of namespace k's interface (e.g. 1280 to force IPv4
    /// fragmentation of large UDP SIP messages).
    pub fn set_mtu(&self, k: usize, mtu: u32) {
        let n = &self.nodes[k];
        ip(&[
            "-n",
            &n.ns,
            "link",
            "set",
            "dev",
            &n.ifname,
            "mtu",
            &mtu.to_string(),
        ]);
    }

    /// Names of every namespace and root-side link this lab created.
    pub fn resource_names(&self) -> (Vec<String>, Vec<String>) {
        let ns = self.nodes.iter().map(|n| n.ns.clone()).collect();
        let mut links = vec![self.bridge.clone()];
        links.extend(self.nodes.iter().map(|n| n.host_if.clone()));
        (ns, links)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting the namespace destroys the veth inside it and its peer;
        // delete the root side explicitly too in case the move never happened.
        for n in &self.nodes {
            ip_quiet(&["netns", "del", &n.ns]);
            ip_quiet(&["link", "del", &n.host_if]);
        }
        ip_quiet(&["link", "del", &self.bridge]);
    }
}

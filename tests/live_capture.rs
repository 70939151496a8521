//! Live capture on an interface that fails: `capture_up` follows the link,
//! the sensor reopens it with backoff and keeps counting, and never exits.
//! Also: capturing without the capability is a clear startup error.

mod common;

use common::netns::Lab;
use common::sensor::{sum_metric, Sample, Sensor};
use common::{lab_lock, require_root};
use std::process::Command;
use std::time::Duration;

const UP: &str = "sipsentinel_capture_up";
const PACKETS: &str = "sipsentinel_capture_packets_total";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn up(s: &[Sample], iface: &str) -> f64 {
    sum_metric(s, UP, &[("source", iface)])
}

#[test]
fn interface_flap_is_followed_and_capture_resumes() {
    let _g = lab_lock();
    require_root();
    let lab = Lab::new(2);
    let iface = lab.node(0).host_if.clone();
    let peer = lab.node(1).ipv4.to_string();
    let sensor = Sensor::start_live(&iface, &[]);
    let s = sensor.scrape_until(Duration::from_secs(5), |s| up(s, &iface) == 1.0);
    assert_eq!(up(&s, &iface), 1.0, "capture_up not 1 at start");

    let mut slowest = Duration::ZERO;
    for round in 0..20 {
        ip(&["link", "set", &iface, "down"]);
        let s = sensor.scrape_until(Duration::from_secs(5), |s| up(s, &iface) == 0.0);
        assert_eq!(
            up(&s, &iface),
            0.0,
            "round {round}: capture_up stayed 1 with the link down\n{}",
            sensor.stderr()
        );
        ip(&["link", "set", &iface, "up"]);
        let t = std::time::Instant::now();
        let s = sensor.scrape_until(Duration::from_secs(5), |s| up(s, &iface) == 1.0);
        let took = t.elapsed();
        assert_eq!(
            up(&s, &iface),
            1.0,
            "round {round}: capture not reopened within 5 s\n{}",
            sensor.stderr()
        );
        // Reopen backoff is at most 1 s, scrapes poll every 200 ms.
        assert!(
            took <= Duration::from_secs(2),
            "round {round}: capture reopened after {took:?} (> 2 s)"
        );
        slowest = slowest.max(took);
    }
    eprintln!("flapping: 20 down/up cycles, slowest reopen seen {slowest:?}");
    // Capture really resumed: traffic through the interface is counted.
    let before = sum_metric(&sensor.samples(), PACKETS, &[("source", &iface)]);
    // Ten UDP datagrams from node 0 to node 1 (bash's /dev/udp: no extra
    // tool needed), which cross the captured bridge port.
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo flap > /dev/udp/{peer}/9999; sleep 0.05; done"
    );
    let out = lab.exec(0, &["bash", "-c", &script]);
    assert!(
        out.status.success(),
        "sending UDP between namespaces failed"
    );
    let s = sensor.scrape_until(Duration::from_secs(5), |s| {
        sum_metric(s, PACKETS, &[("source", &iface)]) >= before + 10.0
    });
    let after = sum_metric(&s, PACKETS, &[("source", &iface)]);
    assert!(
        after >= before + 10.0,
        "after reopen: {before} -> {after} packets for 10 datagrams"
    );
    let reopens = sum_metric(&s, "sipsentinel_capture_reopen_attempts_total", &[]);
    assert!(reopens >= 20.0, "reopen attempts {reopens}");

    // Delete the interface: capture_up goes to 0, the process keeps
    // running without spinning (CPU over 2 s while it waits), and capture
    // comes back when an interface of that name is created again.
    ip(&["link", "del", &iface]);
    let s = sensor.scrape_until(Duration::from_secs(5), |s| up(s, &iface) == 0.0);
    assert_eq!(
        up(&s, &iface),
        0.0,
        "capture_up stayed 1 after the interface was deleted"
    );
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name: utime and stime are the 12th and
        // 13th of them (proc(5)), in clock ticks (100 per second here).
        let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    let before = ticks(sensor.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = ticks(sensor.pid()) - before;
    assert!(
        used <= 10,
        "{used} ticks of CPU in 2 s with the interface gone (> 5%)"
    );
    let peer_tmp = format!("{iface}x");
    let peer_tmp = &peer_tmp[peer_tmp.len().saturating_sub(15)..];
    ip(&[
        "link", "add", &iface, "type", "veth", "peer", "name", peer_tmp,
    ]);
    ip(&["link", "set", &iface, "up"]);
    ip(&["link", "set", peer_tmp, "up"]);
    let s = sensor.scrape_until(Duration::from_secs(5), |s| up(s, &iface) == 1.0);
    assert_eq!(
        up(&s, &iface),
        1.0,
        "capture not resumed on the recreated interface\n{}",
        sensor.stderr()
    );
    let _ = Command::new("ip").args(["link", "del", &iface]).output();
    // Still running: the scrape above answered, and the process is alive.
    let text = sensor.stop();
    assert!(!text.contains("panicked"), "{text}");
}

/// Without CAP_NET_RAW the error names the capability. As root the test
/// drops to `nobody` with setpriv (all capabilities gone); as a normal user
/// the binary lacks it already.
#[test]
fn capture_without_capability_names_cap_net_raw() {
    let bin = std::env::temp_dir().join(format!("sipsentinel-nocap-{}", std::process::id()));
    std::fs::copy(common::sensor::sensor_bin(), &bin).unwrap();
    let mut cmd = if common::is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ]);
        c.arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    let out = cmd
        .args(["run", "--interface", "lo", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&bin);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no permission to capture on \"lo\""), "{err}");
    assert!(err.contains("CAP_NET_RAW"), "{err}");
}

fn proc_status(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default()
}

fn status_field<'a>(status: &'a str, key: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or("")
}

/// `--user nobody` as root: after opening the capture the process runs as
/// nobody with no capability at all (read back from /proc/PID/status, as
/// the kernel sees it), and it still captures.
#[test]
fn user_flag_drops_to_nobody_with_no_capabilities() {
    require_root();
    let sensor = Sensor::start_live("lo", &["--user", "nobody", "--filter", "udp port 9"]);
    let st = proc_status(sensor.pid());
    let uids: Vec<&str> = status_field(&st, "Uid:").split_whitespace().collect();
    let gids: Vec<&str> = status_field(&st, "Gid:").split_whitespace().collect();
    assert_eq!(uids, vec!["65534"; 4], "{st}");
    assert_eq!(gids, vec!["65534"; 4], "{st}");
    for cap in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
        assert_eq!(status_field(&st, cap), "0000000000000000", "{cap} in\n{st}");
    }
    assert_eq!(status_field(&st, "NoNewPrivs:"), "1", "{st}");
    assert_eq!(status_field(&st, "Groups:"), "65534", "{st}");
    // Still capturing after the drop: datagrams to the discard port on lo.
    let out = Command::new("bash")
        .args([
            "-c",
            "for i in 1 2 3 4 5; do echo x > /dev/udp/127.0.0.1/9; done",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = sensor.scrape_until(Duration::from_secs(5), |s| {
        sum_metric(s, PACKETS, &[("source", "lo")]) >= 5.0
    });
    assert!(
        sum_metric(&s, PACKETS, &[("source", "lo")]) >= 5.0,
        "{}",
        sensor.stderr()
    );
    let text = sensor.stop();
    assert!(text.contains("dropped privileges"), "{text}");
}

/// SIGHUP re-reads the config file and applies the log level, saying so;
/// a broken file is refused and the old settings stay; SIGTERM exits
/// cleanly within a few seconds.
#[test]
fn sighup_reloads_and_sigterm_exits() {
    let dir = common::temp_dir("sighup");
    let cfg = dir.join("sensor.toml");
    std::fs::write(&cfg, "log_level = \"info\"\n").unwrap();
    let sensor = Sensor::start_with(&[
        "run".into(),
        "--read".into(),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/sv_sip-tcp.pcap"
        )
        .into(),
        "--config".into(),
        cfg.display().to_string(),
    ]);
    std::fs::write(&cfg, "log_level = \"debug\"\n").unwrap();
    sensor.send_signal(libc::SIGHUP);
    wait_for_log(&sensor, "configuration reloaded");
    assert!(
        sensor.stderr().contains("log_level=debug"),
        "{}",
        sensor.stderr()
    );
    std::fs::write(&cfg, "log_levle = \"trace\"\n").unwrap();
    sensor.send_signal(libc::SIGHUP);
    wait_for_log(&sensor, "not reloaded");
    assert!(
        sensor.stderr().contains("log_levle"),
        "the error names the bad key: {}",
        sensor.stderr()
    );
    // Still serving after both.
    assert!(sensor.scrape().contains("sipsentinel_build_info"));
    let (status, text) = sensor.terminate(Duration::from_secs(5));
    let status = status.unwrap_or_else(|| panic!("no exit within 5 s of SIGTERM\n{text}"));
    assert!(status.success(), "{status:?}\n{text}");
}

fn wait_for_log(sensor: &Sensor, needle: &str) {
    for _ in 0..50 {
        if sensor.stderr().contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{needle:?} not logged within 5 s:\n{}", sensor.stderr());
}

/// Capability sets of every thread of `pid` (capabilities are per thread).
fn thread_caps(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let st = std::fs::read_to_string(t.unwrap().path().join("status")).unwrap_or_default();
        let f = |k| status_field(&st, k).to_string();
        out.push(format!(
            "inh={} prm={} eff={} bnd={} amb={} nnp={}",
            f("CapInh:"),
            f("CapPrm:"),
            f("CapEff:"),
            f("CapBnd:"),
            f("CapAmb:"),
            f("NoNewPrivs:")
        ));
    }
    out
}

/// CAP_NET_RAW is capability 13.
const NET_RAW_ONLY: &str = "0000000000002000";
const NONE: &str = "0000000000000000";

fn send_discard(n: usize) {
    let out = Command::new("bash")
        .args([
            "-c",
            &format!("for i in $(seq {n}); do echo x > /dev/udp/127.0.0.1/9; done"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
}

/// Started as root without `--user`, every thread keeps CAP_NET_RAW only,
/// in every set including the bounding set, with no-new-privileges; and
/// it still captures.
#[test]
fn root_start_keeps_only_cap_net_raw() {
    require_root();
    let sensor = Sensor::start_live("lo", &["--filter", "udp port 9"]);
    let want = format!(
        "inh={NONE} prm={NET_RAW_ONLY} eff={NET_RAW_ONLY} bnd={NET_RAW_ONLY} amb={NONE} nnp=1"
    );
    let caps = thread_caps(sensor.pid());
    assert!(caps.len() >= 3, "{caps:?}");
    for c in &caps {
        assert_eq!(c, &want, "{caps:#?}");
    }
    send_discard(5);
    let s = sensor.scrape_until(Duration::from_secs(5), |s| {
        sum_metric(s, PACKETS, &[("source", "lo")]) >= 5.0
    });
    assert!(sum_metric(&s, PACKETS, &[("source", "lo")]) >= 5.0);
    let text = sensor.stop();
    assert!(
        text.contains("every capability but CAP_NET_RAW gone"),
        "{text}"
    );
}

/// As the systemd unit starts it: an unprivileged user with CAP_NET_RAW
/// as its only (ambient) capability. Promiscuous capture opens, the
/// ambient set is emptied once it is open, and packets are counted: no
/// CAP_NET_ADMIN is needed.
#[test]
fn net_raw_alone_is_enough_to_capture() {
    require_root();
    let _lock = lab_lock();
    let bin = std::env::temp_dir().join(format!("sipsentinel-netraw-{}", std::process::id()));
    std::fs::copy(common::sensor::sensor_bin(), &bin).unwrap();
    let port = common::sensor::free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all,+net_raw",
            "--ambient-caps=-all,+net_raw",
            "--bounding-set=-all,+net_raw",
        ])
        .arg(&bin)
        .args(["run", "--interface", "lo", "--filter", "udp port 9"])
        .args(["--listen", &addr.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !matches!(common::sensor::http_get(addr, "/healthz"), Ok((200, _))) {
        assert!(child.try_wait().unwrap().is_none(), "sensor exited early");
        assert!(std::time::Instant::now() < deadline, "no /healthz");
        std::thread::sleep(Duration::from_millis(100));
    }
    let want = format!(
        "inh={NET_RAW_ONLY} prm={NET_RAW_ONLY} eff={NET_RAW_ONLY} bnd={NET_RAW_ONLY} amb={NONE} nnp=1"
    );
    for c in thread_caps(child.id()) {
        assert_eq!(c, want);
    }
    send_discard(5);
    let mut counted = 0.0;
    for _ in 0..50 {
        let (_, body) = common::sensor::http_get(addr, "/metrics").unwrap();
        let samples = common::sensor::parse_metrics(&body);
        counted = sum_metric(&samples, PACKETS, &[("source", "lo")]);
        if counted >= 5.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    common::stop(&mut child, Duration::from_secs(5));
    let _ = std::fs::remove_file(&bin);
    assert!(counted >= 5.0, "captured {counted}");
}

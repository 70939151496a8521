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

    for round in 0..3 {
        ip(&["link", "set", &iface, "down"]);
        let s = sensor.scrape_until(Duration::from_secs(5), |s| up(s, &iface) == 0.0);
        assert_eq!(
            up(&s, &iface),
            0.0,
            "round {round}: capture_up stayed 1 with the link down\n{}",
            sensor.stderr()
        );
        ip(&["link", "set", &iface, "up"]);
        let s = sensor.scrape_until(Duration::from_secs(5), |s| up(s, &iface) == 1.0);
        assert_eq!(
            up(&s, &iface),
            1.0,
            "round {round}: capture not reopened within 5 s\n{}",
            sensor.stderr()
        );
    }
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
    assert!(reopens >= 3.0, "reopen attempts {reopens}");
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
    let mut cmd = if unsafe_is_root() {
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

fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

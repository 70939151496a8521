//! A real Prometheus server (Debian package `prometheus`, `/usr/bin/prometheus`)
//! on 127.0.0.1 with a temporary config: one job `sipsentinel` scraping the
//! given targets every second, `dashboards/alerts.yml` as its rule file,
//! evaluated every second, TSDB in a temp dir. Killed on drop.
//!
//! The HTTP API is used through the harness' minimal HTTP client: `query`
//! (`/api/v1/query`), `alerts` (`/api/v1/alerts`), `targets`
//! (`/api/v1/targets`); JSON via serde_json.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::sensor::{free_port, http_get};
use super::{require_tool, stop, temp_dir};

/// The alert rules shipped with the sensor.
pub fn alerts_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dashboards")
        .join("alerts.yml")
}

pub struct Prometheus {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub log: PathBuf,
}

/// One alert from `/api/v1/alerts`.
#[derive(Debug, Clone)]
pub struct Alert {
    pub name: String,
    /// `pending` or `firing`
    pub state: String,
    pub labels: serde_json::Map<String, Value>,
}

/// Percent-encode a query-string value (RFC 3986 unreserved kept).
pub fn url_encode(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                o.push(b as char)
            }
            _ => o.push_str(&format!("%{b:02X}")),
        }
    }
    o
}

impl Prometheus {
    /// Start Prometheus scraping `targets` (job `sipsentinel`, 1 s) with
    /// `rule_files` (1 s evaluation); waits (≤ 30 s) for `/-/ready`.
    pub fn start(targets: &[SocketAddr], rule_files: &[PathBuf]) -> Prometheus {
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        Prometheus::start_with_scrape_configs(
            &format!(
                "  - job_name: sipsentinel\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
            rule_files,
        )
    }

    /// Start Prometheus with `scrape_configs` (YAML list items, indented by
    /// two spaces) and `rule_files`, 1 s scrape and evaluation intervals;
    /// waits (≤ 30 s) for `/-/ready`.
    pub fn start_with_scrape_configs(scrape_configs: &str, rule_files: &[PathBuf]) -> Prometheus {
        require_tool("prometheus");
        let dir = temp_dir("prometheus");
        let rules: Vec<String> = rule_files
            .iter()
            .map(|r| format!("  - \"{}\"\n", r.display()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\
             scrape_configs:\n{scrape_configs}",
            rules.concat(),
        );
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).unwrap();
        let log = dir.join("prometheus.log");
        let f = std::fs::File::create(&log).unwrap();
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--storage.tsdb.retention.time=1h")
            .arg("--log.level=info")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn prometheus: {e}"));
        let mut p = Prometheus {
            child: Some(child),
            addr,
            dir,
            log,
        };
        p.wait_ready(Duration::from_secs(30));
        p
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("prometheus exited early ({st}); log:\n{}", self.log_text());
            }
            if let Ok((200, _)) = http_get(self.addr, "/-/ready") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus on {} not ready within {limit:?}; log:\n{}",
                self.addr,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// GET an API path; returns `data` of a `status: success` answer.
    pub fn api(&self, path_and_query: &str) -> Value {
        let (code, body) = http_get(self.addr, path_and_query)
            .unwrap_or_else(|e| panic!("prometheus GET {path_and_query}: {e}"));
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| {
            panic!("prometheus GET {path_and_query}: {code}, bad JSON ({e}): {body}")
        });
        assert!(
            code == 200 && v["status"] == "success",
            "prometheus GET {path_and_query}: {code} {body}"
        );
        v["data"].clone()
    }

    /// Instant query; returns the result vector as (labels, value) pairs.
    pub fn query(&self, promql: &str) -> Vec<(serde_json::Map<String, Value>, f64)> {
        let data = self.api(&format!("/api/v1/query?query={}", url_encode(promql)));
        assert_eq!(
            data["resultType"], "vector",
            "query {promql:?} is not an instant vector: {data}"
        );
        data["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let labels = r["metric"].as_object().cloned().unwrap_or_default();
                let v = r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(f64::NAN);
                (labels, v)
            })
            .collect()
    }

    /// Sum of an instant query's values (0 for an empty result).
    pub fn query_sum(&self, promql: &str) -> f64 {
        self.query(promql).iter().map(|(_, v)| v).sum()
    }

    /// Active alerts (pending and firing).
    pub fn alerts(&self) -> Vec<Alert> {
        let data = self.api("/api/v1/alerts");
        data["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                let labels = a["labels"].as_object().cloned().unwrap_or_default();
                Alert {
                    name: labels
                        .get("alertname")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    state: a["state"].as_str().unwrap_or("").to_string(),
                    labels,
                }
            })
            .collect()
    }

    /// Active targets as (scrapeUrl, health, lastError).
    pub fn targets(&self) -> Vec<(String, String, String)> {
        let data = self.api("/api/v1/targets?state=active");
        data["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
                (s("scrapeUrl"), s("health"), s("lastError"))
            })
            .collect()
    }

    /// Loaded rule groups' alert names (`/api/v1/rules`).
    pub fn alert_rule_names(&self) -> Vec<String> {
        let data = self.api("/api/v1/rules?type=alert");
        let mut names = Vec::new();
        for g in data["groups"].as_array().cloned().unwrap_or_default() {
            for r in g["rules"].as_array().cloned().unwrap_or_default() {
                if let Some(n) = r["name"].as_str() {
                    names.push(n.to_string());
                }
            }
        }
        names
    }

    /// Poll (every 500 ms, at most `limit`) until `done` holds; returns
    /// whether it did.
    pub fn wait_until(&self, limit: Duration, mut done: impl FnMut(&Prometheus) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// SIGTERM, wait ≤ 10 s, then SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop(&mut c, Duration::from_secs(10));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
    }
}

/// State of alert `name` among `alerts` ("firing" beats "pending"), if any.
pub fn alert_state(alerts: &[Alert], name: &str) -> Option<String> {
    let states: Vec<&str> = alerts
        .iter()
        .filter(|a| a.name == name)
        .map(|a| a.state.as_str())
        .collect();
    if states.contains(&"firing") {
        Some("firing".into())
    } else if states.contains(&"pending") {
        Some("pending".into())
    } else {
        None
    }
}

impl Prometheus {
    /// `sipsentinel_sip_messages_total` as Prometheus stores it, folded into
    /// the oracle's key shape (zero series dropped), like
    /// `sensor::sip_counts_from_metrics`.
    pub fn sip_counts(&self) -> super::SipCounts {
        let mut c = super::SipCounts::new();
        for (l, v) in self.query("sipsentinel_sip_messages_total") {
            if v == 0.0 {
                continue;
            }
            let s = |k: &str| l.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let kind = s("kind");
            let label = if kind == "response" {
                s("status_class")
            } else {
                s("method")
            };
            *c.entry((kind, label, s("transport"))).or_default() += v as u64;
        }
        c
    }
}

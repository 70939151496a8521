//! Operations artefacts: Prometheus alert rules, Grafana dashboards and the
//! systemd unit, checked with the tools that consume them.
//!
//! * `promtool check rules` / `promtool test rules` on `dashboards/alerts.yml`
//!   and its unit tests `dashboards/alerts_test.yml`;
//! * every dashboard parses, has the `datasource`/`job`/`instance` variables,
//!   filters every selector by `$job`/`$instance`, uses only Grafana's range
//!   variables for windows, and every PromQL expression is accepted by
//!   Prometheus' parser (each is written, variables substituted, as a
//!   recording rule into a temporary rules file that `promtool check rules`
//!   parses);
//! * every metric name the rules and dashboards use is a family of the
//!   metric contract (`sipsentinel::pipeline::metric_contract`, built from
//!   the definitions in `src/metrics.rs`), every label they group or filter
//!   by is a label of the contract, and every exact label value they match
//!   (and every synthetic series below) is one the contract lists;
//! * every alert has a severity, summary, description and a runbook link whose
//!   anchor exists in `docs/runbook.md`, and a firing and a quiet unit test;
//! * `systemd-analyze verify` is clean on the unit (with `ExecStart=` pointed
//!   at `/bin/true`, since verify requires the binary to exist), the sysusers
//!   entry is accepted by `systemd-sysusers --dry-run`, and every variable the
//!   unit uses is set in `sipsentinel.default`.
//!
//! These tests fail, never skip, when `promtool` (Debian package
//! `prometheus`) or `systemd-analyze`/`systemd-sysusers` (package `systemd`)
//! is missing; `tests/run.sh` installs them.

mod common;

use common::grafana::{self, panels, Windows};
use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sipsentinel::metrics::{MetricKind, MetricSpec};
use sipsentinel::pipeline::metric_contract;

const DASHBOARDS: [&str; 5] = [
    "sipsentinel-overview.json",
    "sipsentinel-media.json",
    "sipsentinel-signalling.json",
    "sipsentinel-health.json",
    "sipsentinel-scorecard.json",
];

/// The metric contract as the sensor registers it, every fixed label's
/// values from its enum (`sipsentinel::pipeline::metric_contract`): the
/// checks below use it instead of a copy that can drift.
fn contract() -> Vec<MetricSpec> {
    metric_contract()
}

/// Labels the rules and dashboards may filter or group by: the metric
/// contract's labels, Prometheus' target labels, and `le` of histograms.
fn known_labels() -> HashSet<&'static str> {
    let mut known: HashSet<&'static str> = ["job", "instance", "le", "__name__"].into();
    for spec in contract() {
        known.extend(spec.labels.iter().map(|(l, _)| *l));
    }
    known
}

/// The contract's family of a series name (`_bucket`, `_sum`, `_count` of
/// histograms included).
fn family(name: &str) -> Option<MetricSpec> {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    let spec = contract();
    let exact = spec.iter().find(|s| s.name == name).cloned();
    exact.or_else(|| {
        spec.into_iter()
            .find(|s| s.name == base && s.kind == MetricKind::Histogram)
    })
}

/// `label="value"` pairs of a matcher list (exact matches only).
fn exact_matchers(matchers: &str) -> Vec<(&str, &str)> {
    matchers
        .split(',')
        .filter_map(|m| {
            let (l, v) = m.split_once('=')?;
            if l.ends_with('!') || v.starts_with('~') {
                return None;
            }
            Some((l.trim(), v.trim().strip_prefix('"')?.strip_suffix('"')?))
        })
        .collect()
}

/// A value the contract does not list for a label that has a fixed set.
fn check_value(what: &str, metric: &str, label: &str, value: &str) {
    if label == "le" || label == "job" || label == "instance" {
        return;
    }
    let spec = family(metric).unwrap_or_else(|| panic!("{what}: {metric} is not in the contract"));
    assert!(
        spec.labels.iter().any(|(l, _)| *l == label),
        "{what}: {metric} has no label {label:?}"
    );
    if let Some(values) = spec.values(label) {
        assert!(
            values.contains(&value),
            "{what}: {metric}{{{label}={value:?}}}: not a value of the contract ({values:?})"
        );
    }
}

fn read(rel: &str) -> String {
    let p = common::repo_root().join(rel);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ops-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Run a tool; a missing tool is a failure with the package to install.
fn run(tool: &str, package: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(tool)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {tool} ({e}): install the Debian package `{package}` \
                 (tests/run.sh does this)"
            )
        })
}

fn text(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn promtool(args: &[&str], cwd: &Path) -> Output {
    run("promtool", "prometheus", args, cwd)
}

// ------------------------------------------------------------------ alerts

#[test]
fn alert_rules_pass_promtool_check() {
    let out = promtool(
        &["check", "rules", "dashboards/alerts.yml"],
        common::repo_root(),
    );
    assert!(
        out.status.success(),
        "promtool check rules failed\n{}",
        text(&out)
    );
}

#[test]
fn alert_rules_pass_their_unit_tests() {
    let out = promtool(
        &["test", "rules", "dashboards/alerts_test.yml"],
        common::repo_root(),
    );
    assert!(
        out.status.success(),
        "promtool test rules failed\n{}",
        text(&out)
    );
}

/// One `- alert:` block of alerts.yml, as text (the file is ours and simple:
/// line scanning is enough, and keeps YAML parsers out of the dependencies).
struct Alert {
    name: String,
    body: Vec<String>,
}

fn alerts() -> Vec<Alert> {
    let mut out: Vec<Alert> = Vec::new();
    for line in read("dashboards/alerts.yml").lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- alert:") {
            out.push(Alert {
                name: name.trim().to_string(),
                body: Vec::new(),
            });
        } else if t.starts_with("- name:") || t.starts_with("- record:") {
            // a new group or a recording rule ends the alert block
            out.push(Alert {
                name: String::new(),
                body: Vec::new(),
            });
        } else if let Some(a) = out.last_mut() {
            a.body.push(t.to_string());
        }
    }
    out.retain(|a| !a.name.is_empty());
    out
}

fn field<'a>(a: &'a Alert, key: &str) -> Option<&'a str> {
    a.body.iter().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().trim_matches('"'))
    })
}

/// GitHub's heading anchor: lowercase, spaces to `-`, other punctuation
/// (except `-` and `_`) dropped.
fn github_slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_is_labelled_annotated_and_has_a_runbook_section() {
    let alerts = alerts();
    let expected: BTreeSet<&str> = [
        "CleartextMediaActive",
        "CleartextMediaObserved",
        "SrtpKeyExposed",
        "IdentityOrLocationLeak",
        "PrivacyRequestIgnored",
        "EncryptionMismatch",
        "CaptureDrops",
        "CaptureDown",
        "SensorDown",
        "SensorAbsent",
        "PipelineThreadDown",
        "CdrRetentionExceeded",
    ]
    .into_iter()
    .collect();
    let names: BTreeSet<&str> = alerts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names.len(), alerts.len(), "duplicate alert names");
    let missing: Vec<_> = expected.difference(&names).collect();
    assert!(
        missing.is_empty(),
        "alerts missing from alerts.yml: {missing:?}"
    );

    let anchors: HashSet<String> = read("docs/runbook.md")
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| github_slug(l.trim_start_matches('#')))
        .collect();
    let severities = ["critical", "high", "medium", "low", "info"];
    for a in &alerts {
        let sev = field(a, "severity").unwrap_or_else(|| panic!("{}: no severity label", a.name));
        assert!(severities.contains(&sev), "{}: severity {sev:?}", a.name);
        for key in ["summary", "description"] {
            let v = field(a, key).unwrap_or_else(|| panic!("{}: no {key} annotation", a.name));
            assert!(!v.is_empty(), "{}: empty {key}", a.name);
        }
        let anchor = format!("runbook-{}", a.name.to_lowercase());
        let url = field(a, "runbook").unwrap_or_else(|| panic!("{}: no runbook", a.name));
        assert_eq!(
            url,
            format!("https://github.com/sipsentinel/sipsentinel#{anchor}"),
            "{}: runbook link",
            a.name
        );
        assert!(
            anchors.contains(&anchor),
            "{}: docs/runbook.md has no heading `Runbook: {}` (anchor #{anchor})",
            a.name,
            a.name
        );
    }
    // the critical exposure alerts page at once; SrtpKeyExposed has no delay
    let srtp = alerts.iter().find(|a| a.name == "SrtpKeyExposed").unwrap();
    assert!(
        field(srtp, "for").is_none(),
        "SrtpKeyExposed must fire without `for`"
    );
}

#[test]
fn every_alert_has_a_firing_and_a_quiet_unit_test() {
    let tests = read("dashboards/alerts_test.yml");
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    for a in alerts() {
        let mut fires = false;
        let mut quiet = false;
        for (i, l) in lines.iter().enumerate() {
            if l.strip_prefix("alertname:").map(str::trim) != Some(a.name.as_str()) {
                continue;
            }
            match lines.get(i + 1).copied() {
                Some("exp_alerts: []") => quiet = true,
                Some("exp_alerts:") => fires = true,
                _ => {}
            }
        }
        assert!(fires, "{}: no unit test where it fires", a.name);
        assert!(quiet, "{}: no unit test where it stays quiet", a.name);
    }
}

// -------------------------------------------------------------- dashboards

fn dashboard(name: &str) -> Value {
    serde_json::from_str(&read(&format!("dashboards/{name}")))
        .unwrap_or_else(|e| panic!("{name}: not valid JSON: {e}"))
}

/// `(panel title, expr)` for every query target of a dashboard.
fn exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        let title = p["title"].as_str().unwrap_or("?").to_string();
        for t in p["targets"].as_array().into_iter().flatten() {
            let e = t["expr"].as_str().unwrap_or_default();
            out.push((title.clone(), e.to_string()));
        }
    }
    out
}

/// Grafana variables → values Prometheus' parser accepts.
fn substitute(expr: &str) -> String {
    grafana::substitute(
        expr,
        &Windows {
            rate_interval: "5m",
            interval: "1m",
            range: "1h",
        },
    )
}

fn variable<'a>(d: &'a Value, name: &str) -> &'a Value {
    d["templating"]["list"]
        .as_array()
        .and_then(|l| l.iter().find(|v| v["name"] == name))
        .unwrap_or_else(|| panic!("dashboard {} has no `{name}` variable", d["uid"]))
}

#[test]
fn dashboards_parse_and_have_the_template_variables() {
    let mut uids = HashSet::new();
    for name in DASHBOARDS {
        let d = dashboard(name);
        assert!(
            uids.insert(d["uid"].as_str().unwrap_or_default().to_string()),
            "{name}: uid"
        );
        assert!(
            d["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{name}: title"
        );
        let schema = d["schemaVersion"].as_u64().unwrap_or(0);
        assert!(
            (36..=41).contains(&schema),
            "{name}: schemaVersion {schema}"
        );

        let ds = variable(&d, "datasource");
        assert_eq!(ds["type"], "datasource", "{name}: datasource variable type");
        assert_eq!(
            ds["query"], "prometheus",
            "{name}: datasource variable query"
        );
        for var in ["job", "instance"] {
            let v = variable(&d, var);
            assert_eq!(v["type"], "query", "{name}: ${var} type");
            assert_eq!(
                v["datasource"]["uid"], "${datasource}",
                "{name}: ${var} datasource"
            );
            assert_eq!(
                v["multi"], true,
                "{name}: ${var} must allow several sensors"
            );
            assert_eq!(v["includeAll"], true, "{name}: ${var} must offer All");
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or_default();
            assert!(
                q.starts_with("label_values(sipsentinel_build_info")
                    && q.ends_with(&format!(", {var})")),
                "{name}: ${var} query {q:?}"
            );
        }

        let mut ids = HashSet::new();
        let ps = panels(&d);
        assert!(ps.len() >= 6, "{name}: only {} panels", ps.len());
        for p in ps {
            let title = p["title"].as_str().unwrap_or("?");
            assert!(
                ids.insert(p["id"].as_u64().unwrap_or(0)),
                "{name}: duplicate panel id ({title})"
            );
            if p["type"] == "row" {
                continue;
            }
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{name}/{title}: panel datasource"
            );
            let targets = p["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(!targets.is_empty(), "{name}/{title}: no query");
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{name}/{title}: target datasource"
                );
                assert!(t["refId"].as_str().is_some(), "{name}/{title}: refId");
            }
        }
    }
}

/// Every `{...}` matcher block of an expression, with the metric name
/// before it (empty for none).
fn selectors(expr: &str) -> Vec<(String, String)> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(off) = expr[i..].find('{') {
        let open = i + off;
        let close = open + expr[open..].find('}').expect("unbalanced braces");
        let mut s = open;
        while s > 0 && (b[s - 1].is_ascii_alphanumeric() || b[s - 1] == b'_' || b[s - 1] == b':') {
            s -= 1;
        }
        out.push((expr[s..open].to_string(), expr[open + 1..close].to_string()));
        i = close + 1;
    }
    out
}

#[test]
fn every_dashboard_query_filters_by_job_and_instance_and_uses_grafana_windows() {
    for name in DASHBOARDS {
        let d = dashboard(name);
        for (title, e) in exprs(&d) {
            let sels = selectors(&e);
            assert!(!sels.is_empty(), "{name}/{title}: no selector in {e}");
            for (metric, matchers) in sels {
                assert!(
                    matchers.contains(r#"job=~"$job""#) && matchers.contains(r#"instance=~"$instance""#),
                    "{name}/{title}: selector {metric}{{{matchers}}} is not filtered by $job and $instance"
                );
            }
            // range windows come from Grafana, never hard-coded
            let mut rest = e.as_str();
            while let Some(o) = rest.find('[') {
                let c = rest[o..].find(']').expect("unbalanced brackets") + o;
                let w = &rest[o + 1..c];
                assert!(
                    w == "$__rate_interval" || w == "$__range",
                    "{name}/{title}: window [{w}] (use $__rate_interval, or $__range for totals)"
                );
                rest = &rest[c + 1..];
            }
            for f in ["rate(", "increase("] {
                if e.contains(f) {
                    assert!(e.contains('['), "{name}/{title}: {f} without a range");
                }
            }
        }
    }
}

/// Write expressions as recording rules and let promtool parse them.
fn assert_promql_parses(label: &str, items: &[(String, String)]) {
    let dir = scratch(&format!("promql-{}", label.replace(['/', '.'], "_")));
    let mut y = String::from("groups:\n  - name: parse\n    rules:\n");
    for (i, (_, e)) in items.iter().enumerate() {
        let quoted = serde_json::to_string(&substitute(e)).unwrap();
        y.push_str(&format!(
            "      - record: test:expr_{i}\n        expr: {quoted}\n"
        ));
    }
    let file = dir.join("rules.yml");
    fs::write(&file, y).unwrap();
    let out = promtool(&["check", "rules", file.to_str().unwrap()], &dir);
    if !out.status.success() {
        let listing: String = items
            .iter()
            .enumerate()
            .map(|(i, (t, e))| format!("  test:expr_{i} [{t}] {}\n", substitute(e)))
            .collect();
        panic!(
            "{label}: PromQL rejected by Prometheus' parser\n{}\nexpressions:\n{listing}",
            text(&out)
        );
    }
}

#[test]
fn every_dashboard_expression_is_valid_promql() {
    for name in DASHBOARDS {
        let d = dashboard(name);
        let mut items = exprs(&d);
        // the selector inside each variable's label_values(...) too
        for var in ["job", "instance"] {
            let q = variable(&d, var)["query"]["query"]
                .as_str()
                .unwrap_or_default();
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map(|(s, _)| s.to_string())
                .unwrap_or_default();
            items.push((format!("variable {var}"), inner));
        }
        assert!(items.len() > 6, "{name}: too few expressions");
        assert_promql_parses(name, &items);
    }
}

#[test]
fn the_parse_check_rejects_bad_promql() {
    // guards the check above against passing vacuously
    let dir = scratch("promql-negative");
    let file = dir.join("rules.yml");
    fs::write(
        &file,
        "groups:\n  - name: parse\n    rules:\n      - record: test:bad\n        expr: \"sum by (kind (rate(x[5m]))\"\n",
    )
    .unwrap();
    let out = promtool(&["check", "rules", file.to_str().unwrap()], &dir);
    assert!(
        !out.status.success(),
        "promtool accepted broken PromQL\n{}",
        text(&out)
    );
}

/// Two sensors' worth of every metric family, as promtool input series
/// (counters growing by the given step per minute, gauges constant).
fn synthetic_series() -> String {
    const SERIES: &[(&str, &str, &str)] = &[
        ("sipsentinel_build_info", r#"version="0.1.0""#, "1x20"),
        (
            "sipsentinel_capture_packets_total",
            r#"source="eth1""#,
            "0+6000x20",
        ),
        (
            "sipsentinel_capture_bytes_total",
            r#"source="eth1""#,
            "0+900000x20",
        ),
        (
            "sipsentinel_capture_kernel_dropped_total",
            r#"source="eth1""#,
            "0+30x20",
        ),
        (
            "sipsentinel_capture_interface_dropped_total",
            r#"source="eth1""#,
            "0x20",
        ),
        ("sipsentinel_capture_up", r#"source="eth1""#, "1x20"),
        (
            "sipsentinel_capture_reopen_attempts_total",
            r#"source="eth1""#,
            "0x20",
        ),
        (
            "sipsentinel_pipeline_dropped_total",
            r#"reason="queue_full""#,
            "0+2x20",
        ),
        (
            "sipsentinel_decode_failures_total",
            r#"layer="ip",reason="truncated""#,
            "0+1x20",
        ),
        ("sipsentinel_ip_datagrams_reassembled_total", "", "0+4x20"),
        (
            "sipsentinel_tcp_segments_total",
            r#"event="retransmitted""#,
            "0+3x20",
        ),
        (
            "sipsentinel_sip_messages_total",
            r#"kind="request",method="INVITE",status_class="",transport="udp""#,
            "0+20x20",
        ),
        (
            "sipsentinel_sip_messages_total",
            r#"kind="response",method="INVITE",status_class="2xx",transport="tcp""#,
            "0+18x20",
        ),
        (
            "sipsentinel_sip_parse_errors_total",
            r#"transport="udp",reason="bad_start_line""#,
            "0+1x20",
        ),
        ("sipsentinel_sip_tls_streams_total", "", "0+5x20"),
        ("sipsentinel_calls_total", r#"outcome="answered""#, "0+6x20"),
        ("sipsentinel_calls_active", "", "4x20"),
        (
            "sipsentinel_call_duration_seconds_bucket",
            r#"le="30""#,
            "0+2x20",
        ),
        (
            "sipsentinel_call_duration_seconds_bucket",
            r#"le="300""#,
            "0+5x20",
        ),
        (
            "sipsentinel_call_duration_seconds_bucket",
            r#"le="+Inf""#,
            "0+6x20",
        ),
        ("sipsentinel_call_duration_seconds_sum", "", "0+600x20"),
        ("sipsentinel_call_duration_seconds_count", "", "0+6x20"),
        (
            "sipsentinel_media_streams_total",
            r#"protection="cleartext""#,
            "0+2x20",
        ),
        (
            "sipsentinel_media_streams_total",
            r#"protection="srtp_dtls""#,
            "0+8x20",
        ),
        (
            "sipsentinel_media_streams_active",
            r#"protection="cleartext""#,
            "1x20",
        ),
        (
            "sipsentinel_media_streams_active",
            r#"protection="encrypted_unknown""#,
            "1x20",
        ),
        (
            "sipsentinel_media_streams_active",
            r#"protection="srtp_dtls""#,
            "6x20",
        ),
        (
            "sipsentinel_media_packets_total",
            r#"protection="cleartext""#,
            "0+3000x20",
        ),
        (
            "sipsentinel_media_packets_total",
            r#"protection="srtp_dtls""#,
            "0+9000x20",
        ),
        (
            "sipsentinel_media_bytes_total",
            r#"protection="cleartext""#,
            "0+480000x20",
        ),
        (
            "sipsentinel_media_bytes_total",
            r#"protection="srtp_dtls""#,
            "0+1500000x20",
        ),
        (
            "sipsentinel_rtcp_packets_total",
            r#"protection="cleartext""#,
            "0+12x20",
        ),
        ("sipsentinel_flows_active", r#"kind="tcp_streams""#, "40x20"),
        (
            "sipsentinel_flow_evictions_total",
            r#"reason="tcp_idle""#,
            "0+1x20",
        ),
        (
            "sipsentinel_worker_frames_total",
            r#"worker="0""#,
            "0+6000x20",
        ),
        ("sipsentinel_cdr_records", "", "1200x20"),
        (
            "sipsentinel_cdr_oldest_record_age_seconds",
            "",
            "3456000x20",
        ),
        ("sipsentinel_cdr_records_beyond_retention", "", "300x20"),
        ("sipsentinel_cdr_retention_seconds", "", "2592000x20"),
        ("sipsentinel_cdr_last_check_success", "", "1x20"),
        ("sipsentinel_cdr_columns", r#"class="identity""#, "4x20"),
        ("sipsentinel_cdr_columns", r#"class="network""#, "2x20"),
        (
            "sipsentinel_dtmf_digits_total",
            r#"field="sip_info""#,
            "0+3x20",
        ),
        // Issue 15: zone pairs and registrations (the scorecard dashboard).
        (
            "sipsentinel_zone_sessions_total",
            r#"src_zone="inside",dst_zone="voice",layer="signaling",protection="cleartext""#,
            "0+4x20",
        ),
        (
            "sipsentinel_zone_sessions_total",
            r#"src_zone="voice",dst_zone="inside",layer="signaling",protection="tls""#,
            "0+1x20",
        ),
        (
            "sipsentinel_zone_sessions_total",
            r#"src_zone="inside",dst_zone="voice",layer="media",protection="srtp_dtls""#,
            "0+3x20",
        ),
        (
            "sipsentinel_zone_sessions_total",
            r#"src_zone="voice",dst_zone="inside",layer="media",protection="cleartext""#,
            "0+1x20",
        ),
        ("sipsentinel_registrations_active", "", "3x20"),
    ];
    const EXPOSURES: &[(&str, &str, &str, &str)] = &[
        ("cleartext_media", "critical", "udp", "media"),
        ("srtp_key_exposed", "critical", "udp", "sdp_crypto"),
        (
            "privacy_request_ignored",
            "critical",
            "udp",
            "p_asserted_identity",
        ),
        ("encryption_mismatch", "high", "udp", "media"),
        ("cleartext_signaling", "high", "tcp", "signaling"),
        ("identity_asserted", "high", "udp", "p_asserted_identity"),
        ("digest_credentials", "high", "udp", "authorization"),
        ("rtcp_identity", "medium", "udp", "rtcp_sdes_cname"),
        ("private_address", "medium", "udp", "via"),
        ("software_version", "low", "udp", "user_agent"),
        // Issue 14 (the signalling dashboard's Content row).
        ("dtmf_disclosed", "high", "udp", "sip_info"),
        ("message_content", "high", "udp", "message"),
        ("device_identifier", "medium", "udp", "sip_instance"),
        ("sdp_contact_info", "medium", "udp", "sdp_email"),
        ("topology_disclosed", "medium", "udp", "call_id"),
        ("identity_asserted", "high", "udp", "identity"),
        ("privacy_request_ignored", "critical", "udp", "subject"),
        // Issue #13: protection that is not protection.
        ("srtp_null_cipher", "critical", "udp", "dtls_srtp_profile"),
        ("weak_transport_crypto", "high", "tls", "version"),
        ("certificate_exposed", "medium", "udp", "server_certificate"),
        // Issue 15 (the scorecard dashboard).
        ("registration_presence", "medium", "udp", "register"),
    ];
    // every series is a family of the contract with values it can take
    for (metric, labels, _) in SERIES {
        for (l, v) in exact_matchers(labels) {
            check_value("synthetic series", metric, l, v);
        }
    }
    for (kind, severity, transport, field) in EXPOSURES {
        for (l, v) in [
            ("kind", kind),
            ("severity", severity),
            ("transport", transport),
            ("field", field),
        ] {
            check_value("synthetic series", "sipsentinel_exposures_total", l, v);
        }
    }
    let mut y = String::new();
    for inst in ["s1:9477", "s2:9477"] {
        let target = format!(r#"job="sipsentinel",instance="{inst}""#);
        for (metric, labels, values) in SERIES {
            let sep = if labels.is_empty() { "" } else { "," };
            y.push_str(&format!(
                "      - series: '{metric}{{{target}{sep}{labels}}}'\n        values: '{values}'\n"
            ));
        }
        for (kind, severity, transport, field) in EXPOSURES {
            y.push_str(&format!(
                "      - series: 'sipsentinel_exposures_total{{{target},kind=\"{kind}\",\
                 severity=\"{severity}\",transport=\"{transport}\",field=\"{field}\",zone=\"voice\"}}'\n\
                 \x20       values: '0+1x20'\n"
            ));
        }
    }
    y
}

#[test]
fn every_dashboard_expression_evaluates_to_data() {
    // Prometheus' engine (inside `promtool test rules`) evaluates each query
    // on two synthetic sensors: a runtime error (e.g. many-to-many matching)
    // or an empty result (a label or value that matches nothing) fails.
    let dir = scratch("promql-eval");
    let mut y = String::from(
        "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
    );
    y.push_str(&synthetic_series());
    y.push_str("    promql_expr_test:\n");
    let mut n = 0;
    for name in DASHBOARDS {
        for (title, e) in exprs(&dashboard(name)) {
            let e = substitute(&e);
            let quoted = serde_json::to_string(&format!("clamp_max(count({e}), 1)")).unwrap();
            y.push_str(&format!(
                "      # {name} / {title}\n      - expr: {quoted}\n        eval_time: 15m\n\
                 \x20       exp_samples:\n          - labels: '{{}}'\n            value: 1\n"
            ));
            n += 1;
        }
    }
    assert!(n > 40, "only {n} expressions");
    let file = dir.join("eval_test.yml");
    fs::write(&file, y).unwrap();
    let out = promtool(&["test", "rules", file.to_str().unwrap()], &dir);
    assert!(
        out.status.success(),
        "a dashboard query failed or returned nothing on synthetic data (see {})\n{}",
        file.display(),
        text(&out)
    );
}

/// Metric names used by rules and dashboards, without the histogram suffixes.
fn referenced_metrics(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = src;
    while let Some(p) = rest.find("sipsentinel_") {
        let tail = &rest[p..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let before_ok = p == 0 || {
            let c = rest.as_bytes()[p - 1];
            !(c.is_ascii_alphanumeric()
                || c == b'_'
                || c == b'/'
                || c == b'.'
                || c == b'-'
                || c == b'#')
        };
        if before_ok && end > "sipsentinel_".len() {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn rules_and_dashboards_use_only_defined_metrics_and_labels() {
    let defined = |name: &str| -> bool { family(name).is_some() };
    let mut sources: Vec<(String, String)> = vec![
        ("alerts.yml".into(), read("dashboards/alerts.yml")),
        ("alerts_test.yml".into(), read("dashboards/alerts_test.yml")),
    ];
    let mut all_exprs = Vec::new();
    for name in DASHBOARDS {
        let d = dashboard(name);
        for (t, e) in exprs(&d) {
            sources.push((format!("{name}/{t}"), e.clone()));
            all_exprs.push((format!("{name}/{t}"), e));
        }
    }
    let mut used = 0;
    for (what, s) in &sources {
        for m in referenced_metrics(s) {
            used += 1;
            assert!(
                defined(&m),
                "{what}: metric {m} is not in the metric contract (src/metrics.rs)"
            );
        }
    }
    assert!(used > 30, "found only {used} metric references");

    // label names in matchers and in by/without clauses
    let known = known_labels();
    let alert_exprs: Vec<(String, String)> = alerts()
        .into_iter()
        .map(|a| {
            let body: Vec<&str> = a
                .body
                .iter()
                .map(String::as_str)
                .filter(|l| !l.starts_with('#'))
                .collect();
            (a.name.clone(), body.join("\n"))
        })
        .collect();
    for (what, e) in all_exprs.iter().chain(alert_exprs.iter()) {
        for (metric, matchers) in selectors(e) {
            // a value the sensor never exports matches nothing
            if metric.starts_with("sipsentinel_") {
                for (l, v) in exact_matchers(&matchers) {
                    if !v.contains('$') {
                        check_value(what, &metric, l, v);
                    }
                }
            }
            for m in matchers.split(',') {
                let label = m.split(['=', '!']).next().unwrap_or_default().trim();
                // annotation templates ({{ $labels.x }}) are not selectors
                if label.is_empty()
                    || label.starts_with('{')
                    || label.starts_with('$')
                    || m.contains("$labels")
                {
                    continue;
                }
                assert!(
                    known.contains(label),
                    "{what}: unknown label {label:?} in {{{matchers}}}"
                );
            }
        }
        for kw in ["by (", "without ("] {
            let mut rest = e.as_str();
            while let Some(p) = rest.find(kw) {
                let r = &rest[p + kw.len()..];
                let c = r.find(')').expect("unbalanced by clause");
                for label in r[..c].split(',').map(str::trim) {
                    assert!(
                        known.contains(label),
                        "{what}: unknown label {label:?} in `{kw}`"
                    );
                }
                rest = &r[c..];
            }
        }
    }
    // The promtool tests' input series are the sensor's output as the
    // rules will see it: a label value the sensor never exports there
    // tests a rule against data that cannot occur.
    let mut series = 0;
    for line in read("dashboards/alerts_test.yml").lines() {
        let Some(sel) = line.trim().strip_prefix("- series:") else {
            continue;
        };
        for (metric, matchers) in selectors(sel.trim().trim_matches('\'')) {
            if metric.starts_with("sipsentinel_") {
                series += 1;
                for (l, v) in exact_matchers(&matchers) {
                    check_value("alerts_test.yml series", &metric, l, v);
                }
            }
        }
    }
    assert!(series > 10, "found only {series} input series");
}

// ----------------------------------------------------------------- systemd

fn systemd_analyze(args: &[&str], cwd: &Path) -> Output {
    run("systemd-analyze", "systemd", args, cwd)
}

/// The unit as shipped, with only the `ExecStart=` binary path replaced.
fn unit_for_verify(dir: &Path) -> PathBuf {
    let unit = read("systemd/sipsentinel.service");
    let shipped = "ExecStart=/usr/local/bin/sipsentinel ";
    assert_eq!(
        unit.matches(shipped).count(),
        1,
        "unit must have one ExecStart={{binary}} line"
    );
    let path = dir.join("sipsentinel.service");
    fs::write(&path, unit.replace(shipped, "ExecStart=/bin/true ")).unwrap();
    path
}

#[test]
fn systemd_unit_verifies_clean() {
    let dir = scratch("systemd-verify");
    let unit = unit_for_verify(&dir);
    let out = systemd_analyze(&["verify", unit.to_str().unwrap()], &dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("sipsentinel"))
        .collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify is not clean\n{}",
        text(&out)
    );
}

#[test]
fn systemd_verify_catches_a_broken_unit() {
    // guards the check above against passing vacuously
    let dir = scratch("systemd-negative");
    let unit = unit_for_verify(&dir);
    let broken = fs::read_to_string(&unit).unwrap().replace(
        "ExecStart=/bin/true ",
        "ExecStart=/nonexistent/sipsentinel ",
    );
    fs::write(&unit, broken).unwrap();
    let out = systemd_analyze(&["verify", unit.to_str().unwrap()], &dir);
    assert!(
        !out.status.success(),
        "verify accepted a missing binary\n{}",
        text(&out)
    );
}

#[test]
fn systemd_unit_has_the_required_hardening() {
    let unit = read("systemd/sipsentinel.service");
    let settings: HashSet<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .collect();
    for want in [
        "User=sipsentinel",
        "AmbientCapabilities=CAP_NET_RAW",
        "CapabilityBoundingSet=CAP_NET_RAW",
        "SystemCallFilter=~@privileged @resources",
        "ProcSubset=pid",
        "SocketBindAllow=tcp:9477",
        "SocketBindDeny=any",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "PrivateDevices=yes",
        "MemoryDenyWriteExecute=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_PACKET AF_NETLINK",
        "SystemCallFilter=@system-service",
        "SystemCallArchitectures=native",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "EnvironmentFile=-/etc/default/sipsentinel",
        "ExecStart=/usr/local/bin/sipsentinel run --interface ${SIPSENTINEL_INTERFACE} --listen ${SIPSENTINEL_LISTEN} $SIPSENTINEL_OPTS",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
    ] {
        assert!(settings.contains(want), "unit lacks `{want}`");
    }
    assert!(
        settings.iter().any(|l| l.starts_with("MemoryMax=")),
        "unit lacks MemoryMax="
    );
    assert!(
        !settings.iter().any(|l| l.starts_with("DynamicUser=yes")),
        "static user, not DynamicUser"
    );

    // every variable the unit uses is set in the environment file
    let env = read("systemd/sipsentinel.default");
    let set: HashSet<&str> = env
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    for var in [
        "SIPSENTINEL_INTERFACE",
        "SIPSENTINEL_LISTEN",
        "SIPSENTINEL_OPTS",
    ] {
        assert!(set.contains(var), "sipsentinel.default does not set {var}");
    }
    // The one port the unit lets the process bind is the default listen port.
    let listen = env
        .lines()
        .find_map(|l| l.trim().strip_prefix("SIPSENTINEL_LISTEN="))
        .unwrap();
    let port = listen.rsplit_once(':').unwrap().1;
    assert!(
        settings.contains(format!("SocketBindAllow=tcp:{port}").as_str()),
        "SocketBindAllow does not match SIPSENTINEL_LISTEN={listen}"
    );
}

#[test]
fn sysusers_entry_is_accepted() {
    let file = common::repo_root().join("systemd/sipsentinel.sysusers.conf");
    let out = run(
        "systemd-sysusers",
        "systemd",
        &["--dry-run", file.to_str().unwrap()],
        common::repo_root(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("sysusers.conf:"),
        "systemd-sysusers rejects the entry\n{}",
        text(&out)
    );
    let body = fs::read_to_string(&file).unwrap();
    assert!(
        body.lines()
            .any(|l| l.split_whitespace().take(2).eq(["u", "sipsentinel"])),
        "sysusers entry must create user sipsentinel"
    );
}

/// docs/metrics.md is the contract rendered from the definitions: a family,
/// label value, kind or field added in code and not in the document (or the
/// other way round) fails here. `SIPSENTINEL_BLESS=1` rewrites the file.
#[test]
fn docs_metrics_md_is_the_contract() {
    let want = sipsentinel::pipeline::contract::contract_markdown();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
    if std::env::var_os("SIPSENTINEL_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/metrics.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/metrics.md differs from the metric contract; rerun with SIPSENTINEL_BLESS=1 and review the diff"
    );
    // The rendering is not vacuous: it names families, kinds and fields.
    for needle in [
        "`sipsentinel_exposures_total`",
        "`sipsentinel_zone_sessions_total`",
        "| `srtp_null_cipher` | critical |",
        "`dtls_srtp_profile`",
    ] {
        assert!(want.contains(needle), "{needle}");
    }
}

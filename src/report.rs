//! The `audit` report: the registry's samples rendered as a readable text
//! table, as JSON, or as one self-contained HTML page ([`html`], also the
//! live sensor's `/`); `--format prometheus` is the registry's own text.
//!
//! Owner: `report`. It reads gathered metric families, so the numbers are
//! those `/metrics` would serve (same fixed-set labels, no traffic
//! identifiers), and the findings store, whose entries are already
//! pseudonymised and redacted (see `findings`): the report adds no
//! identifier of its own.

pub mod html;
pub mod zones;

use crate::findings::{Entry, Store};
use crate::metrics::Metrics;
use prometheus::proto::{MetricFamily, MetricType};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::path::PathBuf;

struct Sample {
    labels: Vec<(String, String)>,
    value: f64,
}

fn samples(f: &MetricFamily) -> Vec<Sample> {
    f.get_metric()
        .iter()
        .map(|m| Sample {
            labels: m
                .get_label()
                .iter()
                .map(|l| (l.name().to_string(), l.value().to_string()))
                .collect(),
            value: match f.get_field_type() {
                MetricType::COUNTER => m.get_counter().get_value(),
                MetricType::GAUGE => m.get_gauge().get_value(),
                MetricType::HISTOGRAM => m.get_histogram().get_sample_count() as f64,
                _ => 0.0,
            },
        })
        .collect()
}

/// Families shown in the text report, in order, with a heading each.
const SECTIONS: &[(&str, &str)] = &[
    ("sipsentinel_capture_packets_total", "Frames read"),
    ("sipsentinel_capture_bytes_total", "Bytes read"),
    ("sipsentinel_sip_messages_total", "SIP messages"),
    ("sipsentinel_sip_parse_errors_total", "SIP parse errors"),
    (
        "sipsentinel_sip_tls_streams_total",
        "TLS streams where SIP is expected",
    ),
    ("sipsentinel_exposures_total", "Exposures"),
    ("sipsentinel_media_streams_total", "Media streams"),
    ("sipsentinel_calls_total", "Calls"),
    ("sipsentinel_decode_failures_total", "Decode failures"),
    (
        "sipsentinel_pipeline_dropped_total",
        "Dropped inside the sensor",
    ),
    (
        "sipsentinel_ip_datagrams_reassembled_total",
        "IP datagrams reassembled",
    ),
    ("sipsentinel_tcp_segments_total", "TCP segments"),
    ("sipsentinel_flow_evictions_total", "State evictions"),
];

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

/// The text report without findings. Kept until `main` moves to
/// [`text_with_findings`].
pub fn text(metrics: &Metrics, files: &[PathBuf]) -> String {
    text_inner(metrics, None, files)
}

/// The text report: metric sections, then the exposures found, grouped by
/// severity.
pub fn text_with_findings(metrics: &Metrics, store: &Store, files: &[PathBuf]) -> String {
    text_inner(metrics, Some(store), files)
}

fn text_inner(metrics: &Metrics, store: Option<&Store>, files: &[PathBuf]) -> String {
    let fams = metrics.registry.gather();
    let mut out = String::new();
    let _ = writeln!(out, "sipsentinel audit of {} file(s)", files.len());
    for f in files {
        let _ = writeln!(out, "  {}", f.display());
    }
    for (name, heading) in SECTIONS {
        let Some(f) = fams.iter().find(|f| f.name() == *name) else {
            continue;
        };
        let mut rows: Vec<(String, f64)> = samples(f)
            .into_iter()
            .filter(|s| s.value != 0.0)
            .map(|s| {
                let l: Vec<String> = s
                    .labels
                    .iter()
                    .filter(|(k, v)| k != "source" && !v.is_empty())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                (l.join(" "), s.value)
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let total: f64 = rows.iter().map(|r| r.1).sum();
        let _ = writeln!(out, "\n{heading}: {}", fmt_num(total));
        if rows.len() > 1 || !rows[0].0.is_empty() {
            for (labels, v) in rows {
                let _ = writeln!(out, "  {:>10}  {}", fmt_num(v), labels);
            }
        }
    }
    zones::text(&zones::per_zone(&fams), &mut out);
    observer_log_text(metrics, &mut out);
    if let Some(store) = store {
        findings_table(&store.snapshot(), &mut out);
    }
    out
}

/// "What an on-path observer could log": per signalling protection, the
/// calls and how many showed each CDR field (counts only).
fn observer_log_text(metrics: &Metrics, out: &mut String) {
    use crate::observer::cdr_view::FIELDS;
    let snap = metrics.observer_log.snapshot();
    let _ = writeln!(out, "\nWhat an on-path observer could log (calls)");
    let _ = write!(out, "  {:<11} {:>6}", "signalling", "calls");
    for (f, _) in FIELDS {
        let _ = write!(out, " {f:>15}");
    }
    let _ = writeln!(out);
    for (p, c) in &snap {
        let _ = write!(out, "  {p:<11} {:>6}", c.calls);
        for (f, _) in FIELDS {
            let _ = write!(out, " {:>15}", c.visible.get(f).copied().unwrap_or(0));
        }
        let _ = writeln!(out);
    }
}

/// Entries summed over senders per (kind, field), grouped by severity:
/// count, distinct senders, and the first entry's redacted evidence.
fn findings_table(entries: &[Entry], out: &mut String) {
    struct Row<'a> {
        severity: &'static str,
        kind: &'static str,
        field: &'static str,
        count: u64,
        senders: usize,
        evidence: &'a str,
    }
    let mut rows: Vec<Row<'_>> = Vec::new();
    for e in entries {
        match rows
            .iter_mut()
            .find(|r| r.kind == e.kind && r.field == e.field)
        {
            Some(r) => {
                r.count += e.count;
                r.senders += 1;
            }
            None => rows.push(Row {
                severity: e.severity,
                kind: e.kind,
                field: e.field,
                count: e.count,
                senders: 1,
                evidence: &e.evidence,
            }),
        }
    }
    let _ = writeln!(
        out,
        "\nExposures found (senders pseudonymised, evidence redacted): {}",
        rows.len()
    );
    if rows.is_empty() {
        let _ = writeln!(out, "  none");
        return;
    }
    for sev in crate::exposure::Severity::ALL {
        let mut group: Vec<&Row<'_>> = rows.iter().filter(|r| r.severity == sev.as_str()).collect();
        if group.is_empty() {
            continue;
        }
        group.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.kind.cmp(b.kind))
                .then(a.field.cmp(b.field))
        });
        let _ = writeln!(out, "\n  {}", sev.as_str().to_uppercase());
        let _ = writeln!(
            out,
            "  {:>8}  {:>7}  {:<24} {:<22} evidence",
            "count", "senders", "kind", "field"
        );
        for r in group {
            let _ = writeln!(
                out,
                "  {:>8}  {:>7}  {:<24} {:<22} {}",
                r.count, r.senders, r.kind, r.field, r.evidence
            );
        }
    }
}

/// The JSON report without findings. Kept until `main` moves to
/// [`json_with_findings`].
pub fn json(metrics: &Metrics, files: &[PathBuf]) -> String {
    json_inner(metrics, None, files)
}

/// The JSON report: `files`, `metrics`, and `exposures` (the findings
/// store's entries) with `exposure_stats`.
pub fn json_with_findings(metrics: &Metrics, store: &Store, files: &[PathBuf]) -> String {
    json_inner(metrics, Some(store), files)
}

fn json_inner(metrics: &Metrics, store: Option<&Store>, files: &[PathBuf]) -> String {
    let fams = metrics.registry.gather();
    let mut m = Map::new();
    for f in &fams {
        let rows: Vec<Value> = samples(f)
            .into_iter()
            .map(|s| {
                let labels: Map<String, Value> = s
                    .labels
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect();
                json!({ "labels": labels, "value": s.value })
            })
            .collect();
        m.insert(f.name().to_string(), Value::Array(rows));
    }
    let mut v = json!({
        "files": files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "metrics": m,
        "per_zone": serde_json::to_value(zones::per_zone(&fams)).unwrap_or(Value::Null),
        "observer_log": serde_json::to_value(metrics.observer_log.snapshot()).unwrap_or(Value::Null),
    });
    if let (Some(store), Some(obj)) = (store, v.as_object_mut()) {
        obj.insert(
            "exposures".into(),
            serde_json::to_value(store.snapshot()).unwrap_or(Value::Null),
        );
        obj.insert(
            "exposure_stats".into(),
            serde_json::to_value(store.stats()).unwrap_or(Value::Null),
        );
    }
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposure::{Field, Finding, Kind};
    use crate::findings::StoreConfig;
    use std::time::{Duration, UNIX_EPOCH};

    fn store() -> Store {
        let s = Store::with_key(&[3u8; 32], StoreConfig::default());
        let now = UNIX_EPOCH + Duration::from_secs(100);
        let pai = Finding {
            kind: Kind::IdentityAsserted,
            field: Field::PAssertedIdentity,
            name: b"P-Asserted-Identity",
            evidence: b"<sip:+15551234567@10.0.0.1>",
        };
        let key = Finding {
            kind: Kind::SrtpKeyExposed,
            field: Field::SdpCrypto,
            name: b"",
            evidence: b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:",
        };
        for sender in ["10.0.0.1", "10.0.0.2", "10.0.0.1"] {
            s.record(&pai, sender.parse().unwrap(), "udp", "lan", now);
        }
        s.record(&key, "10.0.0.1".parse().unwrap(), "udp", "lan", now);
        s
    }

    #[test]
    fn text_report_groups_findings_by_severity() {
        let m = Metrics::new();
        let t = text_with_findings(&m, &store(), &[PathBuf::from("x.pcap")]);
        let crit = t.find("CRITICAL").unwrap();
        let high = t.find("HIGH").unwrap();
        assert!(crit < high, "{t}");
        assert!(t.contains("Exposures found (senders pseudonymised, evidence redacted): 2"));
        let line = t.lines().find(|l| l.contains("identity_asserted")).unwrap();
        assert!(
            line.contains(" 3 ") && line.contains(" 2 ") && line.contains("p_asserted_identity"),
            "{line}"
        );
        // A numeric user part is a `num-` pseudonym (of its digits).
        assert!(line.contains("P-Asserted-Identity: <sip:num-"), "{line}");
        assert!(!t.contains("5551234567") && !t.contains("10.0.0."), "{t}");
        assert!(text(&m, &[]).find("Exposures found").is_none());
        let empty = Store::with_key(&[3u8; 32], StoreConfig::default());
        assert!(text_with_findings(&m, &empty, &[])
            .contains("Exposures found (senders pseudonymised, evidence redacted): 0\n  none"));
    }

    #[test]
    fn json_report_has_exposures() {
        let m = Metrics::new();
        let j = json_with_findings(&m, &store(), &[]);
        let v: Value = serde_json::from_str(&j).unwrap();
        let ex = v["exposures"].as_array().unwrap();
        assert_eq!(ex.len(), 3);
        assert_eq!(ex[0]["kind"], "srtp_key_exposed");
        assert_eq!(v["exposure_stats"]["entries"], 3);
        assert!(!j.contains("5551234567") && !j.contains("10.0.0."));
        let plain: Value = serde_json::from_str(&json(&m, &[])).unwrap();
        assert!(plain.get("exposures").is_none());
    }
}

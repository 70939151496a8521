//! The `audit` report: the registry's samples rendered as a readable text
//! table or as JSON (`--format prometheus` is the registry's own text).
//!
//! Owner: `report`. It reads only gathered metric families, so the report
//! can never say something `/metrics` would not: same numbers, same
//! fixed-set labels, no traffic identifiers.

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

pub fn text(metrics: &Metrics, files: &[PathBuf]) -> String {
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
    out
}

pub fn json(metrics: &Metrics, files: &[PathBuf]) -> String {
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
    let v = json!({
        "files": files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "metrics": m,
    });
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

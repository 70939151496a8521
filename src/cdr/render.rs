//! `cdr audit` output: text, JSON and Prometheus exposition.
//!
//! Owner: `cdr::render`. Invariant: renders only a [`Report`], which holds
//! counts, ages, column names and pseudonymised samples, never raw values;
//! the Prometheus form uses the same families as the sensor
//! ([`CdrMetrics`]).

use super::{Class, Report, DAY};
use crate::metrics::CdrMetrics;
use serde_json::json;
use std::fmt::Write as _;

/// The verdict line: what to do, or that retention holds.
pub fn verdict(r: &Report) -> String {
    let rows = r.rows();
    let beyond = r.beyond_retention();
    let identity = r.class_counts().get(&Class::Identity).copied().unwrap_or(0);
    if beyond > 0 {
        format!(
            "RETENTION EXCEEDED: {beyond} of {rows} records are older than {} days; run `sipsentinel cdr sanitize --apply` (or the timer) to keep only daily aggregates",
            r.keep_days
        )
    } else if rows > 0 && identity > 0 {
        format!(
            "OK: all {rows} records are within {} days (they still hold {identity} identity columns)",
            r.keep_days
        )
    } else {
        format!("OK: no record older than {} days", r.keep_days)
    }
}

fn days(secs: i64) -> String {
    format!("{} days ({} s)", secs / DAY, secs)
}

pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "CDR store: {}", r.kind);
    let _ = writeln!(o, "retention: {} days", r.keep_days);
    for t in &r.tables {
        let _ = writeln!(o, "\ntable {}:", t.table);
        let _ = writeln!(o, "  records: {}", t.rows);
        match (t.oldest, t.newest) {
            (Some(old), Some(new)) => {
                let _ = writeln!(o, "  oldest record age: {}", days((r.now - old).max(0)));
                let _ = writeln!(o, "  newest record age: {}", days((r.now - new).max(0)));
            }
            _ => {
                let _ = writeln!(o, "  oldest record age: -");
            }
        }
        let _ = writeln!(
            o,
            "  records beyond retention ({} days): {}",
            r.keep_days, t.beyond_retention
        );
        if t.undated > 0 {
            let _ = writeln!(o, "  records without a readable time: {}", t.undated);
        }
        let _ = writeln!(
            o,
            "  distinct callers: {}, distinct callees: {}",
            t.distinct_callers, t.distinct_callees
        );
        let _ = writeln!(o, "  columns:");
        for class in Class::ALL {
            let names: Vec<&str> = t
                .columns
                .iter()
                .filter(|(_, c)| *c == class)
                .map(|(n, _)| n.as_str())
                .collect();
            if !names.is_empty() {
                let _ = writeln!(o, "    {:<9} {}", class.as_str(), names.join(", "));
            }
        }
        if !t.samples.is_empty() {
            let _ = writeln!(o, "  samples (pseudonymised):");
            let header: Vec<&str> = t.columns.iter().map(|(n, _)| n.as_str()).collect();
            let _ = writeln!(o, "    {}", header.join(" | "));
            for s in &t.samples {
                let _ = writeln!(o, "    {}", s.join(" | "));
            }
        }
    }
    let _ = writeln!(o, "\nverdict: {}", verdict(r));
    o
}

pub fn json(r: &Report) -> String {
    let tables: Vec<_> = r
        .tables
        .iter()
        .map(|t| {
            let columns: Vec<_> = t
                .columns
                .iter()
                .map(|(n, c)| json!({"name": n, "class": c.as_str()}))
                .collect();
            json!({
                "table": t.table,
                "records": t.rows,
                "undated_records": t.undated,
                "oldest_record_age_seconds": t.oldest.map(|o| (r.now - o).max(0)),
                "newest_record_age_seconds": t.newest.map(|n| (r.now - n).max(0)),
                "records_beyond_retention": t.beyond_retention,
                "distinct_callers": t.distinct_callers,
                "distinct_callees": t.distinct_callees,
                "columns": columns,
                "samples": t.samples,
            })
        })
        .collect();
    let classes: serde_json::Map<String, serde_json::Value> = r
        .class_counts()
        .into_iter()
        .map(|(c, n)| (c.as_str().to_owned(), json!(n)))
        .collect();
    let v = json!({
        "store": r.kind,
        "keep_days": r.keep_days,
        "records": r.rows(),
        "oldest_record_age_seconds": r.oldest().map(|_| r.oldest_age_secs()),
        "records_beyond_retention": r.beyond_retention(),
        "columns_by_class": classes,
        "tables": tables,
        "verdict": verdict(r),
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// Set the CDR gauges from a report (sensor and `--format prometheus`).
pub fn apply(m: &CdrMetrics, r: &Report) {
    m.records.set(r.rows() as i64);
    m.oldest_record_age.set(r.oldest_age_secs());
    m.beyond_retention.set(r.beyond_retention() as i64);
    for (c, n) in r.class_counts() {
        m.columns.with_label_values(&[c.as_str()]).set(n as i64);
    }
    m.retention.set(i64::from(r.keep_days) * DAY);
    m.check_success.set(1);
}

pub fn prometheus(r: &Report) -> String {
    let reg = prometheus::Registry::new();
    let m = CdrMetrics::register(&reg);
    apply(&m, r);
    let mut buf = Vec::new();
    use prometheus::Encoder as _;
    if prometheus::TextEncoder::new()
        .encode(&reg.gather(), &mut buf)
        .is_err()
    {
        return String::new();
    }
    String::from_utf8(buf).unwrap_or_default()
}

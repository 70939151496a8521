//! The metric contract with every label's values: `metrics` defines the
//! families and names the vocabularies it does not own; this glue, which
//! may import every domain module, fills them in from each enum's `ALL`.
//!
//! Invariant: one definition per vocabulary. A test, dashboard check or
//! document that needs the contract reads it here, never from a copy.

use crate::metrics::{MetricSpec, Metrics, Values, Vocabulary};

/// Every label value of a domain vocabulary (`ALL` order).
pub fn vocabulary(v: Vocabulary) -> &'static [&'static str] {
    match v {
        Vocabulary::Protection => &crate::media::Protection::LABELS,
        Vocabulary::Transport => &crate::sip::Transport::LABELS,
        Vocabulary::Method => &crate::sip::Method::LABELS,
        Vocabulary::DecodeLayer => &crate::decode::Layer::LABELS,
        Vocabulary::DecodeReason => &crate::decode::Reason::LABELS,
        Vocabulary::SipParseError => &crate::sip::ParseError::LABELS,
        Vocabulary::CallOutcome => &crate::sip::dialog::Outcome::LABELS,
        Vocabulary::RegistrationOutcome => &crate::sip::dialog::RegistrationOutcome::LABELS,
        Vocabulary::ExposureKind => &crate::exposure::Kind::LABELS,
        Vocabulary::Severity => &crate::exposure::Severity::LABELS,
        Vocabulary::ExposureField => &crate::exposure::Field::LABELS,
        Vocabulary::CdrClass => &crate::cdr::Class::LABELS,
        Vocabulary::SessionProtection => &SESSION_PROTECTIONS,
    }
}

/// `zone_sessions_total{protection}`: every media protection (streams),
/// then `tls` (dialogs; cleartext dialogs share `cleartext`).
pub const SESSION_PROTECTIONS: [&str; crate::media::Protection::COUNT + 1] = [
    "cleartext",
    "srtp_sdes",
    "srtp_dtls",
    "zrtp",
    "encrypted_unknown",
    "unknown",
    "tls",
];

/// [`Metrics::contract`] with every [`Values::Domain`] resolved to the
/// values of its enum: each label is `Fixed` (all its values) or `Open`.
pub fn metric_contract() -> Vec<MetricSpec> {
    let mut spec = Metrics::contract();
    for s in &mut spec {
        for (_, values) in &mut s.labels {
            if let Values::Domain(v) = *values {
                *values = Values::Fixed(vocabulary(v));
            }
        }
    }
    spec
}

/// `docs/metrics.md`: the contract and the exposure catalogue as a
/// reader needs them, rendered from the definitions (tests/ops.rs checks
/// the file is this text, so the document cannot drift from the code).
pub fn contract_markdown() -> String {
    use crate::exposure::{Field, Kind};
    use crate::metrics::MetricKind;
    use std::fmt::Write;
    let mut md = String::from(
        "# Metrics and exposure kinds\n\n\
         Generated from the sensor's definitions (`src/metrics.rs`, `src/exposure/mod.rs`);\n\
         `cargo test --test ops` fails when this file and the code differ\n\
         (`SIPSENTINEL_BLESS=1 cargo test --test ops docs_metrics` rewrites it).\n\n\
         Names are an interface: families, labels and label values are added, never\n\
         renamed. Every label value comes from a fixed set the code chooses, or from\n\
         the configuration (\"open\": capture sources, zones, worker and thread names,\n\
         the version); never from the traffic.\n\n## Families\n\n\
         | family | type | labels | help |\n|---|---|---|---|\n",
    );
    for s in metric_contract() {
        let kind = match s.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let labels: Vec<String> = s
            .labels
            .iter()
            .map(|(l, v)| match v {
                Values::Fixed(vals) if vals.len() <= 12 => format!(
                    "`{l}`: {}",
                    vals.iter()
                        .map(|x| if x.is_empty() {
                            "`\"\"`".to_string()
                        } else {
                            format!("`{x}`")
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Values::Fixed(vals) => format!("`{l}`: {} values (below)", vals.len()),
                _ => format!("`{l}`: open"),
            })
            .collect();
        let _ = writeln!(
            md,
            "| `{}` | {kind} | {} | {} |",
            s.name,
            labels.join("; "),
            s.help.replace('|', "\\|")
        );
    }
    md.push_str("\n## Exposure kinds (`kind`, `severity`)\n\n| kind | severity |\n|---|---|\n");
    for k in Kind::ALL {
        let _ = writeln!(md, "| `{}` | {} |", k.as_str(), k.severity().as_str());
    }
    md.push_str("\n## Fields (`field`)\n\n");
    let fields: Vec<String> = Field::ALL
        .iter()
        .map(|f| format!("`{}`", f.as_str()))
        .collect();
    md.push_str(&fields.join(", "));
    md.push_str("\n\nWhat each kind and field detects, and the unit it is counted once per: README, \"What it finds\".\n");
    for s in metric_contract() {
        for (l, v) in &s.labels {
            if let Values::Fixed(vals) = v {
                if vals.len() > 12 {
                    let _ = write!(md, "\n### `{}` `{l}`\n\n", s.name);
                    let list: Vec<String> = vals.iter().map(|x| format!("`{x}`")).collect();
                    md.push_str(&list.join(", "));
                    md.push('\n');
                }
            }
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_protections_are_the_media_ones_and_tls() {
        let media = &crate::media::Protection::LABELS;
        assert_eq!(&SESSION_PROTECTIONS[..media.len()], &media[..]);
        assert_eq!(SESSION_PROTECTIONS[media.len()], "tls");
    }

    #[test]
    fn every_label_is_fixed_or_open_and_values_are_unique() {
        for s in metric_contract() {
            for (label, values) in &s.labels {
                match values {
                    Values::Fixed(v) => {
                        let set: std::collections::HashSet<_> = v.iter().collect();
                        assert_eq!(set.len(), v.len(), "{} {label}", s.name);
                        assert!(!v.is_empty(), "{} {label}", s.name);
                    }
                    Values::Open => {}
                    Values::Domain(_) => panic!("{} {label} unresolved", s.name),
                }
            }
        }
    }

    #[test]
    fn contract_values_match_the_design() {
        let spec = metric_contract();
        let get = |name: &str, label: &str| {
            spec.iter()
                .find(|s| s.name == name)
                .and_then(|s| s.values(label))
                .unwrap_or_else(|| panic!("{name} {label}"))
        };
        assert_eq!(
            get("sipsentinel_media_packets_total", "protection"),
            [
                "cleartext",
                "srtp_sdes",
                "srtp_dtls",
                "zrtp",
                "encrypted_unknown",
                "unknown"
            ]
        );
        assert_eq!(
            get("sipsentinel_calls_total", "outcome"),
            ["answered", "rejected", "cancelled", "timeout"]
        );
        assert!(get("sipsentinel_tcp_segments_total", "event").contains(&"retransmitted"));
        assert!(get("sipsentinel_decode_failures_total", "reason").contains(&"bad_fragment"));
        assert!(get("sipsentinel_sip_messages_total", "status_class").contains(&""));
    }
}

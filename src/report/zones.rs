//! The `audit` "per zone" section: the provider scorecard
//! (`dashboards/sipsentinel-scorecard.json`) for one capture, computed from
//! the same gathered metric families the rest of the report prints.
//!
//! Sessions carry both ends' zones (`zone_sessions_total{src_zone,dst_zone}`),
//! exposures only their sender's (`exposures_total{zone}`): so the section
//! has a table per zone pair (dialogs, TLS, streams, encrypted) and a table
//! per sender zone (the exposure answers). Zone names come from the
//! configuration (`[zones]`, else `unknown`), never from the traffic.

use prometheus::proto::MetricFamily;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Media protections that keep the payload secret. A DTLS-SRTP association
/// that selected a NULL profile is already `cleartext` (see `tls`), so it
/// counts against the share without a correction here.
const ENCRYPTED_MEDIA: [&str; 3] = ["srtp_sdes", "srtp_dtls", "zrtp"];

/// Sessions between two zones.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct PairRow {
    /// Caller's (signalling) or sender's (media) zone.
    pub src_zone: String,
    /// The other end's zone.
    pub dst_zone: String,
    /// Cleartext dialogs plus TLS connections on the SIP path.
    pub signaling_sessions: u64,
    /// Of those, TLS connections.
    pub signaling_tls: u64,
    /// Media streams (one per direction).
    pub media_streams: u64,
    /// Of those, SRTP (SDES or DTLS keyed) or ZRTP.
    pub media_encrypted: u64,
}

/// Exposure answers for the messages a zone sent.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct SenderRow {
    /// The sender's zone.
    pub zone: String,
    /// `srtp_null_cipher` + `weak_transport_crypto`.
    pub false_protection: u64,
    /// `privacy_request_ignored` (0 = Privacy honoured).
    pub privacy_ignored: u64,
    /// `identity_asserted` other than the STIR/SHAKEN `Identity` header.
    pub identity_headers: u64,
    /// `identity_asserted{field="identity"}`: STIR/SHAKEN PASSporTs.
    pub stir_shaken_tokens: u64,
    /// `private_address` + `topology_disclosed` (0 = topology hidden).
    pub topology_disclosed: u64,
    /// `registration_presence`: cleartext REGISTER transactions.
    pub cleartext_registrations: u64,
}

/// The "per zone" section.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct PerZone {
    /// By (src_zone, dst_zone), sorted.
    pub pairs: Vec<PairRow>,
    /// By sender zone, sorted.
    pub senders: Vec<SenderRow>,
}

fn label<'a>(m: &'a prometheus::proto::Metric, name: &str) -> &'a str {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map_or("", |l| l.value())
}

/// Counter value as a count (counters here only ever grow by whole units).
fn count(m: &prometheus::proto::Metric) -> u64 {
    m.get_counter().get_value().max(0.0) as u64
}

/// Builds the section from gathered families.
pub fn per_zone(fams: &[MetricFamily]) -> PerZone {
    let mut pairs: BTreeMap<(String, String), PairRow> = BTreeMap::new();
    let mut senders: BTreeMap<String, SenderRow> = BTreeMap::new();
    for f in fams {
        match f.name() {
            "sipsentinel_zone_sessions_total" => {
                for m in f.get_metric() {
                    add_session(&mut pairs, m);
                }
            }
            "sipsentinel_exposures_total" => {
                for m in f.get_metric() {
                    add_exposure(&mut senders, m);
                }
            }
            _ => {}
        }
    }
    PerZone {
        pairs: pairs.into_values().collect(),
        senders: senders
            .into_values()
            .filter(|r| {
                *r != SenderRow {
                    zone: r.zone.clone(),
                    ..Default::default()
                }
            })
            .collect(),
    }
}

fn add_session(pairs: &mut BTreeMap<(String, String), PairRow>, m: &prometheus::proto::Metric) {
    let n = count(m);
    if n == 0 {
        return;
    }
    let (src, dst) = (label(m, "src_zone"), label(m, "dst_zone"));
    let row = pairs
        .entry((src.to_string(), dst.to_string()))
        .or_insert_with(|| PairRow {
            src_zone: src.to_string(),
            dst_zone: dst.to_string(),
            ..Default::default()
        });
    let protection = label(m, "protection");
    match label(m, "layer") {
        "signaling" => {
            row.signaling_sessions += n;
            if protection == "tls" {
                row.signaling_tls += n;
            }
        }
        "media" => {
            row.media_streams += n;
            if ENCRYPTED_MEDIA.contains(&protection) {
                row.media_encrypted += n;
            }
        }
        _ => {}
    }
}

fn add_exposure(senders: &mut BTreeMap<String, SenderRow>, m: &prometheus::proto::Metric) {
    let n = count(m);
    if n == 0 {
        return;
    }
    let zone = label(m, "zone");
    let row = senders
        .entry(zone.to_string())
        .or_insert_with(|| SenderRow {
            zone: zone.to_string(),
            ..Default::default()
        });
    match (label(m, "kind"), label(m, "field")) {
        ("srtp_null_cipher" | "weak_transport_crypto", _) => row.false_protection += n,
        ("privacy_request_ignored", _) => row.privacy_ignored += n,
        ("identity_asserted", "identity") => row.stir_shaken_tokens += n,
        ("identity_asserted", _) => row.identity_headers += n,
        ("private_address" | "topology_disclosed", _) => row.topology_disclosed += n,
        ("registration_presence", _) => row.cleartext_registrations += n,
        _ => {}
    }
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

/// The text rendering (appended to the text report).
pub fn text(z: &PerZone, out: &mut String) {
    let _ = writeln!(out, "\nPer zone (provider scorecard)");
    if z.pairs.is_empty() && z.senders.is_empty() {
        let _ = writeln!(out, "  no sessions");
        return;
    }
    let _ = writeln!(
        out,
        "  {:<16} {:<16} {:>9} {:>5} {:>5}  {:>7} {:>9} {:>5}",
        "src_zone", "dst_zone", "signaling", "tls", "share", "streams", "encrypted", "share"
    );
    for r in &z.pairs {
        let _ = writeln!(
            out,
            "  {:<16} {:<16} {:>9} {:>5} {:>5}  {:>7} {:>9} {:>5}",
            r.src_zone,
            r.dst_zone,
            r.signaling_sessions,
            r.signaling_tls,
            share(r.signaling_tls, r.signaling_sessions),
            r.media_streams,
            r.media_encrypted,
            share(r.media_encrypted, r.media_streams)
        );
    }
    let _ = writeln!(
        out,
        "\n  {:<16} {:>10} {:>14} {:>8} {:>11} {:>8} {:>13}",
        "sender zone",
        "false_prot",
        "privacy_ignored",
        "identity",
        "stir_shaken",
        "topology",
        "registrations"
    );
    for r in &z.senders {
        let _ = writeln!(
            out,
            "  {:<16} {:>10} {:>14} {:>8} {:>11} {:>8} {:>13}",
            r.zone,
            r.false_protection,
            r.privacy_ignored,
            r.identity_headers,
            r.stir_shaken_tokens,
            r.topology_disclosed,
            r.cleartext_registrations
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn sessions_and_exposures_fold_into_pair_and_sender_rows() {
        let m = Metrics::new();
        let s = |src, dst, layer, prot, n| {
            m.zone_sessions
                .with_label_values(&[src, dst, layer, prot])
                .inc_by(n)
        };
        s("inside", "carrier", "signaling", "cleartext", 3);
        s("inside", "carrier", "signaling", "tls", 1);
        s("inside", "carrier", "media", "srtp_dtls", 2);
        s("inside", "carrier", "media", "cleartext", 2);
        s("carrier", "inside", "media", "zrtp", 1);
        let e = |kind, field, zone, n| {
            m.exposures
                .with_label_values(&[kind, "high", "udp", field, zone])
                .inc_by(n)
        };
        e("identity_asserted", "identity", "carrier", 2);
        e("identity_asserted", "p_asserted_identity", "carrier", 5);
        e("weak_transport_crypto", "version", "carrier", 1);
        e("srtp_null_cipher", "dtls_srtp_profile", "carrier", 1);
        e("topology_disclosed", "call_id", "inside", 4);
        e("cleartext_media", "media", "inside", 9);
        let z = per_zone(&m.registry.gather());
        assert_eq!(z.pairs.len(), 2, "{z:?}");
        let out = &z.pairs[1];
        assert_eq!(
            (out.src_zone.as_str(), out.dst_zone.as_str()),
            ("inside", "carrier")
        );
        assert_eq!((out.signaling_sessions, out.signaling_tls), (4, 1));
        assert_eq!((out.media_streams, out.media_encrypted), (4, 2));
        assert_eq!(
            (z.pairs[0].media_streams, z.pairs[0].media_encrypted),
            (1, 1)
        );
        let c = &z.senders[0];
        assert_eq!(c.zone, "carrier");
        assert_eq!(
            (c.stir_shaken_tokens, c.identity_headers, c.false_protection),
            (2, 5, 2)
        );
        assert_eq!(z.senders[1].topology_disclosed, 4);
        let mut t = String::new();
        text(&z, &mut t);
        assert!(t.contains("25%") && t.contains("50%"), "{t}");
    }

    #[test]
    fn an_empty_registry_has_no_rows() {
        let z = per_zone(&Metrics::new().registry.gather());
        assert_eq!(z, PerZone::default());
        let mut t = String::new();
        text(&z, &mut t);
        assert!(t.contains("no sessions"));
    }
}

//! The HTML page: `audit --format html` and the live sensor's `/`.
//!
//! Owner: `report`. One self-contained document (no script, no external
//! asset, no font or image to fetch: it works offline and from `file://`),
//! rendered with maud, which escapes every spliced value: evidence comes
//! from hostile traffic, and a `<script>` or a quote in a SIP header must
//! stay text. A Content-Security-Policy `<meta>` (no `script-src`, no
//! connections) makes the page inert even if a value ever escaped.
//!
//! What it shows is what the text and JSON reports show, from the same two
//! sources: the gathered metric families (fixed-set labels only) and the
//! findings store's entries (already pseudonymised and redacted by
//! `findings`). The page adds no identifier of its own and keeps no state:
//! the live `/` renders it from the registry and the store on each request
//! (the HTTP layer caches one rendering for a second, as for
//! `/api/exposures`).
//!
//! Size: findings are aggregated by (kind, field), so the page has at most
//! one row per catalogue entry, whatever the store holds; the full list is
//! `/api/exposures`.

use super::samples;
use crate::findings::{Entry, Store};
use crate::metrics::Metrics;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use prometheus::proto::MetricFamily;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// What the page is about: files read by `audit`, or the live sensor.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Files(&'a [PathBuf]),
    Live,
}

/// Seconds between reloads of the live page (the browser reloads; the
/// sensor keeps nothing per reader).
pub const LIVE_REFRESH_SECS: u32 = 30;

/// The policy of the page: nothing may run or be fetched; inline styles
/// only. Also sent as a header by the live sensor.
pub const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const PREFIX: &str = "sipsentinel_";

/// What an observer on the path learns from each kind, in plain words
/// (completes "An observer on this path can ..."). Kinds without a
/// sentence (new ones) are named by their id.
fn learns(kind: &str) -> &'static str {
    match kind {
        "cleartext_media" => {
            "listen to the audio of calls: media streams carry RTP without encryption"
        }
        "srtp_key_exposed" => "decrypt encrypted calls: SRTP keys travel inside cleartext SIP",
        "privacy_request_ignored" => {
            "see who is calling even when callers asked for privacy (Privacy header)"
        }
        "encryption_mismatch" => {
            "listen to calls that were announced as encrypted but were sent in clear"
        }
        "cleartext_signaling" => {
            "see who calls whom, when and for how long: SIP travels without TLS"
        }
        "identity_asserted" => "read callers' network-asserted identities (numbers and names)",
        "location_disclosed" => "learn where callers are (access network, cell or geolocation)",
        "digest_credentials" => {
            "capture login attempts (digest user names and responses) to guess passwords offline"
        }
        "forwarding_history" => "see where calls were forwarded from, and why",
        "private_address" => "map your internal network from private addresses in SIP and SDP",
        "rtcp_identity" => "link media streams to users and devices (RTCP and SDP identity items)",
        "software_version" => "fingerprint phones and servers by software name and version",
        "custom_header" => "read vendor-specific headers (account codes, internal tags)",
        "sdp_username" => "read user or device names in SDP origin lines",
        "tls_server_name" => "see which SIP servers TLS clients connect to (server name)",
        "srtp_null_cipher" => "listen to calls marked SRTP whose cipher encrypts nothing",
        "weak_transport_crypto" => {
            "decrypt recorded TLS or SRTP later, or weaken it now (old versions, RSA key exchange, NULL ciphers, short tags)"
        }
        "certificate_exposed" => "identify devices and servers by certificates sent in clear",
        "speech_activity" => {
            "tell when each party speaks, even under SRTP (audio levels, packet lengths)"
        }
        "dtmf_disclosed" => "count and time the keys pressed (PINs, card numbers) on calls",
        "message_content" => {
            "read that messages, voicemail notices, presence or who-talks-to-whom were sent"
        }
        "device_identifier" => "follow a device by identifiers that never change (instance ids, IMEIs, MACs)",
        "sdp_contact_info" => "read e-mail addresses, phone numbers and notes in SDP",
        "topology_disclosed" => "learn internal host names and addresses from Call-IDs",
        "linkable_identifier" => "link separate calls to one device or person, even when encrypted",
        "registration_presence" => "see when each phone comes online, stays and goes offline",
        _ => "",
    }
}

/// Colour of each media protection verdict in the chart, and its meaning.
const PROTECTIONS: &[(&str, &str, &str)] = &[
    (
        "cleartext",
        "#c62828",
        "anyone on the path can play the audio",
    ),
    (
        "encrypted_unknown",
        "#8d6e63",
        "looks encrypted; how the keys were exchanged was not seen",
    ),
    (
        "srtp_sdes",
        "#f9a825",
        "SRTP keyed in the signalling (safe only if SIP is TLS)",
    ),
    (
        "srtp_dtls",
        "#2e7d32",
        "SRTP keyed by DTLS on the media path",
    ),
    ("zrtp", "#2e7d32", "SRTP keyed by ZRTP on the media path"),
    ("unknown", "#9e9e9e", "too little seen to decide"),
];

const SEVERITY_COLOURS: &[(&str, &str)] = &[
    ("critical", "#b71c1c"),
    ("high", "#e65100"),
    ("medium", "#f9a825"),
    ("low", "#1565c0"),
    ("info", "#607d8b"),
];

fn colour(sev: &str) -> &'static str {
    SEVERITY_COLOURS
        .iter()
        .find(|(s, _)| *s == sev)
        .map_or("#607d8b", |(_, c)| *c)
}

fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Sums of one metric family, by the values of `by` (fixed-set labels).
struct Family<'a>(Option<&'a MetricFamily>);

impl Family<'_> {
    fn total(&self) -> f64 {
        self.0
            .map_or(0.0, |f| samples(f).iter().map(|s| s.value).sum())
    }

    fn by(&self, by: &[&str]) -> BTreeMap<Vec<String>, f64> {
        let mut m = BTreeMap::new();
        for s in self.0.map(samples).unwrap_or_default() {
            if s.value == 0.0 {
                continue;
            }
            let key = by
                .iter()
                .map(|k| {
                    s.labels
                        .iter()
                        .find(|(n, _)| n == k)
                        .map_or_else(String::new, |(_, v)| v.clone())
                })
                .collect();
            *m.entry(key).or_insert(0.0) += s.value;
        }
        m
    }

    fn one(&self, label: &str, value: &str) -> f64 {
        self.by(&[label])
            .get(&vec![value.to_string()])
            .copied()
            .unwrap_or(0.0)
    }

    /// Sum of a histogram's observations.
    fn histogram_sum(&self) -> f64 {
        self.0.map_or(0.0, |f| {
            f.get_metric()
                .iter()
                .map(|m| m.get_histogram().get_sample_sum())
                .sum()
        })
    }
}

fn num(v: f64) -> String {
    super::fmt_num(v)
}

/// One row of a severity table: the entries of one (kind, field) summed
/// over senders.
struct Row<'a> {
    severity: &'static str,
    kind: &'static str,
    field: &'static str,
    count: u64,
    senders: usize,
    example_sender: &'a str,
    transports: BTreeSet<&'a str>,
    zones: BTreeSet<&'a str>,
    evidence: &'a str,
}

fn rows(entries: &[Entry]) -> Vec<Row<'_>> {
    let mut rows: Vec<Row<'_>> = Vec::new();
    for e in entries {
        let r = match rows
            .iter_mut()
            .position(|r| r.kind == e.kind && r.field == e.field)
        {
            Some(i) => {
                let r = &mut rows[i];
                r.count += e.count;
                r.senders += 1;
                r
            }
            None => {
                rows.push(Row {
                    severity: e.severity,
                    kind: e.kind,
                    field: e.field,
                    count: e.count,
                    senders: 1,
                    example_sender: &e.sender,
                    transports: BTreeSet::new(),
                    zones: BTreeSet::new(),
                    evidence: &e.evidence,
                });
                let n = rows.len() - 1;
                &mut rows[n]
            }
        };
        r.transports.insert(&e.transport);
        r.zones.insert(&e.zone);
    }
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.kind.cmp(b.kind))
            .then(a.field.cmp(b.field))
    });
    rows
}

/// A horizontal bar chart as inline SVG: one bar per (label, value,
/// colour), drawn server-side. Labels come from fixed sets; maud escapes
/// them anyway.
fn bar_chart(id: &str, title: &str, bars: &[(String, f64, &str)]) -> Markup {
    const W: f64 = 640.0;
    const LABEL: f64 = 170.0;
    const ROW: f64 = 26.0;
    let max = bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1.0);
    let h = ROW * bars.len().max(1) as f64 + 8.0;
    let span = W - LABEL - 70.0;
    html! {
        svg id=(id) class="chart" role="img" xmlns="http://www.w3.org/2000/svg"
            width=(W) height=(h) viewBox=(format!("0 0 {W} {h}")) aria-label=(title) {
            title { (title) }
            @if bars.is_empty() {
                text x="0" y="18" class="axis" { "nothing seen" }
            }
            @for (i, (label, value, fill)) in bars.iter().enumerate() {
                @let y = 4.0 + ROW * i as f64;
                @let w = if *value > 0.0 { (span * value / max).max(2.0) } else { 0.0 };
                g class="bar-row" data-label=(label) data-value=(num(*value)) {
                    text x=(LABEL - 8.0) y=(y + 15.0) text-anchor="end" class="axis" { (label) }
                    rect class="bar" x=(LABEL) y=(y) width=(format!("{w:.1}")) height="18" fill=(fill) {
                        title { (label) ": " (num(*value)) }
                    }
                    text x=(LABEL + w + 6.0) y=(y + 15.0) class="value" { (num(*value)) }
                }
            }
        }
    }
}

const STYLE: &str = r#"
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:0 1.2em 3em;color:#212121;background:#fafafa}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:1em;border-bottom:1px solid #ddd}
header h1{margin:.5em 0;font-size:1.5em}
nav a{margin-right:1em}
.source{color:#555;margin:.2em 0}
section{margin-top:1.6em}
h2{font-size:1.25em;border-bottom:1px solid #e0e0e0;padding-bottom:.2em}
.verdict{border-left:8px solid #607d8b;background:#fff;padding:.6em 1.2em;box-shadow:0 1px 2px #0002}
.verdict .headline{font-size:1.2em;font-weight:600}
.verdict.sev-critical{border-color:#b71c1c}.verdict.sev-high{border-color:#e65100}
.verdict.sev-medium{border-color:#f9a825}.verdict.sev-low{border-color:#1565c0}.verdict.sev-none{border-color:#2e7d32}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92em}
th,td{border-bottom:1px solid #eee;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.evidence{font-family:ui-monospace,monospace;word-break:break-all;white-space:pre-wrap}
.severity h3 .dot{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.4em}
.chart{max-width:100%;height:auto;background:#fff}
.chart .axis,.chart .value{font-size:12px;fill:#333}
.legend td:first-child{width:1.2em}
.swatch{display:inline-block;width:1em;height:1em}
.note{color:#555;font-size:.92em}
#calls table{max-width:560px}
footer{margin-top:2em;color:#777;font-size:.85em}
"#;

/// The page for `source`, from the registry's families and, when given,
/// the findings store.
pub fn page(metrics: &Metrics, store: Option<&Store>, source: Source<'_>) -> String {
    let fams = metrics.registry.gather();
    let fam = |name: &str| {
        Family(
            fams.iter()
                .find(|f| f.name().strip_prefix(PREFIX) == Some(name)),
        )
    };
    let entries = store.map(Store::snapshot).unwrap_or_default();
    let rows = rows(&entries);

    let exposures = fam("exposures_total");
    let streams = fam("media_streams_total");
    let sip = fam("sip_messages_total");
    let calls = fam("calls_total");
    let frames = fam("capture_packets_total").total();
    let sip_total = sip.total();
    let streams_total = streams.total();
    let cleartext_streams = streams.one("protection", "cleartext");

    // Kinds seen: from the store (what was found, with evidence) and from
    // the counters (so a store that evicted entries still shows the kind).
    let mut kinds: BTreeMap<String, (String, f64)> = BTreeMap::new();
    for (mut k, v) in exposures.by(&["kind", "severity"]) {
        let sev = k.pop().unwrap_or_default();
        let kind = k.pop().unwrap_or_default();
        kinds.entry(kind).or_insert((sev, 0.0)).1 += v;
    }
    for r in &rows {
        kinds
            .entry(r.kind.to_string())
            .or_insert((r.severity.to_string(), r.count as f64));
    }
    let sev_rank = |s: &str| {
        crate::exposure::Severity::ALL
            .iter()
            .position(|x| x.as_str() == s)
            .unwrap_or(usize::MAX)
    };
    let mut learned: Vec<(&str, &str, f64)> = kinds
        .iter()
        .map(|(k, (s, n))| (k.as_str(), s.as_str(), *n))
        .collect();
    learned.sort_by(|a, b| {
        sev_rank(a.1)
            .cmp(&sev_rank(b.1))
            .then(b.2.total_cmp(&a.2))
            .then(a.0.cmp(b.0))
    });
    let worst = learned.first().map(|l| l.1);

    let headline = match worst {
        None if sip_total == 0.0 && streams_total == 0.0 => {
            "No SIP or media was seen: there is nothing to judge yet.".to_string()
        }
        None => "An observer on this path learns no call content, identities or locations from what was seen.".to_string(),
        Some(_) => {
            let first = learned[0].0;
            let s = learns(first);
            if s.is_empty() {
                format!("An observer on this path can see exposures of kind {first}.")
            } else {
                format!("An observer on this path can {s}.")
            }
        }
    };
    let verdict_class = format!("verdict sev-{}", worst.unwrap_or("none"));

    let severity_bars: Vec<(String, f64, &str)> = crate::exposure::Severity::ALL
        .iter()
        .map(|s| {
            let v = exposures.one("severity", s.as_str());
            (s.as_str().to_string(), v, colour(s.as_str()))
        })
        .collect();
    let protection_bars: Vec<(String, f64, &str)> = PROTECTIONS
        .iter()
        .map(|(p, c, _)| (p.to_string(), streams.one("protection", p), *c))
        .collect();

    // Per zone: exposures by severity (counters) and distinct senders (store).
    let by_zone = exposures.by(&["zone", "severity"]);
    let mut zones: BTreeMap<String, (BTreeMap<String, f64>, BTreeSet<&str>)> = BTreeMap::new();
    for (k, v) in &by_zone {
        *zones
            .entry(k[0].clone())
            .or_default()
            .0
            .entry(k[1].clone())
            .or_insert(0.0) += v;
    }
    for e in &entries {
        zones.entry(e.zone.clone()).or_default().1.insert(&e.sender);
    }

    let call_outcomes = calls.by(&["outcome"]);
    let answered = calls.one("outcome", "answered");
    let duration = fam("call_duration_seconds");
    let duration_count = duration.total();
    let mean_duration = if duration_count > 0.0 {
        duration.histogram_sum() / duration_count
    } else {
        0.0
    };
    let methods = sip.by(&["method"]);
    let registrations = fam("sip_registrations_total").total();
    let active = fam("calls_active").total();
    let version = env!("CARGO_PKG_VERSION");

    let title = match source {
        Source::Files(_) => "sipsentinel audit",
        Source::Live => "sipsentinel live sensor",
    };

    let doc = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="referrer" content="no-referrer";
                @if matches!(source, Source::Live) {
                    meta http-equiv="refresh" content=(LIVE_REFRESH_SECS);
                }
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (title) }
                    @match source {
                        Source::Files(files) => {
                            p class="source" {
                                "Audit of " (files.len()) " capture file(s): "
                                @for (i, f) in files.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    code { (f.display()) }
                                }
                            }
                        }
                        Source::Live => {
                            nav {
                                a href="/metrics" { "/metrics" }
                                a href="/api/exposures" { "/api/exposures" }
                                a href="/healthz" { "/healthz" }
                            }
                            p class="source" { "Live: this page reloads every " (LIVE_REFRESH_SECS) " s from the sensor's counters and findings." }
                        }
                    }
                }
                section id="verdict" class=(verdict_class) data-severity=(worst.unwrap_or("none")) {
                    h2 { "What an observer on this path can learn" }
                    p class="headline" { (headline) }
                    @if !learned.is_empty() {
                        ul class="learned" {
                            @for (kind, sev, n) in &learned {
                                li data-kind=(kind) {
                                    strong { (title_case(sev)) } ": "
                                    @let s = learns(kind);
                                    @if s.is_empty() { (kind) } @else { "can " (s) }
                                    " (" code { (kind) } ", " (num(*n)) ")"
                                }
                            }
                        }
                    }
                    p class="counts" {
                        (num(frames)) " frames, " (num(sip_total)) " SIP messages, "
                        (num(streams_total)) " media streams (" (num(cleartext_streams)) " in clear), "
                        (num(calls.total())) " ended call(s)."
                    }
                }
                section id="exposures" {
                    h2 { "Exposures by severity" }
                    (bar_chart("chart-severity", "Exposures counted, by severity", &severity_bars))
                    p class="note" {
                        "Senders are keyed pseudonyms (" code { "ip-…" } "); evidence is the first occurrence, redacted by allowlist. "
                        "Counts are per the catalogue's unit (message, dialog, stream)."
                    }
                    @if store.is_none() {
                        p { "No findings store: counters only." }
                    } @else if rows.is_empty() {
                        p class="none" { "No exposures found." }
                    }
                    @for sev in crate::exposure::Severity::ALL {
                        @let group: Vec<&Row<'_>> = rows.iter().filter(|r| r.severity == sev.as_str()).collect();
                        @if !group.is_empty() {
                            section class="severity" id=(format!("severity-{}", sev.as_str())) data-severity=(sev.as_str()) {
                                h3 {
                                    span class="dot" style=(format!("background:{}", colour(sev.as_str()))) {}
                                    (title_case(sev.as_str())) " (" (group.len()) ")"
                                }
                                table {
                                    thead { tr {
                                        th { "kind" } th { "field" } th class="n" { "count" } th class="n" { "senders" }
                                        th { "transport" } th { "zone" } th { "example sender" } th { "evidence (redacted)" }
                                    } }
                                    tbody {
                                        @for r in group {
                                            tr class="finding" data-kind=(r.kind) {
                                                td { code { (r.kind) } }
                                                td { code { (r.field) } }
                                                td class="n" { (r.count) }
                                                td class="n" { (r.senders) }
                                                td { (join(&r.transports)) }
                                                td { (join(&r.zones)) }
                                                td { code { (r.example_sender) } }
                                                td class="evidence" { (r.evidence) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section id="media" {
                    h2 { "Protection per media stream" }
                    (bar_chart("chart-protection", "Media streams by protection", &protection_bars))
                    table class="legend" {
                        @for (p, c, what) in PROTECTIONS {
                            tr { td { span class="swatch" style=(format!("background:{c}")) {} } td { code { (p) } } td { (what) } }
                        }
                    }
                }
                section id="zones" {
                    h2 { "Per zone" }
                    @if zones.is_empty() {
                        p { "No exposures, so no zone to show." }
                    } @else {
                        table {
                            thead { tr {
                                th { "zone of the sender" }
                                @for s in crate::exposure::Severity::ALL { th class="n" { (s.as_str()) } }
                                th class="n" { "total" } th class="n" { "senders" }
                            } }
                            tbody {
                                @for (zone, (sev, senders)) in &zones {
                                    tr class="zone" {
                                        td { code { (zone) } }
                                        @for s in crate::exposure::Severity::ALL {
                                            td class="n" { (num(sev.get(s.as_str()).copied().unwrap_or(0.0))) }
                                        }
                                        td class="n" { (num(sev.values().sum::<f64>())) }
                                        td class="n" { (senders.len()) }
                                    }
                                }
                            }
                        }
                        p class="note" { "Zones are the configured " code { "[zones]" } " of the sender's address, else " code { "unknown" } "; senders are distinct pseudonyms in the findings store." }
                    }
                }
                section id="calls" {
                    h2 { "Calls" }
                    table {
                        tbody {
                            @for (k, v) in &call_outcomes {
                                tr { th { "calls " (k.join(" ")) } td class="n" { (num(*v)) } }
                            }
                            @if call_outcomes.is_empty() { tr { th { "calls ended" } td class="n" { "0" } } }
                            tr { th { "calls in progress" } td class="n" { (num(active)) } }
                            tr { th { "mean answered call duration" } td class="n" { (format!("{mean_duration:.1} s")) } }
                            tr { th { "registrations" } td class="n" { (num(registrations)) } }
                            @for (m, v) in &methods {
                                @if !m[0].is_empty() {
                                    tr { th { "SIP requests/responses for " code { (m[0]) } } td class="n" { (num(*v)) } }
                                }
                            }
                        }
                    }
                    @if answered > 0.0 && cleartext_streams > 0.0 {
                        p class="note" { "Answered calls whose audio was in clear can be replayed by anyone who recorded this path." }
                    }
                }
                section id="method" {
                    h2 { "How this was measured" }
                    ul class="note" {
                        li { "Passive: the sensor only reads a copy of the traffic (a mirror port or a capture file); it sends nothing." }
                        li { "Media verdicts combine what the signalling declared (SDP profile, " code { "a=crypto" } ", " code { "a=fingerprint" } ", " code { "a=zrtp-hash" } ") with what the packets show (DTLS or ZRTP handshakes, a payload test on G.711). Cleartext payload wins over any promise (" code { "encryption_mismatch" } ")." }
                        li { "SIP over TLS cannot be read: its SDP, keys and headers are not seen, and its media may be judged " code { "encrypted_unknown" } "." }
                        li { "Each exposure kind is counted once per its unit (message, dialog, media stream, SSRC or TLS handshake); the counts are those of " code { "sipsentinel_exposures_total" } "." }
                        li { "No payload is kept. Addresses and users appear only as HMAC-SHA256 pseudonyms (keyed per start unless a key file is configured); evidence keeps header names, structure and known-safe tokens, every other value becomes a pseudonym or " code { "<redacted>" } "." }
                        li { "Findings are bounded (least recently updated evicted first, and expired after their TTL): the counters above may count more than the tables list." }
                    }
                }
                footer {
                    "sipsentinel " (version) ". Self-contained page: no script, no external resource."
                }
            }
        }
    };
    doc.into_string()
}

fn join(set: &BTreeSet<&str>) -> String {
    set.iter().copied().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposure::{Field, Finding, Kind};
    use crate::findings::StoreConfig;
    use std::time::{Duration, UNIX_EPOCH};

    fn store_with(evidence: &'static [u8], name: &'static [u8]) -> Store {
        let s = Store::with_key(&[3u8; 32], StoreConfig::default());
        let now = UNIX_EPOCH + Duration::from_secs(100);
        let f = Finding {
            kind: Kind::CustomHeader,
            field: Field::XHeader,
            name,
            evidence,
        };
        s.record(&f, "10.0.0.1".parse().unwrap(), "udp", "lan", now);
        let key = Finding {
            kind: Kind::SrtpKeyExposed,
            field: Field::SdpCrypto,
            name: b"",
            evidence: b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:",
        };
        s.record(&key, "10.0.0.2".parse().unwrap(), "udp", "lan", now);
        s
    }

    #[test]
    fn page_has_verdict_sections_and_charts() {
        let m = Metrics::new();
        let s = store_with(b"5551234567", b"X-Account");
        let p = page(&m, Some(&s), Source::Files(&[PathBuf::from("x.pcap")]));
        assert!(p.starts_with("<!DOCTYPE html>"), "{p}");
        assert!(p.contains("id=\"verdict\""));
        assert!(p.contains("decrypt encrypted calls"), "{p}");
        assert!(p.contains("id=\"severity-critical\"") && p.contains("id=\"severity-low\""));
        assert!(p.contains("id=\"chart-protection\"") && p.contains("id=\"chart-severity\""));
        assert!(p.contains("X-Account: num-"), "{p}");
        assert!(!p.contains("5551234567") && !p.contains("10.0.0."), "{p}");
        assert!(!p.contains("<script") && !p.contains("http-equiv=\"refresh\""));
        let live = page(&m, None, Source::Live);
        assert!(live.contains("href=\"/metrics\"") && live.contains("http-equiv=\"refresh\""));
        assert!(live.contains("No SIP or media was seen"));
    }

    /// Whatever the evidence holds, it is text: no tag, no attribute break.
    #[test]
    fn hostile_values_are_escaped() {
        let m = Metrics::new();
        // The redactor keeps punctuation, so `<`, `>`, `"` and `'` reach
        // the store; maud must escape them.
        let s = store_with(
            b"<script>alert(1)</script>\"><img src=x onerror=alert(2)>'",
            b"X-Evil",
        );
        let p = page(&m, Some(&s), Source::Files(&[PathBuf::from("a\"<b>.pcap")]));
        assert!(!p.contains("<script>") && !p.contains("<img"), "{p}");
        assert!(p.contains("&lt;"), "{p}");
        assert!(!p.contains("a\"<b>"), "{p}");
    }
}

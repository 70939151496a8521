//! Dev tool: how does `rsip` fare on real SIP, next to our lenient parser?
//!
//! Reads every capture in the corpus (`SIPSENTINEL_CORPUS`, default
//! `../shared/corpus`), takes UDP payloads that `looks_like_sip`, and for
//! each compares `rsip::SipMessage::try_from(&[u8])` with
//! `sipsentinel::sip::parse_message`. Then the same over the RFC 4475
//! torture messages in `tests/sip/rfc4475/`. Output: per-file counts and the
//! most frequent rsip error kinds. Results are in `tests/sip/RSIP_MEASUREMENT.md`.
//!
//! The packet walk here is deliberately minimal (link layer → IPv4/IPv6,
//! IP-in-IP → UDP; no fragments, no TCP): the real one is `decode`.
//!
//! Run: `cargo run --release --example rsip_measure`

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use sipsentinel::sip::framing::looks_like_sip;
use sipsentinel::sip::parse_message;
use sipsentinel::sip::stream::{SipEvent, StreamState};
use std::collections::HashMap;

#[derive(Default)]
struct Counts {
    messages: usize,
    rsip_ok: usize,
    rsip_err: usize,
    rsip_panic: usize,
    ours_ok: usize,
    ours_err: usize,
    /// rsip failed, ours parsed.
    only_ours: usize,
    /// ours failed, rsip parsed.
    only_rsip: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.messages += o.messages;
        self.rsip_ok += o.rsip_ok;
        self.rsip_err += o.rsip_err;
        self.rsip_panic += o.rsip_panic;
        self.ours_ok += o.ours_ok;
        self.ours_err += o.ours_err;
        self.only_ours += o.only_ours;
        self.only_rsip += o.only_rsip;
    }
}

/// A short, value-free label for an rsip error: the variant and the first
/// words of its text, cut before anything quoted from the message.
fn rsip_kind(e: &rsip::Error) -> String {
    let (variant, text) = match e {
        rsip::Error::MissingHeader(s) => ("MissingHeader", s),
        rsip::Error::InvalidParam(s) => ("InvalidParam", s),
        rsip::Error::ParseError(s) => ("ParseError", s),
        rsip::Error::TokenizeError(s) => ("TokenizeError", s),
        rsip::Error::Utf8Error(s) => ("Utf8Error", s),
        rsip::Error::Unexpected(s) => ("Unexpected", s),
    };
    // Cut at ':' (quoted input follows) and at " from" (byte offsets).
    let head = text.split(':').next().unwrap_or("");
    let head: String = head
        .split(" from")
        .next()
        .unwrap_or("")
        .chars()
        .take(48)
        .collect();
    format!("{variant}({})", head.trim())
}

fn measure(
    data: &[u8],
    c: &mut Counts,
    kinds: &mut BTreeMap<String, usize>,
    ours_errs: &mut BTreeMap<&'static str, usize>,
) {
    c.messages += 1;
    let rsip = panic::catch_unwind(AssertUnwindSafe(|| rsip::SipMessage::try_from(data)));
    let rsip_ok = match rsip {
        Ok(Ok(_)) => {
            c.rsip_ok += 1;
            true
        }
        Ok(Err(e)) => {
            c.rsip_err += 1;
            *kinds.entry(rsip_kind(&e)).or_default() += 1;
            false
        }
        Err(_) => {
            c.rsip_panic += 1;
            *kinds.entry("panic".into()).or_default() += 1;
            false
        }
    };
    let ours_ok = match parse_message(data) {
        Ok(_) => {
            c.ours_ok += 1;
            true
        }
        Err(e) => {
            c.ours_err += 1;
            *ours_errs.entry(e.as_str()).or_default() += 1;
            false
        }
    };
    if ours_ok && !rsip_ok {
        c.only_ours += 1;
    }
    if rsip_ok && !ours_ok {
        c.only_rsip += 1;
    }
}

/// Link layer → the IP packet, for the DLTs in the corpus.
fn link_to_ip(linktype: i32, frame: &[u8]) -> Option<&[u8]> {
    match linktype {
        1 => ethernet(frame),
        // DLT_LINUX_SLL: 16-byte header, protocol at 14.
        113 => ether_payload(
            u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]),
            frame.get(16..)?,
        ),
        // DLT_LINUX_SLL2: 20-byte header, protocol at 0.
        276 => ether_payload(
            u16::from_be_bytes([*frame.first()?, *frame.get(1)?]),
            frame.get(20..)?,
        ),
        // DLT_NULL / DLT_LOOP: 4-byte address family.
        0 | 108 => frame.get(4..),
        // DLT_RAW (12, 14 on some systems, LINKTYPE_RAW 101), IPv4 228, IPv6 229.
        12 | 14 | 101 | 228 | 229 => Some(frame),
        _ => None,
    }
}

fn ethernet(frame: &[u8]) -> Option<&[u8]> {
    let mut et = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let mut off = 14;
    // 802.1Q / 802.1ad tags.
    while et == 0x8100 || et == 0x88a8 || et == 0x9100 {
        et = u16::from_be_bytes([*frame.get(off + 2)?, *frame.get(off + 3)?]);
        off += 4;
    }
    ether_payload(et, frame.get(off..)?)
}

fn ether_payload(et: u16, p: &[u8]) -> Option<&[u8]> {
    match et {
        0x0800 | 0x86dd => Some(p),
        // PPPoE session: 6-byte header, then the PPP protocol (0x21 IPv4, 0x57 IPv6).
        0x8864 => match u16::from_be_bytes([*p.get(6)?, *p.get(7)?]) {
            0x0021 | 0x0057 => p.get(8..),
            _ => None,
        },
        _ => None,
    }
}

/// IP packet → (protocol, source+destination address bytes, payload);
/// unfragmented only; IP-in-IP followed once or twice.
fn ip_payload(ip: &[u8], depth: u8) -> Option<(u8, &[u8], &[u8])> {
    let (proto, addrs, payload) = match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            let frag = u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]);
            if frag & 0x3fff != 0 {
                return None; // MF set or offset > 0
            }
            (
                *ip.get(9)?,
                ip.get(12..20)?,
                ip.get(ihl..total.min(ip.len()).max(ihl))?,
            )
        }
        6 => {
            let len = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            let mut next = *ip.get(6)?;
            let mut p = ip.get(40..(40 + len).min(ip.len()))?;
            // Hop-by-hop, routing, destination options; a fragment header ends it.
            while matches!(next, 0 | 43 | 60) {
                let n = *p.first()?;
                let l = (usize::from(*p.get(1)?) + 1) * 8;
                p = p.get(l..)?;
                next = n;
            }
            (next, ip.get(8..40)?, p)
        }
        _ => return None,
    };
    match proto {
        4 | 41 if depth < 2 => ip_payload(payload, depth + 1),
        _ => Some((proto, addrs, payload)),
    }
}

fn ip_to_udp(ip: &[u8]) -> Option<&[u8]> {
    let (proto, _, payload) = ip_payload(ip, 0)?;
    if proto != 17 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*payload.get(4)?, *payload.get(5)?]));
    payload.get(8..len.clamp(8, payload.len()))
}

/// One TCP direction: a naive in-order reassembler (retransmissions
/// dropped, a hole is a gap) feeding a `StreamState`, as `decode::tcp` will.
#[derive(Default)]
struct Direction {
    next_seq: Option<u32>,
    buf: Vec<u8>,
    state: StreamState,
}

#[derive(Default)]
struct TcpCounts {
    messages: usize,
    by_transport: BTreeMap<&'static str, usize>,
    parse_errors: usize,
    tls: usize,
    not_sip: usize,
    gaps: usize,
}

fn tcp_segment(ip: &[u8], flows: &mut HashMap<Vec<u8>, Direction>, tc: &mut TcpCounts) {
    let Some((6, addrs, seg)) = ip_payload(ip, 0) else {
        return;
    };
    let (Some(&off), Some(&flags)) = (seg.get(12), seg.get(13)) else {
        return;
    };
    let Some(payload) = seg.get(usize::from(off >> 4) * 4..) else {
        return;
    };
    let Some(seq) = seg
        .get(4..8)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return;
    };
    let mut key = addrs.to_vec();
    key.extend_from_slice(seg.get(..4).unwrap_or(&[]));
    let d = flows.entry(key).or_default();
    if flags & 0x02 != 0 {
        d.next_seq = Some(seq.wrapping_add(1));
        return;
    }
    if payload.is_empty() {
        return;
    }
    let port_hint = [seg.get(0..2), seg.get(2..4)]
        .iter()
        .any(|p| matches!(p, Some(&[0x13, 0xc5]))); // 5061
    let data = match d.next_seq {
        None => payload,
        Some(n) => {
            let delta = seq.wrapping_sub(n) as i32;
            if delta < 0 {
                // Retransmission: keep only the new tail.
                match payload.get((-delta) as usize..) {
                    Some(p) if !p.is_empty() => p,
                    _ => return,
                }
            } else {
                if delta > 0 {
                    tc.gaps += 1;
                    d.buf.clear();
                    d.state.on_gap();
                }
                payload
            }
        }
    };
    d.next_seq = Some(seq.wrapping_add(payload.len() as u32));
    d.buf.extend_from_slice(data);
    let n = d.state.on_data(&d.buf, port_hint, |e| match e {
        SipEvent::Message { transport, .. } => {
            tc.messages += 1;
            *tc.by_transport.entry(transport.as_str()).or_default() += 1;
        }
        SipEvent::ParseError { .. } => tc.parse_errors += 1,
        SipEvent::TlsStream { .. } => tc.tls += 1,
        // Handshake details are not SIP: not measured here.
        SipEvent::Tls(_) => {}
        SipEvent::NotSip => tc.not_sip += 1,
    });
    d.buf.drain(..n);
}

fn tshark_counts(corpus: &Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(corpus.join("MANIFEST.tsv")) else {
        return m;
    };
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    let col = header.iter().position(|h| *h == "sip_messages");
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        if let (Some(name), Some(c)) = (f.first(), col.and_then(|c| f.get(c))) {
            m.insert(name.to_string(), c.to_string());
        }
    }
    m
}

fn print_top(title: &str, kinds: &BTreeMap<String, usize>) {
    let mut v: Vec<_> = kinds.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    println!("\n{title}");
    for (k, n) in v.iter().take(15) {
        println!("  {n:6}  {k}");
    }
}

fn main() {
    // rsip may panic on hostile input; count it, don't print backtraces.
    panic::set_hook(Box::new(|_| {}));
    let corpus = sipsentinel::testkit::corpus::path();
    let tshark = tshark_counts(&corpus);
    let files = sipsentinel::testkit::corpus::existing()
        .map(|d| sipsentinel::testkit::corpus::files(&d))
        .unwrap_or_default();

    let mut total = Counts::default();
    let mut kinds = BTreeMap::new();
    let mut ours_errs = BTreeMap::new();
    let mut tcp_rows: Vec<(String, TcpCounts)> = Vec::new();
    println!("corpus: {}", corpus.display());
    println!(
        "{:<52} {:>7} {:>6} {:>7} {:>8} {:>7} {:>8} {:>9} {:>9}",
        "file",
        "tshark",
        "udp",
        "rsip_ok",
        "rsip_err",
        "ours_ok",
        "ours_err",
        "only_ours",
        "only_rsip"
    );
    for path in &files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("?")
            .to_string();
        let mut cap = match pcap::Capture::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                println!("{name:<52} cannot open: {e}");
                continue;
            }
        };
        let linktype = cap.get_datalink().0;
        let mut c = Counts::default();
        let mut file_kinds = BTreeMap::new();
        let mut flows = HashMap::new();
        let mut tcp = TcpCounts::default();
        while let Ok(pkt) = cap.next_packet() {
            let Some(ip) = link_to_ip(linktype, pkt.data) else {
                continue;
            };
            tcp_segment(ip, &mut flows, &mut tcp);
            let Some(udp) = ip_to_udp(ip) else {
                continue;
            };
            if looks_like_sip(udp) {
                measure(udp, &mut c, &mut file_kinds, &mut ours_errs);
            }
        }
        println!(
            "{:<52} {:>7} {:>6} {:>7} {:>8} {:>7} {:>8} {:>9} {:>9}",
            name,
            tshark.get(&name).map(String::as_str).unwrap_or("-"),
            c.messages,
            c.rsip_ok,
            c.rsip_err + c.rsip_panic,
            c.ours_ok,
            c.ours_err,
            c.only_ours,
            c.only_rsip
        );
        for (k, n) in &file_kinds {
            println!("{:>60} rsip {n:>3} x {k}", "");
            *kinds.entry(k.clone()).or_default() += n;
        }
        total.add(&c);
        if tcp.messages + tcp.parse_errors + tcp.tls > 0 {
            tcp_rows.push((name.clone(), tcp));
        }
    }
    println!(
        "{:<52} {:>7} {:>6} {:>7} {:>8} {:>7} {:>8} {:>9} {:>9}",
        "TOTAL (udp)",
        "",
        total.messages,
        total.rsip_ok,
        total.rsip_err + total.rsip_panic,
        total.ours_ok,
        total.ours_err,
        total.only_ours,
        total.only_rsip
    );
    println!("rsip panics: {}", total.rsip_panic);
    print_top("top rsip error kinds (corpus, udp):", &kinds);
    print_top(
        "our parse errors (corpus, udp):",
        &ours_errs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
    );

    println!("\nTCP streams through sip::stream::StreamState (naive in-order reassembly):");
    println!(
        "{:<52} {:>7} {:>8} {:>24} {:>7} {:>4} {:>7} {:>5}",
        "file", "tshark", "messages", "by transport", "errors", "tls", "not_sip", "gaps"
    );
    for (name, t) in &tcp_rows {
        let by: Vec<String> = t
            .by_transport
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "{:<52} {:>7} {:>8} {:>24} {:>7} {:>4} {:>7} {:>5}",
            name,
            tshark.get(name).map(String::as_str).unwrap_or("-"),
            t.messages,
            by.join(","),
            t.parse_errors,
            t.tls,
            t.not_sip,
            t.gaps
        );
    }

    // RFC 4475 torture messages.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip/rfc4475");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().and_then(|e| e.to_str()) == Some("dat"));
    names.sort();
    println!("\nRFC 4475 torture messages ({}):", names.len());
    println!("{:<12} {:<44} ours", "name", "rsip");
    let mut tc = Counts::default();
    let mut tk = BTreeMap::new();
    let mut te = BTreeMap::new();
    for p in &names {
        let Ok(data) = std::fs::read(p) else { continue };
        let name = p.file_stem().and_then(|n| n.to_str()).unwrap_or("?");
        let rsip = panic::catch_unwind(AssertUnwindSafe(|| rsip::SipMessage::try_from(&data[..])));
        let r = match rsip {
            Ok(Ok(_)) => "ok".to_string(),
            Ok(Err(e)) => rsip_kind(&e),
            Err(_) => "panic".to_string(),
        };
        let o = match parse_message(&data) {
            Ok(_) => "ok",
            Err(e) => e.as_str(),
        };
        println!("{name:<12} {r:<44} {o}");
        measure(&data, &mut tc, &mut tk, &mut te);
    }
    println!(
        "torture totals: {} messages, rsip ok {}, rsip err {} (panics {}), ours ok {}, ours err {}",
        tc.messages,
        tc.rsip_ok,
        tc.rsip_err + tc.rsip_panic,
        tc.rsip_panic,
        tc.ours_ok,
        tc.ours_err
    );
}

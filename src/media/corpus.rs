//! Tests against the third-party capture corpus (`../shared/corpus`, or
//! `$SIPSENTINEL_CORPUS`): classification counts, payload scores for real
//! G.711 and SRTP, stream verdicts, SDP from real SIP bodies. Skipped with a
//! note when the corpus is absent.
//!
//! The frame walk below (Ethernet/VLAN, Linux cooked v1/v2, raw IP →
//! IPv4/IPv6 → UDP) is a deliberately small test helper, independent of
//! `decode`, so that these media tests do not rest on the decoder. The
//! corpus location is `crate::testkit::corpus`'s.

use super::classify::{classify, PacketKind, RtcpType};
use super::payload::{pseudo_random, CodecClass, PayloadSampler, PayloadVerdict};
use super::stream::{Flow, Protection, StreamConfig, StreamEvent, StreamTable};
use crate::sdp;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

pub(crate) struct Udp {
    pub ts: Duration,
    pub flow: Flow,
    pub payload: Vec<u8>,
}

/// UDP datagrams of a capture, or `None` (with a note) when it is absent.
pub(crate) fn udp_packets(name: &str) -> Option<Vec<Udp>> {
    let path = crate::testkit::corpus::path().join(name);
    if !path.exists() {
        eprintln!(
            "note: {} not found, skipping (set SIPSENTINEL_CORPUS)",
            path.display()
        );
        return None;
    }
    let mut cap = pcap::Capture::from_file(&path).expect("open capture");
    let link = cap.get_datalink().0;
    let mut out = Vec::new();
    while let Ok(pkt) = cap.next_packet() {
        let ts = Duration::new(
            pkt.header.ts.tv_sec as u64,
            (pkt.header.ts.tv_usec as u32).saturating_mul(1000) % 1_000_000_000,
        );
        if let Some((flow, payload)) = frame_udp(link, pkt.data) {
            out.push(Udp {
                ts,
                flow,
                payload: payload.to_vec(),
            });
        }
    }
    Some(out)
}

fn frame_udp(link: i32, f: &[u8]) -> Option<(Flow, &[u8])> {
    let (mut ethertype, mut rest) = match link {
        1 => (u16::from_be_bytes([*f.get(12)?, *f.get(13)?]), f.get(14..)?),
        113 => (u16::from_be_bytes([*f.get(14)?, *f.get(15)?]), f.get(16..)?),
        276 => (u16::from_be_bytes([*f.first()?, *f.get(1)?]), f.get(20..)?),
        12 | 101 => (if f.first()? >> 4 == 6 { 0x86dd } else { 0x0800 }, f),
        _ => return None,
    };
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]);
        rest = rest.get(4..)?;
    }
    let (src, dst, udp) = match ethertype {
        0x0800 => {
            let ihl = usize::from(rest.first()? & 0x0f) * 4;
            let frag = u16::from_be_bytes([*rest.get(6)?, *rest.get(7)?]);
            // Protocol UDP, first fragment only, no more-fragments.
            if *rest.get(9)? != 17 || frag & 0x3fff != 0 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([rest[2], rest[3]])).min(rest.len());
            let s: [u8; 4] = rest.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = rest.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(d)),
                rest.get(ihl..total)?,
            )
        }
        0x86dd => {
            if *rest.get(6)? != 17 {
                return None;
            }
            let s: [u8; 16] = rest.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = rest.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                rest.get(40..)?,
            )
        }
        _ => return None,
    };
    let sport = u16::from_be_bytes([*udp.first()?, *udp.get(1)?]);
    let dport = u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]);
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    let payload = udp.get(8..len.clamp(8, udp.len()))?;
    Some((
        Flow {
            src,
            dst,
            src_port: sport,
            dst_port: dport,
        },
        payload,
    ))
}

#[derive(Debug, Default)]
struct Counts {
    rtp: usize,
    rtcp: usize,
    srtcp: usize,
    stun: usize,
    dtls: usize,
    zrtp: usize,
    sdes_cname: usize,
    sdes_note: usize,
}

fn count(pkts: &[Udp]) -> Counts {
    let mut c = Counts::default();
    for p in pkts {
        match classify(&p.payload) {
            PacketKind::Rtp(_) => c.rtp += 1,
            PacketKind::Rtcp(i) => {
                c.rtcp += 1;
                c.srtcp += usize::from(i.encrypted);
                c.sdes_cname += usize::from(i.sdes_items & super::classify::sdes::CNAME != 0);
                c.sdes_note += usize::from(i.sdes_items & super::classify::sdes::NOTE != 0);
            }
            PacketKind::Stun => c.stun += 1,
            PacketKind::Dtls(_) => c.dtls += 1,
            PacketKind::Zrtp => c.zrtp += 1,
            PacketKind::Unknown => {}
        }
    }
    c
}

/// Payload statistics per (flow, SSRC, PT) over the whole capture's RTP,
/// for groups of at least `min_packets` (leaves out other UDP misread as
/// RTP).
fn sample_streams(pkts: &[Udp], min_packets: usize) -> Vec<(u8, PayloadSampler)> {
    let mut by: HashMap<(Flow, u32, u8), (usize, PayloadSampler)> = HashMap::new();
    for p in pkts {
        if let PacketKind::Rtp(h) = classify(&p.payload) {
            let e = by
                .entry((p.flow, h.ssrc(), h.payload_type()))
                .or_insert_with(|| (0, PayloadSampler::new()));
            e.0 += 1;
            e.1.add(h.payload());
        }
    }
    let mut v: Vec<_> = by
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_packets)
        .map(|((_, _, pt), (_, s))| (pt, s))
        .collect();
    v.sort_by_key(|(pt, s)| (*pt, s.bytes()));
    v
}

/// χ² and entropy over all RTP payload bytes of the largest stream (not
/// just the sampler's first 4 KiB), for the README figures.
fn whole_stream(label: &str, pkts: &[Udp]) {
    let mut by: HashMap<(Flow, u32), ([u64; 256], u64)> = HashMap::new();
    for p in pkts {
        if let PacketKind::Rtp(h) = classify(&p.payload) {
            let e = by.entry((p.flow, h.ssrc())).or_insert(([0; 256], 0));
            for &b in h.payload() {
                e.0[usize::from(b)] += 1;
            }
            e.1 += h.payload().len() as u64;
        }
    }
    let Some((hist, n)) = by.values().max_by_key(|(_, n)| *n) else {
        return;
    };
    let nf = *n as f64;
    let sum_sq: f64 = hist.iter().map(|&c| (c as f64) * (c as f64)).sum();
    let chi2 = 256.0 * sum_sq / nf - nf;
    let entropy: f64 = -hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| (c as f64 / nf) * (c as f64 / nf).log2())
        .sum::<f64>();
    println!(
        "{label} whole largest stream: bytes {n} chi2 {chi2:.1} entropy {entropy:.3} bits/byte"
    );
}

fn report(label: &str, pt: u8, s: &PayloadSampler) {
    let st = s.stats();
    println!(
        "{label}: pt {pt} bytes {} packets {} chi2 {:.1} entropy {:.3} bits/byte first-byte-repeat {:.2} mag-diff u/a {:.1}/{:.1} verdict {}",
        st.bytes,
        st.packets,
        st.chi2,
        st.entropy,
        st.first_byte_repeat,
        st.pcmu_diff,
        st.pcma_diff,
        s.verdict(CodecClass::from_pt(pt)).as_str()
    );
}

/// Runs the stream table over a capture, as the pipeline would.
fn run_streams(pkts: &[Udp]) -> Vec<StreamEvent> {
    let mut t = StreamTable::new(StreamConfig::default());
    let mut ev = Vec::new();
    for p in pkts {
        let k = classify(&p.payload);
        match k {
            PacketKind::Rtp(h) => {
                t.observe_rtp(p.flow, &h, p.ts, || None::<sdp::Declared>, &mut ev);
            }
            other => t.observe_flow(p.flow, &other),
        }
    }
    t.flush(&mut ev);
    ev
}

fn classified(ev: &[StreamEvent]) -> Vec<Protection> {
    ev.iter()
        .filter_map(|e| match e {
            StreamEvent::Classified { protection, .. } => Some(*protection),
            _ => None,
        })
        .collect()
}

#[test]
fn g711a_sipp_is_cleartext() {
    let Some(pkts) = udp_packets("sipp_g711a.pcap") else {
        return;
    };
    let c = count(&pkts);
    assert_eq!(c.rtp, 236, "{c:?}");
    let streams = sample_streams(&pkts, 20);
    assert_eq!(streams.len(), 1);
    let (pt, s) = &streams[0];
    report("sipp_g711a", *pt, s);
    assert_eq!(*pt, 8);
    assert_eq!(
        s.verdict(CodecClass::from_pt(*pt)),
        PayloadVerdict::Cleartext
    );
    whole_stream("sipp_g711a", &pkts);
    let ev = run_streams(&pkts);
    assert_eq!(classified(&ev), [Protection::Cleartext]);
    for e in &ev {
        if let StreamEvent::Ended {
            loss,
            jitter,
            duration,
            ..
        } = e
        {
            println!("sipp_g711a stream: duration {duration:?} loss {loss:?} jitter {jitter:?}");
        }
    }
}

#[test]
fn g711u_voipshark_is_cleartext() {
    let Some(pkts) = udp_packets("voipshark_SIP-RTP-Normal_Call_two_parties.pcap") else {
        return;
    };
    let c = count(&pkts);
    println!("voipshark counts {c:?}");
    // tshark: 5382 RTP, 34 RTCP, all with CNAME; one of the 34 is quoted
    // inside an ICMP error, which this UDP walk does not descend into.
    assert_eq!(c.rtp, 5382);
    assert_eq!((c.rtcp, c.sdes_cname), (33, 33));
    // Its DNS queries (ids 0x3106, 0x3d60) must not look like DTLS 1.3.
    assert_eq!(c.dtls, 0);
    let streams = sample_streams(&pkts, 50);
    assert_eq!(streams.len(), 4);
    for (pt, s) in &streams {
        report("voipshark", *pt, s);
        assert_eq!(*pt, 0);
        assert_eq!(
            s.verdict(CodecClass::from_pt(*pt)),
            PayloadVerdict::Cleartext
        );
    }
    whole_stream("voipshark", &pkts);
    let ev = run_streams(&pkts);
    assert_eq!(classified(&ev), [Protection::Cleartext; 4]);
}

#[test]
fn srtp_dtls_stun_ndpi() {
    let Some(pkts) = udp_packets("ndpi_stun_dtls_rtp.pcapng") else {
        return;
    };
    let c = count(&pkts);
    println!("ndpi_stun_dtls_rtp counts {c:?}");
    // tshark: 43 STUN and 22 RTP, half of each over TCP (RFC 4571 framing,
    // not walked here); 23 DTLS; 1 SRTCP.
    assert!(c.stun > 0);
    assert_eq!((c.rtp, c.dtls), (11, 23));
    assert_eq!((c.rtcp, c.srtcp), (1, 1));
    for (pt, s) in sample_streams(&pkts, 10) {
        report("ndpi SRTP", pt, &s);
        let st = s.stats();
        // Real SRTP: uniform, never called cleartext.
        assert_ne!(
            s.verdict(CodecClass::from_pt(pt)),
            PayloadVerdict::Cleartext
        );
        assert!(st.chi2 < super::payload::UNIFORM_MAX_CHI2, "{st:?}");
    }
    whole_stream("ndpi SRTP", &pkts);
    // 22 packets of Opus-like SRTP after a DTLS handshake, no SDP.
    let ev = run_streams(&pkts);
    assert_eq!(classified(&ev), [Protection::SrtpDtls]);
}

/// The real G.711A stream of `sipp_g711a.pcap`, each payload XORed with a
/// pseudo-random keystream as SRTP's AES-CM does (RFC 3711 §4.1.1): the
/// verdict flips to Encrypted, and the stream table calls it
/// `encrypted_unknown` without SDP, `srtp_sdes` with SDES declared.
#[test]
fn g711a_keystream_encrypted() {
    let Some(mut pkts) = udp_packets("sipp_g711a.pcap") else {
        return;
    };
    for (i, p) in pkts.iter_mut().enumerate() {
        let Ok(h) = super::classify::RtpHeader::new_checked(&p.payload) else {
            continue;
        };
        let start = h.header_len();
        let mut ks = vec![0u8; p.payload.len() - start];
        pseudo_random(0xa5a5 + i as u64, &mut ks);
        for (b, k) in p.payload[start..].iter_mut().zip(ks) {
            *b ^= k;
        }
    }
    let streams = sample_streams(&pkts, 20);
    let (pt, s) = &streams[0];
    report("sipp_g711a keystream-encrypted", *pt, s);
    assert_eq!(s.verdict(CodecClass::Pcma), PayloadVerdict::Encrypted);
    whole_stream("sipp_g711a keystream-encrypted", &pkts);
    assert_eq!(
        classified(&run_streams(&pkts)),
        [Protection::EncryptedUnknown]
    );
    let mut t = StreamTable::new(StreamConfig::default());
    let mut ev = Vec::new();
    for p in &pkts {
        if let PacketKind::Rtp(h) = classify(&p.payload) {
            t.observe_rtp(p.flow, &h, p.ts, || Some(sdp::Declared::SrtpSdes), &mut ev);
        }
    }
    assert_eq!(classified(&ev), [Protection::SrtpSdes]);
}

#[test]
fn random_payload_scores() {
    let mut s = PayloadSampler::new();
    let mut pkt = [0u8; 160];
    for i in 0..40 {
        pseudo_random(i, &mut pkt);
        s.add(&pkt);
    }
    report("xorshift64* (random)", 8, &s);
    assert_eq!(s.verdict(CodecClass::Pcma), PayloadVerdict::Encrypted);
}

#[test]
fn rtcp_compound_sdes_ndpi() {
    let Some(pkts) = udp_packets("ndpi_rtcp_multiple_pkts_in_the_same_datagram.pcap") else {
        return;
    };
    let c = count(&pkts);
    // FreeSWITCH: SR/RR + SDES with CNAME and NOTE.
    assert_eq!((c.rtcp, c.sdes_cname, c.sdes_note), (5, 5, 5), "{c:?}");
    for p in &pkts {
        let PacketKind::Rtcp(i) = classify(&p.payload) else {
            panic!()
        };
        assert!(i.packets >= 2 && i.has(RtcpType::Sdes) && !i.encrypted);
    }
}

#[test]
fn sll_rtp_rtcp_tls13_capture() {
    let Some(pkts) = udp_packets("ws_sip-tls-1.3-and-rtcp__sip.pcap") else {
        return;
    };
    let c = count(&pkts);
    println!("ws tls-1.3 counts {c:?}");
    assert_eq!(c.rtp, 4414);
    assert_eq!((c.rtcp, c.sdes_cname), (92, 92));
    for (pt, s) in sample_streams(&pkts, 100) {
        // G.722 (PT 9): ADPCM sub-bands, still far from uniform in clear.
        report("ws tls-1.3 G.722", pt, &s);
        assert_eq!(
            s.verdict(CodecClass::from_pt(pt)),
            PayloadVerdict::Cleartext
        );
    }
    whole_stream("ws tls-1.3 G.722", &pkts);
    let ev = run_streams(&pkts);
    assert_eq!(classified(&ev), [Protection::Cleartext]);
}

#[test]
fn heplify_rtp_rtcp_and_sdp() {
    let Some(pkts) = udp_packets("heplify_rtp_rtcp_sip_ipv4_udp.pcap") else {
        return;
    };
    let c = count(&pkts);
    println!("heplify counts {c:?}");
    // tshark (heuristic RTP): 2884 RTP, 26 RTCP, 14 with CNAME. Two more
    // datagrams (frames 531, 2646) are byte-identical copies of RTCP frames
    // 529/2644 that tshark shows as "data" (no RTCP conversation on that
    // port pair): 28 and 16 here. Frames 529/531/2644/2646 carry 2 stray
    // bytes after the compound. MGCP/SNMP background must not look like
    // DTLS.
    assert_eq!(c.rtp, 2884, "{c:?}");
    assert_eq!((c.rtcp, c.sdes_cname), (28, 16));
    assert_eq!(c.dtls, 0);
    for (pt, s) in sample_streams(&pkts, 100) {
        report("heplify", pt, &s);
        assert_eq!(
            s.verdict(CodecClass::from_pt(pt)),
            PayloadVerdict::Cleartext
        );
    }
    whole_stream("heplify", &pkts);
    let ev = run_streams(&pkts);
    let cl = classified(&ev);
    println!("heplify classified {cl:?}");
    for e in &ev {
        if let StreamEvent::Ended {
            packets,
            bytes,
            protection,
            loss,
            jitter,
            ..
        } = e
        {
            println!("heplify stream: {packets} packets {bytes} bytes {protection:?} {loss:?} jitter {jitter:?}");
        }
    }
    assert_eq!(
        cl.iter().filter(|p| **p == Protection::Cleartext).count(),
        5
    );
    // SDP from the SIP bodies.
    let mut sdps = 0;
    for p in &pkts {
        let Some((ct, body)) = sip_body(&p.payload) else {
            continue;
        };
        let Some(sdp_bytes) = crate::sip::body::sdp_from_body(ct, body) else {
            continue;
        };
        let s = sdp::parse_sdp(sdp_bytes).expect("real SDP parses");
        let eps: Vec<_> = s.media_endpoints().collect();
        assert!(!eps.is_empty());
        assert!(eps.iter().all(|e| e.declared == sdp::Declared::Cleartext));
        sdps += 1;
    }
    println!("heplify SDP bodies parsed: {sdps}");
    assert!(sdps >= 2);
}

#[test]
fn sdp_bodies_across_corpus() {
    // Every SIP-over-UDP message with an SDP body in the corpus parses.
    let Some(dir) = crate::testkit::corpus::existing() else {
        eprintln!("note: corpus not found, skipping");
        return;
    };
    let mut total = 0;
    for path in crate::testkit::corpus::files(&dir) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let Ok(mut cap) = pcap::Capture::from_file(&path) else {
            continue;
        };
        let link = cap.get_datalink().0;
        let (mut ok, mut err) = (0, 0);
        while let Ok(pkt) = cap.next_packet() {
            let Some((_, payload)) = frame_udp(link, pkt.data) else {
                continue;
            };
            let _ = classify(payload);
            let Some((ct, body)) = sip_body(payload) else {
                continue;
            };
            if let Some(b) = crate::sip::body::sdp_from_body(ct, body) {
                match sdp::parse_sdp(b) {
                    Ok(s) => {
                        ok += 1;
                        let _ = s.media_endpoints().count();
                    }
                    Err(_) => err += 1,
                }
            }
        }
        if ok + err > 0 {
            println!("{name}: {ok} SDP parsed, {err} rejected");
        }
        total += ok;
    }
    assert!(total > 10);
}

/// Content-Type and body of a SIP message in one UDP datagram (test-only;
/// compact form `c:` included).
fn sip_body(p: &[u8]) -> Option<(&[u8], &[u8])> {
    if !(p.starts_with(b"SIP/2.0 ") || p.iter().take(16).any(|&b| b == b' ')) {
        return None;
    }
    let end = p.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = &p[..end];
    let body = &p[end + 4..];
    let ct = headers.split(|&b| b == b'\n').find_map(|l| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let colon = l.iter().position(|&b| b == b':')?;
        let name = l[..colon].trim_ascii();
        (name.eq_ignore_ascii_case(b"content-type") || name.eq_ignore_ascii_case(b"c"))
            .then(|| l[colon + 1..].trim_ascii())
    })?;
    Some((ct, body))
}

#[test]
fn webrtc_sdp_over_udp_leg() {
    // SIP over WebSocket bridged to SIP/UDP: the UDP leg carries WebRTC
    // offers/answers (UDP/TLS/RTP/SAVPF with a=fingerprint).
    let Some(pkts) = udp_packets("heplify_sip_tcp_websocket.pcap") else {
        return;
    };
    let mut by_declared: HashMap<&'static str, usize> = HashMap::new();
    let (mut fingerprints, mut candidates, mut private) = (0, 0, 0);
    for p in &pkts {
        let Some((ct, body)) = sip_body(&p.payload) else {
            continue;
        };
        let Some(b) = crate::sip::body::sdp_from_body(ct, body) else {
            continue;
        };
        let s = sdp::parse_sdp(b).expect("real SDP parses");
        for m in &s.media {
            *by_declared.entry(s.declared(m).as_str()).or_default() += 1;
            fingerprints +=
                usize::from(m.attrs.fingerprint.is_some() || s.session.fingerprint.is_some());
        }
        candidates += s.candidates as usize;
        private += s
            .candidate_addrs
            .iter()
            .filter(|ip| match ip {
                IpAddr::V4(v4) => v4.is_private(),
                IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
            })
            .count();
    }
    println!(
        "heplify websocket UDP leg: declared {by_declared:?}, fingerprints {fingerprints}, candidates {candidates}, private candidate addresses {private}"
    );
    assert!(by_declared.get("srtp_dtls").copied().unwrap_or(0) > 0);
    assert!(fingerprints > 0);
}

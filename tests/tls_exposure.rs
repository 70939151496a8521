//! TLS and DTLS handshakes in clear (issue #13): `weak_transport_crypto`,
//! `certificate_exposed`, `srtp_null_cipher` and `software_version`
//! {`tls_client_hello`}, each compared with what tshark dissects in the
//! same capture.
//!
//! Captures: `tests/fixtures/recorded/tls_*.pcap` (OpenSSL s_server and
//! s_client on port 5061, `make_tls.sh`; baresip calls), the corpus files
//! that carry TLS/DTLS (`$SIPSENTINEL_CORPUS`), and a DTLS-SRTP handshake
//! selecting SRTP_NULL_HMAC_SHA1_80 built here (OpenSSL refuses NULL
//! profiles), kept as `tls_dtls_null_profile.pcap`.
//!
//! The unit of each count is the connection (TCP stream, or UDP
//! association for DTLS) and, for certificates, its direction: tshark's
//! frames are reduced to distinct (tshark stream, sender) pairs.

mod common;

use common::sensor::audit_prometheus as audit;
use common::{frames, PcapWriter};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn recorded(name: &str) -> PathBuf {
    common::repo_root()
        .join("tests/fixtures/recorded")
        .join(name)
}

fn corpus(name: &str) -> Option<PathBuf> {
    let p = common::corpus::required()?.join(name);
    assert!(p.is_file(), "corpus file missing: {}", p.display());
    Some(p)
}

/// Sum of `exposures_total` for `kind` and `field`.
fn total(text: &str, kind: &str, field: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("sipsentinel_exposures_total{"))
        .filter(|l| {
            l.contains(&format!("kind=\"{kind}\"")) && l.contains(&format!("field=\"{field}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    common::record::tshark_fields(file, Some(filter), fields)
}

/// A number as tshark prints it: `0x`-hex or decimal.
fn num(s: &str) -> Option<u32> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// All occurrences of a field (tshark_fields aggregates with U+001E).
fn nums(s: &str) -> Vec<u32> {
    s.split([',', '\u{1e}']).filter_map(num).collect()
}

/// Fields naming a packet's connection and sender: see [`conn_of`].
const CONN: [&str; 8] = [
    "tcp.stream",
    "ip.src",
    "ipv6.src",
    "ip.dst",
    "ipv6.dst",
    "tcp.srcport",
    "udp.srcport",
    "udp.dstport",
];

/// (connection, sender) of a row that starts with the [`CONN`] fields:
/// the TCP stream, or for UDP the unordered address/port pair (tshark
/// 4.0 numbers one association's datagrams in several `udp.stream`s).
fn conn_of(r: &[String]) -> (String, String) {
    let src = format!("{}{}", r[1], r[2]);
    let dst = format!("{}{}", r[3], r[4]);
    if !r[0].is_empty() {
        return (format!("t{}", r[0]), format!("{src}/{}", r[5]));
    }
    let a = format!("{src}/{}", r[6]);
    let b = format!("{dst}/{}", r[7]);
    let conn = if a <= b {
        format!("u{a}-{b}")
    } else {
        format!("u{b}-{a}")
    };
    (conn, a)
}

/// IANA TLS_RSA_WITH_* suites (RSA key transport, no forward secrecy):
/// the ones OpenSSL and SIP devices offer.
const RSA_KX: [u32; 16] = [
    0x0001, 0x0002, 0x0004, 0x0005, 0x000a, 0x002f, 0x0035, 0x003b, 0x003c, 0x003d, 0x0041, 0x0084,
    0x009c, 0x009d, 0x00ba, 0x00c0,
];

/// What tshark shows of the handshakes of one file, per connection.
#[derive(Debug, Default, PartialEq)]
struct Oracle {
    client_hellos: u64,
    weak_version: u64,
    rsa_key_exchange: u64,
    server_certificates: u64,
    client_certificates: u64,
}

fn oracle(file: &Path) -> Oracle {
    let mut o = Oracle::default();
    // ClientHellos: one per TCP stream / UDP association.
    let ch: BTreeSet<String> = tshark(
        file,
        "tls.handshake.type == 1 || dtls.handshake.type == 1",
        &CONN,
    )
    .iter()
    .map(|r| conn_of(r).0)
    .collect();
    o.client_hellos = ch.len() as u64;
    // ServerHellos: version and suite; the server of each connection.
    let mut servers = BTreeSet::new();
    let mut weak = BTreeSet::new();
    let mut rsa = BTreeSet::new();
    for r in tshark(
        file,
        "tls.handshake.type == 2 || dtls.handshake.type == 2",
        &[
            &CONN[..],
            &[
                "tls.handshake.version",
                "tls.handshake.extensions.supported_version",
                "tls.handshake.ciphersuite",
                "dtls.handshake.version",
                "dtls.handshake.ciphersuite",
            ],
        ]
        .concat(),
    ) {
        let (conn, from) = conn_of(&r);
        servers.insert((conn.clone(), from));
        let r = &r[CONN.len()..];
        let tls_v = nums(&r[0]).first().copied();
        let selected = nums(&r[1]).first().copied();
        let dtls_v = nums(&r[3]).first().copied();
        let v_weak = match (dtls_v, selected.or(tls_v)) {
            (Some(d), _) => d == 0xfeff,
            (None, Some(v)) => v < 0x0303,
            _ => false,
        };
        if v_weak {
            weak.insert(conn.clone());
        }
        let suite = nums(&r[2]).first().or(nums(&r[4]).first()).copied();
        if suite.is_some_and(|s| RSA_KX.contains(&s)) {
            rsa.insert(conn);
        }
    }
    o.weak_version = weak.len() as u64;
    o.rsa_key_exchange = rsa.len() as u64;
    // Certificates with at least one certificate, per connection and sender.
    let mut certs = BTreeSet::new();
    for r in tshark(
        file,
        "tls.handshake.certificate || dtls.handshake.certificate",
        &CONN,
    ) {
        let (conn, from) = conn_of(&r);
        let server = servers.contains(&(conn.clone(), from));
        certs.insert((conn, server));
    }
    o.server_certificates = certs.iter().filter(|(_, s)| *s).count() as u64;
    o.client_certificates = certs.iter().filter(|(_, s)| !*s).count() as u64;
    o
}

fn sensor(text: &str) -> Oracle {
    Oracle {
        client_hellos: total(text, "software_version", "tls_client_hello"),
        weak_version: total(text, "weak_transport_crypto", "version"),
        rsa_key_exchange: total(text, "weak_transport_crypto", "key_exchange"),
        server_certificates: total(text, "certificate_exposed", "server_certificate"),
        client_certificates: total(text, "certificate_exposed", "client_certificate"),
    }
}

/// The sensor's counts equal tshark's for `file`; returns them, and the
/// metrics text. No NULL/export/anonymous suite in any of these files.
fn compare(file: &Path) -> (Oracle, String) {
    let text = audit(file);
    let want = oracle(file);
    assert_eq!(sensor(&text), want, "{}", file.display());
    assert_eq!(
        total(&text, "weak_transport_crypto", "cipher"),
        0,
        "{}",
        file.display()
    );
    (want, text)
}

#[test]
fn openssl_tls10_rsa_with_client_certificate() {
    let (o, _) = compare(&recorded("tls_rsa_tls10_client_cert.pcap"));
    assert_eq!(
        o,
        Oracle {
            client_hellos: 1,
            weak_version: 1,
            rsa_key_exchange: 1,
            server_certificates: 1,
            client_certificates: 1,
        }
    );
}

#[test]
fn openssl_tls11_rsa_without_client_certificate() {
    let (o, _) = compare(&recorded("tls_rsa_tls11.pcap"));
    assert_eq!((o.weak_version, o.rsa_key_exchange), (1, 1));
    assert_eq!((o.server_certificates, o.client_certificates), (1, 0));
}

/// TLS 1.2 ECDHE: no weak crypto; its certificate still travels in clear.
#[test]
fn openssl_tls12_ecdhe_is_not_weak() {
    let (o, _) = compare(&recorded("tls_ecdhe_tls12.pcap"));
    assert_eq!((o.weak_version, o.rsa_key_exchange), (0, 0));
    assert_eq!(o.server_certificates, 1);
}

/// baresip: TLS 1.3 signalling (nothing after the ServerHello is read)
/// and DTLS 1.2 media handshakes.
#[test]
fn baresip_tls13_and_dtls12() {
    for f in ["tls_sdes.pcap", "tls_dtls.pcap", "dtls_udp.pcap"] {
        let (o, _) = compare(&recorded(f));
        assert_eq!((o.weak_version, o.rsa_key_exchange), (0, 0), "{f}");
    }
}

#[test]
fn corpus_tls_and_dtls_captures() {
    let files = [
        // TLS 1.0, TLS_RSA_WITH_AES_256_CBC_SHA, two calls; the clients
        // answer the certificate request with an empty list.
        (
            "voipshark_SIP-over-TLS-RTP-Normal_Call_two_parties.pcap",
            (2, 2),
        ),
        // TLS 1.3 drafts: silent.
        ("ws_sip-tls-1.3-and-rtcp__sip.pcap", (0, 0)),
        // Mid-stream application data only: silent.
        ("sngrep_tlssaved.pcap", (0, 0)),
        // DTLS 1.2 ECDHE (WebRTC): certificates only.
        ("ndpi_stun_dtls_rtp.pcapng", (0, 0)),
        // DTLS 1.0: weak version.
        ("zeek_webrtc-stun.pcap", (1, 0)),
    ];
    for (name, (weak, rsa)) in files {
        let Some(p) = corpus(name) else { return };
        let (o, _) = compare(&p);
        assert_eq!((o.weak_version, o.rsa_key_exchange), (weak, rsa), "{name}");
    }
}

// ------------------------------------------------------------- JA4 ----

/// JA4 computed from tshark's dissection of a ClientHello (the spec's
/// steps over tshark's field values, not our parser's).
fn ja4_from_tshark(r: &[String], dtls: bool) -> String {
    use sha2::{Digest, Sha256};
    let grease = |v: &u32| v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff;
    let hash = |s: &str| -> String {
        Sha256::digest(s.as_bytes())
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let hex = |v: &[u32]| {
        v.iter()
            .map(|x| format!("{x:04x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut ciphers: Vec<u32> = nums(&r[0]).into_iter().filter(|c| !grease(c)).collect();
    let exts: Vec<u32> = nums(&r[1]).into_iter().filter(|e| !grease(e)).collect();
    let sigs: Vec<u32> = nums(&r[2]).into_iter().filter(|s| !grease(s)).collect();
    // DTLS versions count down (0xfefc is 1.3).
    let listed = nums(&r[4]).into_iter().filter(|v| !grease(v));
    let best = if dtls { listed.min() } else { listed.max() };
    let version = best.or(nums(&r[5]).first().copied()).unwrap_or(0);
    let v = match version {
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        _ => "00",
    };
    let alpn = r[3].split([',', '\u{1e}']).next().unwrap_or("");
    let alpn = match (alpn.chars().next(), alpn.chars().last()) {
        (Some(a), Some(b)) => format!("{a}{b}"),
        _ => "00".into(),
    };
    let sni = if exts.contains(&0) { 'd' } else { 'i' };
    let head = format!(
        "{}{v}{sni}{:02}{:02}{alpn}",
        if dtls { 'd' } else { 't' },
        ciphers.len().min(99),
        exts.len().min(99)
    );
    ciphers.sort_unstable();
    let b = if ciphers.is_empty() {
        "000000000000".into()
    } else {
        hash(&hex(&ciphers))
    };
    let mut e: Vec<u32> = exts.into_iter().filter(|x| *x != 0 && *x != 0x10).collect();
    e.sort_unstable();
    let c = if e.is_empty() {
        "000000000000".into()
    } else if sigs.is_empty() {
        hash(&hex(&e))
    } else {
        hash(&format!("{}_{}", hex(&e), hex(&sigs)))
    };
    format!("{head}_{b}_{c}")
}

/// Our JA4 (TlsReader over the TCP payload) equals the one computed from
/// tshark's fields, for every ClientHello of the TLS captures.
#[test]
fn ja4_matches_tshark_dissection() {
    let mut files: Vec<PathBuf> = [
        "tls_rsa_tls10_client_cert.pcap",
        "tls_rsa_tls11.pcap",
        "tls_ecdhe_tls12.pcap",
        "tls_sdes.pcap",
        "tls_dtls.pcap",
    ]
    .iter()
    .map(|f| recorded(f))
    .collect();
    if let Some(dir) = common::corpus::required() {
        for f in [
            "voipshark_SIP-over-TLS-RTP-Normal_Call_two_parties.pcap",
            "ws_sip-tls-1.3-and-rtcp__sip.pcap",
            "heplify_sip_ipv4_tcp_retrans.pcap",
        ] {
            files.push(dir.join(f));
        }
    }
    let mut checked = 0;
    for file in files {
        let rows = tshark(
            &file,
            "tls.handshake.type == 1",
            &[
                "tls.handshake.ciphersuite",
                "tls.handshake.extension.type",
                "tls.handshake.sig_hash_alg",
                "tls.handshake.extensions_alpn_str",
                "tls.handshake.extensions.supported_version",
                "tls.handshake.version",
                "tcp.payload",
            ],
        );
        for r in rows {
            let payload: Vec<u8> = (0..r[6].len() / 2)
                .filter_map(|i| u8::from_str_radix(r[6].get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            let mut ours = Vec::new();
            let mut reader = sipsentinel::tls::TlsReader::default();
            reader.feed(&payload, &mut |e| {
                if let sipsentinel::tls::Event::ClientHello(h) = e {
                    ours.push(sipsentinel::tls::ja4::ja4(&h));
                }
            });
            assert_eq!(ours, vec![ja4_from_tshark(&r, false)], "{}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked} ClientHellos checked");
}

/// The same for DTLS ClientHellos (prefix `d`, versions d1/d2/d3), read
/// by `dtls_datagram` from the UDP payload.
#[test]
fn dtls_ja4_matches_tshark_dissection() {
    let mut files: Vec<PathBuf> = [
        "dtls_udp.pcap",
        "tls_dtls.pcap",
        "tls_dtls_null_profile.pcap",
    ]
    .iter()
    .map(|f| recorded(f))
    .collect();
    if let Some(dir) = common::corpus::required() {
        for f in ["ndpi_stun_dtls_rtp.pcapng", "zeek_webrtc-stun.pcap"] {
            files.push(dir.join(f));
        }
    }
    let mut checked = 0;
    for file in files {
        let rows = tshark(
            &file,
            "dtls.handshake.type == 1",
            &[
                "dtls.handshake.ciphersuite",
                "dtls.handshake.extension.type",
                "dtls.handshake.sig_hash_alg",
                "dtls.handshake.extensions_alpn_str",
                "dtls.handshake.extensions.supported_version",
                "dtls.handshake.version",
                "udp.payload",
            ],
        );
        for r in rows {
            let payload: Vec<u8> = (0..r[6].len() / 2)
                .filter_map(|i| u8::from_str_radix(r[6].get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            let mut ours = Vec::new();
            sipsentinel::tls::dtls_datagram(&payload, &mut |e| {
                if let sipsentinel::tls::Event::ClientHello(h) = e {
                    ours.push(sipsentinel::tls::ja4::ja4(&h));
                }
            });
            assert_eq!(ours, vec![ja4_from_tshark(&r, true)], "{}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "{checked} DTLS ClientHellos checked");
}

// ------------------------------------------- DTLS with a NULL profile ----

/// A self-signed P-256 certificate, subject CN=dtls@baresip, made for this
/// test with `openssl req -x509 -newkey ec -pkeyopt
/// ec_paramgen_curve:prime256v1 -subj /CN=dtls@baresip -outform DER`.
const CERT_HEX: &[&str] = &[
    "3082018330820129a00302010202144e600a037268594927b81cff8142d4becb1254b8300a06082a8648ce3d04030230",
    "173115301306035504030c0c64746c734062617265736970301e170d3236313133303131303134355a170d3336313132",
    "373131303134355a30173115301306035504030c0c64746c7340626172657369703059301306072a8648ce3d02010608",
    "2a8648ce3d030107034200045097b670406b0efe30d589323ff756ffe8abe9f9048642168db9d065c076b4d2f1dae014",
    "f0dd655dababb183bf465420e892a02a2d6de89b3911624b77bfa2e4a3533051301d0603551d0e041604141ac7230574",
    "054d4c844b204271bb52d5f50524e7301f0603551d230418301680141ac7230574054d4c844b204271bb52d5f50524e7",
    "300f0603551d130101ff040530030101ff300a06082a8648ce3d040302034800304502202489867867caa3b24628993b",
    "e66ba00ff16f3eb424bb9497eaeb59379271a58a022100f70231953e3e85d9373b6fc223ccad7587d6b93e118dc0244c",
    "5715f684e6458e",
];

fn cert() -> Vec<u8> {
    let h = CERT_HEX.concat();
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn u24(n: usize) -> [u8; 3] {
    let b = (n as u32).to_be_bytes();
    [b[1], b[2], b[3]]
}

/// A DTLS 1.2 handshake message (RFC 6347 §4.2.2), unfragmented.
fn dtls_msg(ty: u8, seq: u16, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&u24(body.len()));
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&u24(0));
    m.extend_from_slice(&u24(body.len()));
    m.extend_from_slice(body);
    m
}

/// A DTLS 1.2 handshake record, epoch 0 (RFC 6347 §4.1).
fn dtls_record(seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![22, 0xfe, 0xfd, 0, 0];
    r.extend_from_slice(&seq.to_be_bytes()[2..]);
    r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    r.extend_from_slice(payload);
    r
}

/// use_srtp (RFC 5764 §4.1.1) with `profiles` and an empty MKI.
fn use_srtp(profiles: &[u16]) -> Vec<u8> {
    let mut body = ((profiles.len() * 2) as u16).to_be_bytes().to_vec();
    for p in profiles {
        body.extend_from_slice(&p.to_be_bytes());
    }
    body.push(0);
    let mut e = vec![0, 14];
    e.extend_from_slice(&(body.len() as u16).to_be_bytes());
    e.extend(body);
    e
}

fn hello(client: bool) -> Vec<u8> {
    let mut b = vec![0xfe, 0xfd];
    b.extend_from_slice(&[if client { 0x11 } else { 0x22 }; 32]);
    b.push(0); // session id
    let exts = if client {
        b.push(0); // cookie
        b.extend_from_slice(&[0, 4, 0xc0, 0x2b, 0xc0, 0x2f]);
        b.extend_from_slice(&[1, 0]);
        // SRTP_NULL_HMAC_SHA1_80 first, AES128_CM_HMAC_SHA1_80 second.
        use_srtp(&[0x0005, 0x0001])
    } else {
        b.extend_from_slice(&[0xc0, 0x2b, 0]);
        use_srtp(&[0x0005])
    };
    b.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    b.extend(exts);
    b
}

/// The generated capture: ClientHello, then the server's flight
/// (ServerHello selecting SRTP_NULL_HMAC_SHA1_80, Certificate,
/// ServerHelloDone) in one datagram, then 3 s of G.711 RTP each way on
/// the same ports — SRTP with the NULL cipher: readable audio.
fn dtls_null_profile_capture() -> Vec<u8> {
    let (a, b) = ([192, 0, 2, 10], [192, 0, 2, 20]);
    let (pa, pb) = (40_000, 40_002);
    let mut w = PcapWriter::in_memory(1);
    let t0 = Duration::from_secs(1_700_000_000);
    let ch = dtls_record(0, &dtls_msg(1, 0, &hello(true)));
    w.write(t0, &frames::udp4(a, b, pa, pb, &ch));
    let mut flight = dtls_msg(2, 0, &hello(false));
    let c = cert();
    let mut certs = u24(c.len() + 3).to_vec();
    certs.extend_from_slice(&u24(c.len()));
    certs.extend(c);
    flight.extend(dtls_msg(11, 1, &certs));
    flight.extend(dtls_msg(14, 2, &[]));
    w.write(
        t0 + Duration::from_millis(5),
        &frames::udp4(b, a, pb, pa, &dtls_record(0, &flight)),
    );
    for i in 0..150u32 {
        let ts = t0 + Duration::from_millis(100 + 20 * u64::from(i));
        for (src, dst, sp, dp, ssrc) in
            [(a, b, pa, pb, 0x1111_1111u32), (b, a, pb, pa, 0x2222_2222)]
        {
            let mut rtp = vec![0x80, 0];
            rtp.extend_from_slice(&(i as u16).to_be_bytes());
            rtp.extend_from_slice(&(i * 160).to_be_bytes());
            rtp.extend_from_slice(&ssrc.to_be_bytes());
            // A 400 Hz tone, G.711 µ-law-like bytes: audio, not ciphertext.
            rtp.extend((0..160u32).map(|k| {
                let x = ((k + i * 160) as f64 * 2.0 * std::f64::consts::PI * 400.0 / 8000.0).sin();
                (0x80 as f64 + 40.0 * x) as u8 | 0x40
            }));
            w.write(ts, &frames::udp4(src, dst, sp, dp, &rtp));
        }
    }
    w.into_bytes()
}

/// The committed fixture is what the generator writes (regenerate with
/// `SIPSENTINEL_WRITE_FIXTURES=1 cargo test --test tls_exposure`); tshark
/// reads the selected NULL profile; the sensor reports it once and the
/// streams are never srtp_*.
#[test]
fn dtls_null_srtp_profile() {
    let path = recorded("tls_dtls_null_profile.pcap");
    let bytes = dtls_null_profile_capture();
    if std::env::var_os("SIPSENTINEL_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, &bytes).unwrap();
    }
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "regenerate {}",
        path.display()
    );
    let selected = tshark(
        &path,
        "dtls.handshake.type == 2 && dtls.use_srtp.protection_profile == 0x0005",
        &["frame.number"],
    );
    assert_eq!(selected.len(), 1, "tshark: ServerHellos selecting 0x0005");
    let (o, text) = compare(&path);
    assert_eq!((o.client_hellos, o.server_certificates), (1, 1));
    assert_eq!(
        total(&text, "srtp_null_cipher", "dtls_srtp_profile"),
        selected.len() as u64
    );
    let streams = |p: &str| {
        text.lines()
            .filter(|l| {
                l.starts_with(&format!(
                    "sipsentinel_media_streams_total{{protection=\"{p}\"}}"
                ))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    assert_eq!(streams("srtp_dtls"), 0.0, "{text}");
    assert_eq!(streams("cleartext"), 2.0, "{text}");
}

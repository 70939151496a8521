use super::*;
use crate::exposure::{scan_sip, Field, Finding, Kind};
use proptest::prelude::*;

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn store(capacity: usize, ttl: u64) -> Store {
    Store::with_key(
        &[42u8; 32],
        StoreConfig {
            capacity,
            ttl: Duration::from_secs(ttl),
        },
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const PAI: Finding<'static> = Finding {
    kind: Kind::IdentityAsserted,
    field: Field::PAssertedIdentity,
    name: b"P-Asserted-Identity",
    evidence: b"\"Alice\" <sip:+15551234567@10.1.2.3>",
};

#[test]
fn aggregates_by_kind_field_sender() {
    let s = store(10, 3600);
    s.record(&PAI, ip("10.1.2.3"), "udp", "lan", t(1000));
    s.record(&PAI, ip("10.1.2.3"), "tcp", "lan", t(1010));
    s.record(&PAI, ip("10.1.2.4"), "udp", "lan", t(1020));
    let ua = Finding {
        kind: Kind::SoftwareVersion,
        field: Field::UserAgent,
        name: b"User-Agent",
        evidence: b"Foo/1.0",
    };
    s.record(&ua, ip("10.1.2.3"), "udp", "unknown", t(1030));
    let v = s.snapshot();
    assert_eq!(v.len(), 3);
    // High before low, then by count.
    assert_eq!((v[0].kind, v[0].count), ("identity_asserted", 2));
    assert_eq!(v[0].severity, "high");
    assert_eq!(v[0].field, "p_asserted_identity");
    assert_eq!((v[0].first_seen, v[0].last_seen), (1000, 1010));
    assert_eq!(v[0].first_seen_utc, "1970-01-01T00:16:40Z");
    assert_eq!(v[0].transport, "tcp");
    assert_eq!(v[0].sender, s.pseudonymizer().ip(ip("10.1.2.3")));
    assert!(v[0].sender.starts_with("ip-"));
    // `Foo` is no well-known product: pseudonymised, its version kept.
    assert!(
        v[2].evidence.starts_with("User-Agent: val-") && v[2].evidence.ends_with("/1.0"),
        "{}",
        v[2].evidence
    );
    assert!(v[0].evidence.starts_with("P-Asserted-Identity: \"str-"));
    let json = s.to_json();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["exposures"].as_array().unwrap().len(), 3);
    assert_eq!(parsed["stats"]["entries"], 3);
    for bad in ["10.1.2.3", "5551234567", "Alice"] {
        assert!(!json.contains(bad), "{bad} in {json}");
    }
}

#[test]
fn lru_and_ttl_are_bounded_and_counted() {
    let s = store(2, 100);
    let f = |k| Finding::new(k, Field::Other);
    s.record(&f(Kind::CustomHeader), ip("192.0.2.1"), "udp", "z", t(0));
    s.record(&f(Kind::SdpUsername), ip("192.0.2.1"), "udp", "z", t(1));
    // Touch the first: the second becomes least recently updated.
    s.record(&f(Kind::CustomHeader), ip("192.0.2.1"), "udp", "z", t(2));
    s.record(&f(Kind::SoftwareVersion), ip("192.0.2.1"), "udp", "z", t(3));
    let kinds: Vec<_> = s.snapshot().iter().map(|e| e.kind).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"custom_header") && kinds.contains(&"software_version"));
    assert_eq!(s.stats().evicted_lru, 1);
    assert_eq!(s.take_evictions(), (1, 0));
    assert_eq!(s.take_evictions(), (0, 0));
    // 100 s after the last update of both: expired on the next record.
    s.record(
        &f(Kind::PrivateAddress),
        ip("192.0.2.9"),
        "udp",
        "z",
        t(103),
    );
    assert_eq!(s.stats().evicted_ttl, 2);
    assert_eq!(s.stats().entries, 1);
    // Time going backwards (replay of an older file) does not expire.
    s.record(&f(Kind::CustomHeader), ip("192.0.2.9"), "udp", "z", t(5));
    assert_eq!(s.stats().entries, 2);
    s.expire(t(1000));
    assert_eq!(s.stats().entries, 0);
    assert_eq!(s.stats().evicted_ttl, 4);
    let st = s.stats();
    assert_eq!((st.capacity, st.ttl_seconds), (2, 100));
    assert_eq!(s.take_evictions(), (0, 4));
}

#[test]
fn store_is_send_sync_and_concurrent() {
    fn assert_sync<T: Send + Sync>() {}
    assert_sync::<Store>();
    let s = std::sync::Arc::new(store(1000, 3600));
    let hs: Vec<_> = (0..4)
        .map(|n| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..500u32 {
                    let sender = IpAddr::from([10, 0, n as u8, (i % 50) as u8]);
                    s.record(&PAI, sender, "udp", "lan", t(u64::from(i)));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let v = s.snapshot();
    assert_eq!(v.len(), 200);
    assert_eq!(v.iter().map(|e| e.count).sum::<u64>(), 2000);
}

fn owner_only(p: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn key_file_errors_are_clear() {
    let dir = std::env::temp_dir().join(format!("sipsentinel-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.key");
    let e = Store::with_key_file(&missing, StoreConfig::default()).unwrap_err();
    assert!(e.to_string().contains("missing.key"), "{e}");
    let short = dir.join("short.key");
    std::fs::write(&short, [1u8; 31]).unwrap();
    owner_only(&short);
    let e = Store::with_key_file(&short, StoreConfig::default()).unwrap_err();
    assert!(e.to_string().contains("31 bytes, need at least 32"), "{e}");
    let good = dir.join("good.key");
    std::fs::write(&good, [42u8; 32]).unwrap();
    owner_only(&good);
    let a = Store::with_key_file(&good, StoreConfig::default()).unwrap();
    // Same key, same pseudonyms; a random key differs.
    let b = store(1, 1);
    let r = Store::new(StoreConfig::default()).unwrap();
    let x = ip("192.0.2.7");
    assert_eq!(a.pseudonymizer().ip(x), b.pseudonymizer().ip(x));
    assert_ne!(a.pseudonymizer().ip(x), r.pseudonymizer().ip(x));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rfc3339_dates() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
}

/// A real message through `scan_sip` and the store: nothing identifying
/// survives in the JSON.
#[test]
fn scanned_message_is_redacted() {
    let msg = b"INVITE sip:+4930123456@carrier.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.168.7.7:5060;branch=z9hG4bK1;received=203.0.113.77\r\n\
        From: \"Erika Mustermann\" <sip:erika@home.example>;tag=1\r\n\
        To: <sip:+4930123456@carrier.example>\r\n\
        Call-ID: 98asjd8@192.168.7.7\r\n\
        Contact: <sip:erika@192.168.7.7:5060>\r\n\
        Privacy: id\r\n\
        P-Asserted-Identity: <tel:+4930999888>\r\n\
        Authorization: Digest username=\"erika\", realm=\"home.example\", nonce=\"abc\", uri=\"sip:carrier.example\", response=\"0123456789abcdef\"\r\n\
        User-Agent: PhoneX/2.1 (erika@home.example)\r\n\
        X-Customer-Id: 77123456\r\n\
        Content-Type: application/sdp\r\n\r\n\
        v=0\r\no=erika 1234567 1 IN IP4 192.168.7.7\r\nc=IN IP4 192.168.7.7\r\n\
        m=audio 40000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:SECRETKEYSECRETKEYSECRETKEYSECRETKEY12\r\n\
        a=ssrc:11 cname:erika@home.example\r\n\
        a=candidate:1 1 UDP 2130706431 192.168.7.7 40000 typ host\r\n";
    let m = crate::sip::parse_message(msg).unwrap();
    let mut out = Vec::new();
    scan_sip(
        &m,
        &crate::sip::Body::parse(&m),
        crate::sip::Transport::Udp,
        &mut out,
    );
    let s = store(100, 3600);
    for f in &out {
        s.record(f, ip("203.0.113.77"), "udp", "unknown", t(10));
    }
    let json = s.to_json();
    let kinds: std::collections::HashSet<_> = s.snapshot().iter().map(|e| e.kind).collect();
    for k in [
        "srtp_key_exposed",
        "privacy_request_ignored",
        "identity_asserted",
        "digest_credentials",
        "private_address",
        "software_version",
        "custom_header",
        "sdp_username",
        "rtcp_identity",
    ] {
        assert!(kinds.contains(k), "{k} missing: {json}");
    }
    for bad in [
        "4930123456",
        "4930999888",
        "erika",
        "Erika",
        "Mustermann",
        "home.example",
        "carrier.example",
        "192.168",
        "203.0.113",
        "SECRETKEY",
        "77123456",
        "1234567",
        "98asjd8",
        "0123456789abcdef",
    ] {
        assert!(!json.contains(bad), "{bad} leaked: {json}");
    }
    // The product name is unknown (pseudonymised), the version is kept,
    // and the comment naming the user is hidden.
    assert!(json.contains("/2.1 (<redacted>)"), "{json}");
    assert!(!json.contains("PhoneX"), "{json}");
    assert!(json.contains("inline:<key>"), "{json}");
}

fn user() -> impl Strategy<Value = String> {
    // Letters outside a-f so a user can never be read into hex pseudonyms.
    "[g-z][g-z0-9_.]{5,11}"
}
fn number() -> impl Strategy<Value = String> {
    "\\+?[1-9][0-9]{6,12}"
}
fn ipv4() -> impl Strategy<Value = String> {
    (1u8..=223, any::<u8>(), any::<u8>(), 1u8..=254)
        .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}"))
}
fn ipv6() -> impl Strategy<Value = String> {
    any::<[u16; 8]>().prop_map(|s| {
        std::net::Ipv6Addr::new(s[0] | 0x2000, s[1], s[2], s[3], s[4], s[5], s[6], s[7] | 1)
            .to_string()
    })
}
fn host() -> impl Strategy<Value = String> {
    "[g-z]{4,10}\\.(com|net|org|example|local)"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the template, the redacted line carries none of the users,
    /// numbers, hosts or addresses it was built from, and keeps the name.
    #[test]
    fn redaction_removes_identifiers(
        u in user(), n in number(), a4 in ipv4(), a6 in ipv6(), h in host(),
        tpl in 0usize..12,
    ) {
        let (name, value): (&str, String) = match tpl {
            0 => ("From", format!("\"{u}\" <sip:{u}@{h}>;tag=1")),
            1 => ("P-Asserted-Identity", format!("{u} <sip:{n}@{a4};user=phone>, <tel:{n}>")),
            2 => ("Via", format!("SIP/2.0/UDP {a4}:5060;branch=z9hG4bK;received={a6};rport")),
            3 => ("Contact", format!("<sip:{u}@[{a6}]:5061;transport=tls>;expires=60")),
            4 => ("Remote-Party-ID", format!("<sip:{n}@{h}>;party=calling;screen=no;privacy=off")),
            5 => ("Authorization", format!("Digest username={u}, realm=\"{h}\", uri=\"sip:{n}@{a4}\", response=\"{u}\"")),
            6 => ("", format!("o={u} {n} 1 IN IP6 {a6}")),
            7 => ("", format!("a=candidate:1 1 UDP 2130706431 {a4} 40000 typ srflx raddr {a6} rport 9")),
            8 => ("Diversion", format!("<tel:{n}>;reason=unconditional, {u}@{h}")),
            9 => ("Call-ID", format!("{u}@{a6}")),
            10 => ("", format!("a=ssrc:1 cname:{u}@{a4}")),
            _ => ("", h.clone()),
        };
        let p = Pseudonymizer::new(&[9u8; 32]);
        let r = p.redact(name.as_bytes(), value.as_bytes());
        prop_assert!(r.starts_with(name), "{r}");
        let digits = n.trim_start_matches('+');
        for id in [u.as_str(), digits, a4.as_str(), a6.as_str(), h.as_str()] {
            if value.contains(id) {
                prop_assert!(!r.contains(id), "{id:?} survives in {r:?} (from {value:?})");
            }
        }
    }

    #[test]
    fn redaction_never_panics(v in proptest::collection::vec(any::<u8>(), 0..300)) {
        let p = Pseudonymizer::new(&[1u8; 32]);
        let r = p.redact(b"X", &v);
        prop_assert!(r.chars().count() <= MAX_EVIDENCE_PLUS);
        prop_assert!(r.chars().all(|c| c == '…' || c.is_ascii()));
    }
}

const MAX_EVIDENCE_PLUS: usize = redact::MAX_EVIDENCE + 1;

/// Rough cost figures (run with `cargo test --release -- --ignored bench --nocapture`).
#[test]
#[ignore]
fn bench_scan_and_record() {
    let msg = b"INVITE sip:+4930123456@carrier.example SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.168.7.7:5060;branch=z9hG4bK1;received=203.0.113.77\r\n\
        From: \"Erika\" <sip:erika@home.example>;tag=1\r\nTo: <sip:+4930123456@carrier.example>\r\n\
        Call-ID: 98asjd8@192.168.7.7\r\nCSeq: 1 INVITE\r\nContact: <sip:erika@192.168.7.7:5060>\r\n\
        Max-Forwards: 70\r\nP-Asserted-Identity: <tel:+4930999888>\r\nUser-Agent: PhoneX/2.1\r\n\
        Content-Type: application/sdp\r\n\r\n\
        v=0\r\no=erika 1234567 1 IN IP4 192.168.7.7\r\ns=-\r\nc=IN IP4 192.168.7.7\r\nt=0 0\r\n\
        m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
    let m = crate::sip::parse_message(msg).unwrap();
    let n = 200_000u32;
    let mut out = Vec::new();
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        out.clear();
        scan_sip(
            &m,
            &crate::sip::Body::parse(&m),
            crate::sip::Transport::Udp,
            &mut out,
        );
        std::hint::black_box(&out);
    }
    let scan = t0.elapsed() / n;
    let s = store(10_000, 3600);
    let t0 = std::time::Instant::now();
    for i in 0..n {
        let sender = IpAddr::from((i % 1000).to_be_bytes());
        s.record_all(&out, sender, "udp", "lan", t(u64::from(i)));
    }
    let rec = t0.elapsed() / (n * out.len() as u32);
    let p = Pseudonymizer::new(&[1u8; 32]);
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(p.redact(
            b"Via",
            b"SIP/2.0/UDP 192.168.7.7:5060;branch=z9hG4bK1;received=203.0.113.77",
        ));
    }
    let red = t0.elapsed() / n;
    eprintln!(
        "scan_sip: {scan:?}/message ({} findings); store.record: {rec:?}/finding (mostly repeats); redact: {red:?}/line; entries {}",
        out.len(),
        s.stats().entries
    );
}

/// `--findings-log`: a line for each new entry only (repeats raise the
/// count, not the log), the `/api/exposures` record, nothing raw.
#[test]
fn log_gets_new_entries_only() {
    let s = store(10, 3600);
    let dir = std::env::temp_dir().join(format!("ss-store-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f.jsonl");
    let rot = log::Rotation {
        max_bytes: 1 << 20,
        keep: 1,
    };
    let (sink, _h) = log::start(
        &path,
        rot,
        prometheus::IntCounter::new("dropped_total", "test").unwrap(),
    )
    .unwrap();
    s.set_log(sink).unwrap();
    s.record(&PAI, ip("10.1.2.3"), "udp", "lan", t(1000));
    s.record(&PAI, ip("10.1.2.3"), "udp", "lan", t(1001));
    s.record(&PAI, ip("10.1.2.4"), "udp", "lan", t(1002));
    s.flush_log(Duration::from_secs(5));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0]["kind"], "identity_asserted");
    assert_eq!(lines[0]["first_seen_utc"], "1970-01-01T00:16:40Z");
    assert!(
        !text.contains("5551234567") && !text.contains("10.1.2.3"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `record_all` from four threads with overlapping keys: several findings
/// per message, every sender seen by all threads at about the same time,
/// each key by one to four of them. Each key's
/// count is exactly the number of times it was recorded (a repeat counted
/// in the first locked pass, a new key inserted in the second, a key
/// another thread inserted in between counted as a repeat).
#[test]
fn concurrent_record_all_counts_exactly() {
    let s = std::sync::Arc::new(store(20_000, 1_000_000));
    let kinds = [
        Kind::CustomHeader,
        Kind::SdpUsername,
        Kind::SoftwareVersion,
        Kind::IdentityAsserted,
    ];
    // What each thread records, message by message: (sender, kinds).
    // The threads go through the same senders in the same order (so they
    // race to create each entry), each with kinds of its own choosing.
    let plan = |n: u32| -> Vec<(IpAddr, Vec<Kind>)> {
        (0..3000u32)
            .map(|i| {
                let x = crate::testkit::random::Xorshift::new(
                    u64::from(i) * 0x9e37_79b9 + u64::from(n) + 1,
                )
                .next_u64();
                let [_, _, a, b] = i.to_be_bytes();
                let sender = IpAddr::from([10, 9, a, b]);
                let ks: Vec<Kind> = kinds
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k == 0 || (x >> (16 + k)) & 1 == 1)
                    .map(|(_, &k)| k)
                    .collect();
                (sender, ks)
            })
            .collect()
    };
    let mut want: std::collections::HashMap<(String, &'static str), u64> = Default::default();
    for n in 0..4 {
        for (sender, ks) in plan(n) {
            for k in ks {
                *want
                    .entry((s.pseudonymizer().ip(sender), k.as_str()))
                    .or_default() += 1;
            }
        }
    }
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let hs: Vec<_> = (0..4)
        .map(|n| {
            let s = s.clone();
            let msgs = plan(n);
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                for (i, (sender, ks)) in msgs.into_iter().enumerate() {
                    let fs: Vec<Finding<'_>> =
                        ks.iter().map(|&k| Finding::new(k, Field::Other)).collect();
                    s.record_all(&fs, sender, "udp", "lan", t(1000 + i as u64));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let v = s.snapshot();
    let got: std::collections::HashMap<(String, &'static str), u64> = v
        .iter()
        .map(|e| ((e.sender.clone(), e.kind), e.count))
        .collect();
    assert_eq!(v.len(), got.len(), "an entry twice");
    assert_eq!(got, want);
    let st = s.stats();
    assert_eq!(
        (st.entries, st.evicted_lru, st.evicted_ttl),
        (want.len(), 0, 0)
    );
}

/// A full store under four threads: every entry ever created is either in
/// the table or counted as an LRU eviction, and the table never exceeds
/// its capacity (each message's keys are new, so every finding creates an
/// entry).
#[test]
fn concurrent_evictions_are_all_counted() {
    let cap = 7;
    let s = std::sync::Arc::new(store(cap, 1_000_000));
    let per_thread = 600u32;
    let hs: Vec<_> = (0..4u8)
        .map(|n| {
            let s = s.clone();
            std::thread::spawn(move || {
                let fs = [
                    Finding::new(Kind::CustomHeader, Field::Other),
                    Finding::new(Kind::SdpUsername, Field::Other),
                    Finding::new(Kind::SoftwareVersion, Field::Other),
                ];
                for i in 0..per_thread {
                    let [a, b] = (i as u16).to_be_bytes();
                    let sender = IpAddr::from([10, n, a, b]);
                    s.record_all(&fs, sender, "udp", "lan", t(u64::from(i)));
                    assert!(s.stats().entries <= cap);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let st = s.stats();
    let created = 4 * 3 * per_thread as usize;
    assert_eq!(st.entries, cap);
    assert_eq!(st.entries as u64 + st.evicted_lru, created as u64);
    assert_eq!(s.take_evictions(), (created as u64 - cap as u64, 0));
    assert_eq!(s.snapshot().len(), cap);
}

/// Time going backwards (several workers, out-of-order capture): an
/// earlier `now` expires nothing and never panics, a repeat with an
/// earlier time keeps `last_seen`, and once time moves past the TTL every
/// entry expires and is counted once.
#[test]
fn ttl_with_time_going_backwards() {
    let s = store(10, 100);
    let a = Finding::new(Kind::CustomHeader, Field::Other);
    let b = Finding::new(Kind::SdpUsername, Field::Other);
    s.record(&a, ip("192.0.2.1"), "udp", "z", t(1000));
    s.record(&b, ip("192.0.2.1"), "udp", "z", t(500));
    s.record(&a, ip("192.0.2.1"), "udp", "z", t(400));
    s.expire(t(0));
    let v = s.snapshot();
    assert_eq!(v.len(), 2);
    let ea = v.iter().find(|e| e.kind == a.kind.as_str()).unwrap();
    assert_eq!((ea.count, ea.first_seen, ea.last_seen), (2, 1000, 1000));
    // 1099: `a` was updated at 1000, not 100 s ago; `b` (500) was.
    s.expire(t(1099));
    let kinds: Vec<_> = s.snapshot().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [a.kind.as_str()]);
    s.expire(t(1100));
    assert!(s.snapshot().is_empty());
    assert_eq!(s.stats().evicted_ttl, 2);
    assert_eq!(s.take_evictions(), (0, 2));
    // A key expired by the record itself starts over.
    s.record(&a, ip("192.0.2.1"), "udp", "z", t(2000));
    s.record(&a, ip("192.0.2.1"), "udp", "z", t(2100));
    let v = s.snapshot();
    assert_eq!((v.len(), v[0].count, v[0].first_seen), (1, 1, 2100));
    assert_eq!(s.take_evictions(), (0, 1));
}

/// The stack-formatted address gives the pseudonym of the address text
/// (`ip` as it was: the canonical `to_string`), for every form, the
/// longest IPv6 text included; v4-mapped v6 is its IPv4.
#[test]
fn ip_tag_is_the_pseudonym_of_the_address_text() {
    let p = store(1, 1).pseudo;
    let mut rng = crate::testkit::random::Xorshift::new(0xdead_beef_cafe_f00d);
    let mut addrs: Vec<IpAddr> = vec![
        ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        ip("1111:2222:3333:4444:5555:6666:255.255.255.255"),
        ip("::"),
        ip("::1"),
        ip("::ffff:10.1.2.3"),
        ip("0.0.0.0"),
        ip("255.255.255.255"),
    ];
    for _ in 0..2000 {
        let x = rng.next_u64();
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&x.to_le_bytes());
        b[8..].copy_from_slice(&x.rotate_left(29).to_be_bytes());
        // Zero runs of various lengths.
        for (i, o) in b.iter_mut().enumerate() {
            if (x >> (i * 3)) & 3 == 0 {
                *o = 0;
            }
        }
        addrs.push(IpAddr::from(b));
        addrs.push(IpAddr::from([b[0], b[1], b[2], b[3]]));
    }
    for a in addrs {
        let canon = match a {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(a, IpAddr::V4),
            v4 => v4,
        };
        let want = p.pseudonym("ip", canon.to_string().as_bytes());
        assert_eq!(p.ip_tag(a).pseudonym("ip"), want, "{a}");
        assert_eq!(p.ip(a), want, "{a}");
    }
}

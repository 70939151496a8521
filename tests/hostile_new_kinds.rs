//! Hostile input against the parsers and tables added for the second part
//! of the catalogue (issues #13-#15): random and mutated bytes never panic,
//! nesting in a PASSporT is bounded, full shared tables keep their caps.

use sipsentinel::exposure::identity::{self, PassportError};
use sipsentinel::exposure::Field;
use sipsentinel::findings::redact::Pseudonymizer;
use sipsentinel::observer::extract::{self, RegisterFacts};
use sipsentinel::observer::registrations::RegisterRequest;
use sipsentinel::observer::{Linker, Registrations};
use sipsentinel::testkit::random::for_random_inputs;
use sipsentinel::tls::flows::DtlsFlows;
use std::net::IpAddr;
use std::time::Duration;

fn b64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// A PASSporT whose payload is JSON nested as deep as the size bound lets
/// it (3000 arrays): serde_json's nesting limit must stop it, on a small
/// stack, as an error (no stack overflow, no panic).
#[test]
fn passport_deep_json_is_an_error_on_a_small_stack() {
    let depth = identity::MAX_PASSPORT_B64 / 4 * 3;
    let json = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let mut payload = b64url(json.as_bytes());
    payload.truncate(identity::MAX_PASSPORT_B64);
    let obj = format!("{}{}", "{\"a\":".repeat(depth / 5), "1");
    let mut payload2 = b64url(obj.as_bytes());
    payload2.truncate(identity::MAX_PASSPORT_B64);
    let h = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || {
            let a = identity::passport(format!("eyJ0.{payload}.c2ln").as_bytes());
            let b = identity::passport(format!("eyJ0.{payload2}.c2ln").as_bytes());
            (a, b)
        })
        .unwrap();
    let (a, b) = h.join().expect("deep PASSporT JSON overflowed or panicked");
    assert!(
        matches!(a, Err(PassportError::BadJson | PassportError::BadBase64)),
        "{a:?}"
    );
    assert!(
        matches!(b, Err(PassportError::BadJson | PassportError::BadBase64)),
        "{b:?}"
    );
}

/// Random Identity values and Contact values: never a panic.
#[test]
fn identity_and_contact_random_never_panic() {
    let alpha = b"eyJ.-_=;:<>,AaZz09+sip.instanceurn:gsma:imei:pub-gruu=;gr\"{}[]";
    for_random_inputs(alpha, 4000, 300, |data, _| {
        let _ = identity::passport(data);
        let _ = identity::device_in_contact(data);
        let _ = identity::has_mac(data);
        let _ = identity::has_gruu(data);
        let _ = extract::sip_instance(data);
        let _ = extract::name_addr_uri(data);
        let _ = extract::parse_u32(data);
        let _ = extract::sdp_ids(data);
        let _ = extract::rtcp_cname(data);
        let _ = sipsentinel::exposure::privacy::call_id_topology(data);
        let f = RegisterFacts::from_contacts(data.split(|&b| b == b',').take(64));
        let _ = f.bindings().count();
    });
    // A valid token's payload with random claims inside.
    for_random_inputs(b"{}[]\":,origdestiat0123 ", 2000, 200, |data, _| {
        let t = format!("eyJ0.{}.c2ln", b64url(data));
        let _ = identity::passport(t.as_bytes());
    });
}

/// Random bytes through the TLS/DTLS readers, JA4 and the certificate
/// subject: never a panic.
#[test]
fn tls_random_never_panic() {
    use sipsentinel::tls::{self, Event};
    let alpha = [
        22u8, 20, 1, 2, 11, 3, 0xfe, 0xfd, 0, 0, 0x30, 0x82, 0x0a, 0xff,
    ];
    for_random_inputs(&alpha, 4000, 700, |data, _| {
        let mut on = |e: Event<'_>| match e {
            Event::ClientHello(h) => {
                let _ = tls::ja4::ja4(&h);
            }
            Event::Certificate { der, .. } => {
                let _ = tls::cert::subject(der);
            }
            _ => {}
        };
        let mut r = tls::TlsReader::default();
        let used = r.feed(data, &mut on);
        assert!(used <= data.len());
        assert!(r.held_bytes() <= tls::record::MAX_HANDSHAKE + 4);
        tls::dtls_datagram(data, &mut on);
        if let Some(h) = tls::hello::client_hello(data, false) {
            let _ = tls::ja4::ja4(&h);
        }
        let _ = tls::hello::server_hello(data, true);
        let _ = tls::cert::subject(data);
    });
}

/// Random bytes through the media watch helpers: never a panic.
#[test]
fn media_watch_random_never_panic() {
    use sipsentinel::media::watch;
    let alpha = [
        0x80u8, 0, 0xbe, 0xde, 0x10, 0, b'Z', b'R', b'T', b'P', 0x50, 0x5a, b'H', b' ',
    ];
    for_random_inputs(&alpha, 4000, 200, |data, w| {
        let profile = if w % 2 == 0 {
            0xBEDE
        } else {
            0x1000 | (w as u16 & 0xf)
        };
        let _ = watch::has_element(profile, data, (w >> 8) as u8);
        let _ = watch::zrtp_hello_zid(data);
        let _ = watch::zrtp_hello_client(data);
    });
}

/// Multipart bodies: random content and types never panic (nesting is
/// read without recursion on input depth).
#[test]
fn body_random_never_panic() {
    use sipsentinel::sip::body;
    let alpha = b"--b\r\nContent-Type: multipart/mixed;boundary=b\r\napplication/sdp\r\n\r\nv=0";
    for_random_inputs(alpha, 3000, 400, |data, _| {
        let ct: &[u8] = b"multipart/mixed;boundary=b";
        let _ = body::find_parts_of(ct, data, true);
        let _ = body::sdp_from_body(ct, data);
        let _ = body::multipart_boundary(data);
        let _ = body::find_parts_of(data, data, true);
    });
    // 2000 nested multipart levels with the same boundary.
    let mut deep = Vec::new();
    for _ in 0..2000 {
        deep.extend_from_slice(b"--b\r\nContent-Type: multipart/mixed;boundary=b\r\n\r\n");
    }
    let h = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(move || {
            let _ = body::find_parts(b"multipart/mixed;boundary=b", &deep);
            let _ = body::sdp_from_body(b"multipart/mixed;boundary=b", &deep);
        })
        .unwrap();
    h.join()
        .expect("nested multipart overflowed the stack or panicked");
}

fn key() -> Pseudonymizer {
    Pseudonymizer::new(&[7u8; 32])
}

/// A registration table flooded with open REGISTER transactions and
/// bindings keeps both at its cap.
#[test]
fn registrations_full_keep_cap() {
    let cap = 64;
    let t = Registrations::new(cap, key());
    let sender = IpAddr::from([192, 0, 2, 1]);
    for i in 0..5000u32 {
        let contacts: Vec<String> = (0..40).map(|c| format!("<sip:u{i}x{c}@h>")).collect();
        let facts = RegisterFacts::from_contacts(contacts.iter().map(|c| c.as_bytes()));
        let cid = format!("c{i}");
        let req = RegisterRequest {
            call_id: cid.as_bytes(),
            cseq: 1,
            aor: b"sip:a@h",
            facts: &facts,
            expires: Some(3600),
            sender,
        };
        t.request(&req, Duration::from_secs(1));
        if i % 2 == 0 {
            let _ = t.response(cid.as_bytes(), 1, 200, Duration::from_secs(1));
        }
        assert!(t.pending() <= cap && t.active() <= cap, "{i}");
    }
    assert_eq!(t.pending(), cap);
    assert_eq!(t.active(), cap);
    let (evicted, _) = t.take_evictions();
    assert!(evicted > 0);
}

/// The linker flooded with distinct values keeps its cap.
#[test]
fn linker_full_keeps_cap() {
    let l = Linker::new(128, key());
    for i in 0..10_000u32 {
        let v = i.to_be_bytes();
        let d = (i / 2).to_be_bytes();
        let _ = l.observe(
            Field::SipInstance,
            &v,
            &d,
            Duration::from_secs(u64::from(i)),
        );
        assert!(l.len() <= l.cap());
    }
    assert_eq!(l.len(), 128);
}

/// DTLS flows flooded with associations keep the cap.
#[test]
fn dtls_flows_full_keep_cap() {
    let mut t = DtlsFlows::new(256);
    for i in 0..20_000u32 {
        let a = (IpAddr::from(i.to_be_bytes()), 5004u16);
        let b = (IpAddr::from([192, 0, 2, 9]), 5006u16);
        let mut v = t.view(a, b).expect("a view");
        let _ = v.first(3);
        assert!(t.len() <= 256);
    }
    assert_eq!(t.len(), 256);
}

/// What the findings store keeps of the new evidence values: no word of a
/// certificate subject, IMEI, MAC, instance UUID or PASSporT payload may
/// come through the redaction unchanged.
#[test]
fn new_evidence_is_redacted() {
    let p = key();
    let token = format!(
        "eyJhbGciOiJFUzI1NiJ9.{}.c2lnbmF0dXJlMTIz",
        b64url(br#"{"orig":{"tn":"12025550123"},"dest":{"tn":["12025550199"]},"iat":1}"#)
    );
    let cases: [(&[u8], &[u8], &[&str]); 5] = [
        (
            b"",
            b"CN=alice.smith@example.com, O=Acme Widgets, L=Springfield",
            &[
                "alice",
                "smith",
                "example.com",
                "Acme",
                "Widgets",
                "Springfield",
            ],
        ),
        (
            b"Contact",
            b"<sip:bob@192.0.2.7>;+sip.instance=\"<urn:gsma:imei:35209900-176148-1>\"",
            &["35209900", "176148", "bob", "192.0.2.7"],
        ),
        (
            b"Contact",
            b"<sip:bob@h>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"",
            &["f81d4fae", "00a0c91e6bf6"],
        ),
        (
            b"User-Agent",
            b"Yealink SIP-T46S 66.86.0.15 00:15:65:ab:cd:ef",
            &["00:15:65:ab:cd:ef", "ab:cd:ef"],
        ),
        (b"Identity", token.as_bytes(), &["2025550123", "2025550199"]),
    ];
    for (name, value, secrets) in cases {
        let out = p.redact(name, value);
        // The store kept something (a pseudonymised line, not nothing).
        assert!(out.len() >= 8, "{out:?}");
        for s in secrets {
            assert!(!out.contains(s), "{s:?} kept in evidence {out:?}");
        }
    }
    let out = p.redact(b"Identity", token.as_bytes());
    let payload = token.split('.').nth(1).unwrap();
    assert!(!out.contains(payload), "PASSporT payload kept: {out:?}");
}

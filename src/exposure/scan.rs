//! Per-SIP-message exposure checks: headers, SDP and other body parts.
//!
//! One call looks at one parsed message and pushes each message-level kind
//! at most once (`private_address` at most once per field). Header names are
//! classified once, by the SIP parser ([`HeaderName`], compact forms
//! included, RFC 3261 §7.3.3). Parses no more than it must: header values
//! are walked with bounded loops; the body was walked and its SDP parsed
//! once by the caller ([`Body::parse`]), and the SDP lines worth a finding
//! come from the parser ([`Sdp::notable`]), pointing into the message.

use super::addr::{self, is_private, parse_ip, trim};
use super::{is_cleartext, Field, Finding, Kind};
use crate::sdp::{AddrAt, Notable, Sdp};
use crate::sip::{Body, Header, HeaderName, Message, Transport};

/// What kind of header this is, for the exposure checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Identity(Field),
    Location(Field),
    Credentials(Field),
    Forwarding(Field),
    Software(Field),
    Privacy,
    From,
    Address(Field),
    Custom,
    None,
}

/// The header's name was classified when the message was parsed; unknown
/// names are looked at only for the `X-` prefix.
fn role(h: &Header<'_>) -> Role {
    use HeaderName as H;
    match h.name {
        H::PAssertedIdentity => Role::Identity(Field::PAssertedIdentity),
        H::PPreferredIdentity => Role::Identity(Field::PPreferredIdentity),
        H::RemotePartyId => Role::Identity(Field::RemotePartyId),
        H::PAccessNetworkInfo => Role::Location(Field::PAccessNetworkInfo),
        H::Geolocation => Role::Location(Field::Geolocation),
        H::Authorization => Role::Credentials(Field::Authorization),
        H::ProxyAuthorization => Role::Credentials(Field::ProxyAuthorization),
        H::Diversion => Role::Forwarding(Field::Diversion),
        H::HistoryInfo => Role::Forwarding(Field::HistoryInfo),
        H::UserAgent => Role::Software(Field::UserAgent),
        H::Server => Role::Software(Field::Server),
        H::Privacy => Role::Privacy,
        H::From => Role::From,
        H::Via => Role::Address(Field::Via),
        H::Contact => Role::Address(Field::Contact),
        H::RecordRoute => Role::Address(Field::RecordRoute),
        H::CallId => Role::Address(Field::CallId),
        // `x` alone is the compact Session-Expires (RFC 4028), not X-*:
        // it is classified, so never `Other`.
        H::Other
            if h.raw_name.len() > 2
                && h.raw_name
                    .get(..2)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"x-")) =>
        {
            Role::Custom
        }
        _ => Role::None,
    }
}

/// Pushes `f` unless a finding of its kind (and, for `private_address`,
/// its field) is already in `out[from..]`.
fn push_once<'a>(out: &mut Vec<Finding<'a>>, from: usize, f: Finding<'a>) {
    let dup = out
        .get(from..)
        .unwrap_or(&[])
        .iter()
        .any(|g| g.kind == f.kind && (f.kind != Kind::PrivateAddress || g.field == f.field));
    if !dup {
        out.push(f);
    }
}

fn finding<'a>(kind: Kind, field: Field, name: &'a [u8], evidence: &'a [u8]) -> Finding<'a> {
    Finding {
        kind,
        field,
        name,
        evidence,
    }
}

/// Privacy values that ask to hide the caller's identity (RFC 3323 §4.2
/// `user`, `header`; RFC 3325 §9.3 `id`). `none`, `session`, `critical`
/// alone do not.
fn privacy_requested(value: &[u8]) -> bool {
    value
        .split(|&b| b == b';' || b == b',')
        .take(16)
        .map(trim)
        .any(|v| {
            v.eq_ignore_ascii_case(b"id")
                || v.eq_ignore_ascii_case(b"user")
                || v.eq_ignore_ascii_case(b"header")
        })
}

/// A URI in `value` names someone: a user part that is not one of the
/// anonymity placeholders (RFC 3323 §4.1.1.3 `anonymous@anonymous.invalid`).
fn names_someone(value: &[u8]) -> bool {
    addr::uris(value).any(|u| {
        let anon = [
            &b"anonymous"[..],
            b"unknown",
            b"unavailable",
            b"restricted",
            b"private",
        ];
        !u.user.is_empty()
            && !anon.iter().any(|a| u.user.eq_ignore_ascii_case(a))
            && !u.host.eq_ignore_ascii_case(b"anonymous.invalid")
    })
}

/// A version-looking token: `/` followed by a digit (`Asterisk/18.2`,
/// `PolycomVVX-VVX_410-UA/5.9.0`) or a dotted number (`1.2`, `v2.0.1`).
pub fn has_version(value: &[u8]) -> bool {
    if value
        .windows(2)
        .any(|w| w[0] == b'/' && w[1].is_ascii_digit())
    {
        return true;
    }
    value
        .split(|&b| b.is_ascii_whitespace() || b"()[];,_-".contains(&b))
        .take(64)
        .any(|tok| {
            let t = match tok {
                [b'v' | b'V', rest @ ..] => rest,
                t => t,
            };
            let mut parts = t.split(|&b| b == b'.');
            let first = parts.next().unwrap_or(&[]);
            let second = parts.next();
            !first.is_empty()
                && first.iter().all(u8::is_ascii_digit)
                && second.is_some_and(|s| s.first().is_some_and(u8::is_ascii_digit))
        })
}

/// Private literal addresses in one header value, per field.
fn private_in(field: Field, value: &[u8]) -> bool {
    let ip_private = |h: &[u8]| parse_ip(h).is_some_and(is_private);
    match field {
        Field::Via => {
            let mut found = false;
            addr::via_hosts(value, |h| found |= ip_private(h));
            found
        }
        Field::Contact | Field::RecordRoute => addr::uris(value).any(|u| ip_private(u.host)),
        Field::CallId => match value.iter().rposition(|&b| b == b'@') {
            Some(a) => ip_private(addr::host_of_hostport(trim(
                value.get(a + 1..).unwrap_or(&[]),
            ))),
            None => false,
        },
        _ => false,
    }
}

/// Every per-message exposure of `msg` seen on `transport` (see the
/// catalogue in the design); `body` is what [`Body::parse`] read in `msg`
/// (the caller parses it once and shares it). Appends to `out`; each kind at
/// most once per call, `private_address` at most once per field.
pub fn scan_sip<'a>(
    msg: &Message<'a>,
    body: &Body<'a>,
    transport: Transport,
    out: &mut Vec<Finding<'a>>,
) {
    let from = out.len();
    let clear = is_cleartext(transport);
    let mut privacy = false;
    let mut from_hdr: Option<(&'a [u8], &'a [u8])> = None;
    let mut identity_shown: Option<Finding<'a>> = None;
    for h in &msg.headers {
        let (name, value) = (h.raw_name, h.value);
        match role(h) {
            Role::Identity(field) => {
                push_once(
                    out,
                    from,
                    finding(Kind::IdentityAsserted, field, name, value),
                );
                if field != Field::PPreferredIdentity
                    && identity_shown.is_none()
                    && names_someone(value)
                {
                    identity_shown = Some(finding(Kind::PrivacyRequestIgnored, field, name, value));
                }
            }
            Role::Location(field) => push_once(
                out,
                from,
                finding(Kind::LocationDisclosed, field, name, value),
            ),
            Role::Credentials(field) if clear => push_once(
                out,
                from,
                finding(Kind::DigestCredentials, field, name, value),
            ),
            Role::Forwarding(field) => push_once(
                out,
                from,
                finding(Kind::ForwardingHistory, field, name, value),
            ),
            Role::Software(field) if has_version(value) => push_once(
                out,
                from,
                finding(Kind::SoftwareVersion, field, name, value),
            ),
            Role::Privacy => privacy |= privacy_requested(value),
            Role::From if from_hdr.is_none() => from_hdr = Some((name, value)),
            Role::Address(field) if private_in(field, value) => {
                push_once(out, from, finding(Kind::PrivateAddress, field, name, value))
            }
            Role::Custom => push_once(
                out,
                from,
                finding(Kind::CustomHeader, Field::XHeader, name, value),
            ),
            _ => {}
        }
    }
    if privacy && clear {
        let shown = identity_shown.or_else(|| {
            from_hdr
                .filter(|(_, v)| names_someone(v))
                .map(|(n, v)| finding(Kind::PrivacyRequestIgnored, Field::From, n, v))
        });
        if let Some(f) = shown {
            push_once(out, from, f);
        }
    }
    scan_body(body, clear, from, out);
    super::sdp_crypto::scan(body.sdp.as_ref(), out);
}

fn scan_body<'a>(body: &Body<'a>, clear: bool, from: usize, out: &mut Vec<Finding<'a>>) {
    if let Some(ct) = body.pidf_lo {
        push_once(
            out,
            from,
            finding(Kind::LocationDisclosed, Field::PidfLo, b"Content-Type", ct),
        );
    }
    if let Some(sdp) = &body.sdp {
        scan_sdp(sdp, clear, from, out);
    }
}

/// SDP lines (RFC 8866 §5) that expose something: the parser kept them
/// ([`Sdp::notable`]) in body order, so each finding points at its line.
fn scan_sdp<'a>(sdp: &Sdp<'a>, clear: bool, from: usize, out: &mut Vec<Finding<'a>>) {
    for n in &sdp.notable {
        let f = |kind, field, line| finding(kind, field, b"", line);
        match *n {
            Notable::Username { line } => {
                push_once(out, from, f(Kind::SdpUsername, Field::SdpOrigin, line))
            }
            Notable::Address { at, token, line } => {
                if parse_ip(token).is_some_and(is_private) {
                    let field = match at {
                        AddrAt::Origin => Field::SdpOrigin,
                        AddrAt::Connection => Field::SdpConnection,
                        AddrAt::Candidate => Field::IceCandidate,
                    };
                    push_once(out, from, f(Kind::PrivateAddress, field, line));
                }
            }
            // The line stops right after `inline:`: the key is never
            // handed on.
            Notable::InlineKey { line } if clear => {
                push_once(out, from, f(Kind::SrtpKeyExposed, Field::SdpCrypto, line))
            }
            Notable::InlineKey { .. } => {}
            Notable::SsrcCname { line } => {
                push_once(out, from, f(Kind::RtcpIdentity, Field::SdpSsrcCname, line))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse_message;

    const HEAD: &str = "INVITE sip:bob@203.0.113.5 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK1\r\n\
        From: <sip:alice@example.com>;tag=1\r\n\
        To: <sip:bob@example.com>\r\n\
        Call-ID: abc@203.0.113.1\r\n\
        CSeq: 1 INVITE\r\n";

    /// Scan a message made of HEAD + `extra` headers + `body`.
    fn scan_with(extra: &str, body: &str, t: Transport) -> Vec<(Kind, Field, Vec<u8>)> {
        let mut msg = HEAD.to_string();
        msg.push_str(extra);
        if !body.is_empty() {
            msg.push_str("Content-Type: application/sdp\r\n");
        }
        msg.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let m = parse_message(msg.as_bytes()).unwrap();
        let mut out = Vec::new();
        scan_sip(&m, &Body::parse(&m), t, &mut out);
        out.into_iter()
            .map(|f| (f.kind, f.field, f.evidence.to_vec()))
            .collect()
    }

    fn kinds(extra: &str, body: &str, t: Transport) -> Vec<Kind> {
        scan_with(extra, body, t).into_iter().map(|f| f.0).collect()
    }

    fn has(extra: &str, body: &str, t: Transport, k: Kind) -> bool {
        kinds(extra, body, t).contains(&k)
    }

    const UDP: Transport = Transport::Udp;

    #[test]
    fn baseline_has_no_findings() {
        assert_eq!(kinds("", "", UDP), vec![]);
        assert_eq!(
            kinds("", "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\nc=IN IP4 203.0.113.1\r\nm=audio 4000 RTP/AVP 0\r\n", UDP),
            vec![]
        );
    }

    const CRYPTO_SDP: &str = "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\n\
        c=IN IP4 203.0.113.1\r\nm=audio 4000 RTP/SAVP 0\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n";

    #[test]
    fn srtp_key_exposed() {
        let f = scan_with("", CRYPTO_SDP, UDP);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].0, f[0].1), (Kind::SrtpKeyExposed, Field::SdpCrypto));
        // The evidence stops before the key.
        assert_eq!(f[0].2, b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:");
        for t in [Transport::Tcp, Transport::Ws, Transport::Sctp] {
            assert!(has("", CRYPTO_SDP, t, Kind::SrtpKeyExposed), "{t:?}");
        }
        for t in [Transport::Tls, Transport::Wss] {
            assert!(!has("", CRYPTO_SDP, t, Kind::SrtpKeyExposed), "{t:?}");
        }
        // DTLS-SRTP: a fingerprint, no key in the SDP.
        let dtls = "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\nm=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=fingerprint:sha-256 AB:CD\r\n";
        assert!(!has("", dtls, UDP, Kind::SrtpKeyExposed));
        // Two crypto lines: one key finding (the 32-bit tag of the second
        // is `weak_transport_crypto`, see sdp_crypto).
        let two = format!("{CRYPTO_SDP}a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:AAAA\r\n");
        assert_eq!(
            kinds("", &two, UDP),
            vec![Kind::SrtpKeyExposed, Kind::WeakTransportCrypto]
        );
    }

    #[test]
    fn privacy_request_ignored() {
        let pai = "P-Asserted-Identity: <sip:+15551234567@example.com>\r\n";
        let k = kinds(&format!("Privacy: id\r\n{pai}"), "", UDP);
        assert!(k.contains(&Kind::PrivacyRequestIgnored));
        assert!(k.contains(&Kind::IdentityAsserted));
        let f = scan_with(&format!("privacy: header; ID\r\n{pai}"), "", UDP);
        let p = f
            .iter()
            .find(|f| f.0 == Kind::PrivacyRequestIgnored)
            .unwrap();
        assert_eq!(p.1, Field::PAssertedIdentity);
        // Privacy: user with a From that still names the caller.
        let f = scan_with("Privacy: user\r\n", "", UDP);
        assert_eq!((f[0].0, f[0].1), (Kind::PrivacyRequestIgnored, Field::From));
        // Remote-Party-ID.
        assert!(has(
            "Privacy: id\r\nRemote-Party-ID: \"A\" <sip:1234@h>;party=calling\r\n",
            "",
            UDP,
            Kind::PrivacyRequestIgnored
        ));
        // Not asked, or asked and honoured, or not readable on the wire.
        assert!(!has(pai, "", UDP, Kind::PrivacyRequestIgnored));
        assert!(!has(
            &format!("Privacy: none\r\n{pai}"),
            "",
            UDP,
            Kind::PrivacyRequestIgnored
        ));
        assert!(!has(
            &format!("Privacy: session\r\n{pai}"),
            "",
            UDP,
            Kind::PrivacyRequestIgnored
        ));
        assert!(!has(
            &format!("Privacy: id\r\n{pai}"),
            "",
            Transport::Tls,
            Kind::PrivacyRequestIgnored
        ));
        let anon = "INVITE sip:b@h SIP/2.0\r\nFrom: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1\r\nPrivacy: id\r\nP-Asserted-Identity: <sip:Anonymous@h>\r\n\r\n";
        let m = parse_message(anon.as_bytes()).unwrap();
        let mut out = Vec::new();
        scan_sip(&m, &Body::parse(&m), UDP, &mut out);
        assert!(!out.iter().any(|f| f.kind == Kind::PrivacyRequestIgnored));
        // Compact From (`f:`) counts as From.
        let compact = "INVITE sip:b@h SIP/2.0\r\nf: <sip:carol@h>;tag=1\r\nPrivacy: user\r\n\r\n";
        let m = parse_message(compact.as_bytes()).unwrap();
        let mut out = Vec::new();
        scan_sip(&m, &Body::parse(&m), UDP, &mut out);
        assert_eq!(out[0].kind, Kind::PrivacyRequestIgnored);
        assert_eq!(out[0].name, b"f");
    }

    #[test]
    fn identity_asserted() {
        for (h, field) in [
            ("P-Asserted-Identity: <sip:a@h>", Field::PAssertedIdentity),
            ("p-preferred-identity: <sip:a@h>", Field::PPreferredIdentity),
            (
                "REMOTE-PARTY-ID: <sip:a@h>;party=calling",
                Field::RemotePartyId,
            ),
        ] {
            let f = scan_with(&format!("{h}\r\n"), "", Transport::Tls);
            assert_eq!(f.len(), 1, "{h}");
            assert_eq!((f[0].0, f[0].1), (Kind::IdentityAsserted, field));
        }
        // Twice: once per message.
        let two = "P-Asserted-Identity: <sip:a@h>\r\nP-Asserted-Identity: <tel:+1555>\r\n";
        assert_eq!(kinds(two, "", UDP), vec![Kind::IdentityAsserted]);
        assert!(!has(
            "P-Asserted-Identity-Foo: x\r\n",
            "",
            UDP,
            Kind::IdentityAsserted
        ));
    }

    #[test]
    fn location_disclosed() {
        assert_eq!(
            scan_with(
                "P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=2620100011A2B3C\r\n",
                "",
                UDP
            )[0]
            .1,
            Field::PAccessNetworkInfo
        );
        assert_eq!(
            scan_with(
                "geolocation: <cid:target123@atlanta.example.com>\r\n",
                "",
                UDP
            )[0]
            .1,
            Field::Geolocation
        );
        // A PIDF-LO part in a multipart body (RFC 6442 §3).
        let body = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\no=- 1 1 IN IP4 203.0.113.1\r\n\r\n--b1\r\nContent-Type: application/pidf+xml\r\n\r\n<presence xmlns:gp=\"urn:ietf:params:xml:ns:pidf:geopriv10\"><tuple><status><gp:geopriv><gp:location-info>x</gp:location-info></gp:geopriv></status></tuple></presence>\r\n--b1--\r\n";
        let msg = format!(
            "{HEAD}Content-Type: multipart/mixed;boundary=b1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let m = parse_message(msg.as_bytes()).unwrap();
        let mut out = Vec::new();
        scan_sip(&m, &Body::parse(&m), UDP, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].kind, out[0].field),
            (Kind::LocationDisclosed, Field::PidfLo)
        );
        // A PIDF without location, or none at all: nothing.
        let plain = body
            .replace("geopriv", "note")
            .replace("location-info", "x");
        let msg = format!(
            "{HEAD}Content-Type: multipart/mixed;boundary=b1\r\nContent-Length: {}\r\n\r\n{plain}",
            plain.len()
        );
        let m = parse_message(msg.as_bytes()).unwrap();
        out.clear();
        scan_sip(&m, &Body::parse(&m), UDP, &mut out);
        assert!(out.is_empty());
        assert!(!has(
            "Geolocation-Routing: no\r\n",
            "",
            UDP,
            Kind::LocationDisclosed
        ));
    }

    #[test]
    fn digest_credentials() {
        let auth = "Authorization: Digest username=\"alice\", realm=\"x\", nonce=\"n\", uri=\"sip:x\", response=\"0123\"\r\n";
        assert_eq!(scan_with(auth, "", UDP)[0].1, Field::Authorization);
        assert_eq!(
            scan_with(
                &auth.replace("Authorization", "proxy-authorization"),
                "",
                Transport::Tcp
            )[0]
            .1,
            Field::ProxyAuthorization
        );
        assert!(!has(auth, "", Transport::Tls, Kind::DigestCredentials));
        assert!(!has(auth, "", Transport::Wss, Kind::DigestCredentials));
        // The challenge carries no credentials.
        assert!(!has(
            "WWW-Authenticate: Digest realm=\"x\", nonce=\"n\"\r\n",
            "",
            UDP,
            Kind::DigestCredentials
        ));
    }

    #[test]
    fn forwarding_history() {
        assert_eq!(
            scan_with("Diversion: <sip:1234@h>;reason=unconditional\r\n", "", UDP)[0].1,
            Field::Diversion
        );
        let f = scan_with(
            "History-Info: <sip:a@h>;index=1\r\nHistory-Info: <sip:b@h>;index=1.1\r\n",
            "",
            UDP,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].0, f[0].1),
            (Kind::ForwardingHistory, Field::HistoryInfo)
        );
    }

    #[test]
    fn private_address_per_field() {
        let msg = "INVITE sip:b@h SIP/2.0\r\n\
            v: SIP/2.0/UDP 203.0.113.1;branch=z;received=192.168.1.20\r\n\
            Via: SIP/2.0/UDP 10.0.0.1:5060;branch=y\r\n\
            m: <sip:alice@[fd00::5]:5060>\r\n\
            Record-Route: <sip:172.16.0.1;lr>\r\n\
            i: 1234@100.64.1.1\r\n\
            Content-Type: application/sdp\r\n\r\n\
            v=0\r\no=- 1 1 IN IP4 169.254.1.1\r\nc=IN IP4 10.1.1.1\r\n\
            m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.1.1.2\r\n\
            a=candidate:1 1 UDP 2130706431 203.0.113.9 4000 typ srflx raddr 192.168.0.9 rport 4000\r\n";
        let m = parse_message(msg.as_bytes()).unwrap();
        let mut out = Vec::new();
        scan_sip(&m, &Body::parse(&m), UDP, &mut out);
        let fields: Vec<_> = out
            .iter()
            .filter(|f| f.kind == Kind::PrivateAddress)
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(
            fields,
            [
                "via",
                "contact",
                "record_route",
                "call_id",
                "sdp_origin",
                "sdp_connection",
                "ice_candidate"
            ]
        );
        // The first Via with a private address is the evidence.
        assert_eq!(out[0].name, b"v");
        assert!(out[0].evidence.ends_with(b"received=192.168.1.20"));
        assert_eq!(out[5].evidence, b"c=IN IP4 10.1.1.1");
        // Public addresses and hostnames: nothing.
        let public = "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP pbx.example.com;received=198.51.100.1\r\nContact: <sip:a@[2001:db8::1]>\r\nCall-ID: x@host.example\r\n\r\n";
        let m = parse_message(public.as_bytes()).unwrap();
        out.clear();
        scan_sip(&m, &Body::parse(&m), UDP, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn software_version() {
        assert_eq!(
            scan_with("User-Agent: Asterisk PBX 18.2.0\r\n", "", UDP)[0].1,
            Field::UserAgent
        );
        assert_eq!(
            scan_with(
                "server: FreeSWITCH-mod_sofia/1.10.7-release\r\n",
                "",
                Transport::Tls
            )[0]
            .1,
            Field::Server
        );
        assert!(has(
            "User-Agent: Linphone/3.6.1 (belle-sip/1.2.4)\r\n",
            "",
            UDP,
            Kind::SoftwareVersion
        ));
        assert!(has(
            "USER-AGENT: softphone v2.1\r\n",
            "",
            UDP,
            Kind::SoftwareVersion
        ));
        assert!(!has(
            "User-Agent: MyPhone\r\n",
            "",
            UDP,
            Kind::SoftwareVersion
        ));
        assert!(!has(
            "Server: FreeSWITCH-mod_sofia\r\n",
            "",
            UDP,
            Kind::SoftwareVersion
        ));
        assert!(!has(
            "User-Agent: Room 42\r\n",
            "",
            UDP,
            Kind::SoftwareVersion
        ));
        assert_eq!(
            kinds("User-Agent: a/1\r\nServer: b/2\r\n", "", UDP),
            vec![Kind::SoftwareVersion]
        );
    }

    #[test]
    fn custom_header() {
        let f = scan_with("X-Account: 42\r\nx-foo: bar\r\n", "", UDP);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].0, f[0].1), (Kind::CustomHeader, Field::XHeader));
        // `x` is the compact Session-Expires, not an X- header.
        assert!(!has("x: 1800\r\n", "", UDP, Kind::CustomHeader));
        assert!(!has("X-: 1\r\n", "", UDP, Kind::CustomHeader));
    }

    #[test]
    fn sdp_username() {
        let sdp =
            "v=0\r\no=alice 2890844526 2890844526 IN IP4 203.0.113.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let f = scan_with("", sdp, UDP);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].0, f[0].1), (Kind::SdpUsername, Field::SdpOrigin));
        assert_eq!(f[0].2, b"o=alice 2890844526 2890844526 IN IP4 203.0.113.1");
        assert!(!has("", &sdp.replace("alice", "-"), UDP, Kind::SdpUsername));
        // Not SDP: no SDP findings.
        let msg = format!("{HEAD}Content-Type: text/plain\r\n\r\no=alice 1 1 IN IP4 10.0.0.1\r\n");
        let m = parse_message(msg.as_bytes()).unwrap();
        let mut out = Vec::new();
        scan_sip(&m, &Body::parse(&m), UDP, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn sdp_ssrc_cname() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\nm=audio 4000 RTP/AVP 0\r\na=ssrc:1234 cname:user@host\r\na=ssrc:1234 msid:x y\r\n";
        let f = scan_with("", sdp, UDP);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].0, f[0].1), (Kind::RtcpIdentity, Field::SdpSsrcCname));
        assert!(!has(
            "",
            &sdp.replace("cname:", "label:"),
            UDP,
            Kind::RtcpIdentity
        ));
    }

    #[test]
    fn multipart_sdp_and_pidf_lo_parsed_once() {
        // SDP + PIDF-LO in one multipart body: the findings the one walk and
        // the one SDP parse give, in order, with evidence pointing into the
        // message (the findings store redacts it there).
        let body = "--b1\r\nContent-Type: application/sdp\r\n\r\n\
            v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 203.0.113.1\r\n\
            m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:S3CR3T|2^20\r\n\
            c=IN IP4 192.168.1.2\r\na=ssrc:7 cname:alice@h\r\n\
            a=candidate:1 1 UDP 1 203.0.113.1 4000 typ srflx raddr 10.0.0.9 rport 4000\r\n\r\n\
            --b1\r\nContent-Type: application/pidf+xml\r\n\r\n\
            <presence><gp:geopriv><gp:location-info>x</gp:location-info></gp:geopriv></presence>\r\n--b1--\r\n";
        let msg = format!(
            "{HEAD}Content-Type: multipart/mixed;boundary=b1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let d = msg.as_bytes();
        let m = parse_message(d).unwrap();
        let parsed = Body::parse(&m);
        let sdp = parsed.sdp.as_ref().unwrap();
        assert_eq!(sdp.media_endpoints().count(), 1);
        let mut out = Vec::new();
        scan_sip(&m, &parsed, UDP, &mut out);
        let got: Vec<_> = out
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.field,
                    String::from_utf8_lossy(f.evidence).into_owned(),
                )
            })
            .collect();
        let want = [
            (
                Kind::LocationDisclosed,
                Field::PidfLo,
                "application/pidf+xml",
            ),
            (
                Kind::SdpUsername,
                Field::SdpOrigin,
                "o=alice 1 1 IN IP4 10.0.0.1",
            ),
            (
                Kind::PrivateAddress,
                Field::SdpOrigin,
                "o=alice 1 1 IN IP4 10.0.0.1",
            ),
            (
                Kind::SrtpKeyExposed,
                Field::SdpCrypto,
                "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:",
            ),
            (
                Kind::PrivateAddress,
                Field::SdpConnection,
                "c=IN IP4 192.168.1.2",
            ),
            (
                Kind::RtcpIdentity,
                Field::SdpSsrcCname,
                "a=ssrc:7 cname:alice@h",
            ),
            (
                Kind::PrivateAddress,
                Field::IceCandidate,
                "a=candidate:1 1 UDP 1 203.0.113.1 4000 typ srflx raddr 10.0.0.9 rport 4000",
            ),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|(k, f, e)| (*k, *f, e.to_string()))
            .collect();
        assert_eq!(got, want);
        let range = d.as_ptr_range();
        for f in &out {
            assert!(range.contains(&f.evidence.as_ptr()), "{f:?}");
        }
        // The key never reaches a finding.
        assert!(!out
            .iter()
            .any(|f| f.evidence.windows(6).any(|w| w == b"S3CR3T")));
        // Over TLS the key is not exposed; the rest stands.
        out.clear();
        scan_sip(&m, &parsed, Transport::Tls, &mut out);
        assert_eq!(out.len(), 6);
        assert!(!out.iter().any(|f| f.kind == Kind::SrtpKeyExposed));
    }

    #[test]
    fn header_roles_come_from_the_parser() {
        let m = parse_message(b"OPTIONS sip:h SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1\r\nX-Foo: 1\r\nx: 90\r\nP-Asserted-Identity-Foo: a\r\nUSER-AGENT: a/1\r\n\r\n").unwrap();
        let roles: Vec<_> = m.headers.iter().map(role).collect();
        assert_eq!(
            roles,
            [
                Role::Address(Field::Via),
                Role::Custom,
                Role::None,
                Role::None,
                Role::Software(Field::UserAgent),
            ]
        );
    }

    #[test]
    fn versions() {
        for v in ["a/1", "1.2", "1.2.3", "x v3.0", "X-Lite release 1105d"] {
            assert_eq!(
                has_version(v.as_bytes()),
                v != "X-Lite release 1105d",
                "{v}"
            );
        }
    }

    #[test]
    fn scanning_every_prefix_is_panic_free() {
        let msg = format!("{HEAD}Privacy: id\r\nP-Asserted-Identity: <sip:+1555@10.0.0.1>\r\nContent-Type: application/sdp\r\n\r\n{CRYPTO_SDP}a=candidate:1 1 UDP 1 10.0.0.1 1 typ host\r\n");
        let d = msg.as_bytes();
        for cut in 0..d.len() {
            if let Ok(m) = parse_message(&d[..cut]) {
                let mut out = Vec::new();
                scan_sip(&m, &Body::parse(&m), UDP, &mut out);
                assert!(out.len() <= Kind::ALL.len() + Field::ALL.len());
            }
        }
    }
}

/// Arbitrary mutations of a message rich in exposures: never a panic, and
/// the once-per-message rule holds (STYLE.md §11).
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::sip::parse_message;
    use proptest::prelude::*;

    const SEED: &[u8] = b"INVITE sip:+15551234@10.0.0.1 SIP/2.0\r\n\
        v: SIP/2.0/UDP 10.0.0.1;received=192.168.0.1\r\nf: <sip:a@h>;tag=1\r\n\
        i: x@10.0.0.1\r\nm: <sip:a@[fd00::1]>\r\nPrivacy: id\r\n\
        P-Asserted-Identity: <sip:+1555@h>\r\nRemote-Party-ID: <sip:1@h>\r\n\
        Authorization: Digest username=\"a\"\r\nDiversion: <sip:1@h>\r\n\
        Geolocation: <cid:x@h>\r\nUser-Agent: a/1\r\nX-A: 1\r\n\
        c: multipart/mixed;boundary=b\r\n\r\n--b\r\nContent-Type: application/sdp\r\n\r\n\
        v=0\r\no=u 1 1 IN IP4 10.0.0.1\r\nc=IN IP4 10.0.0.2\r\nm=audio 1 RTP/SAVP 0\r\n\
        a=crypto:1 X inline:KEY\r\na=ssrc:1 cname:c\r\na=candidate:1 1 UDP 1 10.0.0.3 1 typ host\r\n\
        --b\r\nContent-Type: application/pidf+xml\r\n\r\n<gp:geopriv/>\r\n--b--\r\n";

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn scan_sip_is_bounded_and_panic_free(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..12),
            cut in any::<usize>(),
            tls in any::<bool>(),
        ) {
            let mut d = SEED.to_vec();
            for (at, b) in edits {
                let at = at % d.len();
                d[at] = b;
            }
            d.truncate(cut % (d.len() + 1));
            if let Ok(m) = parse_message(&d) {
                let mut out = Vec::new();
                let t = if tls { Transport::Tls } else { Transport::Udp };
                scan_sip(&m, &Body::parse(&m), t, &mut out);
                for (i, f) in out.iter().enumerate() {
                    for g in &out[i + 1..] {
                        prop_assert!(
                            f.kind != g.kind || (f.kind == Kind::PrivateAddress && f.field != g.field),
                            "{:?} twice", f.kind
                        );
                    }
                    if tls {
                        prop_assert!(!matches!(
                            f.kind,
                            Kind::SrtpKeyExposed | Kind::DigestCredentials | Kind::PrivacyRequestIgnored
                        ));
                    }
                    // Evidence borrows the message.
                    prop_assert!(f.evidence.len() <= d.len());
                }
            }
        }
    }

    #[test]
    fn seed_raises_every_message_kind() {
        let m = parse_message(SEED).unwrap();
        let mut out = Vec::new();
        scan_sip(&m, &Body::parse(&m), Transport::Udp, &mut out);
        let mut kinds: Vec<_> = out.iter().map(|f| f.kind.as_str()).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(
            kinds,
            [
                "custom_header",
                "digest_credentials",
                "forwarding_history",
                "identity_asserted",
                "location_disclosed",
                "privacy_request_ignored",
                "private_address",
                "rtcp_identity",
                "sdp_username",
                "software_version",
                "srtp_key_exposed",
            ]
        );
        let pa = out
            .iter()
            .filter(|f| f.kind == Kind::PrivateAddress)
            .count();
        assert_eq!(pa, 6, "{out:?}"); // via contact call_id origin connection candidate
    }
}

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
use super::{identity, privacy};
use super::{is_cleartext, Field, Finding, Kind};
use crate::sdp::{AddrAt, ContactAt, Notable, Sdp};
use crate::sip::body::ContentKind;
use crate::sip::{Body, Header, HeaderName, Message, Transport};

/// What kind of header this is, for the exposure checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Identity(Field),
    /// Identity headers of the second catalogue (each its own count).
    IdentityMore(Field),
    /// `Identity` (RFC 8224): a PASSporT.
    Passport,
    Location(Field),
    Credentials(Field),
    Forwarding(Field),
    Software(Field),
    Privacy,
    From,
    Address(Field),
    Custom(Field),
    /// A header `Privacy: header` asks to hide (RFC 3323 §4.2) that is no
    /// other finding.
    Hideable(Field),
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
        H::PAssociatedUri => Role::IdentityMore(Field::PAssociatedUri),
        H::PServedUser => Role::IdentityMore(Field::PServedUser),
        H::PCalledPartyId => Role::IdentityMore(Field::PCalledPartyId),
        H::ReferredBy => Role::IdentityMore(Field::ReferredBy),
        H::Identity => Role::Passport,
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
        H::UserToUser => Role::Custom(Field::UserToUser),
        H::PChargingVector => Role::Custom(Field::PChargingVector),
        H::Subject => Role::Hideable(Field::Subject),
        H::CallInfo => Role::Hideable(Field::CallInfo),
        H::Organization => Role::Hideable(Field::Organization),
        H::ReplyTo => Role::Hideable(Field::ReplyTo),
        H::InReplyTo => Role::Hideable(Field::InReplyTo),
        // `x` alone is the compact Session-Expires (RFC 4028), not X-*:
        // it is classified, so never `Other`.
        H::Other
            if h.raw_name.len() > 2
                && h.raw_name
                    .get(..2)
                    .is_some_and(|p| p.eq_ignore_ascii_case(b"x-")) =>
        {
            Role::Custom(Field::XHeader)
        }
        _ => Role::None,
    }
}

/// What a finding is counted once per message by: its kind, and for the
/// kinds counted per field its field. The first catalogue's identity
/// fields share one count (as they always did); each field of the second
/// catalogue counts on its own, so a signed PASSporT is not hidden behind
/// a P-Asserted-Identity in the same message.
pub fn slot(f: &Finding<'_>) -> (Kind, Option<Field>) {
    use Field as F;
    let field = match (f.kind, f.field) {
        (Kind::PrivateAddress | Kind::TopologyDisclosed, field) => Some(field),
        (
            Kind::IdentityAsserted,
            F::PAssertedIdentity | F::PPreferredIdentity | F::RemotePartyId,
        ) => None,
        (Kind::IdentityAsserted, field) => Some(field),
        (Kind::CustomHeader, F::XHeader) => None,
        (Kind::CustomHeader, field) => Some(field),
        (
            Kind::PrivacyRequestIgnored,
            F::From | F::PAssertedIdentity | F::PPreferredIdentity | F::RemotePartyId,
        ) => None,
        (Kind::PrivacyRequestIgnored, field) => Some(field),
        _ => None,
    };
    (f.kind, field)
}

/// Pushes `f` unless a finding of its [`slot`] is already in `out[from..]`.
fn push_once<'a>(out: &mut Vec<Finding<'a>>, from: usize, f: Finding<'a>) {
    let key = slot(&f);
    let dup = out
        .get(from..)
        .unwrap_or(&[])
        .iter()
        .any(|g| slot(g) == key);
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

/// What a scan saw besides findings, for the caller to count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scanned {
    /// An `Identity` header that is not a PASSporT (counted as the
    /// `bad_identity` parse error; the message is scanned all the same).
    pub bad_identity: bool,
    /// DTMF keys in the body (`dtmf_digits_total{field="sip_info"}`),
    /// counted per message even when `dtmf_disclosed` is not (it is per call).
    pub dtmf_digits: u32,
}

/// Every per-message exposure of `msg` seen on `transport` (see the
/// catalogue in the design); `body` is what [`Body::parse`] read in `msg`
/// (the caller parses it once and shares it). Appends to `out`; each
/// [`slot`] at most once per call.
pub fn scan_sip<'a>(
    msg: &Message<'a>,
    body: &Body<'a>,
    transport: Transport,
    out: &mut Vec<Finding<'a>>,
) -> Scanned {
    let from = out.len();
    let clear = is_cleartext(transport);
    let mut scanned = Scanned::default();
    let mut privacy = false;
    let mut asks = privacy::Asks::default();
    let mut from_hdr: Option<(&'a [u8], &'a [u8])> = None;
    let mut identity_shown: Option<Finding<'a>> = None;
    let mut passport_shown: Option<Finding<'a>> = None;
    let mut hideable = privacy::Hideable::default();
    for h in &msg.headers {
        let (name, value) = (h.raw_name, h.value);
        let role = role(h);
        if let Some(f) = device_identifier(role, name, value) {
            push_once(out, from, f);
        }
        // Read once: the privacy check and the private-address kind both
        // need it (parsing every Via and Contact host twice was a tenth of
        // the SIP path).
        let private = match role {
            Role::Address(field) => private_in(field, value),
            _ => false,
        };
        hideable.see(role_hideable(role), h, private);
        match role {
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
            Role::IdentityMore(field) => push_once(
                out,
                from,
                finding(Kind::IdentityAsserted, field, name, value),
            ),
            Role::Passport => match identity::passport(value) {
                Ok(p) => {
                    let f = finding(Kind::IdentityAsserted, Field::Identity, name, value);
                    push_once(out, from, f);
                    // A full token carries the calling number whatever
                    // From says (RFC 8224 §4); a compact one carries none.
                    if matches!(p, identity::Passport::Full { orig: true, .. }) {
                        passport_shown.get_or_insert(Finding {
                            kind: Kind::PrivacyRequestIgnored,
                            ..f
                        });
                    }
                }
                Err(_) => scanned.bad_identity = true,
            },
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
            Role::Privacy => {
                privacy |= privacy_requested(value);
                asks.add(value);
            }
            Role::From if from_hdr.is_none() => from_hdr = Some((name, value)),
            Role::Address(field) => {
                if private {
                    push_once(out, from, finding(Kind::PrivateAddress, field, name, value));
                }
                if field == Field::CallId && privacy::call_id_topology(value) {
                    push_once(
                        out,
                        from,
                        finding(Kind::TopologyDisclosed, Field::CallId, name, value),
                    );
                }
            }
            Role::Custom(field) => {
                push_once(out, from, finding(Kind::CustomHeader, field, name, value))
            }
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
        if let Some(f) = passport_shown {
            push_once(out, from, f);
        }
    }
    if clear && asks.header {
        for f in hideable.found() {
            push_once(out, from, f);
        }
    }
    if clear && asks.session {
        if let Some(f) = privacy::session_not_anonymised(msg, body.sdp.as_ref()) {
            push_once(out, from, f);
        }
    }
    scanned.dtmf_digits = scan_body(body, clear, from, out);
    super::sdp_crypto::scan(body.sdp.as_ref(), out);
    scanned
}

/// The field a header would be reported under when `Privacy: header` was
/// asked and it is still there (RFC 3323 §4.2, §5.1): the user's own
/// free-text headers, the software, and internal hosts in routing headers.
fn role_hideable(role: Role) -> Option<Field> {
    match role {
        Role::Hideable(field) | Role::Software(field) => Some(field),
        Role::Address(field) if field != Field::CallId => Some(field),
        _ => None,
    }
}

/// `device_identifier` in one header: instance ids, IMEIs and GRUUs in a
/// Contact, a MAC address in any header this scan reports.
fn device_identifier<'a>(role: Role, name: &'a [u8], value: &'a [u8]) -> Option<Finding<'a>> {
    let field = match role {
        Role::Address(Field::Contact) => identity::device_in_contact(value),
        _ => None,
    };
    let reported = !matches!(
        role,
        Role::None | Role::Privacy | Role::Address(Field::CallId)
    );
    let field =
        field.or_else(|| (reported && identity::has_mac(value)).then_some(Field::MacAddress))?;
    Some(finding(Kind::DeviceIdentifier, field, name, value))
}

/// Body findings; returns the DTMF keys seen.
fn scan_body<'a>(body: &Body<'a>, clear: bool, from: usize, out: &mut Vec<Finding<'a>>) -> u32 {
    if let Some(ct) = body.pidf_lo {
        push_once(
            out,
            from,
            finding(Kind::LocationDisclosed, Field::PidfLo, b"Content-Type", ct),
        );
    }
    let mut digits = 0;
    // Over TLS or WSS the body is as unreadable as the headers.
    if clear {
        if let Some(c) = &body.content {
            let field = match c.kind {
                ContentKind::Message => Field::Message,
                ContentKind::Voicemail => Field::Voicemail,
                ContentKind::Presence => Field::Presence,
                ContentKind::DialogInfo => Field::DialogInfo,
            };
            // The evidence is the Content-Type: what, never the text.
            push_once(
                out,
                from,
                finding(Kind::MessageContent, field, b"Content-Type", c.content_type),
            );
        }
        if let Some(d) = body.dtmf.filter(|d| d.digits > 0) {
            digits = d.digits;
            push_once(
                out,
                from,
                finding(
                    Kind::DtmfDisclosed,
                    Field::SipInfo,
                    b"Content-Type",
                    d.content_type,
                ),
            );
        }
    }
    if let Some(sdp) = &body.sdp {
        scan_sdp(sdp, clear, from, out);
    }
    digits
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
            Notable::Contact { at, line } => {
                let field = match at {
                    ContactAt::Email => Field::SdpEmail,
                    ContactAt::Phone => Field::SdpPhone,
                    ContactAt::Uri => Field::SdpUri,
                    ContactAt::Info => Field::SdpInfo,
                };
                push_once(out, from, f(Kind::SdpContactInfo, field, line))
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
        Call-ID: abc1234\r\n\
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
        // (A host name as the Call-ID's host is `topology_disclosed`.)
        assert!(
            out.iter().all(|f| f.kind == Kind::TopologyDisclosed),
            "{out:?}"
        );
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
                Role::Custom(Field::XHeader),
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
                        prop_assert!(slot(f) != slot(g), "{:?} twice", slot(f));
                    }
                    if tls {
                        prop_assert!(!matches!(
                            f.kind,
                            Kind::SrtpKeyExposed
                                | Kind::DigestCredentials
                                | Kind::PrivacyRequestIgnored
                                | Kind::MessageContent
                                | Kind::DtmfDisclosed
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

/// Issue 14: content, identity tokens, device identifiers, what
/// `Privacy: header`/`session` ask, Call-ID topology.
#[cfg(test)]
mod content {
    use super::*;
    use crate::sip::parse_message;
    use base64::Engine as _;

    fn scan(msg: &str, t: Transport) -> (Vec<(Kind, Field, String)>, Scanned) {
        let m = parse_message(msg.as_bytes()).unwrap();
        let mut out = Vec::new();
        let s = scan_sip(&m, &Body::parse(&m), t, &mut out);
        let f = out
            .iter()
            .map(|f| {
                (
                    f.kind,
                    f.field,
                    String::from_utf8_lossy(f.evidence).into_owned(),
                )
            })
            .collect();
        (f, s)
    }

    fn req(method: &str, extra: &str, ct: &str, body: &str) -> String {
        format!(
            "{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
             From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\n\
             CSeq: 2 {method}\r\n{extra}Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn has(f: &[(Kind, Field, String)], k: Kind, fld: Field) -> bool {
        f.iter().any(|x| x.0 == k && x.1 == fld)
    }

    #[test]
    fn dtmf_info_counts_keys_never_which() {
        let (f, s) = scan(
            &req(
                "INFO",
                "",
                "application/dtmf-relay",
                "Signal=7\r\nDuration=160\r\n",
            ),
            Transport::Udp,
        );
        assert_eq!(
            f,
            [(
                Kind::DtmfDisclosed,
                Field::SipInfo,
                "application/dtmf-relay".into()
            )]
        );
        assert_eq!(s.dtmf_digits, 1);
        let (_, s) = scan(
            &req(
                "INFO",
                "",
                "application/dtmf-relay",
                "signal = *\nDuration=100\n",
            ),
            Transport::Udp,
        );
        assert_eq!(s.dtmf_digits, 1);
        let (f, s) = scan(&req("INFO", "", "application/dtmf", "5"), Transport::Tcp);
        assert_eq!(f.len(), 1);
        assert_eq!(s.dtmf_digits, 1);
        // No key, or not readable: nothing.
        let (f, s) = scan(
            &req("INFO", "", "application/dtmf-relay", "Duration=160\r\n"),
            Transport::Udp,
        );
        assert!(f.is_empty() && s.dtmf_digits == 0);
        let (f, s) = scan(
            &req("INFO", "", "application/dtmf-relay", "Signal=1\r\n"),
            Transport::Tls,
        );
        assert!(f.is_empty() && s.dtmf_digits == 0);
        // Many keys in one body are bounded.
        let many = "Signal=1\r\n".repeat(100);
        let (_, s) = scan(
            &req("INFO", "", "application/dtmf-relay", &many),
            Transport::Udp,
        );
        assert_eq!(s.dtmf_digits, crate::sip::body::MAX_DTMF_PER_PART);
    }

    #[test]
    fn message_content_per_kind() {
        let cases = [
            ("MESSAGE", "text/plain;charset=UTF-8", "see you at 5", Field::Message),
            ("MESSAGE", "message/cpim", "From: <sip:a@h>\r\n\r\nContent-Type: text/plain\r\n\r\nhi", Field::Message),
            ("MESSAGE", "application/vnd.3gpp.sms", "\x00\x01\x02", Field::Message),
            ("NOTIFY", "application/simple-message-summary", "Messages-Waiting: yes\r\nVoice-Message: 2/8 (0/2)\r\n", Field::Voicemail),
            ("NOTIFY", "application/pidf+xml", "<presence><tuple id=\"t\"><status><basic>open</basic></status></tuple></presence>", Field::Presence),
            ("NOTIFY", "application/dialog-info+xml", "<dialog-info><dialog id=\"1\"><state>confirmed</state><remote><identity>sip:c@h</identity></remote></dialog></dialog-info>", Field::DialogInfo),
        ];
        for (m, ct, body, field) in cases {
            let (f, _) = scan(&req(m, "", ct, body), Transport::Udp);
            assert_eq!(f.len(), 1, "{ct}: {f:?}");
            assert_eq!((f[0].0, f[0].1), (Kind::MessageContent, field), "{ct}");
            // The evidence is the content type, never the text.
            assert_eq!(f[0].2, ct);
            let (f, _) = scan(&req(m, "", ct, body), Transport::Wss);
            assert!(f.is_empty(), "{ct} over wss");
        }
        // text/plain outside MESSAGE, an empty MESSAGE, presence without a
        // status, dialog-info without a remote party: nothing.
        for (m, ct, body) in [
            ("INFO", "text/plain", "hello"),
            ("MESSAGE", "text/plain", "  "),
            (
                "NOTIFY",
                "application/pidf+xml",
                "<presence><tuple id=\"t\"/></presence>",
            ),
            (
                "NOTIFY",
                "application/dialog-info+xml",
                "<dialog-info><dialog id=\"1\"><state>trying</state></dialog></dialog-info>",
            ),
        ] {
            assert!(
                scan(&req(m, "", ct, body), Transport::Udp).0.is_empty(),
                "{m} {ct}"
            );
        }
        // Inside a multipart body.
        let body = "--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecret text\r\n--b--\r\n";
        let (f, _) = scan(
            &req("MESSAGE", "", "multipart/mixed;boundary=b", body),
            Transport::Udp,
        );
        assert_eq!(
            f,
            [(Kind::MessageContent, Field::Message, "text/plain".into())]
        );
    }

    fn passport(payload: &str) -> String {
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.c2ln;info=<https://cert.example.org/c.pem>;alg=ES256;ppt=shaken",
            b.encode(r#"{"alg":"ES256","typ":"passport","ppt":"shaken"}"#),
            b.encode(payload)
        )
    }

    #[test]
    fn identity_tokens() {
        let t = passport(
            r#"{"attest":"A","dest":{"tn":["15551230002"]},"iat":1,"orig":{"tn":"15551230001"},"origid":"x"}"#,
        );
        let anon = "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1\r\n";
        let msg = req(
            "INVITE",
            &format!("Identity: {t}\r\nPrivacy: id\r\n"),
            "text/plain",
            "",
        )
        .replace("From: <sip:alice@example.com>;tag=1\r\n", anon);
        let (f, s) = scan(&msg, Transport::Udp);
        assert!(!s.bad_identity);
        assert!(has(&f, Kind::IdentityAsserted, Field::Identity), "{f:?}");
        assert!(
            has(&f, Kind::PrivacyRequestIgnored, Field::Identity),
            "{f:?}"
        );
        // Compact form `y`: asserted, but it carries no number.
        let (f, _) = scan(
            &req(
                "INVITE",
                "y: ..c2ln;info=<https://x/c.pem>\r\nPrivacy: id\r\n",
                "text/plain",
                "",
            )
            .replace("From: <sip:alice@example.com>;tag=1\r\n", anon),
            Transport::Udp,
        );
        assert_eq!(
            f,
            [(
                Kind::IdentityAsserted,
                Field::Identity,
                "..c2ln;info=<https://x/c.pem>".into()
            )]
        );
        // Malformed: a counted error, no finding.
        let (f, s) = scan(
            &req("INVITE", "Identity: not-a-token\r\n", "text/plain", ""),
            Transport::Udp,
        );
        assert!(f.is_empty() && s.bad_identity);
        // With P-Asserted-Identity: both fields, each once.
        let (f, _) = scan(&req("INVITE", &format!("P-Asserted-Identity: <sip:+1555@h>\r\nIdentity: {t}\r\nP-Asserted-Identity: <tel:+1555>\r\n"), "text/plain", ""), Transport::Udp);
        assert_eq!(
            f.iter().filter(|x| x.0 == Kind::IdentityAsserted).count(),
            2,
            "{f:?}"
        );
    }

    #[test]
    fn more_identity_and_custom_headers() {
        let extra = "P-Associated-URI: <sip:+15551230001@ims.example.com>\r\n\
            P-Served-User: <sip:alice@example.com>;sescase=orig\r\n\
            P-Called-Party-ID: <sip:bob@example.com>\r\nb: <sip:carol@example.com>\r\n\
            User-to-User: 56a390f3d2b7310023a2;encoding=hex;purpose=isdn-uui\r\n\
            P-Charging-Vector: icid-value=1234bc9876e;icid-generated-at=192.0.6.8\r\nX-Foo: 1\r\n";
        let (f, _) = scan(&req("INVITE", extra, "text/plain", ""), Transport::Udp);
        let got: Vec<_> = f.iter().map(|x| (x.0, x.1)).collect();
        assert_eq!(
            got,
            [
                (Kind::IdentityAsserted, Field::PAssociatedUri),
                (Kind::IdentityAsserted, Field::PServedUser),
                (Kind::IdentityAsserted, Field::PCalledPartyId),
                (Kind::IdentityAsserted, Field::ReferredBy),
                (Kind::CustomHeader, Field::UserToUser),
                (Kind::CustomHeader, Field::PChargingVector),
                (Kind::CustomHeader, Field::XHeader),
            ]
        );
    }

    #[test]
    fn device_identifiers_once_per_message() {
        let extra = "Contact: <sip:alice@192.0.2.1>;+sip.instance=\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"\r\n\
            Contact: <sip:alice@192.0.2.1>;+sip.instance=\"<urn:gsma:imei:35209900-176148-1>\"\r\n";
        let (f, _) = scan(&req("REGISTER", extra, "text/plain", ""), Transport::Udp);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].0, f[0].1),
            (Kind::DeviceIdentifier, Field::SipInstance)
        );
        let (f, _) = scan(
            &req(
                "REGISTER",
                "User-Agent: Phone 00:1b:54:aa:bb:cc\r\n",
                "text/plain",
                "",
            ),
            Transport::Udp,
        );
        assert_eq!(
            (f[0].0, f[0].1),
            (Kind::DeviceIdentifier, Field::MacAddress)
        );
        let (f, _) = scan(
            &req(
                "REGISTER",
                "Contact: <sip:a@example.com;gr=urn:uuid:1>\r\n",
                "text/plain",
                "",
            ),
            Transport::Udp,
        );
        assert_eq!((f[0].0, f[0].1), (Kind::DeviceIdentifier, Field::Gruu));
        // A MAC-shaped Call-ID or branch is not a reported header.
        let (f, _) = scan(
            &req("OPTIONS", "", "text/plain", "")
                .replace("Call-ID: c1", "Call-ID: 00:1b:54:aa:bb:cc"),
            Transport::Udp,
        );
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn sdp_contact_lines() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\ni=Q3 numbers\r\nu=http://example.com/a\r\ne=alice@example.com\r\np=+1 555 0100\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let (f, _) = scan(&req("INVITE", "", "application/sdp", sdp), Transport::Udp);
        let got: Vec<_> = f.iter().map(|x| (x.0, x.1, x.2.as_str())).collect();
        // Once per message: the first such line.
        assert_eq!(
            got,
            [(Kind::SdpContactInfo, Field::SdpInfo, "i=Q3 numbers")]
        );
        let (f, _) = scan(
            &req(
                "INVITE",
                "",
                "application/sdp",
                &sdp.replace("i=Q3 numbers\r\nu=http://example.com/a\r\n", ""),
            ),
            Transport::Udp,
        );
        assert_eq!(f[0].1, Field::SdpEmail);
    }

    #[test]
    fn privacy_header_and_session() {
        let extra = "Privacy: header\r\nSubject: Salary talk\r\nOrganization: Example Corp\r\n\
            Call-Info: <http://example.com/alice.jpg>;purpose=icon\r\nReply-To: <sip:a@h>\r\n\
            In-Reply-To: 70710@saturn.example.com\r\nUser-Agent: Phone\r\n\
            Record-Route: <sip:10.0.0.1;lr>\r\nContact: <sip:alice@10.0.0.7>\r\n";
        let (f, _) = scan(&req("INVITE", extra, "text/plain", ""), Transport::Udp);
        let fields: Vec<_> = f
            .iter()
            .filter(|x| x.0 == Kind::PrivacyRequestIgnored)
            .map(|x| x.1.as_str())
            .collect();
        assert_eq!(
            fields,
            // `header` hides the identity too (RFC 3323 §4.2): From names Alice.
            [
                "from",
                "subject",
                "call_info",
                "organization",
                "reply_to",
                "in_reply_to",
                "user_agent",
                "record_route",
                "contact"
            ]
        );
        // Not asked, or not readable: none of these.
        let (f, _) = scan(
            &req(
                "INVITE",
                &extra.replace("Privacy: header", "Privacy: none"),
                "text/plain",
                "",
            ),
            Transport::Udp,
        );
        assert!(!f.iter().any(|x| x.0 == Kind::PrivacyRequestIgnored));
        let (f, _) = scan(&req("INVITE", extra, "text/plain", ""), Transport::Tls);
        assert!(!f.iter().any(|x| x.0 == Kind::PrivacyRequestIgnored));
        // session: media at the sender's own address.
        let sdp =
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let (f, _) = scan(
            &req(
                "INVITE",
                "Privacy: session\r\nContact: <sip:alice@192.0.2.1>\r\n",
                "application/sdp",
                sdp,
            ),
            Transport::Udp,
        );
        assert!(
            has(&f, Kind::PrivacyRequestIgnored, Field::Session),
            "{f:?}"
        );
        // Via alone (a request's topmost Via is the sender).
        let (f, _) = scan(
            &req("INVITE", "Privacy: session\r\n", "application/sdp", sdp),
            Transport::Udp,
        );
        assert!(
            has(&f, Kind::PrivacyRequestIgnored, Field::Session),
            "{f:?}"
        );
        // A relay's address: honoured.
        let (f, _) = scan(
            &req(
                "INVITE",
                "Privacy: session\r\n",
                "application/sdp",
                &sdp.replace("c=IN IP4 192.0.2.1", "c=IN IP4 198.51.100.9"),
            ),
            Transport::Udp,
        );
        assert!(
            !has(&f, Kind::PrivacyRequestIgnored, Field::Session),
            "{f:?}"
        );
    }

    #[test]
    fn call_id_topology() {
        let m = req("OPTIONS", "", "text/plain", "");
        let (f, _) = scan(
            &m.replace("Call-ID: c1", "Call-ID: a84b4c76e66710@pc33.atlanta.com"),
            Transport::Udp,
        );
        assert_eq!(
            f,
            [(
                Kind::TopologyDisclosed,
                Field::CallId,
                "a84b4c76e66710@pc33.atlanta.com".into()
            )]
        );
        let (f, _) = scan(
            &m.replace("Call-ID: c1", "i: 12@198.51.100.7"),
            Transport::Udp,
        );
        assert_eq!(f[0].0, Kind::TopologyDisclosed);
        let (f, _) = scan(
            &m.replace("Call-ID: c1", "Call-ID: 12@10.1.1.1"),
            Transport::Udp,
        );
        assert_eq!(f[0].0, Kind::PrivateAddress);
        assert_eq!(f.len(), 1);
    }
}

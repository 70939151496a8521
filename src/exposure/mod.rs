//! The exposure catalogue: turns SIP, SDP, RTCP, TLS and media observations
//! into findings of stable kinds (design, "Exposure catalogue").
//!
//! Owner: `exposure`. Invariants: pure functions over borrowed views; no
//! I/O, no logging, no metrics, no state. A [`Finding`] names a kind from a
//! fixed set, the field where the exposure sits (a fixed set too: both are
//! metric labels) and borrows the evidence (a header value or an SDP line)
//! for the findings store to redact; nothing here copies identifiers.
//! Deduplication whose unit is larger than one message (dialog, media
//! stream, SSRC, TLS handshake) is the caller's: it holds the state.
//!
//! Files: [`scan`] (SIP messages and their SDP), [`addr`] (address
//! classes, URI hosts), [`identity`] (PASSporTs, device identifiers),
//! [`privacy`] (what `Privacy: header`/`session` ask, Call-ID topology),
//! [`sdp_crypto`] (SDES suites that protect nothing or little), [`tls`]
//! (ClientHello SNI; what a TLS/DTLS handshake read by `crate::tls`
//! exposes), [`zones`] (named CIDR sets from the configuration).

pub mod addr;
pub mod identity;
pub mod privacy;
pub mod scan;
pub mod sdp_crypto;
pub mod tls;
pub mod zones;

pub use addr::is_private;
pub use scan::{scan_sip, Scanned};
pub use tls::tls_client_hello_sni;
pub use zones::{ZoneError, Zones};

use crate::media::classify::sdes;
use crate::media::{Protection, RtcpInfo};
use crate::sip::Transport;

crate::label_enum! {
    /// Severity of a kind (design table); the `severity` label.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Severity {
        Critical = "critical",
        High = "high",
        Medium = "medium",
        Low = "low",
        Info = "info",
    }
}

crate::label_enum! {
    /// The exposure kinds. The ids (`as_str`) are stable: they are metric
    /// label values and API field values.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Kind {
        CleartextMedia = "cleartext_media",
        SrtpKeyExposed = "srtp_key_exposed",
        PrivacyRequestIgnored = "privacy_request_ignored",
        EncryptionMismatch = "encryption_mismatch",
        CleartextSignaling = "cleartext_signaling",
        IdentityAsserted = "identity_asserted",
        LocationDisclosed = "location_disclosed",
        DigestCredentials = "digest_credentials",
        ForwardingHistory = "forwarding_history",
        PrivateAddress = "private_address",
        RtcpIdentity = "rtcp_identity",
        SoftwareVersion = "software_version",
        CustomHeader = "custom_header",
        SdpUsername = "sdp_username",
        TlsServerName = "tls_server_name",
        // Catalogue, second part (issues #13, #14, #15).
        SrtpNullCipher = "srtp_null_cipher",
        WeakTransportCrypto = "weak_transport_crypto",
        CertificateExposed = "certificate_exposed",
        SpeechActivity = "speech_activity",
        DtmfDisclosed = "dtmf_disclosed",
        MessageContent = "message_content",
        DeviceIdentifier = "device_identifier",
        SdpContactInfo = "sdp_contact_info",
        TopologyDisclosed = "topology_disclosed",
        LinkableIdentifier = "linkable_identifier",
        RegistrationPresence = "registration_presence",
    }
}

impl Kind {
    pub fn severity(&self) -> Severity {
        match self {
            Kind::CleartextMedia
            | Kind::SrtpKeyExposed
            | Kind::PrivacyRequestIgnored
            | Kind::SrtpNullCipher => Severity::Critical,
            Kind::EncryptionMismatch
            | Kind::CleartextSignaling
            | Kind::IdentityAsserted
            | Kind::LocationDisclosed
            | Kind::DigestCredentials
            | Kind::WeakTransportCrypto
            | Kind::DtmfDisclosed
            | Kind::MessageContent => Severity::High,
            Kind::ForwardingHistory
            | Kind::PrivateAddress
            | Kind::RtcpIdentity
            | Kind::CertificateExposed
            | Kind::SpeechActivity
            | Kind::DeviceIdentifier
            | Kind::SdpContactInfo
            | Kind::TopologyDisclosed
            | Kind::LinkableIdentifier
            | Kind::RegistrationPresence => Severity::Medium,
            Kind::SoftwareVersion | Kind::CustomHeader | Kind::SdpUsername => Severity::Low,
            Kind::TlsServerName => Severity::Info,
        }
    }
}

crate::label_enum! {
    /// Where an exposure sits: the `field` label. A fixed list.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Field {
        Via = "via",
        Contact = "contact",
        RecordRoute = "record_route",
        CallId = "call_id",
        From = "from",
        SdpConnection = "sdp_connection",
        SdpOrigin = "sdp_origin",
        IceCandidate = "ice_candidate",
        SdpCrypto = "sdp_crypto",
        SdpSsrcCname = "sdp_ssrc_cname",
        PAssertedIdentity = "p_asserted_identity",
        PPreferredIdentity = "p_preferred_identity",
        RemotePartyId = "remote_party_id",
        PAccessNetworkInfo = "p_access_network_info",
        Geolocation = "geolocation",
        PidfLo = "pidf_lo",
        Authorization = "authorization",
        ProxyAuthorization = "proxy_authorization",
        Diversion = "diversion",
        HistoryInfo = "history_info",
        UserAgent = "user_agent",
        Server = "server",
        XHeader = "x_header",
        Privacy = "privacy",
        RtcpSdesCname = "rtcp_sdes_cname",
        RtcpSdesName = "rtcp_sdes_name",
        RtcpSdesEmail = "rtcp_sdes_email",
        RtcpSdesPhone = "rtcp_sdes_phone",
        RtcpSdesLoc = "rtcp_sdes_loc",
        RtcpSdesTool = "rtcp_sdes_tool",
        RtcpSdesNote = "rtcp_sdes_note",
        RtcpSdesPriv = "rtcp_sdes_priv",
        Media = "media",
        Signaling = "signaling",
        TlsSni = "tls_sni",
        Other = "other",
        // Catalogue, second part (issues #13, #14, #15): fields of the new
        // kinds and new fields of existing kinds. `sdp_crypto`, `call_id`,
        // `sdp_origin`, `user_agent`, `server`, `via`, `record_route` and
        // `contact` above are reused where the design names them.
        // #13: protection that is not protection.
        DtlsSrtpProfile = "dtls_srtp_profile",
        Version = "version",
        KeyExchange = "key_exchange",
        Cipher = "cipher",
        SrtpAuth = "srtp_auth",
        ServerCertificate = "server_certificate",
        ClientCertificate = "client_certificate",
        TlsClientHello = "tls_client_hello",
        AudioLevel = "audio_level",
        PacketLength = "packet_length",
        // #14: content and identity.
        SipInfo = "sip_info",
        RtpEvent = "rtp_event",
        RtpEventTiming = "rtp_event_timing",
        Message = "message",
        Voicemail = "voicemail",
        Presence = "presence",
        DialogInfo = "dialog_info",
        Identity = "identity",
        PAssociatedUri = "p_associated_uri",
        PServedUser = "p_served_user",
        PCalledPartyId = "p_called_party_id",
        ReferredBy = "referred_by",
        UserToUser = "user_to_user",
        PChargingVector = "p_charging_vector",
        SipInstance = "sip_instance",
        Imei = "imei",
        Gruu = "gruu",
        ZrtpZid = "zrtp_zid",
        MacAddress = "mac_address",
        SdpEmail = "sdp_email",
        SdpPhone = "sdp_phone",
        SdpUri = "sdp_uri",
        SdpInfo = "sdp_info",
        Subject = "subject",
        CallInfo = "call_info",
        Organization = "organization",
        ReplyTo = "reply_to",
        InReplyTo = "in_reply_to",
        Session = "session",
        // #15: what an observer can assemble.
        RtcpCname = "rtcp_cname",
        DtlsFingerprint = "dtls_fingerprint",
        RegisterCallId = "register_call_id",
        Register = "register",
        Refresh = "refresh",
        Deregister = "deregister",
    }
}

/// One exposure seen in one observation.
///
/// `name` is the header name as written (empty for SDP lines, RTCP, media
/// and TLS); `evidence` the header value, or the SDP line (`c=IN IP4 ...`),
/// or the TLS server name; it may be empty. Both borrow the packet: the
/// findings store redacts them at once and never keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding<'a> {
    pub kind: Kind,
    pub field: Field,
    pub name: &'a [u8],
    pub evidence: &'a [u8],
}

impl<'a> Finding<'a> {
    pub fn new(kind: Kind, field: Field) -> Finding<'static> {
        Finding {
            kind,
            field,
            name: b"",
            evidence: b"",
        }
    }

    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

/// Is this SIP transport readable by anyone on the path? (TLS and WSS are
/// not; SCTP here means SIP over plain SCTP, RFC 4168, so it is.)
pub fn is_cleartext(transport: Transport) -> bool {
    !matches!(transport, Transport::Tls | Transport::Wss)
}

/// `cleartext_signaling` (field `signaling`) for SIP over a cleartext
/// transport. Counted once per dialog or registration: the caller calls
/// this when it creates the dialog/registration state, not per message.
pub fn cleartext_signaling(transport: Transport) -> Option<Finding<'static>> {
    is_cleartext(transport).then(|| Finding::new(Kind::CleartextSignaling, Field::Signaling))
}

/// Findings of one media stream once its protection is decided:
/// `cleartext_media` when the audio is readable, `encryption_mismatch`
/// when the signalling declared SRTP but the media looks cleartext. Called
/// once per stream (the caller's unit).
pub fn media_findings(protection: Protection, mismatch: bool, out: &mut Vec<Finding<'static>>) {
    if protection == Protection::Cleartext {
        out.push(Finding::new(Kind::CleartextMedia, Field::Media));
    }
    if mismatch {
        out.push(Finding::new(Kind::EncryptionMismatch, Field::Media));
    }
}

/// SDES item bits and their fields (RFC 3550 §6.5).
const SDES_FIELDS: [(u16, Field); 9] = [
    (sdes::CNAME, Field::RtcpSdesCname),
    (sdes::NAME, Field::RtcpSdesName),
    (sdes::EMAIL, Field::RtcpSdesEmail),
    (sdes::PHONE, Field::RtcpSdesPhone),
    (sdes::LOC, Field::RtcpSdesLoc),
    (sdes::TOOL, Field::RtcpSdesTool),
    (sdes::NOTE, Field::RtcpSdesNote),
    (sdes::PRIV, Field::RtcpSdesPriv),
    (sdes::OTHER, Field::Other),
];

/// `rtcp_identity` for each SDES item type present in a cleartext RTCP
/// datagram (one finding per item type). The caller dedups per SSRC and
/// field. Encrypted SRTCP carries no readable SDES, so nothing is found.
pub fn scan_rtcp(info: &RtcpInfo, out: &mut Vec<Finding<'static>>) {
    if info.encrypted {
        return;
    }
    for (bit, field) in SDES_FIELDS {
        if info.sdes_items & bit != 0 {
            out.push(Finding::new(Kind::RtcpIdentity, field));
        }
    }
}

/// `tls_server_name` (field `tls_sni`) when `record` is a TLS record
/// carrying a ClientHello with a server name. Counted once per handshake:
/// call it on the first client record of a TLS stream.
pub fn scan_tls(record: &[u8]) -> Option<Finding<'_>> {
    tls_client_hello_sni(record).map(|sni| Finding {
        kind: Kind::TlsServerName,
        field: Field::TlsSni,
        name: b"",
        evidence: sni,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_fixed_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for (i, k) in Kind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
            assert!(seen.insert(k.as_str()));
            assert!(k
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
            assert!(seen.insert(f.as_str()), "{}", f.as_str());
            assert!(f
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
        assert_eq!(Kind::SrtpKeyExposed.severity(), Severity::Critical);
        assert_eq!(Kind::CleartextSignaling.severity(), Severity::High);
        assert_eq!(Kind::PrivateAddress.severity(), Severity::Medium);
        assert_eq!(Kind::SdpUsername.severity(), Severity::Low);
        assert_eq!(Kind::TlsServerName.severity().as_str(), "info");
        // The design's second table.
        for (k, sev) in [
            (Kind::SrtpNullCipher, "critical"),
            (Kind::WeakTransportCrypto, "high"),
            (Kind::CertificateExposed, "medium"),
            (Kind::SpeechActivity, "medium"),
            (Kind::DtmfDisclosed, "high"),
            (Kind::MessageContent, "high"),
            (Kind::DeviceIdentifier, "medium"),
            (Kind::SdpContactInfo, "medium"),
            (Kind::TopologyDisclosed, "medium"),
            (Kind::LinkableIdentifier, "medium"),
            (Kind::RegistrationPresence, "medium"),
        ] {
            assert_eq!(k.severity().as_str(), sev, "{}", k.as_str());
        }
    }

    #[test]
    fn cleartext_signaling_only_without_tls() {
        for t in [
            Transport::Udp,
            Transport::Tcp,
            Transport::Ws,
            Transport::Sctp,
        ] {
            let f = cleartext_signaling(t).unwrap();
            assert_eq!(
                (f.kind.as_str(), f.field.as_str()),
                ("cleartext_signaling", "signaling")
            );
        }
        assert!(cleartext_signaling(Transport::Tls).is_none());
        assert!(cleartext_signaling(Transport::Wss).is_none());
    }

    #[test]
    fn media_kinds() {
        let mut out = Vec::new();
        media_findings(Protection::Cleartext, false, &mut out);
        assert_eq!(out, vec![Finding::new(Kind::CleartextMedia, Field::Media)]);
        out.clear();
        media_findings(Protection::Cleartext, true, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].kind, Kind::EncryptionMismatch);
        out.clear();
        media_findings(Protection::SrtpSdes, false, &mut out);
        media_findings(Protection::EncryptedUnknown, false, &mut out);
        media_findings(Protection::Unknown, false, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn rtcp_sdes_items() {
        let mut out = Vec::new();
        let info = RtcpInfo {
            sdes_items: sdes::CNAME | sdes::TOOL,
            ..RtcpInfo::default()
        };
        scan_rtcp(&info, &mut out);
        let fields: Vec<_> = out.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["rtcp_sdes_cname", "rtcp_sdes_tool"]);
        assert!(out.iter().all(|f| f.kind == Kind::RtcpIdentity));
        out.clear();
        // No SDES (e.g. SR only), or SRTCP: nothing.
        scan_rtcp(&RtcpInfo::default(), &mut out);
        let enc = RtcpInfo {
            sdes_items: sdes::CNAME,
            encrypted: true,
            srtcp: true,
            ..RtcpInfo::default()
        };
        scan_rtcp(&enc, &mut out);
        assert!(out.is_empty());
        // Real bytes: RR + SDES CNAME through the media classifier.
        let pkt = [
            0x80, 201, 0, 1, 0, 0, 0, 1, // RR, no blocks, SSRC 1
            0x81, 202, 0, 3, 0, 0, 0, 1, // SDES SC=1, SSRC 1
            1, 3, b'a', b'@', b'b', 0, 0, 0, // CNAME "a@b", end, pad
        ];
        let info = crate::media::classify::rtcp(&pkt).unwrap();
        scan_rtcp(&info, &mut out);
        assert_eq!(
            out,
            vec![Finding::new(Kind::RtcpIdentity, Field::RtcpSdesCname)]
        );
    }
}

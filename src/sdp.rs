//! SDP (RFC 8866, formerly RFC 4566) as carried in SIP bodies: what each media
//! section announces (where, which RTP profile, which keying), reduced to a
//! small owned summary, and the lines the exposure catalogue points at.
//!
//! Invariants: parsing never panics and never allocates more than the bounds
//! below (`MAX_*`); items beyond a bound are counted in [`Sdp::ignored`], not
//! kept. Keys are never kept: for `a=crypto` only the tag, the suite and the
//! fact that an `inline:` key was present survive (RFC 4568 §9.1); the key
//! bytes are skipped without being copied, and the [`Notable::InlineKey`]
//! line stops before them. The borrowed fields are the `o=` tokens and the
//! [`Sdp::notable`] lines, which the exposure check reads (as evidence that
//! points into the message) before the body is dropped.
//!
//! One pass over the lines serves both readers: the media table (endpoints,
//! declared protection) and the exposure checks ([`Sdp::notable`]), so a
//! message's SDP is parsed once. Finding the SDP in a (multipart) body is
//! [`crate::sip::body`]'s.
//!
//! This module does no I/O, logging or metrics, and imports nothing from the
//! crate, so it can live under `sip` or at the top level.

use std::net::IpAddr;

/// Media sections kept per SDP (`m=` lines beyond are ignored and counted).
pub const MAX_MEDIA: usize = 16;
/// `a=candidate` addresses kept per SDP (all are counted).
pub const MAX_CANDIDATES: usize = 32;
/// `a=crypto` lines kept per SDP.
pub const MAX_CRYPTO: usize = 32;
/// Payload types kept per `m=` line.
pub const MAX_FORMATS: usize = 32;
/// `a=rtpmap` entries kept per `m=` line.
pub const MAX_RTPMAP: usize = 16;
/// Distinct `a=ssrc` ids kept per `m=` line.
pub const MAX_SSRC: usize = 16;
/// Lines read per SDP; a longer body is parsed up to here.
pub const MAX_LINES: usize = 2048;
/// [`Notable::Address`] lines kept per SDP (the first line of each distinct
/// token); the other sorts are kept once each.
pub const MAX_NOTABLE: usize = 64;

crate::label_enum! {
    /// Why a body is not SDP at all. Anything less severe is tolerated.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SdpError {
        /// No non-blank line.
        Empty = "empty",
        /// The first line is not `v=` (RFC 8866 §5: `v=` comes first).
        MissingVersion = "missing_version",
        /// `v=` other than 0.
        BadVersion = "bad_version",
    }
}

impl std::fmt::Display for SdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for SdpError {}

/// `<nettype>` of `o=`/`c=` (RFC 8866 §5.2, §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetType {
    In,
    Other,
}

/// `<addrtype>` of `o=`/`c=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrType {
    Ip4,
    Ip6,
    Other,
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 8866 §5.2). Borrowed: the exposure check reads `username` (`-` means
/// none) and classifies `ip`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    pub username: &'a [u8],
    pub session_id: &'a [u8],
    pub net_type: NetType,
    pub addr_type: AddrType,
    pub address: &'a [u8],
    /// `address` when it is a literal IP address (it may be an FQDN).
    pub ip: Option<IpAddr>,
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7). A
/// multicast `/ttl/count` suffix is dropped; an FQDN gives `ip: None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub net_type: NetType,
    pub addr_type: AddrType,
    pub ip: Option<IpAddr>,
}

crate::label_enum! {
    /// `m=` media type.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum MediaType {
        Audio = "audio",
        Video = "video",
        Text = "text",
        Application = "application",
        Message = "message",
        Image = "image",
        Other = "other",
    }
}

crate::label_enum! {
    /// `m=` transport protocol (RFC 3551, RFC 4585, RFC 3711, RFC 5124, RFC 5764).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Profile {
        RtpAvp = "rtp_avp",
        RtpAvpf = "rtp_avpf",
        RtpSavp = "rtp_savp",
        RtpSavpf = "rtp_savpf",
        UdpTlsRtpSavp = "udp_tls_rtp_savp",
        UdpTlsRtpSavpf = "udp_tls_rtp_savpf",
        /// Not RTP (udptl T.38, DTLS/SCTP data channels, TCP/MSRP...) or unknown.
        Other = "other",
    }
}

impl Profile {
    pub fn parse(s: &[u8]) -> Profile {
        // Proto tokens are case-insensitive in practice (RFC 8866 §5.14 says
        // case-sensitive, but "rtp/avp" is seen in the wild).
        const TABLE: [(&[u8], Profile); 6] = [
            (b"RTP/AVP", Profile::RtpAvp),
            (b"RTP/AVPF", Profile::RtpAvpf),
            (b"RTP/SAVP", Profile::RtpSavp),
            (b"RTP/SAVPF", Profile::RtpSavpf),
            (b"UDP/TLS/RTP/SAVP", Profile::UdpTlsRtpSavp),
            (b"UDP/TLS/RTP/SAVPF", Profile::UdpTlsRtpSavpf),
        ];
        TABLE
            .iter()
            .find(|(name, _)| s.eq_ignore_ascii_case(name))
            .map_or(Profile::Other, |&(_, p)| p)
    }

    pub fn is_rtp(&self) -> bool {
        !matches!(self, Profile::Other)
    }

    /// SRTP profiles (RFC 3711 §12, RFC 5124, RFC 5764 §8).
    pub fn is_secure(&self) -> bool {
        matches!(
            self,
            Profile::RtpSavp | Profile::RtpSavpf | Profile::UdpTlsRtpSavp | Profile::UdpTlsRtpSavpf
        )
    }
}

crate::label_enum! {
    /// `a=crypto` suite (RFC 4568 §6.2, RFC 6188, RFC 7714).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum CryptoSuite {
        AesCm128HmacSha1_80 = "aes_cm_128_hmac_sha1_80",
        AesCm128HmacSha1_32 = "aes_cm_128_hmac_sha1_32",
        AesCm192HmacSha1_80 = "aes_192_cm_hmac_sha1_80",
        AesCm192HmacSha1_32 = "aes_192_cm_hmac_sha1_32",
        AesCm256HmacSha1_80 = "aes_256_cm_hmac_sha1_80",
        AesCm256HmacSha1_32 = "aes_256_cm_hmac_sha1_32",
        F8_128HmacSha1_80 = "f8_128_hmac_sha1_80",
        AeadAes128Gcm = "aead_aes_128_gcm",
        AeadAes256Gcm = "aead_aes_256_gcm",
        /// RFC 4568 §6.2.3 (and RFC 3711 §4.1): SRTP without encryption.
        NullHmacSha1_80 = "null_hmac_sha1_80",
        NullHmacSha1_32 = "null_hmac_sha1_32",
        Other = "other",
    }
}

impl CryptoSuite {
    pub fn parse(s: &[u8]) -> CryptoSuite {
        const TABLE: [(&[u8], CryptoSuite); 11] = [
            (b"AES_CM_128_HMAC_SHA1_80", CryptoSuite::AesCm128HmacSha1_80),
            (b"AES_CM_128_HMAC_SHA1_32", CryptoSuite::AesCm128HmacSha1_32),
            (b"AES_192_CM_HMAC_SHA1_80", CryptoSuite::AesCm192HmacSha1_80),
            (b"AES_192_CM_HMAC_SHA1_32", CryptoSuite::AesCm192HmacSha1_32),
            (b"AES_256_CM_HMAC_SHA1_80", CryptoSuite::AesCm256HmacSha1_80),
            (b"AES_256_CM_HMAC_SHA1_32", CryptoSuite::AesCm256HmacSha1_32),
            (b"F8_128_HMAC_SHA1_80", CryptoSuite::F8_128HmacSha1_80),
            (b"AEAD_AES_128_GCM", CryptoSuite::AeadAes128Gcm),
            (b"AEAD_AES_256_GCM", CryptoSuite::AeadAes256Gcm),
            (b"NULL_HMAC_SHA1_80", CryptoSuite::NullHmacSha1_80),
            (b"NULL_HMAC_SHA1_32", CryptoSuite::NullHmacSha1_32),
        ];
        TABLE
            .iter()
            .find(|(name, _)| s.eq_ignore_ascii_case(name))
            .map_or(CryptoSuite::Other, |&(_, c)| c)
    }

    /// The suite encrypts nothing (NULL cipher, RFC 3711 §4.1.3).
    pub fn is_null(&self) -> bool {
        matches!(
            self,
            CryptoSuite::NullHmacSha1_80 | CryptoSuite::NullHmacSha1_32
        )
    }

    /// The suite's SRTP authentication tag is 32 bits (RFC 4568 §6.2,
    /// RFC 6188 §7.1): forgeable in 2^31 tries on average.
    pub fn short_tag(&self) -> bool {
        matches!(
            self,
            CryptoSuite::AesCm128HmacSha1_32
                | CryptoSuite::AesCm192HmacSha1_32
                | CryptoSuite::AesCm256HmacSha1_32
                | CryptoSuite::NullHmacSha1_32
        )
    }
}

/// `a=crypto` session parameters that switch protection off (RFC 4568
/// §6.3.2), as bits of [`Crypto::session`].
pub mod session_param {
    /// `UNENCRYPTED_SRTP`: RTP payloads are not encrypted.
    pub const UNENCRYPTED_SRTP: u8 = 1;
    /// `UNENCRYPTED_SRTCP`: RTCP (SDES items included) is not encrypted.
    pub const UNENCRYPTED_SRTCP: u8 = 2;
    /// `UNAUTHENTICATED_SRTP`: RTP packets carry no authentication tag.
    pub const UNAUTHENTICATED_SRTP: u8 = 4;
}

/// One `a=crypto:<tag> <suite> <key-params>` line, without the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: CryptoSuite,
    /// An `inline:` key method is present, i.e. the master key travels in
    /// this SDP (RFC 4568 §6.1): exposed if the SIP transport is cleartext.
    pub inline_key: bool,
    /// [`session_param`] bits given after the key parameters.
    pub session: u8,
}

impl Crypto {
    /// SRTP payloads stay in the clear: a NULL suite or `UNENCRYPTED_SRTP`.
    pub fn encrypts_nothing(&self) -> bool {
        self.suite.is_null() || self.session & session_param::UNENCRYPTED_SRTP != 0
    }
}

/// One `a=crypto` line as sent, for the exposure checks: the parsed line
/// and two borrowed parts that never include the key (RFC 4568 §9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoLine<'a> {
    pub crypto: Crypto,
    /// `a=crypto:<tag> <suite>`: the line cut after the suite.
    pub head: &'a [u8],
    /// The session parameters after the key parameters (may be empty).
    pub params: &'a [u8],
}

/// `a=extmap` URI of the RFC 6464 client-to-mixer audio level.
pub const AUDIO_LEVEL_URI: &[u8] = b"urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// `a=extmap` URI of RFC 6904 encrypted header extensions (the URI of the
/// encrypted extension follows it).
pub const ENCRYPT_URI: &[u8] = b"urn:ietf:params:rtp-hdrext:encrypt";

/// What one `m=` section tells the media path beyond its protection; 4
/// bytes, kept per endpoint and per stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MediaFacts {
    /// `a=rtpmap:<pt> telephone-event/...` (RFC 4733 §7.1.1).
    pub event_pt: Option<u8>,
    /// RFC 6464 audio-level extension id readable on the wire: announced
    /// by `a=extmap`, neither encrypted (RFC 6904) nor under `a=cryptex`
    /// (RFC 9335); 0 when none.
    pub audio_level_id: u8,
    /// Every SDES `a=crypto` offered for the section encrypts nothing
    /// (NULL suite or `UNENCRYPTED_SRTP`): the stream is cleartext.
    pub null_srtp: bool,
}

/// What the signalling announced for an endpoint: its protection and the
/// facts the media path checks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Announced {
    pub declared: Declared,
    pub facts: MediaFacts,
}

impl From<Declared> for Announced {
    fn from(declared: Declared) -> Announced {
        Announced {
            declared,
            facts: MediaFacts::default(),
        }
    }
}

crate::label_enum! {
    /// `a=fingerprint` hash function (RFC 8122 §5); the fingerprint itself is
    /// not kept.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum HashFunc {
        Sha1 = "sha-1",
        Sha224 = "sha-224",
        Sha256 = "sha-256",
        Sha384 = "sha-384",
        Sha512 = "sha-512",
        Md5 = "md5",
        Md2 = "md2",
        Other = "other",
    }
}

impl HashFunc {
    pub fn parse(s: &[u8]) -> HashFunc {
        const TABLE: [(&[u8], HashFunc); 7] = [
            (b"sha-1", HashFunc::Sha1),
            (b"sha-224", HashFunc::Sha224),
            (b"sha-256", HashFunc::Sha256),
            (b"sha-384", HashFunc::Sha384),
            (b"sha-512", HashFunc::Sha512),
            (b"md5", HashFunc::Md5),
            (b"md2", HashFunc::Md2),
        ];
        TABLE
            .iter()
            .find(|(name, _)| s.eq_ignore_ascii_case(name))
            .map_or(HashFunc::Other, |&(_, h)| h)
    }
}

/// `a=setup` (RFC 4145 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    Active,
    Passive,
    Actpass,
    Holdconn,
    Other,
}

/// Media direction attribute (RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpAttr {
    pub port: u16,
    pub ip: Option<IpAddr>,
}

/// One SSRC announced by `a=ssrc:<id> <attr>[:<value>]` (RFC 5576 §4.1);
/// several lines for one id are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrcAttr {
    pub ssrc: u32,
    /// A `cname:` attribute was given: the RTCP CNAME (often user@host) is
    /// visible in the signalling (exposure `rtcp_identity`).
    pub has_cname: bool,
}

/// Encoding names from `a=rtpmap` that matter to classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Pcmu,
    Pcma,
    G722,
    G729,
    Opus,
    TelephoneEvent,
    Other,
}

impl Encoding {
    fn parse(s: &[u8]) -> Encoding {
        const TABLE: [(&[u8], Encoding); 6] = [
            (b"PCMU", Encoding::Pcmu),
            (b"PCMA", Encoding::Pcma),
            (b"G722", Encoding::G722),
            (b"G729", Encoding::G729),
            (b"opus", Encoding::Opus),
            (b"telephone-event", Encoding::TelephoneEvent),
        ];
        TABLE
            .iter()
            .find(|(name, _)| s.eq_ignore_ascii_case(name))
            .map_or(Encoding::Other, |&(_, e)| e)
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<params>]` (RFC 8866 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    pub encoding: Encoding,
    pub clock_rate: u32,
}

/// Attributes that may appear at session or media level; the media level
/// wins where both are given (RFC 8866 §5: session-level attributes are
/// defaults for all media).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    pub crypto: Vec<Crypto>,
    pub fingerprint: Option<HashFunc>,
    pub setup: Option<Setup>,
    pub zrtp_hash: bool,
    pub direction: Option<Direction>,
    pub ice_ufrag: bool,
    /// `a=extmap` id of the RFC 6464 audio level (0: none).
    pub audio_level_id: u8,
    /// That extension is sent encrypted (RFC 6904 `encrypt` URI).
    pub audio_level_encrypted: bool,
    /// `a=cryptex` (RFC 9335): header extensions are encrypted.
    pub cryptex: bool,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDesc {
    pub media: MediaType,
    /// 0 disables the stream (RFC 3264 §5.1); an unparsable port is 0 too.
    pub port: u16,
    /// The `/<number of ports>` suffix, 1 when absent.
    pub port_count: u16,
    pub profile: Profile,
    /// RTP payload types (formats that are not numbers 0..=127 are counted
    /// in `other_formats`).
    pub payload_types: Vec<u8>,
    pub other_formats: u16,
    pub connection: Option<Connection>,
    pub attrs: Attributes,
    pub rtcp: Option<RtcpAttr>,
    pub rtcp_mux: bool,
    pub ssrc: Vec<SsrcAttr>,
    pub rtpmap: Vec<RtpMap>,
    /// Number of `a=candidate` lines in this section (RFC 8839 §5.1).
    pub candidates: u16,
    /// UDP candidates with a literal address (at most [`MAX_CANDIDATES`]
    /// per SDP): with ICE, media flows to these rather than to `c=`.
    pub ice: Vec<IceCandidate>,
}

/// One `a=candidate` transport address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IceCandidate {
    /// 1 = RTP, 2 = RTCP (RFC 8839 §5.1, RFC 8445 §5.1.1.1).
    pub component: u8,
    pub ip: IpAddr,
    pub port: u16,
}

crate::label_enum! {
    /// What the signalling says about the protection of one RTP stream.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Declared {
        /// RTP/AVP(F) without `a=crypto`, `a=fingerprint` or `a=zrtp-hash`.
        Cleartext = "cleartext",
        /// SRTP keyed by SDES `a=crypto` (RFC 4568), also "best effort" AVP
        /// with `a=crypto`.
        SrtpSdes = "srtp_sdes",
        /// SRTP keyed by DTLS (RFC 5763/5764): UDP/TLS/RTP/SAVP(F) or a
        /// fingerprint.
        SrtpDtls = "srtp_dtls",
        /// ZRTP announced by `a=zrtp-hash` (RFC 6189 §8).
        Zrtp = "zrtp",
        /// An SRTP profile without any keying attribute seen (MIKEY, or a
        /// keying carried elsewhere).
        SrtpUnknownKeying = "srtp_unknown_keying",
    }
}

impl Declared {
    /// Declared as encrypted in any way.
    pub fn is_encrypted(&self) -> bool {
        !matches!(self, Declared::Cleartext)
    }
}

/// The addresses one RTP `m=` section announces for receiving media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaEndpoint {
    /// Index of the `m=` section.
    pub index: usize,
    pub media: MediaType,
    pub rtp_ip: IpAddr,
    pub rtp_port: u16,
    pub rtcp_ip: IpAddr,
    pub rtcp_port: u16,
    pub declared: Declared,
    /// Clock rate of the first payload type when known (static table or
    /// `a=rtpmap`), for jitter.
    pub clock_rate: Option<u32>,
    /// DTMF payload type, audio level id, NULL SDES.
    pub facts: MediaFacts,
}

/// Where an address token sits in an SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrAt {
    /// `o=` `<unicast-address>` (RFC 8866 §5.2).
    Origin,
    /// `c=` `<connection-address>` (RFC 8866 §5.7).
    Connection,
    /// `a=candidate` `<connection-address>` or `raddr` (RFC 8839 §5.1).
    Candidate,
}

/// A line the exposure catalogue may point at, borrowed from the body so a
/// finding's evidence is the line as sent (CR cut; the findings store
/// redacts it). Kept in body order, whatever section the line is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notable<'a> {
    /// The first `o=` whose `<username>` is not `-` (RFC 8866 §5.2: `-`
    /// when the host has no user ids).
    Username { line: &'a [u8] },
    /// An address token as written, `/ttl` cut, not yet known to be an IP
    /// literal (the reader judges it); the first line of each distinct
    /// (`at`, token).
    Address {
        at: AddrAt,
        token: &'a [u8],
        line: &'a [u8],
    },
    /// The first `a=crypto` with `inline:` in its value; `line` stops right
    /// after that word, so the key is never handed on (RFC 4568 §9.1).
    InlineKey { line: &'a [u8] },
    /// The first `a=ssrc:<id> ... cname:` (RFC 5576 §6.1): the RTCP CNAME is
    /// readable in the signalling.
    SsrcCname { line: &'a [u8] },
    /// The first non-empty `e=`, `p=`, `u=` or `i=` line of each sort (RFC
    /// 8866 §5.4-§5.6): contact details and free text about the session.
    Contact { at: ContactAt, line: &'a [u8] },
}

/// Which SDP contact or description line a [`Notable::Contact`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactAt {
    /// `e=` (RFC 8866 §5.6).
    Email,
    /// `p=` (RFC 8866 §5.6).
    Phone,
    /// `u=` (RFC 8866 §5.5).
    Uri,
    /// `i=` (RFC 8866 §5.4), session or media title.
    Info,
}

/// Appends `n` unless a line of its sort (for addresses: of its place and
/// token) is already kept; beyond [`MAX_NOTABLE`] it is counted in `ignored`.
fn note<'a>(notable: &mut Vec<Notable<'a>>, ignored: &mut u32, n: Notable<'a>) {
    let same = |k: &Notable<'a>| match (k, &n) {
        (
            Notable::Address { at, token, .. },
            Notable::Address {
                at: at2, token: t2, ..
            },
        ) => at == at2 && token == t2,
        (Notable::Contact { at, .. }, Notable::Contact { at: at2, .. }) => at == at2,
        (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
    };
    if notable.iter().any(same) {
        return;
    }
    // The other sorts are kept once each (per sort) whatever the bound.
    if !matches!(n, Notable::Address { .. }) || notable.len() < MAX_NOTABLE {
        notable.push(n);
    } else {
        *ignored = ignored.saturating_add(1);
    }
}

/// An address token for [`Notable::Address`]: the part before any `/`
/// (multicast `/ttl/count`, RFC 8866 §5.7).
fn note_addr<'a>(
    notable: &mut Vec<Notable<'a>>,
    ignored: &mut u32,
    at: AddrAt,
    token: &'a [u8],
    line: &'a [u8],
) {
    let token = token.split(|&b| b == b'/').next().unwrap_or(token);
    note(notable, ignored, Notable::Address { at, token, line });
}

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp<'a> {
    pub origin: Option<Origin<'a>>,
    pub connection: Option<Connection>,
    pub session: Attributes,
    pub media: Vec<MediaDesc>,
    /// `a=candidate` lines over all sections.
    pub candidates: u32,
    /// Candidate connection and related (`raddr`) addresses that are IP
    /// literals, up to [`MAX_CANDIDATES`] distinct ones.
    pub candidate_addrs: Vec<IpAddr>,
    /// Lines the exposure checks point at, in body order (at most
    /// [`MAX_NOTABLE`]).
    pub notable: Vec<Notable<'a>>,
    /// `a=crypto` lines in body order, any section (at most
    /// [`MAX_CRYPTO`]).
    pub crypto_lines: Vec<CryptoLine<'a>>,
    /// Items dropped because a bound was reached (media, crypto, candidate
    /// addresses, formats, ssrc, rtpmap, notable lines, lines).
    pub ignored: u32,
}

/// Parses an SDP body. Lines may end in CRLF or LF; trailing whitespace and
/// unknown or malformed lines are skipped (RFC 8866 §5: "ignore unknown").
pub fn parse_sdp(body: &[u8]) -> Result<Sdp<'_>, SdpError> {
    // (line as sent without its CR: the evidence; line trimmed: parsed).
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(|l| (l.strip_suffix(b"\r").unwrap_or(l), trim_end(l)))
        .filter(|(_, l)| !l.is_empty());
    let (_, first) = lines.next().ok_or(SdpError::Empty)?;
    match first.strip_prefix(b"v=") {
        None => return Err(SdpError::MissingVersion),
        Some(v) if trim(v) != b"0" => return Err(SdpError::BadVersion),
        Some(_) => {}
    }
    let mut sdp = Sdp {
        origin: None,
        connection: None,
        session: Attributes::default(),
        media: Vec::new(),
        candidates: 0,
        candidate_addrs: Vec::new(),
        notable: Vec::new(),
        crypto_lines: Vec::new(),
        ignored: 0,
    };
    // Which section attributes go to: session, the last m=, or nowhere when
    // the m= was over the bound.
    let mut in_media = false;
    let mut media_dropped = false;
    let mut crypto_total = 0usize;
    let mut ice_total = 0usize;
    for (n, (raw, line)) in lines.enumerate() {
        if n >= MAX_LINES {
            sdp.ignored = sdp.ignored.saturating_add(1);
            break;
        }
        let (kind, value) = match line {
            [k, b'=', rest @ ..] => (*k, rest),
            _ => continue,
        };
        let (notable, ignored) = (&mut sdp.notable, &mut sdp.ignored);
        match kind {
            // Every o= is looked at for the exposure checks (any section);
            // the session-level one is the origin.
            b'o' => {
                let origin = parse_origin(value);
                let user = origin.map(|o| o.username).or_else(|| tokens(value).next());
                if user.is_some_and(|u| u != b"-") {
                    note(notable, ignored, Notable::Username { line: raw });
                }
                if let Some(o) = origin {
                    note_addr(notable, ignored, AddrAt::Origin, o.address, raw);
                    if !in_media {
                        sdp.origin = Some(o);
                    }
                }
            }
            b'c' => {
                let c = parse_connection(value).map(|(c, addr)| {
                    note_addr(notable, ignored, AddrAt::Connection, addr, raw);
                    c
                });
                if !in_media {
                    sdp.connection = c;
                } else if let (Some(m), false) = (sdp.media.last_mut(), media_dropped) {
                    m.connection = c;
                }
            }
            b'm' => {
                in_media = true;
                if sdp.media.len() < MAX_MEDIA {
                    media_dropped = false;
                    let m = parse_media(value, &mut sdp.ignored);
                    sdp.media.push(m);
                } else {
                    media_dropped = true;
                    sdp.ignored = sdp.ignored.saturating_add(1);
                }
            }
            // `-` is what tools write for "nothing" (as for `o=` users).
            b'e' | b'p' | b'u' | b'i' if !matches!(trim(value), b"" | b"-") => {
                let at = match kind {
                    b'e' => ContactAt::Email,
                    b'p' => ContactAt::Phone,
                    b'u' => ContactAt::Uri,
                    _ => ContactAt::Info,
                };
                note(notable, ignored, Notable::Contact { at, line: raw });
            }
            b'a' => {
                let (name, val) = match value.iter().position(|&b| b == b':') {
                    Some(i) => (&value[..i], Some(&value[i + 1..])),
                    None => (value, None),
                };
                if name.eq_ignore_ascii_case(b"candidate") {
                    // Counted even in a dropped section: the addresses are
                    // exposure, whatever section they belong to.
                    sdp.candidates = sdp.candidates.saturating_add(1);
                    if let Some(m) = sdp.media.last_mut().filter(|_| in_media && !media_dropped) {
                        m.candidates = m.candidates.saturating_add(1);
                        if let Some(c) = val.and_then(parse_candidate) {
                            if ice_total < MAX_CANDIDATES {
                                ice_total += 1;
                                m.ice.push(c);
                            } else {
                                sdp.ignored = sdp.ignored.saturating_add(1);
                            }
                        }
                    }
                    if let Some(v) = val {
                        candidate_addrs(v, raw, &mut sdp);
                    }
                    continue;
                }
                if let Some(v) = val {
                    // Noted in any section, dropped ones included.
                    note_attr(notable, ignored, name, v, line.len() - v.len(), raw);
                    if name.eq_ignore_ascii_case(b"crypto") {
                        crypto_line(&mut sdp.crypto_lines, v, line);
                    }
                }
                if in_media && media_dropped {
                    continue;
                }
                let target = if in_media { sdp.media.last_mut() } else { None };
                match target {
                    Some(m) => media_attr(m, name, val, &mut crypto_total, &mut sdp.ignored),
                    None => {
                        common_attr(
                            &mut sdp.session,
                            name,
                            val,
                            &mut crypto_total,
                            &mut sdp.ignored,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Ok(sdp)
}

/// `a=crypto` with an inline key and `a=ssrc` with a CNAME, for
/// [`Sdp::notable`]; `at` is where `value` starts in `raw`.
fn note_attr<'a>(
    notable: &mut Vec<Notable<'a>>,
    ignored: &mut u32,
    name: &[u8],
    value: &[u8],
    at: usize,
    raw: &'a [u8],
) {
    if name.eq_ignore_ascii_case(b"crypto") {
        // RFC 4568 §9.1: the key rides in `inline:`; the line is cut right
        // after that word.
        if let Some(i) = find_ci(value, b"inline:") {
            if let Some(line) = raw.get(..at + i + b"inline:".len()) {
                note(notable, ignored, Notable::InlineKey { line });
            }
        }
    } else if name.eq_ignore_ascii_case(b"ssrc") && find_ci(value, b" cname:").is_some() {
        note(notable, ignored, Notable::SsrcCname { line: raw });
    }
}

fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

impl Sdp<'_> {
    /// The RTP endpoints announced by each enabled RTP `m=` section with a
    /// literal, specified connection address, and what they declare.
    /// RTCP goes to port+1 (RFC 3550 §11) unless `a=rtcp-mux` (RFC 5761:
    /// same port) or `a=rtcp:` (RFC 3605) says otherwise.
    pub fn media_endpoints(&self) -> impl Iterator<Item = MediaEndpoint> + '_ {
        self.media.iter().enumerate().filter_map(move |(index, m)| {
            if !m.profile.is_rtp() || m.port == 0 {
                return None;
            }
            let ip = m.connection.or(self.connection)?.ip?;
            // 0.0.0.0 / :: is "hold" (RFC 3264 §8.4), not an endpoint.
            if ip.is_unspecified() {
                return None;
            }
            let (rtcp_ip, rtcp_port) = if m.rtcp_mux {
                (ip, m.port)
            } else if let Some(r) = m.rtcp {
                (r.ip.unwrap_or(ip), r.port)
            } else {
                (ip, m.port.wrapping_add(1))
            };
            let clock_rate = m.payload_types.first().and_then(|&pt| m.clock_rate(pt));
            Some(MediaEndpoint {
                index,
                media: m.media,
                rtp_ip: ip,
                rtp_port: m.port,
                rtcp_ip,
                rtcp_port,
                declared: self.declared(m),
                clock_rate,
                facts: self.facts(m),
            })
        })
    }

    /// The UDP transport addresses of ICE candidates (RFC 8839), with what
    /// their `m=` section declares: with ICE the media flows to these, and
    /// `c=` often holds a placeholder. Component 1 is RTP, 2 RTCP.
    pub fn candidate_endpoints(&self) -> impl Iterator<Item = (IceCandidate, Declared)> + '_ {
        self.candidate_announced().map(|(c, a)| (c, a.declared))
    }

    /// [`Self::candidate_endpoints`] with the media facts of each section.
    pub fn candidate_announced(&self) -> impl Iterator<Item = (IceCandidate, Announced)> + '_ {
        self.media
            .iter()
            .filter(|m| m.profile.is_rtp() && m.port != 0)
            .flat_map(move |m| {
                let a = Announced {
                    declared: self.declared(m),
                    facts: self.facts(m),
                };
                m.ice.iter().map(move |c| (*c, a))
            })
    }

    /// The protection `m` declares, with session-level attributes as
    /// defaults.
    pub fn declared(&self, m: &MediaDesc) -> Declared {
        let crypto = !m.attrs.crypto.is_empty() || !self.session.crypto.is_empty();
        let fingerprint = m.attrs.fingerprint.is_some() || self.session.fingerprint.is_some();
        let zrtp = m.attrs.zrtp_hash || self.session.zrtp_hash;
        match m.profile {
            Profile::UdpTlsRtpSavp | Profile::UdpTlsRtpSavpf => Declared::SrtpDtls,
            _ if crypto => Declared::SrtpSdes,
            _ if fingerprint => Declared::SrtpDtls,
            _ if zrtp => Declared::Zrtp,
            Profile::RtpSavp | Profile::RtpSavpf => Declared::SrtpUnknownKeying,
            _ => Declared::Cleartext,
        }
    }

    /// The media-path facts of `m` (session-level attributes as defaults).
    pub fn facts(&self, m: &MediaDesc) -> MediaFacts {
        let event_pt = m
            .rtpmap
            .iter()
            .find(|r| r.encoding == Encoding::TelephoneEvent)
            .map(|r| r.pt);
        let (a, s) = (&m.attrs, &self.session);
        let (id, encrypted) = if a.audio_level_id != 0 {
            (a.audio_level_id, a.audio_level_encrypted)
        } else {
            (s.audio_level_id, s.audio_level_encrypted)
        };
        let readable = id != 0 && !encrypted && !a.cryptex && !s.cryptex;
        let crypto = if m.attrs.crypto.is_empty() {
            &self.session.crypto
        } else {
            &m.attrs.crypto
        };
        MediaFacts {
            event_pt,
            audio_level_id: if readable { id } else { 0 },
            null_srtp: !crypto.is_empty()
                && crypto.iter().all(Crypto::encrypts_nothing)
                && self.declared(m) == Declared::SrtpSdes,
        }
    }

    /// Effective direction of `m`: media level, else session level, else
    /// sendrecv (RFC 8866 §6.7).
    pub fn direction(&self, m: &MediaDesc) -> Direction {
        m.attrs
            .direction
            .or(self.session.direction)
            .unwrap_or(Direction::SendRecv)
    }

    /// Any `a=crypto` line carries an inline key.
    pub fn has_inline_key(&self) -> bool {
        self.session.crypto.iter().any(|c| c.inline_key)
            || self
                .media
                .iter()
                .flat_map(|m| &m.attrs.crypto)
                .any(|c| c.inline_key)
    }
}

impl MediaDesc {
    /// Direction given at media level, if any; see [`Sdp::direction`] for
    /// the effective one.
    pub fn direction(&self) -> Option<Direction> {
        self.attrs.direction
    }

    /// Clock rate of `pt`: `a=rtpmap`, else the RFC 3551 static table.
    pub fn clock_rate(&self, pt: u8) -> Option<u32> {
        self.rtpmap
            .iter()
            .find(|r| r.pt == pt)
            .map(|r| r.clock_rate)
            .filter(|&c| c > 0)
            .or_else(|| static_clock_rate(pt))
    }
}

/// RFC 3551 §6 Tables 4 and 5: clock rates of the static payload types.
/// G.722 (9) uses 8000 although it samples at 16 kHz (RFC 3551 §4.5.2).
pub fn static_clock_rate(pt: u8) -> Option<u32> {
    match pt {
        0 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 13 | 15 | 18 => Some(8000),
        6 => Some(16000),
        10 | 11 => Some(44100),
        16 => Some(11025),
        17 => Some(22050),
        14 | 25 | 26 | 28 | 31 | 32 | 33 | 34 => Some(90000),
        _ => None,
    }
}

fn parse_origin(v: &[u8]) -> Option<Origin<'_>> {
    let mut t = tokens(v);
    let username = t.next()?;
    let session_id = t.next()?;
    let _version = t.next()?;
    let net_type = net_type(t.next()?);
    let addr_type = addr_type(t.next()?);
    let address = t.next()?;
    Some(Origin {
        username,
        session_id,
        net_type,
        addr_type,
        address,
        ip: parse_ip(address),
    })
}

/// The connection and its address token as written (before any `/`).
fn parse_connection(v: &[u8]) -> Option<(Connection, &[u8])> {
    let mut t = tokens(v);
    let net_type = net_type(t.next()?);
    let addr_type = addr_type(t.next()?);
    let addr = t.next()?;
    // Multicast "224.2.1.1/127/3" (RFC 8866 §5.7): the address is before '/'.
    let addr = addr.split(|&b| b == b'/').next().unwrap_or(addr);
    let c = Connection {
        net_type,
        addr_type,
        ip: parse_ip(addr),
    };
    Some((c, addr))
}

fn parse_media(v: &[u8], ignored: &mut u32) -> MediaDesc {
    let mut t = tokens(v);
    let media = match t.next().unwrap_or_default() {
        m if m.eq_ignore_ascii_case(b"audio") => MediaType::Audio,
        m if m.eq_ignore_ascii_case(b"video") => MediaType::Video,
        m if m.eq_ignore_ascii_case(b"text") => MediaType::Text,
        m if m.eq_ignore_ascii_case(b"application") => MediaType::Application,
        m if m.eq_ignore_ascii_case(b"message") => MediaType::Message,
        m if m.eq_ignore_ascii_case(b"image") => MediaType::Image,
        _ => MediaType::Other,
    };
    let (port, port_count) = match t.next() {
        Some(p) => {
            let mut pp = p.splitn(2, |&b| b == b'/');
            let port = pp.next().and_then(parse_num::<u16>).unwrap_or(0);
            let count = pp.next().map_or(Some(1), parse_num::<u16>).unwrap_or(1);
            (port, count)
        }
        None => (0, 1),
    };
    let profile = t.next().map_or(Profile::Other, Profile::parse);
    let mut payload_types = Vec::new();
    let mut other_formats = 0u16;
    for f in t {
        match parse_num::<u8>(f).filter(|&pt| pt <= 127) {
            Some(pt) if profile.is_rtp() => {
                if payload_types.len() < MAX_FORMATS {
                    payload_types.push(pt);
                } else {
                    *ignored = ignored.saturating_add(1);
                }
            }
            _ => other_formats = other_formats.saturating_add(1),
        }
    }
    MediaDesc {
        media,
        port,
        port_count,
        profile,
        payload_types,
        other_formats,
        connection: None,
        attrs: Attributes::default(),
        rtcp: None,
        rtcp_mux: false,
        ssrc: Vec::new(),
        rtpmap: Vec::new(),
        candidates: 0,
        ice: Vec::new(),
    }
}

/// Attributes valid at both levels.
fn common_attr(
    a: &mut Attributes,
    name: &[u8],
    val: Option<&[u8]>,
    crypto_total: &mut usize,
    ignored: &mut u32,
) {
    let val = val.unwrap_or_default();
    if name.eq_ignore_ascii_case(b"crypto") {
        if let Some(c) = parse_crypto(val) {
            if *crypto_total < MAX_CRYPTO {
                *crypto_total += 1;
                a.crypto.push(c);
            } else {
                *ignored = ignored.saturating_add(1);
            }
        }
    } else if name.eq_ignore_ascii_case(b"fingerprint") {
        if let Some(h) = tokens(val).next() {
            a.fingerprint = Some(HashFunc::parse(h));
        }
    } else if name.eq_ignore_ascii_case(b"setup") {
        let s = trim(val);
        a.setup = Some(match s {
            _ if s.eq_ignore_ascii_case(b"active") => Setup::Active,
            _ if s.eq_ignore_ascii_case(b"passive") => Setup::Passive,
            _ if s.eq_ignore_ascii_case(b"actpass") => Setup::Actpass,
            _ if s.eq_ignore_ascii_case(b"holdconn") => Setup::Holdconn,
            _ => Setup::Other,
        });
    } else if name.eq_ignore_ascii_case(b"zrtp-hash") {
        a.zrtp_hash = true;
    } else if name.eq_ignore_ascii_case(b"ice-ufrag") {
        a.ice_ufrag = true;
    } else if name.eq_ignore_ascii_case(b"cryptex") {
        a.cryptex = true;
    } else if name.eq_ignore_ascii_case(b"extmap") {
        extmap(a, val);
    } else if name.eq_ignore_ascii_case(b"sendrecv") {
        a.direction = Some(Direction::SendRecv);
    } else if name.eq_ignore_ascii_case(b"sendonly") {
        a.direction = Some(Direction::SendOnly);
    } else if name.eq_ignore_ascii_case(b"recvonly") {
        a.direction = Some(Direction::RecvOnly);
    } else if name.eq_ignore_ascii_case(b"inactive") {
        a.direction = Some(Direction::Inactive);
    }
}

fn media_attr(
    m: &mut MediaDesc,
    name: &[u8],
    val: Option<&[u8]>,
    crypto_total: &mut usize,
    ignored: &mut u32,
) {
    let v = val.unwrap_or_default();
    if name.eq_ignore_ascii_case(b"rtcp") {
        let mut t = tokens(v);
        if let Some(port) = t.next().and_then(parse_num::<u16>) {
            // Optional "IN IP4 <addr>" after the port.
            let ip = t.nth(2).and_then(parse_ip);
            m.rtcp = Some(RtcpAttr { port, ip });
        }
    } else if name.eq_ignore_ascii_case(b"rtcp-mux") {
        m.rtcp_mux = true;
    } else if name.eq_ignore_ascii_case(b"ssrc") {
        let mut t = tokens(v);
        let Some(ssrc) = t.next().and_then(parse_num::<u32>) else {
            return;
        };
        let cname = t
            .next()
            .map(|a| a.split(|&b| b == b':').next().unwrap_or(a))
            .is_some_and(|a| a.eq_ignore_ascii_case(b"cname"));
        if let Some(s) = m.ssrc.iter_mut().find(|s| s.ssrc == ssrc) {
            s.has_cname |= cname;
        } else if m.ssrc.len() < MAX_SSRC {
            m.ssrc.push(SsrcAttr {
                ssrc,
                has_cname: cname,
            });
        } else {
            *ignored = ignored.saturating_add(1);
        }
    } else if name.eq_ignore_ascii_case(b"rtpmap") {
        let mut t = tokens(v);
        let (Some(pt), Some(enc)) = (t.next().and_then(parse_num::<u8>), t.next()) else {
            return;
        };
        let mut parts = enc.split(|&b| b == b'/');
        let encoding = Encoding::parse(parts.next().unwrap_or_default());
        let clock_rate = parts.next().and_then(parse_num::<u32>).unwrap_or(0);
        if m.rtpmap.len() < MAX_RTPMAP {
            m.rtpmap.push(RtpMap {
                pt,
                encoding,
                clock_rate,
            });
        } else {
            *ignored = ignored.saturating_add(1);
        }
    } else {
        common_attr(&mut m.attrs, name, val, crypto_total, ignored);
    }
}

/// `<tag> <crypto-suite> <key-params> [<session-params>]` (RFC 4568 §9.1).
/// key-params is `inline:<key||salt>[|lifetime][|MKI:len]`, possibly several
/// joined by ';'. Only the method name is looked at.
fn parse_crypto(v: &[u8]) -> Option<Crypto> {
    let mut t = tokens(v);
    let tag = t.next().and_then(parse_num::<u32>)?;
    let suite = CryptoSuite::parse(t.next()?);
    let inline_key = t.next().is_some_and(|kp| {
        kp.split(|&b| b == b';')
            .any(|k| k.len() > 7 && k[..7].eq_ignore_ascii_case(b"inline:"))
    });
    let session = t.fold(0, |bits, p| bits | session_bit(p));
    Some(Crypto {
        tag,
        suite,
        inline_key,
        session,
    })
}

fn session_bit(p: &[u8]) -> u8 {
    use session_param::*;
    const TABLE: [(&[u8], u8); 3] = [
        (b"UNENCRYPTED_SRTP", UNENCRYPTED_SRTP),
        (b"UNENCRYPTED_SRTCP", UNENCRYPTED_SRTCP),
        (b"UNAUTHENTICATED_SRTP", UNAUTHENTICATED_SRTP),
    ];
    TABLE
        .iter()
        .find(|(name, _)| p.eq_ignore_ascii_case(name))
        .map_or(0, |&(_, bit)| bit)
}

/// Keeps an `a=crypto` line (value `v` of `line`) for the exposure checks,
/// up to [`MAX_CRYPTO`]: `head` ends after the suite, `params` starts
/// after the key parameters, so neither holds the key.
fn crypto_line<'a>(out: &mut Vec<CryptoLine<'a>>, v: &'a [u8], line: &'a [u8]) {
    let Some(crypto) = parse_crypto(v) else {
        return;
    };
    if out.len() >= MAX_CRYPTO {
        return;
    }
    // Token boundaries within `v`: tag, suite, key-params, session params.
    let mut ends = [0usize; 3];
    let mut i = 0;
    for end in ends.iter_mut() {
        while v.get(i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            i += 1;
        }
        while v.get(i).is_some_and(|b| *b != b' ' && *b != b'\t') {
            i += 1;
        }
        *end = i;
    }
    let at = line.len() - v.len();
    let head = line.get(..at + ends[1]).unwrap_or_default();
    let params = trim(v.get(ends[2]..).unwrap_or_default());
    out.push(CryptoLine {
        crypto,
        head,
        params,
    });
}

/// `a=extmap:<id>[/<direction>] <URI> [<attributes>]` (RFC 8285 §8): the
/// id of the RFC 6464 audio level, and whether RFC 6904 encrypts it.
fn extmap(a: &mut Attributes, val: &[u8]) {
    let mut t = tokens(val);
    let Some(id) = t
        .next()
        .and_then(|i| i.split(|&b| b == b'/').next())
        .and_then(parse_num::<u8>)
        .filter(|&id| id != 0)
    else {
        return;
    };
    let (uri, next) = (t.next().unwrap_or_default(), t.next());
    if uri.eq_ignore_ascii_case(AUDIO_LEVEL_URI) {
        a.audio_level_id = id;
        a.audio_level_encrypted = false;
    } else if uri.eq_ignore_ascii_case(ENCRYPT_URI)
        && next.is_some_and(|u| u.eq_ignore_ascii_case(AUDIO_LEVEL_URI))
    {
        a.audio_level_id = id;
        a.audio_level_encrypted = true;
    }
}

/// The UDP transport address of a candidate line (TCP candidates are
/// skipped: the media table keys UDP flows).
fn parse_candidate(v: &[u8]) -> Option<IceCandidate> {
    let mut t = tokens(v);
    let _foundation = t.next()?;
    let component = parse_num::<u8>(t.next()?)?;
    if !t.next()?.eq_ignore_ascii_case(b"udp") {
        return None;
    }
    let _priority = t.next()?;
    let ip = parse_ip(t.next()?)?;
    let port = parse_num::<u16>(t.next()?)?;
    Some(IceCandidate {
        component,
        ip,
        port,
    })
}

/// `candidate:<foundation> <component> <transport> <priority> <address>
/// <port> typ <type> [raddr <addr> rport <port>] ...` (RFC 8839 §5.1): the
/// literal addresses into [`Sdp::candidate_addrs`], and the address tokens
/// into [`Sdp::notable`] (`<address>`, and the token after the first `raddr`
/// among the first 16), in one pass over the tokens.
fn candidate_addrs<'a>(v: &'a [u8], raw: &'a [u8], sdp: &mut Sdp<'a>) {
    let (out, ignored, notable) = (&mut sdp.candidate_addrs, &mut sdp.ignored, &mut sdp.notable);
    let mut push = |ip: IpAddr, ignored: &mut u32| {
        if out.contains(&ip) {
            return;
        }
        if out.len() < MAX_CANDIDATES {
            out.push(ip);
        } else {
            *ignored = ignored.saturating_add(1);
        }
    };
    let mut first_raddr: Option<usize> = None;
    let mut raddr_value_next = false;
    for (i, tok) in tokens(v).enumerate() {
        let is_raddr = tok.eq_ignore_ascii_case(b"raddr");
        if i < 16 {
            if i == 4 || first_raddr.is_some_and(|r| r + 1 == i) {
                note_addr(notable, ignored, AddrAt::Candidate, tok, raw);
            }
            if is_raddr && first_raddr.is_none() {
                first_raddr = Some(i);
            }
        }
        // An mDNS name (RFC 8839 §5.1 allows FQDNs) is not an address:
        // skipped.
        if i == 4 {
            if let Some(ip) = parse_ip(tok) {
                push(ip, ignored);
            }
        } else if i > 4 {
            if raddr_value_next {
                raddr_value_next = false;
                if let Some(ip) = parse_ip(tok) {
                    push(ip, ignored);
                }
            } else if is_raddr {
                raddr_value_next = true;
            }
        }
    }
}

fn net_type(t: &[u8]) -> NetType {
    if t.eq_ignore_ascii_case(b"IN") {
        NetType::In
    } else {
        NetType::Other
    }
}

fn addr_type(t: &[u8]) -> AddrType {
    if t.eq_ignore_ascii_case(b"IP4") {
        AddrType::Ip4
    } else if t.eq_ignore_ascii_case(b"IP6") {
        AddrType::Ip6
    } else {
        AddrType::Other
    }
}

fn parse_ip(t: &[u8]) -> Option<IpAddr> {
    // The longest textual IPv6 address with an embedded IPv4 is 45 bytes;
    // this bound keeps garbage from reaching the std parser.
    if t.len() > 45 {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

fn parse_num<T: std::str::FromStr>(t: &[u8]) -> Option<T> {
    if t.is_empty() || t.len() > 10 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

fn tokens(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b' ' || b == b'\t')
        .filter(|t| !t.is_empty())
}

fn trim_end(l: &[u8]) -> &[u8] {
    let end = l
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &l[..end]
}

fn trim(l: &[u8]) -> &[u8] {
    let start = l
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(l.len());
    trim_end(&l[start..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const OFFER: &[u8] = b"v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 192.168.1.10\r\n\
s=-\r\n\
c=IN IP4 192.168.1.10\r\n\
t=0 0\r\n\
m=audio 49170 RTP/SAVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4\r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj|2^20|1:32\r\n\
a=ssrc:3735928559 cname:alice@example.com\r\n\
a=ssrc:3735928559 msid:foo bar\r\n\
a=sendrecv\r\n\
m=video 51372 RTP/AVP 99\r\n\
c=IN IP4 10.0.0.5\r\n\
a=rtpmap:99 H264/90000\r\n\
a=rtcp:53020 IN IP4 10.0.0.6\r\n\
a=recvonly\r\n";

    #[test]
    fn offer_with_sdes() {
        let s = parse_sdp(OFFER).unwrap();
        let o = s.origin.unwrap();
        assert_eq!(o.username, b"alice");
        assert_eq!(o.session_id, b"2890844526");
        assert_eq!((o.net_type, o.addr_type), (NetType::In, AddrType::Ip4));
        assert_eq!(o.ip, Some(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10))));
        assert_eq!(s.media.len(), 2);
        let a = &s.media[0];
        assert_eq!(
            (a.media, a.port, a.port_count),
            (MediaType::Audio, 49170, 1)
        );
        assert_eq!(a.profile, Profile::RtpSavp);
        assert_eq!(a.payload_types, [0, 8, 101]);
        assert_eq!(a.attrs.crypto.len(), 2);
        assert_eq!(a.attrs.crypto[0].tag, 1);
        assert_eq!(a.attrs.crypto[1].suite, CryptoSuite::AesCm128HmacSha1_32);
        assert!(a.attrs.crypto.iter().all(|c| c.inline_key));
        assert_eq!(
            a.ssrc,
            [SsrcAttr {
                ssrc: 0xdead_beef,
                has_cname: true
            }]
        );
        assert_eq!(a.direction(), Some(Direction::SendRecv));
        assert_eq!(a.clock_rate(101), Some(8000));
        let v = &s.media[1];
        assert_eq!(
            v.connection.unwrap().ip,
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)))
        );
        assert_eq!(v.direction(), Some(Direction::RecvOnly));
        assert_eq!(s.direction(v), Direction::RecvOnly);
        assert_eq!(v.clock_rate(99), Some(90000));
        assert!(s.has_inline_key());

        let eps: Vec<_> = s.media_endpoints().collect();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].declared, Declared::SrtpSdes);
        assert_eq!((eps[0].rtp_port, eps[0].rtcp_port), (49170, 49171));
        assert_eq!(eps[0].rtp_ip, IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)));
        assert_eq!(eps[0].clock_rate, Some(8000));
        assert_eq!(eps[1].declared, Declared::Cleartext);
        assert_eq!(eps[1].rtcp_ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 6)));
        assert_eq!(eps[1].rtcp_port, 53020);
    }

    #[test]
    fn notable_lines_in_order_once_each() {
        let body = b"v=0\r\n\
o=alice 1 1 IN IP4 10.0.0.1/8 \r\n\
c=IN IP4 203.0.113.1\r\n\
a=ssrc:1 cname:x\r\n\
m=audio 4000 RTP/SAVP 0\r\n\
c=IN IP4 203.0.113.1\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEYKEY|2^20\r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:OTHER\r\n\
a=candidate:1 1 UDP 1 192.0.2.7 9 typ srflx raddr 10.0.0.2 rport 9\r\n\
o=bob 2 2 IN IP4 fd00::1\n";
        let s = parse_sdp(body).unwrap();
        let addr =
            |at, token: &'static [u8], line: &'static [u8]| Notable::Address { at, token, line };
        let o1: &[u8] = b"o=alice 1 1 IN IP4 10.0.0.1/8 ";
        let cand: &[u8] = b"a=candidate:1 1 UDP 1 192.0.2.7 9 typ srflx raddr 10.0.0.2 rport 9";
        assert_eq!(
            s.notable,
            [
                Notable::Username { line: o1 },
                addr(AddrAt::Origin, b"10.0.0.1", o1),
                addr(AddrAt::Connection, b"203.0.113.1", b"c=IN IP4 203.0.113.1"),
                Notable::SsrcCname {
                    line: b"a=ssrc:1 cname:x"
                },
                Notable::InlineKey {
                    line: b"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
                },
                addr(AddrAt::Candidate, b"192.0.2.7", cand),
                addr(AddrAt::Candidate, b"10.0.0.2", cand),
                addr(AddrAt::Origin, b"fd00::1", b"o=bob 2 2 IN IP4 fd00::1"),
            ]
        );
        // Only the session-level o= is the origin.
        assert_eq!(s.origin.unwrap().username, b"alice");
        // Many distinct addresses: bounded, counted, and the other sorts
        // still kept.
        let mut many = String::from("v=0\r\n");
        for i in 0..100 {
            many.push_str(&format!("c=IN IP4 192.0.2.{i}\r\n"));
        }
        many.push_str("a=crypto:1 X inline:K\r\n");
        let s = parse_sdp(many.as_bytes()).unwrap();
        assert_eq!(s.notable.len(), MAX_NOTABLE + 1);
        assert!(matches!(s.notable.last(), Some(Notable::InlineKey { .. })));
        assert_eq!(s.ignored, (100 - MAX_NOTABLE) as u32);
    }

    #[test]
    fn contact_lines_once_per_sort() {
        let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\ni=Board call\r\n\
u=http://example.com/x\r\ne=alice@example.com (Alice)\r\ne=bob@example.com\r\n\
p=+1 555 0100\r\nm=audio 4000 RTP/AVP 0\r\ni=-\r\ni=second\r\n";
        let s = parse_sdp(body).unwrap();
        let c = |at, line: &'static [u8]| Notable::Contact { at, line };
        let contacts: Vec<_> = s
            .notable
            .iter()
            .copied()
            .filter(|n| matches!(n, Notable::Contact { .. }))
            .collect();
        assert_eq!(
            contacts,
            [
                c(ContactAt::Info, b"i=Board call"),
                c(ContactAt::Uri, b"u=http://example.com/x"),
                c(ContactAt::Email, b"e=alice@example.com (Alice)"),
                c(ContactAt::Phone, b"p=+1 555 0100"),
            ]
        );
        // Empty or `-` lines say nothing.
        let s = parse_sdp(b"v=0\r\ne=\r\np=-\r\nu= \r\ni=-\r\nm=audio 1 RTP/AVP 0\r\n").unwrap();
        assert!(s.notable.is_empty(), "{:?}", s.notable);
    }

    #[test]
    fn keys_never_kept() {
        let s = parse_sdp(OFFER).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("PS1uQCVee"), "{dbg}");
        assert!(!dbg.contains("NzB4d1BI") && !dbg.contains("2^20"));
        // Nor in the lines kept for the exposure checks.
        for n in &s.notable {
            let line = match *n {
                Notable::Username { line }
                | Notable::Address { line, .. }
                | Notable::InlineKey { line }
                | Notable::SsrcCname { line }
                | Notable::Contact { line, .. } => line,
            };
            assert!(!line
                .windows(9)
                .any(|w| w == b"PS1uQCVee" || w == b"NzB4d1BIN"));
        }
    }

    #[test]
    fn webrtc_dtls_lf_only_and_candidates() {
        // LF line ends, trailing blanks, unknown lines, IPv6, ICE.
        let body = b"v=0 \n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\n\
s=-\n\
t=0 0\n\
a=group:BUNDLE 0\n\
a=fingerprint:sha-256 19:E2:1C:3B:4B:9F:81:E6:B8:5C:F4:A5:A8:D8:73:04\n\
x-unknown line\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\n\
c=IN IP6 2001:db8::1\n\
a=rtcp:9 IN IP4 0.0.0.0\n\
a=candidate:1 1 udp 2122260223 192.168.0.3 54321 typ host generation 0\n\
a=candidate:2 1 udp 1686052607 203.0.113.7 54321 typ srflx raddr 192.168.0.3 rport 54321\n\
a=candidate:3 1 udp 2122260223 5d2b4c7e-1111.local 5000 typ host\n\
a=candidate:4 1 tcp 1518280447 fd00::7 9 typ host tcptype active\n\
a=ice-ufrag:abcd\n\
a=setup:actpass\n\
a=rtcp-mux\n\
a=rtpmap:111 opus/48000/2\n\
a=zrtp-hash:1.10 deadbeef   \n";
        let s = parse_sdp(body).unwrap();
        assert_eq!(s.origin.unwrap().username, b"-");
        assert_eq!(s.session.fingerprint, Some(HashFunc::Sha256));
        let m = &s.media[0];
        assert_eq!(m.profile, Profile::UdpTlsRtpSavpf);
        assert_eq!(m.attrs.setup, Some(Setup::Actpass));
        assert!(m.attrs.zrtp_hash && m.rtcp_mux && m.attrs.ice_ufrag);
        assert_eq!(m.candidates, 4);
        assert_eq!(s.candidates, 4);
        assert_eq!(
            s.candidate_addrs,
            [
                IpAddr::V4(Ipv4Addr::new(192, 168, 0, 3)),
                IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
                IpAddr::V6("fd00::7".parse::<Ipv6Addr>().unwrap()),
            ]
        );
        assert_eq!(m.clock_rate(111), Some(48000));
        // UDP candidates with literal addresses (not the .local or TCP one).
        let ice: Vec<_> = s.candidate_endpoints().collect();
        assert_eq!(ice.len(), 2);
        assert_eq!(ice[1].0.ip, IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)));
        assert_eq!((ice[1].0.port, ice[1].0.component), (54321, 1));
        assert_eq!(ice[1].1, Declared::SrtpDtls);
        let ep = s.media_endpoints().next().unwrap();
        assert_eq!(ep.declared, Declared::SrtpDtls);
        // rtcp-mux wins over a=rtcp.
        assert_eq!((ep.rtp_port, ep.rtcp_port), (9, 9));
        assert_eq!(ep.rtp_ip, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn declared_variants() {
        let mk = |m: &str| format!("v=0\r\nc=IN IP4 198.51.100.1\r\n{m}");
        let cases: [(&str, Option<Declared>); 7] = [
            ("m=audio 4000 RTP/AVP 0\r\n", Some(Declared::Cleartext)),
            ("m=audio 4000 RTP/AVPF 0\r\n", Some(Declared::Cleartext)),
            (
                "m=audio 4000 RTP/SAVP 0\r\n",
                Some(Declared::SrtpUnknownKeying),
            ),
            (
                "m=audio 4000 RTP/SAVPF 0\r\na=fingerprint:SHA-1 AA\r\n",
                Some(Declared::SrtpDtls),
            ),
            (
                "m=audio 4000 RTP/AVP 0\r\na=zrtp-hash:1.10 ab\r\n",
                Some(Declared::Zrtp),
            ),
            ("m=image 4000 udptl t38\r\n", None),
            ("m=audio 0 RTP/AVP 0\r\n", None),
        ];
        for (m, want) in cases {
            let body = mk(m);
            let s = parse_sdp(body.as_bytes()).unwrap();
            assert_eq!(s.media_endpoints().next().map(|e| e.declared), want, "{m}");
        }
        // Hold address is no endpoint.
        let s = parse_sdp(b"v=0\nc=IN IP4 0.0.0.0\nm=audio 4000 RTP/AVP 0\n").unwrap();
        assert_eq!(s.media_endpoints().count(), 0);
    }

    #[test]
    fn errors_and_oddities() {
        assert_eq!(parse_sdp(b"").unwrap_err(), SdpError::Empty);
        assert_eq!(parse_sdp(b"\r\n \r\n").unwrap_err(), SdpError::Empty);
        assert_eq!(parse_sdp(b"o=x\r\n").unwrap_err(), SdpError::MissingVersion);
        assert_eq!(parse_sdp(b"v=1\r\n").unwrap_err(), SdpError::BadVersion);
        assert_eq!(SdpError::BadVersion.as_str(), "bad_version");
        // Malformed m= still opens a section (port 0) so its attributes do
        // not leak into the previous one.
        let s = parse_sdp(b"v=0\nm=audio x RTP/AVP\na=rtcp-mux\nm=\nc=IN IP4 224.2.1.1/127/3\n")
            .unwrap();
        assert_eq!(s.media.len(), 2);
        assert_eq!(s.media[0].port, 0);
        assert!(s.media[0].rtcp_mux);
        assert_eq!(
            s.media[1].connection.unwrap().ip,
            Some(IpAddr::V4(Ipv4Addr::new(224, 2, 1, 1)))
        );
        // Port count.
        let s = parse_sdp(b"v=0\nm=video 49170/2 RTP/AVP 31\n").unwrap();
        assert_eq!((s.media[0].port, s.media[0].port_count), (49170, 2));
        // crypto without inline key (another key method).
        let s =
            parse_sdp(b"v=0\nm=audio 1 RTP/SAVP 0\na=crypto:1 AES_CM_128_HMAC_SHA1_80 mikey:abc\n")
                .unwrap();
        assert!(!s.media[0].attrs.crypto[0].inline_key);
        assert!(!s.has_inline_key());
    }

    #[test]
    fn bounds() {
        let mut body = String::from("v=0\r\nc=IN IP4 10.1.1.1\r\n");
        for i in 0..40 {
            body.push_str(&format!("m=audio {} RTP/AVP 0\r\n", 1000 + 2 * i));
            body.push_str(&format!(
                "a=candidate:{i} 1 udp 1 10.0.{i}.1 9 typ host\r\na=crypto:{i} AES_CM_128_HMAC_SHA1_80 inline:x\r\n"
            ));
        }
        let s = parse_sdp(body.as_bytes()).unwrap();
        assert_eq!(s.media.len(), MAX_MEDIA);
        assert_eq!(s.candidates, 40);
        assert_eq!(s.candidate_addrs.len(), MAX_CANDIDATES);
        let crypto: usize = s.media.iter().map(|m| m.attrs.crypto.len()).sum();
        assert_eq!(crypto, MAX_MEDIA);
        // 24 m=, 8 candidate addresses, 24 crypto lines in dropped sections
        // are not even counted as crypto (the section is gone).
        assert_eq!(s.ignored, 24 + 8);
    }

    #[test]
    fn random_bytes_never_panic() {
        // Alphabet biased towards SDP syntax so the parser goes deep.
        const ALPHA: &[u8] = b"v=0 \r\n\r\nmcoa:/;-\"IN IP4 IP6 RTP/SAVP 127.0.0.1 ::1 crypto candidate raddr rtcp ssrc rtpmap --b boundary=b Content-Type: multipart/mixed application/sdp 0123456789";
        crate::testkit::random::for_random_inputs(ALPHA, 20_000, 300, |buf, coin| {
            if coin % 2 == 0 {
                buf.splice(0..0, b"v=0\n".iter().copied());
            }
            if let Ok(s) = parse_sdp(buf) {
                let _ = s.media_endpoints().count();
            }
        });
    }

    #[test]
    fn media_facts_extmap_cryptex_and_events() {
        let body = "v=0\r\nc=IN IP4 192.0.2.1\r\n\
            m=audio 4000 UDP/TLS/RTP/SAVPF 111 101\r\n\
            a=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/48000\r\n\
            a=extmap:3/sendrecv urn:ietf:params:rtp-hdrext:ssrc-audio-level vad=on\r\n\
            m=audio 4002 RTP/AVP 0\r\n\
            a=extmap:4 urn:ietf:params:rtp-hdrext:encrypt urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
            m=audio 4004 RTP/SAVP 0\r\na=cryptex\r\n\
            a=extmap:5 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n\
            a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:S0VZ UNENCRYPTED_SRTCP\r\n";
        let s = parse_sdp(body.as_bytes()).unwrap();
        let f: Vec<_> = s.media.iter().map(|m| s.facts(m)).collect();
        assert_eq!(f[0].event_pt, Some(101));
        assert_eq!(f[0].audio_level_id, 3);
        assert!(!f[0].null_srtp);
        // RFC 6904: encrypted; RFC 9335: cryptex; both hide the level.
        assert_eq!((f[1].event_pt, f[1].audio_level_id), (None, 0));
        assert_eq!(f[2].audio_level_id, 0);
        // UNENCRYPTED_SRTCP leaves the RTP payload encrypted.
        assert!(!f[2].null_srtp);
        assert_eq!(
            s.media[2].attrs.crypto[0].session,
            session_param::UNENCRYPTED_SRTCP
        );
        let e: Vec<_> = s.media_endpoints().map(|e| e.facts).collect();
        assert_eq!(e, f);
        // The kept line never holds the key.
        assert_eq!(s.crypto_lines.len(), 1);
        assert_eq!(
            s.crypto_lines[0].head,
            b"a=crypto:1 AES_CM_128_HMAC_SHA1_80"
        );
        assert_eq!(s.crypto_lines[0].params, b"UNENCRYPTED_SRTCP");
        // Bad ids are ignored.
        let bad = "v=0\r\nm=audio 1 RTP/AVP 0\r\na=extmap:0 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:x urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:\r\n";
        let s = parse_sdp(bad.as_bytes()).unwrap();
        assert_eq!(s.media[0].attrs.audio_level_id, 0);
    }
}

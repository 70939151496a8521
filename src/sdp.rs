//! SDP (RFC 8866, formerly RFC 4566) as carried in SIP bodies: what each media
//! section announces (where, which RTP profile, which keying), reduced to a
//! small owned summary.
//!
//! Invariants: parsing never panics and never allocates more than the bounds
//! below (`MAX_*`); items beyond a bound are counted in [`Sdp::ignored`], not
//! kept. Keys are never kept: for `a=crypto` only the tag, the suite and the
//! fact that an `inline:` key was present survive (RFC 4568 §9.1); the key
//! bytes are skipped without being copied. The only borrowed fields are the
//! `o=` tokens, which the exposure check reads before the body is dropped.
//!
//! Multipart bodies (RFC 2046 §5.1, `multipart/mixed` and `/alternative`,
//! RFC 5621 for SIP) are walked with a bounded nesting depth and part count
//! by [`for_each_part`]; [`sdp_from_body`] returns the first `application/sdp`.
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
/// Multipart nesting depth followed (a body inside a part inside a part).
pub const MAX_MULTIPART_DEPTH: usize = 3;
/// Body parts visited per SIP body, over all nesting levels.
pub const MAX_PARTS: usize = 16;

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
        Other = "other",
    }
}

impl CryptoSuite {
    pub fn parse(s: &[u8]) -> CryptoSuite {
        const TABLE: [(&[u8], CryptoSuite); 9] = [
            (b"AES_CM_128_HMAC_SHA1_80", CryptoSuite::AesCm128HmacSha1_80),
            (b"AES_CM_128_HMAC_SHA1_32", CryptoSuite::AesCm128HmacSha1_32),
            (b"AES_192_CM_HMAC_SHA1_80", CryptoSuite::AesCm192HmacSha1_80),
            (b"AES_192_CM_HMAC_SHA1_32", CryptoSuite::AesCm192HmacSha1_32),
            (b"AES_256_CM_HMAC_SHA1_80", CryptoSuite::AesCm256HmacSha1_80),
            (b"AES_256_CM_HMAC_SHA1_32", CryptoSuite::AesCm256HmacSha1_32),
            (b"F8_128_HMAC_SHA1_80", CryptoSuite::F8_128HmacSha1_80),
            (b"AEAD_AES_128_GCM", CryptoSuite::AeadAes128Gcm),
            (b"AEAD_AES_256_GCM", CryptoSuite::AeadAes256Gcm),
        ];
        TABLE
            .iter()
            .find(|(name, _)| s.eq_ignore_ascii_case(name))
            .map_or(CryptoSuite::Other, |&(_, c)| c)
    }
}

/// One `a=crypto:<tag> <suite> <key-params>` line, without the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: CryptoSuite,
    /// An `inline:` key method is present, i.e. the master key travels in
    /// this SDP (RFC 4568 §6.1): exposed if the SIP transport is cleartext.
    pub inline_key: bool,
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
    /// Items dropped because a bound was reached (media, crypto, candidate
    /// addresses, formats, ssrc, rtpmap, lines).
    pub ignored: u32,
}

/// Parses an SDP body. Lines may end in CRLF or LF; trailing whitespace and
/// unknown or malformed lines are skipped (RFC 8866 §5: "ignore unknown").
pub fn parse_sdp(body: &[u8]) -> Result<Sdp<'_>, SdpError> {
    let mut lines = body
        .split(|&b| b == b'\n')
        .map(trim_end)
        .filter(|l| !l.is_empty());
    let first = lines.next().ok_or(SdpError::Empty)?;
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
        ignored: 0,
    };
    // Which section attributes go to: session, the last m=, or nowhere when
    // the m= was over the bound.
    let mut in_media = false;
    let mut media_dropped = false;
    let mut crypto_total = 0usize;
    let mut ice_total = 0usize;
    for (n, line) in lines.enumerate() {
        if n >= MAX_LINES {
            sdp.ignored = sdp.ignored.saturating_add(1);
            break;
        }
        let (kind, value) = match line {
            [k, b'=', rest @ ..] => (*k, rest),
            _ => continue,
        };
        match kind {
            b'o' if !in_media => sdp.origin = parse_origin(value),
            b'c' => {
                let c = parse_connection(value);
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
                        candidate_addrs(v, &mut sdp.candidate_addrs, &mut sdp.ignored);
                    }
                    continue;
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
            })
        })
    }

    /// The UDP transport addresses of ICE candidates (RFC 8839), with what
    /// their `m=` section declares: with ICE the media flows to these, and
    /// `c=` often holds a placeholder. Component 1 is RTP, 2 RTCP.
    pub fn candidate_endpoints(&self) -> impl Iterator<Item = (IceCandidate, Declared)> + '_ {
        self.media
            .iter()
            .filter(|m| m.profile.is_rtp() && m.port != 0)
            .flat_map(move |m| {
                let d = self.declared(m);
                m.ice.iter().map(move |c| (*c, d))
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

fn parse_connection(v: &[u8]) -> Option<Connection> {
    let mut t = tokens(v);
    let net_type = net_type(t.next()?);
    let addr_type = addr_type(t.next()?);
    let addr = t.next()?;
    // Multicast "224.2.1.1/127/3" (RFC 8866 §5.7): the address is before '/'.
    let addr = addr.split(|&b| b == b'/').next().unwrap_or(addr);
    Some(Connection {
        net_type,
        addr_type,
        ip: parse_ip(addr),
    })
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
    Some(Crypto {
        tag,
        suite,
        inline_key,
    })
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
/// <port> typ <type> [raddr <addr> rport <port>] ...` (RFC 8839 §5.1).
fn candidate_addrs(v: &[u8], out: &mut Vec<IpAddr>, ignored: &mut u32) {
    let mut push = |ip: IpAddr| {
        if out.contains(&ip) {
            return;
        }
        if out.len() < MAX_CANDIDATES {
            out.push(ip);
        } else {
            *ignored = ignored.saturating_add(1);
        }
    };
    let mut t = tokens(v);
    // An mDNS name (RFC 8839 §5.1 allows FQDNs) is not an address: skipped.
    if let Some(ip) = t.nth(4).and_then(parse_ip) {
        push(ip);
    }
    while let Some(tok) = t.next() {
        if tok.eq_ignore_ascii_case(b"raddr") {
            if let Some(ip) = t.next().and_then(parse_ip) {
                push(ip);
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

// ---------------------------------------------------------------------------
// Bodies: Content-Type and multipart (RFC 2045 §5.1, RFC 2046 §5.1.1)

/// The `type/subtype` of a Content-Type value, lowercase comparison left to
/// the caller; parameters are after the first ';'.
fn media_type(content_type: &[u8]) -> &[u8] {
    let end = content_type
        .iter()
        .position(|&b| b == b';')
        .unwrap_or(content_type.len());
    trim(&content_type[..end])
}

/// Whether a Content-Type value is `application/sdp` (parameters ignored).
pub fn is_sdp_type(content_type: &[u8]) -> bool {
    media_type(content_type).eq_ignore_ascii_case(b"application/sdp")
}

/// The `boundary` parameter of a `multipart/*` Content-Type, unquoted.
pub fn multipart_boundary(content_type: &[u8]) -> Option<&[u8]> {
    let mt = media_type(content_type);
    if mt.len() < 10 || !mt[..10].eq_ignore_ascii_case(b"multipart/") {
        return None;
    }
    for param in content_type.split(|&b| b == b';').skip(1) {
        let Some(eq) = param.iter().position(|&b| b == b'=') else {
            continue;
        };
        if !trim(&param[..eq]).eq_ignore_ascii_case(b"boundary") {
            continue;
        }
        let v = trim(&param[eq + 1..]);
        let v = match v {
            [b'"', inner @ .., b'"'] => inner,
            _ => v,
        };
        // RFC 2046 §5.1.1: 1 to 70 characters.
        return (!v.is_empty() && v.len() <= 70).then_some(v);
    }
    None
}

/// Calls `visit(content_type, body)` for every leaf part of `body`
/// (the body itself when it is not multipart), descending into nested
/// multiparts up to [`MAX_MULTIPART_DEPTH`] and visiting at most
/// [`MAX_PARTS`] leaves. A part without Content-Type gets an empty one
/// (RFC 2046 §5.1 would say text/plain; SIP UAs that omit it usually mean
/// SDP, which the caller may sniff). Returns the number of leaves visited.
pub fn for_each_part<'a>(
    content_type: &'a [u8],
    body: &'a [u8],
    visit: &mut dyn FnMut(&'a [u8], &'a [u8]),
) -> usize {
    let mut budget = MAX_PARTS;
    // Depth first, parts in order, with an explicit stack of the open
    // multiparts (at most MAX_MULTIPART_DEPTH): no recursion, whatever
    // the nesting a message claims.
    let mut open: Vec<(Parts<'a>, usize)> = Vec::new();
    let mut next = Some((content_type, body, 0usize));
    while budget > 0 {
        if let Some((ct, part, depth)) = next.take() {
            match multipart_boundary(ct) {
                None => {
                    budget -= 1;
                    visit(ct, part);
                    continue;
                }
                Some(boundary) if depth < MAX_MULTIPART_DEPTH => {
                    open.push((Parts::new(part, boundary), depth));
                }
                // Deeper nesting is not walked.
                Some(_) => {}
            }
        }
        let Some((parts, depth)) = open.last_mut() else {
            break;
        };
        match parts.next() {
            Some(part) => {
                let (headers, part_body) = split_headers(part);
                let part_ct = header_value(headers, b"content-type").unwrap_or_default();
                next = Some((part_ct, part_body, *depth + 1));
            }
            None => {
                open.pop();
            }
        }
    }
    MAX_PARTS - budget
}

/// Iterates over the parts between `--boundary` delimiter lines. A
/// delimiter is `--boundary` at the start of a line (after CRLF or LF, or at
/// the start of the body); the CRLF before it belongs to the delimiter
/// (RFC 2046 §5.1.1), so it is not part of the previous part.
struct Parts<'a> {
    rest: &'a [u8],
    boundary: &'a [u8],
    started: bool,
}

impl<'a> Parts<'a> {
    fn new(body: &'a [u8], boundary: &'a [u8]) -> Self {
        Parts {
            rest: body,
            boundary,
            started: false,
        }
    }

    /// Finds the next delimiter line in `rest`: returns (bytes before the
    /// line break preceding it, bytes after the `--boundary`).
    fn next_delimiter(&self) -> Option<(&'a [u8], &'a [u8])> {
        let rest = self.rest;
        let b = self.boundary;
        let mut i = 0;
        while i + 2 + b.len() <= rest.len() {
            let at_line_start = i == 0 || rest[i - 1] == b'\n';
            if at_line_start && rest[i..].starts_with(b"--") && rest[i + 2..].starts_with(b) {
                let mut end = i;
                if end > 0 && rest[end - 1] == b'\n' {
                    end -= 1;
                    if end > 0 && rest[end - 1] == b'\r' {
                        end -= 1;
                    }
                }
                return Some((&rest[..end], &rest[i + 2 + b.len()..]));
            }
            // Jump to the next line start.
            match rest[i..].iter().position(|&c| c == b'\n') {
                Some(p) => i += p + 1,
                None => break,
            }
        }
        None
    }
}

impl<'a> Iterator for Parts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if !self.started {
            // Skip the preamble up to the first delimiter.
            let (_, after) = self.next_delimiter()?;
            self.started = true;
            self.rest = after;
        }
        // `rest` is just after a "--boundary": "--" closes, else skip the
        // transport padding and the line break.
        if self.rest.starts_with(b"--") {
            self.rest = &[];
            return None;
        }
        let nl = self.rest.iter().position(|&c| c == b'\n')?;
        self.rest = &self.rest[nl + 1..];
        let (part, after) = match self.next_delimiter() {
            Some(d) => d,
            // Unterminated: the rest is the last part (lax).
            None => (self.rest, &[][..]),
        };
        self.rest = after;
        Some(part)
    }
}

/// Splits a part (or message) into headers and body at the first blank
/// line; without a blank line, it is all headers.
fn split_headers(part: &[u8]) -> (&[u8], &[u8]) {
    // A part starting with a blank line has no headers.
    if part.starts_with(b"\r\n") {
        return (&[], &part[2..]);
    }
    if part.starts_with(b"\n") {
        return (&[], &part[1..]);
    }
    let mut i = 0;
    while let Some(p) = part[i..].iter().position(|&c| c == b'\n') {
        let nl = i + p;
        let next = &part[nl + 1..];
        if next.starts_with(b"\r\n") {
            return (&part[..nl], &next[2..]);
        }
        if next.starts_with(b"\n") {
            return (&part[..nl], &next[1..]);
        }
        i = nl + 1;
    }
    (part, &[])
}

/// Value of the first header `name` (case-insensitive) in a header block,
/// trimmed. Folded continuation lines are not joined (rare in parts).
fn header_value<'a>(headers: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    headers.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        trim(&line[..colon])
            .eq_ignore_ascii_case(name)
            .then(|| trim(&line[colon + 1..]))
    })
}

/// The first SDP in a SIP body: the body itself when `content_type` is
/// `application/sdp`, else the first `application/sdp` part of a multipart
/// body (or a part without Content-Type that starts with `v=0`).
pub fn sdp_from_body<'a>(content_type: &'a [u8], body: &'a [u8]) -> Option<&'a [u8]> {
    let mut found = None;
    for_each_part(content_type, body, &mut |ct, part| {
        if found.is_none() && (is_sdp_type(ct) || (ct.is_empty() && part.starts_with(b"v=0"))) {
            found = Some(part);
        }
    });
    found
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
    fn keys_never_kept() {
        let s = parse_sdp(OFFER).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("PS1uQCVee"), "{dbg}");
        assert!(!dbg.contains("NzB4d1BI") && !dbg.contains("2^20"));
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

    const MULTI: &[u8] = b"preamble\r\n\
--unique-boundary-1\r\n\
Content-Type: application/isup;version=nxv3\r\n\
\r\n\
\x01\x02\x03\r\n\
--unique-boundary-1   \r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
hello\r\n\
--inner\r\n\
content-type: Application/SDP\r\n\
\r\n\
v=0\r\n\
m=audio 5004 RTP/AVP 0\r\n\
--inner--\r\n\
--unique-boundary-1--\r\n\
epilogue";

    #[test]
    fn multipart_nested() {
        let ct = b"multipart/mixed; boundary=\"unique-boundary-1\"";
        assert_eq!(multipart_boundary(ct), Some(&b"unique-boundary-1"[..]));
        let mut seen = Vec::new();
        let n = for_each_part(ct, MULTI, &mut |ct, body| {
            seen.push((ct.to_vec(), body.to_vec()))
        });
        assert_eq!(n, 3);
        assert_eq!(seen[0].0, b"application/isup;version=nxv3");
        assert_eq!(seen[0].1, b"\x01\x02\x03");
        assert_eq!(seen[1].1, b"hello");
        let sdp = sdp_from_body(ct, MULTI).unwrap();
        assert_eq!(sdp, b"v=0\r\nm=audio 5004 RTP/AVP 0");
        assert_eq!(parse_sdp(sdp).unwrap().media[0].port, 5004);
        // Plain body.
        assert_eq!(
            sdp_from_body(b"application/sdp", b"v=0\r\n"),
            Some(&b"v=0\r\n"[..])
        );
        assert_eq!(sdp_from_body(b"text/plain", b"v=0\r\n"), None);
        // LF-only, no content-type in the part, unterminated.
        let body = b"--b\n\nv=0\nm=audio 1 RTP/AVP 0\n";
        assert_eq!(
            sdp_from_body(b"multipart/mixed;boundary=b", body),
            Some(&b"v=0\nm=audio 1 RTP/AVP 0\n"[..])
        );
    }

    #[test]
    fn multipart_depth_bound() {
        // Depth 4 nesting: the innermost SDP is not reached.
        let body = b"--a\r\nContent-Type: multipart/mixed;boundary=b\r\n\r\n\
--b\r\nContent-Type: multipart/mixed;boundary=c\r\n\r\n\
--c\r\nContent-Type: multipart/mixed;boundary=d\r\n\r\n\
--d\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--d--\r\n--c--\r\n--b--\r\n--a--";
        assert_eq!(sdp_from_body(b"multipart/mixed;boundary=a", body), None);
        // Depth 3 is fine.
        let body = b"--b\r\nContent-Type: multipart/mixed;boundary=c\r\n\r\n\
--c\r\nContent-Type: multipart/mixed;boundary=d\r\n\r\n\
--d\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--d--\r\n--c--\r\n--b--";
        assert_eq!(
            sdp_from_body(b"multipart/mixed;boundary=b", body),
            Some(&b"v=0"[..])
        );
        // Part count bound.
        let mut many = Vec::new();
        for _ in 0..100 {
            many.extend_from_slice(b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
        }
        let n = for_each_part(b"multipart/mixed;boundary=x", &many, &mut |_, _| {});
        assert_eq!(n, MAX_PARTS);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Alphabet biased towards SDP syntax so the parser goes deep.
        const ALPHA: &[u8] = b"v=0 \r\n\r\nmcoa:/;-\"IN IP4 IP6 RTP/SAVP 127.0.0.1 ::1 crypto candidate raddr rtcp ssrc rtpmap --b boundary=b Content-Type: multipart/mixed application/sdp 0123456789";
        let mut buf = Vec::new();
        for _ in 0..20_000 {
            buf.clear();
            let len = (next() % 300) as usize;
            let raw = next() % 4 == 0;
            for _ in 0..len {
                let r = next();
                buf.push(if raw {
                    r as u8
                } else {
                    ALPHA[(r as usize) % ALPHA.len()]
                });
            }
            if next() % 2 == 0 {
                buf.splice(0..0, b"v=0\n".iter().copied());
            }
            if let Ok(s) = parse_sdp(&buf) {
                let _ = s.media_endpoints().count();
            }
            let _ = sdp_from_body(b"multipart/mixed;boundary=b", &buf);
            let _ = for_each_part(&buf, &buf, &mut |_, _| {});
        }
    }
}

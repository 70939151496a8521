//! Synthetic SIP/RTP traffic generator for benchmarks: writes a classic pcap
//! file, never sends a packet.
//!
//! ```text
//! cargo run --release --example gen -- --calls 2000 --seconds 5 --seed 1 \
//!     --out /tmp/ss-2000x5.pcap [--mix plain=70,sdes=20,dtls=10] [--vlan] [--ipv6] [--tcp-sip]
//! ```
//!
//! Each call: INVITE with an SDP offer (RTP/AVP, RTP/SAVP + `a=crypto`, or
//! UDP/TLS/RTP/SAVP + `a=fingerprint`/`a=setup:actpass`), 100 Trying, 180
//! Ringing, 200 OK with an SDP answer, ACK; for DTLS calls four DTLS
//! handshake flights on the media ports; then G.711 A-law RTP (PT 8, 160
//! bytes every 20 ms) both ways, RTCP SR + SDES CNAME about every 5 s per
//! direction and a final SR + SDES + BYE; then BYE and 200 OK. Plain calls
//! carry an A-law encoded tone with noise; SRTP calls random bytes plus a
//! 10-byte auth tag, and SRTCP-looking RTCP. With `--tcp-sip` every call has
//! its own TCP connection (handshake, SIP segments with consistent sequence
//! and acknowledgement numbers, FIN exchange).
//!
//! Identities are fake (`user0001`, `+1555010xxxx`, `example.invalid`);
//! addresses come from the documentation ranges (RFC 5737 192.0.2.0/24,
//! 198.51.100.0/24, 203.0.113.0/24; RFC 3849 2001:db8::/32). A quarter of
//! the calls put a private address (10.x, or fd00::/8 with `--ipv6`) in the
//! Via and Contact header *text* to exercise `private_address` exposure.
//!
//! Deterministic by `--seed`: every call has its own PRNG seeded from the
//! seed and its index, so the output does not depend on event order.
//! Memory-bounded: packets are produced in time order by an event queue
//! holding at most five pending events per call, and streamed to the file.

use clap::Parser;
use etherparse::{PacketBuilder, VlanId};
use sipsentinel::testkit::pcap::{PcapWriter, LINKTYPE_ETHERNET};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(about = "Generate a deterministic SIP/RTP capture (classic pcap) for benchmarks")]
struct Args {
    /// Number of calls (all concurrent once started).
    #[arg(long, default_value_t = 100)]
    calls: u32,
    /// Seconds of media per call (fractions allowed).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output pcap file.
    #[arg(long)]
    out: PathBuf,
    /// Call mix in percent by media protection: plain=70,sdes=20,dtls=10.
    #[arg(long, default_value = "plain=70,sdes=20,dtls=10")]
    mix: String,
    /// Tag every frame with 802.1Q VLAN 100.
    #[arg(long)]
    vlan: bool,
    /// IPv6 addresses (2001:db8::/32) instead of IPv4.
    #[arg(long)]
    ipv6: bool,
    /// SIP over TCP (one connection per call) instead of UDP.
    #[arg(long)]
    tcp_sip: bool,
    /// Call start times are spread evenly over this many milliseconds.
    #[arg(long, default_value_t = 1000)]
    stagger_ms: u64,
}

// ---------------------------------------------------------------- PRNG

/// SplitMix64: tiny, fast, good enough for test data.
#[derive(Clone, Copy)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

// ---------------------------------------------------------------- G.711

/// ITU-T G.711 A-law encoding of a 16-bit linear sample (Sun reference).
fn linear_to_alaw(sample: i16) -> u8 {
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    let seg = SEG_END.iter().position(|&e| pcm <= e).unwrap_or(8);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut aval = (seg as i32) << 4;
    aval |= if seg < 2 {
        (pcm >> 1) & 0xF
    } else {
        (pcm >> seg) & 0xF
    };
    (aval as u8) ^ mask
}

/// One second (8000 samples) of A-law tone + noise per frequency, so a
/// call's audio is a table lookup.
fn tone_tables(seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed, u64::MAX);
    [300u32, 400, 440, 500, 600, 700, 800, 1000]
        .iter()
        .map(|&f| {
            (0..8000u32)
                .map(|n| {
                    let t = f64::from(n) / 8000.0;
                    let tone = (2.0 * std::f64::consts::PI * f64::from(f) * t).sin() * 3000.0;
                    let noise = (rng.below(401) as f64) - 200.0;
                    linear_to_alaw((tone + noise) as i16)
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------- text helpers

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

fn fingerprint(rng: &mut Rng) -> String {
    let mut b = [0u8; 32];
    rng.fill(&mut b);
    let mut s = String::with_capacity(95);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02X}");
    }
    s
}

fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

// ---------------------------------------------------------------- model

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Plain,
    Sdes,
    Dtls,
}

impl Kind {
    fn srtp(self) -> bool {
        self != Kind::Plain
    }
}

fn parse_mix(s: &str) -> Result<[u32; 3], String> {
    let mut w = [0u32; 3];
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("--mix: expected NAME=PERCENT, got {part:?}"))?;
        let v: u32 = v
            .trim()
            .parse()
            .map_err(|_| format!("--mix: not a number in {part:?}"))?;
        match k.trim() {
            "plain" => w[0] = v,
            "sdes" => w[1] = v,
            "dtls" => w[2] = v,
            other => return Err(format!("--mix: unknown kind {other:?} (plain, sdes, dtls)")),
        }
    }
    if w.iter().sum::<u32>() == 0 {
        return Err("--mix: all weights are zero".into());
    }
    Ok(w)
}

/// Exact counts per kind (largest remainder), shuffled by the seed.
fn assign_kinds(n: u32, w: [u32; 3], seed: u64) -> Vec<Kind> {
    let total: u64 = w.iter().map(|&x| u64::from(x)).sum();
    let mut counts: Vec<u64> = w
        .iter()
        .map(|&x| u64::from(n) * u64::from(x) / total)
        .collect();
    let mut rem: Vec<(u64, usize)> = w
        .iter()
        .enumerate()
        .map(|(i, &x)| ((u64::from(n) * u64::from(x)) % total, i))
        .collect();
    rem.sort_by(|a, b| b.cmp(a));
    let mut left = u64::from(n) - counts.iter().sum::<u64>();
    for (_, i) in rem {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }
    let mut kinds = Vec::with_capacity(n as usize);
    for (i, k) in [Kind::Plain, Kind::Sdes, Kind::Dtls].iter().enumerate() {
        kinds.extend(std::iter::repeat_n(*k, counts[i] as usize));
    }
    let mut rng = Rng::new(seed, u64::MAX - 1);
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        kinds.swap(i, j);
    }
    kinds
}

/// Signalling actions, in order; offsets in `schedule`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Act {
    Syn,
    SynAck,
    HsAck,
    Invite,
    Trying,
    Ringing,
    OkInvite,
    Ack,
    Dtls(u8),
    Bye,
    OkBye,
    FinA,
    FinB,
    LastAck,
}

const MS: u64 = 1000;
const PTIME_US: u64 = 20 * MS;
/// Media starts this long after the call's first packet.
const MEDIA_START_US: u64 = 200 * MS;
/// The reverse direction is offset so the two interleave.
const REVERSE_OFFSET_US: u64 = 7 * MS;
const RTCP_FIRST_US: u64 = 2500 * MS;
const RTCP_EVERY_US: u64 = 5000 * MS;

/// (offset from call start, action); offsets after media are relative to
/// the media end when `after_media` is set.
fn schedule(kind: Kind, tcp: bool) -> Vec<(u64, bool, Act)> {
    let mut s = Vec::new();
    let base = if tcp {
        s.push((0, false, Act::Syn));
        s.push((500, false, Act::SynAck));
        s.push((1000, false, Act::HsAck));
        1500
    } else {
        0
    };
    s.push((base, false, Act::Invite));
    s.push((base + 2 * MS, false, Act::Trying));
    s.push((base + 40 * MS, false, Act::Ringing));
    s.push((base + 150 * MS, false, Act::OkInvite));
    s.push((base + 155 * MS, false, Act::Ack));
    if kind == Kind::Dtls {
        for i in 0..4u8 {
            s.push((base + 160 * MS + u64::from(i) * 5 * MS, false, Act::Dtls(i)));
        }
    }
    s.push((20 * MS, true, Act::Bye));
    s.push((25 * MS, true, Act::OkBye));
    if tcp {
        s.push((30 * MS, true, Act::FinA));
        s.push((31 * MS, true, Act::FinB));
        s.push((32 * MS, true, Act::LastAck));
    }
    s
}

#[derive(Clone, Copy)]
struct Dir {
    seq: u16,
    ts: u32,
    ssrc: u32,
    sent: u32,
    srtcp_index: u32,
    octets: u32,
}

struct Call {
    idx: u32,
    kind: Kind,
    rng: Rng,
    t0: u64,
    media_start: u64,
    media_end: u64,
    step: u16,
    a_ip: IpAddr,
    b_ip: IpAddr,
    a_sip: u16,
    b_sip: u16,
    a_rtp: u16,
    b_rtp: u16,
    call_id: u64,
    from_tag: u32,
    to_tag: u32,
    tone: u8,
    phase: u16,
    private_text: bool,
    tcp_nxt: [u32; 2],
    dir: [Dir; 2],
}

#[derive(Default)]
struct Totals {
    packets: u64,
    bytes: u64,
    sip: u64,
    rtp: u64,
    rtcp: u64,
    dtls: u64,
    tcp_ctl: u64,
    max_queue: usize,
    last_ts: u64,
}

struct Out {
    w: PcapWriter<BufWriter<File>>,
    frame: Vec<u8>,
    vlan: bool,
    totals: Totals,
}

/// Where a packet goes: `a_to_b` picks the direction; `sip` the SIP or the
/// RTP/RTCP ports.
#[derive(Clone, Copy)]
enum Ports {
    Sip,
    Rtp,
    Rtcp,
}

enum L4 {
    Udp,
    Tcp {
        seq: u32,
        ack: u32,
        syn: bool,
        fin: bool,
        has_ack: bool,
    },
}

impl Out {
    #[allow(clippy::too_many_arguments)]
    fn packet(
        &mut self,
        ts_us: u64,
        call: &Call,
        a_to_b: bool,
        ports: Ports,
        l4: L4,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let (sip, rtp) = ((call.a_sip, call.b_sip), (call.a_rtp, call.b_rtp));
        let (pa, pb) = match ports {
            Ports::Sip => sip,
            Ports::Rtp => rtp,
            Ports::Rtcp => (rtp.0 + 1, rtp.1 + 1),
        };
        let (src, dst, sp, dp) = if a_to_b {
            (call.a_ip, call.b_ip, pa, pb)
        } else {
            (call.b_ip, call.a_ip, pb, pa)
        };
        let i = call.idx.to_be_bytes();
        let mac_a = [0x02, 0x00, 0x5e, i[1], i[2], i[3]];
        let mac_b = [0x02, 0x01, 0x5e, i[1], i[2], i[3]];
        let (smac, dmac) = if a_to_b {
            (mac_a, mac_b)
        } else {
            (mac_b, mac_a)
        };
        self.frame.clear();
        let eth = PacketBuilder::ethernet2(smac, dmac);
        macro_rules! finish {
            ($ip:expr) => {{
                let ip = $ip;
                match l4 {
                    L4::Udp => ip.udp(sp, dp).write(&mut self.frame, payload),
                    L4::Tcp {
                        seq,
                        ack,
                        syn,
                        fin,
                        has_ack,
                    } => {
                        let mut t = ip.tcp(sp, dp, seq, 65535);
                        if has_ack {
                            t = t.ack(ack);
                        }
                        if syn {
                            t = t.syn();
                        }
                        if fin {
                            t = t.fin();
                        }
                        if !payload.is_empty() {
                            t = t.psh();
                        }
                        t.write(&mut self.frame, payload)
                    }
                }
            }};
        }
        let res = match (src, dst, self.vlan) {
            (IpAddr::V4(s), IpAddr::V4(d), false) => finish!(eth.ipv4(s.octets(), d.octets(), 64)),
            (IpAddr::V4(s), IpAddr::V4(d), true) => finish!(eth
                .single_vlan(VlanId::try_new(100).expect("vlan id"))
                .ipv4(s.octets(), d.octets(), 64)),
            (IpAddr::V6(s), IpAddr::V6(d), false) => finish!(eth.ipv6(s.octets(), d.octets(), 64)),
            (IpAddr::V6(s), IpAddr::V6(d), true) => finish!(eth
                .single_vlan(VlanId::try_new(100).expect("vlan id"))
                .ipv6(s.octets(), d.octets(), 64)),
            _ => unreachable!("both ends of a call use one IP version"),
        };
        res.map_err(|e| std::io::Error::other(e.to_string()))?;
        debug_assert!(ts_us >= self.totals.last_ts, "timestamps increase");
        self.totals.last_ts = ts_us;
        let len = self.frame.len() as u32;
        self.w
            .try_write(Duration::from_micros(ts_us), &self.frame)?;
        self.totals.packets += 1;
        self.totals.bytes += 16 + u64::from(len);
        Ok(())
    }
}

// ---------------------------------------------------------------- SIP / SDP text

struct Text<'a> {
    call: &'a Call,
    tcp: bool,
}

impl Text<'_> {
    fn user(&self) -> String {
        format!("user{:04}", self.call.idx + 1)
    }
    fn number(&self) -> String {
        format!("+1555010{:04}", self.call.idx % 10_000)
    }
    fn transport(&self) -> &'static str {
        if self.tcp {
            "TCP"
        } else {
            "UDP"
        }
    }
    fn private_ip(&self) -> String {
        let i = self.call.idx;
        if self.call.a_ip.is_ipv6() {
            format!("[fd00:5151::{:x}]", i + 1)
        } else {
            format!(
                "10.{}.{}.{}",
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                (i & 0xff).max(1)
            )
        }
    }
    fn via_a(&self, branch: u64) -> String {
        let c = self.call;
        if c.private_text {
            format!(
                "Via: SIP/2.0/{} {}:{};branch=z9hG4bK{:016x};received={};rport={}\r\n",
                self.transport(),
                self.private_ip(),
                c.a_sip,
                branch,
                c.a_ip,
                c.a_sip
            )
        } else {
            format!(
                "Via: SIP/2.0/{} {}:{};branch=z9hG4bK{:016x};rport\r\n",
                self.transport(),
                ip_text(c.a_ip),
                c.a_sip,
                branch
            )
        }
    }
    fn contact_a(&self) -> String {
        let c = self.call;
        let host = if c.private_text {
            self.private_ip()
        } else {
            ip_text(c.a_ip)
        };
        let tp = if self.tcp { ";transport=tcp" } else { "" };
        format!(
            "Contact: <sip:{}@{}:{}{}>\r\n",
            self.user(),
            host,
            c.a_sip,
            tp
        )
    }
    fn contact_b(&self) -> String {
        let c = self.call;
        let tp = if self.tcp { ";transport=tcp" } else { "" };
        format!(
            "Contact: <sip:{}@{}:{}{}>\r\n",
            self.number(),
            ip_text(c.b_ip),
            c.b_sip,
            tp
        )
    }
    fn from(&self) -> String {
        format!(
            "From: \"User {:04}\" <sip:{}@example.invalid>;tag={:08x}\r\n",
            self.call.idx + 1,
            self.user(),
            self.call.from_tag
        )
    }
    fn to(&self, with_tag: bool) -> String {
        if with_tag {
            format!(
                "To: <sip:{}@example.invalid>;tag={:08x}\r\n",
                self.number(),
                self.call.to_tag
            )
        } else {
            format!("To: <sip:{}@example.invalid>\r\n", self.number())
        }
    }
    fn call_id(&self) -> String {
        format!("Call-ID: {:016x}@example.invalid\r\n", self.call.call_id)
    }

    fn sdp(&self, rng: &mut Rng, answer: bool) -> String {
        let c = self.call;
        let (ip, port, user) = if answer {
            (c.b_ip, c.b_rtp, "-".to_string())
        } else {
            (c.a_ip, c.a_rtp, self.user())
        };
        let fam = if ip.is_ipv6() { "IP6" } else { "IP4" };
        let profile = match c.kind {
            Kind::Plain => "RTP/AVP",
            Kind::Sdes => "RTP/SAVP",
            Kind::Dtls => "UDP/TLS/RTP/SAVP",
        };
        let sess = c.call_id as u32 ^ u32::from(answer);
        let mut s = String::with_capacity(512);
        let _ = write!(
            s,
            "v=0\r\no={user} {sess} {sess} IN {fam} {ip}\r\ns=-\r\nc=IN {fam} {ip}\r\nt=0 0\r\n\
             m=audio {port} {profile} 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        match c.kind {
            Kind::Plain => {}
            Kind::Sdes => {
                let mut key = [0u8; 30];
                rng.fill(&mut key);
                let _ = write!(
                    s,
                    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{}\r\n",
                    base64(&key)
                );
            }
            Kind::Dtls => {
                let setup = if answer { "active" } else { "actpass" };
                let _ = write!(
                    s,
                    "a=fingerprint:sha-256 {}\r\na=setup:{setup}\r\n",
                    fingerprint(rng)
                );
            }
        }
        s
    }

    fn message(&self, act: Act, rng: &mut Rng) -> String {
        let c = self.call;
        let user = self.user();
        let num = self.number();
        let inv_branch = c.call_id ^ 0x1111;
        let mut m = String::with_capacity(1200);
        let body = match act {
            Act::Invite => self.sdp(rng, false),
            Act::OkInvite => self.sdp(rng, true),
            _ => String::new(),
        };
        match act {
            Act::Invite => {
                let _ = write!(m, "INVITE sip:{num}@example.invalid SIP/2.0\r\n");
                m.push_str(&self.via_a(inv_branch));
                m.push_str("Max-Forwards: 70\r\n");
                m.push_str(&self.from());
                m.push_str(&self.to(false));
                m.push_str(&self.call_id());
                m.push_str("CSeq: 1 INVITE\r\n");
                m.push_str(&self.contact_a());
                m.push_str("Route: <sip:203.0.113.10;lr>\r\n");
                m.push_str("User-Agent: ExamplePhone/4.2.1 (sipsentinel-gen)\r\n");
                m.push_str(
                    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n",
                );
                m.push_str("Supported: replaces, timer, 100rel\r\n");
                m.push_str("Session-Expires: 1800\r\nMin-SE: 90\r\n");
                let _ = write!(
                    m,
                    "P-Preferred-Identity: \"User {:04}\" <sip:{user}@example.invalid>\r\n",
                    c.idx + 1
                );
                m.push_str("Content-Type: application/sdp\r\n");
            }
            Act::Trying | Act::Ringing | Act::OkInvite | Act::OkBye => {
                let (status, cseq) = match act {
                    Act::Trying => ("100 Trying", "1 INVITE"),
                    Act::Ringing => ("180 Ringing", "1 INVITE"),
                    Act::OkInvite => ("200 OK", "1 INVITE"),
                    _ => ("200 OK", "2 BYE"),
                };
                let branch = if act == Act::OkBye {
                    c.call_id ^ 0x3333
                } else {
                    inv_branch
                };
                let _ = write!(m, "SIP/2.0 {status}\r\n");
                m.push_str(&self.via_a(branch));
                m.push_str(&self.from());
                m.push_str(&self.to(act != Act::Trying));
                m.push_str(&self.call_id());
                let _ = write!(m, "CSeq: {cseq}\r\n");
                if matches!(act, Act::Ringing | Act::OkInvite) {
                    m.push_str(&self.contact_b());
                    m.push_str("Record-Route: <sip:203.0.113.10;lr>\r\n");
                }
                if act == Act::OkInvite {
                    m.push_str("Server: ExampleGateway/7.1.0\r\n");
                    m.push_str("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n");
                    m.push_str("Content-Type: application/sdp\r\n");
                }
            }
            Act::Ack | Act::Bye => {
                let (method, cseq, branch) = if act == Act::Ack {
                    ("ACK", "1 ACK", c.call_id ^ 0x2222)
                } else {
                    ("BYE", "2 BYE", c.call_id ^ 0x3333)
                };
                let host = ip_text(c.b_ip);
                let tp = if self.tcp { ";transport=tcp" } else { "" };
                let _ = write!(m, "{method} sip:{num}@{host}:{}{tp} SIP/2.0\r\n", c.b_sip);
                m.push_str(&self.via_a(branch));
                m.push_str("Max-Forwards: 70\r\n");
                m.push_str(&self.from());
                m.push_str(&self.to(true));
                m.push_str(&self.call_id());
                let _ = write!(m, "CSeq: {cseq}\r\n");
                m.push_str("Route: <sip:203.0.113.10;lr>\r\n");
                m.push_str("User-Agent: ExamplePhone/4.2.1 (sipsentinel-gen)\r\n");
            }
            _ => unreachable!("not a SIP message: {act:?}"),
        }
        let _ = write!(m, "Content-Length: {}\r\n\r\n{}", body.len(), body);
        m
    }
}

// ---------------------------------------------------------------- media payloads

fn rtp_packet(call: &mut Call, d: usize, tones: &[Vec<u8>], buf: &mut Vec<u8>) {
    let first = call.dir[d].sent == 0;
    let dir = call.dir[d];
    buf.clear();
    buf.push(0x80);
    buf.push(if first { 0x80 | 8 } else { 8 });
    buf.extend_from_slice(&dir.seq.to_be_bytes());
    buf.extend_from_slice(&dir.ts.to_be_bytes());
    buf.extend_from_slice(&dir.ssrc.to_be_bytes());
    if call.kind.srtp() {
        let start = buf.len();
        buf.resize(start + 160 + 10, 0);
        call.rng.fill(&mut buf[start..]);
    } else {
        let table = &tones[usize::from(call.tone) % tones.len()];
        let off = (usize::from(call.phase) + dir.sent as usize * 160 + d * 4000) % 8000;
        for j in 0..160 {
            buf.push(table[(off + j) % 8000]);
        }
    }
    let dm = &mut call.dir[d];
    dm.seq = dm.seq.wrapping_add(1);
    dm.ts = dm.ts.wrapping_add(160);
    dm.sent += 1;
    dm.octets += 160;
}

/// RTCP compound: SR + SDES CNAME (+ BYE at the end). Protected calls get
/// SRTCP: the first 8 bytes in clear, the rest random, E flag + index and
/// a 10-byte tag.
fn rtcp_packet(call: &mut Call, d: usize, last: bool, buf: &mut Vec<u8>) {
    let dir = call.dir[d];
    let cname = if d == 0 {
        format!("user{:04}@example.invalid", call.idx + 1)
    } else {
        format!("+1555010{:04}@example.invalid", call.idx % 10_000)
    };
    buf.clear();
    // SR: V=2, RC=0, PT=200, length 6 (28 bytes).
    buf.extend_from_slice(&[0x80, 200, 0, 6]);
    buf.extend_from_slice(&dir.ssrc.to_be_bytes());
    let ntp_sec = 3_900_000_000u32.wrapping_add(dir.sent / 50);
    buf.extend_from_slice(&ntp_sec.to_be_bytes());
    buf.extend_from_slice(&((dir.sent % 50) * 85_899_345).to_be_bytes());
    buf.extend_from_slice(&dir.ts.to_be_bytes());
    buf.extend_from_slice(&dir.sent.to_be_bytes());
    buf.extend_from_slice(&dir.octets.to_be_bytes());
    // SDES: one chunk, CNAME item, END, padded to 32 bits.
    let sdes_at = buf.len();
    buf.extend_from_slice(&[0x81, 202, 0, 0]);
    buf.extend_from_slice(&dir.ssrc.to_be_bytes());
    buf.push(1);
    buf.push(cname.len() as u8);
    buf.extend_from_slice(cname.as_bytes());
    buf.push(0);
    while (buf.len() - sdes_at) % 4 != 0 {
        buf.push(0);
    }
    let words = ((buf.len() - sdes_at) / 4 - 1) as u16;
    buf[sdes_at + 2..sdes_at + 4].copy_from_slice(&words.to_be_bytes());
    if last {
        buf.extend_from_slice(&[0x81, 203, 0, 1]);
        buf.extend_from_slice(&dir.ssrc.to_be_bytes());
    }
    if call.kind.srtp() {
        let n = buf.len();
        call.rng.fill(&mut buf[8..n]);
        let idx = call.dir[d].srtcp_index;
        call.dir[d].srtcp_index += 1;
        buf.extend_from_slice(&(0x8000_0000 | idx).to_be_bytes());
        let n = buf.len();
        buf.resize(n + 10, 0);
        call.rng.fill(&mut buf[n..]);
    }
}

/// DTLS 1.2 flights (content type 22 handshake, 20 change_cipher_spec) on
/// the media ports: ClientHello; ServerHello + empty Certificate +
/// ServerHelloDone; ClientKeyExchange + CCS + encrypted Finished; CCS +
/// encrypted Finished. Hello bodies are well formed (version, random,
/// one ECDHE suite); key material and Finished are random.
fn dtls_flight(call: &mut Call, i: u8, buf: &mut Vec<u8>) {
    buf.clear();
    let hello = |rng: &mut Rng, server: bool| {
        let mut b = vec![0xfe, 0xfd];
        let at = b.len();
        b.resize(at + 32, 0);
        rng.fill(&mut b[at..]);
        b.push(0); // session id
        if server {
            b.extend_from_slice(&[0xc0, 0x2b, 0x00]); // suite, compression
        } else {
            b.push(0); // cookie
            b.extend_from_slice(&[0x00, 0x02, 0xc0, 0x2b, 0x01, 0x00]);
        }
        b.extend_from_slice(&[0x00, 0x00]); // no extensions
        b
    };
    let kex = |rng: &mut Rng| {
        let mut b = vec![65, 0x04];
        b.resize(66, 0);
        rng.fill(&mut b[2..]);
        b
    };
    let random = |rng: &mut Rng, n: usize| {
        let mut b = vec![0u8; n];
        rng.fill(&mut b);
        b
    };
    // (content type, epoch, handshake type (plaintext records only), body)
    let records: Vec<(u8, u16, u8, Vec<u8>)> = match i {
        0 => vec![(22, 0, 1, hello(&mut call.rng, false))],
        1 => vec![
            (22, 0, 2, hello(&mut call.rng, true)),
            (22, 0, 11, vec![0, 0, 0]),
            (22, 0, 14, Vec::new()),
        ],
        2 => vec![
            (22, 0, 16, kex(&mut call.rng)),
            (20, 0, 0, vec![1]),
            (22, 1, 0, random(&mut call.rng, 48)),
        ],
        _ => vec![(20, 0, 0, vec![1]), (22, 1, 0, random(&mut call.rng, 48))],
    };
    let mut msg_seq = if i % 2 == 0 { u16::from(i / 2) } else { 0 };
    for (n, (ct, epoch, msg, body)) in records.into_iter().enumerate() {
        buf.push(ct);
        buf.extend_from_slice(&[0xfe, 0xfd]);
        buf.extend_from_slice(&epoch.to_be_bytes());
        let seq = u64::from(i / 2) * 4 + n as u64;
        buf.extend_from_slice(&seq.to_be_bytes()[2..]);
        if ct == 22 && epoch == 0 {
            let len = (body.len() as u32).to_be_bytes();
            buf.extend_from_slice(&((body.len() + 12) as u16).to_be_bytes());
            buf.push(msg);
            buf.extend_from_slice(&len[1..]);
            buf.extend_from_slice(&msg_seq.to_be_bytes());
            buf.extend_from_slice(&[0, 0, 0]);
            buf.extend_from_slice(&len[1..]);
            msg_seq += 1;
        } else {
            buf.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        buf.extend_from_slice(&body);
    }
}

// ---------------------------------------------------------------- event loop

/// Event kinds in the queue.
const EV_SIGNAL: u8 = 0;
const EV_RTP_A: u8 = 1;
const EV_RTP_B: u8 = 2;
const EV_RTCP_A: u8 = 3;
const EV_RTCP_B: u8 = 4;

fn new_call(idx: u32, kind: Kind, args: &Args, media_us: u64) -> Call {
    let mut rng = Rng::new(args.seed, u64::from(idx) + 1);
    let n = u64::from(args.calls.max(1));
    let t0 = u64::from(idx) * args.stagger_ms * MS / n + rng.below(500);
    let host = idx % 254 + 1;
    let slot = idx / 254;
    let (a_ip, b_ip) = if args.ipv6 {
        let a = Ipv6Addr::new(0x2001, 0xdb8, 0xa, 0, 0, 0, 0, host as u16);
        let b = Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, host as u16);
        (IpAddr::V6(a), IpAddr::V6(b))
    } else {
        let a = Ipv4Addr::new(192, 0, 2, host as u8);
        let b = Ipv4Addr::new(198, 51, 100, host as u8);
        (IpAddr::V4(a), IpAddr::V4(b))
    };
    let a_sip = if args.tcp_sip {
        (30_000 + slot % 35_000) as u16
    } else {
        5060
    };
    let a_rtp = (16_384 + 2 * (slot % 8_000)) as u16;
    let b_rtp = (32_768 + 2 * (slot % 8_000)) as u16;
    let media_start = t0 + MEDIA_START_US;
    let mut dir = [Dir {
        seq: 0,
        ts: 0,
        ssrc: 0,
        sent: 0,
        srtcp_index: 0,
        octets: 0,
    }; 2];
    for d in &mut dir {
        d.seq = rng.next() as u16;
        d.ts = rng.next() as u32;
        d.ssrc = rng.next() as u32;
    }
    Call {
        idx,
        kind,
        t0,
        media_start,
        media_end: media_start + media_us,
        step: 0,
        a_ip,
        b_ip,
        a_sip,
        b_sip: 5060,
        a_rtp,
        b_rtp,
        call_id: rng.next(),
        from_tag: rng.next() as u32,
        to_tag: rng.next() as u32,
        tone: rng.below(8) as u8,
        phase: rng.below(8000) as u16,
        private_text: idx % 4 == 0,
        tcp_nxt: [rng.next() as u32, rng.next() as u32],
        dir,
        rng,
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("gen: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), String> {
    if !(args.seconds >= 0.0 && args.seconds <= 86_400.0) {
        return Err("--seconds must be between 0 and 86400".into());
    }
    let weights = parse_mix(&args.mix)?;
    let kinds = assign_kinds(args.calls, weights, args.seed);
    let packets_per_dir = (args.seconds * 1000.0 / 20.0).round() as u64;
    let media_us = packets_per_dir * PTIME_US;
    let tones = tone_tables(args.seed);
    let schedules = [
        schedule(Kind::Plain, args.tcp_sip),
        schedule(Kind::Sdes, args.tcp_sip),
        schedule(Kind::Dtls, args.tcp_sip),
    ];
    let sched_of = |k: Kind| &schedules[k as usize];

    let file = File::create(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let io = |e: std::io::Error| format!("{}: {e}", args.out.display());
    let mut out = Out {
        w: PcapWriter::try_new(BufWriter::with_capacity(1 << 20, file), LINKTYPE_ETHERNET)
            .map_err(io)?,
        frame: Vec::with_capacity(2048),
        vlan: args.vlan,
        totals: Totals::default(),
    };

    // Time base: 2026-01-01T00:00:00Z.
    const EPOCH_US: u64 = 1_767_225_600 * 1_000_000;
    let mut calls: Vec<Call> = Vec::with_capacity(args.calls as usize);
    let mut queue: BinaryHeap<Reverse<(u64, u64, u32, u8)>> = BinaryHeap::new();
    let mut order = 0u64;
    let mut push = |q: &mut BinaryHeap<Reverse<(u64, u64, u32, u8)>>, t: u64, c: u32, ev: u8| {
        q.push(Reverse((t, order, c, ev)));
        order += 1;
    };
    for (i, &k) in kinds.iter().enumerate() {
        let c = new_call(i as u32, k, args, media_us);
        let (off, _, _) = sched_of(k)[0];
        push(&mut queue, c.t0 + off, i as u32, EV_SIGNAL);
        if packets_per_dir > 0 {
            push(&mut queue, c.media_start, i as u32, EV_RTP_A);
            push(
                &mut queue,
                c.media_start + REVERSE_OFFSET_US,
                i as u32,
                EV_RTP_B,
            );
            let first_rtcp = c.media_start + RTCP_FIRST_US.min(media_us);
            push(&mut queue, first_rtcp + 3 * MS, i as u32, EV_RTCP_A);
            push(&mut queue, first_rtcp + 11 * MS, i as u32, EV_RTCP_B);
        }
        calls.push(c);
    }

    let mut payload = Vec::with_capacity(2048);
    while let Some(Reverse((t, _, ci, ev))) = queue.pop() {
        out.totals.max_queue = out.totals.max_queue.max(queue.len() + 1);
        let call = &mut calls[ci as usize];
        let ts = EPOCH_US + t;
        match ev {
            EV_SIGNAL => {
                let sched = sched_of(call.kind);
                let (_, _, act) = sched[usize::from(call.step)];
                emit_signal(&mut out, call, act, args.tcp_sip, ts, &mut payload).map_err(io)?;
                call.step += 1;
                if let Some(&(off, after, _)) = sched.get(usize::from(call.step)) {
                    let at = if after {
                        call.media_end + off
                    } else {
                        call.t0 + off
                    };
                    push(&mut queue, at.max(t), ci, EV_SIGNAL);
                }
            }
            EV_RTP_A | EV_RTP_B => {
                let d = usize::from(ev - EV_RTP_A);
                rtp_packet(call, d, &tones, &mut payload);
                out.packet(ts, call, d == 0, Ports::Rtp, L4::Udp, &payload)
                    .map_err(io)?;
                out.totals.rtp += 1;
                if u64::from(call.dir[d].sent) < packets_per_dir {
                    let base = call.media_start + if d == 1 { REVERSE_OFFSET_US } else { 0 };
                    let jitter = call.rng.below(2 * MS);
                    push(
                        &mut queue,
                        base + u64::from(call.dir[d].sent) * PTIME_US + jitter,
                        ci,
                        ev,
                    );
                }
            }
            _ => {
                let d = usize::from(ev - EV_RTCP_A);
                let last = t >= call.media_end;
                rtcp_packet(call, d, last, &mut payload);
                out.packet(ts, call, d == 0, Ports::Rtcp, L4::Udp, &payload)
                    .map_err(io)?;
                out.totals.rtcp += 1;
                if !last {
                    let skew = if d == 0 { 3 * MS } else { 11 * MS };
                    let next = (t + RTCP_EVERY_US).min(call.media_end + skew);
                    push(&mut queue, next, ci, ev);
                }
            }
        }
    }
    drop(out.w.into_inner().map_err(io)?);

    let t = &out.totals;
    let count = |k: Kind| kinds.iter().filter(|&&x| x == k).count();
    println!(
        "gen: {} calls (plain {}, sdes {}, dtls {}), {:.2} s media each, seed {}, {}{}{}",
        args.calls,
        count(Kind::Plain),
        count(Kind::Sdes),
        count(Kind::Dtls),
        media_us as f64 / 1e6,
        args.seed,
        if args.ipv6 { "ipv6" } else { "ipv4" },
        if args.vlan { ", vlan 100" } else { "" },
        if args.tcp_sip {
            ", sip over tcp"
        } else {
            ", sip over udp"
        },
    );
    println!(
        "packets: {} (sip {}, rtp {}, rtcp {}, dtls {}, tcp control {})",
        t.packets, t.sip, t.rtp, t.rtcp, t.dtls, t.tcp_ctl
    );
    println!(
        "bytes: {} ({:.1} MiB), capture span {:.3} s, peak event queue {}",
        t.bytes + 24,
        (t.bytes + 24) as f64 / (1u64 << 20) as f64,
        (t.last_ts.saturating_sub(EPOCH_US)) as f64 / 1e6,
        t.max_queue
    );
    println!("out: {}", args.out.display());
    Ok(())
}

fn emit_signal(
    out: &mut Out,
    call: &mut Call,
    act: Act,
    tcp: bool,
    ts: u64,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    // Direction: true = caller (A) to callee (B).
    let a_to_b = matches!(
        act,
        Act::Syn | Act::HsAck | Act::Invite | Act::Ack | Act::Bye | Act::FinA | Act::LastAck
    ) || matches!(act, Act::Dtls(i) if i % 2 == 0);
    let d = usize::from(!a_to_b);
    let o = 1 - d;
    match act {
        Act::Dtls(i) => {
            let mut tmp = std::mem::take(buf);
            dtls_flight(call, i, &mut tmp);
            out.packet(ts, call, a_to_b, Ports::Rtp, L4::Udp, &tmp)?;
            *buf = tmp;
            out.totals.dtls += 1;
            Ok(())
        }
        Act::Syn | Act::SynAck | Act::HsAck | Act::FinA | Act::FinB | Act::LastAck => {
            let syn = matches!(act, Act::Syn | Act::SynAck);
            let fin = matches!(act, Act::FinA | Act::FinB);
            let seq = call.tcp_nxt[d];
            let ack = call.tcp_nxt[o];
            let has_ack = act != Act::Syn;
            out.packet(
                ts,
                call,
                a_to_b,
                Ports::Sip,
                L4::Tcp {
                    seq,
                    ack,
                    syn,
                    fin,
                    has_ack,
                },
                &[],
            )?;
            if syn || fin {
                call.tcp_nxt[d] = call.tcp_nxt[d].wrapping_add(1);
            }
            out.totals.tcp_ctl += 1;
            Ok(())
        }
        _ => {
            let mut rng = call.rng;
            let text = Text { call, tcp }.message(act, &mut rng);
            call.rng = rng;
            let l4 = if tcp {
                L4::Tcp {
                    seq: call.tcp_nxt[d],
                    ack: call.tcp_nxt[o],
                    syn: false,
                    fin: false,
                    has_ack: true,
                }
            } else {
                L4::Udp
            };
            out.packet(ts, call, a_to_b, Ports::Sip, l4, text.as_bytes())?;
            if tcp {
                call.tcp_nxt[d] = call.tcp_nxt[d].wrapping_add(text.len() as u32);
            }
            out.totals.sip += 1;
            Ok(())
        }
    }
}

//! A synthetic capture for the exposure kinds the third-party corpus lacks
//! (SDES keys over UDP, Privacy, Diversion/History-Info, P-Access-Network-Info,
//! Geolocation, `a=ssrc cname:`, SRTP declared but cleartext RTP sent).
//!
//! Provenance: written by this code, not captured; the SIP text follows
//! `tests/sipp/uac_privacy_headers.xml` (fake identities: alice/bob,
//! 1555010000x, example.invalid, TEST-NET addresses). Ethernet/IPv4/UDP,
//! pcap (LINKTYPE_ETHERNET), frames built by `sipsentinel::testkit`
//! (etherparse: valid IPv4 and UDP checksums).
#![allow(dead_code)]

use sipsentinel::testkit::{frames, pcap, pcap::PcapWriter};

/// Identifiers the capture carries, which must never leave the sensor.
pub const IDENTIFIERS: [&str; 12] = [
    "alice",
    "15550100001",
    "15550100002",
    "15550100003",
    "example.invalid",
    "192.0.2.10",
    "198.51.100.20",
    "10.0.0.11",
    "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3",
    "0010100010019B01",
    "alice-location",
];

const ALICE: [u8; 4] = [192, 0, 2, 10];
const BOB: [u8; 4] = [198, 51, 100, 20];

/// The capture being written, and its clock (µs since the epoch).
struct Pcap {
    w: PcapWriter<Vec<u8>>,
    t_us: u64,
}

impl Pcap {
    fn new() -> Pcap {
        Pcap {
            w: PcapWriter::in_memory(pcap::LINKTYPE_ETHERNET),
            t_us: 1_700_000_000_000_000,
        }
    }

    fn udp(
        &mut self,
        gap_ms: u64,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        payload: &[u8],
    ) {
        self.t_us += gap_ms * 1000;
        let ts = std::time::Duration::from_micros(self.t_us);
        self.w
            .write(ts, &frames::udp4(src, dst, sport, dport, payload));
    }

    fn sip(&mut self, from_alice: bool, head: &str, body: &str) {
        let mut m = head.replace('\n', "\r\n");
        if !body.is_empty() {
            m.push_str("Content-Type: application/sdp\r\n");
        }
        m.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        m.push_str(&body.replace('\n', "\r\n"));
        let (s, d) = if from_alice {
            (ALICE, BOB)
        } else {
            (BOB, ALICE)
        };
        self.udp(10, s, 5060, d, 5060, m.as_bytes());
    }
}

const DIALOG: &str = "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=77SSPriv1
To: \"Bob\" <sip:15550100002@example.invalid>
Call-ID: 1-4242@192.0.2.10
";

/// The capture bytes. Expected per-message findings (cleartext UDP):
/// INVITE: srtp_key_exposed, privacy_request_ignored, identity_asserted,
/// location_disclosed, forwarding_history (Diversion), custom_header,
/// software_version, sdp_username, rtcp_identity (sdp_ssrc_cname),
/// private_address (contact); 180: forwarding_history (History-Info);
/// 200: srtp_key_exposed. Media: 50 cleartext PCMU packets to the port the
/// INVITE declared RTP/SAVP with a=crypto: cleartext_media and
/// encryption_mismatch.
pub fn privacy_capture() -> Vec<u8> {
    let mut p = Pcap::new();
    let invite_sdp = "v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 40000 RTP/SAVP 0
a=rtpmap:0 PCMU/8000
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4
a=ssrc:305419896 cname:alice@example.invalid
a=sendrecv
";
    p.sip(
        true,
        &format!(
            "INVITE sip:15550100002@example.invalid SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1-0
{DIALOG}CSeq: 1 INVITE
Contact: <sip:alice@10.0.0.11:5060;transport=udp>
Max-Forwards: 70
P-Asserted-Identity: \"Alice\" <sip:+15550100001@example.invalid;user=phone>
Privacy: id
P-Access-Network-Info: 3GPP-E-UTRAN-FDD; utran-cell-id-3gpp=0010100010019B01
Geolocation: <cid:alice-location@example.invalid>;inserted-by=example.invalid;routing-allowed=no
Diversion: <sip:15550100003@example.invalid>;reason=unconditional;counter=1
X-Custom: sipsentinel-fake-value
User-Agent: SIPp-harness/3.6.1
"
        ),
        invite_sdp,
    );
    let resp = |code: &str| {
        format!(
            "SIP/2.0 {code}
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1-0
{DIALOG}CSeq: 1 INVITE
"
        )
    };
    p.sip(false, &resp("100 Trying"), "");
    p.sip(
        false,
        &format!(
            "{}History-Info: <sip:15550100003@example.invalid>;index=1\nHistory-Info: <sip:15550100002@example.invalid>;index=1.1\n",
            resp("180 Ringing")
        ),
        "",
    );
    let ok_sdp = "v=0
o=- 1 1 IN IP4 198.51.100.20
s=-
c=IN IP4 198.51.100.20
t=0 0
m=audio 50000 RTP/SAVP 0
a=rtpmap:0 PCMU/8000
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3|2^20|1:4
";
    p.sip(
        false,
        &format!("{}Contact: <sip:bob@198.51.100.20:5060>\n", resp("200 OK")),
        ok_sdp,
    );
    p.sip(
        true,
        &format!(
            "ACK sip:bob@198.51.100.20:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1-1
{DIALOG}CSeq: 1 ACK
Max-Forwards: 70
"
        ),
        "",
    );
    // Cleartext PCMU (a slow sine, companded: smooth, far from uniform)
    // from bob's declared port to alice's, though both declared SRTP.
    let mut phase = 0f64;
    for i in 0..50u16 {
        let mut rtp = vec![0x80, 0x00];
        rtp.extend_from_slice(&(1000 + i).to_be_bytes());
        rtp.extend_from_slice(&(u32::from(i) * 160).to_be_bytes());
        rtp.extend_from_slice(&0x0bad_cafeu32.to_be_bytes());
        for _ in 0..160 {
            phase += 2.0 * std::f64::consts::PI * 300.0 / 8000.0;
            rtp.push(ulaw((phase.sin() * 4000.0) as i16));
        }
        p.udp(20, BOB, 50000, ALICE, 40000, &rtp);
    }
    p.sip(
        true,
        &format!(
            "BYE sip:bob@198.51.100.20:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1-2
{DIALOG}CSeq: 2 BYE
Max-Forwards: 70
"
        ),
        "",
    );
    p.sip(
        false,
        &format!(
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1-2
{DIALOG}CSeq: 2 BYE
"
        ),
        "",
    );
    p.w.into_bytes()
}

/// ITU-T G.711 μ-law encoding of one 16-bit sample.
fn ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = (s + BIAS).min(32635 + BIAS);
    // Segment: the highest set bit of s >> 7 (1..=255).
    let exp = (31 - (s >> 7).max(1).leading_zeros() as i32).clamp(0, 7);
    let mant = (s >> (exp + 3)) & 0x0f;
    !((sign | (exp << 4) | mant) as u8)
}

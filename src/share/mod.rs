//! `audit --redact-pcap OUT.pcapng`: a copy of the capture that is safe to
//! hand to a vendor, still readable by tshark.
//!
//! Owner: `share`. Invariants:
//! - Every SIP header and SDP line passes through the findings redaction
//!   ([`crate::findings::redact`]) with the findings store's key, so the
//!   pseudonyms in the shared capture are those of the report and
//!   `/api/exposures`; see `text` for what is kept as is and why.
//! - Every IP address, in packet headers and in SIP/SDP text alike, becomes
//!   one stable pseudonymous address (`addr`), so tshark still pairs
//!   dialogs (Call-ID pseudonyms are stable too) and finds the RTP streams
//!   the SDP announces.
//! - No payload leaves: RTP/RTCP keep headers only, non-SIP TCP keeps its
//!   headers with an empty payload, everything else is dropped; link
//!   layers and tunnels are removed (raw IP out, `LINKTYPE_RAW`).
//! - Lengths agree: IP/UDP lengths and checksums are computed anew, TCP
//!   sequence and acknowledgment numbers follow the rewritten byte stream,
//!   `Content-Length` is the new body's.
//!
//! Parsers and state (`text`, `addr`, `packet`) do no I/O; this file reads
//! the input with libpcap (`capture::Source`) and writes pcapng with the
//! `pcap-file` crate.

pub mod addr;
pub mod packet;
pub mod text;

use crate::capture::{CaptureError, Next, Source};
use crate::decode::{self, LinkType};
use crate::findings::Pseudonymizer;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// What a redaction wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames_in: u64,
    pub frames_out: u64,
    pub sip_messages: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("unsupported link type {0}")]
    LinkType(i32),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("pcapng: {0}")]
    Pcapng(#[from] pcap_file::PcapError),
}

fn open(f: &Path) -> Result<(Source, LinkType), ShareError> {
    let s = Source::open_file(f)?;
    let dlt = s.datalink();
    let link = LinkType::from_dlt(dlt).ok_or(ShareError::LinkType(dlt))?;
    Ok((s, link))
}

/// Read `files` in order and write their redacted copy to `dest`
/// (pcapng, created with mode 0600, replaced if it exists).
pub fn redact_files(
    files: &[PathBuf],
    dest: &Path,
    pseudo: &Pseudonymizer,
) -> Result<Summary, ShareError> {
    // First pass: every address in the input, so that none is produced as
    // the pseudonym of another.
    let mut addrs = addr::AddrMap::new();
    for f in files {
        let (mut src, link) = open(f)?;
        // A truncated file ends where it was cut (the audit reports it).
        while let Ok(Next::Frame { data, .. }) = src.next_frame() {
            if let Ok(Some(p)) = decode::decode(link, data) {
                addrs.note_input(p.net.src);
                addrs.note_input(p.net.dst);
            }
        }
    }
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(dest)?;
    let mut w = PcapNgWriter::new(std::io::BufWriter::new(file))?;
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::RAW,
        snaplen: 0,
        // Default resolution, microseconds (see the timestamp below).
        options: vec![],
    })?;
    let mut red = packet::Redactor::new(pseudo, addrs);
    let mut sum = Summary::default();
    for f in files {
        let (mut src, link) = open(f)?;
        loop {
            match src.next_frame() {
                Err(CaptureError::Truncated { .. }) => break,
                Err(e) => return Err(e.into()),
                Ok(Next::Frame { ts, data, .. }) => {
                    sum.frames_in += 1;
                    let out = red.frame(link, data);
                    sum.sip_messages += out.sip_messages;
                    for p in out.packets {
                        sum.frames_out += 1;
                        w.write_pcapng_block(EnhancedPacketBlock {
                            interface_id: 0,
                            // pcap-file 2.0 writes `as_nanos()` of this
                            // as the block's time units, and the
                            // interface's units are microseconds (its
                            // `if_tsresol` option did not reach tshark
                            // 4.0): a Duration of as many nanoseconds as
                            // the frame has microseconds.
                            timestamp: std::time::Duration::from_nanos(
                                u64::try_from(ts.as_micros()).unwrap_or(u64::MAX),
                            ),
                            original_len: p.len() as u32,
                            data: Cow::Owned(p),
                            options: vec![],
                        })?;
                    }
                }
                Ok(Next::Eof) => break,
                Ok(Next::Timeout | Next::Empty) => {}
            }
        }
    }
    use std::io::Write as _;
    w.into_inner().flush()?;
    Ok(sum)
}

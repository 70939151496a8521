//! A classic pcap writer (libpcap format, microsecond timestamps), record
//! by record, to a file or to memory. Reading stays with the `pcap` crate.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// `LINKTYPE_ETHERNET`.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// `LINKTYPE_RAW`: each record starts with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;

/// Snapshot length written in the file header; records are never cut.
const SNAPLEN: u32 = 262_144;

/// A pcap file being written: the 24-byte file header, then one 16-byte
/// record header and the frame per [`PcapWriter::write`].
pub struct PcapWriter<W: Write = std::io::BufWriter<std::fs::File>> {
    out: W,
    /// Frames written so far.
    pub frames: u64,
}

impl PcapWriter {
    /// Creates (truncates) `path`; `linktype`: 1 Ethernet, 101 raw IP.
    /// Panics on I/O errors (a test helper).
    pub fn create(path: &Path, linktype: u32) -> PcapWriter {
        let f = std::fs::File::create(path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        PcapWriter::new(std::io::BufWriter::new(f), linktype)
    }

    /// Flushes the file.
    pub fn finish(mut self) {
        self.out.flush().expect("flush pcap");
    }
}

impl PcapWriter<Vec<u8>> {
    /// A capture held in memory, returned by [`PcapWriter::into_bytes`].
    pub fn in_memory(linktype: u32) -> PcapWriter<Vec<u8>> {
        PcapWriter::new(Vec::new(), linktype)
    }

    /// The whole file: header and records.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header to `out`; panics on I/O errors.
    pub fn new(out: W, linktype: u32) -> PcapWriter<W> {
        PcapWriter::try_new(out, linktype).expect("write pcap header")
    }

    /// Writes the file header to `out`.
    pub fn try_new(mut out: W, linktype: u32) -> std::io::Result<PcapWriter<W>> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic, µs timestamps
        h.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&SNAPLEN.to_le_bytes());
        h.extend_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, frames: 0 })
    }

    /// One record: `frame` whole, captured at `ts` since the epoch; panics
    /// on I/O errors.
    pub fn write(&mut self, ts: Duration, frame: &[u8]) {
        self.try_write(ts, frame).expect("write pcap record");
    }

    /// One record: `frame` whole, captured at `ts` since the epoch.
    pub fn try_write(&mut self, ts: Duration, frame: &[u8]) -> std::io::Result<()> {
        let mut r = Vec::with_capacity(16);
        r.extend_from_slice(&(ts.as_secs() as u32).to_le_bytes());
        r.extend_from_slice(&ts.subsec_micros().to_le_bytes());
        r.extend_from_slice(&(frame.len() as u32).to_le_bytes()); // captured
        r.extend_from_slice(&(frame.len() as u32).to_le_bytes()); // on the wire
        self.out.write_all(&r)?;
        self.out.write_all(frame)?;
        self.frames += 1;
        Ok(())
    }

    /// The writer, flushed.
    pub fn into_inner(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

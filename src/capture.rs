//! libpcap handles: live interfaces and pcap/pcapng files, and their errors.
//!
//! Owner: `capture`. Invariant: every libpcap failure becomes a typed
//! [`CaptureError`] whose message a user can act on (which file, which
//! interface, which capability); libpcap's own text is kept only where it
//! names no traffic (it never does: it describes files and devices).
//! Batching, dispatch and reopening live in `pipeline`.

mod pcapng;

use pcap::{Active, Capture, Offline};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{}: no such file", path.display())]
    FileNotFound { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: is a directory, not a capture file", path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: empty file, not a pcap or pcapng capture", path.display())]
    EmptyFile { path: PathBuf },
    #[error("{}: not a pcap or pcapng capture ({detail})", path.display())]
    NotACapture { path: PathBuf, detail: String },
    #[error("{}: capture is truncated or corrupt after {packets} packets ({detail})", path.display())]
    Truncated {
        path: PathBuf,
        packets: u64,
        detail: String,
    },
    #[error("interface {name:?} does not exist (available: {available})")]
    NoSuchInterface { name: String, available: String },
    #[error("no permission to capture on {name:?}: needs CAP_NET_RAW; run as root or grant it, e.g. `setcap cap_net_raw=eip sipsentinel`")]
    Permission { name: String },
    #[error("interface {name:?} is down or not capturable: {detail}")]
    InterfaceDown { name: String, detail: String },
    #[error("invalid capture filter: {detail}")]
    BadFilter { detail: String },
    #[error("unsupported link type {dlt} ({name}) in {what}")]
    UnsupportedLinkType {
        dlt: i32,
        name: String,
        what: String,
    },
    #[error("capture on {name:?} failed: {detail}")]
    Live { name: String, detail: String },
}

impl CaptureError {
    /// Errors worth retrying for a live interface (it may come back).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CaptureError::NoSuchInterface { .. }
                | CaptureError::InterfaceDown { .. }
                | CaptureError::Live { .. }
        )
    }
}

/// Options for a live capture.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub snaplen: i32,
    pub buffer_bytes: i32,
    pub promisc: bool,
    /// Read timeout: how long a quiet link keeps partial batches and
    /// shutdown requests waiting (the poll in `next_frame`), and, without
    /// immediate mode, the kernel's block retire timeout: a packet is
    /// readable at most this long after it arrived.
    pub timeout: Duration,
    /// libpcap immediate mode. Off by default: on Linux it makes libpcap
    /// use TPACKET_V2, a ring of fixed slots sized for the MTU (about 2 KiB
    /// each, so a 64 MiB ring holds ~32,000 frames, 0.1 s at 300,000 pps),
    /// where TPACKET_V3 packs variable-size frames into blocks (~200,000
    /// G.711 RTP frames in the same 64 MiB) and wakes the reader once per
    /// block instead of once per packet. Measured with `benches/live.sh`:
    /// immediate mode dropped packets from 200,000 pps (context switches
    /// and a short ring), the same as tcpdump -w, which does not use it.
    pub immediate: bool,
    pub filter: Option<String>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            snaplen: 262_144,
            buffer_bytes: 64 << 20,
            promisc: true,
            timeout: Duration::from_millis(50),
            immediate: false,
            filter: None,
        }
    }
}

enum Handle {
    Live(Capture<Active>),
    /// libpcap's handle, and while it lasts the direct reader of a classic
    /// pcap file (see [`PcapReader`]), which hands over to libpcap at the
    /// first record it does not take.
    File(Capture<Offline>, Option<PcapReader>),
}

/// Bytes read from a file per `read(2)`: small enough that the frames
/// just read are still in the core's L2 cache when the dispatcher reads
/// their headers (the first load of a header was the hottest instruction
/// of the capture thread with 1 MiB), large enough that the system calls
/// do not count (one per few hundred frames).
const READ_CHUNK: usize = 128 << 10;
/// libpcap's `max_snaplen_for_dlt` for every link type we decode.
const MAX_SNAPLEN: u32 = 262_144;
/// The largest captured length libpcap returns unchanged for a file's
/// snaplen (0: none given).
fn caplen_limit(snaplen: u32) -> u32 {
    if snaplen == 0 {
        MAX_SNAPLEN
    } else {
        snaplen.min(MAX_SNAPLEN)
    }
}

/// Classic pcap record header: seconds, fraction, captured and wire length.
const RECORD_HEADER: usize = 16;

/// Reader of classic pcap files (not pcapng) in the host's byte order,
/// version 2.4: the shape of nearly every capture, and of the generator's.
///
/// Why: libpcap reads each record with two `fread` calls (header, then
/// data), each copying out of stdio's buffer; with the kernel's copy into
/// that buffer this was about a fifth of the offline audit's CPU time (the
/// same work is tcpdump's floor). This reader fills a 128 KiB buffer per
/// `read(2)` and hands out slices of it: one kernel copy, no stdio.
///
/// It yields exactly what libpcap would (microsecond timestamps, as
/// `pcap_open_offline` scales a nanosecond file down), and takes only the
/// records where that is plain: a complete record, `caplen` within the
/// file's snaplen and libpcap's maximum, a time stamp fraction in range.
/// At any other record (a cut record at the end of a file, an oversized
/// one libpcap truncates or rejects, a read error) it hands over: libpcap
/// skips the records already read and goes on, so errors, their messages
/// and the packet counts in them are libpcap's own.
struct PcapReader {
    file: std::fs::File,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..end]`.
    pos: usize,
    end: usize,
    nanos: bool,
    /// Largest `caplen` taken here (the rest goes to libpcap).
    max_caplen: u32,
    /// pcapng: the section's interfaces so far (none: classic pcap).
    ng: Option<Vec<pcapng::Interface>>,
}

enum Record {
    Frame {
        ts: Duration,
        start: usize,
        len: usize,
        orig_len: u32,
    },
    Eof,
    /// Not taken here: libpcap goes on from this record.
    HandOver,
}

impl PcapReader {
    fn open(path: &Path) -> Option<PcapReader> {
        use std::io::Read;
        let mut file = std::fs::File::open(path).ok()?;
        let mut h = [0u8; 24];
        file.read_exact(&mut h).ok()?;
        let u32_at = |at: usize| -> Option<u32> {
            let b = h.get(at..at + 4)?;
            Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        };
        let u16_at = |at: usize| -> Option<u16> {
            let b = h.get(at..at + 2)?;
            Some(u16::from_ne_bytes([b[0], b[1]]))
        };
        if u32_at(0)? == pcapng::SHB {
            return PcapReader::open_ng(file);
        }
        // Host byte order only: libpcap rewrites some pseudo-headers
        // (SLL protocol of CAN frames, USB, NFLOG) of swapped files.
        let nanos = match u32_at(0)? {
            0xa1b2_c3d4 => false,
            0xa1b2_3c4d => true,
            _ => return None,
        };
        if (u16_at(4)?, u16_at(6)?) != (2, 4) {
            return None;
        }
        let snaplen = u32_at(16)?;
        let max_caplen = caplen_limit(snaplen);
        Some(PcapReader {
            file,
            buf: vec![0; READ_CHUNK],
            pos: 0,
            end: 0,
            nanos,
            max_caplen,
            ng: None,
        })
    }

    /// A pcapng file whose first 24 bytes (read) begin a section header:
    /// taken when that header is one [`pcapng::section_ok`] accepts.
    fn open_ng(file: std::fs::File) -> Option<PcapReader> {
        use std::io::{Seek, SeekFrom};
        let mut r = PcapReader {
            file,
            buf: vec![0; READ_CHUNK],
            pos: 0,
            end: 0,
            nanos: false,
            max_caplen: MAX_SNAPLEN,
            ng: Some(Vec::new()),
        };
        r.file.seek(SeekFrom::Start(0)).ok()?;
        if !r.fill(8) {
            return None;
        }
        let (_, len) = pcapng::block_header(r.buf.get(..8)?)?;
        if !r.fill(len) || !pcapng::section_ok(r.buf.get(..len)?) {
            return None;
        }
        r.pos = len;
        Some(r)
    }

    /// Make `n` bytes readable at `pos` (moving the unread tail to the
    /// front and reading more); false at end of file or on an error.
    fn fill(&mut self, n: usize) -> bool {
        use std::io::Read;
        if self.end - self.pos >= n {
            return true;
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        while self.end < n {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => return false,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    fn next(&mut self) -> Record {
        if self.ng.is_some() {
            return self.next_ng();
        }
        if !self.fill(RECORD_HEADER) {
            // Nothing left at a record boundary is the end; a partial
            // header is libpcap's "truncated dump file" to report.
            return if self.end == self.pos {
                Record::Eof
            } else {
                Record::HandOver
            };
        }
        let Some(h) = self.buf.get(self.pos..self.pos + RECORD_HEADER) else {
            return Record::HandOver;
        };
        let w = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]);
        let (sec, frac, caplen, orig_len) = (w(0), w(4), w(8), w(12));
        let frac_max = if self.nanos { 1_000_000_000 } else { 1_000_000 };
        // libpcap keeps seconds and fraction in 32-bit signed fields.
        if caplen > self.max_caplen || frac >= frac_max || sec > i32::MAX as u32 {
            return Record::HandOver;
        }
        let usec = if self.nanos { frac / 1000 } else { frac };
        let len = caplen as usize;
        if !self.fill(RECORD_HEADER + len) {
            return Record::HandOver;
        }
        let start = self.pos + RECORD_HEADER;
        self.pos = start + len;
        Record::Frame {
            ts: Duration::from_secs(u64::from(sec)) + Duration::from_micros(u64::from(usec)),
            start,
            len,
            orig_len,
        }
    }
}

impl PcapReader {
    /// The next packet of a pcapng section: interface descriptions are
    /// learnt, blocks libpcap skips are skipped, anything else hands over.
    fn next_ng(&mut self) -> Record {
        loop {
            if !self.fill(8) {
                return if self.end == self.pos {
                    Record::Eof
                } else {
                    Record::HandOver
                };
            }
            let Some((kind, len)) = self
                .buf
                .get(self.pos..self.pos + 8)
                .and_then(pcapng::block_header)
            else {
                return Record::HandOver;
            };
            if !self.fill(len) {
                return Record::HandOver;
            }
            let at = self.pos;
            let Some(block) = self.buf.get(at..at + len) else {
                return Record::HandOver;
            };
            match kind {
                pcapng::EPB => {
                    let Some(p) = pcapng::packet(block) else {
                        return Record::HandOver;
                    };
                    let iface = self
                        .ng
                        .as_ref()
                        .and_then(|v| v.get(p.interface as usize).copied());
                    let Some(iface) = iface else {
                        return Record::HandOver;
                    };
                    // As libpcap: beyond the first interface's snaplen
                    // (`max_caplen`) it cuts or refuses; leave it that.
                    if p.caplen > self.max_caplen as usize {
                        return Record::HandOver;
                    }
                    let (sec, frac) = (p.ts / iface.units, p.ts % iface.units);
                    let usec = if iface.units == 1_000_000 {
                        frac
                    } else {
                        frac / 1000
                    };
                    self.pos = at + len;
                    return Record::Frame {
                        ts: Duration::from_secs(sec) + Duration::from_micros(usec),
                        start: at + p.data_at,
                        len: p.caplen,
                        orig_len: p.orig_len,
                    };
                }
                pcapng::IDB => {
                    let Some(i) = pcapng::interface(block) else {
                        return Record::HandOver;
                    };
                    let Some(ifaces) = self.ng.as_mut() else {
                        return Record::HandOver;
                    };
                    match ifaces.first() {
                        // libpcap refuses a second link type.
                        Some(f) if f.linktype != i.linktype => return Record::HandOver,
                        Some(_) => {}
                        None => {
                            self.max_caplen = caplen_limit(i.snaplen);
                        }
                    }
                    ifaces.push(i);
                }
                // A new section, or packets whose reading depends on
                // details left to libpcap.
                pcapng::SHB | pcapng::SPB | pcapng::OPB => return Record::HandOver,
                // Name resolution, statistics, secrets, custom: not packets.
                _ => {}
            }
            self.pos = at + len;
        }
    }
}

/// One open capture source.
pub struct Source {
    handle: Handle,
    name: String,
    path: Option<PathBuf>,
    packets: u64,
    /// The last non-blocking read found nothing: poll before the next one.
    idle: bool,
    timeout: Duration,
}

/// What [`Source::next`] returned.
pub enum Next<'a> {
    Frame {
        /// Capture timestamp since the Unix epoch.
        ts: Duration,
        data: &'a [u8],
        /// Length on the wire (may exceed `data.len()` when snaplen cut it).
        orig_len: u32,
    },
    /// Live: nothing arrived for the read timeout (time to flush).
    Timeout,
    /// Live: the kernel ring is empty right now; the next call waits for
    /// data (up to the timeout). Not a reason to flush: at low rates the
    /// ring is empty between almost every two packets.
    Empty,
    /// End of a file.
    Eof,
}

/// Kernel statistics of a live capture (`pcap_stats`; wrapping u32 counters).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub received: u32,
    pub dropped: u32,
    pub if_dropped: u32,
}

fn pcap_text(e: &pcap::Error) -> String {
    match e {
        pcap::Error::PcapError(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whether interface `name` exists and is administratively up (IFF_UP in
/// `/sys/class/net/NAME/flags`); `None` where sysfs cannot tell (the `any`
/// pseudo-device, non-Linux). libpcap reports neither a link set down nor
/// a deleted interface on a non-blocking handle: the socket just goes quiet.
pub fn link_is_up(name: &str) -> Option<bool> {
    if name == "any" || name.contains('/') || name.starts_with('.') {
        return None;
    }
    let base = Path::new("/sys/class/net");
    if !base.is_dir() {
        return None;
    }
    let flags = match std::fs::read_to_string(base.join(name).join("flags")) {
        Ok(f) => f,
        // Gone: deleted or renamed.
        Err(_) => return Some(false),
    };
    let v = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()?;
    const IFF_UP: u32 = 0x1;
    Some(v & IFF_UP != 0)
}

/// Names of capturable interfaces, for the "does not exist" message.
pub fn interface_names() -> Vec<String> {
    pcap::Device::list()
        .map(|l| l.into_iter().map(|d| d.name).collect())
        .unwrap_or_default()
}

impl Source {
    /// Open a pcap or pcapng file (libpcap reads both).
    pub fn open_file(path: &Path) -> Result<Source, CaptureError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CaptureError::FileNotFound {
                    path: path.to_owned(),
                })
            }
            Err(source) => {
                return Err(CaptureError::FileUnreadable {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        if meta.is_dir() {
            return Err(CaptureError::IsDirectory {
                path: path.to_owned(),
            });
        }
        // Opening it ourselves first turns EACCES into a clear message
        // instead of libpcap's generic one.
        if let Err(source) = std::fs::File::open(path) {
            return Err(CaptureError::FileUnreadable {
                path: path.to_owned(),
                source,
            });
        }
        if meta.len() == 0 {
            return Err(CaptureError::EmptyFile {
                path: path.to_owned(),
            });
        }
        let cap = Capture::from_file(path).map_err(|e| CaptureError::NotACapture {
            path: path.to_owned(),
            detail: pcap_text(&e),
        })?;
        Ok(Source {
            handle: Handle::File(cap, PcapReader::open(path)),
            name: "file".into(),
            path: Some(path.to_owned()),
            packets: 0,
            idle: false,
            timeout: Duration::ZERO,
        })
    }

    /// Open a live interface, promiscuous, full snaplen, non-blocking.
    pub fn open_live(iface: &str, opt: &LiveOptions) -> Result<Source, CaptureError> {
        let names = interface_names();
        if !names.iter().any(|n| n == iface) {
            return Err(CaptureError::NoSuchInterface {
                name: iface.to_owned(),
                available: if names.is_empty() {
                    "none visible".into()
                } else {
                    names.join(", ")
                },
            });
        }
        let classify = |e: pcap::Error| -> CaptureError {
            let detail = pcap_text(&e);
            let lower = detail.to_ascii_lowercase();
            if lower.contains("permission") || lower.contains("not permitted") {
                CaptureError::Permission {
                    name: iface.to_owned(),
                }
            } else if lower.contains("no such device") || lower.contains("doesn't exist") {
                CaptureError::NoSuchInterface {
                    name: iface.to_owned(),
                    available: "gone".into(),
                }
            } else if lower.contains("down") {
                CaptureError::InterfaceDown {
                    name: iface.to_owned(),
                    detail,
                }
            } else {
                CaptureError::Live {
                    name: iface.to_owned(),
                    detail,
                }
            }
        };
        let inactive = Capture::from_device(iface).map_err(classify)?;
        let timeout_ms = i32::try_from(opt.timeout.as_millis())
            .unwrap_or(1000)
            .max(1);
        let mut cap = inactive
            .promisc(opt.promisc)
            .snaplen(opt.snaplen)
            .buffer_size(opt.buffer_bytes)
            .immediate_mode(opt.immediate)
            .timeout(timeout_ms)
            .open()
            .map_err(classify)?
            // Non-blocking reads plus our own poll(2): on Linux with
            // TPACKET_V3, libpcap's blocking read waits for the kernel to
            // retire a block and never returns on an idle link, so partial
            // batches would sit unflushed (found by the live SIPp test).
            .setnonblock()
            .map_err(classify)?;
        if let Some(f) = &opt.filter {
            cap.filter(f, true).map_err(|e| CaptureError::BadFilter {
                detail: pcap_text(&e),
            })?;
        }
        Ok(Source {
            handle: Handle::Live(cap),
            name: iface.to_owned(),
            path: None,
            packets: 0,
            idle: false,
            timeout: opt.timeout,
        })
    }

    /// libpcap data link type number.
    pub fn datalink(&self) -> i32 {
        match &self.handle {
            Handle::Live(c) => c.get_datalink().0,
            Handle::File(c, _) => c.get_datalink().0,
        }
    }

    pub fn datalink_name(&self) -> String {
        let l = match &self.handle {
            Handle::Live(c) => c.get_datalink(),
            Handle::File(c, _) => c.get_datalink(),
        };
        l.get_name().unwrap_or_else(|_| "unknown".into())
    }

    /// Interface name, or `file`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn describe(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => format!("interface {}", self.name),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self.handle, Handle::Live(_))
    }

    pub fn next_frame(&mut self) -> Result<Next<'_>, CaptureError> {
        let r = match &mut self.handle {
            Handle::Live(c) => {
                if self.idle {
                    self.idle = false;
                    let ts = rustix::event::Timespec {
                        tv_sec: self.timeout.as_secs() as i64,
                        tv_nsec: i64::from(self.timeout.subsec_nanos()),
                    };
                    let mut fds = [rustix::event::PollFd::new(
                        &*c,
                        rustix::event::PollFlags::IN,
                    )];
                    // EINTR (a signal) or any poll error: just read again;
                    // a real device error surfaces from the read.
                    if let Ok(0) = rustix::event::poll(&mut fds, Some(&ts)) {
                        return Ok(Next::Timeout);
                    }
                }
                c.next_packet()
            }
            Handle::File(c, direct) => {
                match direct.as_mut().map(PcapReader::next) {
                    Some(Record::Frame {
                        ts,
                        start,
                        len,
                        orig_len,
                    }) => {
                        self.packets += 1;
                        let data = direct.as_ref().and_then(|r| r.buf.get(start..start + len));
                        return Ok(Next::Frame {
                            ts,
                            data: data.unwrap_or(&[]),
                            orig_len,
                        });
                    }
                    Some(Record::Eof) => return Ok(Next::Eof),
                    Some(Record::HandOver) => {
                        *direct = None;
                        // libpcap has read only the file header: bring it
                        // to the record the reader stopped at.
                        for _ in 0..self.packets {
                            if let Err(e) = c.next_packet() {
                                return Err(CaptureError::Truncated {
                                    path: self.path.clone().unwrap_or_default(),
                                    packets: self.packets,
                                    detail: pcap_text(&e),
                                });
                            }
                        }
                    }
                    None => {}
                }
                c.next_packet()
            }
        };
        match r {
            Ok(p) => {
                self.packets += 1;
                let h = p.header;
                // Negative or absurd timestamps from a corrupt file become 0
                // rather than a panic: they only order expiry.
                let secs = u64::try_from(h.ts.tv_sec).unwrap_or(0);
                let usec = u64::try_from(h.ts.tv_usec).unwrap_or(0).min(999_999);
                Ok(Next::Frame {
                    ts: Duration::from_secs(secs) + Duration::from_micros(usec),
                    data: p.data,
                    orig_len: h.len,
                })
            }
            Err(pcap::Error::TimeoutExpired) => {
                self.idle = true;
                Ok(Next::Empty)
            }
            Err(pcap::Error::NoMorePackets) => Ok(Next::Eof),
            Err(e) => Err(match &self.path {
                Some(path) => CaptureError::Truncated {
                    path: path.clone(),
                    packets: self.packets,
                    detail: pcap_text(&e),
                },
                None => {
                    let detail = pcap_text(&e);
                    if detail.to_ascii_lowercase().contains("down") {
                        CaptureError::InterfaceDown {
                            name: self.name.clone(),
                            detail,
                        }
                    } else {
                        CaptureError::Live {
                            name: self.name.clone(),
                            detail,
                        }
                    }
                }
            }),
        }
    }

    /// Kernel counters of a live capture; `None` for files.
    pub fn stats(&mut self) -> Option<Stats> {
        match &mut self.handle {
            Handle::Live(c) => c.stats().ok().map(|s| Stats {
                received: s.received,
                dropped: s.dropped,
                if_dropped: s.if_dropped,
            }),
            Handle::File(..) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let e = Source::open_file(Path::new("/nonexistent/x.pcap"))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(e, "/nonexistent/x.pcap: no such file");
        let dir = std::env::temp_dir().join(format!("ss-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("empty.pcap");
        std::fs::write(&p, b"").unwrap();
        let e = Source::open_file(&p).err().unwrap().to_string();
        assert!(e.contains("empty file"), "{e}");
        let p = dir.join("text.pcap");
        std::fs::write(&p, b"hello, this is not a capture file at all\n").unwrap();
        let e = Source::open_file(&p).err().unwrap().to_string();
        assert!(e.contains("not a pcap or pcapng capture"), "{e}");
        let e = Source::open_file(&dir).err().unwrap().to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    /// A classic pcap file in the host's byte order: `records` are
    /// (seconds, fraction, captured bytes, wire length).
    fn pcap_bytes(nanos: bool, snaplen: u32, records: &[(u32, u32, Vec<u8>, u32)]) -> Vec<u8> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let mut f = Vec::new();
        f.extend_from_slice(&magic.to_ne_bytes());
        f.extend_from_slice(&2u16.to_ne_bytes());
        f.extend_from_slice(&4u16.to_ne_bytes());
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&snaplen.to_ne_bytes());
        f.extend_from_slice(&1u32.to_ne_bytes()); // Ethernet
        for (sec, frac, data, len) in records {
            for w in [*sec, *frac, data.len() as u32, *len] {
                f.extend_from_slice(&w.to_ne_bytes());
            }
            f.extend_from_slice(data);
        }
        f
    }

    /// Everything a file yields: frames, then how it ended.
    fn read_all(src: &mut Source) -> (Vec<(Duration, Vec<u8>, u32)>, String) {
        let mut out = Vec::new();
        loop {
            match src.next_frame() {
                Ok(Next::Frame { ts, data, orig_len }) => out.push((ts, data.to_vec(), orig_len)),
                Ok(Next::Eof) => return (out, "eof".into()),
                Ok(_) => {}
                Err(e) => return (out, e.to_string()),
            }
        }
    }

    /// A file read by the direct reader and by libpcap alone: both
    /// results, and whether the direct reader read it to the end itself.
    #[allow(clippy::type_complexity)]
    fn direct_and_libpcap(
        p: &Path,
        name: &str,
    ) -> (
        (Vec<(Duration, Vec<u8>, u32)>, String),
        (Vec<(Duration, Vec<u8>, u32)>, String),
        bool,
    ) {
        let mut direct = Source::open_file(p).unwrap();
        assert!(matches!(direct.handle, Handle::File(_, Some(_))), "{name}");
        let mut plain = Source::open_file(p).unwrap();
        if let Handle::File(_, r) = &mut plain.handle {
            *r = None;
        }
        let (a, b) = (read_all(&mut direct), read_all(&mut plain));
        let whole = matches!(direct.handle, Handle::File(_, Some(_)));
        (a, b, whole)
    }

    /// The direct reader yields what libpcap alone yields, and where it
    /// hands over (a record cut at the end, one beyond the snaplen, a
    /// fraction out of range) libpcap's own result follows.
    #[test]
    fn direct_reader_matches_libpcap() {
        let dir = std::env::temp_dir().join(format!("ss-cap-direct-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let frame = |n: u8, len: usize| {
            (0..len)
                .map(|i| n.wrapping_add(i as u8))
                .collect::<Vec<u8>>()
        };
        let good = vec![
            (1_700_000_000, 999_999_999, frame(1, 60), 60),
            (1_700_000_001, 5, frame(2, 0), 90),
            (1_700_000_001, 123_456, frame(3, 1500), 1500),
        ];
        let mut cases = Vec::new();
        cases.push(("nanos", pcap_bytes(true, 65535, &good)));
        let micro: Vec<_> = good
            .iter()
            .map(|(s, f, d, l)| (*s, f % 1_000_000, d.clone(), *l))
            .collect();
        cases.push(("micro", pcap_bytes(false, 0, &micro)));
        let mut cut = pcap_bytes(false, 65535, &micro);
        cut.truncate(cut.len() - 7);
        cases.push(("cut data", cut));
        let mut cut = pcap_bytes(false, 65535, &micro);
        cut.extend_from_slice(&[1, 2, 3]);
        cases.push(("cut header", cut));
        let mut big = micro.clone();
        big.insert(1, (1_700_000_000, 7, frame(9, 200), 200));
        cases.push(("beyond snaplen", pcap_bytes(false, 100, &big)));
        let mut odd = micro.clone();
        odd.insert(1, (1_700_000_000, 2_000_000, frame(8, 10), 10));
        cases.push(("fraction out of range", pcap_bytes(false, 65535, &odd)));
        let mut neg = micro.clone();
        neg.insert(2, (0x8000_0001, 1, frame(7, 10), 10));
        cases.push(("negative seconds", pcap_bytes(false, 65535, &neg)));
        for (name, bytes) in cases {
            let p = dir.join(format!("{}.pcap", name.replace(' ', "_")));
            std::fs::write(&p, &bytes).unwrap();
            let (a, b, whole) = direct_and_libpcap(&p, name);
            assert_eq!(a, b, "{name}");
            assert!(!a.0.is_empty(), "{name}");
            let expected = matches!(name, "nanos" | "micro");
            assert_eq!(whole, expected, "{name}: read whole by the direct reader");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    use super::pcapng::tests::block as ng_block;

    fn ng_shb() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0x1A2B_3C4Du32.to_ne_bytes());
        b.extend_from_slice(&1u16.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&(-1i64).to_ne_bytes());
        ng_block(0x0A0D_0D0A, &b)
    }

    /// An interface: link type, snaplen, and `tsresol` if any.
    fn ng_idb(linktype: u16, snaplen: u32, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&linktype.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes());
        b.extend_from_slice(&snaplen.to_ne_bytes());
        if let Some(r) = tsresol {
            b.extend_from_slice(&9u16.to_ne_bytes());
            b.extend_from_slice(&1u16.to_ne_bytes());
            b.extend_from_slice(&[r, 0, 0, 0]);
            b.extend_from_slice(&[0; 4]); // opt_endofopt
        }
        ng_block(1, &b)
    }

    fn ng_epb(iface: u32, ts: u64, data: &[u8], orig_len: u32) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [
            iface,
            (ts >> 32) as u32,
            ts as u32,
            data.len() as u32,
            orig_len,
        ] {
            b.extend_from_slice(&w.to_ne_bytes());
        }
        b.extend_from_slice(data);
        ng_block(6, &b)
    }

    /// The direct reader on pcapng files yields what libpcap yields, and
    /// hands over to libpcap where it does not interpret a block.
    #[test]
    fn direct_pcapng_reader_matches_libpcap() {
        let dir = std::env::temp_dir().join(format!("ss-cap-ng-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let frame = |n: u8, len: usize| {
            (0..len)
                .map(|i| n.wrapping_add(i as u8))
                .collect::<Vec<u8>>()
        };
        let t = 1_700_000_000_123_456u64;
        let packets = |units: u64| {
            let mut v = Vec::new();
            v.extend(ng_epb(
                0,
                t / 1_000_000 * units + 999_999 * units / 1_000_000,
                &frame(1, 60),
                60,
            ));
            // Name resolution and interface statistics blocks: skipped.
            v.extend(ng_block(4, &[0; 8]));
            v.extend(ng_epb(0, t / 1_000_000 * units + 5, &frame(2, 0), 90));
            v.extend(ng_block(5, &[0; 12]));
            v.extend(ng_epb(
                0,
                t / 1_000_000 * units + 7_000,
                &frame(3, 1500),
                1500,
            ));
            v
        };
        let head = |snaplen: u32, res: Option<u8>| [ng_shb(), ng_idb(1, snaplen, res)].concat();
        let micro = [head(65535, None), packets(1_000_000)].concat();
        let mut cases = vec![
            ("micro", micro.clone()),
            ("nanos", [head(0, Some(9)), packets(1_000_000_000)].concat()),
            (
                "micro explicit",
                [head(65535, Some(6)), packets(1_000_000)].concat(),
            ),
        ];
        let mut cut = micro.clone();
        cut.truncate(cut.len() - 7);
        cases.push(("cut data", cut));
        let mut cut = micro.clone();
        cut.extend_from_slice(&[1, 2, 3]);
        cases.push(("cut header", cut));
        cases.push((
            "beyond snaplen",
            [
                head(2000, None),
                packets(1_000_000),
                ng_epb(0, t, &frame(9, 3000), 3000),
                packets(1_000_000),
            ]
            .concat(),
        ));
        cases.push((
            "second link type",
            [
                micro.clone(),
                ng_idb(105, 65535, None),
                ng_epb(1, t, &frame(4, 30), 30),
            ]
            .concat(),
        ));
        cases.push((
            "second interface",
            [
                micro.clone(),
                ng_idb(1, 65535, Some(9)),
                ng_epb(1, t * 1000, &frame(4, 30), 30),
            ]
            .concat(),
        ));
        cases.push((
            "unknown interface",
            [micro.clone(), ng_epb(3, t, &frame(5, 30), 30)].concat(),
        ));
        cases.push((
            "second section",
            [micro.clone(), head(65535, None), packets(1_000_000)].concat(),
        ));
        cases.push((
            "binary resolution",
            [head(65535, Some(0x80 | 20)), packets(1 << 20)].concat(),
        ));
        for (name, bytes) in cases {
            let p = dir.join(format!("{}.pcapng", name.replace(' ', "_")));
            std::fs::write(&p, &bytes).unwrap();
            let (a, b, whole) = direct_and_libpcap(&p, name);
            assert_eq!(a, b, "{name}");
            assert!(!a.0.is_empty(), "{name}");
            // Read to the end without libpcap exactly where expected.
            let expected = matches!(
                name,
                "micro" | "nanos" | "micro explicit" | "second interface"
            );
            assert_eq!(whole, expected, "{name}: read whole by the direct reader");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unknown_interface_is_named() {
        let e = Source::open_live("nosuchif0", &LiveOptions::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("interface \"nosuchif0\" does not exist"),
            "{e}"
        );
    }
}

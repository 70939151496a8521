//! libpcap handles: live interfaces and pcap/pcapng files, and their errors.
//!
//! Owner: `capture`. Invariant: every libpcap failure becomes a typed
//! [`CaptureError`] whose message a user can act on (which file, which
//! interface, which capability); libpcap's own text is kept only where it
//! names no traffic (it never does: it describes files and devices).
//! Batching, dispatch and reopening live in `pipeline`.

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
    File(Capture<Offline>),
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
            handle: Handle::File(cap),
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
            Handle::File(c) => c.get_datalink().0,
        }
    }

    pub fn datalink_name(&self) -> String {
        let l = match &self.handle {
            Handle::Live(c) => c.get_datalink(),
            Handle::File(c) => c.get_datalink(),
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
            Handle::File(c) => c.next_packet(),
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
            Handle::File(_) => None,
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

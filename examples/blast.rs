//! Packet blaster for the live benchmark: sends the frames of a classic pcap
//! (as written by `examples/gen.rs`) on one interface, faster than
//! tcpreplay, at a paced rate.
//!
//! ```text
//! blast --file /tmp/ssperf/calls2000x5s-seed1.pcap --interface ssperf1 \
//!     --pps 1000000 --seconds 10 [--count N] [--loops N] [--batch 256] [--no-bypass]
//! ```
//!
//! Design: the whole capture is read into memory once (files over 2 GiB are
//! refused), frames kept back to back in one buffer. An `AF_PACKET`/
//! `SOCK_RAW` socket (protocol 0: it never receives) bound to the interface
//! sends them with `sendmmsg(2)`, `--batch` frames per system call, with
//! `PACKET_QDISC_BYPASS` (the frames go straight to the driver's xmit, no
//! qdisc; `--no-bypass` to go through the qdisc like tcpreplay). Pacing is
//! per batch: the n-th frame is due at start + n / pps; after a batch the
//! thread sleeps until the next batch is due (`--pps 0`: no pacing). The
//! capture is looped; every run is bounded by `--seconds` (at most 3600),
//! and optionally by `--count` frames and `--loops` passes over the file.
//!
//! Printed at the end, one line, for scripts:
//! `blast: sent N in S s, P pps (asked R), enobufs E, tx_dropped D, cpu_s C`
//! where `tx_dropped` is the interface counter delta (on a veth: frames the
//! peer's receive backlog refused) and `cpu_s` the thread's user + system
//! time (on a veth, the sender's CPU also runs the receive path of the peer,
//! including the copy into every capture ring on it).
//!
//! Traffic goes only where it is told: use it on a veth pair of a test
//! namespace, as `benches/live.sh` does.

use clap::Parser;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const MAX_FILE: u64 = 2 << 30;
const MAX_FRAME: usize = 1514;

#[derive(Parser)]
#[command(about = "send a pcap's frames on an interface with AF_PACKET + sendmmsg, paced")]
struct Args {
    /// Classic pcap file (Ethernet link type).
    #[arg(long)]
    file: PathBuf,
    /// Interface to send on.
    #[arg(long)]
    interface: String,
    /// Frames per second (0: as fast as possible).
    #[arg(long, default_value_t = 100_000)]
    pps: u64,
    /// Stop after this many seconds (1..=3600).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Stop after this many frames.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many passes over the file.
    #[arg(long, default_value_t = 1000)]
    loops: u64,
    /// Frames per sendmmsg call (1..=1024).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Do not set PACKET_QDISC_BYPASS.
    #[arg(long)]
    no_bypass: bool,
}

struct Frames {
    data: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

fn load(path: &PathBuf) -> anyhow::Result<Frames> {
    let mut f = std::fs::File::open(path)?;
    let size = f.metadata()?.len();
    anyhow::ensure!(
        size <= MAX_FILE,
        "{}: {} bytes, over the 2 GiB limit",
        path.display(),
        size
    );
    let mut buf = Vec::with_capacity(size as usize);
    f.read_to_end(&mut buf)?;
    anyhow::ensure!(buf.len() >= 24, "not a pcap file (too short)");
    let magic = u32::from_le_bytes(buf[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => true,
        0xd4c3b2a1 | 0x4d3cb2a1 => false,
        _ => anyhow::bail!("not a classic pcap file (magic {magic:#x})"),
    };
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let linktype = rd(&buf[20..24]) & 0x0fff_ffff;
    anyhow::ensure!(
        linktype == 1,
        "link type {linktype}, only Ethernet (1) is sent"
    );
    let mut spans = Vec::new();
    let mut skipped = 0u64;
    let mut off = 24usize;
    while off + 16 <= buf.len() {
        let incl = rd(&buf[off + 8..off + 12]) as usize;
        let start = off + 16;
        anyhow::ensure!(start + incl <= buf.len(), "truncated record at byte {off}");
        if (14..=MAX_FRAME).contains(&incl) {
            spans.push((start, incl));
        } else {
            skipped += 1;
        }
        off = start + incl;
    }
    anyhow::ensure!(!spans.is_empty(), "no frame to send");
    if skipped > 0 {
        eprintln!("blast: skipped {skipped} frames over {MAX_FRAME} bytes");
    }
    Ok(Frames { data: buf, spans })
}

fn if_counter(ifname: &str, name: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{ifname}/statistics/{name}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn thread_cpu() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn open_socket(ifname: &str, bypass: bool) -> anyhow::Result<i32> {
    let cname = std::ffi::CString::new(ifname)?;
    // SAFETY: plain libc calls on a socket we own; pointers are to live locals.
    unsafe {
        let ifindex = libc::if_nametoindex(cname.as_ptr());
        anyhow::ensure!(ifindex != 0, "no interface {ifname}");
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0);
        anyhow::ensure!(
            fd >= 0,
            "socket(AF_PACKET): {}",
            std::io::Error::last_os_error()
        );
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = 0;
        sll.sll_ifindex = ifindex as i32;
        let r = libc::bind(
            fd,
            &sll as *const libc::sockaddr_ll as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        anyhow::ensure!(r == 0, "bind {ifname}: {}", std::io::Error::last_os_error());
        if bypass {
            let one: libc::c_int = 1;
            let r = libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_QDISC_BYPASS,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as u32,
            );
            if r != 0 {
                eprintln!(
                    "blast: PACKET_QDISC_BYPASS: {}",
                    std::io::Error::last_os_error()
                );
            }
        }
        let sndbuf: libc::c_int = 16 << 20;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            &sndbuf as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        );
        Ok(fd)
    }
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    anyhow::ensure!(
        a.seconds > 0.0 && a.seconds <= 3600.0,
        "--seconds must be in (0, 3600]"
    );
    anyhow::ensure!((1..=1024).contains(&a.batch), "--batch must be 1..=1024");
    let frames = load(&a.file)?;
    let nframes = frames.spans.len() as u64;
    let limit = a
        .count
        .unwrap_or(u64::MAX)
        .min(a.loops.saturating_mul(nframes));
    let fd = open_socket(&a.interface, !a.no_bypass)?;

    let mut iov: Vec<libc::iovec> = vec![
        libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0
        };
        a.batch
    ];
    // SAFETY: all-zero mmsghdr is valid; the iovec pointers are set below
    // and stay valid (iov is not resized) while sendmmsg runs.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; a.batch];

    let drop0 = if_counter(&a.interface, "tx_dropped");
    let deadline = Duration::from_secs_f64(a.seconds);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut next = 0usize; // index of the next frame in the file
    let mut enobufs: u64 = 0;
    let mut errors: u64 = 0;
    while sent < limit {
        let elapsed = start.elapsed();
        if elapsed >= deadline {
            break;
        }
        if a.pps > 0 {
            // Frame number `sent` is due at sent / pps.
            let due = Duration::from_nanos((sent as u128 * 1_000_000_000 / a.pps as u128) as u64);
            if due > elapsed {
                let wait = due - elapsed;
                if wait > Duration::from_micros(30) {
                    std::thread::sleep(wait);
                } else {
                    while start.elapsed() < due {
                        std::hint::spin_loop();
                    }
                }
                continue;
            }
        }
        let n = (limit - sent).min(a.batch as u64) as usize;
        for i in 0..n {
            let (off, len) = frames.spans[(next + i) % frames.spans.len()];
            iov[i].iov_base = frames.data[off..].as_ptr() as *mut libc::c_void;
            iov[i].iov_len = len;
            msgs[i].msg_hdr.msg_iov = &mut iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: msgs[..n] point at iov[..n], which point into frames.data.
        let r = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), n as u32, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) => {
                    enobufs += 1;
                    std::thread::yield_now();
                }
                Some(libc::EINTR) => {}
                _ => {
                    errors += 1;
                    anyhow::ensure!(errors < 1000, "sendmmsg: {e}");
                    // Skip the frame it refused.
                    next = (next + 1) % frames.spans.len();
                }
            }
            continue;
        }
        let r = r as usize;
        sent += r as u64;
        next = (next + r) % frames.spans.len();
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = thread_cpu();
    let dropped = if_counter(&a.interface, "tx_dropped").saturating_sub(drop0);
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    println!(
        "blast: sent {sent} in {secs:.3} s, {} pps (asked {}), enobufs {enobufs}, errors {errors}, tx_dropped {dropped}, cpu_s {cpu:.2}, frames in file {nframes}",
        (sent as f64 / secs) as u64,
        a.pps
    );
    Ok(())
}

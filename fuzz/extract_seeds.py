#!/usr/bin/env python3
"""Build the fuzz seed corpora fuzz/seeds/<target>/ from the capture corpus.

Usage: extract_seeds.py CORPUS_DIR OUT_DIR

Frames come from the pcap records themselves (pcapng is converted with
`editcap -F pcap` first); UDP/TCP payloads come from tshark fields. Seeds are
written in the input layout each harness expects (see fuzz/harness.rs).
Deterministic: same corpus, same seeds. Needs tshark and editcap.
"""
import glob
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

# LinkType::ALL order in src/decode/mod.rs.
LINK_INDEX = {1: 0, 113: 1, 276: 2, 101: 3, 12: 3, 14: 3, 228: 4, 229: 5, 0: 6, 108: 7}
MAX_PER_TARGET_PER_FILE = 60
MAX_SEED = 64 * 1024


def write(out, target, data):
    if not data:
        return
    data = data[:MAX_SEED]
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pcap_frames(path):
    """(linktype, [frame bytes]) of a pcap file; pcapng via editcap."""
    tmp = None
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic == b"\x0a\x0d\x0d\x0a":
        tmp = tempfile.NamedTemporaryFile(suffix=".pcap", delete=False)
        tmp.close()
        r = subprocess.run(["editcap", "-F", "pcap", path, tmp.name], capture_output=True)
        if r.returncode != 0:
            os.unlink(tmp.name)
            return None, []
        path = tmp.name
    try:
        with open(path, "rb") as f:
            data = f.read()
    finally:
        if tmp:
            os.unlink(tmp.name)
    if len(data) < 24:
        return None, []
    m = data[:4]
    if m in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif m in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None, []
    link = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
    frames = []
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        frames.append(data[off:off + incl])
        off += incl
    return link, frames


def tshark_fields(path, fields):
    r = subprocess.run(
        ["tshark", "-r", path, "-T", "fields"] + sum([["-e", f] for f in fields], []),
        capture_output=True,
        text=True,
    )
    rows = []
    for line in r.stdout.splitlines():
        rows.append(line.split("\t"))
    return rows


def unhex(s):
    s = s.split(",")[0].replace(":", "")
    try:
        return bytes.fromhex(s)
    except ValueError:
        return b""


def looks_sip(p):
    first = p.lstrip(b"\r\n").split(b"\n", 1)[0]
    return first.startswith(b"SIP/2.0 ") or first.rstrip(b"\r").endswith(b"SIP/2.0")


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    files = sorted(glob.glob(os.path.join(corpus, "*.pcap*")) + glob.glob(os.path.join(corpus, "*.cap")))
    for path in files:
        link, frames = pcap_frames(path)
        idx = LINK_INDEX.get(link)
        if idx is not None:
            for fr in frames[:MAX_PER_TARGET_PER_FILE]:
                write(out, "decode_frame", bytes([idx]) + fr)
            # whole_path: runs of 16 consecutive frames.
            for start in range(0, min(len(frames), 16 * 8), 16):
                blob = b""
                for fr in frames[start:start + 16]:
                    blob += bytes([idx]) + struct.pack(">H", min(len(fr), 65535)) + fr[:65535]
                write(out, "whole_path", blob)
        rows = tshark_fields(path, ["tcp.stream", "udp.payload", "tcp.payload"])
        streams = {}
        n_sip = n_rtp = n_ws = 0
        for row in rows:
            row += [""] * (3 - len(row))
            stream, up, tp = row[0], unhex(row[1]), unhex(row[2])
            if up:
                if looks_sip(up):
                    if n_sip < MAX_PER_TARGET_PER_FILE:
                        write(out, "sip_parse", up)
                        n_sip += 1
                    head, sep, body = up.partition(b"\r\n\r\n")
                    if sep and body:
                        ct = b"application/sdp"
                        for h in head.split(b"\r\n"):
                            k, _, v = h.partition(b":")
                            if k.strip().lower() in (b"content-type", b"c"):
                                ct = v.strip()
                        write(out, "sdp", ct + b"\n" + body)
                elif n_rtp < MAX_PER_TARGET_PER_FILE:
                    write(out, "rtp_classify", up)
                    n_rtp += 1
            if tp:
                streams.setdefault(stream, b"")
                streams[stream] += tp
                if not looks_sip(tp) and not tp.startswith((b"GET ", b"HTTP/")) and n_ws < 20:
                    write(out, "ws_frame", tp)
                    n_ws += 1
                if looks_sip(tp):
                    write(out, "sip_parse", tp)
        for s in list(streams.values())[:MAX_PER_TARGET_PER_FILE]:
            write(out, "sip_stream", bytes([0, 64, 128, 192]) + s)
            write(out, "sip_stream", bytes([3, 1, 2, 200]) + s)
    # defrag_tcp: hand-made op sequences (layout in harness.rs).
    frag = bytes([0x10, 1]) + struct.pack(">H", 0) + bytes([2]) + b"A" * 16
    frag += bytes([0x00, 1]) + struct.pack(">H", 2) + bytes([1]) + b"B" * 8
    write(out, "defrag_tcp", frag)
    seg = bytes([0x11]) + struct.pack(">IH", 1000, 0)
    seg += bytes([0x01]) + struct.pack(">IH", 1001, 20) + b"INVITE sip:a SIP/2.0"
    seg += bytes([0x01]) + struct.pack(">IH", 1031, 4) + b"\r\n\r\n"
    seg += bytes([0x01]) + struct.pack(">IH", 1021, 10) + b"\r\nl: 0\r\n\r\n"
    seg += bytes([0x21]) + struct.pack(">IH", 1035, 0)
    write(out, "defrag_tcp", seg + frag)
    for d in ("sip_parse", "sip_stream", "ws_frame", "sdp", "rtp_classify"):
        os.makedirs(os.path.join(out, d), exist_ok=True)


if __name__ == "__main__":
    main()

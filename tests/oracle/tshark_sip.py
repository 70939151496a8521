#!/usr/bin/env python3
"""tshark as the oracle: count SIP messages in a capture the way tshark sees them.

Usage: tshark_sip.py FILE [tshark options...]
Prints TSV lines `kind  method  status_class  transport  count`, with the same
label values as sipsentinel_sip_messages_total (method of the CSeq for
responses, `other` for methods outside the metric contract), then a line
`#total N`, `#packets N` (frames in the file, from capinfos -c) and
`#rtp_streams N` (`-z rtp,streams` with the RTP heuristic on).

It walks tshark's PDML: every <proto name="sip"> element is one SIP message
(a TCP segment or WebSocket frame may hold several). The transport is taken
from the protocols around it (websocket > tls > tcp > sctp > udp). As a
self-check the total is compared with `tshark -q -z sip,stat`; a difference is
an error, not a silent choice.
"""
import collections
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

KNOWN = {"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE",
         "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}


def label_method(m):
    return m if m in KNOWN else "other"


def status_class(code):
    try:
        c = int(code)
    except ValueError:
        return "other"
    return f"{c // 100}xx" if 100 <= c <= 699 else "other"


def field(proto, name):
    for f in proto.iter("field"):
        if f.get("name") == name:
            return f.get("show")
    return None


def main():
    path = sys.argv[1]
    extra = sys.argv[2:]
    out = subprocess.run(["tshark", "-n", "-r", path, *extra, "-Y", "sip", "-T", "pdml"],
                         check=True, capture_output=True).stdout
    counts = collections.Counter()
    total = 0
    for _, pkt in ET.iterparse(__import__("io").BytesIO(out), events=("end",)):
        if pkt.tag != "packet":
            continue
        protos = [p.get("name") for p in pkt.findall("proto")]
        if "websocket" in protos:
            transport = "ws"
        elif "tls" in protos:
            transport = "tls"
        elif "tcp" in protos:
            transport = "tcp"
        elif "sctp" in protos:
            transport = "sctp"
        else:
            transport = "udp"
        for p in pkt.findall("proto"):
            if p.get("name") != "sip":
                continue
            method = field(p, "sip.Method")
            code = field(p, "sip.Status-Code")
            cseq = field(p, "sip.CSeq.method")
            if code is not None:
                key = ("response", label_method(cseq or ""), status_class(code), transport)
            elif method is not None:
                key = ("request", label_method(method), "", transport)
            else:
                continue  # a "continuation" sip proto without a start line
            counts[key] += 1
            total += 1
        pkt.clear()
    stat = subprocess.run(["tshark", "-n", "-r", path, *extra, "-q", "-z", "sip,stat"],
                          check=True, capture_output=True, text=True).stdout
    m = re.search(r"Number of SIP messages: (\d+)", stat)
    stat_total = int(m.group(1)) if m else 0
    if stat_total != total:
        print(f"#warning pdml total {total} != sip,stat total {stat_total}", file=sys.stderr)
    rtp = subprocess.run(["tshark", "-n", "-r", path, *extra, "-o", "rtp.heuristic_rtp:TRUE",
                          "-q", "-z", "rtp,streams"],
                         check=True, capture_output=True, text=True).stdout
    rtp_streams, inside = 0, False
    for line in rtp.splitlines():
        if "Start time" in line:
            inside = True
        elif line.startswith("===="):
            inside = False
        elif inside and line.strip():
            rtp_streams += 1
    cap = subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True).stdout
    m = re.search(r"Number of packets:\s+(\d+)", cap)
    for k in sorted(counts):
        print("\t".join(k) + f"\t{counts[k]}")
    print(f"#total\t{stat_total}")
    print(f"#packets\t{m.group(1) if m else 'unknown'}")
    print(f"#rtp_streams\t{rtp_streams}")


if __name__ == "__main__":
    main()

#!/bin/sh
# Records the SIPp captures of tests/fixtures/recorded/media_sipp_*.pcap
# (tests/media_exposure.rs): one call per SDP variant on loopback
# (127.0.0.10 = UAS "bob", 127.0.0.11 = UAC "alice"), tcpdump on lo.
# Usage (as root): tests/sipp/record_media.sh OUTDIR [null]  (null: the first only)
set -eu
out=${1:?OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
# Keys are made-up base64 (30 bytes of "KEY"), valid for nothing.
key="inline:S0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZS0VZ|2^20|1:4"
record() {
    name=$1 profile=$2 crypto=$3
    timeout -s KILL 30 tcpdump -i lo -U -n -w "$out/$name.pcap" \
        'udp and host 127.0.0.10 and host 127.0.0.11' 2>/dev/null &
    dump=$!
    sleep 1
    timeout -s KILL 25 sipp -sf "$here/uas_media.xml" -i 127.0.0.10 -p 5070 -mp 26000 \
        -key profile "$profile" -key crypto "$crypto" -m 1 -nostdin -bg >/dev/null || true
    timeout -s KILL 25 sipp 127.0.0.10:5070 -sf "$here/uac_media.xml" -i 127.0.0.11 -p 5071 \
        -mp 16000 -key profile "$profile" -key crypto "$crypto" -m 1 -nostdin \
        -timeout 20s -timeout_error >/dev/null
    sleep 1
    kill "$dump"
    wait "$dump" || true
}
record media_sipp_null_srtp RTP/SAVP "a=crypto:1 NULL_HMAC_SHA1_80 $key"
[ "${2:-all}" = null ] && exit 0
record media_sipp_unencrypted_srtp RTP/SAVP "a=crypto:1 AES_CM_128_HMAC_SHA1_32 $key UNENCRYPTED_SRTP"
record media_sipp_dtmf RTP/AVP "a=sendrecv"

#!/bin/sh
# Records tests/fixtures/recorded/media_baresip_*.pcap (tests/media_exposure.rs):
# two baresip peers on loopback 127.0.0.1 (baresip's media sockets send from
# it whatever the SIP address): callee "bob" SIP 5060, RTP 10000-10049, caller
# "alice" SIP 5062, RTP 10050-10099; Opus over DTLS-SRTP, sending a speech-like signal
# (speechlike.py) from `aufile`; tcpdump on lo. One call per variant:
#   opus_vbr: opus_cbr no;  opus_cbr: opus_cbr yes;  level: audio_level yes
#   (CBR);  nolevel: audio_level no (CBR);  dtmf: CBR, the caller presses
#   1, 5, 9 (RFC 4733 events over SRTP: keys typed on baresip's stdio UI)
# Usage (as root): tests/baresip/record_media.sh OUTDIR [VARIANT]
set -eu
out=${1:?OUTDIR}
only=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/sipsentinel-media-rec.XXXXXX)
python3 "$here/speechlike.py" "$work/speech.wav" 12
conf() { # dir sip-port cbr level rtp-ports
    mkdir -p "$1"
    cat >"$1/config" <<CONF
poll_method		epoll
sip_listen		127.0.0.1:$2
call_local_timeout	30
call_max_calls		1
audio_player		aubridge,nil
audio_source		aufile,$work/speech.wav
audio_alert		aubridge,nil
ausrc_srate		48000
ausrc_channels		2
rtp_ports		$5
rtcp_mux		no
net_interface		127.0.0.1
audio_level		$4
opus_cbr		$3
opus_dtx		no
opus_stereo		no
module_path		/usr/lib/baresip/modules
module			opus.so
module			aufile.so
module			aubridge.so
module			srtp.so
module			dtls_srtp.so
module_app		account.so
module_app		menu.so
CONF
}
keys() { # the caller's keyboard: three digits during the call
    sleep 3; printf 1; sleep 1; printf 5; sleep 1; printf 9; sleep 4
}
record() { # name cbr level [dtmf]
    case "${only:-$1}" in "$1") ;; *) return 0 ;; esac
    conf "$work/$1-bob" 5060 "$2" "$3" 10000-10049
    conf "$work/$1-alice" 5062 "$2" "$3" 10050-10099
    if [ "${4:-}" = dtmf ]; then
        printf 'module\t\t\tstdio.so\n' >>"$work/$1-alice/config"
    fi
    echo "<sip:bob@127.0.0.1:5060>;regint=0;audio_codecs=opus;mediaenc=dtls_srtp;answermode=auto" >"$work/$1-bob/accounts"
    echo "<sip:alice@127.0.0.1:5062>;regint=0;audio_codecs=opus;mediaenc=dtls_srtp" >"$work/$1-alice/accounts"
    timeout -s KILL 30 tcpdump -i lo -U -n -w "$out/media_baresip_$1.pcap" \
        'udp and host 127.0.0.1 and (portrange 5060-5062 or portrange 10000-10099)' 2>/dev/null &
    dump=$!
    sleep 1
    timeout -s KILL 20 baresip -4 -f "$work/$1-bob" -t 12 >"$work/$1-bob.log" 2>&1 &
    bob=$!
    sleep 1
    if [ "${4:-}" = dtmf ]; then keys; else sleep 9; fi |
        timeout -s KILL 15 baresip -4 -f "$work/$1-alice" -t 8 -e "/dial sip:bob@127.0.0.1:5060" \
            >"$work/$1-alice.log" 2>&1 || true
    kill "$bob" 2>/dev/null || true
    wait "$bob" || true
    sleep 1
    kill "$dump"
    wait "$dump" || true
}
record opus_vbr no no
record opus_cbr yes no
record level yes yes
record nolevel yes no
record dtmf yes no dtmf
echo "logs in $work"

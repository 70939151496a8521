#!/usr/bin/env bash
# Long run: live capture of replayed SIP/RTP for MINUTES (default 10); the
# sensor's resident memory after warm-up must grow by less than 1 MiB.
#
#   bash benches/soak.sh                         # 10 minutes at 20,000 pps (run as root)
#   bash benches/soak.sh --minutes 2 --rate 5000 # shorter
#
# Setup as in benches/live.sh: a namespace `sssoak-ns` holds one end of a
# veth pair, tcpreplay sends a generated capture on it (looped, --pps RATE,
# bounded by --limit and a timeout), the sensor captures on the root-side
# peer `sssoak0`. No address is configured and IPv6 is off on both ends, so
# nothing is routed or answered; everything is removed on exit.
#
# The capture: 400 calls over 20 s, 20 s of RTP each, so every loop of
# the file starts and ends 400 calls and 800 streams, and the tables fill,
# drain and refill. Call-IDs, SSRCs and ports repeat each loop: the
# sensor must expire the previous loop's state, not pile it up.
#
# Every 10 s: VmRSS and RssAnon of the sensor (/proc; VmRSS includes the
# libpcap ring, mapped and touched once), its table-size gauges and drop
# counters. Warm-up is the first 2 loops of the file (or a fifth of the
# run, whichever is longer); growth = last RSS - RSS at the end of warm-up,
# and also the largest RSS after warm-up minus it. Results in
# $SSPERF_DIR/soak-results.txt (default /tmp/ssperf).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${SSPERF_DIR:-/tmp/ssperf}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
MINUTES=10
RATE=20000
PORT="${SSPERF_PORT:-19478}"
NS=sssoak-ns
HOST_IF=sssoak0
NS_IF=sssoak1
LIMIT_KIB=1024

while [ $# -gt 0 ]; do
    case "$1" in
    --minutes) MINUTES="$2"; shift ;;
    --rate) RATE="$2"; shift ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$MINUTES" -ge 1 ] && [ "$MINUTES" -le 120 ] || { echo "soak.sh: --minutes must be 1..120" >&2; exit 2; }
[ "$RATE" -ge 100 ] && [ "$RATE" -le 200000 ] || { echo "soak.sh: --rate must be 100..200000" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "soak.sh: needs root (network namespace, veth, raw capture)" >&2; exit 1; }

. "$ROOT/benches/common.sh"
need tcpreplay tcpreplay
need capinfos tshark
need curl curl
need ip iproute2

build_bins
FILE="$OUT/soak-calls400x20s.pcap"
if [ ! -s "$FILE" ] || [ "$GEN" -nt "$FILE" ]; then
    "$GEN" --calls 400 --seconds 20 --stagger-ms 20000 --seed 11 --out "$FILE" | sed 's/^/   /'
fi
FILE_PACKETS=$(capinfos -c -M "$FILE" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')

SENSOR_PID=""
REPLAY_PID=""
cleanup() {
    set +e
    [ -z "$REPLAY_PID" ] || kill "$REPLAY_PID" 2>/dev/null
    [ -z "$SENSOR_PID" ] || { kill "$SENSOR_PID" 2>/dev/null; wait "$SENSOR_PID" 2>/dev/null; }
    veth_down "$NS" "$HOST_IF"
}
trap cleanup EXIT INT TERM

veth_up "$NS" "$HOST_IF" "$NS_IF"
start_sensor "$OUT/soak-sensor.log" --interface "$HOST_IF" --listen "127.0.0.1:$PORT"

TOTAL_S=$((MINUTES * 60))
COUNT=$((RATE * TOTAL_S))
LOOPS=$(((COUNT + FILE_PACKETS - 1) / FILE_PACKETS))
LOOP_S=$((FILE_PACKETS / RATE))
WARM_S=$((2 * LOOP_S))
[ "$WARM_S" -ge $((TOTAL_S / 5)) ] || WARM_S=$((TOTAL_S / 5))
echo "== $MINUTES min at $RATE pps: $FILE ($FILE_PACKETS packets, ~$LOOP_S s per loop) x $LOOPS; warm-up ${WARM_S} s"
timeout $((TOTAL_S * 2 + 60)) ip netns exec "$NS" tcpreplay -q -K --pps="$RATE" --loop="$LOOPS" \
    --limit="$COUNT" --intf1="$NS_IF" "$FILE" >"$OUT/soak-tcpreplay.log" 2>&1 &
REPLAY_PID=$!

metrics() { curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics"; }
sum() { awk -v re="$1" '$0 !~ /^#/ && $1 ~ re {s += $2} END {printf "%d", s}'; }
SAMPLES="$OUT/soak-samples.tsv"
printf 't_s\trss_kib\tanon_kib\tcaptured\tdrops\tstreams_active\tcalls_active\tflows_active\n' >"$SAMPLES"
start=$(date +%s)
while kill -0 "$REPLAY_PID" 2>/dev/null; do
    sleep 10
    t=$(($(date +%s) - start))
    [ "$t" -le $((TOTAL_S * 2 + 60)) ] || break
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$SENSOR_PID/status")
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$SENSOR_PID/status")
    m=$(metrics) || { echo "scrape failed at $t s" >&2; continue; }
    cap=$(echo "$m" | sum '^sipsentinel_capture_packets_total')
    drops=$(echo "$m" | sum '^sipsentinel_(capture_kernel_dropped|capture_interface_dropped|pipeline_dropped)_total')
    streams=$(echo "$m" | sum '^sipsentinel_media_streams_active')
    calls=$(echo "$m" | sum '^sipsentinel_calls_active')
    tables=$(echo "$m" | sum '^sipsentinel_flows_active')
    printf '%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n' "$t" "$rss" "$anon" "$cap" "$drops" "$streams" "$calls" "$tables" | tee -a "$SAMPLES"
done
wait "$REPLAY_PID" 2>/dev/null || true
REPLAY_PID=""
sent=$(awk '/Actual:/ {print $2; exit}' "$OUT/soak-tcpreplay.log")

RES="$OUT/soak-results.txt"
awk -v warm="$WARM_S" -v limit="$LIMIT_KIB" -v sent="${sent:-0}" -v minutes="$MINUTES" -v rate="$RATE" '
NR == 1 { next }
{ t = $1; rss = $2; anon = $3; cap = $4; drops = $5 }
t <= warm { base = rss; base_a = anon; base_t = t }
t > warm && base != "" { if (rss > max) max = rss; last = rss; last_a = anon; last_t = t; n++ }
END {
    printf "soak: %d min at %d pps, tcpreplay sent %d, sensor captured %d, drops %d\n", minutes, rate, sent, cap, drops
    if (base == "" || n == 0) { print "not enough samples after warm-up"; exit 1 }
    g = last - base; gm = max - base
    printf "RSS after warm-up (%d s): %d KiB; at the end (%d s): %d KiB; growth %+d KiB; largest after warm-up %+d KiB\n", base_t, base, last_t, last, g, gm
    printf "of which anonymous (heap, stacks; the rest is mostly the capture ring mapping): %d -> %d KiB, %+d KiB\n", base_a, last_a, last_a - base_a
    printf "target growth < %d KiB: %s\n", limit, (g < limit ? "met" : "NOT MET")
}' "$SAMPLES" | tee "$RES"
echo "== samples in $SAMPLES"

#!/usr/bin/env bash
# End-to-end live capture: highest replay rate the sensor takes with zero
# drops, next to tcpdump's on the same link.
#
#   bash benches/live.sh            # rates 10k..1M pps, 30 s each (run as root)
#   bash benches/live.sh --quick    # same rates, 5 s each
#   bash benches/live.sh --rates "100000 200000" --duration 10 [--only sensor|tcpdump] [--perf]
#   (--perf: profile the sensor with perf during the first rate, per thread)
#   bash benches/live.sh --pin ...  # tcpreplay on CPU 1, the capturer on CPU 0
#
# A network namespace `ssperf-ns` holds one end of a veth pair (`ssperf1`);
# tcpreplay sends the generated capture on it at each rate (--pps), and the
# capturer listens on the root-side peer `ssperf0`. The frames carry
# documentation addresses and foreign MACs, no address is configured on
# either end and IPv6 is off on both, so nothing is routed or answered:
# the traffic exists only inside the pair. Everything is removed on exit.
#
# Per rate, the sensor's /metrics is read before and after the replay:
# drops = capture_kernel_dropped + capture_interface_dropped +
# pipeline_dropped{reason="queue_full"} (deltas), and captured must reach
# what tcpreplay sent. tcpdump's numbers come from its exit summary. A rate
# is "clean" with zero drops and nothing missing; the result is the highest
# clean rate, in packets per second tcpreplay actually achieved (on a small
# machine it falls short of the asked rate; such rows are marked
# `replay-limited`). Escalation stops after two unclean rates in a row.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${SSPERF_DIR:-/tmp/ssperf}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RATES="10000 20000 50000 100000 200000 300000 500000 700000 1000000"
DURATION=30
ONLY=""
PORT="${SSPERF_PORT:-19477}"
NS=ssperf-ns
HOST_IF=ssperf0
NS_IF=ssperf1
BUFFER_MIB=64
PERF=0
PIN=0

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) DURATION=5 ;;
    --duration) DURATION="$2"; shift ;;
    --rates) RATES="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --perf) PERF=1 ;;
    --pin) PIN=1 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "live.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 120 ] || { echo "live.sh: --duration must be 1..120 s" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "live.sh: needs root (network namespace, veth, raw capture)" >&2; exit 1; }

. "$ROOT/benches/common.sh"
need tcpreplay tcpreplay
need tcpdump tcpdump
need capinfos tshark
need curl curl
need ip iproute2

build_bins
FILE="$OUT/calls2000x5s-seed1.pcap"
if [ ! -s "$FILE" ] || [ "$GEN" -nt "$FILE" ]; then
    "$GEN" --calls 2000 --seconds 5 --seed 1 --out "$FILE" | tee "$FILE.gen.txt"
fi
FILE_PACKETS=$(capinfos -c -M "$FILE" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')

SENSOR_PID=""
CAP_PID=""
cleanup() {
    set +e
    [ -z "$CAP_PID" ] || kill "$CAP_PID" 2>/dev/null
    [ -z "$SENSOR_PID" ] || { kill "$SENSOR_PID" 2>/dev/null; wait "$SENSOR_PID" 2>/dev/null; }
    veth_down "$NS" "$HOST_IF"
}
trap cleanup EXIT INT TERM

veth_up "$NS" "$HOST_IF" "$NS_IF"
# --pin: each side gets a core of its own, so the capturer's CPU use does
# not lower the rate tcpreplay can offer (without it, tcpreplay reached
# 700,000 pps beside tcpdump but only 550,000-560,000 beside the sensor).
REPLAY_PIN=""
CAP_PIN=""
if [ "$PIN" = 1 ]; then
    need taskset util-linux
    REPLAY_PIN="taskset -c 1"
    CAP_PIN="taskset -c 0"
fi

metric() { # metric NAME_REGEX: sum of matching samples
    curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics" |
        awk -v re="$1" '$0 !~ /^#/ && $1 ~ re {s += $2} END {printf "%d\n", s}'
}

# replay RATE: sends RATE*DURATION packets at --pps RATE, prints "sent pps"
replay() {
    local rate=$1
    local count=$((rate * DURATION)) loops log="$OUT/tcpreplay.log"
    loops=$(((count + FILE_PACKETS - 1) / FILE_PACKETS))
    timeout $((DURATION * 3 + 60)) $REPLAY_PIN ip netns exec "$NS" tcpreplay -q -K --pps="$rate" \
        --loop="$loops" --limit="$count" --intf1="$NS_IF" "$FILE" >"$log" 2>&1 || true
    local sent achieved
    sent=$(awk '/Actual:/ {print $2; exit}' "$log")
    achieved=$(awk '/Rated:/ {for (i = 1; i <= NF; i++) if ($i ~ /pps/) {print int($(i - 1)); exit}}' "$log")
    echo "${sent:-0} ${achieved:-0}"
}

declare -a SUMMARY
best_sensor=0
best_tcpdump=0

run_sensor() {
    echo "== sensor: $BIN run --interface $HOST_IF --listen 127.0.0.1:$PORT --buffer-mib $BUFFER_MIB"
    start_sensor "$OUT/sensor.log" --interface "$HOST_IF" --listen "127.0.0.1:$PORT" --buffer-mib "$BUFFER_MIB"
    # All its threads exist once /healthz answers: pin them all.
    [ "$PIN" = 0 ] || taskset -a -p -c 0 "$SENSOR_PID" >/dev/null
    local bad=0
    for rate in $RATES; do
        local p0 k0 i0 q0 p1 k1 i1 q1 sent achieved
        p0=$(metric '^sipsentinel_capture_packets_total')
        k0=$(metric '^sipsentinel_capture_kernel_dropped_total')
        i0=$(metric '^sipsentinel_capture_interface_dropped_total')
        q0=$(metric '^sipsentinel_pipeline_dropped_total\{reason="queue_full"')
        local perf_pid=""
        if [ "$PERF" = 1 ] && [ ! -e "$OUT/live-perf.done" ]; then
            perf record -q -F 999 -g -p "$SENSOR_PID" -o "$OUT/live-perf.data" -- sleep "$DURATION" \
                >/dev/null 2>&1 &
            perf_pid=$!
            touch "$OUT/live-perf.done"
        fi
        read -r sent achieved < <(replay "$rate")
        [ -z "$perf_pid" ] || wait "$perf_pid" || true
        sleep 3 # pcap_stats are polled once a second; let queues drain
        p1=$(metric '^sipsentinel_capture_packets_total')
        k1=$(metric '^sipsentinel_capture_kernel_dropped_total')
        i1=$(metric '^sipsentinel_capture_interface_dropped_total')
        q1=$(metric '^sipsentinel_pipeline_dropped_total\{reason="queue_full"')
        local cap=$((p1 - p0)) kd=$((k1 - k0)) id=$((i1 - i0)) qd=$((q1 - q0))
        local missing=$((sent - cap - kd - id))
        [ "$missing" -ge 0 ] || missing=0
        local drops=$((kd + id + qd))
        local ok=no
        if [ "$drops" = 0 ] && [ "$cap" -ge "$sent" ] && [ "$sent" -gt 0 ]; then ok=yes; fi
        local line
        line=$(printf 'sensor  %8d pps asked %8d achieved %9d sent %9d captured  kernel %d iface %d queue %d missing %d  clean=%s' \
            "$rate" "$achieved" "$sent" "$cap" "$kd" "$id" "$qd" "$missing" "$ok")
        [ $((achieved * 100)) -ge $((rate * 95)) ] || line+="  replay-limited"
        echo "$line"
        SUMMARY+=("$line")
        if [ "$ok" = yes ]; then
            [ "$achieved" -le "$best_sensor" ] || best_sensor=$achieved
            bad=0
        else
            bad=$((bad + 1))
            [ "$bad" -lt 2 ] || break
        fi
    done
    kill "$SENSOR_PID"
    wait "$SENSOR_PID" 2>/dev/null || true
    SENSOR_PID=""
}

run_tcpdump() {
    echo "== tcpdump -i $HOST_IF -B $((BUFFER_MIB * 1024)) -n -w /dev/null"
    local bad=0
    for rate in $RATES; do
        local log="$OUT/tcpdump.log" sent achieved
        $CAP_PIN tcpdump -i "$HOST_IF" -B $((BUFFER_MIB * 1024)) -n -w /dev/null >"$log" 2>&1 &
        CAP_PID=$!
        sleep 2
        read -r sent achieved < <(replay "$rate")
        sleep 2
        kill -INT "$CAP_PID"
        wait "$CAP_PID" 2>/dev/null || true
        CAP_PID=""
        local cap kd
        cap=$(awk '/packets captured/ {print $1}' "$log")
        kd=$(awk '/dropped by kernel/ {print $1}' "$log")
        local ok=no
        if [ "${kd:-1}" = 0 ] && [ "${cap:-0}" -ge "$sent" ] && [ "$sent" -gt 0 ]; then ok=yes; fi
        local line
        line=$(printf 'tcpdump %8d pps asked %8d achieved %9d sent %9d captured  kernel %d                    clean=%s' \
            "$rate" "$achieved" "$sent" "${cap:-0}" "${kd:-0}" "$ok")
        [ $((achieved * 100)) -ge $((rate * 95)) ] || line+="  replay-limited"
        echo "$line"
        SUMMARY+=("$line")
        if [ "$ok" = yes ]; then
            [ "$achieved" -le "$best_tcpdump" ] || best_tcpdump=$achieved
            bad=0
        else
            bad=$((bad + 1))
            [ "$bad" -lt 2 ] || break
        fi
    done
}

rm -f "$OUT/live-perf.done"
echo "== $(nproc) cores; replaying $FILE ($FILE_PACKETS packets, looped) for $DURATION s per rate"
[ "$ONLY" = tcpdump ] || run_sensor
[ "$ONLY" = sensor ] || run_tcpdump

RES="$OUT/live-results.txt"
{
    echo "live: veth pair, tcpreplay --pps, $DURATION s per rate, $(nproc) cores (replay, capture and analysis share them)"
    printf '%s\n' "${SUMMARY[@]}"
    [ "$ONLY" = tcpdump ] || echo "sensor: highest clean rate $best_sensor pps (achieved)"
    [ "$ONLY" = sensor ] || echo "tcpdump: highest clean rate $best_tcpdump pps (achieved)"
    if [ -z "$ONLY" ] && [ "$best_tcpdump" -gt 0 ]; then
        echo "sensor/tcpdump = $(echo "scale=2; $best_sensor / $best_tcpdump" | bc)"
    fi
} | tee "$RES"
if [ "$PERF" = 1 ] && [ -s "$OUT/live-perf.data" ]; then
    echo "== sensor profile during the first rate (perf, per thread)"
    perf report -i "$OUT/live-perf.data" --no-children -g none --sort comm,dso,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9]' | sed 's/ *$//' | head -30 | tee "$OUT/live-profile.txt" || true
fi

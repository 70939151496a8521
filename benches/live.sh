#!/usr/bin/env bash
# End-to-end live capture: highest replay rate the sensor takes with zero
# drops, next to tcpdump's on the same link.
#
#   bash benches/live.sh            # rates 10k..1M pps, 30 s each (run as root)
#   bash benches/live.sh --quick    # same rates, 5 s each
#   bash benches/live.sh --rates "100000 200000" --duration 10 [--only sensor|tcpdump] [--perf]
#   (--perf: profile the sensor with perf during the first rate, per thread)
#   bash benches/live.sh --pin ...  # the generator on CPU 1, the capturer on CPU 0
#   bash benches/live.sh --sensor-args "--config FILE" ...  # extra sensor arguments
#   bash benches/live.sh --nice ...  # generator and capturer at nice -15 (a busy machine)
#   bash benches/live.sh --gen tcpreplay ...  # tcpreplay -K --pps instead of blast
#
# A network namespace `ssperf-ns` holds one end of a veth pair (`ssperf1`);
# the generator sends the generated capture on it at each rate: by default
# examples/blast.rs (AF_PACKET + sendmmsg, paced per batch of 256 frames,
# about 1 Mpps on this 2-core VM where tcpreplay stops near 600-800 kpps),
# or tcpreplay with --gen tcpreplay. The
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
# clean rate, in packets per second the generator actually achieved (on a
# small machine it falls short of the asked rate; such rows are marked
# `replay-limited`). Escalation stops after two unclean rates in a row.
# Per rate it also prints where the CPU went: the generator's own CPU
# seconds (on a veth the sender's CPU also runs the peer's receive path and
# the copy into the capture ring), and the capturer's per-thread CPU from
# /proc/PID/task/*/stat, plus frames the veth itself dropped (sent minus
# ssperf0 rx_packets).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${SSPERF_DIR:-/tmp/ssperf}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
RATES="100000 300000 500000 700000 800000 900000 1000000 1100000 1200000"
GENERATOR=blast
DURATION=30
ONLY=""
PORT="${SSPERF_PORT:-19477}"
NS=ssperf-ns
HOST_IF=ssperf0
NS_IF=ssperf1
BUFFER_MIB=64
PERF=0
PIN=0
NICE=0
SENSOR_ARGS=""

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) DURATION=5 ;;
    --duration) DURATION="$2"; shift ;;
    --rates) RATES="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    --perf) PERF=1 ;;
    --pin) PIN=1 ;;
    --nice) NICE=1 ;;
    --sensor-args) SENSOR_ARGS="$2"; shift ;;
    --gen) GENERATOR="$2"; shift ;;
    -h | --help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "live.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$DURATION" -ge 1 ] && [ "$DURATION" -le 120 ] || { echo "live.sh: --duration must be 1..120 s" >&2; exit 2; }
case "$GENERATOR" in blast | tcpreplay) ;; *) echo "live.sh: --gen blast|tcpreplay" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "live.sh: needs root (network namespace, veth, raw capture)" >&2; exit 1; }

. "$ROOT/benches/common.sh"
[ "$GENERATOR" = blast ] || need tcpreplay tcpreplay
need tcpdump tcpdump
need capinfos tshark
need curl curl
need ip iproute2

build_bins --example blast
BLAST="$CARGO_TARGET_DIR/release/examples/blast"
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
# not lower the rate the generator can offer (without it, tcpreplay reached
# 700,000 pps beside tcpdump but only 550,000-560,000 beside the sensor).
REPLAY_PIN=""
CAP_PIN=""
if [ "$PIN" = 1 ]; then
    need taskset util-linux
    REPLAY_PIN="taskset -c 1"
    CAP_PIN="taskset -c 0"
fi
# --nice: when other work shares the machine, give the generator and the
# capturer (all threads) priority over it, so the rates measure them.
if [ "$NICE" = 1 ]; then
    REPLAY_PIN="nice -n -15 $REPLAY_PIN"
    CAP_PIN="nice -n -15 $CAP_PIN"
fi

metric() { # metric NAME_REGEX: sum of matching samples
    curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics" |
        awk -v re="$1" '$0 !~ /^#/ && $1 ~ re {s += $2} END {printf "%d\n", s}'
}

ifstat() { cat "/sys/class/net/$HOST_IF/statistics/$1"; }

# task_cpu PID: "comm=ticks ..." for every thread of PID (utime + stime).
task_cpu() {
    local t
    for t in /proc/"$1"/task/*; do
        [ -r "$t/stat" ] || continue
        # comm may hold spaces: take the fields after the last ')'.
        awk '{ s = $0; c = s; sub(/^[^(]*\(/, "", c); sub(/\).*$/, "", c); gsub(/ /, "_", c);
               sub(/^.*\) /, "", s); split(s, f, " "); printf "%s:%s=%d ", c, FILENAME, f[12] + f[13] }' "$t/stat"
    done
}

# cpu_delta BEFORE AFTER SECONDS: per-thread CPU % over the interval,
# threads of the same name summed ("sipsentinel 12% worker 80% ...").
cpu_delta() {
    local hz
    hz=$(getconf CLK_TCK)
    awk -v a="$1" -v b="$2" -v secs="$3" -v hz="$hz" 'BEGIN {
        n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, "="); before[kv[1]] = kv[2] }
        n = split(b, y, " "); for (i = 1; i <= n; i++) { split(y[i], kv, "="); k = kv[1];
            d = kv[2] - (k in before ? before[k] : 0); split(k, ck, ":"); sum[ck[1]] += d }
        for (c in sum) printf "%s %d%% ", c, 100 * sum[c] / hz / secs }'
}

# stat_cpu: the "cpu" line of /proc/stat (all cores, in ticks).
stat_cpu() { awk '$1 == "cpu" {print $2 + $3, $4, $7 + $8, $5 + $6, $9; exit}' /proc/stat; }

# stat_delta BEFORE AFTER: where the machine's CPU went over the interval,
# as a share of all cores: user, system, softirq (+irq), idle (+iowait), steal.
stat_delta() {
    echo "$1 $2" | awk '{ t = 0; for (i = 1; i <= 5; i++) { d[i] = $(i + 5) - $i; t += d[i] }
        if (t == 0) t = 1
        printf "machine: user %d%% sys %d%% softirq %d%% idle %d%% steal %d%%", 100 * d[1] / t, 100 * d[2] / t, 100 * d[3] / t, 100 * d[4] / t, 100 * d[5] / t }'
}

# ksoftirqd_pids: the per-CPU softirq threads (they run the veth receive
# path when the sender's softirq work overflows).
ksoftirqd_pids() { pgrep -d' ' '^ksoftirqd/' || true; }

# replay RATE: sends RATE*DURATION packets at RATE pps, prints
# "sent achieved generator_cpu_s link_drops"
replay() {
    local rate=$1
    local count=$((rate * DURATION)) loops log="$OUT/generator.log" rx0 rx1
    loops=$(((count + FILE_PACKETS - 1) / FILE_PACKETS))
    rx0=$(ifstat rx_packets)
    local sent achieved gcpu=0
    if [ "$GENERATOR" = blast ]; then
        timeout $((DURATION * 3 + 60)) $REPLAY_PIN ip netns exec "$NS" "$BLAST" --file "$FILE" \
            --interface "$NS_IF" --pps "$rate" --count "$count" --loops "$loops" \
            --seconds $((DURATION * 2 + 5)) >"$log" 2>&1 || true
        sent=$(awk '/^blast: sent/ {print $3; exit}' "$log")
        achieved=$(awk '/^blast: sent/ {for (i = 1; i <= NF; i++) if ($i ~ /^pps/) {print $(i - 1); exit}}' "$log")
        gcpu=$(awk '/^blast: sent/ {for (i = 1; i <= NF; i++) if ($i == "cpu_s") {print $(i + 1); exit}}' "$log" | tr -d ,)
    else
        local t0 t1
        t0=$(date +%s.%N)
        timeout $((DURATION * 3 + 60)) $REPLAY_PIN ip netns exec "$NS" tcpreplay -q -K --pps="$rate" \
            --loop="$loops" --limit="$count" --intf1="$NS_IF" "$FILE" >"$log" 2>&1 || true
        sent=$(awk '/Actual:/ {print $2; exit}' "$log")
        achieved=$(awk '/Rated:/ {for (i = 1; i <= NF; i++) if ($i ~ /pps/) {print int($(i - 1)); exit}}' "$log")
        t1=$(date +%s.%N)
        gcpu=$(echo "$t1 - $t0" | bc) # wall, as an upper bound
    fi
    sleep 1
    rx1=$(ifstat rx_packets)
    local link=$(( ${sent:-0} - (rx1 - rx0) ))
    [ "$link" -ge 0 ] || link=0
    echo "${sent:-0} ${achieved:-0} ${gcpu:-0} $link"
}

declare -a SUMMARY
best_sensor=0
best_tcpdump=0

run_sensor() {
    echo "== sensor: $BIN run --interface $HOST_IF --listen 127.0.0.1:$PORT --buffer-mib $BUFFER_MIB $SENSOR_ARGS"
    start_sensor "$OUT/sensor.log" --interface "$HOST_IF" --listen "127.0.0.1:$PORT" --buffer-mib "$BUFFER_MIB" $SENSOR_ARGS
    # All its threads exist once /healthz answers: pin them all.
    [ "$PIN" = 0 ] || taskset -a -p -c 0 "$SENSOR_PID" >/dev/null
    if [ "$NICE" = 1 ]; then
        local t
        for t in /proc/"$SENSOR_PID"/task/*; do renice -n -15 -p "${t##*/}" >/dev/null; done
    fi
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
        local c0 c1 t0 t1 gcpu link s0 s1 ks0 ks1
        c0=$(task_cpu "$SENSOR_PID")
        ks0=$(for k in $(ksoftirqd_pids); do task_cpu "$k"; done)
        s0=$(stat_cpu)
        t0=$(date +%s.%N)
        read -r sent achieved gcpu link < <(replay "$rate")
        t1=$(date +%s.%N)
        s1=$(stat_cpu)
        c1=$(task_cpu "$SENSOR_PID")
        ks1=$(for k in $(ksoftirqd_pids); do task_cpu "$k"; done)
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
        line=$(printf 'sensor  %8d pps asked %8d achieved %9d sent %9d captured  kernel %d iface %d queue %d missing %d link %d  clean=%s' \
            "$rate" "$achieved" "$sent" "$cap" "$kd" "$id" "$qd" "$missing" "$link" "$ok")
        [ $((achieved * 100)) -ge $((rate * 95)) ] || line+="  replay-limited"
        echo "$line"
        echo "        cpu: generator ${gcpu} s; sensor threads: $(cpu_delta "$c0" "$c1" "$(echo "$t1 - $t0" | bc)")$(cpu_delta "$ks0" "$ks1" "$(echo "$t1 - $t0" | bc)"); $(stat_delta "$s0" "$s1")" | tee -a "$OUT/live-cpu.txt"
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
        local c0 c1 t0 t1 gcpu link s0 s1 ks0 ks1
        c0=$(task_cpu "$CAP_PID")
        ks0=$(for k in $(ksoftirqd_pids); do task_cpu "$k"; done)
        s0=$(stat_cpu)
        t0=$(date +%s.%N)
        read -r sent achieved gcpu link < <(replay "$rate")
        t1=$(date +%s.%N)
        s1=$(stat_cpu)
        c1=$(task_cpu "$CAP_PID")
        ks1=$(for k in $(ksoftirqd_pids); do task_cpu "$k"; done)
        sleep 1
        kill -INT "$CAP_PID"
        wait "$CAP_PID" 2>/dev/null || true
        CAP_PID=""
        local cap kd
        cap=$(awk '/packets captured/ {print $1}' "$log")
        kd=$(awk '/dropped by kernel/ {print $1}' "$log")
        local ok=no
        if [ "${kd:-1}" = 0 ] && [ "${cap:-0}" -ge "$sent" ] && [ "$sent" -gt 0 ]; then ok=yes; fi
        local line
        line=$(printf 'tcpdump %8d pps asked %8d achieved %9d sent %9d captured  kernel %d link %d                    clean=%s' \
            "$rate" "$achieved" "$sent" "${cap:-0}" "${kd:-0}" "$link" "$ok")
        [ $((achieved * 100)) -ge $((rate * 95)) ] || line+="  replay-limited"
        echo "$line"
        echo "        cpu: generator ${gcpu} s; tcpdump: $(cpu_delta "$c0" "$c1" "$(echo "$t1 - $t0" | bc)")$(cpu_delta "$ks0" "$ks1" "$(echo "$t1 - $t0" | bc)"); $(stat_delta "$s0" "$s1")" | tee -a "$OUT/live-cpu.txt"
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

# The generator's ceiling with nothing capturing: unpaced (blast --pps 0),
# same pinning, for DURATION s.
run_baseline() {
    [ "$GENERATOR" = blast ] || return 0
    local s0 s1 line
    s0=$(stat_cpu)
    timeout $((DURATION * 3 + 60)) $REPLAY_PIN ip netns exec "$NS" "$BLAST" --file "$FILE" \
        --interface "$NS_IF" --pps 0 --seconds "$DURATION" >"$OUT/generator.log" 2>&1 || true
    s1=$(stat_cpu)
    line="generator alone (no capturer, unpaced): $(grep '^blast:' "$OUT/generator.log"); $(stat_delta "$s0" "$s1")"
    echo "$line"
    SUMMARY+=("$line")
}

rm -f "$OUT/live-perf.done" "$OUT/live-cpu.txt"
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), generator $GENERATOR; replaying $FILE ($FILE_PACKETS packets, looped) for $DURATION s per rate"
run_baseline
[ "$ONLY" = tcpdump ] || run_sensor
[ "$ONLY" = sensor ] || run_tcpdump

RES="$OUT/live-results.txt"
{
    echo "live: veth pair, generator $GENERATOR, $DURATION s per rate, $(nproc) cores, pin=$PIN nice=$NICE"
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

#!/usr/bin/env bash
# End-to-end offline throughput: `sipsentinel audit` against the libpcap read
# floor (`tcpdump -r FILE -w /dev/null`) and against tshark, on one generated
# capture, in the same run, alternating order each round.
#
#   bash benches/offline.sh                  # 2000 calls x 5 s (~1.02 M packets), 3 rounds
#   bash benches/offline.sh --quick          # 200 calls x 5 s (~100 k packets), 2 rounds
#   bash benches/offline.sh --calls N --seconds S --rounds R [--workers N] [--profile] [--no-tshark]
#
# Targets (issue #17): audit wall time <= 1.5x tcpdump's and CPU time
# (user + system, all threads) <= 2x tcpdump's; tshark's wall >= 20x
# audit's. When a target is missed (or with --profile) the audit is
# profiled with perf
# (callgrind on a small file when perf does not work) and the top functions
# are printed. Generated files stay under $SSPERF_DIR (default /tmp/ssperf).
# Every command runs once per round under `timeout`; nothing loops unbounded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${SSPERF_DIR:-/tmp/ssperf}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
CALLS=2000
SECONDS_MEDIA=5
ROUNDS=3
SEED=1
WORKERS=""
PROFILE=0
TSHARK=1
LIMIT=900 # seconds any one timed command may take

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) CALLS=200; ROUNDS=2 ;;
    --calls) CALLS="$2"; shift ;;
    --seconds) SECONDS_MEDIA="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --seed) SEED="$2"; shift ;;
    --workers) WORKERS="$2"; shift ;;
    --profile) PROFILE=1 ;;
    --no-tshark) TSHARK=0 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "offline.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 10 ] || { echo "offline.sh: --rounds must be 1..10" >&2; exit 2; }

. "$ROOT/benches/common.sh"
need tcpdump tcpdump
need capinfos tshark
need tshark tshark
[ -x /usr/bin/time ] || need /usr/bin/time time
[ "$PROFILE" = 0 ] || need perf linux-perf

build_bins

FILE="$OUT/calls${CALLS}x${SECONDS_MEDIA}s-seed${SEED}.pcap"
if [ ! -s "$FILE" ] || [ "$GEN" -nt "$FILE" ]; then
    echo "== generating $FILE"
    "$GEN" --calls "$CALLS" --seconds "$SECONDS_MEDIA" --seed "$SEED" --out "$FILE" | tee "$FILE.gen.txt"
fi
PACKETS=$(capinfos -c -M "$FILE" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}')
SIZE=$(stat -c %s "$FILE")
echo "== capture: $PACKETS packets, $((SIZE / 1048576)) MiB"

AUDIT=("$BIN" audit "$FILE" --format prometheus)
[ -z "$WORKERS" ] || AUDIT+=(--workers "$WORKERS")
TCPDUMP=(tcpdump -r "$FILE" -w /dev/null)
TSHARK_CMD=(tshark -q -n -r "$FILE" -z "sip,stat" -z "rtp,streams")

# Sanity: the audit counts every frame, and what it found.
"${AUDIT[@]}" >"$OUT/audit.prom"
AUDIT_PACKETS=$(awk '/^sipsentinel_capture_packets_total/ {print $2}' "$OUT/audit.prom")
AUDIT_SIP=$(awk '/^sipsentinel_sip_messages_total/ {s += $2} END {print s + 0}' "$OUT/audit.prom")
echo "== audit counted $AUDIT_PACKETS frames (capinfos: $PACKETS), $AUDIT_SIP SIP messages"
if [ "$AUDIT_PACKETS" != "$PACKETS" ]; then
    echo "WARNING: audit frame count differs from capinfos" >&2
fi

declare -A WALL RSS CPU
run_one() { # run_one NAME CMD...
    local name="$1"; shift
    local tf="$OUT/time.$name"
    sync
    if ! timeout "$LIMIT" /usr/bin/time -f '%e %M %U %S' -o "$tf" "$@" >/dev/null 2>"$OUT/stderr.$name"; then
        echo "FAILED: $name (see $OUT/stderr.$name)" >&2
        tail -3 "$OUT/stderr.$name" >&2
        return 1
    fi
    local e m u s
    read -r e m u s < <(tail -1 "$tf")
    WALL[$name]+="$e "
    RSS[$name]+="$m "
    CPU[$name]+="$(echo "$u + $s" | bc) "
    printf '   %-8s %7.2f s wall  %7.2f s cpu  %8d KiB max RSS\n' "$name" "$e" "$(echo "$u + $s" | bc)" "$m"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
maxof() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -1; }

NAMES=(audit tcpdump)
[ "$TSHARK" = 0 ] || NAMES+=(tshark)
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
    echo "== round $r/$ROUNDS"
    # Rotate the order so no tool always runs with a warm or cold page cache.
    n=${#NAMES[@]}
    for i in $(seq 0 $((n - 1))); do
        name=${NAMES[$(((i + r - 1) % n))]}
        case "$name" in
        audit) run_one audit "${AUDIT[@]}" ;;
        tcpdump) run_one tcpdump "${TCPDUMP[@]}" ;;
        tshark) run_one tshark "${TSHARK_CMD[@]}" ;;
        esac
    done
done

A=$(echo "${WALL[audit]}" | median)
T=$(echo "${WALL[tcpdump]}" | median)
AC=$(echo "${CPU[audit]}" | median)
TC=$(echo "${CPU[tcpdump]}" | median)
ratio() { # ratio A B: A/B with 2 decimals, or n/a when B is 0
    if [ "$(echo "$2 > 0" | bc)" = 1 ]; then printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; else echo n/a; fi
}
R1=$(ratio "$A" "$T")
R1C=$(ratio "$AC" "$TC")
verdict1=$(echo "$A <= 1.5 * $T" | bc)
verdict1c=$(echo "$AC <= 2 * $TC" | bc)
verdict2=1
if [ "$TSHARK" = 1 ]; then
    S=$(echo "${WALL[tshark]}" | median)
    SC=$(echo "${CPU[tshark]}" | median)
    R2=$(ratio "$S" "$A")
    R2C=$(ratio "$SC" "$AC")
    verdict2=$(echo "$S >= 20 * $A" | bc)
fi
met() { [ "$1" = 1 ] && echo met || echo NOT MET; }
RES="$OUT/offline-results.txt"
{
    echo "offline: $PACKETS packets ($((SIZE / 1048576)) MiB, $CALLS calls x ${SECONDS_MEDIA} s), $ROUNDS rounds, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), medians"
    printf '%-8s %9s %9s %12s %14s\n' tool wall_s cpu_s max_rss_KiB Mpkt/s_wall
    for name in "${NAMES[@]}"; do
        w=$(echo "${WALL[$name]}" | median)
        printf '%-8s %9.2f %9.2f %12d %14.2f\n' "$name" "$w" "$(echo "${CPU[$name]}" | median)" \
            "$(echo "${RSS[$name]}" | maxof)" "$(echo "scale=3; $PACKETS / $w / 1000000" | bc)"
    done
    echo "audit/tcpdump: wall $R1 (target <= 1.5: $(met "$verdict1")), cpu $R1C (target <= 2: $(met "$verdict1c"))"
    [ "$TSHARK" = 0 ] || echo "tshark/audit: wall $R2, cpu $R2C (target wall >= 20: $(met "$verdict2"))"
    echo "raw wall: audit [${WALL[audit]% }] tcpdump [${WALL[tcpdump]% }]$([ "$TSHARK" = 0 ] || echo " tshark [${WALL[tshark]% }]")"
    echo "raw cpu:  audit [${CPU[audit]% }] tcpdump [${CPU[tcpdump]% }]$([ "$TSHARK" = 0 ] || echo " tshark [${CPU[tshark]% }]")"
} | tee "$RES"

if [ "$PROFILE" = 1 ] || [ "$verdict1" != 1 ] || [ "$verdict1c" != 1 ] || [ "$verdict2" != 1 ]; then
    echo "== profiling the audit"
    need perf linux-perf
    if perf record -q -F 999 -g -o "$OUT/perf.data" -- "${AUDIT[@]}" >/dev/null 2>"$OUT/perf.err"; then
        perf report -i "$OUT/perf.data" --no-children -g none --sort comm,dso,symbol --stdio 2>/dev/null |
            grep -E '^ +[0-9]' | sed 's/ *$//' | head -30 | tee "$OUT/offline-profile.txt" || true
        echo "(per thread: perf report -i $OUT/perf.data --no-children --sort comm,symbol --stdio)"
    else
        echo "perf failed ($(tail -1 "$OUT/perf.err")); using callgrind on a 100 k-packet file"
        need valgrind valgrind
        small="$OUT/calls200x5s-seed$SEED.pcap"
        [ -s "$small" ] || "$GEN" --calls 200 --seconds 5 --seed "$SEED" --out "$small" >/dev/null
        valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$BIN" audit "$small" --format prometheus >/dev/null 2>&1
        callgrind_annotate "$OUT/callgrind.out" 2>/dev/null | head -40 | tee "$OUT/offline-profile.txt" || true
    fi
fi
echo "== results in $RES"

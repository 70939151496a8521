#!/usr/bin/env bash
# Fuzz every target for SECONDS each (default 600), two at a time, seeded
# from the capture corpus; crashes are minimized into tests/regressions/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs: cargo-fuzz (`cargo install cargo-fuzz`), tshark and editcap (seed
# extraction), python3. Stable Rust works: RUSTC_BOOTSTRAP=1 unlocks the
# -Z flags cargo-fuzz passes. Env: SIPSENTINEL_CORPUS (default
# ../shared/corpus), JOBS (default 2), CARGO_TARGET_DIR (default fuzz/target).
# Writes fuzz/logs/<target>.log and a summary table fuzz/logs/summary.tsv
# (target, seconds, runs, exec/s, coverage, features, corpus, crashes).
set -euo pipefail
cd "$(dirname "$0")"
SECS=${1:-600}
shift || true
ALL=(decode_frame sip_parse sip_stream ws_frame sdp rtp_classify defrag_tcp whole_path nested)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
JOBS=${JOBS:-2}
CORPUS=${SIPSENTINEL_CORPUS:-../../shared/corpus}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

command -v cargo-fuzz >/dev/null || { echo "run.sh: cargo install cargo-fuzz" >&2; exit 1; }
if [ ! -d seeds ] && [ -d "$CORPUS" ]; then
  echo "run.sh: extracting seeds from $CORPUS"
  python3 extract_seeds.py "$CORPUS" seeds
fi
cargo fuzz build -O --debug-assertions

mkdir -p logs
run_one() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  local seeds=()
  [ -d "seeds/$t" ] && seeds+=("seeds/$t")
  [ -d "../tests/regressions/$t" ] && seeds+=("../tests/regressions/$t")
  # A crash stops that target (libFuzzer default); it is saved in artifacts/
  # and minimized into tests/regressions/ below.
  cargo fuzz run -O --debug-assertions "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=5 -max_len=131072 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
    >"logs/$t.log" 2>&1 || true
}

running=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

# Summary and crash collection.
printf 'target\tseconds\truns\texec_per_s\tcov\tft\tcorpus\tcrashes\n' >logs/summary.tsv
for t in "${TARGETS[@]}"; do
  log=logs/$t.log
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  eps=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*')
  ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*')
  corp=$(echo "$last" | grep -o 'corp: [0-9]*' | grep -o '[0-9]*')
  crashes=0
  for a in artifacts/"$t"/crash-* artifacts/"$t"/oom-* artifacts/"$t"/timeout-* artifacts/"$t"/leak-*; do
    [ -f "$a" ] || continue
    crashes=$((crashes + 1))
    mkdir -p "../tests/regressions/$t"
    min="../tests/regressions/$t/$(basename "$a")"
    if [ ! -f "$min" ]; then
      cargo fuzz tmin -O --debug-assertions "$t" "$a" -- -runs=20000 >"logs/$t.tmin.log" 2>&1 || true
      m=$(ls -t artifacts/"$t"/minimized-from-* 2>/dev/null | head -1 || true)
      cp "${m:-$a}" "$min"
    fi
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$SECS" "${runs:-?}" "${eps:-?}" \
    "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes" >>logs/summary.tsv
done
column -t logs/summary.tsv

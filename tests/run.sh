#!/usr/bin/env bash
# The test command (README quickstart, and what .ci/run calls).
# Installs the system packages the tests need when they are missing, then
# runs format and lint checks and the whole test suite. Needs root for the
# package install and for the live tests (network namespaces, capture).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
have tshark   || need+=(tshark)
have capinfos || need+=(wireshark-common)
have sipp     || need+=(sip-tester)
have tcpdump  || need+=(tcpdump)
have ip       || need+=(iproute2)
have promtool || need+=(prometheus)
have systemd-analyze || need+=(systemd)
if ((${#need[@]})); then
  echo "tests/run.sh: installing ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: need root to install ${need[*]} (or install them first)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Namespaced live tests take a global lock inside the harness; the rest run
# in parallel.
cargo test --all-targets --locked

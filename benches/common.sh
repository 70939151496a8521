# Shared by the bench scripts (sourced, not run): package installs and the
# veth-in-a-namespace setup of the live scripts.

# need CMD PACKAGE: install PACKAGE (Debian) when CMD is missing.
need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "== installing $2 (for $1)"
    [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# veth_up NS HOST_IF NS_IF: a namespace NS holding NS_IF, whose peer
# HOST_IF stays in the root namespace (the side that is captured). No
# address on either end and IPv6 off on both, so replayed frames are
# neither routed nor answered: the traffic exists only inside the pair.
veth_up() {
    local ns=$1 host_if=$2 ns_if=$3
    veth_down "$ns" "$host_if"
    ip netns add "$ns"
    ip link add "$host_if" type veth peer name "$ns_if"
    ip link set "$ns_if" netns "$ns"
    sysctl -qw "net.ipv6.conf.$host_if.disable_ipv6=1"
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ns_if.disable_ipv6=1"
    ip link set "$host_if" up
    ip netns exec "$ns" ip link set "$ns_if" up
    ip netns exec "$ns" ip link set lo up
}

# veth_down NS HOST_IF: remove what veth_up made (quietly, if present).
veth_down() {
    ip netns del "$1" 2>/dev/null || true
    ip link del "$2" 2>/dev/null || true
}

# start_sensor LOG ARGS...: run the sensor in the background (SENSOR_PID)
# and wait up to 10 s for /healthz on 127.0.0.1:$PORT.
start_sensor() {
    local log=$1
    shift
    "$BIN" run "$@" >"$log" 2>&1 &
    SENSOR_PID=$!
    for _ in $(seq 1 50); do
        curl -fsS --max-time 1 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    curl -fsS --max-time 2 "http://127.0.0.1:$PORT/healthz" >/dev/null || {
        echo "sensor did not come up:" >&2
        tail -5 "$log" >&2
        exit 1
    }
}

# build_bins [EXTRA CARGO ARGS]: release build of the sensor and the
# generator; sets BIN and GEN.
build_bins() {
    mkdir -p "$OUT"
    echo "== building release binaries (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$ROOT" && cargo build --release --quiet --bin sipsentinel --example gen "$@")
    BIN="$CARGO_TARGET_DIR/release/sipsentinel"
    GEN="$CARGO_TARGET_DIR/release/examples/gen"
}

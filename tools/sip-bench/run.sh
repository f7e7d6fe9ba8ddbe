#!/usr/bin/env bash
# Signalling benchmark: the highest call rate with under 0.1 % failed calls,
# sipp through siproxd-rs versus sipp to sipp directly, in the same run.
#
# Zero-length calls without media (INVITE/180/200/ACK/BYE/200). Run as root:
#   tools/sip-bench/run.sh [seconds-per-step]
# It builds the release binary, creates its own network namespaces (TEST-NET
# addresses only), and removes them on exit, also on failure or Ctrl-C.
#
#   phone ns 192.0.2.10 ── router ns (siproxd, no IP forwarding) ── far ns 198.51.100.2
#
# Baseline: sipp UAC and UAS talk directly inside the far namespace.
# Reported: per rate step, the achieved rate, successful and failed calls; the
# highest rate with under 0.1 % failures (a step whose achieved rate falls
# below 90 % of the offered one fails too: sipp itself stalled) for each path;
# their ratio; siproxd's CPU per 1,000 calls/s at that rate. When both paths
# stop at the same step, sipp (the same generator on the same 2 cores) is the
# limit, not the proxy.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEP_SECS=${1:-4}
read -r -a RATES <<< "${RATES:-500 1000 2000 3000 4000 5000 6000 7000 8000 10000}"
PATHS=${PATHS:-direct proxy}
[ "$(id -u)" = 0 ] || { echo "sip-bench: run as root (network namespaces)" >&2; exit 1; }
command -v sipp >/dev/null || { echo "sip-bench: sipp missing (apt-get install sip-tester)" >&2; exit 1; }

cargo build --release --quiet --bin siproxd
BIN=$PWD/target/release/siproxd
SC=$PWD/tools/sip-bench
# The registration uses the end-to-end tests' own scenarios.
E2E=$PWD/tests/sipp
WORK=$(mktemp -d /tmp/sip-bench.XXXXXX)
P="sb$$"
LAN=${P}l RTR=${P}r WAN=${P}w
DAEMON=
cleanup() {
    [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
    for ns in $LAN $RTR $WAN; do ip netns del "$ns" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "sip-bench: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

for ns in $LAN $RTR $WAN; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add ${P}a type veth peer name ${P}b
ip link set ${P}a netns $RTR; ip link set ${P}b netns $LAN
ip -n $RTR link set ${P}a name lan0; ip -n $LAN link set ${P}b name eth0
ip link add ${P}c type veth peer name ${P}d
ip link set ${P}c netns $RTR; ip link set ${P}d netns $WAN
ip -n $RTR link set ${P}c name wan0; ip -n $WAN link set ${P}d name eth0
ip -n $RTR addr add 192.0.2.1/24 dev lan0;     ip -n $LAN addr add 192.0.2.10/24 dev eth0
ip -n $RTR addr add 198.51.100.1/24 dev wan0;  ip -n $WAN addr add 198.51.100.2/24 dev eth0
ip -n $WAN addr add 198.51.100.3/24 dev eth0
for x in "$RTR lan0" "$RTR wan0" "$LAN eth0" "$WAN eth0"; do set -- $x; ip -n "$1" link set "$2" up; done
ip -n $LAN route add default via 192.0.2.1
ip netns exec $RTR sysctl -qw net.ipv4.ip_forward=0

cat > "$WORK/siproxd.conf" <<EOF
if_inbound = lan0
if_outbound = wan0
sip_listen_port = 5060
rtp_proxy_enable = 0
silence_log = 3
EOF
ip netns exec $RTR "$BIN" -f -c "$WORK/siproxd.conf" 2>"$WORK/daemon.log" &
DAEMON=$!
sleep 0.5

# The phone registers once, so that its calls are known to come from the LAN.
( cd "$WORK" && ip netns exec $WAN sipp -sf "$E2E/provider_registrar.xml" -i 198.51.100.2 -p 5060 -m 1 -nostdin -timeout 10s >/dev/null 2>&1 ) &
REGISTRAR=$!
sleep 0.3
( cd "$WORK" && ip netns exec $LAN sipp -sf "$E2E/phone_register.xml" -i 192.0.2.10 -p 5060 -rsa 192.0.2.1:5060 \
    198.51.100.2:5060 -m 1 -nostdin -timeout 10s >/dev/null 2>&1 ) || { echo "sip-bench: registration failed" >&2; exit 1; }
wait "$REGISTRAR" || true

ticks() { awk '{print $14 + $15}' "/proc/$DAEMON/stat"; }
HZ=$(getconf CLK_TCK)

# One step: $1 = path (proxy|direct), $2 = rate, $3 = UAS port.
# Prints "ok failed cpu% achieved-rate".
step() {
    # $3: a fresh UAS port per step: a UAS left over from a failed step (it
    # waits for calls that never came) must not answer this step's calls.
    local path=$1 rate=$2 calls=$(( $2 * STEP_SECS )) dir="$WORK/$1-$2" UAS_PORT=$3
    mkdir -p "$dir"
    ( cd "$dir" && exec ip netns exec $WAN sipp -sf "$SC/uas.xml" -i 198.51.100.2 -p $UAS_PORT -buff_size 4194304 -nostdin \
        -trace_stat -stf uas.csv -timeout $(( STEP_SECS + 20 ))s -m "$calls" >/dev/null 2>&1 ) &
    local uas=$!
    sleep 0.3
    local t0 c0
    t0=$(date +%s.%N); c0=$(ticks)
    if [ "$path" = proxy ]; then
        ( cd "$dir" && ip netns exec $LAN sipp -sf "$SC/uac.xml" -i 192.0.2.10 -p 5062 -rsa 192.0.2.1:5060 \
            198.51.100.2:$UAS_PORT -r "$rate" -m "$calls" -l 20000 -buff_size 4194304 -nostdin -trace_stat -stf uac.csv \
            -timeout $(( STEP_SECS + 15 ))s >/dev/null 2>&1 ) || true
    else
        ( cd "$dir" && ip netns exec $WAN sipp -sf "$SC/uac.xml" -i 198.51.100.3 -p 5062 \
            198.51.100.2:$UAS_PORT -r "$rate" -m "$calls" -l 20000 -buff_size 4194304 -nostdin -trace_stat -stf uac.csv \
            -timeout $(( STEP_SECS + 15 ))s >/dev/null 2>&1 ) || true
    fi
    local t1 c1
    t1=$(date +%s.%N); c1=$(ticks)
    kill -USR1 "$DAEMON" 2>/dev/null || true
    # Where datagrams were lost: UDP receive-buffer drops per namespace.
    for ns in $LAN $RTR $WAN; do
        echo "$ns $(ip netns exec "$ns" awk '/^Udp:/{n++; if(n==2) print "InErrors=" $4, "RcvbufErrors=" $6, "SndbufErrors=" $7}' /proc/net/snmp)" >> "$dir/udp-drops.txt"
    done
    kill "$uas" 2>/dev/null || true; wait "$uas" 2>/dev/null || true
    # Last line of sipp's statistics: cumulative successful and failed calls.
    local ok failed
    ok=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="SuccessfulCall(C)")s=i;if($i=="FailedCall(C)")f=i}} END{print $s}' "$dir/uac.csv")
    failed=$(awk -F';' 'NR==1{for(i=1;i<=NF;i++){if($i=="SuccessfulCall(C)")s=i;if($i=="FailedCall(C)")f=i}} END{print $f}' "$dir/uac.csv")
    local lost=$(( calls - ok - failed ))
    [ $lost -gt 0 ] && failed=$(( failed + lost ))
    local cpu achieved
    cpu=$(awk -v a="$c0" -v b="$c1" -v t0="$t0" -v t1="$t1" -v hz="$HZ" 'BEGIN{printf "%.1f", 100*(b-a)/hz/(t1-t0)}')
    # The rate sipp really achieved: calls over the wall time of the step.
    achieved=$(awk -v n="$((ok + failed))" -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.0f", n/(t1-t0)}')
    echo "$ok $failed $cpu $achieved"
}

declare -A BEST=([proxy]=0 [direct]=0) CPU_AT
port=5070
printf '%-7s %6s %9s %8s %7s %8s %s\n' path rate achieved ok failed fail% "siproxd cpu%"
for path in $PATHS; do
    for rate in "${RATES[@]}"; do
        port=$((port + 1))
        read -r ok failed cpu achieved < <(step "$path" "$rate" "$port")
        pct=$(awk -v f="$failed" -v o="$ok" 'BEGIN{t=f+o; printf "%.3f", t ? 100*f/t : 100}')
        [ "$path" = direct ] && cpu="-"
        printf '%-7s %6s %9s %8s %7s %8s %s\n' "$path" "$rate" "$achieved" "$ok" "$failed" "$pct" "$cpu"
        # A step passes with < 0.1 % failed calls and at least 90 % of the
        # offered rate really achieved (else the generator stalled).
        if awk -v p="$pct" -v a="$achieved" -v r="$rate" 'BEGIN{exit !(p < 0.1 && a >= 0.9 * r)}'; then
            BEST[$path]=$achieved; CPU_AT[$path]=$cpu
        else
            break
        fi
    done
done
echo
echo "highest achieved rate with < 0.1 % failed calls (and >= 90 % of the offered rate): direct ${BEST[direct]} calls/s, through siproxd-rs ${BEST[proxy]} calls/s"
awk -v p="${BEST[proxy]}" -v d="${BEST[direct]}" 'BEGIN{ if (d) printf "ratio proxy/direct: %.2f\n", p/d }'
if [ "${BEST[proxy]}" -gt 0 ]; then
    awk -v c="${CPU_AT[proxy]}" -v r="${BEST[proxy]}" 'BEGIN{printf "siproxd-rs CPU at %d calls/s: %.1f %% of a core = %.1f %% per 1,000 calls/s\n", r, c, 1000*c/r}'
fi

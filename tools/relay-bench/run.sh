#!/usr/bin/env bash
# RTP relay benchmark: siproxd-rs relay vs kernel forwarding, in three network namespaces.
#
#   sudo tools/relay-bench/run.sh [--quick] [--threads N]
#
#   [LAN ns] 192.0.2.2 ──veth── 192.0.2.1 [router ns] 198.51.100.1 ──veth── 198.51.100.2 [WAN ns]
#    LAN peer                     relay (or ip_forward=1)                       WAN peer
#
# TEST-NET addresses only. Namespaces and veths carry this shell's PID in their names and are
# deleted on exit, error or interrupt. Takes about 1.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" -eq 0 ] || { echo "run as root (ip netns)" >&2; exit 1; }

cargo build --release -q -p relay-bench
BIN="$PWD/target/release/relay-bench"

ID=$$
LAN="rb-lan-$ID" RTR="rb-rtr-$ID" WAN="rb-wan-$ID"
cleanup() {
    trap - EXIT INT TERM
    for ns in "$LAN" "$RTR" "$WAN"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

for ns in "$LAN" "$RTR" "$WAN"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
done
ip link add "rbl$ID" netns "$LAN" type veth peer name "rbrl$ID" netns "$RTR"
ip link add "rbw$ID" netns "$WAN" type veth peer name "rbrw$ID" netns "$RTR"
ip -n "$LAN" addr add 192.0.2.2/24 dev "rbl$ID"
ip -n "$RTR" addr add 192.0.2.1/24 dev "rbrl$ID"
ip -n "$RTR" addr add 198.51.100.1/24 dev "rbrw$ID"
ip -n "$WAN" addr add 198.51.100.2/24 dev "rbw$ID"
for pair in "$LAN:rbl$ID" "$RTR:rbrl$ID" "$RTR:rbrw$ID" "$WAN:rbw$ID"; do
    ip -n "${pair%%:*}" link set "${pair#*:}" up
done
ip -n "$LAN" route add 198.51.100.0/24 via 192.0.2.1
ip -n "$WAN" route add 192.0.2.0/24 via 198.51.100.1

# Static neighbour entries (no ARP), so no step loses its first packets to resolution.
mac() { ip -n "$1" -br link show dev "$2" | awk '{print $3}'; }
ip -n "$LAN" neigh replace 192.0.2.1 lladdr "$(mac "$RTR" "rbrl$ID")" dev "rbl$ID" nud permanent
ip -n "$RTR" neigh replace 192.0.2.2 lladdr "$(mac "$LAN" "rbl$ID")" dev "rbrl$ID" nud permanent
ip -n "$RTR" neigh replace 198.51.100.2 lladdr "$(mac "$WAN" "rbw$ID")" dev "rbrw$ID" nud permanent
ip -n "$WAN" neigh replace 198.51.100.1 lladdr "$(mac "$RTR" "rbrw$ID")" dev "rbw$ID" nud permanent

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$BIN" run --ns-lan "$LAN" --ns-router "$RTR" --ns-wan "$WAN" "$@"

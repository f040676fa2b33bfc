#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nfq.sh - packet-path bench: npshim against no queue, an accept-all NFQUEUE
# reader and 1,000 linear iptables rules, side by side in one run.
#
#   client netns 10.200.0.2 ---- node netns (FORWARD) ---- server netns 10.200.1.2
#   probe load tcp|udp           one configuration          netserve --sink
#                                 at a time (below)
#
# Configurations, run alternately (ROUNDS rounds, each config once per round,
# so drift on this shared machine hits all of them alike):
#   none       no rule, no queue (the kernel's forwarding cost)
#   acceptall  NEW packets -> NFQUEUE (balanced over QUEUES, bypass) ->
#              build/tools/nfq_acceptall: batched accept-all verdicts, the
#              user-space limit
#   iptables   1,000 linear iptables rules that the bench flows traverse,
#              (ESTABLISHED accepted first, as kube-router does)
#   npshim     npshim run --mode enforce --fail-open over a generated cluster
#              of 10,000 pods / 1,000 policies in which both bench pods are
#              isolated and the flows are allowed by policy
# plus one npshim run with SIGHUP every 0.5 s during the TCP load (a model
# rebuild each time), to see whether verdicts stall while it rebuilds.
#
# Figures: new TCP connections/s (N threads back to back, RST close),
# p50/p99/max connect latency, connections that took >= 500 ms (a lost SYN,
# retransmitted after 1 s); new UDP flows/s offered open-loop and
# actually verdicted, counted from /proc/net/netfilter/nfnetlink_queue
# (id_sequence: packets handed to the reader) and the reader's own count, with
# the bypass share (flows the server received that no reader verdicted: under
# fail-open an overloaded reader lets them through unchecked); the reader's
# CPU (cores busy). Ratios are against acceptall. Nothing here asserts timing.
#
# Env: ROUNDS (2), TCP_SECS (3), UDP_SECS (2), UDP_RATE (30000), TCP_THREADS (4),
# QUEUES (0:1), CONFIGS ("none acceptall iptables npshim").
set -eu
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
NPSHIM=${NPSHIM:-$top/npshim}
NPSHIM_BUILD=${NPSHIM_BUILD:-$top/build}
E2E_SUITE=bench-nfq
E2E_NEED_TOOLS="nfq_acceptall gencluster"
# shellcheck source=../e2e/lib.sh
. "$top/test/e2e/lib.sh"

ROUNDS=${ROUNDS:-2}
TCP_SECS=${TCP_SECS:-3}
UDP_SECS=${UDP_SECS:-2}
# UDP is offered at one fixed rate to every configuration (open loop), so
# verdicted flows and bypass compare at equal load; UDP_RATE= (empty) sends
# as fast as the client can, which then depends on what the reader leaves
# of the CPU.
UDP_RATE=${UDP_RATE-30000}
TCP_THREADS=${TCP_THREADS:-4}
QUEUES=${QUEUES:-0:1}
CLIENT_IP=10.200.0.2
SERVER_IP=10.200.1.2
HZ=$(getconf CLK_TCK)

e2e_init
CLIENT="$PFX-client"
SERVER="$PFX-server"
netns_add "$CLIENT" "$CLIENT_IP"
netns_add "$SERVER" "$SERVER_IP"
ip netns exec "$CLIENT" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
# A full accept queue drops SYNs; the server must not be the bottleneck.
ip netns exec "$SERVER" sysctl -qw net.core.somaxconn=65535
ip netns exec "$SERVER" sysctl -qw net.ipv4.tcp_max_syn_backlog=65535
# Bench flows are one packet (UDP) or one handshake (TCP): conntrack must
# forget them fast, or a reused tuple is no longer NEW and never queued, and
# the shared conntrack table would fill.
nn sysctl -qw net.netfilter.nf_conntrack_udp_timeout=1 2>/dev/null || true
nn sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close=1 2>/dev/null || true
nn sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 2>/dev/null || true

ip netns exec "$SERVER" "$TOOLS/netserve" --daemon --sink --tcp 8080 --udp 20000-20255 \
	--pidfile "$E2E_TMP/server.pid" --stats "$E2E_TMP/server.stats"
SERVER_PID=$(cat "$E2E_TMP/server.pid")
E2E_PIDS+=("$SERVER_PID")

echo "generating the 10k-pod / 1k-policy cluster"
"$TOOLS/gencluster" --bench-client "$CLIENT_IP" --bench-server "$SERVER_IP" >"$E2E_TMP/cluster.json"
sim=$(printf '{"src":"%s","dst":"%s","protocol":"TCP","port":8080}\n{"src":"%s","dst":"%s","protocol":"UDP","port":20100}\n' \
	"$CLIENT_IP" "$SERVER_IP" "$CLIENT_IP" "$SERVER_IP" |
	"$NPSHIM" simulate --cluster "$E2E_TMP/cluster.json" | jq -r '.verdict + "/" + .reason.ingress.state' | tr '\n' ' ') ||
	sim="(npshim simulate failed)"
echo "engine on the bench flows (TCP 8080, UDP 20100): $sim"

# iptables-restore input for the 1,000-rule reference: sources that never
# match, so each NEW packet walks the whole chain to the final ACCEPT.
{
	echo "*filter"
	echo "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"
	for i in $(seq 0 999); do
		echo "-A FORWARD -s 10.100.$((i / 250)).$((i % 250 + 1))/32 -d $SERVER_IP/32 -p tcp -m tcp --dport 8080 -j ACCEPT"
	done
	echo "-A FORWARD -j ACCEPT"
	echo "COMMIT"
} >"$E2E_TMP/iptables1k.rules"

READER_PID=
cfg_up() {
	case $1 in
	none) ;;
	iptables)
		nn iptables-restore <"$E2E_TMP/iptables1k.rules"
		;;
	acceptall)
		printf '*filter\n-A FORWARD -m conntrack --ctstate NEW -j NFQUEUE --queue-balance %s --queue-bypass --queue-cpu-fanout\nCOMMIT\n' "$QUEUES" |
			nn iptables-restore
		ip netns exec "$NODE" "$TOOLS/nfq_acceptall" --queues "$QUEUES" --fail-open \
			--stats "$E2E_TMP/acceptall.stats" >/dev/null &
		READER_PID=$!
		E2E_PIDS+=("$READER_PID")
		sleep 0.3
		;;
	npshim | npshim-rebuild)
		npshim_start --cluster "$E2E_TMP/cluster.json" --mode enforce --fail-open \
			--queues "$QUEUES" --rules install
		READER_PID=$NPSHIM_PID
		;;
	esac
}

cfg_down() {
	case $1 in
	none) ;;
	iptables) nn iptables -F FORWARD ;;
	acceptall)
		kill -TERM "$READER_PID"
		wait "$READER_PID" || true
		nn iptables -F FORWARD
		;;
	npshim | npshim-rebuild)
		npshim_stop || echo "  npshim exited non-zero on SIGTERM"
		;;
	esac
	READER_PID=
}

# Sum of a column of nfnetlink_queue over every queue line (node netns):
# 3 queue_total, 6 queue_dropped, 7 user_dropped, 8 id_sequence.
nfq_sum() {
	ip netns exec "$NODE" cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
		awk -v c="$1" '{ s += $c } END { print s + 0 }'
}

cpu_ticks() {
	[ -n "$READER_PID" ] || { echo 0; return; }
	awk '{ print $14 + $15 }' "/proc/$READER_PID/stat" 2>/dev/null || echo 0
}

server_udp() {
	kill -USR1 "$SERVER_PID"
	sleep 0.1
	jq -r .udp_datagrams "$E2E_TMP/server.stats"
}

# Reader-side count of packets received, where the reader says (npshim
# status); empty when unknown.
reader_received() {
	case $1 in
	npshim*) npshim_status 2>/dev/null | jq -r '.totals.received // empty' 2>/dev/null ;;
	esac
}

RESULTS="$E2E_TMP/results"
: >"$RESULTS"
record() { echo "$1 $2 $3" >>"$RESULTS"; }

measure() {
	local cfg=$1 tcp c0 c1 t0 t1 q0 q1 d0 d1 u0 u1 r0 r1 k0 k1 udp hup_pid= sent verdicted delivered bypass
	c0=$(cpu_ticks)
	t0=$(date +%s.%N)
	k0=$(($(nfq_sum 6) + $(nfq_sum 7)))
	if [ "$cfg" = npshim-rebuild ]; then
		(
			sleep 0.5
			while kill -HUP "$READER_PID" 2>/dev/null; do sleep 0.5; done
		) &
		hup_pid=$!
	fi
	tcp=$(ip netns exec "$CLIENT" "$TOOLS/probe" load tcp "$SERVER_IP" 8080 \
		--duration "$TCP_SECS" --parallel "$TCP_THREADS" --timeout 2000)
	if [ -n "$hup_pid" ]; then
		kill "$hup_pid" 2>/dev/null || true
		wait "$hup_pid" 2>/dev/null || true
	fi
	record "$cfg" conn_per_sec "$(jq .conn_per_sec <<<"$tcp")"
	record "$cfg" p50_us "$(jq .p50_us <<<"$tcp")"
	record "$cfg" p99_us "$(jq .p99_us <<<"$tcp")"
	record "$cfg" max_us "$(jq .max_us <<<"$tcp")"
	record "$cfg" tcp_timeouts "$(jq .timeouts <<<"$tcp")"
	record "$cfg" tcp_slow_500ms "$(jq .slow_500ms <<<"$tcp")"
	[ "$cfg" = npshim-rebuild ] && return 0

	q0=$(nfq_sum 8) d0=$(nfq_sum 6) u0=$(server_udp) r0=$(reader_received "$cfg")
	udp=$(ip netns exec "$CLIENT" "$TOOLS/probe" load udp "$SERVER_IP" 20000 \
		--duration "$UDP_SECS" --parallel 1 --ports 256 ${UDP_RATE:+--rate "$UDP_RATE"})
	sleep 0.5
	q1=$(nfq_sum 8) d1=$(nfq_sum 6) u1=$(server_udp) r1=$(reader_received "$cfg")
	c1=$(cpu_ticks)
	t1=$(date +%s.%N)
	sent=$(jq .flows_sent <<<"$udp")
	delivered=$((u1 - u0))
	verdicted=$((q1 - q0))
	record "$cfg" udp_kernel_queued_per_sec "$(awk -v s="$verdicted" -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
	if [ -n "$r0" ] && [ -n "$r1" ]; then
		record "$cfg" udp_reader_received_per_sec "$(awk -v s=$((r1 - r0)) -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
		[ $((r1 - r0)) -ge "$verdicted" ] || verdicted=$((r1 - r0))
	fi
	case $cfg in
	none | iptables) verdicted=0 bypass=0 ;;
	*) bypass=$((delivered > verdicted ? delivered - verdicted : 0)) ;;
	esac
	record "$cfg" udp_sent_per_sec "$(awk -v s="$sent" -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
	record "$cfg" udp_delivered_per_sec "$(awk -v s="$delivered" -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
	record "$cfg" udp_verdicted_per_sec "$(awk -v s="$verdicted" -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
	record "$cfg" udp_bypass_share "$(awk -v b="$bypass" -v s="$sent" 'BEGIN { printf "%.4f", s ? b / s : 0 }')"
	record "$cfg" udp_queue_dropped "$((d1 - d0))"
	k1=$(($(nfq_sum 6) + $(nfq_sum 7)))
	record "$cfg" kernel_queue_drops "$((k1 - k0))"
	record "$cfg" cpu_cores "$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", c / hz / (b - a) }')"
}

read -r -a configs <<<"${CONFIGS:-none acceptall iptables npshim}"
for round in $(seq 1 "$ROUNDS"); do
	for cfg in "${configs[@]}"; do
		echo "round $round: $cfg"
		cfg_up "$cfg"
		measure "$cfg"
		cfg_down "$cfg"
	done
done
gen0= gen1=
if [[ " ${configs[*]} " == *" npshim "* ]]; then
	echo "npshim with a model rebuild (SIGHUP) every 0.5 s during the TCP load"
	cfg_up npshim-rebuild
	gen0=$(npshim_status 2>/dev/null | jq -r '.model.generation // .generation // empty' 2>/dev/null || true)
	measure npshim-rebuild
	gen1=$(npshim_status 2>/dev/null | jq -r '.model.generation // .generation // empty' 2>/dev/null || true)
	cfg_down npshim-rebuild
fi

# Mean over rounds, then the table with ratios to acceptall.
echo
awk -v gen0="${gen0:-?}" -v gen1="${gen1:-?}" '
{ sum[$1, $2] += $3; n[$1, $2]++; seen[$2] = 1 }
function v(c, m) { return n[c, m] ? sum[c, m] / n[c, m] : -1 }
function cell(c, m, fmt,   x) { x = v(c, m); return x < 0 ? "-" : sprintf(fmt, x) }
function ratio(c, m,   a, b) { a = v(c, m); b = v("acceptall", m);
	return (a < 0 || b <= 0) ? "-" : sprintf("%.2fx", a / b) }
END {
	split("none acceptall iptables npshim npshim-rebuild", cfgs, " ")
	split("conn_per_sec p50_us p99_us max_us tcp_timeouts tcp_slow_500ms udp_sent_per_sec udp_delivered_per_sec udp_kernel_queued_per_sec udp_reader_received_per_sec udp_verdicted_per_sec udp_bypass_share udp_queue_dropped kernel_queue_drops cpu_cores", ms, " ")
	printf "%-24s", "figure (mean of rounds)"
	for (i = 1; i <= 5; i++) printf " %15s", cfgs[i]
	printf "\n"
	for (j = 1; j <= 15; j++) {
		m = ms[j]
		fmt = (m ~ /share/) ? "%.4f" : (m ~ /cpu/ ? "%.3f" : "%.0f")
		printf "%-24s", m
		for (i = 1; i <= 5; i++) printf " %15s", cell(cfgs[i], m, fmt)
		printf "\n"
	}
	printf "\nratios to acceptall      %15s %15s %15s\n", "iptables", "npshim", "npshim-rebuild"
	split("conn_per_sec p50_us p99_us max_us udp_verdicted_per_sec cpu_cores", rs, " ")
	for (j = 1; j <= 6; j++)
		printf "%-24s %15s %15s %15s\n", rs[j], ratio("iptables", rs[j]), ratio("npshim", rs[j]), ratio("npshim-rebuild", rs[j])
	printf "\nrebuild stall: npshim max connect latency %s us with SIGHUP every 0.5 s, %s us without (model generation %s -> %s)\n",
		cell("npshim-rebuild", "max_us", "%.0f"), cell("npshim", "max_us", "%.0f"), gen0, gen1
}' "$RESULTS"
echo "(issue targets, not asserted: npshim >= 0.95x acceptall conn/s and verdicted UDP flows, bypass <= 1%, p99 <= 1.1x)"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# nfq.sh - packet-path bench: npshim against no queue, accept-all NFQUEUE
# readers and 1,000 linear iptables rules, side by side in one run.
#
#   client netns 10.200.0.2 ---- node netns (FORWARD) ---- server netns 10.200.1.2
#   probe load tcp|udp           one configuration          netserve --sink
#                                 at a time (below)
#
# Configurations, run alternately (ROUNDS rounds, each config once per round,
# so drift on this shared machine hits all of them alike):
#   none       no rule, no queue (the kernel's forwarding cost)
#   acceptall  one rule: NEW packets -> NFQUEUE (balanced over QUEUES,
#              bypass) -> build/tools/nfq_acceptall: batched NF_ACCEPT
#              verdicts, the user-space limit
#   repeat     npshim's own rule set (npshim rules install: NPSHIM chain,
#              CONNMARK --save-mark, mark match) with nfq_acceptall
#              --repeat-mark: batched NF_REPEAT verdicts carrying the mark,
#              so every packet makes npshim's second pass through FORWARD.
#              Same kernel work as npshim; the ratio npshim/repeat is the
#              cost of npshim's user space alone, repeat/acceptall the cost
#              of the mark + repeat design
#   iptables   1,000 linear iptables rules that the bench flows traverse,
#              (ESTABLISHED accepted first, as kube-router does)
#   npshim     npshim run --mode enforce --fail-open over a generated cluster
#              of 10,000 pods / 1,000 policies in which both bench pods are
#              isolated and the flows are allowed by policy
# plus one npshim run with SIGHUP every 0.5 s during the TCP load (a model
# rebuild each time), to see whether verdicts stall while it rebuilds.
# Both readers use the same queue length, copy range and receive buffer
# (npshim's defaults, nfq/queue.h) and the same queue balancing.
#
# Figures: new TCP connections/s (N threads back to back, RST close),
# p50/p99/max connect latency, connections that took >= 500 ms (a lost SYN,
# retransmitted after 1 s). New UDP flows offered open-loop at each rate of
# UDP_RATES, the same rates for every configuration: flows actually
# verdicted, counted from /proc/net/netfilter/nfnetlink_queue (id_sequence:
# packets handed to the reader) and the reader's own count, with the bypass
# share (flows the server received that no reader verdicted: under fail-open
# an overloaded reader lets them through unchecked). The throughput limit of
# a configuration is the highest rate it verdicted with at most 1% bypass
# ("max" in UDP_RATES: as fast as the client can send, which then depends on
# what the reader leaves of the CPU, so it is shown but not compared). The
# reader's CPU per verdicted flow (all its threads, from schedstat, kernel
# work done in its system calls included: the re-injected packet is
# forwarded in the verdict's sendmsg) at the lowest rate. The drain figure
# is the least disturbed by the other users of this machine and by how fast
# the client sends: the reader is stopped while DRAIN_FLOWS flows queue up,
# then resumed; its CPU until the queue is empty, less what it spends idle
# over that time (idle_cpu_cores, measured just before), per flow, is its
# cost at full batching (1e6 / it = flows one core verdicts per second). Ratios are
# against repeat and acceptall. Nothing here asserts timing.
#
# Env: ROUNDS (2), TCP_SECS (3), UDP_SECS (2), UDP_RATES ("30000 60000 90000"),
# TCP_THREADS (4), QUEUES (0:1), REBUILD_SECS (8), DRAIN_FLOWS (6000),
# CONFIGS ("none acceptall repeat iptables npshim"; also npshim-alt: npshim
# run by the binary NPSHIM_ALT, e.g. a build before a change, alternated
# with the others like any configuration; npshim-lean: npshim without the
# flow database (no store thread) and without the periodic rules check
# (--rules-check 0), the packet path alone).
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
# UDP is offered at the same fixed rates to every configuration (open loop),
# so verdicted flows and bypass compare at equal load. UDP_RATE (one rate) is
# still understood.
UDP_RATES=${UDP_RATES:-${UDP_RATE:-30000 60000 90000}}
# The rebuild run's TCP load: long enough for several rebuilds of the 10k-pod
# model by the reload thread, which runs at nice 10 (slow on a busy machine).
REBUILD_SECS=${REBUILD_SECS:-8}
# Flows held while the reader is stopped (below the queue length, 8192).
DRAIN_FLOWS=${DRAIN_FLOWS:-6000}
TCP_THREADS=${TCP_THREADS:-4}
QUEUES=${QUEUES:-0:1}
CLIENT_IP=10.200.0.2
SERVER_IP=10.200.1.2
# npshim's default mark bits (npshim run --mark), used by the repeat reader.
MARK=0x4000000

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
	repeat)
		nn "$NPSHIM" rules install --queues "$QUEUES" --fail-open -4 >/dev/null
		ip netns exec "$NODE" "$TOOLS/nfq_acceptall" --queues "$QUEUES" --fail-open \
			--repeat-mark "$MARK" --stats "$E2E_TMP/repeat.stats" >/dev/null &
		READER_PID=$!
		E2E_PIDS+=("$READER_PID")
		sleep 0.3
		;;
	npshim-lean)
		NPSHIM_USE_DB=0 npshim_start --cluster "$E2E_TMP/cluster.json" --mode enforce \
			--fail-open --queues "$QUEUES" --rules install --rules-check 0
		READER_PID=$NPSHIM_PID
		;;
	npshim-alt)
		NPSHIM=$NPSHIM_ALT npshim_start --cluster "$E2E_TMP/cluster.json" --mode enforce \
			--fail-open --queues "$QUEUES" --rules install
		READER_PID=$NPSHIM_PID
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
	repeat)
		kill -TERM "$READER_PID"
		wait "$READER_PID" || true
		nn "$NPSHIM" rules remove -4
		;;
	npshim | npshim-rebuild | npshim-alt | npshim-lean)
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

# CPU time of the reader, every thread, in ns (schedstat: exact, unlike
# the tick counts of /proc/PID/stat); 0 without a reader.
cpu_ns() {
	[ -n "$READER_PID" ] || { echo 0; return; }
	cat /proc/"$READER_PID"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s + 0 }'
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

measure_tcp() {
	local cfg=$1 tcp hup_pid=
	if [ "$cfg" = npshim-rebuild ]; then
		(
			sleep 0.5
			while kill -HUP "$READER_PID" 2>/dev/null; do sleep 0.5; done
		) &
		hup_pid=$!
	fi
	tcp=$(ip netns exec "$CLIENT" "$TOOLS/probe" load tcp "$SERVER_IP" 8080 \
		--duration "$([ -n "$hup_pid" ] && echo "$REBUILD_SECS" || echo "$TCP_SECS")" \
		--parallel "$TCP_THREADS" --timeout 2000)
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
}

# One UDP run at rate $2 ("max": unpaced); figures are recorded as
# METRIC@RATE.
measure_udp() {
	local cfg=$1 rate=$2 udp q0 q1 u0 u1 r0 r1 k0 k1 c0 c1 sent verdicted delivered bypass rflag=()
	[ "$rate" = max ] || rflag=(--rate "$rate")
	k0=$(($(nfq_sum 6) + $(nfq_sum 7)))
	q0=$(nfq_sum 8) u0=$(server_udp) r0=$(reader_received "$cfg")
	# CPU from here to the end of the tail, the status query excluded.
	c0=$(cpu_ns)
	udp=$(ip netns exec "$CLIENT" "$TOOLS/probe" load udp "$SERVER_IP" 20000 \
		--duration "$UDP_SECS" --parallel 1 --ports 256 "${rflag[@]}")
	sleep 0.5
	c1=$(cpu_ns)
	q1=$(nfq_sum 8) u1=$(server_udp) r1=$(reader_received "$cfg")
	k1=$(($(nfq_sum 6) + $(nfq_sum 7)))
	sent=$(jq .flows_sent <<<"$udp")
	delivered=$((u1 - u0))
	verdicted=$((q1 - q0))
	if [ -n "$r0" ] && [ -n "$r1" ]; then
		record "$cfg" "udp_reader_received_per_sec@$rate" "$(awk -v s=$((r1 - r0)) -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
		[ $((r1 - r0)) -ge "$verdicted" ] || verdicted=$((r1 - r0))
	fi
	case $cfg in
	none | iptables) verdicted=0 bypass=0 ;;
	*) bypass=$((delivered > verdicted ? delivered - verdicted : 0)) ;;
	esac
	record "$cfg" "udp_sent_per_sec@$rate" "$(awk -v s="$sent" -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
	record "$cfg" "udp_delivered_per_sec@$rate" "$(awk -v s="$delivered" -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
	record "$cfg" "udp_verdicted_per_sec@$rate" "$(awk -v s="$verdicted" -v d="$UDP_SECS" 'BEGIN { printf "%.0f", s / d }')"
	record "$cfg" "udp_bypass_share@$rate" "$(awk -v b="$bypass" -v s="$sent" 'BEGIN { printf "%.4f", s ? b / s : 0 }')"
	record "$cfg" "kernel_queue_drops@$rate" "$((k1 - k0))"
	if [ "$verdicted" -gt 0 ]; then
		record "$cfg" "cpu_us_per_flow@$rate" "$(awk -v c=$((c1 - c0)) -v v="$verdicted" 'BEGIN { printf "%.3f", c / 1000 / v }')"
	fi
	record "$cfg" "cpu_cores@$rate" "$(awk -v c=$((c1 - c0)) -v d="$UDP_SECS" 'BEGIN { printf "%.3f", c / 1e9 / (d + 0.5) }')"
}

# The reader's cost per flow at full batching, whatever the sender manages:
# stop the reader, queue DRAIN_FLOWS new UDP flows (fewer than the queue
# length, so none is bypassed), let it go and take the CPU it spends until
# the queue is empty. 1e6 / this figure is what one core verdicts per second.
measure_drain() {
	local cfg=$1 held c0 c1 t0 t1 i0 i1 idle i
	[ -n "$READER_PID" ] || return 0
	# What the reader spends with no traffic at all (timers, pollers),
	# per second: taken out of the drain figure and shown on its own.
	i0=$(cpu_ns)
	sleep 1
	i1=$(cpu_ns)
	idle=$((i1 - i0))
	record "$cfg" idle_cpu_cores "$(awk -v c="$idle" 'BEGIN { printf "%.4f", c / 1e9 }')"
	kill -STOP "$READER_PID"
	ip netns exec "$CLIENT" "$TOOLS/probe" load udp "$SERVER_IP" 20000 \
		--duration 1 --parallel 1 --ports 256 --rate "$DRAIN_FLOWS" >/dev/null
	sleep 0.2
	held=$(nfq_sum 3)
	c0=$(cpu_ns)
	t0=$(date +%s%N)
	kill -CONT "$READER_PID"
	for i in $(seq 1 100); do
		[ "$(nfq_sum 3)" -gt 0 ] || break
		sleep 0.05
	done
	sleep 0.1
	c1=$(cpu_ns)
	t1=$(date +%s%N)
	record "$cfg" drain_held "$held"
	if [ "$held" -gt 0 ]; then
		record "$cfg" drain_us_per_flow "$(awk -v c=$((c1 - c0)) -v i="$idle" -v t=$((t1 - t0)) -v v="$held" \
			'BEGIN { c -= i * t / 1e9; printf "%.3f", (c > 0 ? c : 0) / 1000 / v }')"
	fi
}

measure() {
	local cfg=$1 rate
	measure_tcp "$cfg"
	[ "$cfg" = npshim-rebuild ] && return 0
	for rate in $UDP_RATES; do
		measure_udp "$cfg" "$rate"
	done
	case $cfg in
	none | iptables) ;;
	*) measure_drain "$cfg" ;;
	esac
}

read -r -a configs <<<"${CONFIGS:-none acceptall repeat iptables npshim}"
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

# Mean over rounds, then the tables with ratios to repeat and acceptall.
echo
awk -v gen0="${gen0:-?}" -v gen1="${gen1:-?}" -v rates="$UDP_RATES" '
{ sum[$1, $2] += $3; n[$1, $2]++ }
function v(c, m) { return n[c, m] ? sum[c, m] / n[c, m] : -1 }
function cell(c, m, fmt,   x) { x = v(c, m); return x < 0 ? "-" : sprintf(fmt, x) }
function ratio(c, m, ref,   a, b) { a = v(c, m); b = v(ref, m);
	return (a < 0 || b <= 0) ? "-" : sprintf("%.2fx", a / b) }
function fmt_of(m) { return (m ~ /share|idle/) ? "%.4f" : (m ~ /us_per_flow/ ? "%.2f" : (m ~ /cpu/ ? "%.3f" : "%.0f")) }
# Highest paced rate that the client reached (>= 95% of it sent) and that
# was verdicted with <= 1% bypass (mean of rounds); a rate the client did
# not reach says nothing about the reader.
function limit(c,   i, best, r, off, ver) { best = -1
	for (i = 1; i <= nr; i++) { r = rs[i]; if (r == "max") continue
		off = v(c, "udp_sent_per_sec@" r); ver = v(c, "udp_verdicted_per_sec@" r)
		if (off >= 0.95 * r && ver >= 0.99 * off && v(c, "udp_bypass_share@" r) <= 0.01 && r + 0 > best) best = r + 0 }
	return best }
END {
	nc = split("none acceptall repeat iptables npshim npshim-lean npshim-alt npshim-rebuild", cfgs, " ")
	nr = split(rates, rs, " ")
	nm = split("conn_per_sec p50_us p99_us max_us tcp_timeouts tcp_slow_500ms idle_cpu_cores drain_held drain_us_per_flow", ms, " ")
	nu = split("udp_sent_per_sec udp_delivered_per_sec udp_reader_received_per_sec udp_verdicted_per_sec udp_bypass_share kernel_queue_drops cpu_cores cpu_us_per_flow", us, " ")
	for (i = 1; i <= nr; i++) for (j = 1; j <= nu; j++) ms[++nm] = us[j] "@" rs[i]
	printf "%-30s", "figure (mean of rounds)"
	for (i = 1; i <= nc; i++) printf " %14s", cfgs[i]
	printf "\n"
	alt = lean = 0
	for (k in n) { split(k, kk, SUBSEP); if (kk[1] == "npshim-alt") alt = 1; if (kk[1] == "npshim-lean") lean = 1 }
	for (j = 1; j <= nm; j++) {
		m = ms[j]; any = 0
		for (i = 1; i <= nc; i++) if (n[cfgs[i], m]) any = 1
		if (!any) continue
		printf "%-30s", m
		for (i = 1; i <= nc; i++) printf " %14s", cell(cfgs[i], m, fmt_of(m))
		printf "\n"
	}
	printf "%-30s", "udp_rates_not_reached"
	for (i = 1; i <= nc; i++) { l = ""
		for (j = 1; j <= nr; j++) if (rs[j] != "max" && n[cfgs[i], "udp_sent_per_sec@" rs[j]] && v(cfgs[i], "udp_sent_per_sec@" rs[j]) < 0.95 * rs[j]) l = l (l ? "," : "") rs[j]
		printf " %14s", l == "" ? "-" : l }
	printf "\n"
	printf "%-30s", "udp_limit_per_sec (<=1% bypass)"
	for (i = 1; i <= nc; i++) { l = (cfgs[i] == "none" || cfgs[i] == "iptables" || !n[cfgs[i], "udp_sent_per_sec@" rs[1]]) ? -1 : limit(cfgs[i])
		printf " %14s", l < 0 ? "-" : l }
	printf "\n"
	lo = rs[1]
	split("conn_per_sec p50_us p99_us max_us", rm, " ")
	rm[5] = "udp_verdicted_per_sec@" lo; rm[6] = "cpu_us_per_flow@" lo; rm[7] = "drain_us_per_flow"
	for (i = 1; i <= nr; i++) if (rs[i] != lo) { rm[7 + i] = "udp_bypass_share@" rs[i] }
	printf "\n%-30s %14s %14s %14s %14s", "ratios", "npshim/repeat", "repeat/accall", "npshim/accall", "rebuild/repeat"
	if (lean) printf " %14s", "lean/repeat"
	if (alt) printf " %14s", "alt/repeat"
	printf "\n"
	for (j = 1; j <= 7 + nr; j++) {
		if (!(j in rm)) continue
		printf "%-30s %14s %14s %14s %14s", rm[j], ratio("npshim", rm[j], "repeat"), ratio("repeat", rm[j], "acceptall"),
			ratio("npshim", rm[j], "acceptall"), ratio("npshim-rebuild", rm[j], "repeat")
		if (lean) printf " %14s", ratio("npshim-lean", rm[j], "repeat")
		if (alt) printf " %14s", ratio("npshim-alt", rm[j], "repeat")
		printf "\n"
	}
	printf "\nrebuild stall: npshim max connect latency %s us with SIGHUP every 0.5 s, %s us without (model generation %s -> %s)\n",
		cell("npshim-rebuild", "max_us", "%.0f"), cell("npshim", "max_us", "%.0f"), gen0, gen1
	if (gen0 != "?" && gen1 != "?" && gen1 - gen0 < 1)
		printf "(no rebuild finished during that load: the stall figure says nothing; raise REBUILD_SECS)\n"
}' "$RESULTS"
echo "(issue targets, not asserted: npshim >= 0.95x the reader's conn/s and verdicted UDP flows, bypass <= 1%, p99 <= 1.1x)"

# SPDX-License-Identifier: Apache-2.0
# lib.sh - network-namespace topology and helpers for the npshim e2e suite,
# the demo and the packet-path bench. Sourced, never run.
#
# Topology (Calico-style routed /32 veth pairs; every address lives only
# inside these namespaces, the host namespace is never touched):
#
#   pod netns "$PFX-<ns>-<pod>"                 node netns "$PFX-node"
#   +----------------------------+              +-----------------------------------+
#   | eth0 10.42.1.1/32          |   veth pair  | <pfx>v1  169.254.1.1/32           |
#   | 169.254.1.1 dev eth0 link  |--------------|   route 10.42.1.1/32 dev <pfx>v1  |
#   | default via 169.254.1.1    |              |                                   |
#   | netserve (TCP+UDP echo)    |              | ip_forward=1, rp_filter=0         |
#   +----------------------------+              | iptables: FORWARD -> npshim chain |
#   +----------------------------+              |   -> NFQUEUE                      |
#   | eth0 10.42.1.2/32          |--------------| <pfx>v2  ...                      |
#   +----------------------------+              |                                   |
#   +----------------------------+              | npshim run (ip netns exec node)   |
#   | "external": 203.0.113.5/32 |--------------| <pfx>vN  ...                      |
#   |             203.0.113.10/32|              +-----------------------------------+
#   +----------------------------+
#
# Every pod-to-pod packet crosses the node's FORWARD hook, where npshim
# queues the first packet of each new connection. The node side of every
# veth carries the same link-local gateway address 169.254.1.1, so pods
# resolve their gateway by plain ARP (no proxy_arp needed).
#
# Conventions (after WireGuard's netns.sh): every helper that changes
# something echoes the command first (to fd 3: the log, or the terminal with
# E2E_VERBOSE=1); helpers are safe under `set -e` (they return non-zero only
# for a real failure); names carry $$ so parallel runs never collide; the EXIT
# trap kills every process started here and deletes every namespace.

PFX=${PFX:-np$$}
NODE="$PFX-node"
E2E_TMP=
E2E_LOG=
E2E_PIDS=()
E2E_NETNS=()
E2E_VETH_N=0
declare -gA POD_NETNS=()  # "ns/name" -> netns name
declare -gA POD_IP=()     # "ns/name" -> first IP
declare -gA IP_POD=()     # IP -> "ns/name"

pretty() { printf '[+] %s%s\n' "${1:+$1: }" "$2" >&3; }
pp() { pretty "" "$*"; "$@"; }
# Run in the node namespace.
nn() { pretty node "$*"; ip netns exec "$NODE" "$@"; }
# Run in a pod's namespace: np ns/name cmd...
np() {
	local id=$1
	shift
	pretty "$id" "$*"
	ip netns exec "${POD_NETNS[$id]}" "$@"
}

# Print a reason and stop the suite as skipped. The runner (run-tests.sh)
# counts a non-zero exit as a failure, so under it we print the summary line
# and exit 0; run alone we exit 77, the automake convention.
e2e_skip() {
	echo "SKIP: $*"
	echo "${E2E_SUITE:-e2e}: 0 passed, 0 failed, 1 skipped"
	if [ -n "${NPSHIM_TOP:-}" ]; then exit 0; fi
	exit 77
}

e2e_cleanup() {
	local pid ns
	set +e
	for pid in "${E2E_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	# Every process still inside one of our namespaces was started by us.
	for ns in "${E2E_NETNS[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	for pid in "${E2E_PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for ns in "${E2E_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	if [ -n "$E2E_TMP" ] && [ -z "${E2E_KEEP:-}" ]; then
		rm -rf "$E2E_TMP"
	fi
}

# e2e_init: check prerequisites, create the node namespace and the trap.
e2e_init() {
	local probe_ns="$PFX-check" tool

	[ "$(id -u)" -eq 0 ] || e2e_skip "needs root (network namespaces, iptables)"
	for tool in ip iptables iptables-restore jq; do
		command -v "$tool" >/dev/null 2>&1 || e2e_skip "$tool is not installed"
	done
	: "${NPSHIM:=${NPSHIM_TOP:-.}/npshim}"
	: "${NPSHIM_BUILD:=${NPSHIM_TOP:-.}/build}"
	TOOLS="$NPSHIM_BUILD/tools"
	for tool in "$NPSHIM" "$TOOLS/probe" "$TOOLS/netserve" ${E2E_NEED_TOOLS:-}; do
		[[ $tool == */* ]] || tool="$TOOLS/$tool"
		[ -x "$tool" ] || { echo "missing $tool (run make tests)"; return 1; }
	done
	E2E_TMP=$(mktemp -d "/tmp/npshim-$PFX.XXXXXX")
	E2E_LOG="$E2E_TMP/commands.log"
	if [ -n "${E2E_VERBOSE:-}" ]; then exec 3>&1; else exec 3>>"$E2E_LOG"; fi
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM

	ip netns add "$probe_ns" 2>/dev/null || e2e_skip "cannot create network namespaces"
	E2E_NETNS+=("$probe_ns")
	modprobe nfnetlink_queue 2>/dev/null || true
	if ! ip netns exec "$probe_ns" iptables -A FORWARD -j NFQUEUE --queue-num 0 --queue-bypass 2>/dev/null; then
		e2e_skip "iptables NFQUEUE target unavailable (xt_NFQUEUE / nfnetlink_queue)"
	fi
	ip netns del "$probe_ns"
	E2E_NETNS=()

	pp ip netns add "$NODE"
	E2E_NETNS+=("$NODE")
	nn ip link set lo up
	nn sysctl -qw net.ipv4.ip_forward=1
	nn sysctl -qw net.ipv4.conf.all.rp_filter=0
	nn sysctl -qw net.ipv4.conf.default.rp_filter=0
	nn sysctl -qw net.ipv6.conf.all.forwarding=1
}

# netns_add NAME IP...: a namespace attached to the node by a routed veth,
# with IP/32 (or /128) addresses and a default route via 169.254.1.1.
netns_add() {
	local netns=$1 ip veth
	shift
	E2E_VETH_N=$((E2E_VETH_N + 1))
	veth="${PFX}v$E2E_VETH_N"
	pp ip netns add "$netns"
	E2E_NETNS+=("$netns")
	pp ip link add "$veth" netns "$NODE" type veth peer name eth0 netns "$netns"
	ip netns exec "$netns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 2>/dev/null || true
	pp ip -n "$netns" link set lo up
	pp ip -n "$netns" link set eth0 up
	pp ip -n "$NODE" addr add 169.254.1.1/32 dev "$veth"
	pp ip -n "$NODE" link set "$veth" up
	pp ip -n "$netns" route add 169.254.1.1/32 dev eth0 scope link
	pp ip -n "$netns" route add default via 169.254.1.1 dev eth0
	for ip in "$@"; do
		if [[ $ip == *:* ]]; then
			pp ip -n "$netns" addr add "$ip/128" dev eth0 nodad
			pp ip -n "$netns" -6 route add default dev eth0 2>/dev/null || true
			pp ip -n "$NODE" route add "$ip/128" dev "$veth"
		else
			pp ip -n "$netns" addr add "$ip/32" dev eth0
			pp ip -n "$NODE" route add "$ip/32" dev "$veth"
		fi
	done
}

# pod_add NS/NAME IP...: a pod namespace named after the cluster pod.
pod_add() {
	local id=$1 netns
	shift
	netns="$PFX-${id/\//-}"
	netns_add "$netns" "$@"
	POD_NETNS[$id]=$netns
	POD_IP[$id]=$1
	local ip
	for ip in "$@"; do IP_POD[$ip]=$id; done
}

# serve ID --tcp PORTS --udp PORTS: echo servers inside pod ID.
serve() {
	local id=$1
	shift
	np "$id" "$TOOLS/netserve" --daemon --pidfile "$E2E_TMP/serve-${id/\//-}.pid" "$@"
	E2E_PIDS+=("$(cat "$E2E_TMP/serve-${id/\//-}.pid")")
}

# pods_from_cluster PATH...: one pod namespace per pod of the cluster files
# (npshim's own loader reads them), each serving TCP and UDP on every port
# listed in EXTRA_PORTS plus its container ports.
pods_from_cluster() {
	local args=() p line id ips ports
	for p in "$@"; do args+=(--cluster "$p"); done
	"$TOOLS/clusterpods" "${args[@]}" >"$E2E_TMP/pods.jsonl"
	while IFS= read -r line; do
		id=$(jq -r '.ns + "/" + .name' <<<"$line")
		mapfile -t ips < <(jq -r '.ips[]' <<<"$line")
		ports=$(jq -r --arg extra "${EXTRA_PORTS:-}" \
			'[.ports[].port] + ($extra | split(",") | map(select(. != "") | tonumber)) | unique | map(tostring) | join(",")' <<<"$line")
		pod_add "$id" "${ips[@]}"
		if [ -n "$ports" ]; then
			serve "$id" --tcp "$ports" --udp "$ports"
		fi
	done <"$E2E_TMP/pods.jsonl"
}

# npshim_start ARGS...: `npshim run` in the node namespace, in the
# background, with its control socket in E2E_TMP. Waits until it answers
# `status`, so rules are in place and the model is loaded.
NPSHIM_PID=
NPSHIM_SOCK=
NPSHIM_ERR=
NPSHIM_DB=
npshim_start() {
	local i
	local db=()
	# A socket per run: a SIGKILLed daemon leaves its socket file behind.
	NPSHIM_RUNS=$((NPSHIM_RUNS + 1))
	NPSHIM_SOCK="$E2E_TMP/npshim.$NPSHIM_RUNS.sock"
	NPSHIM_ERR="$E2E_TMP/npshim.$NPSHIM_RUNS.stderr"
	# Each run records into a database of its own (NPSHIM_USE_DB=0: log
	# lines only), so a scenario sees exactly its own records.
	NPSHIM_DB=
	if [ "${NPSHIM_USE_DB:-1}" = 1 ]; then
		NPSHIM_DB="$E2E_TMP/flows.$NPSHIM_RUNS.db"
		db=(--db "$NPSHIM_DB")
	fi
	pretty node "$NPSHIM run --socket $NPSHIM_SOCK ${db[*]} $*"
	ip netns exec "$NODE" "$NPSHIM" run --socket "$NPSHIM_SOCK" "${db[@]}" "$@" 2>"$NPSHIM_ERR" &
	NPSHIM_PID=$!
	E2E_PIDS+=("$NPSHIM_PID")
	for i in $(seq 1 100); do
		if ! kill -0 "$NPSHIM_PID" 2>/dev/null; then
			echo "npshim run exited early:"
			sed 's/^/    /' "$NPSHIM_ERR"
			NPSHIM_PID=
			return 1
		fi
		# Ready = rules installed (when it manages them), a model loaded
		# (without one a fail-open daemon accepts everything) and every
		# queue bound, as the kernel's nfnetlink_queue list shows; the
		# control socket alone may answer before the queue threads bind.
		if [ -S "$NPSHIM_SOCK" ] &&
			ip netns exec "$NODE" "$NPSHIM" status --socket "$NPSHIM_SOCK" --output json 2>/dev/null |
			jq -e '((.rules.managed | not) or .rules.installed) and (.model.generation // 0) >= 1 and (.queues | length > 0) and
				all(.queues[]; .kernel_known)' >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "npshim run did not answer status within 10 s"
	return 1
}
NPSHIM_RUNS=0

npshim_status() {
	ip netns exec "$NODE" "$NPSHIM" status --socket "$NPSHIM_SOCK" --output json
}

# npshim_stop: SIGTERM; the daemon must exit 0 and leave no rule behind.
npshim_stop() {
	local rc=0
	[ -n "$NPSHIM_PID" ] || return 0
	pretty node "kill -TERM $NPSHIM_PID"
	kill -TERM "$NPSHIM_PID" 2>/dev/null || true
	wait "$NPSHIM_PID" || rc=$?
	NPSHIM_PID=
	return $rc
}

# npshim_kill: SIGKILL, as a crash; rules stay in place.
npshim_kill() {
	[ -n "$NPSHIM_PID" ] || return 0
	pretty node "kill -KILL $NPSHIM_PID"
	kill -KILL "$NPSHIM_PID" 2>/dev/null || true
	wait "$NPSHIM_PID" 2>/dev/null || true
	NPSHIM_PID=
}

# probe_lines < "SRC_ID PROTO DST_IP PORT" lines: probe all in parallel;
# prints "SRC_ID PROTO DST_IP PORT RESULT" in input order. RESULT is
# connected, refused, timeout or error.
PROBE_TIMEOUT=${PROBE_TIMEOUT:-400}
probe_lines() {
	local in="$E2E_TMP/probe.in" ids="$E2E_TMP/probe.ids" src proto dst port
	: >"$in"
	: >"$ids"
	while read -r src proto dst port; do
		[ -n "$src" ] || continue
		echo "${POD_NETNS[$src]:?unknown pod $src} $proto $dst $port" >>"$in"
		echo "$src $proto $dst $port" >>"$ids"
	done
	pretty "" "probe batch --timeout $PROBE_TIMEOUT ($(wc -l <"$in") probes)"
	"$TOOLS/probe" batch --timeout "$PROBE_TIMEOUT" --parallel 96 <"$in" |
		jq -r '.result' | paste -d' ' "$ids" -
}

# simulate_lines CLUSTER_ARGS... < "SRC_ID PROTO DST_IP PORT" lines:
# npshim simulate's verdict for each (same order): "allow" or "deny",
# followed by the simulate JSON (for messages).
simulate_lines() {
	local src proto dst port
	while read -r src proto dst port; do
		[ -n "$src" ] || continue
		printf '{"src":"%s","dst":"%s","protocol":"%s","port":%d}\n' \
			"${POD_IP[$src]}" "$dst" "${proto^^}" "$port"
	done | "$NPSHIM" simulate "$@"
}

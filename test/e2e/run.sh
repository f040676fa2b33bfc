#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - end-to-end suite "e2e": npshim run enforcing and auditing real
# connections between pods in network namespaces (topology: see lib.sh).
#
# Every probe is a real TCP connection (with an echoed line) or a UDP
# echo exchange from one pod namespace to another, through the node
# namespace where npshim queues the first packet. Each scenario asserts
# allowed AND blocked traffic, and compares every wire result with what
# `npshim simulate` says over the same cluster files (the engine is the
# oracle; a few key cells are also asserted by hand), the daemon's status
# counters with the probes (one queued packet per flow, drops and would-deny
# exactly), and its flow store with the engine's denies:
#   1. guide      the guide's six policies (examples/guide), enforce
#   2. audit      global audit: nothing blocked, every would-deny recorded
#   3. modes      namespace in audit (label), another enforced, staged policy
#   4. reload     a policy file changed on disk changes new connections;
#                 a one-way UDP flow is queued once, not per datagram
#   5. failure    daemon SIGKILLed: --fail-open passes, --fail-closed blocks
#   6. conformance  26 upstream cases (38 TCP/UDP 9x9 matrices) on the wire
# Runs in about a minute and a half. E2E_ONLY="audit modes" runs a subset;
# E2E_VERBOSE=1 shows every command; E2E_KEEP=1 keeps the temp dir.
set -eu
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
NPSHIM=${NPSHIM:-$top/npshim}
NPSHIM_BUILD=${NPSHIM_BUILD:-$top/build}
E2E_SUITE=e2e
E2E_NEED_TOOLS="clusterpods"
# shellcheck source=lib.sh
. "$top/test/e2e/lib.sh"

PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }
skip() { SKIP=$((SKIP + 1)); echo "  skip $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
want() { [[ " ${E2E_ONLY:-guide audit modes reload failure conformance} " == *" $1 "* ]]; }

e2e_init
CASES="$top/test/e2e/conformance-cases.json"

# ---- the x/y/z model of the conformance cases (scenarios 2-6) ----

# xyz_cluster CASE_ID STEP > List JSON: the cluster a case step declares.
# With CASE_ID "" the bare model (no policy). Extra policies, namespace
# label overrides and the like come from the jq filter in $XYZ_EXTRA.
xyz_cluster() {
	jq --arg id "$1" --argjson s "${2:-0}" '
	.clusters.xyz as $c |
	(if $id == "" then {policies: [], namespace_labels: {}, pod_labels: {}}
	 else (.cases[] | select(.id == $id) | .steps[$s].state) end) as $st |
	{apiVersion: "v1", kind: "List", items: (
	  [$c.namespaces[] | {apiVersion: "v1", kind: "Namespace",
	    metadata: {name: .name, labels: (($st.namespace_labels // {})[.name] // .labels)}}] +
	  [$c.pods[] | {apiVersion: "v1", kind: "Pod",
	    metadata: {namespace: .namespace, name: .name,
	      labels: (($st.pod_labels // {})[.namespace + "/" + .name] // .labels)},
	    spec: {nodeName: "node-1", containers: [{name: "server",
	      ports: [.containerPorts[] | {name, containerPort, protocol}]}]},
	    status: {phase: "Running", hostIP: "10.40.0.1", podIP: .ip, podIPs: [{ip: .ip}]}}] +
	  $st.policies)}' "$CASES"
}

xyz_ids=()
xyz_topology() {
	local id ip
	while read -r id ip; do
		pod_add "$id" "$ip"
		serve "$id" --tcp 80,81 --udp 80,81
		xyz_ids+=("$id")
	done < <(jq -r '.clusters.xyz.pods[] | "\(.namespace)/\(.name) \(.ip)"' "$CASES")
	# A UDP sink (counts, never answers) for one-way flows.
	np y/b "$TOOLS/netserve" --daemon --sink --udp 9000 \
		--pidfile "$E2E_TMP/sink.pid" --stats "$E2E_TMP/sink.stats"
	E2E_PIDS+=("$(cat "$E2E_TMP/sink.pid")")
}

# Every ordered pair of distinct xyz pods on one port/protocol, as probe lines.
xyz_pairs() { # PROTO PORT
	local a b
	for a in "${xyz_ids[@]}"; do
		for b in "${xyz_ids[@]}"; do
			[ "$a" = "$b" ] || echo "$a $1 ${POD_IP[$b]} $2"
		done
	done
}

# ---- comparing the wire with the engine ----

# wire_check TITLE ENFORCED_CLUSTER FULL_CLUSTER AUDIT_NS MODE < probe lines
# Probes every line, asks simulate over ENFORCED_CLUSTER (the policies that
# can drop: no staged ones) and FULL_CLUSTER (every policy: what must be
# recorded), and checks each line:
#   wire: connected when the enforced verdict allows, or when every denying
#         direction belongs to a pod in an audit namespace (AUDIT_NS, a
#         space-separated list; "*" = global audit); timeout otherwise.
#   records: the flows FULL_CLUSTER denies, split into drops and would-deny,
#         are written to $E2E_TMP/expect.deny and expect.wouldeny.
# Prints one ok/FAIL line for the set, listing mismatches.
wire_check() {
	local title=$1 enforced=$2 full=$3 audit_ns=$4
	local in="$E2E_TMP/wc.in" out="$E2E_TMP/wc.out" n bad_lines
	cat >"$in"
	n=$(wc -l <"$in")
	probe_lines <"$in" >"$E2E_TMP/wc.wire"
	simulate_lines --cluster "$enforced" <"$in" >"$E2E_TMP/wc.enf" || { bad "$title: simulate failed on $enforced"; return 0; }
	simulate_lines --cluster "$full" <"$in" >"$E2E_TMP/wc.full" || { bad "$title: simulate failed on $full"; return 0; }
	if [ "$(wc -l <"$E2E_TMP/wc.enf")" -ne "$n" ] || [ "$(wc -l <"$E2E_TMP/wc.full")" -ne "$n" ]; then
		bad "$title: simulate returned a wrong number of lines"
		return 0
	fi
	# One line per probe: "src proto dst port wire expect_wire full_verdict".
	jq -r --arg audit " $audit_ns " '
		def ns($p): if $p == null then "" else ($p | split("/")[0]) end;
		def audited($p): ns($p) as $n | ($audit == " * ") or ($n != "" and ($audit | contains(" " + $n + " ")));
		if .verdict == "allow" then "connected"
		elif ((.reason.egress.state == "denied" and (audited(.src_pod) | not)) or
		      (.reason.ingress.state == "denied" and (audited(.dst_pod) | not)))
		then "timeout" else "connected" end' "$E2E_TMP/wc.enf" >"$E2E_TMP/wc.expect"
	jq -r '.verdict' "$E2E_TMP/wc.full" >"$E2E_TMP/wc.fullv"
	paste -d' ' "$E2E_TMP/wc.wire" "$E2E_TMP/wc.expect" "$E2E_TMP/wc.fullv" >"$out"
	awk '$6 == "timeout" && $7 == "deny"' "$out" >"$E2E_TMP/expect.deny"
	awk '$6 == "connected" && $7 == "deny"' "$out" >"$E2E_TMP/expect.wouldeny"
	# A refused connection means no server answered: a broken topology,
	# never a policy verdict (npshim drops, it does not reject).
	bad_lines=$(awk '$5 != $6' "$out")
	WC_ALLOWED=$(awk '$5 == "connected"' "$out" | wc -l)
	WC_BLOCKED=$(awk '$5 == "timeout"' "$out" | wc -l)
	if [ -z "$bad_lines" ]; then
		ok "$title: $n probes match the engine ($WC_ALLOWED connected, $WC_BLOCKED blocked)"
	else
		bad "$title: $(wc -l <<<"$bad_lines") of $n probes differ from the engine (src proto dst port wire expected):"
		head -n 20 <<<"$bad_lines" | sed 's/^/         /'
	fi
	# A scenario must never be vacuous: both kinds of traffic occur (in
	# global audit, connected flows that the policies deny).
	if [ "$WC_ALLOWED" -gt 0 ] && [ "$WC_BLOCKED" -gt 0 ]; then
		ok "$title: both allowed and blocked traffic seen"
	elif [ "$audit_ns" = "*" ] && [ "$WC_ALLOWED" -gt 0 ] && [ -s "$E2E_TMP/expect.wouldeny" ]; then
		ok "$title: everything connected, $(wc -l <"$E2E_TMP/expect.wouldeny") flows the policies deny"
	else
		bad "$title: expected allowed and blocked (or would-deny) traffic, saw $WC_ALLOWED connected, $WC_BLOCKED blocked"
	fi
}

# counters_check TITLE DROPPED WOULD_DENY: the daemon's own counters right
# after wire_check. Each probe is one new flow whose first packet is queued
# once (established and reply packets stay in the kernel; a blocked TCP
# probe gives up before its SYN is retransmitted), so the totals of
# `npshim status` must equal the probes' outcome exactly.
counters_check() {
	local title=$1 want_drop=$2 want_wd=$3 want got
	want="$(wc -l <"$E2E_TMP/wc.out") $want_drop $want_wd 0 0"
	got=$(npshim_status | jq -r '.totals | "\(.received) \(.dropped) \(.would_deny) \(.parse_errors) \(.kernel_drops)"') ||
		{ bad "$title: npshim status failed"; return 0; }
	if [ "$got" = "$want" ]; then
		ok "$title: status counts ${want%% *} queued (one per flow), $want_drop dropped, $want_wd would-deny, no parse error or kernel drop"
	else
		bad "$title: status counters (received dropped would_deny parse_errors kernel_drops) are '$got', expected '$want'"
	fi
}

# probe_expect ID PROTO DST_IP PORT connected|timeout: a hand-asserted cell.
probe_expect() {
	local got
	got=$(echo "$1 $2 $3 $4" | probe_lines | awk '{ print $5 }')
	if [ "$got" = "$5" ]; then
		ok "by hand: $1 -> ${IP_POD[$3]:-$3} ($3) $2/$4 $5"
	else
		bad "by hand: $1 -> ${IP_POD[$3]:-$3} ($3) $2/$4: expected $5, got $got"
	fi
}

# records_check TITLE: the daemon recorded exactly the flows of
# expect.deny (verdict deny) and expect.wouldeny (would-deny) among those
# wire_check probed: none missing, none extra, none with the wrong verdict.
# Reads the run's flow database (npshim flows --output json) after the
# daemon has flushed it; without a database, looks for log lines instead
# (rate-limited, so only the first few flows can be required there).
records_check() {
	local title=$1 want="$E2E_TMP/rec.want" got="$E2E_TMP/rec.got" probed="$E2E_TMP/rec.probed"
	local missing extra total
	{
		awk '{ print $1, $2, $3, $4, "deny" }' "$E2E_TMP/expect.deny"
		awk '{ print $1, $2, $3, $4, "would-deny" }' "$E2E_TMP/expect.wouldeny"
	} | while read -r src proto dst port verdict; do
		echo "${POD_IP[$src]} $proto $dst $port $verdict"
	done | sort -u >"$want"
	total=$(wc -l <"$want")
	if [ "$total" -eq 0 ]; then
		bad "$title: no denied flow to look for (scenario is vacuous)"
		return 0
	fi
	if [ -z "$NPSHIM_DB" ]; then
		local n=0 src proto dst port verdict
		while read -r src proto dst port verdict && [ $n -lt 5 ]; do
			n=$((n + 1))
			grep -F "$src" "$NPSHIM_ERR" | grep -F "$dst" | grep -q -- "$port" ||
				{ bad "$title: no log line for $src -> $dst $proto/$port ($verdict)"; return 0; }
		done <"$want"
		ok "$title: log lines name the first $n denied flows"
		return 0
	fi
	# Only the flows this check probed: src/dst/port/proto tuples.
	awk '{ print $1, $2, $3, $4 }' "$E2E_TMP/wc.out" | while read -r src proto dst port; do
		echo "${POD_IP[$src]} $proto $dst $port"
	done | sort -u >"$probed"
	"$NPSHIM" flows --db "$NPSHIM_DB" --output json --limit 0 2>"$E2E_TMP/rec.err" |
		jq -r '.[] | select(.verdict == "deny" or .verdict == "would-deny") |
			.verdict as $v | .src_ips[] as $s | .dst_ips[] as $d |
			"\($s) \(.protocol | ascii_downcase) \($d) \(.port) \($v)"' |
		sort -u | awk 'NR == FNR { p[$1 " " $2 " " $3 " " $4] = 1; next }
			($1 " " $2 " " $3 " " $4) in p' "$probed" - >"$got" || true
	if [ -s "$E2E_TMP/rec.err" ]; then
		bad "$title: npshim flows failed: $(head -n 3 "$E2E_TMP/rec.err")"
		return 0
	fi
	missing=$(comm -23 "$want" "$got")
	extra=$(comm -13 "$want" "$got")
	if [ -z "$missing" ] && [ -z "$extra" ]; then
		ok "$title: the flow store holds exactly the $total deny/would-deny flows ($(grep -c ' deny$' "$want" || true) deny, $(grep -c 'would-deny$' "$want" || true) would-deny)"
	else
		bad "$title: flow store differs from the engine: $(grep -c . <<<"$missing") missing, $(grep -c . <<<"$extra") unexpected (src proto dst port verdict)"
		[ -z "$missing" ] || head -n 8 <<<"$missing" | sed 's/^/         missing    /'
		[ -z "$extra" ] || head -n 8 <<<"$extra" | sed 's/^/         unexpected /'
	fi
}

# Wait for a new model after writing cluster files: generation from status
# must move past $1 (read before the write). SIGHUP unless $2 = nohup.
model_generation() {
	npshim_status 2>/dev/null | jq -r '[.. | objects | .generation? | numbers] | first // empty' 2>/dev/null
}
wait_reload() {
	local before=$1 mode=${2:-hup} i gen
	npshim_alive || return 1
	[ "$mode" = nohup ] || kill -HUP "$NPSHIM_PID"
	for i in $(seq 1 50); do
		npshim_alive || return 1
		gen=$(model_generation)
		if [ -n "$gen" ] && [ -n "$before" ] && [ "$gen" -gt "$before" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

npshim_alive() {
	if [ -n "$NPSHIM_PID" ] && kill -0 "$NPSHIM_PID" 2>/dev/null; then
		return 0
	fi
	echo "         npshim run is not running any more; its last words:"
	tail -n 5 "$NPSHIM_ERR" 2>/dev/null | sed 's/^/           /'
	return 1
}

# Atomic replacement, so the daemon never reads half a file.
put_file() { # DEST < content
	cat >"$1.tmp"
	mv -f "$1.tmp" "$1"
}

rules_left() {
	ip netns exec "$NODE" iptables-save 2>/dev/null | grep -ci 'nfqueue\|npshim' || true
}

# ---- scenarios ----

scenario_guide() {
	local dir="$top/examples/guide/cluster"
	echo "== 1. guide: six policies in namespace production, enforce"
	if [ ! -d "$dir" ]; then
		skip "guide: $dir does not exist"
		return 0
	fi
	# Every pod also serves port 80, so a policy that allows only 8080 is
	# seen dropping 80 (a closed port would answer with a reset instead).
	EXTRA_PORTS=80 pods_from_cluster "$dir"
	# Addresses outside the cluster live in one "external" namespace: the
	# external API (203.0.113.10, .77) with its excepted host .5, and .50
	# as the source of traffic from the internet.
	pod_add external 203.0.113.50 203.0.113.5 203.0.113.10 203.0.113.77
	serve external --tcp 443,80,8080 --udp 443
	npshim_start --cluster "$dir" --mode enforce --fail-closed || { bad "guide: npshim run did not start"; return 0; }
	# Every pod to every other pod on each of its ports (both protocols of
	# port 53), the external addresses on 443 and 80, and the internet
	# into every pod.
	jq -r '"\(.ns)/\(.name) \(.ips[0]) \(([.ports[] | "\(.protocol | ascii_downcase)/\(.port)"] + ["tcp/80"]) | unique | join(","))"' \
		"$E2E_TMP/pods.jsonl" >"$E2E_TMP/guide.pods"
	{
		while read -r src _ _; do
			while read -r dst dip ports; do
				[ "$src" = "$dst" ] && continue
				for pp in ${ports//,/ }; do echo "$src ${pp%/*} $dip ${pp#*/}"; done
			done <"$E2E_TMP/guide.pods"
			for ext in 203.0.113.5 203.0.113.10 203.0.113.77; do
				echo "$src tcp $ext 443"
				echo "$src tcp $ext 80"
			done
		done <"$E2E_TMP/guide.pods"
		while read -r dst dip ports; do
			for pp in ${ports//,/ }; do echo "external ${pp%/*} $dip ${pp#*/}"; done
		done <"$E2E_TMP/guide.pods"
	} >"$E2E_TMP/guide.probes"
	wire_check "guide (enforce)" "$dir" "$dir" "" <"$E2E_TMP/guide.probes"
	counters_check "guide" "$WC_BLOCKED" 0
	guide_by_hand
	npshim_stop && ok "guide: SIGTERM, exit 0" || bad "guide: npshim exited non-zero on SIGTERM"
	records_check "guide"
	check "guide: no rule left after exit" [ "$(rules_left)" -eq 0 ]
}

# guide_pod NS KEY=VALUE: the first pod of NS carrying that label.
guide_pod() {
	jq -r --arg ns "$1" --arg k "${2%%=*}" --arg v "${2#*=}" \
		'select(.ns == $ns and .labels[$k] == $v) | "\(.ns)/\(.name)"' "$E2E_TMP/pods.jsonl" | head -n 1
}

# Key cells of the guide asserted by hand from the policies' intent, on top
# of the engine comparison. default-deny-all isolates production both ways,
# so the application tier reaches only what an egress policy opens:
# platform shared services on 8080, DNS, the external API but .5.
guide_by_hand() {
	local api db web auth cfg dns ing
	api=$(guide_pod production tier=application)
	db=$(guide_pod production tier=database)
	web=$(guide_pod production tier=frontend)
	auth=$(guide_pod platform app=auth-service)
	cfg=$(guide_pod platform app=config-service)
	dns=$(guide_pod kube-system k8s-app=kube-dns)
	ing=$(guide_pod ingress-nginx app.kubernetes.io/name=ingress-nginx)
	if [ -z "$api" ] || [ -z "$db" ] || [ -z "$web" ] || [ -z "$auth" ] || [ -z "$cfg" ] || [ -z "$dns" ] || [ -z "$ing" ]; then
		bad "guide: a pod the hand-written cells need is missing from the guide cluster"
		return 0
	fi
	probe_expect "$api" tcp "${POD_IP[$db]}" 5432 timeout      # app egress not opened to the database
	probe_expect "$web" tcp "${POD_IP[$db]}" 5432 timeout
	probe_expect "$auth" tcp "${POD_IP[$db]}" 5432 timeout     # database ingress: tier=application of production only
	probe_expect "$api" tcp "${POD_IP[$auth]}" 8080 connected  # allow-platform-services
	probe_expect "$api" tcp "${POD_IP[$cfg]}" 8080 connected
	probe_expect "$api" tcp "${POD_IP[$cfg]}" 9090 timeout
	probe_expect "$web" tcp "${POD_IP[$auth]}" 8080 timeout    # frontend is not tier=application
	probe_expect "$api" udp "${POD_IP[$dns]}" 53 connected     # allow-dns, UDP and TCP
	probe_expect "$web" tcp "${POD_IP[$dns]}" 53 connected
	probe_expect "$api" tcp "${POD_IP[$dns]}" 9153 timeout
	probe_expect "$api" tcp 203.0.113.10 443 connected         # allow-external-api
	probe_expect "$api" tcp 203.0.113.5 443 timeout            # the except
	probe_expect "$api" tcp 203.0.113.10 80 timeout
	probe_expect "$web" tcp 203.0.113.10 443 timeout
	probe_expect "$ing" tcp "${POD_IP[$web]}" 8080 connected   # allow-ingress-controller
	probe_expect "$ing" tcp "${POD_IP[$web]}" 80 timeout
	probe_expect external tcp "${POD_IP[$web]}" 8080 timeout   # the internet, bypassing the ingress
	probe_expect "$api" tcp "${POD_IP[$web]}" 8080 timeout
	probe_expect "$auth" tcp "${POD_IP[$cfg]}" 9090 connected  # platform is not isolated
}

# Policies for scenarios 2 and 3 on the x/y/z model.
POL_DENY_X='{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"namespace":"x","name":"deny-ingress"},"spec":{"podSelector":{},"policyTypes":["Ingress"]}}'
POL_ALLOW_X_A='{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"namespace":"x","name":"allow-a-from-y-80"},"spec":{"podSelector":{"matchLabels":{"pod":"a"}},"ingress":[{"from":[{"namespaceSelector":{"matchLabels":{"ns":"y"}}}],"ports":[{"port":80}]}]}}'
POL_DENY_Y='{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"namespace":"y","name":"deny-all"},"spec":{"podSelector":{},"policyTypes":["Ingress","Egress"]}}'
POL_STAGED_Z='{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"namespace":"z","name":"staged-deny-ingress","annotations":{"npshim.io/mode":"audit"}},"spec":{"podSelector":{"matchLabels":{"pod":"b"}},"policyTypes":["Ingress"]}}'

# xyz_with POLICY_JSON... > List: the bare model plus these policies, with
# namespace label overrides from XYZ_NS_LABELS (jq object, ns -> extra labels).
xyz_with() {
	xyz_cluster "" | jq --argjson extra "${XYZ_NS_LABELS:-{\}}" --slurpfile p <(printf '%s\n' "$@") '
		.items |= (map(if .kind == "Namespace" and $extra[.metadata.name]
			then .metadata.labels += $extra[.metadata.name] else . end) + $p)'
}

scenario_audit() {
	echo "== 2. audit: global audit mode drops nothing and records every would-deny"
	xyz_with "$POL_DENY_X" "$POL_ALLOW_X_A" "$POL_DENY_Y" >"$E2E_TMP/audit.json"
	npshim_start --cluster "$E2E_TMP/audit.json" --mode audit --fail-closed || { bad "audit: npshim run did not start"; return 0; }
	wire_check "audit" "$E2E_TMP/audit.json" "$E2E_TMP/audit.json" "*" < <(xyz_pairs tcp 80; xyz_pairs udp 81)
	check "audit: nothing blocked" [ "$WC_BLOCKED" -eq 0 ]
	counters_check "audit" 0 "$(wc -l <"$E2E_TMP/expect.wouldeny")"
	npshim_stop && ok "audit: SIGTERM, exit 0" || bad "audit: npshim exited non-zero on SIGTERM"
	records_check "audit"
}

scenario_modes() {
	echo "== 3. modes: namespace y audited by label, x enforced, staged policy in z"
	XYZ_NS_LABELS='{"y":{"npshim.io/mode":"audit"},"x":{"npshim.io/mode":"enforce"}}' \
		xyz_with "$POL_DENY_X" "$POL_ALLOW_X_A" "$POL_DENY_Y" "$POL_STAGED_Z" >"$E2E_TMP/modes.json"
	jq 'del(.items[] | select(.metadata.annotations["npshim.io/mode"]? == "audit"))' \
		"$E2E_TMP/modes.json" >"$E2E_TMP/modes-enforced.json"
	npshim_start --cluster "$E2E_TMP/modes.json" --mode enforce --fail-closed || { bad "modes: npshim run did not start"; return 0; }
	wire_check "modes" "$E2E_TMP/modes-enforced.json" "$E2E_TMP/modes.json" "y" \
		< <(xyz_pairs tcp 80; xyz_pairs udp 80)
	counters_check "modes" "$(wc -l <"$E2E_TMP/expect.deny")" "$(wc -l <"$E2E_TMP/expect.wouldeny")"
	# By hand: x is enforced (only y -> x/a:80 gets in), y's deny-all is
	# audited in both directions, z/b's staged policy drops nothing.
	probe_expect z/a tcp 10.42.1.1 80 timeout
	probe_expect y/a tcp 10.42.1.1 80 connected
	probe_expect y/a tcp 10.42.1.2 80 timeout
	probe_expect z/a tcp 10.42.2.1 80 connected
	probe_expect y/b tcp 10.42.3.1 80 connected
	probe_expect x/a tcp 10.42.3.2 80 connected
	probe_expect x/a udp 10.42.3.2 80 connected
	npshim_stop && ok "modes: SIGTERM, exit 0" || bad "modes: npshim exited non-zero on SIGTERM"
	records_check "modes"
}

# A one-way UDP flow stays NEW in conntrack; npshim marks the decided flow
# so that only its first datagram is queued: 20 datagrams from one socket to
# the sink on y/b (not isolated) must cost one queued packet, and all 20
# must arrive.
oneway_check() {
	local r0 r1 got sink_pid
	sink_pid=$(cat "$E2E_TMP/sink.pid")
	kill -USR1 "$sink_pid"
	sleep 0.1
	got=$(jq .udp_datagrams "$E2E_TMP/sink.stats")
	r0=$(npshim_status | jq .totals.received)
	np z/a "$TOOLS/probe" send udp 10.42.2.2 9000 --count 20 --interval 5 >/dev/null
	sleep 0.2
	r1=$(npshim_status | jq .totals.received)
	kill -USR1 "$sink_pid"
	sleep 0.1
	got=$(($(jq .udp_datagrams "$E2E_TMP/sink.stats") - got))
	if [ $((r1 - r0)) -eq 1 ] && [ "$got" -eq 20 ]; then
		ok "one-way UDP flow: 20 datagrams delivered, 1 queued"
	else
		bad "one-way UDP flow: $got of 20 datagrams delivered, $((r1 - r0)) queued (want 20 and 1)"
	fi
}

scenario_reload() {
	local f="$E2E_TMP/reload/cluster.json" gen
	echo "== 4. reload: a policy changed on disk changes verdicts for new connections"
	mkdir -p "$E2E_TMP/reload"
	xyz_with "$POL_DENY_X" | put_file "$f"
	npshim_start --cluster "$f" --mode enforce --fail-closed || { bad "reload: npshim run did not start"; return 0; }
	oneway_check
	wire_check "reload: before" "$f" "$f" "" < <(xyz_pairs tcp 80 | grep ' 10\.42\.[12]\.')
	probe_expect y/a tcp 10.42.1.1 80 timeout

	gen=$(model_generation)
	xyz_with "$POL_DENY_X" "$POL_ALLOW_X_A" | put_file "$f"
	if wait_reload "$gen" nohup; then
		ok "reload: the daemon noticed the file change (generation $gen -> $(model_generation))"
	else
		bad "reload: no new model within 5 s of the file change (generation ${gen:-unknown})"
	fi
	wire_check "reload: after the change" "$f" "$f" "" < <(xyz_pairs tcp 80 | grep ' 10\.42\.[12]\.')
	probe_expect y/a tcp 10.42.1.1 80 connected
	probe_expect z/a tcp 10.42.1.1 80 timeout

	gen=$(model_generation)
	xyz_with | put_file "$f"
	if wait_reload "$gen" hup; then
		ok "reload: SIGHUP rebuilt the model"
	else
		bad "reload: no new model within 5 s of SIGHUP"
	fi
	probe_expect z/a tcp 10.42.1.1 80 connected
	npshim_stop && ok "reload: SIGTERM, exit 0" || bad "reload: npshim exited non-zero on SIGTERM"
}

scenario_failure() {
	local mode
	echo "== 5. failure: the daemon killed; traffic follows --fail-open / --fail-closed"
	xyz_with "$POL_DENY_X" "$POL_ALLOW_X_A" >"$E2E_TMP/failure.json"
	for mode in open closed; do
		npshim_start --cluster "$E2E_TMP/failure.json" --mode enforce "--fail-$mode" ||
			{ bad "failure: npshim run --fail-$mode did not start"; continue; }
		probe_expect y/a tcp 10.42.1.1 80 connected
		probe_expect z/a tcp 10.42.1.1 80 timeout
		npshim_kill
		check "fail-$mode: rules stay after SIGKILL" [ "$(rules_left)" -gt 0 ]
		if [ $mode = open ]; then
			# --queue-bypass: with no reader the kernel accepts.
			probe_expect y/a tcp 10.42.1.1 80 connected
			probe_expect z/a tcp 10.42.1.1 80 connected
			probe_expect z/a udp 10.42.1.2 81 connected
		else
			# No reader, no bypass: new connections are held (dropped).
			probe_expect y/a tcp 10.42.1.1 80 timeout
			probe_expect z/a tcp 10.42.1.1 80 timeout
			probe_expect z/a udp 10.42.1.2 81 timeout
		fi
		pp ip netns exec "$NODE" "$NPSHIM" rules remove >/dev/null 2>&1 || true
		check "fail-$mode: npshim rules remove cleans up" [ "$(rules_left)" -eq 0 ]
		probe_expect z/a tcp 10.42.1.1 80 connected
	done
}

scenario_conformance() {
	local f="$E2E_TMP/conf/cluster.json" id s nsteps gen probes i order exp
	local cases=0 case_ok matrices=0
	echo "== 6. conformance on the wire: upstream NetworkPolicy cases on the 9-pod model"
	mkdir -p "$E2E_TMP/conf"
	xyz_cluster "" | put_file "$f"
	npshim_start --cluster "$f" --mode enforce --fail-closed || { bad "conformance: npshim run did not start"; return 0; }
	mapfile -t order < <(jq -r '.clusters.xyz.pod_order[]' "$CASES")
	for id in $(jq -r '.cases[].id' "$CASES"); do
		nsteps=$(jq --arg id "$id" '.cases[] | select(.id == $id) | .steps | length' "$CASES")
		case_ok=1
		for ((s = 0; s < nsteps; s++)); do
			gen=$(model_generation)
			xyz_cluster "$id" "$s" | put_file "$f"
			if ! wait_reload "$gen" hup; then
				npshim_alive >/dev/null || { bad "conformance: npshim run died during $id"; return 0; }
				case_ok=0
				echo "         $id step $s: no new model after SIGHUP"
				continue
			fi
			probes=$(jq --arg id "$id" --argjson s "$s" '.cases[] | select(.id == $id) | .steps[$s].probes | length' "$CASES")
			for ((i = 0; i < probes; i++)); do
				# The case's own expectation for every asserted non-self cell.
				jq -r --arg id "$id" --argjson s "$s" --argjson i "$i" '
					.clusters.xyz as $c |
					(.cases[] | select(.id == $id) | .steps[$s].probes[$i]) as $p |
					($c.pod_order) as $o |
					range(0; 9) as $r | range(0; 9) as $k |
					select($r != $k and $p.expected[$r][$k] != null) |
					"\($o[$r]) \($p.protocol | ascii_downcase) \($c.pods[] | select(.namespace + "/" + .name == $o[$k]) | .ip) \($p.port) \(if $p.expected[$r][$k] then "connected" else "timeout" end)"' \
					"$CASES" >"$E2E_TMP/conf.cells"
				cut -d' ' -f1-4 "$E2E_TMP/conf.cells" >"$E2E_TMP/conf.in"
				probe_lines <"$E2E_TMP/conf.in" | awk '{ print $5 }' >"$E2E_TMP/conf.wire"
				simulate_lines --cluster "$f" <"$E2E_TMP/conf.in" |
					jq -r 'if .verdict == "allow" then "connected" else "timeout" end' >"$E2E_TMP/conf.sim" ||
					: >"$E2E_TMP/conf.sim"
				exp=$(paste -d' ' "$E2E_TMP/conf.cells" "$E2E_TMP/conf.wire" "$E2E_TMP/conf.sim" |
					awk '$5 != $6 || $5 != $7')
				matrices=$((matrices + 1))
				if [ -n "$exp" ]; then
					case_ok=0
					echo "         $id step $s matrix $i: cells differ (src proto dst port expected wire simulate):"
					head -n 8 <<<"$exp" | sed 's/^/           /'
				fi
			done
		done
		cases=$((cases + 1))
		if [ $case_ok = 1 ]; then ok "conformance $id"; else bad "conformance $id"; fi
	done
	echo "  ($cases cases, $matrices matrices probed on the wire)"
	npshim_stop && ok "conformance: SIGTERM, exit 0" || bad "conformance: npshim exited non-zero on SIGTERM"
	check "conformance: no rule left after exit" [ "$(rules_left)" -eq 0 ]
}

start=$(date +%s)
if want audit || want modes || want reload || want failure || want conformance; then
	xyz_topology
fi
for sc in guide audit modes reload failure conformance; do
	if want "$sc"; then
		"scenario_$sc" || bad "$sc: scenario stopped early (exit $?)"
		# A scenario that failed half-way may leave its daemon running.
		npshim_stop >/dev/null 2>&1 || true
	fi
done
npshim_stop >/dev/null 2>&1 || true
e2e_cleanup
trap - EXIT
left=$(ip netns list | grep -c "^$PFX-" || true)
check "cleanup: no namespace of this run left (ip netns list)" [ "$left" -eq 0 ]
echo "(took $(($(date +%s) - start)) s)"
echo "e2e: $PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]

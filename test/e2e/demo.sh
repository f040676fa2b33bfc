#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh - the guide's cluster built in network namespaces, npshim run in
# audit mode and then in enforce mode, the traffic of examples/guide/flows.jsonl
# sent for real, and what npshim recorded.
#
# Every pod of examples/guide/cluster becomes a namespace with its pod IP
# (see lib.sh for the topology); every other address a flow uses (the
# external API, a node, the internet, a stale pod IP) gets a namespace of its
# own. Each flow is one real TCP connection or UDP exchange through the node
# namespace where npshim runs. ICMP flows are left to `npshim simulate`.
#
#   test/e2e/demo.sh [CLUSTER_DIR [FLOWS_FILE]]     (as root; `make demo`)
#
# Exit 0 when every flow did on the wire what the engine says it should
# (enforce: allowed flows connect, denied ones are dropped; audit: all
# connect), 1 otherwise, 77 when it cannot run here (not root, no NFQUEUE).
set -eu
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
NPSHIM=${NPSHIM:-$top/npshim}
NPSHIM_BUILD=${NPSHIM_BUILD:-$top/build}
E2E_SUITE=demo
E2E_NEED_TOOLS="clusterpods"
# shellcheck source=lib.sh
. "$top/test/e2e/lib.sh"
CLUSTER=${1:-$top/examples/guide/cluster}
FLOWS=${2:-$top/examples/guide/flows.jsonl}
PROBE_TIMEOUT=${PROBE_TIMEOUT:-500}
unset NPSHIM_TOP # a demo run alone exits 77 when it has to skip

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

e2e_init
bold "Building the cluster of $CLUSTER in network namespaces"
EXTRA_PORTS=$(jq -r 'select(.port != null) | .port' "$FLOWS" | sort -un | paste -sd, -)
export EXTRA_PORTS
pods_from_cluster "$CLUSTER"
# Addresses the flows use that belong to no pod: one namespace each.
n=0
for ip in $(jq -r '.src, .dst' "$FLOWS" | sort -u); do
	[ -n "${IP_POD[$ip]:-}" ] && continue
	n=$((n + 1))
	pod_add "outside/$ip" "$ip"
	serve "outside/$ip" --tcp "$EXTRA_PORTS" --udp "$EXTRA_PORTS"
done
printf '  %d pods, %d outside addresses, node namespace %s\n' \
	"$(wc -l <"$E2E_TMP/pods.jsonl")" "$n" "$NODE"
printf '  pods: %s\n' "$(jq -r '"\(.ns)/\(.name) \(.ips[0])"' "$E2E_TMP/pods.jsonl" | paste -sd, - | sed 's/,/, /g')"

# The flows as probe lines; ICMP has no port to probe.
jq -r 'select(.protocol != "ICMP" and .protocol != "ICMPv6") |
	"\(.src) \((.protocol // "TCP") | ascii_downcase) \(.dst) \(.port)"' "$FLOWS" |
	while read -r src proto dst port; do
		echo "${IP_POD[$src]} $proto $dst $port"
	done >"$E2E_TMP/demo.probes"
jq -c 'select(.protocol != "ICMP" and .protocol != "ICMPv6")' "$FLOWS" >"$E2E_TMP/demo.flows"
"$NPSHIM" simulate --cluster "$CLUSTER" --flows "$E2E_TMP/demo.flows" >"$E2E_TMP/demo.sim"
skipped=$(jq -r 'select(.protocol == "ICMP" or .protocol == "ICMPv6") | .note // "\(.src) -> \(.dst)"' "$FLOWS")

mismatch=0
run_mode() {
	local mode=$1
	bold "npshim run --mode $mode"
	npshim_start --cluster "$CLUSTER" --mode "$mode" --fail-closed
	probe_lines <"$E2E_TMP/demo.probes" | awk '{ print $5 }' >"$E2E_TMP/demo.$mode"
	sleep 0.5 # let the records reach the log / store
	npshim_status | jq -c '{mode, generation: (.. | objects | .generation? | numbers)} ' 2>/dev/null | head -n 1 || true
	npshim_stop || echo "  (npshim exited non-zero on SIGTERM)"
	cp "$NPSHIM_ERR" "$E2E_TMP/demo.$mode.log"
	eval "DB_$mode=\$NPSHIM_DB"
}
run_mode audit
run_mode enforce

bold "Traffic results"
printf '%-46s %-32s %-6s %-10s %-10s\n' "flow" "src -> dst" "engine" "audit" "enforce"
i=0
while IFS= read -r sim; do
	i=$((i + 1))
	a=$(sed -n "${i}p" "$E2E_TMP/demo.audit")
	e=$(sed -n "${i}p" "$E2E_TMP/demo.enforce")
	v=$(jq -r .verdict <<<"$sim")
	note=$(jq -r '.note // ""' <<<"$sim")
	ends=$(jq -r '"\(.src_pod // .src | sub("-[a-z0-9]+-[a-z0-9]+$"; "")) -> \(.dst_pod // .dst | sub("-[a-z0-9]+-[a-z0-9]+$"; "")) \(.protocol // "TCP")/\(.port)"' <<<"$sim")
	flag=
	want_e=$([ "$v" = allow ] && echo connected || echo timeout)
	if [ "$a" != connected ] || [ "$e" != "$want_e" ]; then
		flag=" <- differs from the engine"
		mismatch=1
	fi
	printf '%-46.46s %-32.32s %-6s %-10s %-10s%s\n' "$note" "${ends%% *}" "$v" \
		"$([ "$a" = connected ] && echo passed || echo "$a")" \
		"$([ "$e" = connected ] && echo passed || echo "dropped")" "$flag"
	printf '%-46s   %s\n' "" "${ends#* }"
done <"$E2E_TMP/demo.sim"
[ -z "$skipped" ] || printf '(ICMP left to npshim simulate: %s)\n' "$(paste -sd';' - <<<"$skipped")"

show_records() { # DB: one line per recorded flow, from npshim flows --output json
	if [ -z "$1" ] || [ ! -f "$1" ]; then
		echo "  (no flow database; the daemon's log:)"
		grep -iE 'deny' "$E2E_TMP/demo.$2.log" | head -n 20 || true
		return 0
	fi
	"$NPSHIM" flows --db "$1" --output json --limit 0 |
		jq -r 'def ep(ns; name; kind; ips): if (ns // "") != "" then "\(ns)/\(name)" else "\(kind | ascii_downcase) \(ips[0] // name)" end;
			.[] | "  \(.verdict)\t\(ep(.src_namespace; .src_name; .src_kind; .src_ips)) -> \(ep(.dst_namespace; .dst_name; .dst_kind; .dst_ips)) \(.protocol)/\(.port)\t[\(.direction)] \((.policies // []) | join(", "))"' |
		column -t -s $'\t'
}
bold "Recorded in audit mode (npshim flows --db, would-deny)"
show_records "${DB_audit:-}" audit
bold "Recorded in enforce mode (npshim flows --db, deny)"
show_records "${DB_enforce:-}" enforce

if [ $mismatch = 0 ]; then
	bold "Every flow did on the wire what the engine decided: audit passed all, enforce dropped exactly the denies."
else
	bold "Some flows differ from the engine (marked above)."
fi
exit $mismatch

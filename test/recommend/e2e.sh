#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# e2e.sh - recommend end to end, run by test/recommend/run.sh (needs root).
#
# The guide's cluster as pod network namespaces (topology of
# test/e2e/lib.sh). npshim run audits it with --record all while real
# connections flow; npshim recommend turns the database into policies; they
# are written into the --cluster directory and the daemon is sent SIGHUP
# (the reload must succeed), then restarted with --mode enforce. Every
# observed connection must still connect, and unobserved ones (including
# some the guide's own policies allow today) must be blocked. The wire is
# also compared with `npshim simulate` over the same files. About 15 s.
# Ends "recommend-e2e: N passed, N failed[, N skipped]".
set -eu
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
NPSHIM=${NPSHIM:-$top/npshim}
NPSHIM_BUILD=${NPSHIM_BUILD:-$top/build}
E2E_SUITE=recommend-e2e
E2E_NEED_TOOLS="clusterpods"
# shellcheck source=../e2e/lib.sh
. "$top/test/e2e/lib.sh"

PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
	echo "recommend-e2e: $PASS passed, $FAIL failed, $SKIP skipped"
	[ "$FAIL" -eq 0 ]
}

e2e_init

CL="$E2E_TMP/cluster"
mkdir -p "$CL"
cp "$top/examples/guide/cluster/"*.yaml "$CL/"

# Every pod also serves port 80 and 5433, so a port nobody used answers
# when allowed (a closed port would reset instead of timing out).
EXTRA_PORTS=80,5433 pods_from_cluster "$CL"
pod_add external 203.0.113.10 203.0.113.11 198.51.100.7 198.51.100.8
serve external --tcp 443,80 --udp 443

# pod_of NS KEY=VALUE [N]: the Nth pod (0-based) of NS with that label.
pod_of() {
	jq -rs --arg ns "$1" --arg kv "$2" --argjson n "${3:-0}" \
		'[.[] | select(.ns == $ns and (.labels | to_entries | map("\(.key)=\(.value)") | index($kv)))] |
		 .[$n] | select(.) | .ns + "/" + .name' "$E2E_TMP/pods.jsonl"
}
ip_of() { echo "${POD_IP[$1]}"; }

ing=$(pod_of ingress-nginx app.kubernetes.io/name=ingress-nginx)
web1=$(pod_of production app=web 0)
web2=$(pod_of production app=web 1)
api1=$(pod_of production app=api 0)
api2=$(pod_of production app=api 1)
db=$(pod_of production app=postgres)
auth=$(pod_of platform app=auth-service)
cfg=$(pod_of platform app=config-service)
dns=$(pod_of kube-system k8s-app=kube-dns)
for v in ing web1 web2 api1 api2 db auth cfg dns; do
	if [ -z "${!v}" ]; then
		bad "setup: no pod for $v in the guide cluster"
		finish
		exit 1
	fi
done

# What the application does: these connections are observed in audit.
cat >"$E2E_TMP/observed" <<EOF
$ing tcp $(ip_of "$web1") 8080
$ing tcp $(ip_of "$web2") 8080
$web1 tcp $(ip_of "$api1") 8080
$web2 tcp $(ip_of "$api2") 8080
$api1 tcp $(ip_of "$db") 5432
$api2 tcp $(ip_of "$auth") 8080
$api1 tcp $(ip_of "$cfg") 8080
$auth tcp $(ip_of "$db") 5432
$api1 udp $(ip_of "$dns") 53
$web1 udp $(ip_of "$dns") 53
$auth udp $(ip_of "$dns") 53
$api1 tcp 203.0.113.10 443
$api2 tcp 203.0.113.11 443
EOF
# Never observed: must be blocked once the recommendation is enforced.
# auth -> config-service and config-service -> DNS are allowed by the
# guide's policies today (platform has none): the recommendation closes them.
cat >"$E2E_TMP/unobserved" <<EOF
$web1 tcp $(ip_of "$db") 5432
$ing tcp $(ip_of "$api1") 8080
$auth tcp $(ip_of "$api1") 8080
$api1 tcp $(ip_of "$db") 5433
$auth tcp $(ip_of "$cfg") 8080
$cfg udp $(ip_of "$dns") 53
$dns tcp $(ip_of "$api2") 8080
$api1 tcp 198.51.100.8 443
$api1 tcp 203.0.113.10 80
$web2 tcp $(ip_of "$web1") 8080
EOF

echo "== audit with --record all, real traffic"
n_obs=$(grep -c . "$E2E_TMP/observed")
# auth-service -> config-service and config-service -> DNS are allowed by
# the guide's policies today (platform has none): the recommendation must
# close them.
check "audit: the guide's policies allow 2 of the unobserved flows today" \
	[ "$(simulate_lines --cluster "$CL" <"$E2E_TMP/unobserved" | jq -r .verdict | grep -c allow)" -eq 2 ]
npshim_start --cluster "$CL" --mode audit --record all || { bad "audit: npshim run did not start"; finish; exit 1; }
AUDIT_DB=$NPSHIM_DB
# Twice, so each flow counts more than one connection.
probe_lines <"$E2E_TMP/observed" >"$E2E_TMP/audit.1"
probe_lines <"$E2E_TMP/observed" >"$E2E_TMP/audit.2"
check "audit: all $n_obs observed connections connect (audit never drops)" \
	[ "$(awk '{ print $5 }' "$E2E_TMP/audit.1" "$E2E_TMP/audit.2" | sort -u)" = "connected" ]

echo "== recommend from the audit database (daemon still running)"
# Readers never block the writer (WAL); wait for the first flush.
for i in $(seq 1 40); do
	got=$("$NPSHIM" flows --db "$AUDIT_DB" --sql "SELECT count(DISTINCT src_name || dst_name || port) AS n FROM flows" \
		--output json 2>/dev/null | jq -r '.[0].n // 0' 2>/dev/null || echo 0)
	[ "${got:-0}" -ge "$n_obs" ] && break
	sleep 0.25
done
rc=0
"$NPSHIM" recommend --db "$AUDIT_DB" --cluster "$CL" -A --output json >"$E2E_TMP/rec.json" 2>"$E2E_TMP/rec.err" || rc=$?
check "recommend: exit 0, proof complete over the $n_obs recorded flows" \
	bash -c '[ "$1" -eq 0 ] && jq -e --argjson n "$2" ".coverage.complete and .coverage.flows == \$n" "$3" >/dev/null' \
		_ "$rc" "$n_obs" "$E2E_TMP/rec.json"
rc=0
"$NPSHIM" recommend --db "$AUDIT_DB" --cluster "$CL" -A >"$E2E_TMP/recommended.yaml" 2>/dev/null || rc=$?
check "recommend: YAML written" eval '[ "$rc" -eq 0 ] && [ -s "$E2E_TMP/recommended.yaml" ]' 
if [ -n "${RECOMMEND_E2E_SAVE:-}" ]; then cp "$E2E_TMP/recommended.yaml" "$RECOMMEND_E2E_SAVE"; fi

echo "== apply: files + SIGHUP, then enforce"
gen_before=$(npshim_status | jq -r '.model.generation // 0')
put() { cat >"$1.tmp" && mv -f "$1.tmp" "$1"; }
put "$CL/recommended.yaml" <"$E2E_TMP/recommended.yaml"
kill -HUP "$NPSHIM_PID"
reloaded=0
for i in $(seq 1 50); do
	gen=$(npshim_status 2>/dev/null | jq -r '.model.generation // 0' 2>/dev/null || echo 0)
	if [ "${gen:-0}" -gt "${gen_before:-0}" ]; then reloaded=1; break; fi
	sleep 0.1
done
check "apply: SIGHUP loads the recommended policies (new model)" [ $reloaded -eq 1 ]
check "apply: status shows no reload failure" \
	bash -c 'npshim_status_out=$(ip netns exec "$1" "$2" status --socket "$3" --output json) &&
		jq -e "(.reload.failures // 0) == 0 and (.reload.last_error == null)" <<<"$npshim_status_out" >/dev/null' \
		_ "$NODE" "$NPSHIM" "$NPSHIM_SOCK"
npshim_stop || bad "apply: audit daemon exit status"
npshim_start --cluster "$CL" --mode enforce --fail-closed || { bad "enforce: npshim run did not start"; finish; exit 1; }
probe_lines <"$E2E_TMP/observed" >"$E2E_TMP/enforce.obs"
probe_lines <"$E2E_TMP/unobserved" >"$E2E_TMP/enforce.un"
if [ "$(awk '{ print $5 }' "$E2E_TMP/enforce.obs" | sort -u)" = "connected" ]; then
	ok "enforce: every observed connection still connects ($n_obs)"
else
	bad "enforce: observed connections blocked:"
	grep -v ' connected$' "$E2E_TMP/enforce.obs" | sed 's/^/         /'
fi
if [ "$(awk '{ print $5 }' "$E2E_TMP/enforce.un" | sort -u)" = "timeout" ]; then
	ok "enforce: every unobserved connection is blocked ($(grep -c . "$E2E_TMP/unobserved"))"
else
	bad "enforce: unobserved connections not blocked:"
	grep -v ' timeout$' "$E2E_TMP/enforce.un" | sed 's/^/         /'
fi
# The wire agrees with the engine over the same files.
sim=$(cat "$E2E_TMP/observed" "$E2E_TMP/unobserved" | simulate_lines --cluster "$CL" | jq -r '.verdict' | tr '\n' ' ')
wire=$(cat "$E2E_TMP/enforce.obs" "$E2E_TMP/enforce.un" | awk '{ print ($5 == "connected") ? "allow" : "deny" }' | tr '\n' ' ')
check "enforce: the wire matches npshim simulate over the same files" [ "$sim" = "$wire" ]
npshim_stop && ok "enforce: daemon stopped cleanly" || bad "enforce: daemon exit status"

finish

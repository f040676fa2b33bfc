#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test/k8s-e2e/run.sh - suite "k8s-e2e": `npshim run` watching a (fake)
# kube-apiserver enforces what `npshim simulate` says, on real connections,
# through every change and failure of the API server.
#
# Topology (test/e2e/lib.sh): one network namespace per pod of the cluster
# in test/data/k8s-fixtures (kube-apiserver-shaped objects: full metadata,
# managedFields, status), with the pods' own IPs and container ports, plus
# the address a pod created later will get (10.244.2.14) and an "external"
# namespace (198.51.100.7 as the internet, 203.0.113.x as an outside API).
# test/k8s/fakeapi.py serves the cluster over TLS (a CA made here) with a
# bearer token, INSIDE the node namespace on 127.0.0.1:6443, driven one step
# at a time by apictl.py; `npshim run --kubeconfig` (later --in-cluster)
# runs in the node namespace too and enforces.
#
# After every step the suite waits (bounded) for the model generation in
# `npshim status --output json` to move, then probes a matrix of ~400 real
# TCP/UDP flows (test/tools/probe batch) and checks, flow by flow, that
#   wire == `npshim simulate --kubeconfig` (one-shot list of the same server)
#        == `npshim simulate --cluster DUMP` (the server's objects, listed by
#           dump.py independently of npshim and written to a file),
# with allowed AND blocked flows in every step, and a few hand-written cells
# that the step's change must flip. Steps: initial sync with pagination;
# pod label change; policy add, update, delete; pod delete and a new pod;
# bookmarks (no rebuild); 410 Gone -> relist; a malformed event (no change
# missed); 403, 429 with Retry-After, 500 on a watch; 401 (model kept, then
# recovered); API server restart mid-stream with a change made while it was
# down; in-cluster mode (KUBERNETES_SERVICE_HOST/PORT, --sa-dir, --node) with token
# file rotation; warm start from the persisted state with the server down,
# then the sync that replaces it. About 75 s. K8SE2E_VERBOSE=1 shows every
# command (lib.sh's E2E_VERBOSE), E2E_KEEP=1 keeps the temp dir.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# Under the runner and alone alike, a skip exits 0 (lib.sh: NPSHIM_TOP set).
export NPSHIM_TOP=$top
NPSHIM=${NPSHIM:-$top/npshim}
NPSHIM_BUILD=${NPSHIM_BUILD:-$top/build}
E2E_SUITE=k8s-e2e
E2E_NEED_TOOLS="clusterpods"
E2E_VERBOSE=${K8SE2E_VERBOSE:-${E2E_VERBOSE:-}}
# shellcheck source=test/e2e/lib.sh
. "$top/test/e2e/lib.sh"

fx=$top/test/data/k8s-fixtures
here=$top/test/k8s-e2e
fakeapi=$top/test/k8s/fakeapi.py
PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}

for t in python3 openssl; do
	command -v "$t" >/dev/null 2>&1 || e2e_skip "$t is not installed (fake API server, TLS)"
done
[ -f "$fakeapi" ] || { echo "missing $fakeapi"; echo "$E2E_SUITE: 0 passed, 1 failed"; exit 1; }
e2e_init || { echo "$E2E_SUITE: 0 passed, 1 failed"; exit 1; }
T=$E2E_TMP
start=$(date +%s)
PROBE_TIMEOUT=${PROBE_TIMEOUT:-700}

# ---- TLS, credentials ----

TOKEN=k8s-e2e-token-0
API_URL=https://127.0.0.1:6443
(
	cd "$T" &&
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout ca.key -out ca.crt -days 2 -subj "/CN=npshim-k8s-e2e-ca" &&
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout srv.key -out srv.csr -subj "/CN=kube-apiserver" &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >srv.cnf &&
	openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt \
		-days 2 -extfile srv.cnf
) >"$T/openssl.log" 2>&1 || { sed 's/^/    /' "$T/openssl.log"; bad "openssl: no TLS material"; echo "$E2E_SUITE: $PASS passed, $FAIL failed"; exit 1; }

KC=$T/kubeconfig.yaml
cat >"$KC" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: $API_URL
    certificate-authority: $T/ca.crt
users:
- name: npshim
  user:
    token: $TOKEN
contexts:
- name: fake
  context: {cluster: fake, user: npshim, namespace: kube-system}
current-context: fake
EOF
STATE=$T/state
SA=$T/sa
mkdir -p "$STATE" "$SA"
cp "$T/ca.crt" "$SA/ca.crt"
echo kube-system >"$SA/namespace"
printf 'rotated-token-1\n' >"$SA/token"

# How `simulate` reaches the server live, and the credentials dump.py uses:
# the kubeconfig until the in-cluster part switches both.
SIM_LIVE=(--kubeconfig "$KC")
DUMP_TOKEN=$TOKEN

# ---- the fake API server, in the node namespace ----

API_PID=
API_RUN=0
API_STATE=$T/api-state.json
# api_start [fakeapi args...]: a fresh control directory per server life.
api_start() {
	local i
	API_RUN=$((API_RUN + 1))
	API_CTL=$T/ctl.$API_RUN
	API_N=0
	mkdir -p "$API_CTL"
	rm -f "$T/api.ready"
	pretty node "fakeapi (apictl.py) on 127.0.0.1:6443 $*"
	ip netns exec "$NODE" env TOKEN_FILE="$SA/token" python3 "$here/apictl.py" "$fakeapi" \
		--fixtures "$fx" --cert "$T/srv.crt" --key "$T/srv.key" --port 6443 \
		--ready-file "$T/api.ready" --scenario "$API_CTL" --state-file "$API_STATE" \
		--page-size 4 "$@" 2>>"$T/api.log" &
	API_PID=$!
	E2E_PIDS+=("$API_PID")
	for i in $(seq 1 100); do
		[ -s "$T/api.ready" ] && return 0
		kill -0 "$API_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "         fake API server did not start:"
	tail -n 10 "$T/api.log" | sed 's/^/           /'
	return 1
}

# api_stop: SIGTERM (graceful: watches end, 503 meanwhile, state saved).
api_stop() {
	local i
	[ -n "$API_PID" ] || return 0
	kill -TERM "$API_PID" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$API_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$API_PID" 2>/dev/null
	wait "$API_PID" 2>/dev/null
	API_PID=
}

# api_do STEP_JSON...: run these steps on the server; waits until done.
api_do() {
	local f="$API_CTL/$API_N.json" i
	printf '%s\n' "$@" | jq -s '{steps: .}' >"$f.tmp" && mv "$f.tmp" "$f"
	for i in $(seq 1 150); do
		if [ -s "$f.done" ]; then
			API_N=$((API_N + 1))
			return 0
		fi
		sleep 0.1
	done
	API_N=$((API_N + 1))
	echo "         the fake API server did not finish its steps within 15 s"
	return 1
}

# ---- watch events built from the fixtures ----

# ev RESOURCE TYPE NS NAME PATCH_JSON: a fakeapi "event" step (the stored
# object, PATCH merged in, a fresh resourceVersion).
ev() {
	local kind api
	case $1 in
	pods) kind=Pod api=v1 ;;
	namespaces) kind=Namespace api=v1 ;;
	networkpolicies) kind=NetworkPolicy api=networking.k8s.io/v1 ;;
	esac
	jq -cn --arg r "$1" --arg t "$2" --arg ns "$3" --arg n "$4" --arg k "$kind" --arg a "$api" \
		--argjson p "$5" '{event: {kind: $k, apiVersion: $a,
			metadata: ({name: $n} + (if $ns == "" then {} else {namespace: $ns} end))},
		  resource: $r, type: $t, patchFromStore: $p}'
}
labels() { jq -cn --arg k "$1" --arg v "$2" '{metadata: {labels: {($k): $v}}}'; }
# line FILE N: the object of the Nth event of a fixture watch stream.
line() { sed -n "${2}p" "$fx/watch/$1" | jq -c '.object | del(.kind, .apiVersion)'; }
# item FILE NAME: an item of a fixture list.
item() { jq -c --arg n "$2" '.items[] | select(.metadata.name == $n)' "$fx/$1"; }

# A policy of our own, shaped as the server returns allow-dns (metadata,
# last-applied annotation, managedFields): frontend pods may reach the api
# pods on 8080, so that adding allow-frontend-to-api (ingress) opens a path.
POL_FRONTEND_EGRESS=$(item networkpolicies.json allow-dns | jq -c '
	.metadata.name = "allow-frontend-egress-to-api" |
	.metadata.uid = "5b0c7d1e-6f42-4c3a-9e1b-2d8a7c6f4e10" |
	.spec = {podSelector: {matchLabels: {tier: "frontend"}},
		 egress: [{ports: [{protocol: "TCP", port: 8080}],
			   to: [{podSelector: {matchLabels: {tier: "application"}}}]}],
		 policyTypes: ["Egress"]} |
	.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"] =
		({apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy",
		  metadata: {annotations: {}, name: .metadata.name, namespace: "production"},
		  spec: .spec} | tojson) + "\n"')

# ---- the daemon ----

gen() { npshim_status 2>/dev/null | jq -r '.model.generation // empty' 2>/dev/null; }
st() { npshim_status 2>/dev/null | jq -c "$1" 2>/dev/null; }

# wait_status JQ_EXPR TIMEOUT_S: until the status JSON satisfies it.
wait_status() {
	for _ in $(seq 1 $(($2 * 10))); do
		status_is "$1" && return 0
		daemon_alive || return 1
		sleep 0.1
	done
	return 1
}

# status_is JQ_EXPR: the daemon answers and its status satisfies JQ_EXPR.
status_is() {
	local s
	s=$(npshim_status 2>/dev/null) && [ -n "$s" ] && jq -e "$1" <<<"$s" >/dev/null 2>&1
}

daemon_alive() { [ -n "$NPSHIM_PID" ] && kill -0 "$NPSHIM_PID" 2>/dev/null; }

# wait_model BEFORE TIMEOUT_S: the generation moves past BEFORE, then holds
# still (generation and watcher snapshots unchanged over 0.5 s: the burst
# of one step is in, debounced into one rebuild or more).
wait_model() {
	local before=$1 t=$2 a b
	wait_status ".model.generation > $before" "$t" || return 1
	a=$(st '[.model.generation, .cluster.snapshots]')
	for _ in $(seq 1 20); do
		sleep 0.5
		b=$(st '[.model.generation, .cluster.snapshots]')
		[ "$a" = "$b" ] && return 0
		a=$b
	done
	return 1
}

# check_status TITLE JQ_EXPR: a fact about the daemon's status, now.
check_status() {
	if status_is "$2"; then
		ok "$1"
	else
		bad "$1"
		echo "         status.cluster: $(st '.cluster.watches | map({resource, state, resource_version, relists, errors, malformed, last_error})' | cut -c1-900)"
	fi
}
watch_of() { echo "(.cluster.watches[] | select(.resource == \"$1\"))"; }

# ---- the probe matrix ----

# Every pod of the fixture cluster (hostNetwork and not-running pods have no
# address of their own and are left out by clusterpods), serving its
# container ports and 80; the address api-7c9d8f6b5-r7t2v will get; outside.
EXTRA_PORTS=80 pods_from_cluster "$fx/namespaces.json" "$fx/pods.json" "$fx/networkpolicies.json"
R7=production/api-7c9d8f6b5-r7t2v
pod_add "$R7" 10.244.2.14
serve "$R7" --tcp 8080,9090,80
pod_add external 198.51.100.7 203.0.113.10 203.0.113.5 203.0.113.200
serve external --tcp 443,80,8080
{
	# (CoreDNS's 8080 and 8181 are left out: 9153 stands for them.)
	jq -r '.ns as $ns | "\($ns)/\(.name) \(.ips[0]) \(([.ports[]
		| select(($ns == "kube-system" and (.port == 8080 or .port == 8181)) | not)
		| "\(.protocol | ascii_downcase)/\(.port)"] + ["tcp/80"]) | unique | join(","))"' "$T/pods.jsonl"
	echo "$R7 10.244.2.14 tcp/8080,tcp/9090,tcp/80"
} >"$T/dests"
{
	for src in "${!POD_NETNS[@]}"; do
		while read -r dst dip ports; do
			[ "$src" = "$dst" ] && continue
			for p in ${ports//,/ }; do echo "$src ${p%/*} $dip ${p#*/}"; done
		done <"$T/dests"
		[ "$src" = external ] && continue
		for ext in 203.0.113.10 203.0.113.5 203.0.113.200; do echo "$src tcp $ext 443"; done
	done
} | sort >"$T/probes.in"
# flows for simulate, same order
while read -r src proto dst port; do
	printf '{"src":"%s","dst":"%s","protocol":"%s","port":%d}\n' "${POD_IP[$src]}" "$dst" "${proto^^}" "$port"
done <"$T/probes.in" >"$T/flows.in"
echo "# $(wc -l <"$T/probes.in") flows per step: $((${#POD_NETNS[@]} - 1)) pods and the outside, the ports of every pod"

# verdicts OUT simulate-args...: "allow"/"deny" per flow, in order; fails
# (no output file) when simulate fails.
verdicts() {
	local out=$1
	shift
	rm -f "$out"
	"$@" --flows "$T/flows.in" >"$out.json" 2>"$out.err" || return 1
	jq -r '.verdict' "$out.json" >"$out"
	[ "$(wc -l <"$out")" -eq "$(wc -l <"$T/probes.in")" ]
}
# NODE_ARGS: --node NAME once the daemon enforces for one node only.
NODE_ARGS=()
sim_live() { ip netns exec "$NODE" "$NPSHIM" simulate "${SIM_LIVE[@]}" "${NODE_ARGS[@]}" "$@"; }
sim_files() { "$NPSHIM" simulate "${NODE_ARGS[@]}" "$@"; }

DUMPS=0
# dump: the server's objects, listed by dump.py, to $DUMP.
dump() {
	DUMPS=$((DUMPS + 1))
	DUMP=$T/dump.$DUMPS.json
	ip netns exec "$NODE" python3 "$here/dump.py" "$API_URL" "$T/ca.crt" "$DUMP_TOKEN" "$DUMP" 2>"$T/dump.err"
}

# probe_all [TIMEOUT_MS] < "SRC_ID PROTO DST_IP PORT" lines: lib.sh's
# probe_lines, with every flow of the matrix in flight at once (a blocked
# flow costs a whole timeout; one round of them instead of four).
probe_all() {
	local src proto dst port
	: >"$T/pa.in"
	: >"$T/pa.ids"
	while read -r src proto dst port; do
		echo "${POD_NETNS[$src]:?unknown pod $src} $proto $dst $port" >>"$T/pa.in"
		echo "$src $proto $dst $port" >>"$T/pa.ids"
	done
	pretty "" "probe batch --timeout ${1:-$PROBE_TIMEOUT} ($(wc -l <"$T/pa.in") probes)"
	"$TOOLS/probe" batch --timeout "${1:-$PROBE_TIMEOUT}" --parallel 512 <"$T/pa.in" |
		jq -r '.result' | paste -d' ' "$T/pa.ids" -
}

# compare TITLE ORACLE_A ORACLE_B: probe the matrix; every flow must be
# connected where both oracles (files of allow/deny, one per flow) say
# allow, blocked where they say deny, and the oracles must agree. A flow
# that should connect but timed out is probed once more with a longer
# timeout (a loaded machine), never the other way round.
compare() {
	local title=$1 a=$2 b=$3 n bad_lines retry allowed blocked
	n=$(wc -l <"$T/probes.in")
	probe_all <"$T/probes.in" | awk '{ print $5 }' >"$T/wire"
	paste -d' ' "$T/probes.in" "$T/wire" "$a" "$b" >"$T/cmp"
	awk '$5 == "timeout" && $6 == "allow" && $7 == "allow" { print $1, $2, $3, $4 }' "$T/cmp" >"$T/retry.in"
	if [ -s "$T/retry.in" ]; then
		retry=$(wc -l <"$T/retry.in")
		probe_all 3000 <"$T/retry.in" >"$T/retry.out"
		awk 'NR == FNR { r[$1 " " $2 " " $3 " " $4] = $5; next }
			{ k = $1 " " $2 " " $3 " " $4; if (k in r) $5 = r[k]; print }' \
			"$T/retry.out" "$T/cmp" >"$T/cmp.new" && mv "$T/cmp.new" "$T/cmp"
		echo "         ($retry allowed flows timed out at first and were probed again)"
	fi
	CMP=$T/cmp.$CMPS
	CMPS=$((CMPS + 1))
	cp "$T/cmp" "$CMP"
	# wire connected|timeout, oracle A, oracle B
	bad_lines=$(awk '$6 != $7 || ($6 == "allow" && $5 != "connected") || ($6 == "deny" && $5 != "timeout")' "$T/cmp")
	allowed=$(awk '$5 == "connected"' "$T/cmp" | wc -l)
	blocked=$(awk '$5 == "timeout"' "$T/cmp" | wc -l)
	if [ -z "$bad_lines" ]; then
		ok "$title: $n flows, wire = both oracles ($allowed connected, $blocked blocked)"
	else
		bad "$title: $(wc -l <<<"$bad_lines") of $n flows differ (src proto dst port wire oracle-a oracle-b):"
		head -n 12 <<<"$bad_lines" | sed 's/^/           /'
	fi
	if [ "$allowed" -gt 0 ] && [ "$blocked" -gt 0 ]; then
		ok "$title: allowed and blocked flows both seen"
	else
		bad "$title: $allowed connected and $blocked blocked: a step must show both"
	fi
}
CMPS=0
CMP=/dev/null

# step_check TITLE: the live oracle and the dump oracle against the wire.
step_check() {
	local title=$1
	if ! dump; then
		bad "$title: could not list the fake API server ($(head -c 300 "$T/dump.err"))"
		return 0
	fi
	if ! verdicts "$T/v.live" sim_live; then
		bad "$title: npshim simulate ${SIM_LIVE[0]} failed: $(head -n 3 "$T/v.live.err" | tr '\n' ' ')"
		return 0
	fi
	if ! verdicts "$T/v.files" sim_files --cluster "$DUMP"; then
		bad "$title: npshim simulate --cluster (dump) failed: $(head -n 3 "$T/v.files.err" | tr '\n' ' ')"
		return 0
	fi
	compare "$title" "$T/v.live" "$T/v.files"
}

# cell TITLE SRC DST_IP PROTO PORT connected|timeout: a hand-written
# expectation on the last compared matrix (the change of the step, seen on
# the wire).
cell() {
	local got
	got=$(awk -v s="$2" -v d="$3" -v p="$4" -v n="$5" '$1 == s && $3 == d && $2 == p && $4 == n { print $5 }' "$CMP")
	if [ "$got" = "$6" ]; then
		ok "$1: $2 -> ${IP_POD[$3]:-$3} ($3) $4/$5 $6"
	else
		bad "$1: $2 -> ${IP_POD[$3]:-$3} ($3) $4/$5: expected $6, wire ${got:-(not probed)}"
	fi
}

# change TITLE STEP_JSON...: apply on the server, wait for the rebuild.
GEN=0
change() {
	local title=$1 g0
	shift
	g0=$(gen)
	api_do "$@" || bad "$title: server steps"
	if wait_model "${g0:-0}" 25; then
		GEN=$(gen)
		ok "$title: model rebuilt (generation $g0 -> $GEN)"
	else
		bad "$title: no new model within 25 s (generation ${g0:-?} -> $(gen))"
		daemon_alive || { echo "         npshim run is not running any more:"; tail -n 5 "$NPSHIM_ERR" | sed 's/^/           /'; }
	fi
}

# finish: logs on failure, cleanup, the summary line; exits.
finish() {
	if [ "$FAIL" -gt 0 ]; then
		echo "# daemon log (last run):"
		tail -n 25 "$NPSHIM_ERR" 2>/dev/null | sed 's/^/    /'
		echo "# fake API server log:"
		tail -n 25 "$T/api.log" | sed 's/^/    /'
	fi
	npshim_stop >/dev/null 2>&1
	api_stop
	unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT
	e2e_cleanup
	trap - EXIT
	left=$(ip netns list | grep -c "^$PFX-" || true)
	if [ "$left" -eq 0 ]; then ok "cleanup: no namespace of this run left"; else bad "cleanup: $left namespaces left"; fi
	echo "# took $(($(date +%s) - start)) s"
	echo "$E2E_SUITE: $PASS passed, $FAIL failed, $SKIP skipped"
	[ "$FAIL" -eq 0 ]
	exit
}

# bail REASON: what follows cannot run; count a failure and finish.
bail() {
	bad "$1 (the remaining steps are not run)"
	finish
}

# A step that cannot complete in time means a hang somewhere: stop there.
BUDGET=${K8SE2E_BUDGET:-240}
budget() {
	daemon_alive || bail "npshim run died before: $1"
	[ $(($(date +%s) - start)) -le "$BUDGET" ] || bail "over the time budget of $BUDGET s before: $1"
}

# Names used in the hand-written cells.
WEB9=production/web-5f7b9c6d4-9xkzp WEB_TL=production/web-5f7b9c6d4-tl6vb
API=production/api-7c9d8f6b5-x2k4p
ING=ingress-nginx/ingress-nginx-controller-5c8d66c76d-7wqzr
AUTH_IP=10.244.2.6 WEB9_IP=10.244.2.11 WEBTL_IP=10.244.1.16 API_IP=10.244.1.14
DNS_IP=10.244.0.3 QW8_IP=10.244.2.9 R7_IP=10.244.2.14

echo "== [$(($(date +%s) - start))s] 1. npshim run --kubeconfig: initial sync with pagination"
api_start --token "$TOKEN" || bail "fake API server start"
npshim_start --kubeconfig "$KC" --state-dir "$STATE" --mode enforce --fail-closed \
	--no-config --metrics off || bail "npshim run --kubeconfig did not start"
if wait_status '.cluster.synced and (.cluster.serving_persisted | not) and .model.pods == 15' 20; then
	GEN=$(gen)
	ok "synced from the API server: 15 pods, $(st .model.policies) policies, generation $GEN"
else
	bad "no synced model from the API server within 20 s"
fi
check_status "lists paginated (server page size 4): pods 4 pages, namespaces 2, policies 2; all three watching" \
	"$(watch_of pods).pages == 4 and $(watch_of namespaces).pages == 2 and $(watch_of networkpolicies).pages == 2 and all(.cluster.watches[]; .state == \"watching\" and .errors == 0)"
step_check "initial"
cell initial "$WEB9" "$AUTH_IP" tcp 8080 timeout
cell initial "$ING" "$WEB9_IP" tcp 8080 connected
cell initial "$API" 203.0.113.200 tcp 443 connected
cell initial "$API" 203.0.113.5 tcp 443 timeout
cell initial "$WEB_TL" "$API_IP" tcp 8080 timeout
cell initial external "$R7_IP" tcp 8080 connected
cell initial external "$QW8_IP" tcp 8080 timeout

budget "section 2"
echo "== [$(($(date +%s) - start))s] 2. pod label change (MODIFIED): web-9xkzp tier frontend -> application"
change "label" "$(ev pods MODIFIED production web-5f7b9c6d4-9xkzp "$(labels tier application)")"
step_check "label"
cell label "$WEB9" "$AUTH_IP" tcp 8080 connected
cell label "$ING" "$WEB9_IP" tcp 8080 timeout

budget "section 3"
echo "== [$(($(date +%s) - start))s] 3. policy add (ADDED): allow-frontend-to-api (named port) and a frontend egress policy"
change "policy add" "$(ev networkpolicies ADDED production allow-frontend-to-api "$(line networkpolicies.jsonl 1)")" \
	"$(ev networkpolicies ADDED production allow-frontend-egress-to-api "$POL_FRONTEND_EGRESS")"
step_check "policy add"
cell "policy add" "$WEB_TL" "$API_IP" tcp 8080 connected
cell "policy add" "$WEB_TL" "$API_IP" tcp 9090 timeout

budget "section 4"
echo "== [$(($(date +%s) - start))s] 4. policy update (MODIFIED): allow-external-api excepts 203.0.113.128/25 too"
change "policy update" "$(ev networkpolicies MODIFIED production allow-external-api "$(line networkpolicies-churn.jsonl 1)")"
step_check "policy update"
cell "policy update" "$API" 203.0.113.200 tcp 443 timeout
cell "policy update" "$API" 203.0.113.10 tcp 443 connected

budget "section 5"
echo "== [$(($(date +%s) - start))s] 5. policy delete (DELETED): allow-frontend-to-api"
change "policy delete" "$(ev networkpolicies DELETED production allow-frontend-to-api '{}')"
step_check "policy delete"
cell "policy delete" "$WEB_TL" "$API_IP" tcp 8080 timeout

budget "section 6"
echo "== [$(($(date +%s) - start))s] 6. pod delete and a new pod: qw8zn terminating then DELETED, r7t2v ADDED running at $R7_IP"
change "pod delete" "$(ev pods MODIFIED production api-7c9d8f6b5-qw8zn "$(line pods.jsonl 2)")" \
	"$(ev pods DELETED production api-7c9d8f6b5-qw8zn "$(line pods.jsonl 5)")" \
	"$(ev pods ADDED production api-7c9d8f6b5-r7t2v "$(line pods.jsonl 6)")"
step_check "pod delete"
cell "pod delete" external "$QW8_IP" tcp 8080 connected
cell "pod delete" external "$R7_IP" tcp 8080 timeout
cell "pod delete" "$R7" "$AUTH_IP" tcp 8080 connected

budget "section 7"
echo "== [$(($(date +%s) - start))s] 7. bookmarks: the resume point moves, the model does not"
g0=$(gen)
api_do '{"bookmark": ["pods", "namespaces", "networkpolicies"]}' || bad "bookmark: server steps"
bm=$(jq -r .rv "$API_CTL/$((API_N - 1)).json.done")
if wait_status "all(.cluster.watches[]; .resource_version == \"$bm\" and .bookmarks >= 1)" 10; then
	ok "bookmark: every watch resumes from $bm now"
else
	bad "bookmark: watches did not move to resourceVersion $bm"
fi
sleep 0.5
check_status "bookmark: no rebuild for a bookmark (generation stays $g0)" ".model.generation == $g0"
step_check "bookmark"

budget "section 8"
echo "== [$(($(date +%s) - start))s] 8. API server restart mid-stream; a pod changed while it was down"
rl=$(st "$(watch_of pods).relists")
g0=$(gen)
api_stop
# As etcd moved on while kube-apiserver was away: api-x2k4p relabelled, the
# resourceVersion past every watch's resume point.
jq '.rv += 100 | .rv as $rv |
	.objects.pods["production/api-7c9d8f6b5-x2k4p"].metadata.labels.tier = "batch" |
	.objects.pods["production/api-7c9d8f6b5-x2k4p"].metadata.resourceVersion = ($rv | tostring)' \
	"$API_STATE" >"$API_STATE.new" && mv "$API_STATE.new" "$API_STATE"
api_start --token "$TOKEN" || bail "restart: fake API server start"
# The relists of namespaces and policies rebuild too: the pods relist is
# the one that carries the change.
if wait_status "$(watch_of pods).relists > $rl" 30 && wait_model "$g0" 10; then
	GEN=$(gen)
	ok "restart: model rebuilt after the server came back (generation $g0 -> $GEN)"
else
	bad "restart: no new model within 30 s of the server's return"
fi
check_status "restart: too old to resume (410), pods relisted, all three watching" \
	"$(watch_of pods).relists > $rl and all(.cluster.watches[]; .state == \"watching\")"
# Objects that last came by watch and come again by list unchanged are no
# change: one rebuild, for the one pod that did change.
check_status "restart: one rebuild for the one changed pod (the unchanged relists rebuild nothing)" \
	".model.generation == $((g0 + 1))"
step_check "restart"
cell restart "$API" "$AUTH_IP" tcp 8080 timeout
cell restart "$API" 203.0.113.10 tcp 443 timeout
change "after restart" "$(ev pods MODIFIED production api-7c9d8f6b5-x2k4p "$(labels tier application)")"
step_check "after restart"
cell "after restart" "$API" 203.0.113.10 tcp 443 connected
# The reflectors back off as client-go's do (800 ms doubling to 30 s,
# reset after 2 quiet minutes): the failures to come get a daemon whose
# backoff has not grown on the restart's. It starts from the state the
# first one persisted at exit, then syncs.
if npshim_stop; then ok "kubeconfig daemon: SIGTERM, exit 0"; else bad "kubeconfig daemon: exit status non-zero on SIGTERM"; fi
check "kubeconfig daemon: no rule left" [ "$(ip netns exec "$NODE" iptables-save | grep -ci 'nfqueue\|npshim')" -eq 0 ]
npshim_start --kubeconfig "$KC" --state-dir "$STATE" --mode enforce --fail-closed \
	--no-config --metrics off || bail "npshim run --kubeconfig (second run) did not start"
if wait_status '.cluster.synced and (.cluster.serving_persisted | not) and .cluster.persist.loaded_at_start' 20; then
	ok "daemon restarted: persisted state loaded at start, then synced"
else
	bad "daemon restarted: not synced within 20 s"
fi
sleep 0.5
step_check "daemon restarted"

budget "section 9"
echo "== [$(($(date +%s) - start))s] 9. 410 Gone: history compacted, ERROR 410 on the policies watch -> relist"
rl=$(st "$(watch_of networkpolicies).relists")
# allow-dns goes while no watch is told, so only the relist can show it.
change "410" "$(jq -cn --argjson e "$(ev networkpolicies DELETED production allow-dns '{}')" '{stealth: $e}')" \
	'{"compact": {}}' '{"bookmark": ["pods", "namespaces"]}' \
	'{"error410": {"resource": "networkpolicies"}}'
check_status "410: policies relisted ($rl -> more), watching again" \
	"$(watch_of networkpolicies).relists > $rl and $(watch_of networkpolicies).state == \"watching\""
step_check "410"
cell 410 "$API" "$DNS_IP" udp 53 timeout

budget "section 10"
echo "== [$(($(date +%s) - start))s] 10. a malformed event on the pods watch: logged, resourceVersion kept, relisted, nothing missed"
rl=$(st "$(watch_of pods).relists")
# The label change travels only as the garbled line (kept in history): a
# client that skipped the line and went on would never see it.
change "malformed" "$(jq -cn --argjson e "$(ev pods MODIFIED production web-5f7b9c6d4-tl6vb "$(labels tier canary)")" '{stealth: $e}')" \
	'{"raw": {"resource": "pods", "file": "watch/malformed-events.txt"}}'
check_status "malformed: counted, pods relisted" \
	"$(watch_of pods).malformed >= 1 and $(watch_of pods).relists > $rl and $(watch_of pods).state == \"watching\""
if grep -q "malformed event.*resourceVersion stays" "$NPSHIM_ERR"; then
	ok "malformed: logged with the resourceVersion kept"
else
	bad "malformed: no log line naming the malformed event"
fi
step_check "malformed"
cell malformed "$ING" "$WEBTL_IP" tcp 8080 timeout

budget "section 11"
echo "== [$(($(date +%s) - start))s] 11. 403 on the namespaces watch (RBAC), a namespace label change meanwhile"
change "403" '{"fault": {"status": 403, "verb": "watch", "resource": "namespaces", "count": 1}}' \
	'{"closeWatches": {"resource": "namespaces"}}' \
	"$(ev namespaces MODIFIED "" platform "$(labels name platform-v2)")"
check_status "403: the missing permission named in status" \
	"$(watch_of namespaces).last_error | test(\"403 Forbidden: RBAC: need list/watch on namespaces\")"
step_check "403"
cell 403 "$API" "$AUTH_IP" tcp 8080 timeout

budget "section 12"
echo "== [$(($(date +%s) - start))s] 12. 429 with Retry-After on the policies watch, allow-dns back meanwhile"
change "429" '{"fault": {"status": 429, "verb": "watch", "resource": "networkpolicies", "count": 1, "retryAfter": 1}}' \
	'{"closeWatches": {"resource": "networkpolicies"}}' \
	"$(ev networkpolicies ADDED production allow-dns "$(item networkpolicies.json allow-dns)")"
check_status "429: reported, Retry-After honoured" \
	"$(watch_of networkpolicies).last_error | test(\"429 Too Many Requests.*honouring Retry-After\")"
step_check "429"
cell 429 "$API" "$DNS_IP" udp 53 connected

budget "section 13"
echo "== [$(($(date +%s) - start))s] 13. 500 on the pods watch (client-go: relist after a backoff), a label change meanwhile"
rl=$(st "$(watch_of pods).relists")
change "500" '{"fault": {"status": 500, "verb": "watch", "resource": "pods", "count": 1}}' \
	'{"closeWatches": {"resource": "pods"}}' \
	"$(ev pods MODIFIED production web-5f7b9c6d4-tl6vb "$(labels tier frontend)")"
check_status "500: reported, pods relisted" \
	"($(watch_of pods).last_error | test(\"HTTP 500\")) and $(watch_of pods).relists > $rl"
step_check "500"
cell 500 "$ING" "$WEBTL_IP" tcp 8080 connected

budget "section 14"
echo "== [$(($(date +%s) - start))s] 14. 401: the token is refused; the model stays, then recovers"
prev=$DUMP
g0=$(gen)
api_do '{"tokens": []}' '{"closeWatches": {}}' \
	"$(ev namespaces MODIFIED "" platform "$(labels name platform)")" || bad "401: server steps"
if wait_status 'all(.cluster.watches[]; .last_error | test("401 Unauthorized"))' 10; then
	ok "401: every watch reports 401 Unauthorized"
else
	bad "401: not every watch reports 401"
fi
check_status "401: the model is kept (generation $g0)" ".model.generation == $g0"
if verdicts "$T/v.401" sim_live; then
	bad "401: simulate ${SIM_LIVE[0]} must fail while the token is refused"
elif grep -q "401" "$T/v.401.err"; then
	ok "401: simulate ${SIM_LIVE[0]} fails with 401"
else
	bad "401: simulate failed without naming 401: $(head -n 2 "$T/v.401.err")"
fi
# The daemon still enforces the last state it was given: the previous dump.
if verdicts "$T/v.prev" sim_files --cluster "$prev"; then
	compare "401 (last state kept)" "$T/v.prev" "$T/v.prev"
	cell "401 (last state kept)" "$API" "$AUTH_IP" tcp 8080 timeout
else
	bad "401: simulate --cluster (previous dump) failed"
fi
change "401 recovered" '{"tokens": ["'"$TOKEN"'"]}'
if wait_status 'all(.cluster.watches[]; .state == "watching")' 20; then
	ok "401 recovered: all three watching again"
else
	bad "401 recovered: not all three watching within 20 s"
fi
step_check "401 recovered"
cell "401 recovered" "$API" "$AUTH_IP" tcp 8080 connected

if npshim_stop; then ok "kubeconfig daemon: SIGTERM, exit 0"; else bad "kubeconfig daemon: exit status non-zero on SIGTERM"; fi
check "kubeconfig daemon: no rule left" [ "$(ip netns exec "$NODE" iptables-save | grep -ci 'nfqueue\|npshim')" -eq 0 ]
api_stop

echo "== [$(($(date +%s) - start))s] 15. npshim run --in-cluster --node kind-worker2 (KUBERNETES_SERVICE_HOST/PORT, --sa-dir), from the persisted state"
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=6443
# As the DaemonSet runs it (node name from the downward API): only the pods
# of kind-worker2 are enforced here, and simulate decides as that node.
NODE_ARGS=(--node kind-worker2)
SIM_LIVE=(--in-cluster --sa-dir "$SA")
DUMP_TOKEN=rotated-token-1
api_start --token-file "$SA/token" || bail "fake API server start (token file)"
npshim_start --in-cluster --sa-dir "$SA" --state-dir "$STATE" "${NODE_ARGS[@]}" --mode enforce --fail-closed \
	--no-config --metrics off || bail "npshim run --in-cluster did not start"
if wait_status '.cluster.synced and (.cluster.serving_persisted | not) and .cluster.persist.loaded_at_start and (.cluster.source | startswith("in-cluster"))' 20; then
	ok "in-cluster: persisted state loaded at start, then synced from the API server"
else
	bad "in-cluster: not synced within 20 s ($(st '.cluster | {source, synced, serving_persisted}'))"
fi
sleep 0.5
step_check "in-cluster"
# The node scope: web-9xkzp (kind-worker2) is still isolated here, while
# api-x2k4p -> web-tl6vb, which the policies deny, involves no pod of this
# node and is not this instance's to enforce.
cell in-cluster "$ING" "$WEB9_IP" tcp 8080 timeout
cell in-cluster "$API" "$WEBTL_IP" tcp 8080 connected
cell in-cluster "$R7" 203.0.113.10 tcp 443 connected

budget "section 16"
echo "== [$(($(date +%s) - start))s] 16. service-account token rotation: the file rewritten, the old token refused"
DUMP_TOKEN=rotated-token-2
# ${TOKEN_FILE} is fakeapi's to expand (its environment: $SA/token).
# shellcheck disable=SC2016
change "rotation" '{"writeFile": {"path": "${TOKEN_FILE}", "content": "rotated-token-2"}}' \
	'{"tokens": []}' '{"closeWatches": {}}' \
	"$(ev networkpolicies DELETED production allow-external-api '{}')"
check_status "rotation: all three watching again with the new token" \
	'all(.cluster.watches[]; .state == "watching")'
if grep -q "401 Unauthorized" "$NPSHIM_ERR" && grep -q "bearer token changed" "$NPSHIM_ERR"; then
	ok "rotation: the old token was refused (401) and the file re-read"
else
	bad "rotation: no 401 and token re-read in the log: the rotation was not exercised"
fi
step_check "rotation"
cell rotation "$R7" 203.0.113.10 tcp 443 timeout
cell rotation "$API" 203.0.113.10 tcp 443 connected

echo "== [$(($(date +%s) - start))s] 17. warm start: the daemon restarted while the API server is down"
if npshim_stop; then ok "in-cluster daemon: SIGTERM, exit 0"; else bad "in-cluster daemon: exit status non-zero on SIGTERM"; fi
api_stop
last=$DUMP
npshim_start --in-cluster --sa-dir "$SA" --state-dir "$STATE" "${NODE_ARGS[@]}" --mode enforce --fail-closed \
	--no-config --metrics off || bail "npshim run (server down) did not start"
check_status "warm: serving the persisted state, not synced, connection failures counted" \
	'.cluster.serving_persisted and (.cluster.synced | not) and .cluster.persist.loaded_at_start and .model.pods == 15'
if verdicts "$T/v.down" sim_live; then
	bad "warm: simulate --in-cluster must fail with the server down"
else
	ok "warm: simulate --in-cluster fails with the server down ($(head -n 1 "$T/v.down.err" | cut -c1-120))"
fi
if verdicts "$T/v.last" sim_files --cluster "$last" &&
	verdicts "$T/v.persisted" sim_files --cluster "$STATE/cluster-state.json"; then
	compare "warm (persisted state)" "$T/v.last" "$T/v.persisted"
	cell warm "$R7" 203.0.113.10 tcp 443 timeout
else
	bad "warm: simulate over the last dump or the persisted state failed: $(head -n 2 "$T/v.last.err" "$T/v.persisted.err" 2>/dev/null | tr '\n' ' ')"
fi

n=$(grep -c "connect failure" "$NPSHIM_ERR")
if [ "$n" -eq 3 ]; then
	ok "warm: the connection failure logged once per resource, not per retry"
else
	bad "warm: $n connection failure lines while the server was down (want 3, one per resource)"
fi

echo "== [$(($(date +%s) - start))s] 18. the API server back, with a policy restored meanwhile: the first sync replaces the persisted state"
g0=$(gen)
jq --argjson p "$(item networkpolicies.json allow-external-api)" '.rv += 10 | .rv as $rv |
	.objects.networkpolicies["production/allow-external-api"] = ($p | .metadata.resourceVersion = ($rv | tostring))' \
	"$API_STATE" >"$API_STATE.new" && mv "$API_STATE.new" "$API_STATE"
api_start --token-file "$SA/token" || bad "fake API server start"
if wait_status '.cluster.synced and (.cluster.serving_persisted | not)' 25 && wait_model "$g0" 10; then
	ok "warm: synced, persisted state replaced (generation $g0 -> $(gen))"
else
	bad "warm: no sync within 35 s of the server's return ($(st '.cluster | {synced, serving_persisted}'))"
fi
step_check "warm synced"
cell "warm synced" "$R7" 203.0.113.10 tcp 443 connected
cell "warm synced" "$R7" 203.0.113.200 tcp 443 connected
if npshim_stop; then ok "warm daemon: SIGTERM, exit 0"; else bad "warm daemon: exit status non-zero on SIGTERM"; fi
api_stop
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT

finish

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test/k8s/run.sh - the live cluster source against a fake kube-apiserver.
#
# test/k8s/fakeapi.py serves test/data/k8s-fixtures over TLS (a CA made
# here with openssl) and requires a bearer token; build/tools/k8s_watch
# runs the real watcher (k8s/live.h) against it and prints snapshots,
# verdicts and status as JSON lines, which test/k8s/check.py asserts on,
# waiting at most a few seconds for each condition. Also checks the
# deployment manifests (kubectl dry-run where kubectl exists, our own
# loader). Takes about a minute.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NPSHIM_BUILD:-$top/build}
tool=$build/tools/k8s_watch
SECONDS=0
loader=$build/tools/load_cluster
fx=$top/test/data/k8s-fixtures
sc=$top/test/k8s/scenarios
api_py=$top/test/k8s/fakeapi.py
check_py=$top/test/k8s/check.py
pass=0 fail=0 skip=0
pids=()

work=$(mktemp -d /tmp/npshim-k8s.XXXXXX)
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "ok   - $*"; }
nok() { fail=$((fail + 1)); echo "FAIL - $*"; }
skipped() { skip=$((skip + 1)); echo "skip - $*"; }

# check NAME DESCRIPTION EXPR [TIMEOUT]: wait for EXPR over NAME's output.
check() {
	local name=$1 what=$2 expr=$3 t=${4:-15}
	if python3 "$check_py" "$work/$name.out" "$expr" --timeout "$t"; then
		ok "$what"
	else
		nok "$what"
		[ -f "$work/$name.err" ] && tail -n 15 "$work/$name.err" | sed 's/^/    | /'
	fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_api NAME PORT [fakeapi args...]: waits until it listens; sets API_PID
# and PORT (the one it got when PORT is 0).
start_api() {
	local name=$1 port=$2 i
	shift 2
	rm -f "$work/$name.port"
	python3 "$api_py" --fixtures "$fx" --cert "$work/srv.crt" --key "$work/srv.key" \
		--port "$port" --ready-file "$work/$name.port" "$@" 2>>"$work/$name.api.log" &
	API_PID=$!
	pids+=("$API_PID")
	for i in $(seq 1 100); do
		if [ -s "$work/$name.port" ]; then
			PORT=$(cat "$work/$name.port")
			return 0
		fi
		sleep 0.1
	done
	echo "    fake API server $name did not start:"
	sed 's/^/    | /' "$work/$name.api.log"
	return 1
}

stop_api() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# wait_log FILE PATTERN [TIMEOUT]: grep until found.
wait_log() {
	local f=$1 pat=$2 t=${3:-30} i
	for i in $(seq 1 $((t * 10))); do
		grep -q -- "$pat" "$f" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_watch NAME [k8s_watch args...]: WATCH_PID set. Bounded by timeout.
start_watch() {
	local name=$1
	shift
	timeout -s KILL 120 "$tool" "$@" >"$work/$name.out" 2>"$work/$name.err" &
	WATCH_PID=$!
	pids+=("$WATCH_PID")
}

stop_watch() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$pid" 2>/dev/null
}

kubeconfig() { # FILE PORT TOKEN
	cat >"$1" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: fake
	  cluster:
	    server: https://127.0.0.1:$2
	    certificate-authority: ca.crt
	users:
	- name: agent
	  user:
	    token: $3
	contexts:
	- name: other
	  context: {cluster: fake, user: nobody}
	- name: fake
	  context: {cluster: fake, user: agent, namespace: kube-system}
	current-context: fake
	EOF
}

# Flows whose verdicts the scenarios change (fixture README):
#  web9x_auth: web-9xkzp -> platform/auth-service:8080, allowed once the pod
#              is relabelled tier=application (allow-platform-services)
#  api_ext:    api-x2k4p -> 203.0.113.200:443, denied once 203.0.113.128/25
#              is excepted (policy churn)
#  ext_r7t2v:  outside -> 10.244.2.14:8080, a pod IP only after r7t2v runs
#              (default-deny-all then isolates it)
flows=(--flow web9x_auth=10.244.2.11,10.244.2.6,TCP,8080
	--flow api_ext=10.244.1.14,203.0.113.200,TCP,443
	--flow ext_r7t2v=198.51.100.7,10.244.2.14,TCP,8080)

for t in "$tool" "$loader"; do
	if [ ! -x "$t" ]; then
		echo "k8s: $t not built (make tests)"
		echo "k8s: 0 passed, 1 failed"
		exit 1
	fi
done
if ! command -v openssl >/dev/null; then
	skipped "openssl missing: no TLS fake API server"
	echo "k8s: $pass passed, $fail failed, $skip skipped"
	exit 0
fi

echo "# TLS material for the fake API server"
(
	cd "$work" &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
		-subj "/CN=npshim-test-ca" &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=kube-apiserver" &&
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
	openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt \
		-days 2 -extfile ext.cnf &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 \
		-subj "/CN=someone-else" &&
	openssl req -newkey rsa:2048 -nodes -keyout svc.key -out svc.csr -subj "/CN=kube-apiserver" &&
	printf 'subjectAltName=DNS:kubernetes.default.svc\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >svc.cnf &&
	openssl x509 -req -in svc.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out svc.crt \
		-days 2 -extfile svc.cnf &&
	openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
		-subj "/O=system:masters/CN=npshim-client" &&
	printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.cnf &&
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt \
		-days 2 -extfile client.cnf
) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log"; nok "openssl"; echo "k8s: $pass passed, $fail failed"; exit 1; }

echo "# [${SECONDS}s] 1. initial sync with pagination, then the basic watch streams"
port=$(free_port)
start_api basic "$port" --token t0k3n --page-size 4 \
	--scenario "$fx/scenarios/basic.json" --state-file "$work/basic.state" || nok "server start"
kubeconfig "$work/kc.yaml" "$port" t0k3n
start_watch basic --kubeconfig "$work/kc.yaml" --state-dir "$work/state" --persist-interval 1 "${flows[@]}"
check basic "initial sync: 7 namespaces, 15 pods, 6 policies in the first live snapshot" \
	'len(live) >= 1 and len(live[0]["namespaces"]) == 7 and len(live[0]["pods"]) == 15 and len(live[0]["policies"]) == 6'
check basic "lists were paginated (limit/continue): pods 4 pages, namespaces and policies 2" \
	'W("pods")["pages"] == 4 and W("namespaces")["pages"] == 2 and W("networkpolicies")["pages"] == 2 and all(W(r)["errors"] == 0 for r in ("pods","namespaces","networkpolicies"))'
check basic "all three watching, no relist" \
	'all(W(r)["state"] == "watching" and W(r)["relists"] == 0 for r in ("pods","namespaces","networkpolicies"))'
n=$(grep -c "open from 14627 " "$work/basic.api.log")
if [ "$n" -eq 3 ]; then
	ok "watches started from the list resourceVersion 14627, not an item's"
else
	nok "watches started from the list resourceVersion 14627 (server saw $n such watches)"
fi
check basic "verdicts before the events: web9x_auth deny, api_ext allow, ext_r7t2v allow" \
	'live[0]["verdicts"] == {"web9x_auth": "deny", "api_ext": "allow", "ext_r7t2v": "allow"}'
wait_log "$work/basic.api.log" "scenario done" 30
check basic "pod label change applied: web-5f7b9c6d4-9xkzp tier=application" \
	'labels("production/web-5f7b9c6d4-9xkzp").get("tier") == "application"'
check basic "pod delete and replacement: qw8zn gone, r7t2v on kind-worker2 at 10.244.2.14" \
	'pod("production/api-7c9d8f6b5-qw8zn") is None and pod("production/api-7c9d8f6b5-r7t2v")["ips"] == ["10.244.2.14"] and pod("production/api-7c9d8f6b5-r7t2v")["node"] == "kind-worker2" and len(snap["pods"]) == 15'
check basic "policy add: production/allow-frontend-to-api (7 policies)" \
	'pol("production/allow-frontend-to-api") is not None and len(snap["policies"]) == 7'
check basic "namespace label change: platform environment=shared" \
	'ns("platform")["labels"].get("environment") == "shared"'
check basic "bookmarks moved every resourceVersion to 14850" \
	'all(W(r)["resource_version"] == "14850" and W(r)["bookmarks"] >= 1 for r in ("pods","namespaces","networkpolicies"))'
check basic "verdicts after the events: web9x_auth allow, ext_r7t2v deny" \
	'v("web9x_auth") == "allow" and v("ext_r7t2v") == "deny" and v("api_ext") == "allow"'
check basic "state persisted after the sync" \
	'st["persist"]["writes"] >= 1 and st["persist"]["last_error"] == ""'

echo "# [${SECONDS}s] 2. server restart mid-stream (same port and state file)"
stop_api "$API_PID"
check basic "graceful shutdown seen (watch ended, 503 or connection refused), nothing lost" \
	'any(W(r)["errors"] >= 1 for r in ("pods","namespaces","networkpolicies")) and len(snap["pods"]) == 15' 10
start_api basic2 "$port" --token t0k3n --state-file "$work/basic.state" \
	--scenario "$sc/after-restart.json" || nok "server restart"
check basic "resumed from the last resourceVersion after the restart and got the next event" \
	'labels("production/postgres-0").get("restarted") == "true" and W("pods")["relists"] == 0 and W("pods")["state"] == "watching"' 25
stop_watch "$WATCH_PID"
stop_api "$API_PID"
check basic "final state written at stop" 'final is not None and final["persist"]["writes"] >= 1' 5
if "$loader" --quiet "$work/state/cluster-state.json" >"$work/load.out" 2>&1; then
	ok "persisted state loads with our own loader (k8s_files_load)"
else
	nok "persisted state loads with our own loader"
	sed 's/^/    | /' "$work/load.out" | head -20
fi

echo "# [${SECONDS}s] 3. warm start from the persisted state with the server down"
port2=$(free_port)
kubeconfig "$work/kc2.yaml" "$port2" t0k3n
start_watch warm --kubeconfig "$work/kc2.yaml" --state-dir "$work/state" "${flows[@]}"
check warm "persisted state served first: 15 pods, 7 policies, restarted=true, verdicts as live" \
	'len(snaps) >= 1 and snaps[0]["persisted"] and len(snaps[0]["pods"]) == 15 and len(snaps[0]["policies"]) == 7 and snaps[0]["pods"]["production/postgres-0"]["labels"].get("restarted") == "true" and snaps[0]["verdicts"] == {"web9x_auth": "allow", "api_ext": "allow", "ext_r7t2v": "deny"}'
check warm "status says serving from the persisted state, not synced, connect errors counted" \
	'st.get("serving_persisted") is True and st.get("synced") is False and st["persist"]["loaded_at_start"] and W("pods")["errors"] >= 2' 10
n=$(grep -c "connect failure" "$work/warm.err")
if [ "$n" -eq 3 ]; then
	ok "connection failures logged once per resource, not per retry (3 lines)"
else
	nok "connection failures logged once per resource, not per retry (got $n lines)"
fi
start_api warm "$port2" --token t0k3n || nok "server start"
check warm "first full sync replaces the persisted state (fixture lists: qw8zn back, 6 policies)" \
	'len(live) >= 1 and snap["persisted"] is False and pod("production/api-7c9d8f6b5-qw8zn") is not None and len(snap["policies"]) == 6 and st["serving_persisted"] is False and st["synced"]' 15
check warm "recovery logged" '"recovered" in log' 5
stop_watch "$WATCH_PID"
stop_api "$API_PID"

sec4() {
	echo "# 4. policy add/update/delete"
	start_api churn 0 --token t0k3n --scenario "$fx/scenarios/policy-churn.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec4.yaml" "$port" t0k3n
	start_watch churn --kubeconfig "$work/kc-sec4.yaml" "${flows[@]}"
	wait_log "$work/churn.api.log" "scenario done" 40
	check churn "policy update: allow-external-api except 203.0.113.5/32,203.0.113.128/25" \
		'pol("production/allow-external-api")["ipblocks"] == ["203.0.113.0/24 except 203.0.113.5/32,203.0.113.128/25"]'
	check churn "policy delete: allow-frontend-to-api gone, 6 policies, RV 14950" \
		'pol("production/allow-frontend-to-api") is None and len(snap["policies"]) == 6 and W("networkpolicies")["resource_version"] == "14950"'
	check churn "verdict follows the update: api_ext allow -> deny" \
		'any(s["verdicts"]["api_ext"] == "allow" for s in live) and v("api_ext") == "deny"'
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

sec5() {
	echo "# 5. 410 Gone -> relist"
	start_api gone 0 --token t0k3n --scenario "$fx/scenarios/relist-after-410.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec5.yaml" "$port" t0k3n
	start_watch gone --kubeconfig "$work/kc-sec5.yaml"
	wait_log "$work/gone.api.log" "scenario done" 40
	check gone "ERROR 410 led to a relist and a watch from the new list RV (>= 14851)" \
		'W("pods")["relists"] >= 1 and int(W("pods")["resource_version"]) >= 14851 and W("pods")["state"] == "watching"'
	check gone "change made right after the 410 is not missed: postgres-0 tier=database-primary" \
		'labels("production/postgres-0").get("tier") == "database-primary" and pod("production/api-7c9d8f6b5-qw8zn") is None'
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

sec6() {
	echo "# 6. flaky API server: 500 and 429 on list, 503 on watch, EOF and reset mid-watch"
	start_api flaky 0 --token t0k3n --scenario "$fx/scenarios/flaky-apiserver.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec6.yaml" "$port" t0k3n
	start_watch flaky --kubeconfig "$work/kc-sec6.yaml"
	wait_log "$work/flaky.api.log" "scenario done" 60
	check flaky "survived: all three watching, first pod event applied" \
		'all(W(r)["state"] == "watching" for r in ("pods","namespaces","networkpolicies")) and labels("production/web-5f7b9c6d4-9xkzp").get("tier") == "application"'
	check flaky "500 and 429 on the pods list and 503 on the namespaces watch counted" \
		'W("pods")["errors"] >= 3 and W("namespaces")["errors"] >= 1'
	check flaky "429 reported with Retry-After honoured; dropped watches resumed from the last RV" \
		'"429 Too Many Requests" in log and "honouring Retry-After" in log and "connection lost" in log and W("pods")["watches"] >= 3'
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

sec7() {
	echo "# 7. malformed watch events"
	start_api bad 0 --token t0k3n --scenario "$fx/scenarios/malformed-event.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec7.yaml" "$port" t0k3n
	start_watch bad --kubeconfig "$work/kc-sec7.yaml"
	wait_log "$work/bad.api.log" "scenario done" 40
	check bad "malformed event logged, resourceVersion kept, relisted" \
		'W("pods")["malformed"] >= 1 and W("pods")["relists"] >= 1 and "malformed event" in log and "resourceVersion stays 14627" in log'
	check bad "no garbage applied, no change missed: postgres-0 checked=true, tier=database" \
		'labels("production/postgres-0").get("checked") == "true" and all(s["pods"]["production/postgres-0"]["labels"].get("tier") == "database" for s in snaps) and W("pods")["state"] == "watching"'
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

sec8() {
	echo "# 8. RBAC: 403 on list and watch of networkpolicies"
	start_api rbac 0 --token t0k3n --scenario "$sc/rbac-403.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec8.yaml" "$port" t0k3n
	start_watch rbac --kubeconfig "$work/kc-sec8.yaml"
	check rbac "403 names the missing permission" \
		'"RBAC: need list/watch on networkpolicies.networking.k8s.io at cluster scope" in log'
	check rbac "kept retrying with backoff and synced once allowed" \
		'st.get("synced") and W("networkpolicies")["errors"] >= 2 and W("networkpolicies")["state"] == "watching"' 20
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

sec9() {
	echo "# 9. in-cluster service account, token file rotation (401 -> re-read at once)"
	sa=$work/sa
	mkdir -p "$sa"
	cp "$work/ca.crt" "$sa/ca.crt"
	echo kube-system >"$sa/namespace"
	printf 'rotated-token-1\n' >"$sa/token"
	export TOKEN_FILE=$sa/token
	# The server accepts what the token file holds; the scenario rewrites it,
	# stops accepting the old token and closes every watch.
	start_api rot 0 --token-file "$sa/token" \
		--scenario "$fx/scenarios/token-rotation.json" || nok "server start"
	port=$PORT
	KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$port \
		start_watch rot --sa-dir "$sa"
	check rot "in-cluster config (KUBERNETES_SERVICE_HOST/PORT, --sa-dir): synced" \
		'st.get("synced") is True and st["source"].startswith("in-cluster")' 15
	wait_log "$work/rot.api.log" "scenario done" 40
	check rot "old token refused (401), file re-read at once, all three watching again" \
		'"401 Unauthorized" in log and "bearer token changed" in log and all(W(r)["state"] == "watching" for r in ("pods","namespaces","networkpolicies")) and W("pods")["watches"] >= 2' 15
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
	unset TOKEN_FILE
}

sec10() {
	echo "# 10. a burst of events gives one rebuild"
	start_api burst 0 --token t0k3n --scenario "$sc/burst.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec10.yaml" "$port" t0k3n
	start_watch burst --kubeconfig "$work/kc-sec10.yaml"
	wait_log "$work/burst.api.log" "burst delivered" 40
	check burst "6 pod events + bookmark applied" 'W("pods")["resource_version"] == "14850" and W("pods")["events"] == 6'
	sleep 1.5
	check burst "exactly one snapshot for the burst (2 in all)" 'len(live) == 2 and st["snapshots"] == 2' 3
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

sec11() {
	echo "# 11. one-shot load (simulate/explain --kubeconfig) and TLS verification"
	start_api once 0 --token t0k3n --page-size 5 || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec11.yaml" "$port" t0k3n
	if timeout 30 "$tool" --once --kubeconfig "$work/kc-sec11.yaml" --duration 20 >"$work/once.out" 2>"$work/once.err"; then
		check once "one-shot load lists all three resources" \
			'len(snap["pods"]) == 15 and len(snap["policies"]) == 6 and len(snap["namespaces"]) == 7' 1
	else
		nok "one-shot load failed"
		sed 's/^/    | /' "$work/once.err" | head
	fi
	kubeconfig "$work/kc-bad.yaml" "$port" wrong-token
	if timeout 30 "$tool" --once --kubeconfig "$work/kc-bad.yaml" >"$work/once-bad.out" 2>"$work/once-bad.err"; then
		nok "one-shot load with a wrong token must fail"
	elif grep -q "401 Unauthorized" "$work/once-bad.err"; then
		ok "one-shot load with a wrong token fails at once with 401"
	else
		nok "one-shot load with a wrong token: no 401 message"
		sed 's/^/    | /' "$work/once-bad.err" | head
	fi
	# A CA that did not sign the server certificate: TLS must refuse.
	mkdir -p "$work/other" && cp "$work/other.crt" "$work/other/ca.crt"
	kubeconfig "$work/other/kc.yaml" "$port" t0k3n
	if timeout 30 "$tool" --once --kubeconfig "$work/other/kc.yaml" >"$work/once-tls.out" 2>"$work/once-tls.err"; then
		nok "server certificate from another CA must be refused"
	elif grep -q "tls failure" "$work/once-tls.err"; then
		ok "TLS verified: a server certificate from another CA is refused"
	else
		nok "TLS refusal without a clear message"
		sed 's/^/    | /' "$work/once-tls.err" | head
	fi
	stop_api "$API_PID"
}

sec12() {
	echo "# 12. deployment manifests"
	if "$loader" "$top/k8s/deploy" >"$work/deploy-load.out" 2>&1; then
		ok "k8s/deploy loads with our own loader (other kinds skipped)"
	else
		nok "k8s/deploy does not load with our own loader"
		sed 's/^/    | /' "$work/deploy-load.out" | head -20
	fi
	if command -v kubectl >/dev/null; then
		# A client-side dry run still needs API discovery (kinds -> resources)
		# and a GET per object; the fake API server answers both, so this runs
		# offline.
		start_api kubectl 0 --token t0k3n || nok "server start"
		port=$PORT
		kubeconfig "$work/kc-sec12.yaml" "$port" t0k3n
		if timeout 60 kubectl apply --dry-run=client --validate=false -f "$top/k8s/deploy/" \
			--kubeconfig "$work/kc-sec12.yaml" --cache-dir "$work/kubectl-cache" \
			</dev/null >"$work/kubectl.out" 2>&1 &&
			[ "$(grep -c 'created (dry run)' "$work/kubectl.out")" -eq 6 ]; then
			ok "kubectl apply --dry-run=client --validate=false -f k8s/deploy/ (6 objects)"
		else
			nok "kubectl apply --dry-run=client rejected k8s/deploy/"
			sed 's/^/    | /' "$work/kubectl.out" | head -20
		fi
		stop_api "$API_PID"
	else
		skipped "kubectl not installed: no client-side dry run of k8s/deploy"
	fi
}

sec13() {
	echo "# 13. client certificate from *-data, CA data, tls-server-name"
	# The server's certificate names only kubernetes.default.svc; the
	# kubeconfig connects to 127.0.0.1 and verifies that name instead.
	start_api mtls 0 --client-ca "$work/ca.crt" --cert "$work/svc.crt" --key "$work/svc.key" ||
		nok "server start"
	port=$PORT
	local ca cert key
	ca=$(base64 -w0 <"$work/ca.crt") cert=$(base64 -w0 <"$work/client.crt") key=$(base64 -w0 <"$work/client.key")
	mtls_kc() { # FILE EXTRA-CLUSTER-LINE KEYDATA
		cat >"$1" <<-EOF
		{"apiVersion": "v1", "kind": "Config", "current-context": "m",
		 "clusters": [{"name": "m", "cluster": {"server": "https://127.0.0.1:$port",
		   $2 "certificate-authority-data": "$ca"}}],
		 "users": [{"name": "m", "user": {"client-certificate-data": "$cert", "client-key-data": "$3"}}],
		 "contexts": [{"name": "m", "context": {"cluster": "m", "user": "m"}}]}
		EOF
	}
	mtls_kc "$work/kc-mtls.json" '"tls-server-name": "kubernetes.default.svc",' "$key"
	if timeout 30 "$tool" --once --kubeconfig "$work/kc-mtls.json" >"$work/mtls.out" 2>"$work/mtls.err"; then
		check mtls "JSON kubeconfig, client certificate and key data, CA data, tls-server-name: listed" \
			'len(snap["pods"]) == 15' 1
	else
		nok "client certificate / tls-server-name load failed"
		sed 's/^/    | /' "$work/mtls.err" | head
	fi
	mtls_kc "$work/kc-mtls2.json" "" "$key"
	if timeout 30 "$tool" --once --kubeconfig "$work/kc-mtls2.json" >/dev/null 2>"$work/mtls2.err"; then
		nok "without tls-server-name the certificate (kubernetes.default.svc) must not match 127.0.0.1"
	elif grep -q "tls failure" "$work/mtls2.err"; then
		ok "without tls-server-name the host name check fails (TLS verified)"
	else
		nok "host name mismatch without a clear TLS message"
		sed 's/^/    | /' "$work/mtls2.err" | head
	fi
	stop_api "$API_PID"
}

sec14() {
	echo "# 14. 410 on a continue page and HTTP 410 on a watch request"
	start_api expired 0 --token t0k3n --page-size 4 --scenario "$sc/expired.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec14.yaml" "$port" t0k3n
	start_watch expired --kubeconfig "$work/kc-sec14.yaml"
	wait_log "$work/expired.api.log" "scenario done" 40
	check expired "expired continue token: the pods list restarted from the first page" \
		'"continue token expired; restarting the list" in log and W("pods")["pages"] == 5 and len(snap["pods"]) == 15 and W("pods")["errors"] == 0'
	check expired "HTTP 410 on the namespaces watch: relisted, watching again" \
		'W("namespaces")["relists"] >= 1 and W("namespaces")["state"] == "watching" and st["synced"]'
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

sec15() {
	echo "# 15. a relist deletes what disappeared while the watch was down"
	start_api gap 0 --token t0k3n --scenario "$sc/relist-deletes.json" || nok "server start"
	port=$PORT
	kubeconfig "$work/kc-sec15.yaml" "$port" t0k3n
	start_watch gap --kubeconfig "$work/kc-sec15.yaml" \
		--flow ext_pg=198.51.100.7,10.244.1.12,TCP,5432
	wait_log "$work/gap.api.log" "scenario done" 40
	check gap "postgres-0 removed by the relist (410 after the gap), deletion counted" \
		'pod("production/postgres-0") is None and len(snap["pods"]) == 14 and W("pods")["relists"] >= 1 and st["objects"]["deleted"] >= 1 and "gone since the last list" in log'
	check gap "verdict follows: 10.244.1.12 no longer a pod (deny -> allow)" \
		'live[0]["verdicts"]["ext_pg"] == "deny" and v("ext_pg") == "allow"'
	stop_watch "$WATCH_PID"
	stop_api "$API_PID"
}

# Sections 4 on are independent (a server and a port each): run them at
# once, each logging to its own file, and print the logs in order.
bg=()
for s in sec4 sec5 sec6 sec7 sec8 sec9 sec10 sec11 sec12 sec13 sec14 sec15; do
	(
		pass=0 fail=0 skip=0 pids=()
		trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done' EXIT
		trap 'exit 143' TERM
		"$s" >"$work/$s.log" 2>&1
		echo "$pass $fail $skip" >"$work/$s.cnt"
	) &
	bg+=($!)
	pids+=($!)
done
echo "# [${SECONDS}s] sections 4-15 run in parallel"
for p in "${bg[@]}"; do
	wait "$p"
done
for s in sec4 sec5 sec6 sec7 sec8 sec9 sec10 sec11 sec12 sec13 sec14 sec15; do
	cat "$work/$s.log"
	if [ -s "$work/$s.cnt" ]; then
		read -r p f k <"$work/$s.cnt"
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + k))
	else
		nok "$s did not finish"
	fi
done

echo "# took ${SECONDS} s"
echo "k8s: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]

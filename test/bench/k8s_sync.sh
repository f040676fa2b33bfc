#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test/bench/k8s_sync.sh - live cluster source at 10k pods / 1k policies.
#
# Serves a gencluster cluster (10,000 pods, 500 namespaces, 1,000 policies)
# from the fake kube-apiserver of the k8s suite (TLS, 500-item pages) and
# measures:
#   one-shot load   k8s_watch --once: list the three resources, decode
#   watcher sync    k8s_watch: start to first live snapshot (list, decode,
#                   snapshot copy, model build and a verdict in the tool)
#   memory          the watcher's RSS after the sync (cache + one model)
#   state file      size of the persisted cluster-state.json
# Reference point, same objects: the manifest loader reading the same
# cluster from one JSON file (load_cluster). Figures only; never fails on
# timing.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${NPSHIM_BUILD:-$top/build}
gen=$build/tools/gencluster
tool=$build/tools/k8s_watch
loader=$build/tools/load_cluster
for t in "$gen" "$tool" "$loader"; do
	if [ ! -x "$t" ]; then
		echo "k8s_sync: $t not built; skipped"
		exit 0
	fi
done
if ! command -v openssl >/dev/null || ! command -v python3 >/dev/null; then
	echo "k8s_sync: needs openssl and python3; skipped"
	exit 0
fi
work=$(mktemp -d /tmp/npshim-bench-k8s.XXXXXX)
api_pid= watch_pid=
cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null
	[ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { python3 -c "print('%.2f' % ($2 - $1))"; }

"$gen" >"$work/cluster.json" || exit 1
# The fake server wants one list per resource, items without kind (as the
# API server sends them), plus the fixtures' Status bodies.
mkdir -p "$work/fx"
cp -r "$top/test/data/k8s-fixtures/status" "$work/fx/"
python3 - "$work/cluster.json" "$work/fx" <<-'EOF'
	import json, sys
	items = json.load(open(sys.argv[1]))["items"]
	kinds = {"Namespace": ("namespaces.json", "NamespaceList", "v1"),
	         "Pod": ("pods.json", "PodList", "v1"),
	         "NetworkPolicy": ("networkpolicies.json", "NetworkPolicyList", "networking.k8s.io/v1")}
	out = {k: [] for k in kinds}
	for n, it in enumerate(items):
	    k = it.pop("kind", None)
	    it.pop("apiVersion", None)
	    if k in out:
	        it.setdefault("metadata", {}).setdefault("resourceVersion", str(100 + n))
	        out[k].append(it)
	for k, (fn, lk, av) in kinds.items():
	    json.dump({"kind": lk, "apiVersion": av, "metadata": {"resourceVersion": "900000"},
	               "items": out[k]}, open(sys.argv[2] + "/" + fn, "w"))
	EOF
(
	cd "$work" &&
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 1 -subj "/CN=bench-ca" &&
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=kube-apiserver" &&
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext.cnf &&
	openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt -days 1 -extfile ext.cnf
) >/dev/null 2>&1 || { echo "k8s_sync: openssl failed; skipped"; exit 0; }
python3 "$top/test/k8s/fakeapi.py" --fixtures "$work/fx" --cert "$work/srv.crt" --key "$work/srv.key" \
	--token bench --ready-file "$work/port" 2>"$work/api.log" &
api_pid=$!
for _ in $(seq 1 300); do
	[ -s "$work/port" ] && break
	sleep 0.1
done
[ -s "$work/port" ] || { echo "k8s_sync: fake API server did not start"; exit 1; }
cat >"$work/kc.yaml" <<-EOF
	apiVersion: v1
	clusters: [{name: b, cluster: {server: "https://127.0.0.1:$(cat "$work/port")", certificate-authority: ca.crt}}]
	users: [{name: b, user: {token: bench}}]
	contexts: [{name: b, context: {cluster: b, user: b}}]
	current-context: b
	EOF

t0=$(now)
"$loader" --quiet "$work/cluster.json" >/dev/null 2>&1 || echo "k8s_sync: load_cluster failed"
t1=$(now)
file_s=$(secs "$t0" "$t1")

t0=$(now)
"$tool" --once --duration 120 --kubeconfig "$work/kc.yaml" >"$work/once.out" 2>"$work/once.err" ||
	{ echo "k8s_sync: one-shot load failed:"; head -5 "$work/once.err"; exit 1; }
t1=$(now)
once_s=$(secs "$t0" "$t1")
# The wall time above includes the Python server building its pages; the
# client's own share is its CPU time.
once_cpu=$(python3 - "$tool" "$work/kc.yaml" <<-'EOF'
	import resource, subprocess, sys
	subprocess.run([sys.argv[1], "--once", "--duration", "120", "--kubeconfig", sys.argv[2]],
	               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	r = resource.getrusage(resource.RUSAGE_CHILDREN)
	print("%.2f" % (r.ru_utime + r.ru_stime))
	EOF
)

t0=$(now)
"$tool" --kubeconfig "$work/kc.yaml" --state-dir "$work/state" \
	--flow f=10.0.0.1,10.0.0.2,TCP,80 >"$work/watch.out" 2>"$work/watch.err" &
watch_pid=$!
sync_s=
for _ in $(seq 1 1200); do
	if grep -q '"type":"snapshot"' "$work/watch.out" 2>/dev/null; then
		t1=$(now)
		sync_s=$(secs "$t0" "$t1")
		break
	fi
	sleep 0.1
done
if [ -z "$sync_s" ]; then
	echo "k8s_sync: the watcher did not sync within 120 s"
	exit 1
fi
for _ in $(seq 1 100); do
	[ -s "$work/state/cluster-state.json" ] && break
	sleep 0.1
done
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$watch_pid/status" 2>/dev/null)
state_kb=$(( $(stat -c %s "$work/state/cluster-state.json" 2>/dev/null || echo 0) / 1024 ))
src_kb=$(( $(stat -c %s "$work/cluster.json") / 1024 ))
pods=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["pods"]))' "$work/once.out")

printf 'cluster: %s pods listed (gencluster defaults: 10k pods, 500 namespaces, 1k policies), source JSON %s KiB\n' \
	"$pods" "$src_kb"
printf '  file loader (reference)            %6s s\n' "$file_s"
printf '  one-shot API load (TLS, 500/page) %6s s wall (fake server included), %s s client CPU\n' \
	"$once_s" "$once_cpu"
printf '  ratio client CPU / file loader     %s\n' \
	"$(python3 -c "print('%.2fx' % ($once_cpu / max($file_s, 0.001)))")"
printf '  watcher: start to first snapshot  %6s s wall\n' "$sync_s"
printf '  watcher RSS after sync             %6s MiB\n' "$(( ${rss_kb:-0} / 1024 ))"
printf '  persisted state file               %6s KiB (%s%% of the source JSON)\n' "$state_kb" \
	"$(( state_kb * 100 / (src_kb ? src_kb : 1) ))"

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# recommend.sh - `npshim recommend` and `npshim replay` on the generated
# cluster of test/tools/gencluster (10,000 pods, 500 namespaces, 1,000
# policies) with NPSHIM_BENCH_REC_FLOWS distinct recorded flows (default
# 3,000; 15% to external addresses) written by the real record pipeline
# (test/tools/rec_feed). Reference point, run side by side: `npshim
# simulate` start-up on the same cluster (load + compile once, one flow);
# recommend loads once and compiles three models (current, with recorded
# pods, with its own output loaded back for the proof), so about 3x that is
# the floor. Timing never fails the run. About 15 s.
set -u
npshim=${NPSHIM:-./npshim}
build=${NPSHIM_BUILD:-build}
gen=$build/tools/gencluster
feed=$build/tools/rec_feed
n=${NPSHIM_BENCH_REC_FLOWS:-3000}
for need in "$gen" "$feed" "$npshim"; do
	if [ ! -x "$need" ]; then
		echo "recommend: $need is missing (run 'make bench')"
		exit 1
	fi
done
tmp=$(mktemp -d /tmp/npshim-bench-rec.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$gen" >"$tmp/cluster.json" || { echo "recommend: gencluster failed"; exit 1; }
python3 - "$tmp/cluster.json" "$n" >"$tmp/flows.jsonl" <<'PY' || { echo "recommend: generating flows failed"; exit 1; }
import json, random, sys
items = json.load(open(sys.argv[1]))["items"]
pods = [p["status"]["podIP"] for p in items if p.get("kind") == "Pod" and p.get("status", {}).get("podIP")]
ext = ["203.0.113.%d" % i for i in range(1, 60)] + ["198.51.100.%d" % i for i in range(1, 20)]
rnd = random.Random(11)
out = []
for _ in range(int(sys.argv[2])):
    if rnd.random() < 0.15:
        dst, port = rnd.choice(ext), 443
    else:
        dst, port = rnd.choice(pods), rnd.choice([80, 443, 5432, 8080, 8081, 9090])
    out.append(json.dumps({"src": rnd.choice(pods), "dst": dst, "protocol": "TCP", "port": port,
                           "count": rnd.randint(1, 20)}))
print("\n".join(out))
PY
head -n 1 "$tmp/flows.jsonl" >"$tmp/one.jsonl"
"$feed" --db "$tmp/flows.db" --cluster "$tmp/cluster.json" <"$tmp/flows.jsonl" >"$tmp/feed.json" ||
	{ echo "recommend: rec_feed failed"; exit 1; }

seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$tmp/err"
	local rc=$?
	if [ $rc -gt 1 ]; then echo "recommend: '$*' failed (exit $rc): $(head -c 300 "$tmp/err")" >&2; echo 0; return; fi
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
pin=()
command -v taskset >/dev/null 2>&1 && pin=(taskset -c 0)

start=$(seconds "${pin[@]}" "$npshim" simulate --cluster "$tmp/cluster.json" --flows "$tmp/one.jsonl")
rec=$(seconds "${pin[@]}" "$npshim" recommend --db "$tmp/flows.db" --cluster "$tmp/cluster.json" -A)
"$npshim" recommend --db "$tmp/flows.db" --cluster "$tmp/cluster.json" -A >"$tmp/rec.yaml" 2>/dev/null
recj=$(seconds "${pin[@]}" "$npshim" recommend --db "$tmp/flows.db" --cluster "$tmp/cluster.json" -A --output json)
rep=$(seconds "${pin[@]}" "$npshim" replay --db "$tmp/flows.db" --cluster "$tmp/cluster.json" --policies "$tmp/rec.yaml")
policies=$(grep -c '^kind: NetworkPolicy' "$tmp/rec.yaml")
records=$(sed -n 's/.*"written": \([0-9]*\).*/\1/p' "$tmp/feed.json")

ratio() { echo "$1 $2" | awk '{ d = $2; if (d <= 0.0005) d = 0.0005; printf "%.1f", $1 / d }'; }
echo "recommend: cluster 10000 pods / 1000 policies; $n distinct flows, $records records"
echo "  simulate start-up (reference): ${start} s"
echo "  recommend (yaml):  ${rec} s   ($(ratio "$rec" "$start")x the start-up; $policies policies written)"
echo "  recommend (json):  ${recj} s"
echo "  replay (proposal = the recommendation): ${rep} s   ($(ratio "$rep" "$start")x the start-up)"

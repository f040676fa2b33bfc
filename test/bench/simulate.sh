#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# simulate.sh - `npshim simulate` end to end on the generated cluster of
# test/tools/gencluster (10,000 pods, 500 namespaces, 1,000 policies):
# start-up (load + compile, one flow), flow lines per second from a file
# (buffered) and from a pipe (answered line by line), and `jq -c .` over the
# same lines as a reference point (parsing and printing JSON only, no
# decision). Timing never fails the run. NPSHIM_BENCH_FLOWS sets the number
# of lines (default 200,000). Takes about 10 s.
set -u
npshim=${NPSHIM:-./npshim}
build=${NPSHIM_BUILD:-build}
gen=$build/tools/gencluster
n=${NPSHIM_BENCH_FLOWS:-200000}
for need in "$gen" "$npshim"; do
	if [ ! -x "$need" ]; then
		echo "simulate: $need is missing (run 'make bench')"
		exit 1
	fi
done
tmp=$(mktemp -d /tmp/npshim-bench-sim.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$gen" >"$tmp/cluster.json" || { echo "simulate: gencluster failed"; exit 1; }
python3 - "$tmp/cluster.json" "$n" >"$tmp/flows.jsonl" <<'PY' || { echo "simulate: generating flows failed"; exit 1; }
import json, random, sys
items = json.load(open(sys.argv[1]))["items"]
ips = [p["status"]["podIP"] for p in items if p.get("kind") == "Pod" and p.get("status", {}).get("podIP")]
ips += ["203.0.113.%d" % i for i in range(1, 40)]
rnd = random.Random(7)
out = []
for _ in range(int(sys.argv[2])):
    proto = rnd.choice(["TCP", "TCP", "TCP", "UDP", "SCTP", "ICMP"])
    f = {"src": rnd.choice(ips), "dst": rnd.choice(ips), "protocol": proto}
    if proto != "ICMP":
        f["port"] = rnd.choice([53, 80, 443, 5432, 8080, 9090, 20000 + rnd.randrange(10000)])
    out.append(json.dumps(f))
print("\n".join(out))
PY
head -n 1 "$tmp/flows.jsonl" >"$tmp/one.jsonl"

# seconds CMD...: wall time of CMD in seconds (3 decimals); output discarded.
seconds() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>"$tmp/err" || { echo "simulate: '$*' failed: $(head -c 300 "$tmp/err")" >&2; echo 0; return; }
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
pipe_run() { cat "$tmp/flows.jsonl" | "$npshim" simulate --cluster "$tmp/cluster.json"; }

pin=()
command -v taskset >/dev/null 2>&1 && pin=(taskset -c 0)
start=$(seconds "${pin[@]}" "$npshim" simulate --cluster "$tmp/cluster.json" --flows "$tmp/one.jsonl")
file=$(seconds "${pin[@]}" "$npshim" simulate --cluster "$tmp/cluster.json" --flows "$tmp/flows.jsonl")
pipe=$(seconds pipe_run)
ref=""
command -v jq >/dev/null 2>&1 && ref=$(seconds "${pin[@]}" jq -c . "$tmp/flows.jsonl")

rate() { echo "$1 $2" | awk '{ d = $2; if (d <= 0.0005) d = 0.0005; printf "%.0f", $1 / d }'; }
body_file=$(echo "$file $start" | awk '{ print $1 - $2 }')
body_pipe=$(echo "$pipe $start" | awk '{ print $1 - $2 }')
printf 'cluster: %s (10,000 pods, 1,000 policies), %d flow lines\n' "$(du -h "$tmp/cluster.json" | cut -f1)" "$n"
printf '  start-up (load + compile + 1 flow)   %8.3f s\n' "$start"
printf '  flows from a file, buffered          %8.3f s  %9s lines/s\n' "$body_file" "$(rate "$n" "$body_file")"
printf '  flows from a pipe, flushed per line  %8.3f s  %9s lines/s\n' "$body_pipe" "$(rate "$n" "$body_pipe")"
if [ -n "$ref" ]; then
	printf '  reference: jq -c . (JSON only)       %8.3f s  %9s lines/s\n' "$ref" "$(rate "$n" "$ref")"
	echo "$body_file $ref" | awk '{ if ($2 > 0) printf "  simulate / jq time ratio: %.2f (below 1: deciding costs less than jq parsing and printing)\n", $1 / $2 }'
fi

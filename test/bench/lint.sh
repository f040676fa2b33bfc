#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lint.sh - `npshim lint` wall time on every cluster state of the shared
# conformance cases (each step of each case, written as a kubectl List the
# way test/conformance/run.py writes it), on the guide's cluster, and on a
# generated cluster (10,000 pods, 1,000 policies). Prints per-cluster
# figures (median, max, the slowest case) against the one-second budget of
# issue 8, and the findings per rule. Never fails on timing; exits non-zero
# only when lint itself fails (crash, exit status other than 0/1).
# Takes about 15 s; wall times suffer on a shared machine, CPU times less.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
npshim=${NPSHIM:-$top/npshim}
build=${NPSHIM_BUILD:-$top/build}
cases=$top/test/conformance/cases.json
if [ ! -f "$cases" ]; then
	echo "lint: $cases is missing"
	exit 1
fi
tmp=$(mktemp -d /tmp/npshim-lintbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

python3 - "$npshim" "$cases" "$tmp" "$top" <<'PY'
import collections, json, os, resource, statistics, subprocess, sys, time
npshim, cases_path, tmp, top = sys.argv[1:5]
sys.path.insert(0, os.path.join(top, "test", "conformance"))
import run as conf  # make_objects / write_snapshot: the runner's own writer

def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

cpus = []

def lint(path):
    t0, c0 = time.perf_counter(), cpu()
    p = subprocess.run([npshim, "lint", "--cluster", path, "--output", "json", "--fail-on", "never"],
                       capture_output=True, text=True)
    dt = time.perf_counter() - t0
    cpus.append(cpu() - c0)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit("lint failed on %s (exit %d)" % (path, p.returncode))
    return dt, json.loads(p.stdout)

doc = json.load(open(cases_path))
times, rules, worst = [], collections.Counter(), (0, "")
n = 0
for case in doc["cases"]:
    cluster = case["cluster"]
    if isinstance(cluster, str):
        cluster = doc["clusters"][cluster]
    for si, step in enumerate(case["steps"]):
        where = os.path.join(tmp, "c%d" % n)
        os.mkdir(where)
        n += 1
        nss, pods, pols = conf.make_objects(cluster, step["state"])
        path = conf.write_snapshot("json-list", where, nss, pods, pols)
        dt, rep = lint(path)
        times.append(dt)
        rules.update(f["rule"] for f in rep["findings"])
        if dt > worst[0]:
            worst = (dt, "%s step %d" % (case["id"], si))
print("conformance: %d cluster states (%d cases)" % (len(times), len(doc["cases"])))
print("  lint wall time: median %.1f ms, max %.1f ms (%s), total %.2f s"
      % (statistics.median(times) * 1e3, worst[0] * 1e3, worst[1], sum(times)))
print("  lint CPU time (user+sys): median %.1f ms, max %.1f ms"
      % (statistics.median(cpus) * 1e3, max(cpus) * 1e3))
print("  budget 1 s per cluster: max wall time is %.4f of it" % worst[0])
print("  findings per rule: " + ", ".join("%s %d" % kv for kv in sorted(rules.items())))

guide = os.path.join(top, "examples", "guide", "cluster")
if os.path.isdir(guide):
    del cpus[:]
    ts = [lint(guide)[0] for _ in range(5)]
    print("guide: lint wall time median %.1f ms, CPU %.1f ms (5 runs), budget ratio %.4f"
          % (statistics.median(ts) * 1e3, statistics.median(cpus) * 1e3, statistics.median(ts)))
PY
rc=$?
[ $rc -eq 0 ] || exit $rc

gen=$build/tools/gencluster
if [ -x "$gen" ]; then
	"$gen" >"$tmp/big.json"
	python3 - "$npshim" "$tmp/big.json" <<'PY'
import collections, json, resource, subprocess, sys, time
npshim, path = sys.argv[1:3]
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def run(cmd, stdin=None):
    t0, c0 = time.perf_counter(), cpu()
    p = subprocess.run(cmd, capture_output=True, text=True, input=stdin)
    return p, time.perf_counter() - t0, cpu() - c0
# the same load and compile without lint, to tell the two apart
_, lw, lc = run([npshim, "simulate", "--cluster", path], stdin="")
p, w, c = run([npshim, "lint", "--cluster", path, "--output", "json", "--fail-on", "never"])
if p.returncode != 0:
    sys.stderr.write(p.stderr)
    raise SystemExit("lint: failed on the generated cluster (exit %d)" % p.returncode)
rep = json.loads(p.stdout)
n = collections.Counter(f["rule"] for f in rep["findings"])
print("generated (10,000 pods, 1,000 policies): lint wall %.0f ms, CPU %.0f ms, of which "
      "load+compile (simulate, no flows) CPU %.0f ms" % (w * 1e3, c * 1e3, lc * 1e3))
print("  findings: " + ", ".join("%s %d" % kv for kv in sorted(n.items())))
PY
	rc=$?
	[ $rc -eq 0 ] || exit 1
else
	echo "generated cluster: $gen missing (make bench builds it)"
fi

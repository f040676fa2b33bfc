#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: the guide's example cluster (examples/guide) through
# `npshim simulate` as a verdict table, `npshim explain` on one allowed and
# one denied connection, then (as root, with NFQUEUE) the same cluster built
# in network namespaces with npshim enforcing and auditing real connections
# (test/e2e/demo.sh). Builds nothing: make has built ./npshim and the tools.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
npshim=${NPSHIM:-$top/npshim}
cluster=$top/examples/guide/cluster
flows=$top/examples/guide/flows.jsonl

echo "== The guide's cluster: namespaces production, platform, kube-system,"
echo "   ingress-nginx; six NetworkPolicies in production ($cluster)"
echo
echo "== npshim simulate --cluster examples/guide/cluster --flows examples/guide/flows.jsonl"
echo
table=$(cat <<'PY'
import json, sys

def short(ref, width=36):
    if len(ref) <= width:
        return ref
    return ref[:width - 7] + "\u2026" + ref[-6:]

def name(ref):
    return ref.split("/", 1)[1]

def why(r):
    reason = r["reason"]
    if reason["by"] == "self":
        return "a pod may always reach itself"
    if reason["by"] == "node":
        return "a pod and its own node may always talk"
    parts = []
    for d in ("egress", "ingress"):
        x = reason[d]
        if x["state"] == "allowed":
            parts.append(f"{d} allowed by {name(x['policy'])}")
        elif x["state"] == "denied":
            iso = [name(p) for p in x["isolated_by"]]
            if len(iso) > 2:
                iso = iso[:1] + [f"{len(iso) - 1} more"]
            parts.append(f"{d} DENIED (isolated by {' and '.join(iso)}; no rule matches)")
        elif r["verdict"] == "allow" and x["state"] == "not isolated":
            parts.append(f"{d} not isolated")
    return "; ".join(parts)

rows = []
for line in sys.stdin:
    r = json.loads(line)
    port = f"{r['port']}/{r.get('protocol', 'TCP')}" if "port" in r else r["protocol"]
    rows.append((short(r["src_pod"] or r["src"]), short(r["dst_pod"] or r["dst"]), port,
                 r["verdict"].upper(), why(r), r.get("note", "")))
head = ("SOURCE", "DESTINATION", "PORT", "VERDICT")
w = [max(len(row[i]) for row in rows + [head]) for i in range(4)]
print("  ".join(f"{h:<{w[i]}}" for i, h in enumerate(head)) + "  WHY")
for row in rows:
    print("  ".join(f"{row[i]:<{w[i]}}" for i in range(4)) + "  " + row[4])
    if row[5]:
        print(" " * (w[0] + 2) + "\u2514 " + row[5])
allowed = sum(1 for row in rows if row[3] == "ALLOW")
print(f"\n{len(rows)} flows: {allowed} allowed, {len(rows) - allowed} denied")
PY
)
"$npshim" simulate --cluster "$cluster" --flows "$flows" | python3 -c "$table"

run_explain() {
	echo
	echo "== npshim explain --cluster examples/guide/cluster $*"
	echo
	# Exit 1 means "denied", which is an answer here, not a failure.
	"$npshim" explain --cluster "$cluster" "$@" || [ $? -eq 1 ]
}
run_explain --from ingress-nginx/ingress-nginx-controller-5c8d66c76d-7wqzr --to production/web-5f7b9c6d4-tl6vb --port 8080
run_explain --from production/api-7c9d8f6b5-x2k4p --to production/postgres-0 --port 5432
echo
echo "The application may not reach its own database: database-isolation admits"
echo "tier=application on 5432, but default-deny-all also isolates the api pods for"
echo "egress and no egress rule lets them out to postgres. Add one (e.g. to"
echo "podSelector tier=database, port 5432) and run the demo again."

# Then the same cluster for real: pods as network namespaces, npshim run in
# audit and then in enforce mode on the node, the flows sent as connections.
echo
echo "== Live: the guide's cluster in network namespaces, npshim run (audit, then enforce)"
live=0
NPSHIM="$npshim" bash "$top/test/e2e/demo.sh" || live=$?
case $live in
0) ;;
77) echo "(live part skipped: it needs root and NFQUEUE; the offline part above stands)" ;;
*) echo "demo: the live part failed (exit $live)" >&2; exit 1 ;;
esac

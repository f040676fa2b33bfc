#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - suite "recommend": npshim recommend and npshim replay over flow
# databases written by the real record pipeline (test tool rec_feed: the
# engine decides each flow, audit_record_fill() makes the record, the
# pipeline aggregates and writes it, as `npshim run` does).
#
# Checks: the recommendation covers every recorded flow (its own JSON proof,
# and independently: the YAML loaded by our loader through `npshim simulate`
# allows every recorded flow) while unobserved flows stay denied; output is
# byte-identical on rerun; flows --explain names the closest rule and the
# failing part of each recorded deny; selectors drop per-instance labels and use the
# fewest stable labels; ports become endPort ranges; external addresses
# merge to --cidr-prefix; pods that are gone are rebuilt from recorded
# labels; rare flows and a short window are reported; enforce-mode drops are
# left out unless --include-denied; replay exits 1 for a proposal that
# breaks observed traffic and 0 for one that does not; bad input exits 2
# with a message naming it. Then test/recommend/e2e.sh (root: network
# namespaces) audits the guide's cluster with real traffic, applies the
# recommendation and enforces it. About 30 s in all (e2e included).
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
NPSHIM=${NPSHIM:-$top/npshim}
NPSHIM_BUILD=${NPSHIM_BUILD:-$top/build}
FEED="$NPSHIM_BUILD/tools/rec_feed"
DATA="$top/test/recommend/data"
GUIDE="$top/examples/guide/cluster"

PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@" >/dev/null; then ok "$what"; else bad "$what"; fi
}

for tool in "$NPSHIM" "$FEED"; do
	if [ ! -x "$tool" ]; then
		echo "missing $tool (run make tests)"
		echo "recommend: 0 passed, 1 failed"
		exit 1
	fi
done
if ! command -v jq >/dev/null 2>&1; then
	echo "SKIP: jq is not installed"
	echo "recommend: 0 passed, 0 failed, 1 skipped"
	exit 0
fi

T=$(mktemp -d /tmp/npshim-recommend.XXXXXX)
trap 'rm -rf "$T"' EXIT

# feed DB [rec_feed args...] < flows
feed() {
	local db=$1 out
	shift
	out=$("$FEED" --db "$db" "$@") || return 1
	jq -e '.submitted == .written and .written > 0' <<<"$out" >/dev/null
}

# simulate_all CLUSTER_ARGS... < flow lines: prints one verdict per line.
simulate_all() {
	"$NPSHIM" simulate "$@" | jq -r '.verdict'
}

echo "== guide: recorded flows of the guide's cluster (audit)"
check "guide: flows recorded through the pipeline" feed "$T/guide.db" --cluster "$GUIDE" <"$DATA/guide-flows.jsonl"
n_flows=$(grep -c . "$DATA/guide-flows.jsonl")

"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" -A --output json >"$T/guide.json" 2>"$T/guide.json.err"
rc=$?
check "guide: recommend --output json exits 0 (every flow covered)" [ $rc -eq 0 ]
check "guide: JSON proof: complete, $n_flows flows, none uncovered" \
	jq -e --argjson n "$n_flows" '.coverage.complete and .coverage.flows == $n and
		.coverage.covered == $n and (.coverage.not_covered | length) == 0 and
		.coverage.pairs_evaluated >= $n' "$T/guide.json"
check "guide: items are NetworkPolicies, names unique per namespace" \
	jq -e '(.items | length) > 0 and all(.items[]; .kind == "NetworkPolicy" and
		.apiVersion == "networking.k8s.io/v1") and
		((.items | map(.metadata.namespace + "/" + .metadata.name) | unique | length) == (.items | length))' \
		"$T/guide.json"
check "guide: a default-deny per namespace with traffic" \
	jq -e '[.items[] | select(.spec.podSelector == {} and (.spec.policyTypes | sort) == ["Egress","Ingress"]) |
		.metadata.namespace] | sort == ["ingress-nginx","kube-system","platform","production"]' "$T/guide.json"
check "guide: names the cluster already uses are not reused (allow-dns exists in production)" \
	jq -e '[.items[] | select(.metadata.namespace == "production") | .metadata.name] |
		(index("allow-dns") == null) and (index("recommended-allow-dns") != null)' "$T/guide.json"
check "guide: DNS egress to kube-dns by namespace and pod selector, TCP and UDP 53" \
	jq -e '.items[] | select(.metadata.name == "allow-dns" and .metadata.namespace == "platform") |
		.spec.egress[0].to[0] == {namespaceSelector: {matchLabels: {"kubernetes.io/metadata.name": "kube-system"}},
			podSelector: {matchLabels: {"k8s-app": "kube-dns"}}} and
		(.spec.egress[0].ports | map(.protocol) | sort) == ["TCP","UDP"]' "$T/guide.json"
check "guide: annotations say what each policy covers" \
	jq -e 'all(.items[] | select(.metadata.name | test("-(ingress|egress)$")); .metadata.annotations |
		has("npshim.io/recommended") and has("npshim.io/covers") and has("npshim.io/first-seen") and
		has("npshim.io/last-seen"))' "$T/guide.json"
check "guide: external addresses sharing a /24 merged, the lone one stays /32" \
	jq -e '[.items[] | select(.metadata.name == "api-egress") | .spec.egress[].to[] | .ipBlock.cidr // empty] |
		sort == ["198.51.100.7/32","203.0.113.0/24"]' "$T/guide.json"
check "guide: over-permission of the merged block reported (254 addresses never contacted)" \
	jq -e '[.coverage.policies[] | select(.name == "api-egress") | .rules[] | .addresses_unseen] | index(254) != null' \
		"$T/guide.json"
check "guide: the flow seen once is listed as rare, the short window warned about" \
	jq -e '(.coverage.rare | map(.dst) | index("External 198.51.100.7") != null) and
		(.coverage.warnings | map(test("less than a day")) | any)' "$T/guide.json"
check "guide: summary and warning on standard error" \
	grep -q "recommend: .* $n_flows of $n_flows recorded flows covered" "$T/guide.json.err"

"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" -A >"$T/rec.yaml" 2>/dev/null
rc=$?
"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" -A >"$T/rec2.yaml" 2>/dev/null
check "guide: YAML exits 0 and is byte-identical on rerun" eval '[ $rc -eq 0 ] && cmp -s "$T/rec.yaml" "$T/rec2.yaml"' 
check "guide: the proof is at the top of the YAML, as comments" \
	grep -q "^# Coverage proof: all $n_flows recorded flows" "$T/rec.yaml"
check "guide: every rule has a comment with its over-permission" \
	[ "$(grep -c '^  - \(from\|to\):' "$T/rec.yaml")" -eq "$(grep -c '^  # .*over-permission' "$T/rec.yaml")" ]
mkdir -p "$T/applied"
cp "$GUIDE"/*.yaml "$T/applied/" && cp "$T/rec.yaml" "$T/applied/recommended.yaml"
"$NPSHIM" simulate --cluster "$T/applied" <"$DATA/guide-flows.jsonl" >"$T/observed.out" 2>"$T/observed.err"
check "guide: YAML loads with the guide (our loader) and allows every recorded flow" \
	[ "$(jq -r .verdict "$T/observed.out" | sort | uniq -c | tr -s ' ')" = " $n_flows allow" ]
"$NPSHIM" simulate --cluster "$T/applied" <"$DATA/guide-unobserved.jsonl" >"$T/unobserved.out"
if [ "$(jq -r .verdict "$T/unobserved.out" | sort -u)" = "deny" ]; then
	ok "guide: every unobserved flow is denied ($(grep -c . "$T/unobserved.out") probes)"
else
	bad "guide: unobserved flows allowed:"
	jq -r 'select(.verdict != "deny") | "         " + .note' "$T/unobserved.out"
fi
check "guide: -n production writes production only" \
	bash -c '"$1" recommend --db "$2" --cluster "$3" -n production --output json 2>/dev/null |
		jq -e "[.items[].metadata.namespace] | unique == [\"production\"]" >/dev/null' _ "$NPSHIM" "$T/guide.db" "$GUIDE"

head -n 7 "$DATA/guide-flows.jsonl" >"$T/node1.jsonl"
tail -n +6 "$DATA/guide-flows.jsonl" >"$T/node2.jsonl"
feed "$T/node1.db" --cluster "$GUIDE" <"$T/node1.jsonl" && feed "$T/node2.db" --cluster "$GUIDE" <"$T/node2.jsonl" ||
	bad "guide: feeding two node databases"
"$NPSHIM" recommend --db "$T/node1.db" --db "$T/node2.db" --cluster "$GUIDE" -A --output json >"$T/nodes.json" 2>/dev/null
check "guide: two node databases (overlapping flows) merge into the same policies" \
	jq -e --slurpfile one "$T/guide.json" '.coverage.databases == 2 and .coverage.flows == $one[0].coverage.flows and
		.coverage.complete and ([.items[] | .spec] == [$one[0].items[] | .spec])' "$T/nodes.json"

echo "== replay: a proposal checked against history"
"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --policies "$T/rec.yaml" --output json >"$T/replay-ok.json"
rc=$?
check "replay: the recommendation breaks nothing (exit 0)" [ $rc -eq 0 ]
check "replay: ... and says which denied flows it opens" \
	jq -e '.broken == 0 and .opened > 0 and .policies.added > 0 and all(.changes[]; .change == "deny->allow")' \
		"$T/replay-ok.json"
cat >"$T/break.yaml" <<'EOF'
# The ingress controller's port changed by mistake: 8443 instead of 8080.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-ingress-controller
  namespace: production
spec:
  podSelector:
    matchLabels:
      tier: frontend
  ingress:
    - from:
        - namespaceSelector:
            matchLabels:
              name: ingress-nginx
      ports:
        - port: 8443
EOF
"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --policies "$T/break.yaml" --output json >"$T/replay-bad.json"
rc=$?
check "replay: a policy breaking observed traffic exits 1" [ $rc -eq 1 ]
check "replay: ... listing ingress-nginx -> web as allow->deny, decided by the replaced policy" \
	jq -e '.broken == 2 and .policies.replaced == 1 and all(.changes[]; .change == "allow->deny" and
		(.src | startswith("Pod ingress-nginx/")) and (.dst | startswith("Pod production/web-")) and
		(.after.decided_by | test("production/allow-ingress-controller")))' "$T/replay-bad.json"
"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --policies "$T/break.yaml" >"$T/replay-bad.txt"
check "replay: table form names the change" grep -q "^allow -> deny  Pod ingress-nginx/" "$T/replay-bad.txt"
"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --delete production/allow-dns >/dev/null
check "replay: --delete of a policy observed traffic needs exits 1" [ $? -eq 1 ]
cat >"$T/delete.yaml" <<'EOF'
# A proposal deleting allow-dns by annotation and adding a policy.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-dns
  namespace: production
  annotations:
    npshim.io/delete: "true"
spec:
  podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: platform-default-deny
  namespace: platform
spec:
  podSelector: {}
  policyTypes: [Ingress]
EOF
"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --policies "$T/delete.yaml" --output json >"$T/replay-ann.json"
rc=$?
check "replay: annotation npshim.io/delete deletes; the DNS flows of production break (exit 1)" \
	eval '[ $rc -eq 1 ] && jq -e ".policies.deleted == 1 and .policies.added == 1 and
		any(.changes[]; .dst | startswith(\"Pod kube-system/coredns\"))" "$T/replay-ann.json" >/dev/null'
check "replay: ... and the added platform default-deny breaks api -> auth-service" \
	jq -e 'any(.changes[]; .change == "allow->deny" and (.dst | startswith("Pod platform/auth-service")))' "$T/replay-ann.json"
sed 's/"true"/"yes"/' "$T/delete.yaml" >"$T/delete-bad.yaml"
"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --policies "$T/delete-bad.yaml" >/dev/null 2>"$T/err"
rc=$?
check "replay: npshim.io/delete other than \"true\" is an error naming the file (exit 2)" \
	eval '[ $rc -eq 2 ] && grep -q "delete-bad.yaml: NetworkPolicy allow-dns" "$T/err"'
"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --delete production/database-isolation --output json >"$T/replay-del.json"
rc=$?
check "replay: --delete of a policy no observed flow needs breaks nothing (exit 0)" \
	eval '[ $rc -eq 0 ] && jq -e ".broken == 0 and .policies.deleted == 1" "$T/replay-del.json" >/dev/null' 

echo "== flows --explain: the near miss of recorded denies"
"$NPSHIM" flows --db "$T/guide.db" --explain --cluster "$GUIDE" --output json --limit 0 >"$T/explain.json"
check "flows --explain: every deny/would-deny row explained, allowed rows not" \
	jq -e 'length > 0 and all(.[]; (.verdict == "allow") == (has("explain") | not)) and
		any(.[]; .verdict == "would-deny")' "$T/explain.json"
check "flows --explain: web -> api names the closest rule and the failing selector and port" \
	jq -e '[.[] | select(.src_name | startswith("web-")) | select(.dst_name | startswith("api-")) | .explain] |
		length > 0 and all(.[]; .verdict_now == "deny" and .egress.closest.policy == "production/allow-dns" and
		.egress.closest.peer.fail == "selector" and .egress.closest.port.fail == "port" and
		.ingress.closest == null and .ingress.isolated_by == ["production/default-deny-all"])' "$T/explain.json"
check "flows --explain: once the recommendation is applied the rows say allowed now" \
	bash -c '"$1" flows --db "$2" --explain --cluster "$3" --output json --limit 0 |
		jq -e "[.[] | .explain // empty | .verdict_now] | length > 0 and all(. == \"allow\")"' _ "$NPSHIM" "$T/guide.db" "$T/applied"
COLUMNS=200 "$NPSHIM" flows --db "$T/guide.db" --verdict would-deny --explain --cluster "$GUIDE" >"$T/explain.txt"
check "flows --explain: table has a WHY column" grep -q "WHY" "$T/explain.txt"
"$NPSHIM" flows --db "$T/guide.db" --explain >/dev/null 2>"$T/err"
rc=$?
check "flows --explain: needs --cluster (exit 2)" eval '[ $rc -eq 2 ] && grep -q -- "--cluster" "$T/err"'

echo "== shop: controllers, per-instance labels, ranges, a pod that is gone"
check "shop: flows recorded (the worker pod existed then)" \
	feed "$T/shop.db" --cluster "$DATA/shop" --cluster "$DATA/shop-gone" <"$DATA/shop-flows.jsonl"
"$NPSHIM" recommend --db "$T/shop.db" --cluster "$DATA/shop" -n shop >"$T/shop.yaml" 2>/dev/null
rc=$?
"$NPSHIM" recommend --db "$T/shop.db" --cluster "$DATA/shop" -n shop --output json >"$T/shop.json" 2>/dev/null
check "shop: exit 0, every flow covered" \
	eval '[ $rc -eq 0 ] && jq -e ".coverage.complete and .coverage.flows == 14" "$T/shop.json" >/dev/null' 
check "shop: no per-instance label in any selector" \
	bash -c '! grep -E "pod-template-hash|controller-revision-hash|pod-name|pod-index|job-name|controller-uid|version:" "$1"' _ "$T/shop.yaml"
check "shop: one policy pair per workload, selected by app.kubernetes.io/name alone" \
	jq -e '[.items[] | select(.metadata.name | test("-(ingress|egress)$")) | .spec.podSelector.matchLabels | keys] |
		all(. == ["app.kubernetes.io/name"])' "$T/shop.json"
check "shop: the StatefulSet's two pods and the Deployment's three are one workload each" \
	jq -e '[.items[].metadata.name] == ["default-deny","allow-dns","cart-ingress","checkout-ingress",
		"checkout-egress","frontend-ingress","frontend-egress","report-egress","worker-egress"]' "$T/shop.json"
check "shop: contiguous ports 8080-8082 become port + endPort" \
	jq -e '.items[] | select(.metadata.name == "frontend-egress") | .spec.egress[0].ports ==
		[{protocol: "TCP", port: 8080, endPort: 8082}]' "$T/shop.json"
check "shop: peers with the same ports share a rule" \
	jq -e '.items[] | select(.metadata.name == "cart-ingress") | .spec.ingress[0].from | length == 2' "$T/shop.json"
check "shop: other namespaces by kubernetes.io/metadata.name" \
	jq -e '.items[] | select(.metadata.name == "frontend-ingress") | .spec.ingress[0].from[0].namespaceSelector ==
		{matchLabels: {"kubernetes.io/metadata.name": "monitoring"}}' "$T/shop.json"
check "shop: the gone worker pod is rebuilt from its recorded labels" \
	jq -e '.items[] | select(.metadata.name == "worker-egress") |
		(.metadata.annotations["npshim.io/recommended"] | test("no pod of it runs now"))' "$T/shop.json"
check "shop: the CronJob flow seen once is rare" \
	jq -e '.coverage.rare | map(.src) == ["CronJob shop/report"]' "$T/shop.json"
"$NPSHIM" recommend --db "$T/shop.db" --cluster "$DATA/shop" -n shop --cidr-prefix 32 --output json >"$T/shop32.json" 2>/dev/null
check "shop: --cidr-prefix 32 keeps every address apart" \
	jq -e '[.items[] | select(.metadata.name == "checkout-egress") | .spec.egress[].to[] | .ipBlock.cidr // empty] ==
		["192.0.2.1/32","203.0.113.10/32","203.0.113.20/32"]' "$T/shop32.json"
check "shop: allow-dns selects every pod: the pods that never resolved are reported" \
	jq -e '.coverage.policies[] | select(.name == "allow-dns") | .rules[0].pod_pairs == 8 and
		.rules[0].pod_pairs_unseen == 4 and .rules[0].ports_unseen == 0' "$T/shop.json"
mkdir -p "$T/shop-applied"
cp "$DATA/shop/cluster.yaml" "$T/shop.yaml" "$T/shop-applied/"
grep -v '10.10.5.5' "$DATA/shop-flows.jsonl" >"$T/shop-live.jsonl"
check "shop: the YAML loaded back allows every flow of a live pod" \
	[ "$(simulate_all --cluster "$T/shop-applied" <"$T/shop-live.jsonl" | sort -u)" = "allow" ]
printf '%s\n' \
	'{"src": "10.10.9.9", "dst": "10.10.2.1", "protocol": "TCP", "port": 8080}' \
	'{"src": "10.10.1.1", "dst": "10.10.2.1", "protocol": "TCP", "port": 8083}' \
	'{"src": "10.10.4.1", "dst": "10.10.2.1", "protocol": "TCP", "port": 8080}' \
	'{"src": "10.10.2.1", "dst": "10.10.3.1", "protocol": "TCP", "port": 8080}' \
	'{"src": "10.10.8.1", "dst": "10.10.1.1", "protocol": "TCP", "port": 8080}' \
	'{"src": "10.10.2.1", "dst": "203.0.113.10", "protocol": "TCP", "port": 443}' >"$T/shop-unobserved.jsonl"
check "shop: unobserved flows denied (debug pod, port 8083, report on 8080, cart -> checkout, ...)" \
	[ "$(simulate_all --cluster "$T/shop-applied" <"$T/shop-unobserved.jsonl" | sort -u)" = "deny" ]

echo "== edges: enforce drops, ICMP, an empty window"
printf '%s\n' '{"src": "10.10.9.9", "dst": "10.10.2.1", "protocol": "TCP", "port": 22, "count": 3}' \
	'{"src": "10.10.1.1", "dst": "10.10.2.1", "protocol": "TCP", "port": 8080, "count": 5}' >"$T/deny.jsonl"
feed "$T/deny.db" --cluster "$T/shop-applied" --mode enforce <"$T/deny.jsonl" || bad "edges: feed"
"$NPSHIM" recommend --db "$T/deny.db" --cluster "$DATA/shop" -n shop --output json >"$T/deny.json" 2>/dev/null
check "edges: flows dropped under enforce are left out and counted" \
	jq -e '.coverage.left_out.denied_under_enforce == 1 and .coverage.flows == 1' "$T/deny.json"
"$NPSHIM" recommend --db "$T/deny.db" --cluster "$DATA/shop" -n shop --include-denied --output json >"$T/deny2.json" 2>/dev/null
check "edges: --include-denied covers them" \
	jq -e '.coverage.left_out.denied_under_enforce == 0 and .coverage.flows == 2 and .coverage.complete' "$T/deny2.json"
"$FEED" --db "$T/denied.db" --cluster "$T/shop-applied" --mode audit --record denied <"$T/deny.jsonl" >/dev/null ||
	bad "edges: feed denied"
"$NPSHIM" recommend --db "$T/denied.db" --cluster "$DATA/shop" -n shop --output json >"$T/denied.json" 2>/dev/null
check "edges: a history recorded with --record denied is warned about" \
	jq -e '.coverage.warnings | map(test("--record denied")) | any' "$T/denied.json"
check "edges: ... not when recorded with --record all" \
	jq -e '.coverage.warnings | map(test("--record denied")) | any | not' "$T/deny.json"
echo '{"src": "10.10.3.1", "dst": "10.10.2.1", "protocol": "ICMP", "count": 2}' >"$T/icmp.jsonl"
feed "$T/icmp.db" --cluster "$DATA/shop" <"$T/icmp.jsonl" || bad "edges: feed icmp"
"$NPSHIM" recommend --db "$T/icmp.db" --cluster "$DATA/shop" -n shop --output json >"$T/icmp.json" 2>/dev/null
check "edges: ICMP is covered by a rule without ports, and says it opens every port" \
	jq -e '.coverage.complete and (.items[] | select(.metadata.name == "cart-ingress") | .spec.ingress[0] | has("ports") | not) and
		([.coverage.policies[].rules[] | .all_ports] | any)' "$T/icmp.json"
echo '{"src": "10.10.1.1", "dst": "10.10.2.1", "protocol": "TCP", "port": 8080, "age": 864000}' >"$T/old.jsonl"
feed "$T/old.db" --cluster "$DATA/shop" <"$T/old.jsonl" || bad "edges: feed old"
"$NPSHIM" recommend --db "$T/old.db" --cluster "$DATA/shop" --since 7d >/dev/null 2>"$T/old.err"
rc=$?
check "edges: nothing in the window: exit 1, said so" \
	eval '[ $rc -eq 1 ] && grep -q "no recorded flow in the last 7d" "$T/old.err"' 
"$NPSHIM" recommend --db "$T/old.db" --cluster "$DATA/shop" --since 11d --output json >"$T/old.json" 2>/dev/null
check "edges: --since 11d reaches it" jq -e '.coverage.flows == 1' "$T/old.json"

echo "== bad input"
echo "not a database" >"$T/junk.db"
expect2() { # expect2 DESCRIPTION NEEDLE COMMAND...: exit 2 and the needle on stderr
	local what=$1 needle=$2 rc
	shift 2
	"$@" >/dev/null 2>"$T/err"
	rc=$?
	if [ $rc -eq 2 ] && grep -qF -- "$needle" "$T/err"; then
		ok "$what"
	else
		bad "$what (exit $rc): $(head -c 300 "$T/err")"
	fi
}
expect2 "bad input: a file that is no database is named" "junk.db" \
	"$NPSHIM" recommend --db "$T/junk.db" --cluster "$GUIDE"
expect2 "bad input: a missing database is named" "nope.db" \
	"$NPSHIM" recommend --db "$T/nope.db" --cluster "$GUIDE"
expect2 "bad input: --since must be a duration" "--since" \
	"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" --since yesterday
expect2 "bad input: --cidr-prefix 1-32" "--cidr-prefix" \
	"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" --cidr-prefix 33
expect2 "bad input: -A and -n together" "-A and -n" \
	"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" -A -n production
expect2 "bad input: --output" "--output" \
	"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" --output xml
expect2 "bad input: recommend needs --cluster" "--cluster" \
	"$NPSHIM" recommend --db "$T/guide.db"
expect2 "bad input: an invalid cluster file is reported with its position" "broken.yaml:" \
	bash -c 'printf "apiVersion: v1\nkind: Pod\nmetadata: [\n" >"$1/broken.yaml" &&
		"$2" recommend --db "$1/guide.db" --cluster "$1/broken.yaml"' _ "$T" "$NPSHIM"
expect2 "bad input: replay --policies accepts NetworkPolicies only" "only NetworkPolicy" \
	"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --policies "$GUIDE/pods.yaml"
expect2 "bad input: replay --delete of a policy that does not exist" "no NetworkPolicy" \
	"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --delete production/nope
expect2 "bad input: replay --delete needs NS/NAME" "NAMESPACE/NAME" \
	"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE" --delete nope
expect2 "bad input: replay needs --policies or --delete" "--policies" \
	"$NPSHIM" replay --db "$T/guide.db" --cluster "$GUIDE"
expect2 "bad input: -n of a namespace the cluster does not have" "-n prodution" \
	"$NPSHIM" recommend --db "$T/guide.db" --cluster "$GUIDE" -n prodution
"$NPSHIM" recommend --db "$T/shop.db" --cluster "$DATA/shop" -n shop -n billing --output json >"$T/quiet.json" 2>/dev/null
check "edges: a chosen namespace without traffic gets its default-deny and a warning" \
	jq -e '(.items | map(select(.metadata.namespace == "billing")) | map(.metadata.name)) == ["default-deny"] and
		(.coverage.warnings | map(test("namespace billing had no recorded traffic")) | any)' "$T/quiet.json"
if python3 -c 'import sqlite3' 2>/dev/null; then
	cp "$T/guide.db" "$T/tampered.db"
	python3 - "$T/tampered.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE flow SET src_labels = 'app=we b' WHERE id = (SELECT min(id) FROM flow)")
c.commit()
PY
	expect2 "bad input: a recorded label that is no valid label is named with its row" "row 1: src_labels: label app" \
		"$NPSHIM" recommend --db "$T/tampered.db" --cluster "$GUIDE"
	cp "$T/guide.db" "$T/tampered2.db"
	python3 - "$T/tampered2.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE flow SET dst_ips = '10.0.0.999' WHERE id = (SELECT min(id) FROM flow)")
c.commit()
PY
	expect2 "bad input: a recorded address that is no address is named" "'10.0.0.999' is not an IP address" \
		"$NPSHIM" replay --db "$T/tampered2.db" --cluster "$GUIDE" --policies "$T/rec.yaml"
fi
check "help: recommend --help and replay --help exit 0" \
	bash -c '"$1" recommend --help >/dev/null && "$1" replay --help >/dev/null' _ "$NPSHIM"

echo "== end to end (network namespaces)"
E2E_OUT=$(NPSHIM="$NPSHIM" NPSHIM_BUILD="$NPSHIM_BUILD" NPSHIM_TOP="$top" bash "$top/test/recommend/e2e.sh" 2>&1)
echo "$E2E_OUT" | grep -v -E '^recommend-e2e: [0-9]+ passed'
line=$(grep -E '^recommend-e2e: [0-9]+ passed, [0-9]+ failed' <<<"$E2E_OUT" | tail -n 1)
if [ -z "$line" ]; then
	bad "e2e: e2e.sh ended without a summary"
else
	p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
	f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
	s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || true)
	PASS=$((PASS + p)) FAIL=$((FAIL + f)) SKIP=$((SKIP + ${s:-0}))
fi

echo "recommend: $PASS passed, $FAIL failed, $SKIP skipped"
[ "$FAIL" -eq 0 ]

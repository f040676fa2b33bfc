#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# lint suite: every rule of `npshim lint` fires on its fixture with the right
# objects and stays quiet on a near-miss; the guide's cluster reports the
# application -> database path; a clean cluster has no finding; exit codes
# follow --fail-on; bad input exits 2. Parses --output json only. About 2 s.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
npshim=${NPSHIM:-$top/npshim}
build=${NPSHIM_BUILD:-$top/build}
fx=$top/test/lint/fixtures
check=$top/test/lint/check.py
pass=0 fail=0
tmp=$(mktemp -d /tmp/npshim-lint.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' <<<"$2" | head -n 40; }

# lint NAME ARGS...: report in $tmp/NAME.json, exit status in $rc
lint() {
	local name=$1
	shift
	"$npshim" lint --output json "$@" >"$tmp/$name.json" 2>"$tmp/$name.err"
	rc=$?
}

# expect DESC REPORT RULE COUNT FACTS...: queued, checked in one python
# run at the end (one interpreter start instead of fifty)
expect() {
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$tmp/expect.list"
}

# Per rule: the trigger fixture fires it (with the objects named), the
# near-miss fixture does not.
lint t1 --cluster "$fx/np001-trigger.yaml" --fail-on never
expect "NP001 one-sided ingress: names both policies, the pods and the port" "$tmp/t1.json" NP001 1 \
	policy=db-ingress:ingress-policy policy=default-deny:egress-policy \
	pod=web-1:source pod=web-2:source pod=db-0:destination port=5432 protocol=TCP \
	severity=error location=spec.ingress[0].ports[0] "fix~egress:" "fix~app: db"
lint n1 --cluster "$fx/np001-nearmiss.yaml" --fail-on never
expect "NP001 near-miss: egress side written" "$tmp/n1.json" NP001 0
lint n1b --cluster "$fx/np001-openpeer.yaml" --fail-on never
expect "NP001 near-miss: a rule open to every namespace names no client" "$tmp/n1b.json" NP001 0

lint t1w --cluster "$fx/np001-wholens-trigger.yaml" --fail-on never
expect "NP001 whole-namespace peer: reported when no pod of the namespace gets through" \
	"$tmp/t1w.json" NP001 1 policy=db-from-front:ingress-policy policy=default-deny:egress-policy \
	pod=web-1:source pod=report-1:source "fix~kubernetes.io/metadata.name: shop"
lint n1w --cluster "$fx/np001-wholens-nearmiss.yaml" --fail-on never
expect "NP001 near-miss: whole-namespace peer with one client getting through" "$tmp/n1w.json" NP001 0

lint t2 --cluster "$fx/np002-trigger.yaml" --fail-on never
expect "NP002 one-sided egress: names both policies, the pods and the port" "$tmp/t2.json" NP002 1 \
	policy=web-egress:egress-policy policy=default-deny-ingress:ingress-policy \
	pod=web-1:source pod=db-0:destination port=5432 severity=error "fix~ingress:" "fix~app: web"
lint n2 --cluster "$fx/np002-nearmiss.yaml" --fail-on never
expect "NP002 near-miss: the database admits web" "$tmp/n2.json" NP002 0

lint t3 --cluster "$fx/np003-trigger.yaml" --fail-on never
expect "NP003 egress without DNS: the namespace, its pods and the isolating policy" "$tmp/t3.json" NP003 1 \
	namespace=shop policy=default-deny:egress-policy pod=web-1:source pod=db-0:source \
	severity=error "fix~port: 53" "fix~k8s-app: kube-dns"
lint n3 --cluster "$fx/np003-nearmiss.yaml" --fail-on never
expect "NP003 near-miss: port 53 to a node-local resolver" "$tmp/n3.json" NP003 0

lint t4 --cluster "$fx/np004-trigger.yaml" --fail-on never
expect "NP004 selector matches nothing, with the typo hint" "$tmp/t4.json" NP004 1 \
	policy=db-ingress:policy location=spec.ingress[0].from[0].podSelector severity=warning \
	"hint~app=web"
lint n4 --cluster "$fx/np004-nearmiss.yaml" --fail-on never
expect "NP004 near-miss: spelt right" "$tmp/n4.json" NP004 0

lint t5 --cluster "$fx/np005-trigger.yaml" --fail-on never
expect "NP005 namespace label key no namespace carries" "$tmp/t5.json" NP005 1 \
	policy=db-from-ks:policy location=spec.ingress[0].from[0].namespaceSelector severity=error \
	"fix~kubernetes.io/metadata.name: kube-system"
expect "NP005 does not double as NP004" "$tmp/t5.json" NP004 0
lint n5 --cluster "$fx/np005-nearmiss.yaml" --fail-on never
expect "NP005 near-miss: the immutable name label" "$tmp/n5.json" NP005 0

lint t6 --cluster "$fx/np006-trigger.yaml" --fail-on never
expect "NP006 ipBlock covers pod IPs: lists them, suggests except" "$tmp/t6.json" NP006 1 \
	policy=web-to-internet:policy pod=db-0:covered pod=coredns-1:covered \
	location=spec.egress[0].to[0].ipBlock "fix~10.244.0.0/"
lint n6 --cluster "$fx/np006-nearmiss.yaml" --fail-on never
expect "NP006 near-miss: pod network excepted" "$tmp/n6.json" NP006 0

lint t7 --cluster "$fx/np007-trigger.yaml" --fail-on never
expect "NP007 non-canonical CIDR, as written" "$tmp/t7.json" NP007 1 \
	policy=web-to-api:policy location=spec.egress[0].to[0].ipBlock.cidr \
	"message~203.0.113.7/24" "fix~203.0.113.0/24"
lint n7 --cluster "$fx/np007-nearmiss.yaml" --fail-on never
expect "NP007 near-miss: canonical" "$tmp/n7.json" NP007 0

lint t8 --cluster "$fx/np008-trigger.yaml" --fail-on never
expect "NP008 except inside another except" "$tmp/t8.json" NP008 1 \
	policy=web-to-api:policy location=spec.egress[0].to[0].ipBlock.except[1] \
	"message~198.51.100.0/24"
lint n8 --cluster "$fx/np008-nearmiss.yaml" --fail-on never
expect "NP008 near-miss: disjoint excepts" "$tmp/n8.json" NP008 0

lint t9 --cluster "$fx/np009-trigger.yaml" --fail-on never
expect "NP009 named port no selected pod defines, with hint" "$tmp/t9.json" NP009 1 \
	policy=db-ingress:policy pod=db-0:destination port=postgres severity=error \
	"hint~postgresql"
lint n9 --cluster "$fx/np009-nearmiss.yaml" --fail-on never
expect "NP009 near-miss: the defined name" "$tmp/n9.json" NP009 0

lint t10 --cluster "$fx/np010-trigger.yaml" --fail-on never
expect "NP010 policy selects no pod" "$tmp/t10.json" NP010 1 \
	policy=cache-ingress:policy location=spec.podSelector severity=warning
lint n10 --cluster "$fx/np010-nearmiss.yaml" --fail-on never
expect "NP010 near-miss: selects the database" "$tmp/n10.json" NP010 0

lint t11 --cluster "$fx/np011-trigger.yaml" --fail-on never
expect "NP011 namespace without default deny" "$tmp/t11.json" NP011 1 \
	namespace=shop pod=web-1:selected severity=info "fix~podSelector: {}"
lint n11 --cluster "$fx/np011-nearmiss.yaml" --fail-on never
expect "NP011 near-miss: every pod isolated by an allow-same-namespace policy" "$tmp/n11.json" NP011 0
expect "NP011: only shop (kube-system, which runs DNS, is exempt)" "$tmp/t11.json" NP011 1 namespace=shop

lint t12 --cluster "$fx/np012-trigger.yaml" --fail-on never
expect "NP012 shadowed rule" "$tmp/t12.json" NP012 1 \
	policy=db-ingress:policy location=spec.ingress[1] "message~covered by ingress rule 0"
lint n12 --cluster "$fx/np012-nearmiss.yaml" --fail-on never
expect "NP012 near-miss: rules for different clients" "$tmp/n12.json" NP012 0

# NP013 from flow databases written by the store's own writer.
flowdb=$build/tools/lint_flowdb
if [ -x "$flowdb" ]; then
	"$flowdb" "$tmp/used.db" "shop/web-egress,shop/allow-dns" "" >/dev/null
	lint t13 --cluster "$fx/np013.yaml" --db "$tmp/used.db" --fail-on never
	expect "NP013 policy unused in the window (default deny exempt)" "$tmp/t13.json" NP013 1 \
		policy=db-ingress:policy severity=info
	"$flowdb" "$tmp/all.db" "shop/web-egress,shop/db-ingress" "shop/allow-dns" >/dev/null
	"$flowdb" "$tmp/other.db" "shop/db-ingress" >/dev/null
	lint n13 --cluster "$fx/np013.yaml" --db "$tmp/used.db" --db "$tmp/other.db" --fail-on never
	expect "NP013 near-miss: another node's database saw db-ingress" "$tmp/n13.json" NP013 0
	"$flowdb" "$tmp/denied.db" --record denied "shop/allow-dns" >/dev/null
	lint s13 --cluster "$fx/np013.yaml" --db "$tmp/denied.db" --fail-on never
	expect "NP013 skipped (with the reason) when only denied flows were recorded" \
		"$tmp/s13.json" NP013 0 "skipped~denied flows only"
else
	bad "NP013: $flowdb missing (make tests builds it)"
fi

# The guide's cluster: default-deny-all blocks tier=application egress to
# tier=database:5432 although database-isolation admits it.
guide=$top/examples/guide/cluster
[ -d "$guide" ] || guide=$top/test/lint/guide
lint guide --cluster "$guide"
expect "guide: application -> database on 5432 is one-sided" "$tmp/guide.json" NP001 1 \
	policy=database-isolation:ingress-policy policy=default-deny-all:egress-policy \
	pod=postgres-0:destination pod=api-7c9d8f6b5-x2k4p:source port=5432 protocol=TCP \
	"fix~tier: application" "fix~tier: database"
if [ "$rc" -eq 1 ]; then ok "guide: exit 1 with --fail-on error"; else bad "guide: exit $rc, want 1"; fi
lint guide_p --cluster "$guide" -n platform --fail-on never
expect "guide -n platform: only platform's finding" "$tmp/guide_p.json" NP001 0
expect "guide -n platform: NP011 for platform" "$tmp/guide_p.json" NP011 1 namespace=platform

# A clean cluster: no finding of any rule, exit 0 even with --fail-on info.
lint clean --cluster "$fx/clean.yaml" --fail-on info
expect "clean fixture: zero findings" "$tmp/clean.json" ALL 0
if [ "$rc" -eq 0 ]; then ok "clean fixture: exit 0 with --fail-on info"; else bad "clean fixture: exit $rc"; fi

# --fail-on thresholds (np012-trigger holds warnings only).
lint f2 --cluster "$fx/np012-trigger.yaml" --fail-on warning
rc2=$rc
lint f1 --cluster "$fx/np012-trigger.yaml" --fail-on error
if [ "$rc" -eq 0 ] && [ "$rc2" -eq 1 ]; then ok "--fail-on: warning gates, error does not"; else bad "--fail-on: error->$rc warning->$rc2"; fi
lint f3 --cluster "$guide" --fail-on never
if [ "$rc" -eq 0 ]; then ok "--fail-on never: exit 0 despite errors"; else bad "--fail-on never: exit $rc"; fi

# Paths may follow --cluster without repeating it (a shell glob).
lint glob --cluster "$guide"/*.yaml
expect "--cluster with several paths: the guide's files one by one" "$tmp/glob.json" NP001 1 \
	policy=database-isolation:ingress-policy

# --disable: the rule does not run and is listed as skipped.
lint dis --cluster "$guide" --disable NP001,namespace-without-default-deny --fail-on error
expect "--disable: NP001 gone, listed as skipped" "$tmp/dis.json" NP001 0 "skipped~disabled"
expect "--disable by name: NP011 gone" "$tmp/dis.json" NP011 0 "skipped~disabled"
if [ "$rc" -eq 0 ]; then ok "--disable: the gate passes without the disabled error"; else bad "--disable: exit $rc"; fi

# Table output runs and ends with the summary (never parsed further).
if "$npshim" lint --cluster "$guide" --fail-on never | tail -n 1 | grep -q '^3 findings: 1 error'; then
	ok "table output ends with the summary"
else
	bad "table output summary"
fi

# Bad input: exit 2 and a message naming the problem.
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: x\n' >"$tmp/broken.yaml"
badcase() {
	local desc=$1 want=$2
	shift 2
	"$npshim" lint "$@" >/dev/null 2>"$tmp/bad.err"
	local r=$?
	if [ "$r" -eq 2 ] && grep -q -- "$want" "$tmp/bad.err"; then ok "bad input: $desc"; else bad "bad input: $desc (exit $r)" "$(cat "$tmp/bad.err")"; fi
}
badcase "no --cluster" "--cluster PATH or --kubeconfig/--in-cluster is required"
badcase "unknown output" "neither table nor json" --cluster "$guide" --output xml
badcase "unknown --fail-on" "not one of" --cluster "$guide" --fail-on fatal
badcase "-n with -A" "exclude each other" --cluster "$guide" -n production -A
badcase "-n of an unknown namespace" "no Namespace, Pod or NetworkPolicy" --cluster "$guide" -n prod
badcase "missing file" "nope.yaml" --cluster "$tmp/nope.yaml"
badcase "broken YAML names file and line" "broken.yaml:" --cluster "$tmp/broken.yaml"
badcase "--db not a database" "missing.db" --cluster "$guide" --db "$tmp/missing.db"
badcase "--disable of an unknown rule" "unknown rule 'NP099'" --cluster "$guide" --disable NP099
badcase "--since without --db" "applies to --db only" --cluster "$guide" --since 7d
badcase "a further path that does not exist" "extra" --cluster "$guide" "$tmp/extra"

if [ -s "$tmp/expect.list" ]; then
	python3 "$check" --batch "$tmp/expect.list" >"$tmp/batch.out" 2>&1
	grep -v '^batch: ' "$tmp/batch.out"
	line=$(grep -E '^batch: [0-9]+ passed, [0-9]+ failed' "$tmp/batch.out")
	if [ -z "$line" ]; then
		bad "report checks did not run" "$(cat "$tmp/batch.out")"
	else
		p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
		f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
		pass=$((pass + p)) fail=$((fail + f))
	fi
fi

echo "lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

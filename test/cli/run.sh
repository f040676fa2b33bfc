#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CLI suite: `npshim simulate` and `npshim explain` on the guide cluster
# (examples/guide): flags, flow-line errors with their line numbers, the
# output fields, explain's near misses (JSON), and explain agreeing with
# simulate on every pod pair. Tests parse JSON output (jq); a few checks
# look at explain's text form because reading it is its purpose. Takes a
# few seconds.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
npshim=${NPSHIM:-$top/npshim}
guide=$top/examples/guide/cluster
flows=$top/examples/guide/flows.jsonl
data=$top/test/cli/data
tmp=$(mktemp -d /tmp/npshim-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }

# run NAME EXPECTED_RC CMD...: stdout in $tmp/out, stderr in $tmp/err.
run() {
	local name=$1 want=$2 rc
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then
		return 0
	fi
	bad "$name: exit $rc, expected $want; stderr: $(head -c 400 "$tmp/err")"
	return 1
}

# expect_err NAME TEXT: stderr holds TEXT.
has_err() { grep -qF -- "$2" "$tmp/err" && ok "$1" || bad "$1: stderr lacks '$2': $(head -c 400 "$tmp/err")"; }
# jcheck NAME JQ-FILTER [FILE]: the filter is true on the output.
jcheck() {
	local f=${3:-$tmp/out}
	if jq -e "$2" "$f" >/dev/null 2>&1; then ok "$1"; else bad "$1: jq '$2' is not true on: $(head -c 600 "$f")"; fi
}

for tool in jq python3; do
	if ! command -v $tool >/dev/null; then
		echo "cli: $tool is missing (make deps installs it)"
		echo "cli: 0 passed, 1 failed"
		exit 1
	fi
done
if [ ! -x "$npshim" ]; then
	echo "cli: $npshim is not built"
	echo "cli: 0 passed, 1 failed"
	exit 1
fi

echo "--- simulate: flags and cluster errors"
run "simulate --help" 0 "$npshim" simulate --help && grep -q "Usage: npshim simulate" "$tmp/out" && ok "simulate --help prints usage"
run "simulate without --cluster" 2 "$npshim" simulate </dev/null && has_err "no --cluster is named" "--cluster PATH or --kubeconfig/--in-cluster is required"
run "simulate unknown flag" 2 "$npshim" simulate --cluster "$guide" --bogus </dev/null && has_err "unknown flag is named" "unknown option '--bogus'"
run "simulate --cluster without value" 2 "$npshim" simulate --cluster && has_err "missing value is named" "--cluster needs a value"
run "simulate stray argument" 2 "$npshim" simulate --cluster "$guide" extra.jsonl </dev/null && has_err "stray argument is named" "unexpected argument 'extra.jsonl'"
run "simulate missing cluster path" 2 "$npshim" simulate --cluster "$tmp/nope.yaml" </dev/null && has_err "missing cluster file is named" "$tmp/nope.yaml"
run "simulate flows is a directory" 2 "$npshim" simulate --cluster "$guide" --flows "$tmp" && has_err "directory refused" "is a directory"
run "simulate missing flows file" 2 "$npshim" simulate --cluster "$guide" --flows "$tmp/nope.jsonl" && has_err "missing flows file is named" "$tmp/nope.jsonl"
if run "simulate invalid cluster" 2 "$npshim" simulate --cluster "$guide" --cluster "$data/bad-cidr.yaml" --flows "$flows"; then
	has_err "invalid cluster: file:line:col and the value" "bad-cidr.yaml:12:19: error:"
	has_err "invalid cluster: what is wrong" "10.0.0.0/33"
	[ ! -s "$tmp/out" ] && ok "invalid cluster: nothing on stdout" || bad "invalid cluster printed output"
fi

echo "--- simulate: the guide flows"
if run "simulate guide flows" 0 "$npshim" simulate --cluster "$guide" --flows "$flows"; then
	cp "$tmp/out" "$tmp/guide.out"
	n_in=$(grep -c . "$flows") n_out=$(wc -l <"$tmp/guide.out")
	[ "$n_in" -eq "$n_out" ] && ok "one output line per flow ($n_out)" || bad "$n_out output lines for $n_in flows"
	got=$(jq -r .verdict "$tmp/guide.out" | tr '\n' ' ')
	want="allow deny deny allow deny allow allow deny allow deny deny deny deny allow allow deny deny allow deny "
	[ "$got" = "$want" ] && ok "verdicts of the guide flows" || bad "verdicts: got '$got', want '$want'"
	jcheck "input members echoed in order" -s 'map(keys_unsorted[0:4] == ["src","dst","protocol","port"] or keys_unsorted[0:3] == ["src","dst","protocol"]) | all' "$tmp/guide.out"
	jcheck "unknown members (note) echoed" -s 'map(has("note")) | all' "$tmp/guide.out"
	jcheck "every line has verdict, src_pod, dst_pod, reason" -s 'map(has("verdict") and has("src_pod") and has("dst_pod") and (.reason | type == "object")) | all' "$tmp/guide.out"
	sed -n 3p "$tmp/guide.out" >"$tmp/l3"
	jcheck "api -> postgres: identities" '.src_pod == "production/api-7c9d8f6b5-x2k4p" and .dst_pod == "production/postgres-0"' "$tmp/l3"
	jcheck "api -> postgres: egress denied by isolation of 4 policies" '.reason.by == "policy" and .reason.egress.state == "denied" and (.reason.egress.isolated_by | length) == 4 and (.reason.egress.isolated_by | index("production/default-deny-all")) != null' "$tmp/l3"
	jcheck "api -> postgres: ingress allowed by database-isolation rule 0" '.reason.ingress.state == "allowed" and .reason.ingress.policy == "production/database-isolation" and .reason.ingress.rule == 0' "$tmp/l3"
	sed -n 9p "$tmp/guide.out" >"$tmp/l9"
	jcheck "api -> 203.0.113.10: external, allowed by allow-external-api" '.dst_pod == null and .reason.egress.policy == "production/allow-external-api" and .reason.ingress.state == "not a pod"' "$tmp/l9"
	sed -n 10p "$tmp/guide.out" >"$tmp/l10"
	jcheck "api -> 203.0.113.5: the except denies" '.verdict == "deny" and .reason.egress.state == "denied"' "$tmp/l10"
	sed -n 6p "$tmp/guide.out" >"$tmp/l6"
	jcheck "DNS over UDP allowed by allow-dns, kube-system not isolated" '.protocol == "UDP" and .reason.egress.policy == "production/allow-dns" and .reason.ingress.state == "not isolated"' "$tmp/l6"
	sed -n 8p "$tmp/guide.out" >"$tmp/l8"
	jcheck "ICMP line has no port and is denied" '(has("port") | not) and .verdict == "deny"' "$tmp/l8"
	sed -n 15p "$tmp/guide.out" >"$tmp/l15"
	jcheck "own node -> pod: reason node" '.verdict == "allow" and .reason.by == "node" and .src_pod == null' "$tmp/l15"
	sed -n 17p "$tmp/guide.out" >"$tmp/l17"
	jcheck "Succeeded pod's old IP has no identity" '.src_pod == null and .verdict == "deny" and .reason.egress.state == "not a pod"' "$tmp/l17"
	sed -n 18p "$tmp/guide.out" >"$tmp/l18"
	jcheck "pod -> itself: reason self" '.verdict == "allow" and .reason.by == "self"' "$tmp/l18"

	# Output fed back in: replaced, not duplicated, same verdicts.
	if run "simulate reads its own output" 0 "$npshim" simulate --cluster "$guide" --flows "$tmp/guide.out"; then
		if [ "$(jq -c . "$tmp/out")" = "$(jq -c . "$tmp/guide.out")" ] && ! grep -q '"verdict".*"verdict"' "$tmp/out"; then
			ok "re-simulating the output gives the same objects, no member twice"
		else
			bad "re-simulated output differs: $(head -c 300 "$tmp/out")"
		fi
	fi
	# stdin, as a pipe
	if "$npshim" simulate --cluster "$guide" <"$flows" >"$tmp/out" 2>"$tmp/err" && cmp -s "$tmp/out" "$tmp/guide.out"; then
		ok "flows from standard input"
	else
		bad "flows from standard input differ"
	fi
	if cat "$flows" | "$npshim" simulate --cluster "$guide" --flows - >"$tmp/out" 2>"$tmp/err" && cmp -s "$tmp/out" "$tmp/guide.out"; then
		ok "flows from a pipe with --flows -"
	else
		bad "flows from a pipe differ"
	fi
fi

# A coprocess gets each answer before it writes the next line.
if timeout 20 python3 - "$npshim" "$guide" <<'EOF' >"$tmp/co" 2>&1; then ok "answers a pipe line by line (coprocess)"; else bad "coprocess: $(tail -3 "$tmp/co")"; fi
import json, subprocess, sys
p = subprocess.Popen([sys.argv[1], "simulate", "--cluster", sys.argv[2]], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
for port in (5432, 8080, 53):
    p.stdin.write(json.dumps({"src": "10.244.1.14", "dst": "10.244.1.12", "port": port}) + "\n")
    p.stdin.flush()
    assert json.loads(p.stdout.readline())["port"] == port
p.stdin.close()
sys.exit(p.wait())
EOF

echo "--- simulate: input details"
printf '{"src": "10.244.1.14",  "dst": "10.244.1.12", "port": 5432, "id": 1.50}\r\n\n   \n{"src":"10.244.1.5","dst":"10.244.1.16","port":8080}\n' >"$tmp/f1"
if run "CRLF, blank lines, protocol default" 0 "$npshim" simulate --cluster "$guide" --flows "$tmp/f1"; then
	[ "$(wc -l <"$tmp/out")" -eq 2 ] && ok "blank lines are skipped" || bad "blank lines gave output: $(cat "$tmp/out")"
	grep -q '"id": 1.50, "verdict"' "$tmp/out" && ok "members echoed byte for byte (1.50 stays 1.50)" || bad "echo changed: $(head -1 "$tmp/out")"
	head -1 "$tmp/out" >"$tmp/l1"
	jcheck "protocol defaults to TCP" '.verdict == "deny" and (has("protocol") | not)' "$tmp/l1"
fi
if run "--node kind-worker2" 0 "$npshim" simulate --cluster "$guide" --node kind-worker2 --flows "$flows"; then
	sed -n 3p "$tmp/out" >"$tmp/n3"
	jcheck "pods on another node are not local (api -> postgres allowed)" '.verdict == "allow" and .reason.egress.state == "not local" and .reason.ingress.state == "not local"' "$tmp/n3"
	sed -n 4p "$tmp/out" >"$tmp/n4"
	jcheck "pods on the node are enforced (api on kind-worker2 -> auth)" '.reason.egress.state == "allowed"' "$tmp/n4"
fi
S=("$npshim" simulate --cluster "$guide" --cluster "$data/staged.yaml")
printf '{"src": "10.244.2.9", "dst": "10.244.2.6", "port": 8080}\n' >"$tmp/staged.jsonl"
if run "staged policy counts by default" 0 "${S[@]}" --flows "$tmp/staged.jsonl"; then
	jcheck "staged policy denies the audit view" '.verdict == "deny" and .reason.ingress.isolated_by == ["platform/platform-lockdown"]'
fi
if run "--enforced-only" 0 "${S[@]}" --enforced-only --flows "$tmp/staged.jsonl"; then
	jcheck "--enforced-only leaves the staged policy out" '.verdict == "allow" and .reason.ingress.state == "not isolated"'
fi
run "--node with no pods warns" 0 "$npshim" simulate --cluster "$guide" --node no-such-node --flows "$flows" && has_err "unknown node is named" "no pod of the cluster runs on node 'no-such-node'"

echo "--- simulate: malformed flow lines (line numbers)"
good='{"src": "10.244.1.14", "dst": "10.244.1.12", "protocol": "TCP", "port": 5432}'
# bad_line NAME LINE MESSAGE: LINE sits at line 3 after two good lines.
bad_line() {
	printf '%s\n\n%s\n%s\n' "$good" "$2" "$good" >"$tmp/bad.jsonl"
	if run "$1" 2 "$npshim" simulate --cluster "$guide" --flows "$tmp/bad.jsonl"; then
		if grep -qF -- "bad.jsonl: line 3: $3" "$tmp/err"; then ok "$1: line 3: $3"; else bad "$1: want 'line 3: $3', got: $(head -c 300 "$tmp/err")"; fi
		[ "$(wc -l <"$tmp/out")" -eq 1 ] && ok "$1: output stops before the bad line" || bad "$1: $(wc -l <"$tmp/out") output lines"
	fi
}
bad_line "port out of range" '{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 70000}' '"port": 70000 is out of range 1-65535'
bad_line "port zero" '{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 0}' '"port": 0 is out of range 1-65535'
bad_line "port not an integer" '{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 80.5}' '"port": 80.5 is not an integer'
bad_line "port as a string" '{"src": "10.0.0.1", "dst": "10.0.0.2", "port": "80"}' '"port" must be a number, got a string'
bad_line "port missing" '{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "UDP"}' 'missing "port" (required for protocol UDP)'
bad_line "ICMP with a port" '{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "ICMP", "port": 8}' '"port" is not allowed with protocol ICMP'
bad_line "ICMP over IPv6" '{"src": "fd00::1", "dst": "fd00::2", "protocol": "ICMP"}' '"protocol": "ICMP" with IPv6 addresses; use "ICMPv6"'
bad_line "protocol lower case" '{"src": "10.0.0.1", "dst": "10.0.0.2", "protocol": "tcp", "port": 80}' '"protocol": "tcp" is not one of TCP, UDP, SCTP, ICMP, ICMPv6'
bad_line "bad address" '{"src": "10.0.0.300", "dst": "10.0.0.2", "port": 80}' '"src": "10.0.0.300" is not an IPv4 or IPv6 address'
bad_line "CIDR as address" '{"src": "10.0.0.1", "dst": "10.0.0.0/8", "port": 80}' '"dst": "10.0.0.0/8" is not an IPv4 or IPv6 address (a prefix length is not allowed)'
bad_line "src missing" '{"dst": "10.0.0.2", "port": 80}' 'missing "src"'
bad_line "mixed families" '{"src": "10.0.0.1", "dst": "fd00::2", "port": 80}' '"src" is an IPv4 address but "dst" is an IPv6 address'
bad_line "duplicate member" '{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 80, "port": 81}' 'member "port" appears twice'
bad_line "not an object" '["10.0.0.1", "10.0.0.2", 80]' 'expected a JSON object'
bad_line "truncated JSON" '{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 80' 'malformed JSON at column'
bad_line "trailing text" '{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 80} x' 'unexpected text after the object at column 52: '"'"'x'"'"''
bad_line "control character" "$(printf '{"src": "10.0.0.1",\001 "dst": "10.0.0.2", "port": 80}')" 'column 20: control character 0x01 is not allowed'
printf '%s\n{"src": 1}\n%s\n{"src": "10.0.0.1", "dst": "10.0.0.2", "port": -1}\n' "$good" "$good" >"$tmp/two.jsonl"
if run "several bad lines" 2 "$npshim" simulate --cluster "$guide" --flows "$tmp/two.jsonl"; then
	has_err "first bad line reported" "line 2: \"src\" must be an IP address string, got a number"
	has_err "second bad line reported too" "line 4: \"port\": -1 is out of range 1-65535"
	has_err "count of bad lines" "2 malformed flow lines"
fi
printf '%s\n{"src": "10.0.0.1", "dst": "10.0.0.2", "port": 80}\000x\n' "$good" >"$tmp/nul.jsonl"
run "NUL byte" 2 "$npshim" simulate --cluster "$guide" --flows "$tmp/nul.jsonl" && has_err "NUL byte: line named" "line 2: contains a NUL byte"

echo "--- explain: flags and endpoints"
E=("$npshim" explain --cluster "$guide")
api=production/api-7c9d8f6b5-x2k4p
run "explain --help" 0 "$npshim" explain --help && grep -q "Usage: npshim explain" "$tmp/out" && ok "explain --help prints usage"
run "explain without --port" 2 "${E[@]}" --from "$api" --to production/postgres-0 && has_err "missing --port is named" "--port PORT[/PROTO] is required"
run "explain bad --port" 2 "${E[@]}" --from "$api" --to production/postgres-0 --port 70000 && has_err "bad port quoted" "--port '70000'"
run "explain bad protocol" 2 "${E[@]}" --from "$api" --to production/postgres-0 --port 80/icmp && has_err "bad protocol quoted" "--port '80/icmp'"
run "explain bad --output" 2 "${E[@]}" --from "$api" --to production/postgres-0 --port 5432 --output yaml && has_err "bad output named" "--output 'yaml'"
run "explain unknown pod" 2 "${E[@]}" --from production/nope --to production/postgres-0 --port 5432 && has_err "unknown pod named" "no pod nope in namespace production"
run "explain unknown namespace" 2 "${E[@]}" --from nons/nope --to production/postgres-0 --port 5432 && has_err "unknown namespace named" "the cluster has no namespace nons"
run "explain pending pod" 2 "${E[@]}" --from production/api-7c9d8f6b5-pn4rc --to production/postgres-0 --port 5432 && has_err "pending pod has no IP" "no IP address (phase Pending)"
run "explain finished pod" 2 "${E[@]}" --from production/db-migrate-29370240-6vwpj --to production/postgres-0 --port 5432 && has_err "Succeeded pod has no identity" "phase Succeeded"
run "explain CIDR endpoint" 2 "${E[@]}" --from 10.0.0.0/8 --to production/postgres-0 --port 5432 && has_err "CIDR refused" "a CIDR is not an endpoint"
run "explain family mismatch" 2 "${E[@]}" --from fd00::1 --to production/postgres-0 --port 5432 && has_err "family mismatch" "no address family in common"

echo "--- explain: guide cluster"
if run "explain allowed flow exits 0" 0 "${E[@]}" --from ingress-nginx/ingress-nginx-controller-5c8d66c76d-7wqzr --to production/web-5f7b9c6d4-tl6vb --port 8080 --output json; then
	jcheck "allowed: verdict and identities" '.verdict == "allow" and .source.pod == "ingress-nginx/ingress-nginx-controller-5c8d66c76d-7wqzr" and .destination.kind == "pod" and .consistent'
	jcheck "allowed: egress not isolated, ingress by allow-ingress-controller" '.egress.state == "not isolated" and .ingress.state == "allowed" and ([.ingress.policies[] | select(.allows) | .policy] == ["production/allow-ingress-controller"])'
	jcheck "allowed: matching peer and port recorded" '[.ingress.policies[] | select(.allows) | .rules[0].peers[0].match, .rules[0].ports[0].match] == [true, true]'
fi
if run "explain api -> postgres exits 1 (deny)" 1 "${E[@]}" --from "$api" --to production/postgres-0 --port 5432 --output json; then
	cp "$tmp/out" "$tmp/appdb.json"
	jcheck "app->db: denied by the source's egress, ingress allowed" '.verdict == "deny" and .egress.state == "denied" and .ingress.state == "allowed" and .consistent'
	jcheck "app->db: four isolating egress policies" '[.egress.policies[].policy] == ["production/default-deny-all","production/allow-platform-services","production/allow-external-api","production/allow-dns"]'
	jcheck "app->db: default-deny-all has no rules" '.egress.policies[0] | .closest_rule == null and (.rules | length) == 0'
	jcheck "app->db: allow-platform-services fails on namespace name=platform" '.egress.policies[1].rules[0].peers[0] | .fail == "selector" and .namespace_selector.key == "name" and .namespace_selector.values == ["platform"] and .namespace_selector.has == "production"'
	jcheck "app->db: and on pod label tier" '.egress.policies[1].rules[0].peers[0].pod_selector | .key == "tier" and .has == "database"'
	jcheck "app->db: and on port 8080" '.egress.policies[1].rules[0].ports[0] | .fail == "port" and .port == "8080/TCP"'
	jcheck "app->db: allow-external-api fails on the CIDR" '.egress.policies[2].rules[0].peers[0].fail == "cidr"'
	jcheck "app->db: allow-dns fails on protocol, then port" '[.egress.policies[3].rules[0].ports[].fail] == ["protocol","port"]'
	jcheck "app->db: database-isolation allows the ingress" '.ingress.policies[] | select(.policy == "production/database-isolation") | .allows and .closest_rule == 0'
fi
if run "explain api -> postgres text" 1 "${E[@]}" --from "$api" --to production/postgres-0 --port 5432; then
	grep -q "^Verdict     DENY: the source's egress denies it" "$tmp/out" && ok "text: verdict line" || bad "text: verdict line missing"
	grep -q "production/default-deny-all: has no egress rules (it only isolates)" "$tmp/out" && ok "text: the near miss: default-deny-all isolates" || bad "text: default-deny-all line missing"
	grep -q "no: namespace production has name=production, needs name=platform" "$tmp/out" && ok "text: failing namespace label" || bad "text: failing namespace label missing"
	grep -q "allowed by production/database-isolation ingress\[0\]" "$tmp/out" && ok "text: allowing rule" || bad "text: allowing rule missing"
fi
if run "explain except" 1 "${E[@]}" --from "$api" --to 203.0.113.5 --port 443 --output json; then
	jcheck "except: the excepting CIDR is named, the port matched" '.destination.kind == "external" and (.egress.policies[2].rules[0] | .peers[0].fail == "except" and .peers[0].except == "203.0.113.5/32" and .ports_match)'
fi
if run "explain ICMP" 1 "${E[@]}" --from "$api" --to kube-system/coredns-674b8bbfcf-4xk2p --port icmp --output json; then
	jcheck "ICMP: peer matches, every port entry fails on protocol" '.flow.protocol == "ICMP" and .flow.port == null and (.egress.policies[3].rules[0] | .peers_match and ([.ports[].fail] == ["protocol","protocol"]))'
fi
if run "explain node" 0 "${E[@]}" --from 172.18.0.3 --to production/postgres-0 --port 5432 --output json; then
	jcheck "own node: kind node, reason node" '.source.kind == "node" and .reason.by == "node"'
fi
if run "explain host-network pod by name" 1 "${E[@]}" --from kube-system/kube-proxy-tq5vn --to production/postgres-0 --port 5432 --output json; then
	jcheck "host-network pod: its node's address, not a pod" '.flow.src == "172.18.0.4" and .source.kind == "node" and .source.pod == null and .egress.state == "not a pod"'
fi
if run "explain staged policy" 1 "${E[@]}" --cluster "$data/staged.yaml" --from production/api-7c9d8f6b5-qw8zn --to platform/auth-service-7d9c6f5b8-k8s2q --port 8080 --output json; then
	jcheck "explain marks the staged policy" '.ingress.policies[0] | .policy == "platform/platform-lockdown" and .staged'
fi
run "explain --enforced-only" 0 "${E[@]}" --cluster "$data/staged.yaml" --enforced-only --from production/api-7c9d8f6b5-qw8zn --to platform/auth-service-7d9c6f5b8-k8s2q --port 8080 --output json &&
	jcheck "explain --enforced-only: not isolated" '.ingress.state == "not isolated"'
N=("$npshim" explain --cluster "$guide" --cluster "$data/named-ports.yaml")
if run "explain named port" 1 "${N[@]}" --from production/web-5f7b9c6d4-tl6vb --to "$api" --port 9090 --output json; then
	jcheck "named port resolves to another number" '.ingress.policies[1].rules[0].ports[0] | .fail == "named port number" and .resolved == 8080'
	jcheck "named port not defined on the pod" '.ingress.policies[1].rules[0].ports[1].fail == "named port undefined"'
	jcheck "matchExpressions peer matches; endPort range misses" '.egress.policies[] | select(.policy == "production/web-to-api") | .rules[0].peers[0].match and .rules[0].ports[0].fail == "port" and .rules[0].ports[0].port == "8000-8999/TCP"'
fi
if run "explain named port allowed" 0 "${N[@]}" --from production/web-5f7b9c6d4-tl6vb --to "$api" --port 8080 --output json; then
	jcheck "named port http allows the ingress, the 8000-8999 range the egress" '.ingress.state == "allowed" and .egress.state == "allowed" and (.ingress.policies[1].rules[0].ports[0] | .match and .resolved == 8080)'
fi

echo "--- explain agrees with simulate on every pod pair"
python3 - "$npshim" "$guide" "$data/named-ports.yaml" <<'EOF' >"$tmp/sweep" 2>&1
import json, subprocess, sys
npshim, guide, extra = sys.argv[1:4]
pods = ["ingress-nginx/ingress-nginx-controller-5c8d66c76d-7wqzr", "kube-system/coredns-674b8bbfcf-4xk2p",
        "platform/auth-service-7d9c6f5b8-k8s2q", "production/api-7c9d8f6b5-qw8zn", "production/api-7c9d8f6b5-x2k4p",
        "production/postgres-0", "production/web-5f7b9c6d4-9xkzp", "kube-system/kube-proxy-8hj2k", "203.0.113.7"]
ports = ["5432", "8080", "53/UDP", "icmp"]
flows, expl = [], []
bad = 0
for a in pods:
    for b in pods:
        for p in ports:
            r = subprocess.run([npshim, "explain", "--cluster", guide, "--cluster", extra, "--from", a, "--to", b,
                                "--port", p, "--output", "json"], capture_output=True, text=True)
            if r.returncode not in (0, 1):
                print(f"explain {a} {b} {p}: exit {r.returncode}: {r.stderr.strip()}")
                bad += 1
                continue
            x = json.loads(r.stdout)
            if (r.returncode == 0) != (x["verdict"] == "allow") or not x["consistent"]:
                print(f"explain {a} {b} {p}: exit {r.returncode}, {x['verdict']}, consistent {x['consistent']}")
                bad += 1
            f = {"src": x["flow"]["src"], "dst": x["flow"]["dst"], "protocol": x["flow"]["protocol"]}
            if x["flow"]["port"] is not None:
                f["port"] = x["flow"]["port"]
            flows.append(f)
            expl.append(x["verdict"])
r = subprocess.run([npshim, "simulate", "--cluster", guide, "--cluster", extra],
                   input="".join(json.dumps(f) + "\n" for f in flows), capture_output=True, text=True)
sim = [json.loads(l)["verdict"] for l in r.stdout.splitlines()]
diff = sum(1 for s, e in zip(sim, expl) if s != e)
print(f"pairs {len(flows)}, explain/simulate differences {diff + abs(len(sim) - len(expl))}, explain problems {bad}")
sys.exit(1 if diff or bad or len(sim) != len(expl) else 0)
EOF
if [ $? -eq 0 ]; then ok "$(tail -1 "$tmp/sweep")"; else bad "sweep: $(tail -5 "$tmp/sweep")"; fi

echo "cli: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]

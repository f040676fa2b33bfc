#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run.sh - suite "systemd": npshim run as a service, with this suite standing
# in for systemd (the test machines have no systemd as PID 1).
#
#   unit      systemd-analyze verify accepts systemd/npshim.service
#   install   make install DESTDIR= lays out binary, unit, config, man page,
#             completion; an existing config is not overwritten
#   man       groff -ww renders doc/npshim.8 without warnings; it names every
#             subcommand and every flag of every --help
#   config    the example config (every key uncommented) passes
#             --check-config; unknown key, bad value, duplicate key, missing
#             '=' are errors with file:line; flags override the file
#   journald  under systemd: "<N>" priority prefixes, no timestamps
#   complete  bash completion completes commands, flags, values
#   live      (root, NFQUEUE) npshim run in a node namespace with a
#             NOTIFY_SOCKET listener: READY=1 only once the queue is bound
#             and the rules are in; WATCHDOG=1 every half WATCHDOG_USEC;
#             RELOADING=1 then READY=1 around SIGHUP; metrics scraped while
#             traffic flows (counters move, exposition format valid),
#             /healthz, /readyz; STOPPING=1 and the rules gone after SIGTERM
# Takes about 15 s (the make install step may rebuild the binary first).
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
NPSHIM=${NPSHIM:-$top/npshim}
NPSHIM_BUILD=${NPSHIM_BUILD:-$top/build}
here=$top/test/systemd

PASS=0 FAIL=0 SKIP=0
ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL $*"; }
skip() { SKIP=$((SKIP + 1)); echo "  skip $*"; }
jqe() { jq -e "$@" >/dev/null; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
summary() {
	echo "systemd: $PASS passed, $FAIL failed, $SKIP skipped"
	[ "$FAIL" -eq 0 ]
}

T=$(mktemp -d /tmp/npshim-systemd.XXXXXX)
LIVE_TMP=
cleanup_local() {
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}

# ---- unit ----
echo "unit file"
DEST=$T/dest
if make -s -C "$top" install DESTDIR="$DEST" >"$T/install.log" 2>&1; then
	ok "make install DESTDIR=$DEST"
else
	bad "make install DESTDIR: $(tail -n 3 "$T/install.log")"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
	# verify needs the ExecStart binary to exist and resolves
	# Documentation=man: against MANPATH: both point at the installed copy.
	sed "s|/usr/local/sbin/npshim|$DEST/usr/local/sbin/npshim|g" \
		"$top/systemd/npshim.service" >"$T/npshim.service"
	if MANPATH=$DEST/usr/local/share/man systemd-analyze verify "$T/npshim.service" >"$T/verify.out" 2>&1 &&
		! grep -v '^$' "$T/verify.out" | grep -q .; then
		ok "systemd-analyze verify: no complaint"
	else
		bad "systemd-analyze verify: $(head -n 5 "$T/verify.out")"
	fi
	# The verifier itself must catch a broken unit, or the check above
	# proves nothing.
	sed 's/^WatchdogSec=.*/WatchdogSek=30s/' "$T/npshim.service" >"$T/broken.service"
	MANPATH=$DEST/usr/local/share/man systemd-analyze verify "$T/broken.service" >"$T/verify2.out" 2>&1
	check "systemd-analyze verify catches a misspelt key" grep -q "WatchdogSek" "$T/verify2.out"
else
	skip "systemd-analyze is not installed (Debian package systemd)"
fi
unit=$top/systemd/npshim.service
for key in Type=notify WatchdogSec= 'ExecReload=/bin/kill -HUP $MAINPID' StateDirectory=npshim \
	RuntimeDirectory=npshim NoNewPrivileges=yes 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW' \
	ProtectSystem=strict ProtectHome=yes PrivateTmp=yes RestrictAddressFamilies= \
	SystemCallFilter=@system-service; do
	check "unit has $key" grep -qF -- "$key" "$unit"
done

# ---- install ----
echo "make install"
for f in usr/local/sbin/npshim usr/local/lib/systemd/system/npshim.service etc/npshim/npshim.conf \
	usr/local/share/man/man8/npshim.8 usr/local/share/bash-completion/completions/npshim; do
	check "installed $f" test -s "$DEST/$f"
done
check "installed binary is executable and runs" bash -c "'$DEST/usr/local/sbin/npshim' help >/dev/null 2>&1"
echo "# mine" >>"$DEST/etc/npshim/npshim.conf"
make -s -C "$top" install DESTDIR="$DEST" PREFIX=/opt/np >"$T/install2.log" 2>&1
check "an existing config is kept" grep -q '^# mine$' "$DEST/etc/npshim/npshim.conf"
check "the example lands beside it" test -s "$DEST/etc/npshim/npshim.conf.example"
check "PREFIX=/opt/np: unit runs /opt/np/sbin/npshim" \
	grep -q '^ExecStart=/opt/np/sbin/npshim run' "$DEST/opt/np/lib/systemd/system/npshim.service"

# ---- man page ----
echo "man page"
man8=$top/doc/npshim.8
if command -v groff >/dev/null 2>&1; then
	groff -ww -z -man "$man8" >"$T/groff.out" 2>&1
	check "groff -ww -man: no warning" test ! -s "$T/groff.out"
	[ -s "$T/groff.out" ] && sed 's/^/    /' "$T/groff.out" | head -n 5
else
	skip "groff is not installed"
fi
# Roff escapes dashes: the page writes \-\-flag.
unescaped=$(sed 's/\\-/-/g' "$man8")
missing=()
mapfile -t cmds < <("$NPSHIM" help 2>&1 | awk '/^  [a-z]/ { print $1 }')
for c in "${cmds[@]}"; do
	grep -q "^\.SS npshim .*\b$c\b" <<<"$unescaped" || missing+=("command $c")
	[ "$c" = help ] || [ "$c" = version ] && continue
	for f in $("$NPSHIM" "$c" --help 2>&1 | grep -oE -- '(^|[[ ,|])--?[a-zA-Z][a-zA-Z0-9-]*' |
		sed -E 's/^[[ ,|]//' | grep -v -- '-$' | sort -u); do
		[ "$f" = --help ] && continue
		grep -qF -- "$f" <<<"$unescaped" || missing+=("$c $f")
	done
done
if [ ${#cmds[@]} -gt 5 ] && [ ${#missing[@]} -eq 0 ]; then
	ok "man page names all ${#cmds[@]} commands and every flag of their --help"
else
	bad "man page lacks: ${missing[*]:-(no commands found)}"
fi

# ---- config ----
echo "configuration file"
cluster=$T/cluster.yaml
cat >"$cluster" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {name: a}}
---
apiVersion: v1
kind: Pod
metadata: {namespace: a, name: client, labels: {app: client}}
spec: {nodeName: node-1, containers: [{name: c}]}
status: {podIP: 10.42.1.1, podIPs: [{ip: 10.42.1.1}]}
---
apiVersion: v1
kind: Pod
metadata: {namespace: a, name: server, labels: {app: server}}
spec: {nodeName: node-1, containers: [{name: s, ports: [{containerPort: 8080}]}]}
status: {podIP: 10.42.1.2, podIPs: [{ip: 10.42.1.2}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: a, name: server-8080-only}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress: [{ports: [{port: 8080}]}]
EOF
# Every documented key with its documented default (or example) must be
# accepted as written; the API-server keys exclude cluster, so they stay
# commented out (the unit test checks their defaults).
sed -E 's/^#([a-z-]+ = )/\1/; s|^cluster = .*|cluster = '"$cluster"'|; s|^db = .*|db = '"$T"'/f.db|
	s/^(kubeconfig|context|in-cluster|sa-dir) = /#&/' \
	"$top/systemd/npshim.conf" >"$T/all.conf"
nkeys=$(grep -cE '^[a-z-]+ = ' "$T/all.conf")
"$NPSHIM" run --config "$T/all.conf" --check-config >"$T/check.out" 2>"$T/check.err"
rc=$?
if [ $rc -eq 0 ] && grep -q '^configuration OK' "$T/check.out"; then
	ok "example config, all $nkeys keys set: configuration OK"
else
	bad "example config --check-config: exit $rc: $(head -n 3 "$T/check.err")"
fi
# Every flag of `npshim run --help` is a key of the example.
missing=()
for f in $("$NPSHIM" run --help | grep -oE -- '(^|[[ ,|])--[a-z][a-z-]*' | sed -E 's/^[[ ,|]//' |
	grep -v -- '-$' | sort -u); do
	case $f in
	--help | --config | --no-config | --check-config) continue ;;
	--fail-open | --fail-closed) key=fail ;;
	*) key=${f#--} ;;
	esac
	grep -qE "^#?$key = " "$top/systemd/npshim.conf" || missing+=("$f")
done
if [ ${#missing[@]} -eq 0 ]; then
	ok "every run flag is a documented key of the example config"
else
	bad "flags without a key in systemd/npshim.conf: ${missing[*]}"
fi

conf_error() { # conf_error DESCRIPTION EXPECTED_LINE PATTERN < config
	local what=$1 line=$2 pat=$3 rc
	cat >"$T/bad.conf"
	"$NPSHIM" run --config "$T/bad.conf" --check-config >"$T/bad.out" 2>"$T/bad.err"
	rc=$?
	if [ $rc -eq 2 ] && grep -qE "$T/bad.conf:$line: .*$pat" "$T/bad.err" &&
		! grep -q 'configuration OK' "$T/bad.out"; then
		ok "$what: exit 2, $(grep -oE "bad.conf:$line: .*" "$T/bad.err" | head -n 1)"
	else
		bad "$what: exit $rc, wanted bad.conf:$line: $pat; got: $(head -n 2 "$T/bad.err")"
	fi
}
printf 'cluster = %s\n# comment\n\nbogus = 1\n' "$cluster" | conf_error "unknown key" 4 "unknown key 'bogus'"
printf 'cluster = %s\nmode = sometimes\n' "$cluster" | conf_error "bad enum value" 2 "mode = 'sometimes': expected enforce or audit"
printf 'cluster = %s\nqueues = 5:2\n' "$cluster" | conf_error "bad queue range" 2 "queues = '5:2'"
printf 'cluster = %s\nretention = 7 days\n' "$cluster" | conf_error "bad duration" 2 "retention = '7 days'"
printf 'cluster = %s\nnode-ip = 10.0.0.300\n' "$cluster" | conf_error "bad address" 2 "node-ip = '10.0.0.300'"
printf 'cluster = %s\nmetrics = localhost:99999\n' "$cluster" | conf_error "bad metrics address" 2 "metrics = 'localhost:99999'"
printf 'cluster = %s\nmode = audit\nlog-level = info\nmode = enforce\n' "$cluster" |
	conf_error "duplicate key" 4 "duplicate key 'mode' \(already set at line 2\)"
printf 'cluster = %s\nkeep-rules\n' "$cluster" | conf_error "line without '='" 2 "expected 'key = value'"
printf 'cluster = %s\nnode = "unterminated\n' "$cluster" | conf_error "unterminated quote" 2 "unterminated"
printf 'cluster = %s\nkeep-rules = maybe\n' "$cluster" | conf_error "bad boolean" 2 "expected true or false"
"$NPSHIM" run --config "$T/nonexistent.conf" --check-config >/dev/null 2>"$T/bad.err"
rc=$?
check "missing --config file: exit 2 naming it" \
	test $rc -eq 2 -a -n "$(grep -F "$T/nonexistent.conf: No such file" "$T/bad.err")"
printf 'cluster = %s\ncluster = %s\n' "$T/missing.yaml" "$T/missing2.yaml" >"$T/ovr.conf"
"$NPSHIM" run --config "$T/ovr.conf" --cluster "$cluster" --check-config >"$T/ovr.out" 2>&1
check "--cluster on the command line replaces the file's cluster lines" grep -q 'configuration OK' "$T/ovr.out"
printf 'cluster = %s\nfail = open\n' "$cluster" >"$T/ovr2.conf"
"$NPSHIM" run --config "$T/ovr2.conf" --fail-closed --check-config >"$T/ovr2.out" 2>&1
check "--fail-closed overrides fail = open (no conflict)" grep -q 'configuration OK' "$T/ovr2.out"
"$NPSHIM" run --config "$T/ovr2.conf" --metrics 1.2.3.4 --check-config >"$T/ovr3.out" 2>&1
check "bad --metrics flag: exit 2" test $? -eq 2
printf 'cluster = %s\n' "$T/missing.yaml" >"$T/miss.conf"
"$NPSHIM" run --config "$T/miss.conf" --check-config >"$T/miss.out" 2>&1
check "--check-config loads the cluster files (missing one: exit 2)" test $? -eq 2

# ---- journald ----
echo "logging under systemd"
: >"$T/journal.err"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/journal.err") \
	"$NPSHIM" run --no-config --cluster "$cluster" --check-config >/dev/null 2>>"$T/journal.err"
check "stderr is the journal (JOURNAL_STREAM): '<6>info: ...', no timestamp, no name" \
	grep -qE '^<6>info: model generation 1' "$T/journal.err"
env -u INVOCATION_ID JOURNAL_STREAM=1:1 "$NPSHIM" run --no-config --cluster "$cluster" --check-config 2>&1 >/dev/null |
	grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* npshim: info: model generation 1'
check "JOURNAL_STREAM naming another stream: plain lines with timestamps" test $? -eq 0
env -u JOURNAL_STREAM INVOCATION_ID=0123 "$NPSHIM" run --no-config --cluster "$cluster" --check-config 2>&1 >/dev/null |
	grep -qE '^npshim: info: model generation 1'
check "INVOCATION_ID (systemd, not the journal): no timestamp" test $? -eq 0

# ---- completion ----
echo "bash completion"
compl() { # compl WORDS... -> the completions of the last word
	bash -c '
		. "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		_npshim
		echo "${COMPREPLY[*]}"' _ "$top/systemd/npshim.bash-completion" "$NPSHIM" "$@"
}
check "completes commands: ru -> run rules" test "$(compl ru)" = "run rules"
check "completes run flags: --check -> --check-config" test "$(compl run --check)" = "--check-config"
check "completes values: --mode a -> audit" test "$(compl run --mode a)" = "audit"
check "completes rules verbs" test "$(compl rules '')" = "install remove show"

# ---- live ----
echo "live: npshim run under a stand-in for systemd"
live() {
	local probe_ns="np$$-probe"
	if [ "$(id -u)" -ne 0 ]; then
		skip "live checks need root (network namespaces, iptables, NFQUEUE)"
		return
	fi
	for tool in ip iptables iptables-save jq python3 curl; do
		if ! command -v $tool >/dev/null 2>&1; then
			skip "live checks need $tool"
			return
		fi
	done
	modprobe nfnetlink_queue 2>/dev/null || true
	if ! ip netns add "$probe_ns" 2>/dev/null; then
		skip "live checks: cannot create network namespaces"
		return
	fi
	if ! ip netns exec "$probe_ns" iptables -A FORWARD -j NFQUEUE --queue-num 0 --queue-bypass 2>/dev/null; then
		ip netns del "$probe_ns"
		skip "live checks: iptables NFQUEUE target unavailable"
		return
	fi
	ip netns del "$probe_ns"
	# The topology helpers of the e2e suite, in a subshell so their EXIT
	# trap cleans up namespaces and processes when it ends.
	(
		E2E_SUITE=systemd
		E2E_NEED_TOOLS="clusterpods"
		# shellcheck source=../e2e/lib.sh
		. "$top/test/e2e/lib.sh"
		live_body
	) >"$T/live.out" 2>&1
	local rc=$?
	cat "$T/live.out"
	PASS=$((PASS + $(grep -c '^  ok ' "$T/live.out")))
	FAIL=$((FAIL + $(grep -c '^  FAIL ' "$T/live.out")))
	SKIP=$((SKIP + $(grep -c '^  skip ' "$T/live.out")))
	if [ $rc -ne 0 ] && ! grep -q '^  FAIL ' "$T/live.out"; then
		bad "live checks ended early (exit $rc)"
	fi
}

# notes: the listener's messages whose msg has KEY (jq filter on the log).
notes() { jq -c "select(.msg != null) | select(.msg | has(\"$1\"))" "$NLOG"; }

live_body() {
	set -e
	e2e_init
	# A loaded machine (CI shares it) must not turn a slow first packet into
	# a failure: the verdicts, not the timing, are checked here.
	PROBE_TIMEOUT=2000
	EXTRA_PORTS=9090 pods_from_cluster "$cluster"
	NLOG=$E2E_TMP/notify.log
	NSOCK=$E2E_TMP/notify.sock
	: >"$NLOG"
	ip netns exec "$NODE" python3 "$here/notify-listen.py" "$NSOCK" "$NLOG" 7 &
	LISTENER=$!
	E2E_PIDS+=($LISTENER)
	for _ in $(seq 50); do grep -q listening "$NLOG" && break; sleep 0.1; done
	# The file sets what the flags do not: queues and the metrics port
	# come from it, its mode is overridden by --mode audit.
	cat >"$E2E_TMP/npshim.conf" <<-EOF
		# live test
		cluster = $cluster
		mode = enforce
		queues = 7
		metrics = 127.0.0.1:19632
		log-level = debug
	EOF
	export NOTIFY_SOCKET=$NSOCK WATCHDOG_USEC=1000000
	npshim_start --config "$E2E_TMP/npshim.conf" --mode audit
	unset NOTIFY_SOCKET WATCHDOG_USEC
	set +e

	local st ready
	st=$(npshim_status)
	check "config file applied (queue 7) and --mode overrides it (audit)" \
		test "$(jq -c '[.mode, .queues[0].num]' <<<"$st")" = '["audit",7]'
	for _ in $(seq 30); do [ -n "$(notes READY)" ] && break; sleep 0.1; done
	ready=$(notes READY | head -n 1)
	check "READY=1 received" test -n "$ready"
	check "READY=1 only once queue 7 was bound and the rules were in ($ready)" \
		jqe '.queue_bound and .rules' <<<"${ready:-null}"
	check "READY=1 is the first message, with a STATUS= line" \
		jqe 'select(.msg != null) | .msg | has("READY") and has("STATUS")' \
		<<<"$(jq -c 'select(.msg != null)' "$NLOG" | head -n 1)"

	# Traffic: 8080 allowed, 9090 would-deny (audit).
	printf 'a/client tcp 10.42.1.2 8080\na/client tcp 10.42.1.2 9090\na/client udp 10.42.1.2 9090\n' |
		probe_lines >"$E2E_TMP/probe.out"
	check "traffic flows in audit mode (3 connected)" \
		test "$(grep -c ' connected$' "$E2E_TMP/probe.out")" -eq 3
	local url=http://127.0.0.1:19632 m
	scrape() { ip netns exec "$NODE" curl -sS --max-time 3 "$url$1"; }
	for _ in $(seq 30); do
		m=$(scrape /metrics)
		grep -q '^npshim_store_records_written_total [1-9]' <<<"$m" && break
		sleep 0.2
	done
	echo "$m" >"$E2E_TMP/metrics.txt"
	metric() { awk -v k="$1" '$1 == k { print $2 }' <<<"$m"; }
	check "npshim_verdicts_total{kind=\"allow\",mode=\"audit\"} >= 1" \
		test "$(metric 'npshim_verdicts_total{kind="allow",mode="audit"}')" -ge 1
	check "npshim_verdicts_total{kind=\"would_deny\",mode=\"audit\"} = 2" \
		test "$(metric 'npshim_verdicts_total{kind="would_deny",mode="audit"}')" -eq 2
	check "npshim_queue_packets_total{queue=\"7\"} >= 3" \
		test "$(metric 'npshim_queue_packets_total{queue="7"}')" -ge 3
	check "latency histogram counted the packets" \
		test "$(metric npshim_verdict_latency_seconds_count)" -ge 3
	check "store records written (2 would-deny)" \
		test "$(metric npshim_store_records_written_total)" -ge 2
	check "model generation 1, rules installed, queue bound, ready" \
		test "$(metric npshim_model_generation) $(metric npshim_rules_installed) $(metric 'npshim_queue_bound{queue="7"}') $(metric npshim_ready)" = "1 1 1 1"
	check "exposition format valid (HELP/TYPE per family, histogram consistent)" \
		python3 "$here/check-exposition.py" "$E2E_TMP/metrics.txt"
	check "/healthz 200 ok" test "$(scrape /healthz)" = ok
	check "/readyz 200 ready" test "$(scrape /readyz)" = ready
	check "unknown path: 404" test "$(ip netns exec "$NODE" curl -s -o /dev/null -w '%{http_code}' "$url/nope")" = 404
	check "POST /metrics: 405" test "$(ip netns exec "$NODE" curl -s -o /dev/null -w '%{http_code}' -d x "$url/metrics")" = 405

	# Watchdog: every half of WATCHDOG_USEC (500 ms).
	sleep 2.2
	local wd
	wd=$(notes WATCHDOG | jq -cs '[.[].t] | [length, (if length > 2 then ([range(1; length) as $i | .[$i] - .[$i - 1]] | sort | .[length / 2 | floor]) else 0 end)]')
	check "WATCHDOG=1 every ~0.5 s with WATCHDOG_USEC=1s (count, median interval: $wd)" \
		jqe '.[0] >= 4 and .[1] > 0.35 and .[1] < 0.75' <<<"$wd"

	# Reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1 after it.
	local t_hup
	t_hup=$(python3 -c 'import time; print(time.monotonic())')
	kill -HUP "$NPSHIM_PID"
	for _ in $(seq 30); do
		[ "$(notes READY | wc -l)" -ge 2 ] && break
		sleep 0.1
	done
	local rl rd
	rl=$(notes RELOADING | head -n 1)
	rd=$(notes READY | sed -n 2p)
	check "SIGHUP: RELOADING=1 with MONOTONIC_USEC" \
		jqe --argjson t "$t_hup" '(.msg.MONOTONIC_USEC | tonumber) / 1e6 >= $t - 0.5' <<<"${rl:-null}"
	check "SIGHUP: READY=1 after RELOADING=1" \
		jqe --argjson r "${rl:-null}" '$r != null and .t >= $r.t' <<<"${rd:-null}"
	check "status: the reload happened (generation 2)" \
		test "$(npshim_status | jq .model.generation)" = 2

	# Stop: STOPPING=1, exit 0, rules and queue gone.
	npshim_stop
	check "SIGTERM: exit 0" test $? -eq 0
	check "STOPPING=1 sent" test -n "$(notes STOPPING)"
	check "stopping removed the rules" bash -c "! ip netns exec '$NODE' iptables-save -t filter | grep -q NPSHIM"
	check "stopping unbound queue 7" \
		bash -c "! ip netns exec '$NODE' awk '\$1 == 7' /proc/net/netfilter/nfnetlink_queue | grep -q ."

	# An explicit metrics address that cannot be had is a startup failure;
	# nothing is left behind.
	ip netns exec "$NODE" python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 19633))
s.listen()
open(sys.argv[1], "w").close()
time.sleep(30)' "$E2E_TMP/holder.up" &
	HOLDER=$!
	E2E_PIDS+=($HOLDER)
	for _ in $(seq 100); do [ -e "$E2E_TMP/holder.up" ] && break; sleep 0.1; done
	# timeout: should it start after all, the check fails instead of hanging.
	ip netns exec "$NODE" timeout 10 "$NPSHIM" run --no-config --cluster "$cluster" --queues 8 \
		--socket "$E2E_TMP/b.sock" --metrics 127.0.0.1:19633 >/dev/null 2>"$E2E_TMP/busy.err"
	rc=$?
	check "explicit metrics address in use: exit 3, says so ($(grep -o 'metrics: .*' "$E2E_TMP/busy.err" | head -n 1))" \
		test $rc -eq 3 -a -n "$(grep 'cannot listen on 127.0.0.1:19633' "$E2E_TMP/busy.err")"
	check "... and leaves no rules behind" bash -c "! ip netns exec '$NODE' iptables-save -t filter | grep -q NPSHIM"
	# Ours to end, before lib.sh's cleanup would SIGKILL them.
	kill -TERM "$LISTENER" "$HOLDER" 2>/dev/null
	wait "$LISTENER" "$HOLDER" 2>/dev/null
	return 0
}

live
cleanup_local
summary

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of the packet path: `npshim rules` and `npshim run` in a
# client -> node -> server topology of network namespaces (about 15 s).
# Checks: rules install/show/remove (idempotent, first position, no trace);
# enforce: allowed and denied TCP over IPv4 and IPv6, one queued packet per
# connection, a one-way UDP flow queued once, an unparseable packet gets
# the failure verdict, a second daemon is refused, reload on a file change
# and a kept model on a bad one, SIGHUP, clean SIGTERM (exit 0, rules and
# socket gone); audit mode (nothing dropped, would-deny counted); rules
# repaired when flushed behind the daemon's back; INPUT/OUTPUT hooks and
# node IPs; records in the flow store (--db); startup errors.
# Never touches the host namespace's rules: everything runs in namespaces
# named after this shell's pid.
set -u
NPSHIM=${NPSHIM:-$(pwd)/npshim}
pass=0 fail=0 skip=0

ok() { pass=$((pass + 1)); echo "ok   $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # NAME COMMAND...
	local name=$1
	shift
	if "$@"; then ok "$name"; else ko "$name"; fi
}
finish() {
	echo "nfq: $pass passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ]
	exit $?
}

if [ "$(id -u)" -ne 0 ]; then
	echo "skip: needs root (network namespaces, iptables)"
	skip=1
	finish
fi
for cmd in ip iptables-restore ip6tables-restore python3 jq; do
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "skip: $cmd not installed"
		skip=1
		finish
	fi
done

sfx=$$
C=npshim-c$sfx N=npshim-n$sfx S=npshim-s$sfx
work=$(mktemp -d /tmp/npshim-nfq.XXXXXX)
sock=$work/ctl.sock
daemon_pid= server_pid=

cleanup() {
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	for ns in $C $N $S; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

setup() {
	ip netns add $C && ip netns add $N && ip netns add $S || return 1
	ip link add c$sfx netns $C type veth peer name nc$sfx netns $N || return 1
	ip link add s$sfx netns $S type veth peer name ns$sfx netns $N || return 1
	ip -n $C addr add 10.77.1.2/24 dev c$sfx
	ip -n $S addr add 10.77.2.2/24 dev s$sfx
	ip -n $N addr add 10.77.1.1/24 dev nc$sfx
	ip -n $N addr add 10.77.2.1/24 dev ns$sfx
	ip -n $C addr add fd77:1::2/64 dev c$sfx nodad
	ip -n $S addr add fd77:2::2/64 dev s$sfx nodad
	ip -n $N addr add fd77:1::1/64 dev nc$sfx nodad
	ip -n $N addr add fd77:2::1/64 dev ns$sfx nodad
	for l in "$C c$sfx" "$S s$sfx" "$N nc$sfx" "$N ns$sfx" "$C lo" "$S lo" "$N lo"; do
		set -- $l
		ip -n "$1" link set "$2" up || return 1
	done
	ip -n $C route add default via 10.77.1.1 &&
		ip -n $S route add default via 10.77.2.1 &&
		ip -n $C -6 route add default via fd77:1::1 &&
		ip -n $S -6 route add default via fd77:2::1 &&
		ip netns exec $N sysctl -qw net.ipv4.ip_forward=1 &&
		ip netns exec $N sysctl -qw net.ipv6.conf.all.forwarding=1
}
if ! setup; then
	echo "skip: cannot build the network namespaces"
	skip=1
	finish
fi

# TCP 8080/9090 answer "hi"; UDP 5353 only counts datagrams into a file.
ip netns exec $S python3 -c '
import os, socket, threading, sys
def tcp(p):
    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", p)); s.listen(64)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b"hi\n"); c.recv(100)
        except OSError:
            pass
        c.close()
for p in (8080, 9090):
    threading.Thread(target=tcp, args=(p,), daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 5353))
n = 0
while True:
    u.recv(100); n += 1
    open(sys.argv[1] + ".tmp", "w").write(str(n))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
' "$work/udp.count" &
server_pid=$!

cat >"$work/cluster.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: demo}
---
apiVersion: v1
kind: Namespace
metadata: {name: staging, labels: {npshim.io/mode: audit}}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: demo, labels: {app: client}}
spec: {nodeName: node-1, containers: [{name: c, image: x}]}
status: {phase: Running, podIP: 10.77.1.2, podIPs: [{ip: 10.77.1.2}, {ip: "fd77:1::2"}], hostIP: 10.77.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: demo, labels: {app: server}}
spec:
  nodeName: node-1
  containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]
status: {phase: Running, podIP: 10.77.2.2, podIPs: [{ip: 10.77.2.2}, {ip: "fd77:2::2"}], hostIP: 10.77.0.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-from-client, namespace: demo}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: http}, {protocol: UDP, port: 5353}]
EOF
cp "$work/cluster.yaml" "$work/orig.yaml"

inN() { ip netns exec $N "$@"; }
tcp_try() { # SECS PORT [ADDR]: a connection from the client gets the greeting
	[ "$(ip netns exec $C timeout "$1" bash -c "exec 3<>/dev/tcp/${3:-10.77.2.2}/$2 && head -c2 <&3" 2>/dev/null)" = hi ]
}
# Allowed: up to 3 s (a first connection may wait for neighbour discovery
# on a busy machine); blocked: nothing within 1 s.
tcp_ok() { tcp_try 3 "$@"; }
tcp_blocked() { ! tcp_try 1 "$@"; }
status() { inN "$NPSHIM" status --socket "$sock" --output json; }
st() { status | jq -r "$@"; }
no_chain() {
	! inN iptables-save -t filter | grep -q NPSHIM && ! inN ip6tables-save -t filter | grep -q NPSHIM
}
wait_status() { # until the daemon answers (5 s)
	for _ in $(seq 50); do
		status >/dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
start_daemon() { # extra run flags...
	# Not through inN: $! must be the daemon itself (ip execs it), not a
	# subshell, so that signals reach it.
	ip netns exec $N "$NPSHIM" run --cluster "$work/cluster.yaml" --socket "$sock" --queues 0:1 "$@" \
		>"$work/daemon.log" 2>&1 &
	daemon_pid=$!
	wait_status
}
stop_daemon() { # -> exit status of the daemon
	local rc
	kill -TERM "$daemon_pid" || return 99
	wait "$daemon_pid"
	rc=$?
	daemon_pid=
	return $rc
}

send_bad_v6() { # from the client, a raw frame to the node
	ip netns exec $C python3 -c '
import socket, struct, sys
ifname, dmac = sys.argv[1], sys.argv[2]
smac = open("/sys/class/net/%s/address" % ifname).read().strip()
mac = lambda m: bytes(int(x, 16) for x in m.split(":"))
src = socket.inet_pton(socket.AF_INET6, "fd77:1::2")
dst = socket.inet_pton(socket.AF_INET6, "fd77:2::2")
n = 17
ext = b"".join(bytes([60 if i < n - 1 else 17, 0, 1, 4, 0, 0, 0, 0]) for i in range(n))
data = b"x"
ulen = 8 + len(data)
pseudo = src + dst + struct.pack("!IxxxB", ulen, 17)
udp = struct.pack("!HHHH", 40000, 5353, ulen, 0) + data
blob = pseudo + udp + (b"\0" if len(udp) % 2 else b"")
c = sum(struct.unpack("!%dH" % (len(blob) // 2), blob))
while c >> 16:
    c = (c & 0xffff) + (c >> 16)
c = (~c) & 0xffff or 0xffff
udp = udp[:6] + struct.pack("!H", c) + udp[8:]
ip6 = struct.pack("!IHBB", 6 << 28, len(ext) + len(udp), 60, 64) + src + dst
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((ifname, 0))
s.send(mac(dmac) + mac(smac) + b"\x86\xdd" + ip6 + ext + udp)
' "c$sfx" "$(ip netns exec $N cat /sys/class/net/nc$sfx/address)"
}

echo "--- rules"
inN "$NPSHIM" rules show --output json >"$work/show0.json"
check "rules show exits 1 when nothing is installed" test $? -eq 1
check "rules show json: not installed" test "$(jq -r '.ipv4.installed, .ipv6.installed' "$work/show0.json" | sort -u)" = false
inN iptables -A FORWARD -j ACCEPT # a rule that would let everything pass
check "rules install" inN "$NPSHIM" rules install --queues 0:1 --fail-open --hooks forward,input
check "rules install again (idempotent)" inN "$NPSHIM" rules install --queues 0:1 --fail-open --hooks forward,input
inN "$NPSHIM" rules show --output json >"$work/show1.json"
check "rules show exits 0 when installed" test $? -eq 0
check "v4: 4 rules once, 2 jumps" test "$(jq '.ipv4.rules | length' "$work/show1.json"),$(jq '.ipv4.jumps | length' "$work/show1.json")" = 4,2
check "v6: 4 rules once, 2 jumps" test "$(jq '.ipv6.rules | length' "$work/show1.json"),$(jq '.ipv6.jumps | length' "$work/show1.json")" = 4,2
check "jumps at position 1 of FORWARD and INPUT" test \
	"$(jq -r '[.ipv4.jumps[] | "\(.chain):\(.position)"] | sort | join(",")' "$work/show1.json")" = FORWARD:1,INPUT:1
check "queue rule: NEW only, balance, bypass" \
	jq -e >/dev/null '(.ipv4.rules[0] | test("! --ctstate NEW -j RETURN")) and (.ipv4.rules[3] | test("-j NFQUEUE --queue-balance 0:1") and test("--queue-bypass"))' "$work/show1.json"
inN "$NPSHIM" rules show >"$work/show1.txt"
check "rules show text names both families" grep -q "IPv6 (ip6tables): installed" "$work/show1.txt"
check "rules remove" inN "$NPSHIM" rules remove
check "no NPSHIM chain or jump left (v4, v6)" no_chain
check "the foreign ACCEPT rule survives" inN iptables -C FORWARD -j ACCEPT
check "rules remove with nothing installed succeeds" inN "$NPSHIM" rules remove
inN iptables -D FORWARD -j ACCEPT
inN "$NPSHIM" rules install --queues 70000 >/dev/null 2>&1
check "bad --queues is a usage error" test $? -eq 2

echo "--- enforce"
if ! start_daemon --mode enforce; then
	ko "daemon starts"
	cat "$work/daemon.log"
	finish
fi
ok "daemon starts"
check "allowed: TCP 8080 connects" tcp_ok 8080
check "denied: TCP 9090 is dropped" tcp_blocked 9090
check "IPv6 allowed: TCP 8080 connects" tcp_ok 8080 fd77:2::2
check "IPv6 denied: TCP 9090 is dropped" tcp_blocked 9090 fd77:2::2
check "status: mode enforce, generation 1" test "$(st '"\(.mode) \(.model.generation)"')" = "enforce 1"
check "status: namespace modes from labels" test "$(st -c .model.namespace_modes)" = '{"staging":"audit"}'
check "status: counted accept and drop" test "$(st '(.totals.accepted >= 1) and (.totals.dropped >= 1) and (.totals.parse_errors == 0)')" = true
check "status: 2 queues, kernel counters read" test "$(st '[.queues[] | select(.kernel_known)] | length')" = 2
check "deny logged with identities and policy" \
	grep -q "flow: deny TCP 10.77.1.2 (demo/client) -> 10.77.2.2:9090 (demo/server) dir=ingress policies=demo/server-from-client mode=enforce" "$work/daemon.log"
before=$(st .totals.received)
tcp_ok 8080
after=$(st .totals.received)
check "one allowed TCP connection = one queued packet" test $((after - before)) -eq 1
before=$(st .totals.received)
# The first datagram's verdict must be in before the second leaves: until
# then the flow's conntrack entry is unconfirmed and a second datagram
# would be queued too (a property of conntrack, not of npshim).
ip netns exec $C python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"x", ("10.77.2.2", 5353)); time.sleep(0.5)
for i in range(9):
    s.sendto(b"x", ("10.77.2.2", 5353)); time.sleep(0.01)'
for _ in $(seq 20); do [ "$(cat "$work/udp.count" 2>/dev/null)" = 10 ] && break; sleep 0.1; done
after=$(st .totals.received)
check "one-way UDP flow of 10 datagrams queued once" test $((after - before)) -eq 1
check "and all 10 datagrams arrived" test "$(cat "$work/udp.count" 2>/dev/null)" = 10
echo "  (udp: queued $((after - before)), arrived $(cat "$work/udp.count" 2>/dev/null))"

inN "$NPSHIM" run --cluster "$work/cluster.yaml" --socket "$sock" --queues 0:1 >"$work/second.log" 2>&1
check "a second daemon on the same socket is refused (exit 3)" test $? -eq 3
inN "$NPSHIM" run --cluster "$work/cluster.yaml" --socket "$work/other.sock" --queues 1 >"$work/third.log" 2>&1
check "a second daemon on a bound queue is refused (exit 3)" test $? -eq 3
check "... saying the queue is taken" grep -q "queue 1: binding refused" "$work/third.log"
check "... and the first daemon's rules are intact" inN iptables -C FORWARD -j NPSHIM
check "... and it still enforces" tcp_blocked 9090
# An IPv6 UDP packet behind 17 destination-options headers: conntrack
# tracks it as NEW, npshim's parser refuses the chain (more than 16). It
# must get the failure verdict (fail-closed here: drop) and be counted.
perr=$(st .totals.parse_errors) drops=$(st .totals.dropped)
send_bad_v6
for _ in $(seq 20); do [ "$(st .totals.parse_errors)" -gt "$perr" ] && break; sleep 0.1; done
check "unparseable packet (17 IPv6 extension headers) counted as a parse error" \
	test "$(st .totals.parse_errors)" -eq $((perr + 1))
check "... and dropped (fail-closed)" test "$(st .totals.dropped)" -eq $((drops + 1))

sed -i 's/ports: \[{port: http}, /ports: [{port: http}, {port: 9090}, /' "$work/cluster.yaml"
for _ in $(seq 30); do [ "$(st .model.generation)" = 2 ] && break; sleep 0.1; done
check "file change reloads (generation 2)" test "$(st .model.generation)" = 2
check "new policy applies: TCP 9090 connects" tcp_ok 9090
echo "  bogus: [" >>"$work/cluster.yaml"
for _ in $(seq 30); do [ "$(st .reload.failures)" = 1 ] && break; sleep 0.1; done
check "bad file: reload error visible" test "$(st '.reload.last_error | test("cluster.yaml:[0-9]+")')" = true
check "bad file: old model kept" test "$(st .model.generation)" = 2
check "bad file: verdicts unchanged" tcp_ok 9090
cp "$work/orig.yaml" "$work/cluster.yaml"
kill -HUP "$daemon_pid"
for _ in $(seq 30); do [ "$(st .model.generation)" -ge 3 ] 2>/dev/null && [ "$(st .reload.last_error)" = null ] && break; sleep 0.1; done
check "SIGHUP reload clears the error" test "$(st .reload.last_error)" = null
check "9090 denied again" tcp_blocked 9090
stop_daemon
check "SIGTERM: exit 0" test $? -eq 0
check "SIGTERM: rules removed" no_chain
check "SIGTERM: socket removed" test ! -e "$sock"

echo "--- audit"
if start_daemon --mode audit; then
	ok "audit daemon starts"
	check "audit: denied TCP 9090 still connects" tcp_ok 9090
	check "audit: would-deny counted, nothing dropped" test "$(st '"\(.totals.would_deny >= 1) \(.totals.dropped)"')" = "true 0"
	check "audit: fail-open by default" test "$(st .fail_open)" = true
	perr=$(st .totals.parse_errors)
	send_bad_v6
	for _ in $(seq 20); do [ "$(st .totals.parse_errors)" -gt "$perr" ] && break; sleep 0.1; done
	check "audit: an unparseable packet is accepted, never dropped" \
		test "$(st '"\(.totals.parse_errors) \(.totals.dropped)"')" = "$((perr + 1)) 0"
	check "audit: would-deny logged" grep -q "flow: would-deny TCP .*:9090 .*mode=audit" "$work/daemon.log"
	stop_daemon
	check "audit: exit 0" test $? -eq 0
else
	ko "audit daemon starts"
	cat "$work/daemon.log"
fi
check "audit: rules removed" no_chain

echo "--- rules repaired when removed behind the daemon's back"
if start_daemon --mode enforce --rules-check 1s; then
	ok "daemon with --rules-check 1s starts"
	inN iptables -D FORWARD -j NPSHIM
	inN iptables -I FORWARD 1 -j ACCEPT
	for _ in $(seq 40); do [ "$(st .rules.repairs)" -ge 1 ] 2>/dev/null && break; sleep 0.1; done
	check "status counts the repair" test "$(st .rules.repairs)" -ge 1
	check "the jump is back at position 1, before the foreign ACCEPT" test \
		"$(inN "$NPSHIM" rules show -4 --output json | jq -r '.ipv4.jumps[] | select(.chain == "FORWARD") | .position')" = 1
	check "enforcing again: 9090 dropped" tcp_blocked 9090
	inN iptables -D FORWARD -j ACCEPT
	stop_daemon
	check "exit 0, no rules left" no_chain
else
	ko "daemon with --rules-check 1s starts"
	cat "$work/daemon.log"
fi

echo "--- input/output hooks, node IPs"
if start_daemon --mode enforce --hooks forward,input,output --node-ip 10.77.2.1; then
	ok "daemon with --hooks forward,input,output starts"
	check "rules: jumps in FORWARD, INPUT, OUTPUT" test \
		"$(inN "$NPSHIM" rules show -4 --output json | jq -r '[.ipv4.jumps[].chain] | sort | join(",")')" = FORWARD,INPUT,OUTPUT
	before=$(st .totals.received)
	check "node IP -> pod 9090 connects (node traffic is always allowed)" \
		test "$(inN timeout 1 bash -c "exec 3<>/dev/tcp/10.77.2.2/9090 && head -c2 <&3" 2>/dev/null)" = hi
	after=$(st .totals.received)
	check "... and was decided through the OUTPUT hook" test $((after - before)) -ge 1
	check "pod -> pod 9090 still dropped" tcp_blocked 9090
	stop_daemon
	check "hooks: exit 0, no rules left" no_chain
else
	ko "daemon with --hooks forward,input,output starts"
	cat "$work/daemon.log"
fi

echo "--- flow store"
if start_daemon --mode enforce --db "$work/flows.db"; then
	ok "daemon with --db starts"
	tcp_blocked 9090
	check "status: records go to the store" test "$(st .records.sink)" = store
	stop_daemon
	check "--db: exit 0" test $? -eq 0
	"$NPSHIM" flows --db "$work/flows.db" --output json >"$work/flows.json" 2>"$work/flows.err"
	check "the deny is in the store" jq -e >/dev/null '[.[] | select(.verdict == "deny" and .port == 9090)] | length >= 1' "$work/flows.json"
else
	ko "daemon with --db starts"
	cat "$work/daemon.log"
fi

echo "--- startup errors"
echo "kind: [" >"$work/bad.yaml"
inN "$NPSHIM" run --cluster "$work/bad.yaml" --socket "$sock" >"$work/bad.log" 2>&1
check "bad cluster: exit 2" test $? -eq 2
check "bad cluster: message names the file" grep -q "bad.yaml:[0-9]*:[0-9]*: error" "$work/bad.log"
check "bad cluster: no rules left" no_chain
inN "$NPSHIM" run --cluster "$work/cluster.yaml" --mode strict >/dev/null 2>&1
check "bad --mode: exit 2" test $? -eq 2
finish

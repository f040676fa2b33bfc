#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Flow store reliability: the record pipeline on a full file system, a
# read-only path and a corrupted file; kill -9 during heavy writes; readers
# (flows --follow, report) while writing; retention; bad flags and --since
# values. Uses build/tools/store_feed, which pushes synthetic records through
# the real ring, aggregation and SQLite writer. The file-system cases run in
# a private mount namespace (unshare -m) on a small tmpfs, never on the
# host's mounts; they are skipped without root. About 30 s.
set -u
NPSHIM=${NPSHIM:-./npshim}
BUILD=${NPSHIM_BUILD:-build}
FEED="$BUILD/tools/store_feed"
pass=0 fail=0 skip=0
work=$(mktemp -d /tmp/npshim-store.XXXXXX)
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "  ok   $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL $*"; }
skipped() { skip=$((skip + 1)); echo "  skip $*"; }
check() { # check DESCRIPTION COMMAND...
	local d=$1; shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
# last JSON stats line of a feed log, or {}
last_stats() { grep '^{' "$1" | tail -n 1 || echo '{}'; }
jget() { jq -r "$2" <<<"$1"; }

if [ ! -x "$FEED" ] || [ ! -x "$NPSHIM" ]; then
	echo "store: $FEED or $NPSHIM missing (run make tests)"
	echo "store: 0 passed, 1 failed"
	exit 1
fi

# ---------------------------------------------------------------------------
echo "== bad flags and --since values get clear errors (exit 2)"
# Paced, so that a busy machine does not make the ring overflow; the
# checks below compare with what was written anyway.
"$FEED" --db "$work/ref.db" --count 20000 --rate 200000 --distinct 3000 --verdict would-deny >"$work/ref.log" 2>&1
fed=$(jq -r .records_written <<<"$(grep '^{' "$work/ref.log" | tail -n 1)")
expect_usage() { # expect_usage REGEX ARGS...
	local re=$1; shift
	local out rc
	out=$("$NPSHIM" "$@" 2>&1 >/dev/null); rc=$?
	if [ $rc -eq 2 ] && grep -qE -- "$re" <<<"$out"; then
		ok "npshim $* -> 2: $out"
	else
		bad "npshim $* -> $rc (want 2 and /$re/): $out"
	fi
}
expect_usage "--db PATH is required" flows
expect_usage "--since: '1x' is neither" flows --db "$work/ref.db" --since 1x
expect_usage "--since: '2026-13-01T00:00:00Z'" flows --db "$work/ref.db" --since 2026-13-01T00:00:00Z
expect_usage "--since: 'yesterday'" flows --db "$work/ref.db" --since yesterday
expect_usage "--until: ''" flows --db "$work/ref.db" --until ''
expect_usage "--since must be before --until" flows --db "$work/ref.db" --since 1h --until 2h
expect_usage "--port: '70000'" flows --db "$work/ref.db" --port 70000
expect_usage "--port: '53/icmp'" flows --db "$work/ref.db" --port 53/icmp
expect_usage "--verdict: 'maybe'" flows --db "$work/ref.db" --verdict maybe
expect_usage "--group-by: 'node'" flows --db "$work/ref.db" --group-by node
expect_usage "--output: 'xml'" flows --db "$work/ref.db" --output xml
expect_usage "--limit: '-1'" flows --db "$work/ref.db" --limit -1
expect_usage "-n and -A" flows --db "$work/ref.db" -n a -A
expect_usage "cannot be combined with --group-by" flows --db "$work/ref.db" --follow --group-by src
expect_usage "--from: 'a/b/c'" flows --db "$work/ref.db" --from a/b/c
expect_usage "unknown option '--bogus'" flows --db "$work/ref.db" --bogus
expect_usage "--sql takes no filter" flows --db "$work/ref.db" --sql 'SELECT 1' -n x
expect_usage "only reading is allowed" flows --db "$work/ref.db" --sql 'DELETE FROM flow'
expect_usage "only reading is allowed" flows --db "$work/ref.db" --sql "ATTACH '$work/x.db' AS x"
expect_usage "one statement only" flows --db "$work/ref.db" --sql 'SELECT 1; SELECT 2'
expect_usage "nope.db: No such file" flows --db "$work/nope.db"
printf 'definitely not sqlite %.0s' {1..300} >"$work/junk.db"
expect_usage "junk.db.*not a database" flows --db "$work/junk.db"
expect_usage "--since: '0s' is not in the past" report --db "$work/ref.db" --since 0s
expect_usage "--since: 'last week'" report --db "$work/ref.db" --since 'last week'
expect_usage "--output: 'csv'" report --db "$work/ref.db" --output csv
expect_usage "--db PATH is required" report -n x
rec=$("$FEED" --check "$work/ref.db" | jq -r .records)
check "the refused DELETE changed nothing ($rec records)" [ "$rec" = "$fed" ]

# ---------------------------------------------------------------------------
echo "== queries answer in their machine forms"
sum=$("$NPSHIM" flows --db "$work/ref.db" --limit 0 --output json | jq '[.[].count] | add')
check "flows --output json: counts add up to what was written ($sum = $fed)" [ "$sum" = "$fed" ]
hdr=$("$NPSHIM" flows --db "$work/ref.db" --limit 1 --output csv | head -n 1)
check "csv header ($hdr)" [ "${hdr:0:23}" = "minute,node,src_namespa" ]
n=$("$NPSHIM" flows --db "$work/ref.db" --db "$work/ref.db" --group-by dst --limit 0 --output json |
	jq '[.[].count] | add')
check "two --db merged: group-by dst sums both files ($n)" [ "$n" = $((fed * 2)) ]
"$NPSHIM" report --db "$work/ref.db" --output json >"$work/rep.json"; rc=$?
check "report: exit 1 when would-deny flows exist" [ $rc -eq 1 ]
check "report json: not ready, short-window warning" \
	jq -e '.ready == false and (.warnings | length) == 1 and (.warnings[0] | test("less than a day"))' "$work/rep.json" >/dev/null
# A flow denied both ways counts for both namespaces: the sum is at least
# the records fed, and every workload's flows add up to its count.
check "report json: every namespace, workloads and their flows add up" \
	jq -e --argjson fed "$fed" '(.namespaces | length) == 10 and ([.namespaces[].would_deny] | add) >= $fed and
		all(.namespaces[].workloads[]; .would_deny == ([.flows[].count] | add) and .distinct_flows == (.flows | length))' \
	"$work/rep.json" >/dev/null
"$NPSHIM" report --db "$work/ref.db" -n quiet-ns --output json >"$work/rep2.json"; rc=$?
check "report -n quiet-ns: exit 0, ready, the warning stays" \
	bash -c "[ $rc -eq 0 ] && jq -e '.ready and .namespaces[0].namespace == \"quiet-ns\" and (.warnings | length) == 1' '$work/rep2.json' >/dev/null"

# ---------------------------------------------------------------------------
echo "== corrupted file: moved aside, a new database, records written"
printf 'garbage%.0s' {1..2000} >"$work/corrupt.db"
"$FEED" --db "$work/corrupt.db" --count 5000 --rate 100000 --verdict deny >"$work/corrupt.log" 2>&1
s=$(last_stats "$work/corrupt.log")
check "corrupt_moved 1, db ok, every accepted record written ($(jget "$s" .records_written))" \
	[ "$(jget "$s" '"\(.corrupt_moved) \(.db_ok) \(.records_written == .submitted and .submitted > 0)"')" = "1 true true" ]
check "log says where it went" grep -q "moved it to $work/corrupt.db.corrupt-" "$work/corrupt.log"
check "the corrupted bytes are kept" bash -c "ls '$work'/corrupt.db.corrupt-* >/dev/null"
check "the new file passes integrity_check" bash -c "'$FEED' --check '$work/corrupt.db' | jq -e '.integrity == \"ok\" and .records == $(jget "$s" .records_written)' >/dev/null"

# ---------------------------------------------------------------------------
echo "== retention: rows older than --retention are pruned"
"$FEED" --db "$work/ret.db" --count 3000 --age 864000 --verdict deny >/dev/null 2>&1
"$FEED" --db "$work/ret.db" --count 100 --retention 7d --verdict deny >"$work/ret.log" 2>&1
s=$("$FEED" --check "$work/ret.db")
check "only the fresh records remain ($(jget "$s" .records))" [ "$(jget "$s" .records)" = 100 ]
check "pruned counted" [ "$(jget "$(last_stats "$work/ret.log")" '.pruned > 0')" = true ]

# ---------------------------------------------------------------------------
echo "== kill -9 during heavy writes: integrity ok, nothing committed lost"
"$FEED" --db "$work/kill.db" --threads 2 --distinct 200000 --flush-ms 100 --stats-ms 50 \
	--duration 30 --verdict mix --record all >"$work/kill.log" 2>&1 &
kp=$!
pids+=("$kp")
for _ in $(seq 50); do
	sleep 0.1
	c=$(grep -c '"records_written":[1-9]' "$work/kill.log" 2>/dev/null)
	[ "${c:-0}" -ge 10 ] && break
done
kill -9 "$kp"; wait "$kp" 2>/dev/null
committed=$(jget "$(last_stats "$work/kill.log")" .records_written)
s=$("$FEED" --check "$work/kill.db")
check "integrity_check ok after kill -9" [ "$(jget "$s" .integrity)" = ok ]
check "records in the file ($(jget "$s" .records)) >= last reported committed ($committed > 0)" \
	[ "$committed" -gt 0 ] && [ "$(jget "$s" .records)" -ge "$committed" ]
"$FEED" --db "$work/kill.db" --count 1000 --verdict deny >"$work/kill2.log" 2>&1
check "a new writer opens the killed file and writes" \
	[ "$(jget "$(last_stats "$work/kill2.log")" '"\(.db_ok) \(.records_written)"')" = "true 1000" ]

# ---------------------------------------------------------------------------
echo "== flows --follow and report while the writer writes"
"$FEED" --db "$work/live.db" --threads 1 --rate 40000 --distinct 50000 --flush-ms 200 --stats-ms 500 \
	--duration 4 --verdict would-deny >"$work/live.log" 2>"$work/live.err" &
fp=$!
pids+=("$fp")
for _ in $(seq 50); do [ -s "$work/live.db" ] && grep -q '"flushes":[1-9]' "$work/live.log" && break; sleep 0.1; done
"$NPSHIM" flows --db "$work/live.db" --follow --output json --limit 5 >"$work/follow.out" 2>"$work/follow.err" &
flp=$!
pids+=("$flp")
rerr=0
for _ in 1 2 3 4; do
	"$NPSHIM" report --db "$work/live.db" --since 1h --output json >/dev/null 2>>"$work/readers.err"
	[ $? -le 1 ] || rerr=$((rerr + 1))
	"$NPSHIM" flows --db "$work/live.db" --group-by pair --limit 10 --output json >/dev/null 2>>"$work/readers.err" ||
		rerr=$((rerr + 1))
	"$NPSHIM" flows --db "$work/live.db" --sql 'SELECT count(*) FROM flows' --output csv >/dev/null 2>>"$work/readers.err" ||
		rerr=$((rerr + 1))
	sleep 0.5
done
wait "$fp"
sleep 1.5
kill -INT "$flp"; wait "$flp"; frc=$?
check "report/flows/--sql during writes: no error (${rerr} failed runs)" \
	bash -c "[ $rerr -eq 0 ] && ! grep -v 'warning:' '$work/readers.err' | grep -q ."
check "--follow: exit 0 on SIGINT, nothing on stderr" bash -c "[ $frc -eq 0 ] && [ ! -s '$work/follow.err' ]"
lines=$(wc -l <"$work/follow.out")
fsum=$(jq -s '[.[].count] | add // 0' "$work/follow.out" 2>/dev/null)
check "--follow streamed JSON lines as rows landed ($lines lines, $fsum records)" \
	bash -c "[ $lines -gt 5 ] && [ '${fsum:-0}' -gt 0 ]"
s=$(last_stats "$work/live.log")
check "writer never blocked by readers: no busy, no flush error, nothing lost to the DB" \
	[ "$(jget "$s" '"\(.busy) \(.flush_errors) \(.dropped_groups) \(.dropped_store)"')" = "0 0 0 0" ]
check "every submitted record committed ($(jget "$s" .records_written)/$(jget "$s" .submitted))" \
	[ "$(jget "$s" '.records_written == .submitted')" = true ]

# ---------------------------------------------------------------------------
echo "== file-system trouble (private mount namespace, small tmpfs)"
if [ "$(id -u)" -ne 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
	skipped "disk full: needs root and unshare -m"
	skipped "read-only path: needs root and unshare -m"
else
	mkdir -p "$work/mnt"
	cat >"$work/fs.sh" <<'EOF'
set -u
work=$1 FEED=$2
mnt=$work/mnt
mount -t tmpfs -o size=32m npshim-store-test "$mnt" || { echo "RESULT mount failed"; exit 0; }

# Disk full: leave ~600 KiB, write many distinct flows (about 2 MB/s of
# rows), then free space; 32 MiB is room enough for the rest of the run
# (rows, their hour and day rollups and keys).
dd if=/dev/zero of="$mnt/filler" bs=1k count=32200 status=none 2>/dev/null
"$FEED" --db "$mnt/full.db" --threads 1 --rate 5000 --distinct 400000 --flush-ms 100 --stats-ms 100 \
	--duration 5 --verdict deny >"$work/full.log" 2>"$work/full.err" &
fp=$!
for _ in $(seq 60); do grep -q '"db_ok":false' "$work/full.log" && break; sleep 0.1; done
sleep 0.5
rm -f "$mnt/filler"
wait $fp
rm -f "$mnt"/full.db*
echo "RESULT full-done"

# Read-only path: the directory is a read-only bind mount at start; made
# writable again after a while.
mkdir -p "$mnt/rw"
mkdir -p "$work/ro"
mount --bind "$mnt/rw" "$work/ro"
mount -o remount,ro,bind "$work/ro"
"$FEED" --db "$work/ro/ro.db" --threads 1 --rate 2000 --distinct 100 --flush-ms 100 --stats-ms 100 \
	--duration 3.5 --verdict deny >"$work/ro.log" 2>"$work/ro.err" &
fp=$!
sleep 1.2
mount -o remount,rw,bind "$work/ro"
wait $fp
umount "$work/ro"
umount "$mnt"
echo "RESULT ro-done"
EOF
	unshare -m --propagation private bash "$work/fs.sh" "$work" "$FEED" >"$work/fs.out" 2>&1
	# Disk full.
	if grep -q "RESULT full-done" "$work/fs.out"; then
		first_bad=$(grep -n '"db_ok":false' "$work/full.log" | head -n 1 | cut -d: -f1)
		s_bad=$(grep '"db_ok":false' "$work/full.log" | head -n 1)
		s_bad_last=$(grep '"db_ok":false' "$work/full.log" | tail -n 1)
		s_end=$(last_stats "$work/full.log")
		check "disk full detected and named: $(jget "${s_bad:-{\}}" .db_state)" \
			bash -c "[ -n '$first_bad' ] && grep -q 'full' <<<'$(jget "${s_bad:-{\}}" .db_state)'"
		check "said once in the log, not per attempt ($(grep -c 'flow store:.*full' "$work/full.err"))" \
			[ "$(grep -c 'flow store:.*full' "$work/full.err")" -le 2 ]
		check "producers kept going while the disk was full (submitted $(jget "${s_bad:-{\}}" .submitted) -> $(jget "${s_bad_last:-{\}}" .submitted))" \
			[ "$(jget "${s_bad_last:-{\}}" .submitted)" -gt "$(jget "${s_bad:-{\}}" .submitted)" ]
		check "failures and drops counted ($(jget "$s_end" '"errors \(.flush_errors) dropped \(.dropped_groups)"'))" \
			[ "$(jget "$s_end" '.flush_errors > 0')" = true ]
		check "writing resumed after space came back" [ "$(jget "$s_end" .db_ok)" = true ]
		check "resume logged" grep -q "writing again" "$work/full.err"
		check "records after recovery committed ($(jget "$s_end" .records_written) > $(jget "${s_bad_last:-{\}}" .records_written))" \
			[ "$(jget "$s_end" .records_written)" -gt "$(jget "${s_bad_last:-{\}}" .records_written)" ]
	else
		bad "disk full scenario did not run: $(tail -n 3 "$work/fs.out")"
	fi
	# Read-only path.
	if grep -q "RESULT ro-done" "$work/fs.out"; then
		s_first=$(grep '^{' "$work/ro.log" | head -n 1)
		s_end=$(last_stats "$work/ro.log")
		check "read-only path reported: $(jget "${s_first:-{\}}" .db_state)" \
			bash -c "[ '$(jget "${s_first:-{\}}" .db_ok)' = false ] && grep -qiE 'read-only|readonly|unable to open' <<<'$(jget "${s_first:-{\}}" .db_state)'"
		check "no packet-side drop while read-only (dropped_full $(jget "$s_end" .dropped_full))" \
			[ "$(jget "$s_end" .dropped_full)" = 0 ]
		check "writable again: all records written ($(jget "$s_end" .records_written)/$(jget "$s_end" .submitted))" \
			[ "$(jget "$s_end" '.db_ok and .records_written == .submitted')" = true ]
	else
		bad "read-only scenario did not run: $(tail -n 3 "$work/fs.out")"
	fi
fi

echo "store: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]

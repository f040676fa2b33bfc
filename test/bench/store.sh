#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Flow store: sustained ingest through ring + aggregation + SQLite, submit
# latency seen by packet threads (idle vs busy store), and query time on a
# 10-million-row database (built once into $NPSHIM_BUILD/bench, ~3.4 GiB,
# about 4 minutes: a week in bulk as schema version 2, migrated to the
# current one, the last two hours through the writer;
# NPSHIM_BENCH_STORE_ROWS overrides the size). Targets: >= 200k records/s,
# typical queries <= 100 ms. Figures only; never fails on timing.
set -u
build=${NPSHIM_BUILD:-build}
bin=$build/bench/store
[ -x "$bin" ] || { echo "store: $bin not built (make bench)"; exit 1; }
rows=${NPSHIM_BENCH_STORE_ROWS:-10000000}
echo "machine: $(nproc) cpu, load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" --seconds 5 --rows "$rows" --db-dir "$build/bench" || exit 1

# End to end through the CLI (process start, open, query, print).
db="$build/bench/flows-$rows.db"
npshim=${NPSHIM:-./npshim}
if [ -f "$db" ] && [ -x "$npshim" ]; then
	# Windows end where the (cached) data ends, not now.
	end=$("$npshim" flows --db "$db" --sql "SELECT max(minute_unix) + 60 AS t FROM flows" --output json |
		jq -r '.[0].t')
	h1=$(date -u -d "@$((end - 3600))" +%Y-%m-%dT%H:%M:%SZ)
	d1=$(date -u -d "@$((end - 86400))" +%Y-%m-%dT%H:%M:%SZ)
	echo "npshim CLI, end to end (median of 5; windows end at $(date -u -d "@$end" +%H:%M:%SZ)):"
	for args in "flows -n team-3 --since $h1 --until $(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ) --output json" \
		"flows --group-by pair -n team-3 --since $h1 --output json" \
		"flows --group-by pair -n team-3 --since $d1 --output json" \
		"report -n team-3 --since $d1 --output json"; do
		ts=()
		for _ in 1 2 3 4 5; do
			t0=$(date +%s%N)
			# shellcheck disable=SC2086
			"$npshim" $args --db "$db" >/dev/null 2>&1
			ts+=($((($(date +%s%N) - t0) / 1000000)))
		done
		med=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n 3p)
		printf '  %-60s %5d ms\n' "npshim $args" "$med"
	done
fi

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every test suite and end with one summary line.
#
# A suite is test/<name>/run.sh. It prints what it checks and ends with a
# line "N passed, N failed" (", N skipped" may follow). A suite that exits
# non-zero without such a line counts as one failure. Runs as root on a
# fresh machine in CI; suites that need root or a kernel feature skip with a
# reason when they cannot run.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export NPSHIM="$top/npshim"
export NPSHIM_BUILD="$top/build"
export NPSHIM_TOP="$top"

only=${NPSHIM_SUITES:-}
suites=()
for f in test/*/run.sh; do
	name=$(basename "$(dirname "$f")")
	if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then
		continue
	fi
	suites+=("$name")
done

total_pass=0 total_fail=0 total_skip=0
summary=()
logdir=$(mktemp -d /tmp/npshim-tests.XXXXXX)
for name in "${suites[@]}"; do
	echo "=== suite $name"
	start=$(date +%s)
	bash "test/$name/run.sh" 2>&1 | tee "$logdir/$name.log"
	rc=${PIPESTATUS[0]}
	secs=$(( $(date +%s) - start ))
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$logdir/$name.log" | tail -n 1)
	if [ -z "$line" ]; then
		p=0 f=1 s=0
		echo "suite $name: exit $rc without a summary line"
	else
		p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
		f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
		s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || true)
		s=${s:-0}
		if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
			echo "suite $name: exit $rc although it reported no failure"
			f=1
		fi
	fi
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
	summary+=("$(printf '  %-14s %5d passed %4d failed %4d skipped %5ds' "$name" "$p" "$f" "$s" "$secs")")
done
rm -rf "$logdir"
echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]

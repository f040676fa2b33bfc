#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Unit tests, plain and under ASan+UBSan.
set -u
build=${NPSHIM_BUILD:-build}
pass=0 fail=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in "$build"/test/test_* "$build"/asan/test/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d) continue ;; esac
	out=$("$t" 2>&1)
	rc=$?
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' <<<"$out" | tail -n 1)
	p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
	f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
	p=${p:-0} f=${f:-0}
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$f" -ne 0 ]; then
		echo "$out" | tail -n 40
	fi
	printf '%-50s %5d passed %3d failed\n' "${t#$build/}" "$p" "$f"
	pass=$((pass + p)) fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ $fail -eq 0 ]

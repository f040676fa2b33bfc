#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Broken cluster files: each test/badinput/NAME.{yaml,json} must make
# `npshim simulate --cluster FILE` fail (exit 2, no crash, no hang) with the
# messages in NAME.ext.expect (fixed substrings, one per line; "noline" says
# the error has no line number), naming the file and the line. Every file is
# also loaded by the loader built with ASan+UBSan (load_cluster), which must
# report the same errors and no sanitizer finding; the good example data must
# load cleanly under it too. Takes a few seconds.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
npshim=${NPSHIM:-$top/npshim}
build=${NPSHIM_BUILD:-$top/build}
dir=test/badinput
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

# The ASan+UBSan build of the loader tool, which `make tests` builds; make
# it here too so the suite also runs on its own.
asan_tool=$build/asan/tools/load_cluster
if ! make -s --no-print-directory B="$build" "$asan_tool" >/dev/null; then
	bad "could not build the ASan load_cluster tool"
	asan_tool=
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if ! "$npshim" simulate --help >/dev/null 2>&1; then
	bad "'$npshim simulate --help' does not work"
fi

sanitizer_report() {
	grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' <<<"$1"
}

check_expect() { # output expect-file label
	local out=$1 expect=$2 label=$3 line missing=0
	while IFS= read -r line; do
		case "$line" in '' | '#'* | noline) continue ;; esac
		if ! grep -qF -- "$line" <<<"$out"; then
			bad "$label: expected message not found: $line"
			missing=1
		fi
	done <"$expect"
	return $missing
}

n_files=0
for f in "$dir"/*.yaml "$dir"/*.json; do
	[ -e "$f" ] || continue
	n_files=$((n_files + 1))
	base=$(basename "$f")
	expect=$f.expect
	if [ ! -f "$expect" ]; then
		bad "$base: no $base.expect"
		continue
	fi
	out=$(timeout 20 "$npshim" simulate --cluster "$f" </dev/null 2>&1)
	rc=$?
	if [ $rc -eq 124 ]; then
		bad "$base: simulate hung (killed after 20 s)"
	elif [ $rc -ge 128 ]; then
		bad "$base: simulate crashed (exit $rc)"
	elif [ $rc -ne 2 ]; then
		bad "$base: simulate exit $rc, want 2 (invalid input)"
	else
		ok
	fi
	check_expect "$out" "$expect" "$base (simulate)" && ok
	if grep -qx noline "$expect"; then
		grep -qF -- "$base: error:" <<<"$out" && ok || bad "$base: file not named"
	else
		grep -qE -- "(^|/)$base:[0-9]+:[0-9]+: error:" <<<"$out" && ok ||
			bad "$base: no FILE:LINE:COL in: $(head -n 2 <<<"$out")"
	fi
	if [ -n "$asan_tool" ]; then
		out=$(timeout 60 "$asan_tool" "$f" 2>&1)
		rc=$?
		if sanitizer_report "$out"; then
			bad "$base: sanitizer report:"
			head -n 30 <<<"$out"
		elif [ $rc -ne 2 ]; then
			bad "$base: ASan load_cluster exit $rc, want 2"
		else
			ok
		fi
		check_expect "$out" "$expect" "$base (load_cluster/ASan)" && ok
	fi
done
echo "badinput: $n_files broken files checked through npshim simulate and the ASan loader"

# Good data stays good under the sanitizers (no false alarms, no leaks).
if [ -n "$asan_tool" ]; then
	for f in test/data/k8s/*.json test/data/k8s/*.yaml test/data/k8s/manifests; do
		[ -e "$f" ] || continue
		out=$(timeout 60 "$asan_tool" "$f" 2>&1)
		rc=$?
		if sanitizer_report "$out" || [ $rc -ne 0 ]; then
			bad "good input $f: exit $rc"
			head -n 20 <<<"$out"
		else
			ok
		fi
	done
fi

echo "badinput: $pass passed, $fail failed"
[ $fail -eq 0 ]

#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Short libFuzzer runs of every target (test/fuzz/fuzz_*.c): each is built
# with clang (ASan+UBSan) and run from a copy of its checked-in seed corpus
# test/fuzz/corpus/<name without fuzz_>/. A target passes when it builds and
# runs its time without a crash, leak, timeout or sanitizer report. Skipped
# (with the reason) when clang cannot link libFuzzer. About 1-2 minutes: the
# first build of the instrumented library dominates; the runs share
# NPSHIM_FUZZ_SECONDS (default 40) between the targets, 5 to 20 s each.
set -u
top=${NPSHIM_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
# The Makefile builds under build/ (relative): name its goals that way.
build=build
fuzz_cc=${FUZZ_CC:-clang}
pass=0 fail=0 skip=0

targets=()
for src in test/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	targets+=("$name")
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no targets"
	echo "fuzz: 0 passed, 0 failed, 0 skipped"
	exit 0
fi

tmp=$(mktemp -d /tmp/npshim-fuzz.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return d && n ? 0 : 0; }\n' >"$tmp/probe.c"
if ! command -v "$fuzz_cc" >/dev/null 2>&1 ||
	! "$fuzz_cc" -fsanitize=fuzzer,address,undefined -o "$tmp/probe" "$tmp/probe.c" >/dev/null 2>&1; then
	echo "fuzz: SKIP: $fuzz_cc cannot link libFuzzer (install clang to run the fuzz targets)"
	echo "fuzz: 0 passed, 0 failed, ${#targets[@]} skipped"
	exit 0
fi

# Name the instrumented objects as goals: make otherwise treats them as
# intermediate files of the fuzz_% rule and deletes them after each link,
# which makes every run rebuild the whole library.
objs=()
for src in core/*.c policy/*.c k8s/*.c nfq/*.c audit/*.c store/*.c cli/*.c; do
	[ -e "$src" ] || continue
	[ "$src" = core/main.c ] && continue
	objs+=("$build/fuzzobj/${src%.c}.o")
done
echo "fuzz: building ${#targets[@]} targets (instrumented library: ${#objs[@]} objects)"
if ! make -s --no-print-directory -j2 "${objs[@]}" >"$tmp/objs.log" 2>&1; then
	echo "fuzz: FAIL building the instrumented library:"
	tail -n 20 "$tmp/objs.log"
	echo "fuzz: 0 passed, ${#targets[@]} failed, 0 skipped"
	exit 1
fi

total=${NPSHIM_FUZZ_SECONDS:-40}
per=$((total / ${#targets[@]}))
[ $per -lt 5 ] && per=5
[ $per -gt 20 ] && per=20

for name in "${targets[@]}"; do
	bin=$build/fuzz/$name
	short=${name#fuzz_}
	if ! make -s --no-print-directory "$bin" >"$tmp/$name.build" 2>&1; then
		echo "FAIL $name: does not build"
		tail -n 15 "$tmp/$name.build"
		fail=$((fail + 1))
		continue
	fi
	corpus=$tmp/corpus-$short
	mkdir -p "$corpus"
	if [ -d "test/fuzz/corpus/$short" ]; then
		cp -r "test/fuzz/corpus/$short/." "$corpus/"
	else
		echo "note: $name has no seed corpus test/fuzz/corpus/$short/"
	fi
	seeds=$(find "$corpus" -type f | wc -l)
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
		timeout $((per + 60)) "$bin" -max_total_time=$per -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$tmp/$name-" "$corpus" >"$tmp/$name.log" 2>&1
	rc=$?
	runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$tmp/$name.log" | grep -oE '[0-9]+$')
	if [ $rc -eq 0 ]; then
		printf '  %-22s ok    %3ss %8s runs from %s seeds\n' "$name" "$per" "${runs:-?}" "$seeds"
		pass=$((pass + 1))
	else
		echo "FAIL $name: exit $rc"
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$tmp/$name.log" | head -n 10
		mkdir -p "$build/fuzz/crashes"
		for a in "$tmp/$name-"*; do
			[ -e "$a" ] || continue
			cp "$a" "$build/fuzz/crashes/" && echo "  reproducer kept: $build/fuzz/crashes/$(basename "$a")"
		done
		fail=$((fail + 1))
	fi
done

echo "fuzz: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]

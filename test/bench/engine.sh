#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# engine.sh - policy engine bench: a generated cluster of 10,000 pods in 500
# namespaces with 1,000 policies. Prints generation (load) time, compile
# time, memory, evaluations per second on one core, and the same flows
# through a naive evaluator that scans every policy, as a ratio; the naive
# and the compiled verdicts must agree on every flow (non-zero exit if not).
# Timing never fails the run. Extra arguments go to bench_engine
# (--pods/--namespaces/--policies/--flows/--seed). Takes about 3 s.
set -u
build=${NPSHIM_BUILD:-build}
bin="$build/bench/bench_engine"
if [ ! -x "$bin" ]; then
	echo "engine: $bin is missing (run 'make bench')"
	exit 1
fi
# One core: the figure is per core, and the machine is shared.
if command -v taskset >/dev/null 2>&1; then
	exec taskset -c 0 "$bin" "$@"
fi
exec "$bin" "$@"

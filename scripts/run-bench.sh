#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run every benchmark: test/bench/*.sh, in order. Each prints its figures and
# ratios against the reference points it runs side by side. Benchmarks never
# pass or fail on timing; a script that cannot run says why.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export NPSHIM="$top/npshim" NPSHIM_BUILD="$top/build" NPSHIM_TOP="$top"
rc=0
for f in test/bench/*.sh; do
	[ -f "$f" ] || continue
	if [ -n "${NPSHIM_BENCHES:-}" ] && [[ " $NPSHIM_BENCHES " != *" $(basename "$f" .sh) "* ]]; then
		continue
	fi
	echo "=== bench $(basename "$f" .sh)"
	bash "$f" || { echo "bench $(basename "$f" .sh): failed to run (exit $?)"; rc=1; }
	echo
done
exit $rc

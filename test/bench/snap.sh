#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Read-side cost of core/snapshot (what every packet pays to see the model).
set -u
bin=${NPSHIM_BUILD:-build}/bench/snap
[ -x "$bin" ] || { echo "snap: $bin not built (make bench)"; exit 1; }
"$bin"

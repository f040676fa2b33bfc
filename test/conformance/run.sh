#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NetworkPolicy conformance through `npshim simulate`: every case and step of
# cases.json (the upstream e2e expectations, copied from the shared set) and
# of extra-cases.json (API-reference cases beyond it: dual-stack, endPort,
# host network, terminal pods, protocol-only ports, ICMP, ...). Snapshots
# rotate through JSON List, multi-document YAML, a directory of files and a
# YAML List. Takes a few seconds.
set -u
here=$(cd "$(dirname "$0")" && pwd)
npshim=${NPSHIM:-$here/../../npshim}
echo "conformance: cases.json and extra-cases.json through '$npshim simulate'"
if [ ! -x "$npshim" ]; then
	echo "conformance: $npshim is not built (run make)"
	echo "conformance: 0 passed, 1 failed"
	exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "conformance: python3 is missing (make deps installs it)"
	echo "conformance: 0 passed, 1 failed"
	exit 1
fi
exec python3 "$here/run.py" "$npshim" "$here/cases.json" "$here/extra-cases.json"

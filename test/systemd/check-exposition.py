#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# check-exposition.py FILE - validate Prometheus text exposition format 0.0.4.
#
# Every sample belongs to a family declared by "# HELP" and "# TYPE" before
# it (histograms through _bucket/_sum/_count), no family is declared twice,
# label values are properly quoted and escaped, values are numbers, no series
# repeats, and every histogram's buckets are cumulative, end with le="+Inf"
# and agree with _count. Prints each problem; exit 1 if any.
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (\S+)$" % (NAME, LABEL, LABEL))
problems = []
helps, types, seen = {}, {}, set()
hist = {}  # family -> {labels-without-le: {"buckets": [(le, v)], "count": v}}


def family_of(name):
    if name in types:
        return name, ""
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return base, suffix
    return None, None


for n, line in enumerate(open(sys.argv[1]), 1):
    line = line.rstrip("\n")
    if not line:
        continue
    if line.startswith("# HELP "):
        parts = line.split(" ", 3)
        if parts[2] in helps:
            problems.append(f"{n}: HELP for {parts[2]} twice")
        helps[parts[2]] = True
        continue
    if line.startswith("# TYPE "):
        parts = line.split(" ")
        if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
            problems.append(f"{n}: bad TYPE line: {line}")
            continue
        if parts[2] in types:
            problems.append(f"{n}: TYPE for {parts[2]} twice")
        if parts[2] not in helps:
            problems.append(f"{n}: TYPE for {parts[2]} without HELP")
        types[parts[2]] = parts[3]
        continue
    if line.startswith("#"):
        continue
    m = SAMPLE.match(line)
    if not m:
        problems.append(f"{n}: not a valid sample: {line}")
        continue
    name, labels, value = m.group(1), m.group(2) or "", m.group(m.lastindex)
    fam, suffix = family_of(name)
    if fam is None:
        problems.append(f"{n}: {name} has no TYPE before it")
        continue
    try:
        v = float(value)
    except ValueError:
        problems.append(f"{n}: value {value!r} is not a number")
        continue
    if types[fam] == "counter" and (v < 0 or not name.endswith("_total")):
        problems.append(f"{n}: counter {name} must end in _total and not be negative")
    if (name, labels) in seen:
        problems.append(f"{n}: series {name}{labels} repeated")
    seen.add((name, labels))
    if types[fam] == "histogram":
        pairs = dict(re.findall(LABEL, labels))
        le = pairs.pop("le", None)
        key = tuple(sorted(pairs.items()))
        h = hist.setdefault(fam, {}).setdefault(key, {"buckets": [], "count": None})
        if suffix == "_bucket":
            if le is None:
                problems.append(f"{n}: bucket without le")
            else:
                h["buckets"].append((math.inf if le == "+Inf" else float(le), v))
        elif suffix == "_count":
            h["count"] = v

for fam, series in hist.items():
    for key, h in series.items():
        b = h["buckets"]
        if not b or b[-1][0] != math.inf:
            problems.append(f"{fam}{dict(key)}: last bucket is not le=\"+Inf\"")
            continue
        if [x[0] for x in b] != sorted(x[0] for x in b):
            problems.append(f"{fam}: buckets not in increasing le order")
        if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            problems.append(f"{fam}: buckets not cumulative")
        if h["count"] != b[-1][1]:
            problems.append(f"{fam}: _count {h['count']} != +Inf bucket {b[-1][1]}")
if not seen:
    problems.append("no samples at all")
for p in problems:
    print("exposition:", p)
sys.exit(1 if problems else 0)

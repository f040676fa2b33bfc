#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Assert facts about one `npshim lint --output json` report.
#
#   check.py REPORT RULE COUNT [FACT...]
#
# COUNT is the exact number of findings of RULE ("NP001"...), or "+" for at
# least one. Every FACT must hold for one and the same finding of RULE:
#   policy=NAME:ROLE   pod=NAME:ROLE   namespace=NAME   location=PATH
#   port=N   protocol=P   severity=S   hint~TEXT   fix~TEXT   message~TEXT
# Exit 0 when all hold, 1 with the reason otherwise.
import json
import sys

FINDING_KEYS = {"rule", "name", "severity", "namespace", "location", "message", "hint",
                "fix", "policies", "pods", "pod_count", "namespaces", "port"}
TOP_KEYS = {"schema", "summary", "fail_on", "failed", "skipped", "findings"}


def holds(f, fact):
    if "~" in fact and ("=" not in fact or fact.index("~") < fact.index("=")):
        key, text = fact.split("~", 1)
        return text in (f.get(key) or "")
    key, val = fact.split("=", 1)
    if key in ("policy", "pod"):
        name, role = val.split(":", 1)
        items = f["policies" if key == "policy" else "pods"]
        return any(o["name"] == name and o["role"] == role for o in items)
    if key == "namespace":
        return f["namespace"] == val or any(o["name"] == val for o in f["namespaces"])
    if key == "location":
        return f["location"] == val
    if key == "severity":
        return f["severity"] == val
    if key == "port":
        return f["port"] is not None and str(f["port"]["port"]) == val
    if key == "protocol":
        return f["port"] is not None and f["port"]["protocol"] == val
    raise SystemExit("check.py: unknown fact " + fact)


def main():
    path, rule, count = sys.argv[1:4]
    facts = sys.argv[4:]
    with open(path) as fh:
        rep = json.load(fh)
    if set(rep) != TOP_KEYS or rep["schema"] != "npshim-lint/v1":
        print("report keys %s" % sorted(rep))
        return 1
    for f in rep["findings"]:
        if set(f) != FINDING_KEYS:
            print("finding keys %s" % sorted(f))
            return 1
    mine = [f for f in rep["findings"] if f["rule"] == rule]
    if count == "+" and not mine:
        print("no %s finding; have %s" % (rule, [f["rule"] for f in rep["findings"]]))
        return 1
    if count != "+" and len(mine) != int(count):
        print("%d %s findings, want %s: %s" % (len(mine), rule, count,
                                              [f["message"] for f in mine]))
        return 1
    if facts and not any(all(holds(f, x) for x in facts) for f in mine):
        print("no %s finding with %s; have %s" % (rule, facts, json.dumps(mine, indent=1)[:3000]))
        return 1
    return 0


sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Assert facts about `npshim lint --output json` reports.
#
#   check.py REPORT RULE COUNT [FACT...]
#   check.py --batch FILE      one check per line: DESC<TAB>REPORT<TAB>RULE<TAB>COUNT[<TAB>FACT...]
#
# RULE is "NP001"... or "ALL" (every finding). COUNT is the exact number of
# findings of RULE, or "+" for at least one. Every FACT must hold for one and
# the same finding of RULE:
#   policy=NAME:ROLE   pod=NAME:ROLE   namespace=NAME   location=PATH
#   port=N   protocol=P   severity=S   hint~TEXT   fix~TEXT   message~TEXT
# except skipped~TEXT, which holds when RULE is listed under "skipped" with
# TEXT in its reason. Every report must also have exactly the documented
# keys (docs/lint.md, schema npshim-lint/v1).
# Single form: exit 0 when all hold, 1 with the reason. Batch form: prints
# "ok   DESC" or "FAIL DESC" and the reason per line, then
# "batch: N passed, N failed"; exit 1 when any failed.
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
    raise ValueError("unknown fact " + fact)


def check(path, rule, count, facts):
    """None when every fact holds, else the reason."""
    try:
        with open(path) as fh:
            rep = json.load(fh)
    except (OSError, ValueError) as e:
        return "cannot read the report: %s" % e
    if set(rep) != TOP_KEYS or rep["schema"] != "npshim-lint/v1":
        return "report keys %s" % sorted(rep)
    for f in rep["findings"]:
        if set(f) != FINDING_KEYS:
            return "finding keys %s" % sorted(f)
    mine = [f for f in rep["findings"] if rule == "ALL" or f["rule"] == rule]
    if count == "+" and not mine:
        return "no %s finding; have %s" % (rule, [f["rule"] for f in rep["findings"]])
    if count != "+" and len(mine) != int(count):
        return "%d %s findings, want %s: %s" % (len(mine), rule, count,
                                               [f["message"] for f in mine])
    skip_facts = [x for x in facts if x.startswith("skipped~")]
    facts = [x for x in facts if not x.startswith("skipped~")]
    for x in skip_facts:
        text = x.split("~", 1)[1]
        if not any(s["rule"] == rule and text in s["reason"] for s in rep["skipped"]):
            return "%s not skipped with '%s': %s" % (rule, text, rep["skipped"])
    if facts and not any(all(holds(f, x) for x in facts) for f in mine):
        return "no %s finding with %s; have %s" % (rule, facts, json.dumps(mine, indent=1)[:3000])
    return None


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        passed = failed = 0
        with open(sys.argv[2]) as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t")
                why = check(parts[1], parts[2], parts[3], parts[4:])
                if why is None:
                    passed += 1
                    print("ok   " + parts[0])
                else:
                    failed += 1
                    print("FAIL " + parts[0])
                    print("\n".join("     " + x for x in why.splitlines()[:40]))
        print("batch: %d passed, %d failed" % (passed, failed))
        return 1 if failed else 0
    why = check(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
    if why is not None:
        print(why)
        return 1
    return 0


sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# test/k8s/check.py - wait until a condition holds over k8s_watch's output.
#
# usage: check.py FILE EXPR [--timeout S]
#
# FILE holds the JSON lines of build/tools/k8s_watch. EXPR is a Python
# expression evaluated with these names (re-read every 100 ms until it is
# true or the timeout passes):
#   snaps      every snapshot, in order;  snap  the last one (or {})
#   live       snapshots that did not come from the persisted state
#   st         the last status or final line (or {})
#   final      the final line, None while the tool runs
#   W(res)     st's watch entry of "pods" / "namespaces" / "networkpolicies"
#   pod(k)     snap["pods"].get(k);  pol(k), ns(n) likewise
#   labels(k)  labels of pod k ({} when absent)
#   v(name)    snap's verdict of flow name
#   log        the text of FILE.err when it exists (the tool's stderr)
# Exit 0 when true; 1 (printing the last values) when not.
import json
import sys
import time


def load(path):
    snaps, st, final = [], {}, None
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    d = json.loads(line)
                except ValueError:
                    continue
                if d.get("type") == "snapshot":
                    snaps.append(d)
                elif d.get("type") in ("status", "final"):
                    st = d
                    if d["type"] == "final":
                        final = d
    except OSError:
        pass
    return snaps, st, final


def env(path):
    snaps, st, final = load(path)
    snap = snaps[-1] if snaps else {}
    try:
        with open(path.rsplit(".", 1)[0] + ".err") as f:
            logtext = f.read()
    except OSError:
        logtext = ""

    def W(res):
        for w in st.get("watches", []):
            if w["resource"] == res:
                return w
        return {}

    return {
        "snaps": snaps, "snap": snap, "st": st, "final": final, "W": W,
        "live": [s for s in snaps if not s.get("persisted")],
        "pod": lambda k: snap.get("pods", {}).get(k),
        "pol": lambda k: snap.get("policies", {}).get(k),
        "ns": lambda n: snap.get("namespaces", {}).get(n),
        "labels": lambda k: (snap.get("pods", {}).get(k) or {}).get("labels", {}),
        "v": lambda n: snap.get("verdicts", {}).get(n),
        "log": logtext, "len": len, "all": all, "any": any, "int": int,
    }


def main():
    path, expr = sys.argv[1], sys.argv[2]
    timeout = 20.0
    if len(sys.argv) > 4 and sys.argv[3] == "--timeout":
        timeout = float(sys.argv[4])
    end = time.monotonic() + timeout
    err = None
    while True:
        e = env(path)
        try:
            # One namespace as globals: generator expressions and lambdas
            # in expr see the helpers.
            e["__builtins__"] = {}
            if eval(expr, e):
                return 0
            err = None
        except Exception as ex:  # a missing key while the state builds up
            err = ex
        if time.monotonic() >= end:
            break
        time.sleep(0.1)
    print("    condition not met within %.0f s: %s" % (timeout, expr))
    if err:
        print("    last error: %r" % err)
    st = e["st"]
    for w in st.get("watches", []):
        print("    %s: state=%s rv=%s events=%s relists=%s errors=%s last_error=%s" % (
            w["resource"], w["state"], w["resource_version"], w["events"], w["relists"],
            w["errors"], w["last_error"]))
    print("    snapshots: %d, serving_persisted=%s" % (len(e["snaps"]), st.get("serving_persisted")))
    return 1


if __name__ == "__main__":
    sys.exit(main())

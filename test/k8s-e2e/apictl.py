#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# test/k8s-e2e/apictl.py - test/k8s/fakeapi.py, driven step by step.
#
# fakeapi.py runs a scenario file on a clock of its own; this suite must
# instead change the cluster, wait until npshim has rebuilt its model, probe
# real connections, and only then make the next change. So this runs
# fakeapi.py unchanged (imported from its path, same arguments) with the
# scenario runner replaced by a control directory: the test writes
# CTL/<n>.json (a scenario: {"steps": [...]}) and waits for CTL/<n>.done,
# which holds the server's resourceVersion and open watches afterwards.
# fakeapi's own step kinds run through its own run_scenario(); two more are
# handled here, for changes fakeapi cannot make:
#   {"stealth": <an "event" step>}   the change is stored and kept in the
#       watch history (a watch from an older resourceVersion replays it) but
#       sent to no open watch: only a relist or a resumed watch can see it
#       (a corrupted delivery, a change made while the client was cut off).
#   {"bookmark": ["pods", ...]}      a BOOKMARK at a fresh resourceVersion on
#       every open watch of those resources, shaped as kube-apiserver's.
#
# usage: apictl.py FAKEAPI_PY [fakeapi arguments, --scenario CTL_DIR]

import copy
import importlib.util
import json
import os
import sys
import time

BOOKMARK_KIND = {"pods": ("Pod", "v1", {"containers": None}),
                 "namespaces": ("Namespace", "v1", {}),
                 "networkpolicies": ("NetworkPolicy", "networking.k8s.io/v1", {})}


def load_fakeapi(path):
    spec = importlib.util.spec_from_file_location("fakeapi", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    fa = load_fakeapi(sys.argv[1])
    orig_run = fa.run_scenario

    def stealth(step):
        st = fa.ST
        res = step["resource"]
        stub = step["event"]
        with st.lock:
            key = fa.obj_key(stub)
            obj = copy.deepcopy(st.objects[res].get(key, {}))
            obj.update({"kind": stub["kind"], "apiVersion": stub["apiVersion"]})
            obj.setdefault("metadata", {}).update(stub["metadata"])
            fa.deep_merge(obj, step.get("patchFromStore", {}))
            st.rv += 1
            obj["metadata"]["resourceVersion"] = str(st.rv)
            etype = step.get("type", "MODIFIED")
            if etype == "DELETED":
                st.objects[res].pop(key, None)
            else:
                stored = copy.deepcopy(obj)
                stored.pop("kind", None)
                stored.pop("apiVersion", None)
                st.objects[res][key] = stored
            line = json.dumps({"type": etype, "object": obj},
                              separators=(",", ":")).encode() + b"\n"
            st.history[res].append((st.rv, line))
        fa.log("stealth %s %s %s at %d (no watch told)" % (etype, res, key, st.rv))

    def bookmark(resources):
        st = fa.ST
        with st.lock:
            st.rv += 1
            for res in resources:
                kind, api, spec = BOOKMARK_KIND[res]
                ev = {"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": api,
                    "metadata": {"resourceVersion": str(st.rv)}, "spec": spec, "status": {}}}
                st.broadcast(res, json.dumps(ev, separators=(",", ":")).encode() + b"\n")
        fa.log("bookmark %s at %d" % (",".join(resources), st.rv))

    def control(ctl):
        n = 0
        while True:
            path = os.path.join(ctl, "%d.json" % n)
            if not os.path.exists(path):
                time.sleep(0.02)
                continue
            with open(path) as f:
                steps = json.load(f)["steps"]
            for i, step in enumerate(steps):
                if "stealth" in step:
                    stealth(step["stealth"])
                elif "bookmark" in step:
                    bookmark(step["bookmark"])
                else:
                    one = "%s.%d.step" % (path, i)
                    with open(one, "w") as f:
                        json.dump({"steps": [step]}, f)
                    orig_run(one)
            with fa.ST.lock:
                done = {"rv": fa.ST.rv,
                        "watches": {r: fa.ST.open_watches(r) for r in fa.LIST_FILES}}
            with open(path + ".done.tmp", "w") as f:
                json.dump(done, f)
            os.replace(path + ".done.tmp", path + ".done")
            n += 1

    fa.run_scenario = control
    sys.argv = [sys.argv[1]] + sys.argv[2:]
    fa.main()


if __name__ == "__main__":
    main()

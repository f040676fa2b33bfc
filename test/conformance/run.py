#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Run NetworkPolicy conformance cases (schema netpol-conformance/v1, see
# README.md) through `npshim simulate`, one simulate call per step.
#
#   run.py NPSHIM CASES.json [CASES.json ...]
#
# Each step's cluster state is written as a kubectl-style snapshot, rotating
# through four input shapes so every loader path is exercised:
#   json-list   one {"kind": "List", "items": [...]} JSON file
#   yaml-docs   multi-document YAML, one object per document
#   dir         a directory: NamespaceList and PodList JSON whose items carry
#               no kind (as the API server returns them) + multi-doc YAML
#               policies in a file of their own
#   yaml-list   `kubectl get -o yaml` style: kind: List in YAML
# Asserted non-self cells decide; self cells (pod -> itself) are sent too and
# only reported (README "Self-traffic").
#
# Extensions used by extra-cases.json (all optional):
#   pod: "ips" [..] (dual-stack, replaces "ip"), "phase", "hostNetwork",
#        "nodeName", "hostIP"
#   connection: "from"/"to" may be an IP literal (the pod at the other end
#        then uses its address of that family); "family": 6 picks the pods'
#        IPv6 addresses; "protocol": "ICMP"/"ICMPv6" has no "port".
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

NODE = "node-1"
HOST_IP = "10.40.0.1"
SHAPES = ["json-list", "yaml-docs", "dir", "yaml-list"]
TIMEOUT = 30


# ---- a small YAML emitter (block style); PyYAML is not a dependency ----

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_RESERVED = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"}


def y_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _RESERVED:
        return s
    if "'" not in s and s.isprintable():
        return "'" + s + "'"
    return json.dumps(s)


def y_key(k):
    return y_scalar(str(k))


def y_lines(v, indent, compact_lists):
    pad = " " * indent
    out = []
    if isinstance(v, dict):
        for k, val in v.items():
            if isinstance(val, dict) and val:
                out.append(f"{pad}{y_key(k)}:")
                out += y_lines(val, indent + 2, compact_lists)
            elif isinstance(val, list) and val:
                out.append(f"{pad}{y_key(k)}:")
                out += y_lines(val, indent if compact_lists else indent + 2, compact_lists)
            elif isinstance(val, dict):
                out.append(f"{pad}{y_key(k)}: {{}}")
            elif isinstance(val, list):
                out.append(f"{pad}{y_key(k)}: []")
            else:
                out.append(f"{pad}{y_key(k)}: {y_scalar(val)}")
        return out
    if isinstance(v, list):
        for item in v:
            if isinstance(item, (dict, list)) and item:
                sub = y_lines(item, indent + 2, compact_lists)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out += sub
            elif isinstance(item, dict):
                out.append(f"{pad}- {{}}")
            elif isinstance(item, list):
                out.append(f"{pad}- []")
            else:
                out.append(f"{pad}- {y_scalar(item)}")
        return out
    return [pad + y_scalar(v)]


def y_doc(obj, compact_lists=False):
    return "\n".join(y_lines(obj, 0, compact_lists)) + "\n"


# ---- cluster state -> Kubernetes objects ----

def pod_ips(p):
    return p.get("ips") or ([p["ip"]] if p.get("ip") else [])


def make_objects(cluster, state):
    ns_labels = state.get("namespace_labels", {}) or {}
    pod_labels = state.get("pod_labels", {}) or {}
    namespaces, pods = [], []
    for ns in cluster["namespaces"]:
        labels = ns_labels.get(ns["name"], ns.get("labels", {}))
        namespaces.append({"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": ns["name"], "labels": dict(labels)}})
    for i, p in enumerate(cluster["pods"]):
        ref = f'{p["namespace"]}/{p["name"]}'
        labels = pod_labels.get(ref, p.get("labels", {}))
        spec = {"nodeName": p.get("nodeName", NODE)}
        if p.get("hostNetwork"):
            spec["hostNetwork"] = True
        cports = p.get("containerPorts", [])
        containers = []
        for j, cp in enumerate(cports):
            port = {"containerPort": cp["containerPort"]}
            if cp.get("name"):
                port["name"] = cp["name"]
            port["protocol"] = cp.get("protocol", "TCP")
            containers.append({"name": f"c{j}", "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                               "ports": [port]})
        if not containers:
            containers = [{"name": "c0", "image": "registry.k8s.io/e2e-test-images/agnhost:2.53"}]
        spec["containers"] = containers
        status = {"phase": p.get("phase", "Running"), "hostIP": p.get("hostIP", HOST_IP)}
        ips = pod_ips(p)
        if ips:
            status["podIP"] = ips[0]
            status["podIPs"] = [{"ip": ip} for ip in ips]
        pods.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": p["name"], "namespace": p["namespace"], "labels": dict(labels)},
                     "spec": spec, "status": status})
    policies = [dict(pol) for pol in state.get("policies", [])]
    return namespaces, pods, policies


def strip_kind(objs):
    out = []
    for o in objs:
        o = dict(o)
        o.pop("kind", None)
        o.pop("apiVersion", None)
        out.append(o)
    return out


def write_snapshot(shape, where, namespaces, pods, policies):
    """Write the state in the given shape under directory where; return the path."""
    objs = namespaces + pods + policies
    if shape == "json-list":
        path = os.path.join(where, "cluster.json")
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                       "items": objs}, f, indent=1)
        return path
    if shape == "yaml-docs":
        path = os.path.join(where, "cluster.yaml")
        with open(path, "w") as f:
            f.write("# generated by test/conformance/run.py\n")
            f.write("---\n".join(y_doc(o) for o in objs))
        return path
    if shape == "yaml-list":
        path = os.path.join(where, "cluster.yml")
        with open(path, "w") as f:
            f.write(y_doc({"apiVersion": "v1", "kind": "List", "items": objs}, compact_lists=True))
        return path
    path = os.path.join(where, "cluster.d")
    os.mkdir(path)
    with open(os.path.join(path, "namespaces.json"), "w") as f:
        json.dump({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                   "items": strip_kind(namespaces)}, f)
    with open(os.path.join(path, "pods.json"), "w") as f:
        json.dump({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                   "items": strip_kind(pods)}, f)
    if policies:
        with open(os.path.join(path, "networkpolicies.yaml"), "w") as f:
            f.write("---\n".join(y_doc(o) for o in policies))
    return path


# ---- flows ----

def family(ip):
    return ipaddress.ip_address(ip).version


def literal_family(ref):
    """The family of an IP literal endpoint, None for a pod reference."""
    try:
        return ipaddress.ip_address(ref).version
    except ValueError:
        return None


def endpoint_ip(pods_by_ref, ref, fam):
    try:
        ipaddress.ip_address(ref)
        return ref
    except ValueError:
        pass
    ips = pod_ips(pods_by_ref[ref])
    if fam:
        ips = [ip for ip in ips if family(ip) == fam]
    if not ips:
        raise ValueError(f"{ref} has no IPv{fam or ''} address")
    return ips[0]


def flow_line(src, dst, protocol, port):
    flow = {"src": src, "dst": dst, "protocol": protocol}
    if protocol not in ("ICMP", "ICMPv6"):
        flow["port"] = port
    return flow


def step_flows(cluster, step):
    """[(flow, expected, is_self, label)] for every asserted cell of a step."""
    pods_by_ref = {f'{p["namespace"]}/{p["name"]}': p for p in cluster["pods"]}
    flows = []
    for probe in step["probes"]:
        if probe["kind"] == "matrix":
            order = cluster["pod_order"]
            for i, fr in enumerate(order):
                for j, to in enumerate(order):
                    exp = probe["expected"][i][j]
                    if exp is None:
                        continue
                    flows.append((flow_line(endpoint_ip(pods_by_ref, fr, None), endpoint_ip(pods_by_ref, to, None),
                                            probe["protocol"], probe.get("port")),
                                  exp, fr == to, f"{fr} -> {to} {probe['protocol']}/{probe.get('port')}"))
        else:
            for c in probe["connections"]:
                if c.get("expected") is None:
                    continue
                fam = c.get("family") or literal_family(c["from"]) or literal_family(c["to"])
                flows.append((flow_line(endpoint_ip(pods_by_ref, c["from"], fam),
                                        endpoint_ip(pods_by_ref, c["to"], fam),
                                        c.get("protocol", "TCP"), c.get("port")),
                              c["expected"], c["from"] == c["to"],
                              f"{c['from']} -> {c['to']} {c.get('protocol', 'TCP')}/{c.get('port', '-')}"
                              + (f" IPv{fam}" if fam else "")))
    return flows


def run_step(npshim, workdir, shape, cluster, step):
    """Return (errors, n_cells_pass, n_cells_fail, self_agree, self_differ, mismatches)."""
    namespaces, pods, policies = make_objects(cluster, step["state"])
    snap = write_snapshot(shape, workdir, namespaces, pods, policies)
    flows = step_flows(cluster, step)
    flows_path = os.path.join(workdir, "flows.jsonl")
    with open(flows_path, "w") as f:
        for fl, _, _, _ in flows:
            f.write(json.dumps(fl) + "\n")
    try:
        r = subprocess.run([npshim, "simulate", "--cluster", snap, "--flows", flows_path],
                           capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return [f"simulate timed out after {TIMEOUT}s ({shape})"], 0, 0, 0, 0, []
    except OSError as e:
        return [f"cannot run {npshim}: {e}"], 0, 0, 0, 0, []
    if r.returncode != 0:
        return [f"simulate exited {r.returncode} ({shape}): {r.stderr.strip()[:2000]}"], 0, 0, 0, 0, []
    lines = r.stdout.splitlines()
    if len(lines) != len(flows):
        return [f"simulate printed {len(lines)} lines for {len(flows)} flows ({shape})"], 0, 0, 0, 0, []
    ok = bad = self_ok = self_bad = 0
    mismatches = []
    errors = []
    for (fl, exp, is_self, label), line in zip(flows, lines):
        try:
            out = json.loads(line)
        except ValueError as e:
            errors.append(f"output line is not JSON ({e}): {line[:200]}")
            continue
        if not isinstance(out, dict) or out.get("verdict") not in ("allow", "deny"):
            errors.append(f"output line without a verdict: {line[:200]}")
            continue
        if any(out.get(k) != v for k, v in fl.items()):
            errors.append(f"output line does not echo the input {json.dumps(fl)}: {line[:200]}")
            continue
        reason = out.get("reason")
        states = [reason.get(d, {}).get("state") for d in ("egress", "ingress")] if isinstance(reason, dict) else []
        if not isinstance(reason, dict) or reason.get("by") not in ("policy", "self", "node") or \
                (out["verdict"] == "deny" and (reason.get("by") != "policy" or "denied" not in states)) or \
                (out["verdict"] == "allow" and "denied" in states):
            errors.append(f"reason does not account for the verdict: {line[:300]}")
            continue
        got = out["verdict"] == "allow"
        if is_self:
            if got == exp:
                self_ok += 1
            else:
                self_bad += 1
            continue
        if got == exp:
            ok += 1
        else:
            bad += 1
            mismatches.append(f"{label}: expected {'allow' if exp else 'deny'}, got {out['verdict']} ({reason.get('text', '')})")
    return errors, ok, bad, self_ok, self_bad, mismatches


def main():
    if len(sys.argv) < 3:
        print("usage: run.py NPSHIM CASES.json [CASES.json ...]", file=sys.stderr)
        return 2
    npshim = sys.argv[1]
    totals = {"cases_pass": 0, "cases_fail": 0, "steps": 0, "steps_fail": 0,
              "cells_pass": 0, "cells_fail": 0, "self_agree": 0, "self_differ": 0}
    shape_counts = {s: 0 for s in SHAPES}
    step_no = 0
    top = tempfile.mkdtemp(prefix="npshim-conformance.")
    try:
        for path in sys.argv[2:]:
            with open(path) as f:
                doc = json.load(f)
            print(f"--- {os.path.basename(path)}: {len(doc['cases'])} cases")
            for case in doc["cases"]:
                cluster = case["cluster"]
                if isinstance(cluster, str):
                    cluster = doc["clusters"][cluster]
                case_errors, case_mism = [], []
                cells_ok = cells_bad = 0
                for si, step in enumerate(case["steps"]):
                    shape = SHAPES[step_no % len(SHAPES)]
                    step_no += 1
                    shape_counts[shape] += 1
                    workdir = os.path.join(top, f"s{step_no}")
                    os.mkdir(workdir)
                    try:
                        errs, ok, bad, s_ok, s_bad, mism = run_step(npshim, workdir, shape, cluster, step)
                    except (KeyError, ValueError) as e:
                        errs, ok, bad, s_ok, s_bad, mism = [f"bad case data: {e!r}"], 0, 0, 0, 0, []
                    shutil.rmtree(workdir, ignore_errors=True)
                    totals["steps"] += 1
                    if errs or bad:
                        totals["steps_fail"] += 1
                    case_errors += [f"step {si + 1}: {e}" for e in errs]
                    case_mism += [f"step {si + 1} ({shape}): {m}" for m in mism]
                    cells_ok += ok
                    cells_bad += bad
                    totals["self_agree"] += s_ok
                    totals["self_differ"] += s_bad
                totals["cells_pass"] += cells_ok
                totals["cells_fail"] += cells_bad
                if case_errors or cells_bad:
                    totals["cases_fail"] += 1
                    print(f"FAIL {case['id']}: {cells_ok} cells ok, {cells_bad} wrong")
                    for line in (case_errors + case_mism)[:12]:
                        print(f"     {line}")
                    if len(case_errors) + len(case_mism) > 12:
                        print(f"     ... {len(case_errors) + len(case_mism) - 12} more")
                else:
                    totals["cases_pass"] += 1
                    print(f"ok   {case['id']} ({len(case['steps'])} step{'s' if len(case['steps']) != 1 else ''}, {cells_ok} cells)")
    finally:
        shutil.rmtree(top, ignore_errors=True)
    print()
    print("input shapes: " + ", ".join(f"{s} {n}" for s, n in shape_counts.items()))
    print(f"self cells (informational, never fail): {totals['self_agree']} agree with strict evaluation, "
          f"{totals['self_differ']} differ (npshim always allows a pod to reach itself)")
    print(f"steps: {totals['steps'] - totals['steps_fail']} passed, {totals['steps_fail']} failed")
    print(f"cells: {totals['cells_pass']} passed, {totals['cells_fail']} failed")
    print(f"conformance: {totals['cases_pass']} passed, {totals['cases_fail']} failed")
    return 0 if totals["cases_fail"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

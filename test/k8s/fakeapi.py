#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# test/k8s/fakeapi.py - a kube-apiserver test double for the reflector tests.
#
# Speaks the wire format of a real kube-apiserver for the three collections
# npshim watches (pods, namespaces, networking.k8s.io/v1 networkpolicies):
# TLS (certificate given on the command line), bearer tokens, paginated
# lists (limit/continue, 400 on continue+resourceVersion, 410 on a stale
# continue token), chunked watch streams framed one JSON event per line,
# BOOKMARK and ERROR events, 410 for watches older than the compacted
# history, timeoutSeconds, 503 + Retry-After while shutting down, and a
# state file that survives a restart (objects and resourceVersion, not the
# watch history). Standard library only.
#
# Behaviour over time comes from a scenario file (JSON, see
# test/data/k8s-fixtures/scenarios/ and the README there): steps run in
# order on their own thread. Log lines go to stderr, each prefixed
# "fakeapi:"; "fakeapi: scenario done" marks the end of the script and
# "fakeapi: scenario FAILED" a waitFor that timed out.
#
# usage: fakeapi.py --fixtures DIR --cert F --key F --port N [--token T]...
#                   [--token-file F] [--scenario F] [--state-file F]
#                   [--page-size N] [--ready-file F] [--client-ca F]

import argparse
import base64
import copy
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse

RESOURCES = {
    "/api/v1/pods": ("pods", "PodList", "v1", True),
    "/api/v1/namespaces": ("namespaces", "NamespaceList", "v1", False),
    "/apis/networking.k8s.io/v1/networkpolicies":
        ("networkpolicies", "NetworkPolicyList", "networking.k8s.io/v1", True),
}
LIST_FILES = {"pods": "pods.json", "namespaces": "namespaces.json",
              "networkpolicies": "networkpolicies.json"}
GROUP = {"pods": "", "namespaces": "", "networkpolicies": "networking.k8s.io"}

# Legacy discovery documents, enough for kubectl to map the kinds of
# k8s/deploy/ (kubectl apply --dry-run=client needs a server for that).
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _res(name, kind, namespaced):
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced,
            "kind": kind, "verbs": VERBS}


DISCOVERY = {
    "/api/v1": [_res("namespaces", "Namespace", False), _res("pods", "Pod", True),
                _res("serviceaccounts", "ServiceAccount", True),
                _res("configmaps", "ConfigMap", True)],
    "/apis/apps/v1": [_res("daemonsets", "DaemonSet", True)],
    "/apis/rbac.authorization.k8s.io/v1": [
        _res("clusterroles", "ClusterRole", False),
        _res("clusterrolebindings", "ClusterRoleBinding", False),
        _res("roles", "Role", True), _res("rolebindings", "RoleBinding", True)],
    "/apis/networking.k8s.io/v1": [_res("networkpolicies", "NetworkPolicy", True)],
}


def log(msg):
    sys.stderr.write("fakeapi: %s\n" % msg)
    sys.stderr.flush()


def status_body(code, reason, message, extra=None):
    b = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    if extra:
        b.update(extra)
    return json.dumps(b, separators=(",", ":")).encode()


def obj_key(obj):
    md = obj.get("metadata", {})
    ns = md.get("namespace")
    return "%s/%s" % (ns, md["name"]) if ns else md["name"]


def deep_merge(dst, patch):
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = copy.deepcopy(v)


class Watch:
    """One open watch stream; events are queued to its handler thread."""

    def __init__(self, resource):
        self.resource = resource
        self.cond = threading.Condition()
        self.queue = []          # ("line", bytes) | ("end", mode)
        self.events_sent = 0
        self.drop_after = None   # (n, mode)

    def push(self, item):
        with self.cond:
            self.queue.append(item)
            self.cond.notify()


class State:
    def __init__(self, fixtures, state_file):
        self.lock = threading.RLock()
        self.fixtures = fixtures
        self.state_file = state_file
        self.objects = {r: {} for r in LIST_FILES}
        self.rv = 0
        self.history = {r: [] for r in LIST_FILES}   # (rv, line)
        self.oldest = {}                              # compacted-before RV
        self.watches = []
        self.faults = []
        self.static_tokens = set()
        self.token_file = None
        self.stopping = False
        self.continues = {}
        self.requests = []
        loaded = False
        if state_file and os.path.exists(state_file):
            with open(state_file) as f:
                st = json.load(f)
            self.rv = st["rv"]
            self.objects = st["objects"]
            loaded = True
            log("state loaded from %s at resourceVersion %d" % (state_file, self.rv))
        if not loaded:
            for r, fn in LIST_FILES.items():
                with open(os.path.join(fixtures, fn)) as f:
                    lst = json.load(f)
                self.rv = max(self.rv, int(lst["metadata"]["resourceVersion"]))
                for it in lst.get("items") or []:
                    self.objects[r][obj_key(it)] = it
        for r in LIST_FILES:
            # Watch history starts at the list RV: older RVs get 410.
            self.oldest[r] = self.rv

    def save(self):
        if not self.state_file:
            return
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"rv": self.rv, "objects": self.objects}, f)
        os.replace(tmp, self.state_file)

    def token_ok(self, header, peercert=None):
        # A client certificate the --client-ca verified authenticates too,
        # as with kube-apiserver's --client-ca-file.
        if peercert:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        tok = header[7:].strip()
        if tok in self.static_tokens:
            return True
        if self.token_file:
            try:
                with open(self.token_file) as f:
                    return tok == f.read().strip()
            except OSError:
                return False
        return False

    def take_fault(self, verb, resource, has_continue=False):
        with self.lock:
            for f in self.faults:
                if f.get("continueOnly") and not has_continue:
                    continue
                if f.get("verb", verb) == verb and f.get("resource", resource) == resource \
                        and f["count"] > 0:
                    f["count"] -= 1
                    return dict(f)
        return None

    def apply_event(self, resource, etype, obj):
        """Store one event (not bookmarks) and hand it to the watchers."""
        with self.lock:
            rv = int(obj["metadata"]["resourceVersion"])
            self.rv = max(self.rv, rv)
            key = obj_key(obj)
            if etype == "DELETED":
                self.objects[resource].pop(key, None)
            else:
                stored = copy.deepcopy(obj)
                stored.pop("kind", None)
                stored.pop("apiVersion", None)
                self.objects[resource][key] = stored
            line = json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n"
            self.history[resource].append((rv, line))
            self.broadcast(resource, line)

    def broadcast(self, resource, line):
        for w in list(self.watches):
            if w.resource == resource:
                w.push(("line", line))

    def open_watches(self, resource):
        return sum(1 for w in self.watches if w.resource == resource)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeapi/1"

    def log_message(self, fmt, *args):
        pass

    def send_body(self, code, body, ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def fixture_status(self, name):
        with open(os.path.join(ST.fixtures, "status", name), "rb") as f:
            return f.read().strip()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        path = url.path
        watch = "watch" in q and q["watch"][0] not in ("0", "false")
        verb = "watch" if watch else "list"
        if ST.stopping:
            self.send_body(503, self.fixture_status("503-service-unavailable.json"),
                           headers={"Retry-After": "1"})
            return
        try:
            peer = self.connection.getpeercert()
        except (ValueError, AttributeError):
            peer = None
        if not ST.token_ok(self.headers.get("Authorization"), peer):
            log("401 for %s %s" % (verb, path))
            self.send_body(401, self.fixture_status("401-unauthorized.json"))
            return
        if path not in RESOURCES:
            if not self.discovery(path):
                self.send_body(404, self.fixture_status("404-not-found.json"))
            return
        resource, list_kind, api_version, _ = RESOURCES[path]
        with ST.lock:
            ST.requests.append({"verb": verb, "resource": resource, "query": url.query})
        fault = ST.take_fault(verb, resource, bool(q.get("continue", [""])[0]))
        if fault and "status" in fault:
            code = fault["status"]
            hdrs = {}
            if fault.get("retryAfter") is not None:
                hdrs["Retry-After"] = str(fault["retryAfter"])
            log("fault %d on %s %s" % (code, verb, resource))
            if code == 429:
                self.send_body(429, self.fixture_status("429-too-many-requests.txt") + b"\n",
                               "text/plain; charset=utf-8", hdrs)
            elif code == 403:
                grp = GROUP[resource]
                full = resource + ("." + grp if grp else "")
                msg = ('%s is forbidden: User "system:serviceaccount:kube-system:npshim" cannot '
                       '%s resource "%s" in API group "%s" at the cluster scope'
                       % (full, verb, resource, grp))
                self.send_body(403, status_body(403, "Forbidden", msg,
                                                {"details": {"kind": resource}}))
            elif code == 500:
                self.send_body(500, self.fixture_status("500-internal-error.json"), headers=hdrs)
            elif code == 503:
                self.send_body(503, self.fixture_status("503-service-unavailable.json"),
                               headers=hdrs)
            elif code == 410 and q.get("continue", [""])[0]:
                self.send_body(410, self.fixture_status("410-expired-continue.json"))
            elif code == 410:
                self.send_body(410, self.fixture_status("410-expired-list.json"))
            else:
                self.send_body(code, status_body(code, "InternalError", "injected fault"),
                               headers=hdrs)
            return
        if watch:
            self.do_watch(resource, q, fault)
        else:
            self.do_list(resource, list_kind, api_version, q)

    def discovery(self, path):
        if path == "/api":
            doc = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        elif path == "/apis":
            groups = []
            for p in DISCOVERY:
                if p.startswith("/apis/"):
                    g, v = p.split("/")[2:4]
                    gv = {"groupVersion": "%s/%s" % (g, v), "version": v}
                    groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
            doc = {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        elif path in DISCOVERY:
            doc = {"kind": "APIResourceList", "apiVersion": "v1",
                   "groupVersion": path.split("/", 2)[2] if path.startswith("/apis/") else "v1",
                   "resources": DISCOVERY[path]}
        else:
            return False
        self.send_body(200, json.dumps(doc).encode())
        return True

    def do_list(self, resource, list_kind, api_version, q):
        cont = q.get("continue", [""])[0]
        if cont and q.get("resourceVersion", [""])[0]:
            self.send_body(400, self.fixture_status("400-continue-with-rv.json"))
            return
        limit = int(q.get("limit", ["0"])[0] or 0)
        if ARGS.page_size and (limit == 0 or limit > ARGS.page_size):
            limit = ARGS.page_size
        with ST.lock:
            if cont:
                snap = ST.continues.get(cont)
                if snap is None:
                    self.send_body(410, self.fixture_status("410-expired-continue.json"))
                    return
                rv, items = snap
            else:
                rv = ST.rv
                items = [copy.deepcopy(ST.objects[resource][k])
                         for k in sorted(ST.objects[resource])]
        page, rest = (items[:limit], items[limit:]) if limit else (items, [])
        md = {"resourceVersion": str(rv)}
        if rest:
            last = obj_key(page[-1]) if page else ""
            token = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": rv, "start": last + "\u0000"}).encode()
            ).decode().rstrip("=")
            token += "-%d" % len(ST.continues)
            with ST.lock:
                ST.continues[token] = (rv, rest)
            md["continue"] = token
            md["remainingItemCount"] = len(rest)
        body = {"kind": list_kind, "apiVersion": api_version, "metadata": md, "items": page}
        self.send_body(200, json.dumps(body, separators=(",", ":")).encode())

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_watch(self, resource, q, fault):
        rv_s = q.get("resourceVersion", [""])[0]
        timeout = float(q.get("timeoutSeconds", ["1800"])[0] or 1800)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        w = Watch(resource)
        if fault and fault.get("action") == "drop":
            w.drop_after = (fault.get("afterEvents", 0), fault.get("mode", "reset"))
        with ST.lock:
            rv = int(rv_s) if rv_s.isdigit() else None
            if rv is not None and rv < ST.oldest[resource]:
                log("watch %s from %d: too old (oldest %d): ERROR 410"
                    % (resource, rv, ST.oldest[resource]))
                ev = {"type": "ERROR", "object": json.loads(status_body(
                    410, "Expired", "too old resource version: %d (%d)"
                    % (rv, ST.oldest[resource])))}
                self.write_chunk(json.dumps(ev, separators=(",", ":")).encode() + b"\n")
                self.write_chunk(b"")
                return
            if rv is not None:
                for hrv, line in ST.history[resource]:
                    if hrv > rv:
                        w.queue.append(("line", line))
            ST.watches.append(w)
        log("watch %s open from %s (%d open)" % (resource, rv_s, ST.open_watches(resource)))
        deadline = time.monotonic() + timeout
        end_mode = "clean"
        try:
            while True:
                if w.drop_after is not None and w.events_sent >= w.drop_after[0]:
                    end_mode = w.drop_after[1]
                    break
                with w.cond:
                    while not w.queue:
                        left = deadline - time.monotonic()
                        if left <= 0 or ST.stopping:
                            break
                        w.cond.wait(min(left, 0.2))
                    if not w.queue:
                        break
                    kind, item = w.queue.pop(0)
                if kind == "end":
                    end_mode = item
                    break
                self.write_chunk(item)
                w.events_sent += 1
            if end_mode == "clean":
                self.write_chunk(b"")
            elif end_mode == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
            else:
                # eof: close without the terminating chunk.
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            end_mode = "client-gone"
        finally:
            with ST.lock:
                if w in ST.watches:
                    ST.watches.remove(w)
            log("watch %s closed (%s, %d events)" % (resource, end_mode, w.events_sent))
        if end_mode in ("reset", "eof"):
            try:
                if end_mode == "reset":
                    self.connection.close()
                else:
                    self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = self.socket.accept()
        sock = CTX.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            request.do_handshake()
            request.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            log("TLS handshake failed: %s" % e)
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


def read_events(files):
    evs = []
    for fn in files:
        with open(os.path.join(ARGS.fixtures, fn)) as f:
            res = os.path.basename(fn).split(".")[0].split("-")[0]
            for line in f:
                line = line.strip()
                if line:
                    ev = json.loads(line)
                    evs.append((int(ev["object"]["metadata"]["resourceVersion"]), res, ev))
    evs.sort(key=lambda e: e[0])
    return evs


def run_scenario(path):
    with open(path) as f:
        sc = json.load(f)
    for step in sc["steps"]:
        if "waitFor" in step:
            want = step["waitFor"].get("watches", [])
            end = time.monotonic() + step.get("timeout", 60)
            while not all(ST.open_watches(r) for r in want):
                if time.monotonic() > end:
                    log("scenario FAILED: no watch on %s within %s s" % (want, step.get("timeout")))
                    return
                time.sleep(0.05)
        elif "sleep" in step:
            time.sleep(step["sleep"])
        elif "replay" in step:
            evs = read_events(step["replay"])
            if "limit" in step:
                evs = evs[:step["limit"]]
            for rv, res, ev in evs:
                if ev["type"] == "BOOKMARK":
                    with ST.lock:
                        ST.rv = max(ST.rv, rv)
                        ST.broadcast(res, json.dumps(ev, separators=(",", ":")).encode() + b"\n")
                else:
                    ST.apply_event(res, ev["type"], ev["object"])
                time.sleep(step.get("interval", 0))
        elif "event" in step:
            res = step["resource"]
            stub = step["event"]
            with ST.lock:
                key = obj_key(stub)
                obj = copy.deepcopy(ST.objects[res].get(key, {}))
                obj.update({"kind": stub["kind"], "apiVersion": stub["apiVersion"]})
                obj.setdefault("metadata", {}).update(stub["metadata"])
                deep_merge(obj, step.get("patchFromStore", {}))
                ST.rv += 1
                obj["metadata"]["resourceVersion"] = str(ST.rv)
                ST.apply_event(res, step.get("type", "MODIFIED"), obj)
            log("event %s %s %s at %d" % (step.get("type"), res, key, ST.rv))
        elif "compact" in step:
            with ST.lock:
                ST.rv += 1
                for r in ST.history:
                    ST.history[r] = []
                    ST.oldest[r] = ST.rv
            log("history compacted at %d" % ST.rv)
        elif "error410" in step:
            res = step["error410"]["resource"]
            with ST.lock:
                ev = {"type": "ERROR", "object": json.loads(status_body(
                    410, "Expired", "too old resource version: %d (%d)"
                    % (ST.oldest[res] - 1, ST.oldest[res])))}
                line = json.dumps(ev, separators=(",", ":")).encode() + b"\n"
                for w in list(ST.watches):
                    if w.resource == res:
                        w.push(("line", line))
                        w.push(("end", "clean"))
        elif "fault" in step:
            f = dict(step["fault"])
            f.setdefault("count", 1)
            with ST.lock:
                ST.faults.append(f)
        elif "dropWatches" in step:
            d = step["dropWatches"]
            for w in list(ST.watches):
                if w.resource == d.get("resource", w.resource):
                    w.push(("end", d.get("mode", "eof")))
        elif "closeWatches" in step:
            d = step["closeWatches"]
            for w in list(ST.watches):
                if w.resource == d.get("resource", w.resource):
                    w.push(("end", "clean"))
        elif "raw" in step:
            d = step["raw"]
            with open(os.path.join(ARGS.fixtures, d["file"]), "rb") as f:
                data = f.read()
            for w in list(ST.watches):
                if w.resource == d["resource"]:
                    w.push(("line", data))
        elif "writeFile" in step:
            d = step["writeFile"]
            if "${TOKEN_FILE}" in d["path"] and not os.environ.get("TOKEN_FILE"):
                # Without it the path would be relative to wherever the
                # server runs: never write there.
                log("scenario: writeFile needs TOKEN_FILE in the environment; skipped")
                continue
            p = d["path"].replace("${TOKEN_FILE}", os.environ.get("TOKEN_FILE", ""))
            tmp = p + ".tmp"
            with open(tmp, "w") as f:
                f.write(d["content"])
            os.replace(tmp, p)
            log("wrote %s" % p)
        elif "tokens" in step:
            ST.static_tokens = set(step["tokens"])
        elif "log" in step:
            log("scenario: %s" % step["log"])
        else:
            log("scenario: unknown step %s" % step)
    log("scenario done")


def main():
    global ARGS, ST, CTX
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--token-file")
    ap.add_argument("--scenario")
    ap.add_argument("--state-file")
    ap.add_argument("--page-size", type=int, default=0)
    ap.add_argument("--ready-file")
    ap.add_argument("--client-ca")
    ARGS = ap.parse_args()
    ST = State(ARGS.fixtures, ARGS.state_file)
    ST.static_tokens = set(ARGS.token)
    if ARGS.token_file:
        ST.token_file = ARGS.token_file
        with open(ARGS.token_file) as f:
            ST.static_tokens.add(f.read().strip())
    CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    CTX.load_cert_chain(ARGS.cert, ARGS.key)
    if ARGS.client_ca:
        CTX.verify_mode = ssl.CERT_OPTIONAL
        CTX.load_verify_locations(ARGS.client_ca)
    CTX.set_alpn_protocols(["http/1.1"])
    srv = Server(("127.0.0.1", ARGS.port), Handler)
    port = srv.server_address[1]

    def on_term(signum, frame):
        # Graceful shutdown as kube-apiserver: end watches cleanly, answer
        # new requests 503 + Retry-After for a moment, keep the state.
        ST.stopping = True
        threading.Thread(target=shutdown, daemon=True).start()

    def shutdown():
        time.sleep(0.5)
        with ST.lock:
            ST.save()
        srv.shutdown()

    signal.signal(signal.SIGTERM, on_term)
    log("listening on 127.0.0.1:%d" % port)
    if ARGS.scenario:
        threading.Thread(target=run_scenario, args=(ARGS.scenario,), daemon=True).start()
    if ARGS.ready_file:
        # After the scenario thread: its first fault steps are in place
        # before any client can connect.
        time.sleep(0.05)
        with open(ARGS.ready_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(ARGS.ready_file + ".tmp", ARGS.ready_file)
    srv.serve_forever(poll_interval=0.1)
    srv.server_close()
    log("stopped")


if __name__ == "__main__":
    main()

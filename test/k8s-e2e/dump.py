#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# test/k8s-e2e/dump.py - what the API server serves, as one manifest file.
#
# Lists namespaces, pods and networking.k8s.io/v1 networkpolicies over
# HTTPS with the given CA and bearer token, following `continue` through
# every page, and writes a kubectl-style List (items given back the kind
# and apiVersion a list response leaves out), so that
# `npshim simulate --cluster FILE` sees exactly the objects the server
# serves, independently of npshim's own API client.
#
# usage: dump.py SERVER_URL CA_FILE TOKEN OUT

import json
import os
import ssl
import sys
import urllib.parse
import urllib.request

COLLECTIONS = [("/api/v1/namespaces", "Namespace", "v1"),
               ("/api/v1/pods", "Pod", "v1"),
               ("/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicy",
                "networking.k8s.io/v1")]


def main():
    server, ca, token, out = sys.argv[1:5]
    ctx = ssl.create_default_context(cafile=ca)
    items = []
    for path, kind, api in COLLECTIONS:
        cont = ""
        while True:
            q = {"limit": "500"}
            if cont:
                q["continue"] = cont
            req = urllib.request.Request(server + path + "?" + urllib.parse.urlencode(q),
                                         headers={"Authorization": "Bearer " + token})
            with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                body = json.load(resp)
            for it in body.get("items") or []:
                it = dict(it)
                it["kind"] = kind
                it["apiVersion"] = api
                items.append(it)
            cont = body.get("metadata", {}).get("continue", "")
            if not cont:
                break
    with open(out + ".tmp", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}, f)
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# notify-listen.py SOCKET LOG QUEUE - stand in for systemd's NOTIFY_SOCKET.
#
# Receives sd_notify datagrams and writes one JSON line per message to LOG:
#   {"t": monotonic seconds, "msg": {"READY": "1", ...}}
# When a message carries READY=1 it also records what the kernel shows at
# that instant, from this process's network namespace (run it in the
# daemon's): whether NFQUEUE queue QUEUE is bound
# (/proc/net/netfilter/nfnetlink_queue) and whether the NPSHIM chain is in
# iptables. Stops on SIGTERM.
import json
import os
import signal
import socket
import subprocess
import sys
import time

path, log, queue = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
out = open(log, "a", buffering=1)
out.write(json.dumps({"t": time.monotonic(), "listening": True}) + "\n")


def queue_bound():
    try:
        with open("/proc/net/netfilter/nfnetlink_queue") as f:
            return any(line.split()[0] == str(queue) for line in f if line.strip())
    except OSError:
        return False


def rules_present():
    r = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True)
    return "-j NFQUEUE" in r.stdout and ":NPSHIM" in r.stdout


while True:
    data = s.recv(65536).decode(errors="replace")
    t = time.monotonic()
    msg = {}
    for line in data.split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            msg[k] = v
    rec = {"t": t, "msg": msg}
    if msg.get("READY") == "1":
        rec["queue_bound"] = queue_bound()
        rec["rules"] = rules_present()
    out.write(json.dumps(rec) + "\n")

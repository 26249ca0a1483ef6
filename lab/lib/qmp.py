#!/usr/bin/python3
"""Tiny QMP client for lab.sh (stdlib only).

    qmp.py SOCKET save FILE   pause the VM and write its RAM and device state
                              to FILE (qemu migration to a file); the VM stays
                              paused so the caller can copy its disks
    qmp.py SOCKET cont        resume a paused VM
    qmp.py SOCKET wait-incoming
                              wait until qemu has loaded an -incoming state,
                              then resume the VM (it was saved paused)
    qmp.py SOCKET quit        end qemu

Restoring is qemu's own `-incoming "exec:cat FILE"` with the same disks.
"""
import json
import shlex
import socket
import sys
import time


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(120)
        self.sock.connect(path)
        self.buf = b""
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit("qmp: connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self.read()
            if "event" in reply:
                continue
            if "error" in reply:
                raise SystemExit(f"qmp: {name}: {reply['error'].get('desc')}")
            return reply.get("return")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    qmp = Qmp(sys.argv[1])
    action = sys.argv[2]
    if action == "save":
        target = sys.argv[3]
        qmp.cmd("stop")
        # The VM is paused: no reason to throttle the copy.
        qmp.cmd("migrate-set-parameters", **{"max-bandwidth": 8 << 30})
        qmp.cmd("migrate", uri="exec:cat > " + shlex.quote(target))
        deadline = time.time() + 300
        while time.time() < deadline:
            info = qmp.cmd("query-migrate")
            status = info.get("status")
            if status == "completed":
                return
            if status in ("failed", "cancelled"):
                raise SystemExit(f"qmp: migration {status}: {info.get('error-desc', '')}")
            time.sleep(0.1)
        raise SystemExit("qmp: migration did not finish in 300 s")
    elif action == "wait-incoming":
        deadline = time.time() + 300
        while time.time() < deadline:
            status = qmp.cmd("query-status")["status"]
            if status != "inmigrate":
                break
            time.sleep(0.1)
        else:
            raise SystemExit("qmp: the saved state did not load in 300 s")
        if status != "running":
            qmp.cmd("cont")
    elif action == "cont":
        qmp.cmd("cont")
    elif action == "quit":
        try:
            qmp.cmd("quit")
        except SystemExit:
            pass  # qemu may close the socket before answering
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()

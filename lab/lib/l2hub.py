#!/usr/bin/python3
"""The lab's private Ethernet segment: a hub between the VMs' second NICs.

    l2hub.py HUB_SOCKET VM_SOCKET...

Each VM's eth1 is a qemu `-netdev dgram` over unix datagram sockets: qemu
sends every frame to HUB_SOCKET from its own VM_SOCKET. The hub repeats each
frame to every other VM socket. Nothing leaves the machine: unix sockets only.
"""
import os
import socket
import sys


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    hub_path, peers = sys.argv[1], sys.argv[2:]
    try:
        os.unlink(hub_path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(hub_path)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    while True:
        frame, sender = sock.recvfrom(65536)
        for peer in peers:
            if peer == sender:
                continue
            try:
                sock.sendto(frame, socket.MSG_DONTWAIT, peer)
            except OSError:
                pass  # that VM is not running (or is busy): drop, like a wire


if __name__ == "__main__":
    main()

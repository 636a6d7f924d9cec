#!/usr/bin/python3
"""A TCP relay that cuts its connection mid-stream, for tests/faults.

  cut_relay.py --listen-port-file F --to PORT --cut-after N

Listens on a free loopback port (written to F), accepts one connection, connects to
127.0.0.1:PORT and copies bytes both ways. Once N bytes went from the client to the
server, it resets both connections (SO_LINGER 0: a TCP RST, no TLS close_notify, no
A-RELEASE or A-ABORT) -- a cable pulled in the middle of whatever PDU was on the wire.
Prints "cut after N bytes" (or "closed after N bytes" if the client ended first).
Standard library only.
"""
import argparse
import select
import socket
import struct


def reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port-file", required=True)
    ap.add_argument("--to", type=int, required=True)
    ap.add_argument("--cut-after", type=int, required=True)
    a = ap.parse_args()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    with open(a.listen_port_file + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    import os
    os.rename(a.listen_port_file + ".tmp", a.listen_port_file)
    client, _ = srv.accept()
    server = socket.create_connection(("127.0.0.1", a.to))
    sent = 0
    while True:
        ready, _, _ = select.select([client, server], [], [], 120)
        if not ready:
            break
        if client in ready:
            data = client.recv(min(65536, a.cut_after - sent))
            if not data:
                print("closed after %d bytes" % sent)
                break
            server.sendall(data)
            sent += len(data)
            if sent >= a.cut_after:
                print("cut after %d bytes" % sent)
                break
        if server in ready:
            data = server.recv(65536)
            if not data:
                print("closed after %d bytes" % sent)
                break
            client.sendall(data)
    reset(client)
    reset(server)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Sends one forged A-ASSOCIATE-RQ and reports, byte for byte, what the server answered
and whether it then closed the connection. Standard library only (raw_scu.py).

  associate_probe.py --port P [--calling-field HEX|--calling AE] [--called-field HEX]
                     [--context-id N]... [--max-pdu N] [--then echo|bad-command]
                     [--timeout S]
  associate_probe.py --port P --reset-after-request N

  --reset-after-request N           send the request N times, each on a new connection
                                    that is reset (RST) right after it; prints "sent N"

  --calling-field / --called-field  the 16-byte AE title field, as 32 hex digits
                                    (e.g. NUL padding), instead of a space-padded title
  --context-id N                    one Verification context per ID, in order (default 1)
  --then echo                       after an A-ASSOCIATE-AC: a C-ECHO-RQ on the first context
  --then bad-command                after an A-ASSOCIATE-AC: a command the server does not
                                    support (C-N-GET-RQ), which it answers by aborting

Prints one line of words:
  ac | rj result=R source=S reason=N     the answer to the request
  abort source=S reason=N                an A-ABORT (after --then)
  status=0x....                          a C-ECHO-RSP (after --then echo)
  eof | open | reset                     after rj or abort: end of stream within --timeout
                                         seconds, the connection still open at the timeout,
                                         or a reset
Exit 0 when the exchange could be read, 1 otherwise.
"""
import argparse
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raw_scu as r  # noqa: E402

EXPLICIT = "1.2.840.10008.1.2.1"


def request(called_field, calling_field, context_ids, max_pdu):
    body = struct.pack(">HH", 1, 0) + called_field + calling_field + bytes(32)
    body += r.variable_item(0x10, r.APPLICATION_CONTEXT.encode())
    for cid in context_ids:
        pc = (r.variable_item(0x30, r.VERIFICATION.encode()) +
              r.variable_item(0x40, EXPLICIT.encode()))
        body += r.variable_item(0x20, struct.pack(">BBBB", cid, 0, 0, 0) + pc)
    body += r.variable_item(0x50, r.variable_item(0x51, struct.pack(">I", max_pdu)) +
                            r.variable_item(0x52, r.IMPLEMENTATION_CLASS_UID.encode()))
    return r.pdu(0x01, body)


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_pdu(sock):
    head = read_exact(sock, 6)
    if head is None:
        return None, None
    pdu_type, _, length = struct.unpack(">BBI", head)
    return pdu_type, read_exact(sock, length)


def after(sock):
    """eof, open or reset: what follows the last PDU."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return "eof"
            # Bytes after the last PDU: keep reading, the verdict is about the close.
    except socket.timeout:
        return "open"
    except ConnectionResetError:
        return "reset"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--calling", default="HOSTILE")
    p.add_argument("--calling-field")
    p.add_argument("--called", default="TRESOR")
    p.add_argument("--called-field")
    p.add_argument("--context-id", type=int, action="append")
    p.add_argument("--max-pdu", type=int, default=16384)
    p.add_argument("--then", choices=["echo", "bad-command"])
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--reset-after-request", type=int, default=0)
    a = p.parse_args()
    calling = bytes.fromhex(a.calling_field) if a.calling_field else r.ae_field(a.calling)
    called = bytes.fromhex(a.called_field) if a.called_field else r.ae_field(a.called)
    ids = a.context_id or [1]
    if a.reset_after_request:
        rq = request(called, calling, ids, a.max_pdu)
        for _ in range(a.reset_after_request):
            sock = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
            sock.sendall(rq)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        print("sent %d" % a.reset_after_request)
        return
    words = []
    sock = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    try:
        sock.sendall(request(called, calling, ids, a.max_pdu))
        pdu_type, body = read_pdu(sock)
        if pdu_type == 0x02:
            words.append("ac")
            if a.then:
                if a.then == "echo":
                    fields = [(0x0002, r.VERIFICATION), (0x0100, r.C_ECHO_RQ), (0x0110, 1),
                              (0x0800, r.NO_DATA_SET)]
                else:
                    fields = [(0x0002, r.VERIFICATION), (0x0100, 0x0110), (0x0110, 1),
                              (0x0800, r.NO_DATA_SET)]
                sock.sendall(r.p_data(ids[0], True, True, r.command_set(fields)))
                while True:
                    pdu_type, body = read_pdu(sock)
                    if pdu_type is None:
                        break
                    if pdu_type == 0x07:
                        words.append("abort source=%d reason=%d" % (body[2], body[3]))
                        break
                    if pdu_type == 0x04:
                        command = body[6:]
                        status = r.parse_command_set(command).get(0x0900)
                        if status:
                            words.append("status=0x%04x" % struct.unpack("<H", status[:2])[0])
                        break
        elif pdu_type == 0x03:
            words.append("rj result=%d source=%d reason=%d" % (body[1], body[2], body[3]))
        elif pdu_type == 0x07:
            words.append("abort source=%d reason=%d" % (body[2], body[3]))
        elif pdu_type is None:
            words.append("nothing")
        else:
            words.append("pdu=0x%02x" % pdu_type)
        if words[-1].startswith(("rj", "abort")):
            words.append(after(sock))
    except socket.timeout:
        words.append("timeout")
    except ConnectionResetError:
        words.append("reset")
    finally:
        sock.close()
    print(" ".join(words))
    return 0 if words and words[0] not in ("timeout", "nothing") else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""A minimal DICOM upper-layer client (PS3.8) for sending hostile input to a server.

Standard library only. Unlike a real SCU it sends whatever bytes it is given: the data
set of a C-STORE is arbitrary (read from a file, not parsed), and PDUs can be forged.

  raw_scu.py --port P --calling AE [--called TRESOR] echo
  raw_scu.py --port P --calling AE store --sop-instance UID --dataset FILE
  raw_scu.py --port P --calling AE garbage --kind KIND

Output, one line on stdout per outcome, `key=value` words:
  status=0xc000               the C-STORE-RSP / C-ECHO-RSP status
  rejected result=1 source=1 reason=3
  aborted source=2 reason=0   the server sent A-ABORT
  closed                      the server closed the connection
  no-answer                   (garbage) the server sent nothing within the timeout

Exit codes: 0 the exchange completed (any DIMSE status; for `garbage`, the server
answered by rejecting, aborting or closing), 2 the association was rejected, 1 anything
else (abort, close, timeout, protocol error).
"""
import argparse
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dicom_bytes  # noqa: E402

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"
VERIFICATION = "1.2.840.10008.1.1"
IMPLEMENTATION_CLASS_UID = "2.25.61810238407551908473213127001542671903"
IMPLEMENTATION_VERSION = "RAW_SCU_1"

PDU_ASSOCIATE_RQ = 0x01
PDU_ASSOCIATE_AC = 0x02
PDU_ASSOCIATE_RJ = 0x03
PDU_P_DATA_TF = 0x04
PDU_RELEASE_RQ = 0x05
PDU_RELEASE_RP = 0x06
PDU_ABORT = 0x07

# The largest PDU this client reads; a server answer beyond it is a protocol error.
MAX_INCOMING_PDU = 16 << 20

C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
DATA_SET_PRESENT = 0x0000
NO_DATA_SET = 0x0101


class Outcome(Exception):
    """Ends the exchange early: `line` is printed, `code` is the exit code."""

    def __init__(self, line, code=1):
        super().__init__(line)
        self.line = line
        self.code = code


# ---------------------------------------------------------------- PDU encoding

def ae_field(title):
    """An AE title as the 16-byte, space-padded field of an A-ASSOCIATE PDU."""
    raw = title.encode("ascii")
    if len(raw) > 16:
        raise ValueError("AE title longer than 16 characters: %r" % title)
    return raw.ljust(16, b" ")


def variable_item(item_type, payload):
    """An item of an A-ASSOCIATE PDU: type, reserved byte, 16-bit length, payload."""
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def pdu(pdu_type, body):
    """A PDU: type, reserved byte, 32-bit big endian length, body."""
    return struct.pack(">BBI", pdu_type, 0, len(body)) + body


def associate_rq(calling, called, abstract_syntax, transfer_syntaxes, max_pdu, context_id=1):
    """An A-ASSOCIATE-RQ with one presentation context."""
    contexts = variable_item(0x30, abstract_syntax.encode("ascii"))
    for ts in transfer_syntaxes:
        contexts += variable_item(0x40, ts.encode("ascii"))
    presentation = variable_item(0x20, struct.pack(">BBBB", context_id, 0, 0, 0) + contexts)
    user_info = variable_item(
        0x50,
        variable_item(0x51, struct.pack(">I", max_pdu)) +
        variable_item(0x52, IMPLEMENTATION_CLASS_UID.encode("ascii")) +
        variable_item(0x55, IMPLEMENTATION_VERSION.encode("ascii")))
    body = (struct.pack(">HH", 1, 0) + ae_field(called) + ae_field(calling) + bytes(32) +
            variable_item(0x10, APPLICATION_CONTEXT.encode("ascii")) + presentation + user_info)
    return pdu(PDU_ASSOCIATE_RQ, body)


def p_data(context_id, is_command, is_last, fragment):
    """A P-DATA-TF PDU carrying one PDV."""
    control = (0x01 if is_command else 0x00) | (0x02 if is_last else 0x00)
    pdv = struct.pack(">IBB", len(fragment) + 2, context_id, control) + fragment
    return pdu(PDU_P_DATA_TF, pdv)


def command_element(element, value):
    """A command set element (group 0000), implicit VR little endian."""
    if isinstance(value, int):
        raw = struct.pack("<H", value)
    else:
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
        if len(raw) % 2:
            raw += b"\0"
    return struct.pack("<HHI", 0x0000, element, len(raw)) + raw


def command_set(elements):
    """A command set from (element, value) pairs, with its group length (0000,0000)."""
    body = b"".join(command_element(e, v) for e, v in sorted(elements, key=lambda p: p[0]))
    return struct.pack("<HHII", 0x0000, 0x0000, 4, len(body)) + body


def parse_command_set(data):
    """Maps element number to raw value bytes for an implicit VR LE command set."""
    out = {}
    pos = 0
    while pos + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, pos)
        pos += 8
        if group != 0x0000 or pos + length > len(data):
            raise Outcome("protocol-error malformed command set in response")
        out[element] = data[pos:pos + length]
        pos += length
    return out


# ---------------------------------------------------------------- connection

class Association:
    """One TCP connection to the server speaking the upper-layer protocol."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer_max_pdu = 0  # 0: the server set no limit
        self.context_id = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            raise Outcome("closed")

    def recv_exact(self, n):
        chunks = []
        while n > 0:
            try:
                chunk = self.sock.recv(min(n, 1 << 20))
            except socket.timeout:
                raise Outcome("timeout")
            except ConnectionResetError:
                raise Outcome("closed")
            if not chunk:
                raise Outcome("closed")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def read_pdu(self):
        """Returns (type, body) of the next PDU; A-ABORT ends the exchange."""
        pdu_type, _, length = struct.unpack(">BBI", self.recv_exact(6))
        if length > MAX_INCOMING_PDU:
            raise Outcome("protocol-error server PDU of %d bytes" % length)
        body = self.recv_exact(length)
        if pdu_type == PDU_ABORT:
            source, reason = (body[2], body[3]) if len(body) >= 4 else (-1, -1)
            raise Outcome("aborted source=%d reason=%d" % (source, reason))
        return pdu_type, body

    def associate(self, calling, called, abstract_syntax, transfer_syntaxes, max_pdu):
        """Negotiates one presentation context; raises Outcome unless it is accepted."""
        self.send(associate_rq(calling, called, abstract_syntax, transfer_syntaxes, max_pdu))
        pdu_type, body = self.read_pdu()
        if pdu_type == PDU_ASSOCIATE_RJ:
            result, source, reason = body[1], body[2], body[3]
            raise Outcome("rejected result=%d source=%d reason=%d" % (result, source, reason), 2)
        if pdu_type != PDU_ASSOCIATE_AC:
            raise Outcome("protocol-error expected A-ASSOCIATE-AC, got PDU type 0x%02x" % pdu_type)
        accepted = False
        pos = 68  # fixed fields of the A-ASSOCIATE-AC
        while pos + 4 <= len(body):
            item_type, _, item_len = struct.unpack_from(">BBH", body, pos)
            payload = body[pos + 4:pos + 4 + item_len]
            pos += 4 + item_len
            if item_type == 0x21 and len(payload) >= 4 and payload[0] == self.context_id:
                accepted = payload[2] == 0
                if not accepted:
                    raise Outcome("context-rejected result=%d" % payload[2], 2)
            elif item_type == 0x50:
                sub = 0
                while sub + 4 <= len(payload):
                    sub_type, _, sub_len = struct.unpack_from(">BBH", payload, sub)
                    if sub_type == 0x51 and sub_len == 4:
                        self.peer_max_pdu = struct.unpack_from(">I", payload, sub + 4)[0]
                    sub += 4 + sub_len
        if not accepted:
            raise Outcome("context-rejected no presentation context in A-ASSOCIATE-AC", 2)

    def send_message(self, command, dataset=None, pdv_size=None):
        """Sends a command set and optional data set, each fragmented into PDVs that
        fit the server's maximum PDU length (or `pdv_size` bytes when given)."""
        limit = pdv_size or (self.peer_max_pdu - 6 if self.peer_max_pdu else 16384)
        limit = max(limit, 2)
        self._send_fragments(command, True, limit)
        if dataset is not None:
            self._send_fragments(dataset, False, limit)

    def _send_fragments(self, data, is_command, limit):
        if not data:
            self.send(p_data(self.context_id, is_command, True, b""))
            return
        for start in range(0, len(data), limit):
            end = min(start + limit, len(data))
            self.send(p_data(self.context_id, is_command, end == len(data), data[start:end]))

    def read_command(self):
        """Reads one complete command set (data sets in the response are skipped)."""
        command = b""
        while True:
            pdu_type, body = self.read_pdu()
            if pdu_type != PDU_P_DATA_TF:
                raise Outcome("protocol-error expected P-DATA-TF, got PDU type 0x%02x" % pdu_type)
            pos = 0
            while pos + 6 <= len(body):
                length, _, control = struct.unpack_from(">IBB", body, pos)
                fragment = body[pos + 6:pos + 4 + length]
                pos += 4 + length
                if control & 0x01:
                    command += fragment
                    if control & 0x02:
                        return parse_command_set(command)

    def release(self):
        """A-RELEASE-RQ, then waits for A-RELEASE-RP."""
        self.send(pdu(PDU_RELEASE_RQ, bytes(4)))
        pdu_type, _ = self.read_pdu()
        if pdu_type != PDU_RELEASE_RP:
            raise Outcome("protocol-error expected A-RELEASE-RP, got PDU type 0x%02x" % pdu_type)


def status_of(response, expected_field):
    field = response.get(0x0100)
    if field is None or struct.unpack("<H", field[:2])[0] != expected_field:
        raise Outcome("protocol-error unexpected command field in response")
    status = response.get(0x0900)
    if status is None or len(status) < 2:
        raise Outcome("protocol-error response without a status")
    return struct.unpack("<H", status[:2])[0]


# ---------------------------------------------------------------- modes

def run_echo(args):
    assoc = Association(args.host, args.port, args.timeout)
    try:
        assoc.associate(args.calling, args.called, VERIFICATION, args.ts, args.max_pdu)
        assoc.send_message(command_set([(0x0002, VERIFICATION), (0x0100, C_ECHO_RQ),
                                        (0x0110, 1), (0x0800, NO_DATA_SET)]))
        status = status_of(assoc.read_command(), C_ECHO_RSP)
        print("status=0x%04x" % status)
        assoc.release()
    finally:
        assoc.close()
    return 0


def run_store(args):
    if args.dataset == "-":
        dataset = sys.stdin.buffer.read()
    else:
        with open(args.dataset, "rb") as f:
            dataset = f.read()
    assoc = Association(args.host, args.port, args.timeout)
    try:
        assoc.associate(args.calling, args.called, args.sop_class, args.ts, args.max_pdu)
        command = command_set([(0x0002, args.sop_class), (0x0100, C_STORE_RQ),
                               (0x0110, args.message_id), (0x0700, 0),
                               (0x0800, DATA_SET_PRESENT), (0x1000, args.sop_instance)])
        assoc.send_message(command, dataset, args.pdv_size)
        status = status_of(assoc.read_command(), C_STORE_RSP)
        print("status=0x%04x" % status)
        assoc.release()
    finally:
        assoc.close()
    return 0


def await_refusal(assoc):
    """After forged input: the server must reject, abort or close. Returns exit code."""
    try:
        pdu_type, body = assoc.read_pdu()
    except Outcome as outcome:
        if outcome.line == "timeout":
            print("no-answer")
            return 1
        print(outcome.line)
        return 0
    if pdu_type == PDU_ASSOCIATE_RJ:
        print("rejected result=%d source=%d reason=%d" % (body[1], body[2], body[3]))
        return 0
    print("unexpected-pdu type=0x%02x" % pdu_type)
    return 1


def run_garbage(args):
    """Forged PDUs. Kinds:
      junk            random-looking bytes instead of an A-ASSOCIATE-RQ
      huge-associate  an A-ASSOCIATE-RQ header declaring a 4 GB body
      huge-pdata      after association, a P-DATA-TF header declaring ~4 GB
      oversized-pdata after association, a real P-DATA-TF larger than the negotiated max
      bad-pdv         after association, a PDV whose length exceeds its PDU
      unknown-pdu     after association, a PDU of an undefined type
      nested-command  after association, a C-STORE-RQ command set ending in `--depth`
                      nested undefined-length (0000,7777) sequences and items
    """
    assoc = Association(args.host, args.port, args.timeout)
    try:
        if args.kind == "junk":
            assoc.send(bytes((i * 151 + 7) & 0xFF for i in range(4096)))
            return await_refusal(assoc)
        if args.kind == "huge-associate":
            assoc.send(struct.pack(">BBI", PDU_ASSOCIATE_RQ, 0, 0xFFFFFFF0) + bytes(1024))
            return await_refusal(assoc)
        assoc.associate(args.calling, args.called, args.sop_class, args.ts, args.max_pdu)
        command = command_set([(0x0002, args.sop_class), (0x0100, C_STORE_RQ), (0x0110, 1),
                               (0x0700, 0), (0x0800, DATA_SET_PRESENT),
                               (0x1000, "1.2.826.0.1.3680043.2.1125.99.1")])
        if args.kind == "huge-pdata":
            assoc.send_message(command)
            assoc.send(struct.pack(">BBI", PDU_P_DATA_TF, 0, 0xFFFFFFF0) +
                       struct.pack(">IBB", 0xFFFFFFEC, assoc.context_id, 0x00) + bytes(65536))
        elif args.kind == "oversized-pdata":
            assoc.send_message(command)
            size = max(assoc.peer_max_pdu, 16384) * 4
            assoc.send(p_data(assoc.context_id, False, True, bytes(size)))
        elif args.kind == "bad-pdv":
            assoc.send_message(command)
            assoc.send(struct.pack(">BBI", PDU_P_DATA_TF, 0, 16) +
                       struct.pack(">IBB", 0x00100000, assoc.context_id, 0x02) + bytes(10))
        elif args.kind == "unknown-pdu":
            assoc.send(pdu(0x42, bytes(64)))
        elif args.kind == "nested-command":
            level = (struct.pack("<HHI", 0x0000, 0x7777, 0xFFFFFFFF) +
                     struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF))
            assoc.send_message(command + level * args.depth)
        return await_refusal(assoc)
    except Outcome as outcome:
        # The server refused before we finished sending: that is a completed refusal.
        print(outcome.line)
        return 0 if outcome.line.startswith(("closed", "aborted", "rejected")) else 1
    finally:
        assoc.close()


def main():
    parser = argparse.ArgumentParser(description="Raw DICOM upper-layer client.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calling", required=True, help="calling AE title")
    parser.add_argument("--called", default="TRESOR", help="called AE title")
    parser.add_argument("--sop-class", default=dicom_bytes.CT_IMAGE_STORAGE,
                        help="abstract syntax and Affected SOP Class UID")
    parser.add_argument("--ts", action="append",
                        help="proposed transfer syntax (repeatable; default explicit VR LE)")
    parser.add_argument("--max-pdu", type=int, default=16384,
                        help="maximum PDU length we announce")
    parser.add_argument("--timeout", type=float, default=30.0, help="socket timeout, seconds")
    modes = parser.add_subparsers(dest="mode", required=True)
    modes.add_parser("echo", help="C-ECHO")
    store = modes.add_parser("store", help="C-STORE of raw data set bytes")
    store.add_argument("--sop-instance", required=True, help="Affected SOP Instance UID")
    store.add_argument("--dataset", required=True, help="file with the data set bytes, - = stdin")
    store.add_argument("--message-id", type=int, default=1)
    store.add_argument("--pdv-size", type=int, default=0,
                       help="data bytes per PDV (default: fit the server's max PDU)")
    garbage = modes.add_parser("garbage", help="forged PDUs")
    garbage.add_argument("--kind", required=True,
                         choices=["junk", "huge-associate", "huge-pdata", "oversized-pdata",
                                  "bad-pdv", "unknown-pdu", "nested-command"])
    garbage.add_argument("--depth", type=int, default=20000, help="nesting (nested-command)")
    args = parser.parse_args()
    if not args.ts:
        args.ts = [dicom_bytes.EXPLICIT_VR_LITTLE_ENDIAN]

    try:
        if args.mode == "echo":
            return run_echo(args)
        if args.mode == "store":
            return run_store(args)
        return run_garbage(args)
    except Outcome as outcome:
        print(outcome.line)
        return outcome.code
    except OSError as e:
        print("error %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())

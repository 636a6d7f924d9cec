#!/usr/bin/python3
"""raw_scu.py over DICOM TLS and/or from a chosen source address, plus modes that hold a
connection open (for timeout and admission tests).

Standard library only. Every raw_scu.py mode (echo, store, garbage) works unchanged; the
options below are added in front of raw_scu's own:

  --source ADDR        bind the client socket to ADDR first (e.g. 127.0.0.2: another
                       loopback address, i.e. "another host" for host-bound peers)
  --tls                TLS handshake before the upper layer
  --tls-cert F --tls-key F   client certificate and key (none: no client certificate)
  --tls-ca F           verify the server against this CA (none: no server verification)
  --tls-version 1.2|1.3      pin the protocol version

Extra modes (after the common raw_scu options --port/--calling/...):

  silent [--partial N] connect (and complete the TLS handshake with --tls), then send
                       nothing, or only the first N bytes of an A-ASSOCIATE-RQ; wait
                       for the server to end the connection
  idle                 negotiate an association (Verification), then stay silent
  associate            negotiate an association (Verification) and release it

Output: one line, raw_scu's words, plus "after=SECONDS" for silent and idle (time from
connect, or from the A-ASSOCIATE-AC for idle, until the server ended it):
  handshake-failed REASON    the TLS handshake failed on the client side
  tls-error REASON           a TLS alert after the handshake (TLS 1.3 reports a refused
                             client certificate this way)
  accepted                   (associate) A-ASSOCIATE-AC received and released
Exit codes as raw_scu.py; 3 for handshake-failed.
"""
import argparse
import os
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import raw_scu  # noqa: E402
from raw_scu import Outcome  # noqa: E402

OPTS = None  # the options parsed by main()


class SecureAssociation(raw_scu.Association):
    """raw_scu.Association with an optional source address and TLS."""

    def __init__(self, host, port, timeout):  # pylint: disable=super-init-not-called
        source = (OPTS.source, 0) if OPTS.source else None
        sock = socket.create_connection((host, port), timeout=timeout, source_address=source)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connected_at = time.monotonic()
        if OPTS.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if OPTS.tls_ca:
                ctx.load_verify_locations(OPTS.tls_ca)
                ctx.check_hostname = False  # the server certificate is checked by chain
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if OPTS.tls_cert:
                ctx.load_cert_chain(OPTS.tls_cert, OPTS.tls_key)
            if OPTS.tls_version:
                version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[OPTS.tls_version]
                ctx.minimum_version = ctx.maximum_version = version
            try:
                sock = ctx.wrap_socket(sock)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError) as e:
                sock.close()
                raise Outcome("handshake-failed %s" % _reason(e), 3)
            except socket.timeout:
                sock.close()
                raise Outcome("handshake-failed timeout", 3)
        self.sock = sock
        self.peer_max_pdu = 0
        self.context_id = 1

    def send(self, data):
        try:
            super().send(data)
        except (ssl.SSLError, Outcome) as e:
            failure = e if isinstance(e, Outcome) else Outcome("tls-error %s" % _reason(e))
            # The server may have sent an A-ABORT before closing: report that if it is there.
            try:
                self.read_pdu()
            except Outcome as answer:
                if answer.line.startswith("aborted"):
                    raise answer
            except Exception:  # pylint: disable=broad-except
                pass
            raise failure

    def recv_exact(self, n):
        try:
            return super().recv_exact(n)
        except ssl.SSLZeroReturnError:
            raise Outcome("closed")
        except ssl.SSLError as e:
            raise Outcome("tls-error %s" % _reason(e))


def _reason(e):
    return (getattr(e, "reason", None) or str(e) or type(e).__name__).replace(" ", "_")


def _wait_for_end(assoc, start):
    """Reads until the server ends the connection; returns the outcome line."""
    try:
        pdu_type, _ = assoc.read_pdu()
        line = "unexpected-pdu type=0x%02x" % pdu_type
    except Outcome as outcome:
        line = outcome.line
    return "%s after=%.1f" % (line, time.monotonic() - start)


def run_silent(args):
    assoc = SecureAssociation(args.host, args.port, args.timeout)
    try:
        if args.partial:
            rq = raw_scu.associate_rq(args.calling, args.called, raw_scu.VERIFICATION,
                                      args.ts, args.max_pdu)
            assoc.send(rq[:args.partial])
        print(_wait_for_end(assoc, assoc.connected_at))
    finally:
        assoc.close()
    return 0


def run_idle(args):
    assoc = SecureAssociation(args.host, args.port, args.timeout)
    try:
        assoc.associate(args.calling, args.called, raw_scu.VERIFICATION, args.ts, args.max_pdu)
        print(_wait_for_end(assoc, time.monotonic()))
    finally:
        assoc.close()
    return 0


def run_associate(args):
    assoc = SecureAssociation(args.host, args.port, args.timeout)
    try:
        assoc.associate(args.calling, args.called, raw_scu.VERIFICATION, args.ts, args.max_pdu)
        assoc.release()
        print("accepted")
    finally:
        assoc.close()
    return 0


def main():
    global OPTS
    extra = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    extra.add_argument("--source")
    extra.add_argument("--tls", action="store_true")
    extra.add_argument("--tls-cert")
    extra.add_argument("--tls-key")
    extra.add_argument("--tls-ca")
    extra.add_argument("--tls-version", choices=["1.2", "1.3"])
    OPTS, rest = extra.parse_known_args()
    raw_scu.Association = SecureAssociation

    own = {"silent": run_silent, "idle": run_idle, "associate": run_associate}
    mode = next((a for a in rest if a in own or a in ("echo", "store", "garbage")), None)
    if mode not in own:
        sys.argv = [sys.argv[0]] + rest
        try:
            return raw_scu.main()
        except Outcome as outcome:  # raised while connecting
            print(outcome.line)
            return outcome.code

    parser = argparse.ArgumentParser(description="secure_scu extra modes", allow_abbrev=False)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--calling", default="SECURESCU")
    parser.add_argument("--called", default="TRESOR")
    parser.add_argument("--ts", action="append")
    parser.add_argument("--max-pdu", type=int, default=16384)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("mode", choices=sorted(own))
    parser.add_argument("--partial", type=int, default=0)
    args = parser.parse_args(rest)
    if not args.ts:
        args.ts = [raw_scu.dicom_bytes.EXPLICIT_VR_LITTLE_ENDIAN]
    try:
        return own[args.mode](args)
    except Outcome as outcome:
        line = outcome.line
        if args.mode == "silent" and not line.startswith("handshake-failed"):
            line += " after=%.1f" % 0.0
        print(line)
        return outcome.code
    except OSError as e:
        print("error %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())

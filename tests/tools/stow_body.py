#!/usr/bin/python3
"""Writes STOW-RS request bodies (multipart/related; type="application/dicom") for the suites.

Standard library only (dicom_bytes.py for hostile data sets). Every command writes the body
to standard output as it builds it, so bodies far larger than memory can be piped to curl.

  stow_body.py files --boundary B [--headers MODE] FILE...
      One part per Part 10 file. MODE for each part's headers (default plain):
        plain   Content-Type: application/dicom
        ts      Content-Type: application/dicom; transfer-syntax=<the file's syntax>
        none    no headers at all (the body's type says application/dicom)
        length  Content-Type plus Content-Length
        cycle   the four above in turn
      LF-only line ends with --lf; a preamble and an epilogue with --framing.
  stow_body.py hostile --boundary B --expect FILE GOOD...
      Good Part 10 files interleaved with hostile parts (truncated data set, truncated
      file meta, bad UIDs "1.2.3." and "../x", sequences nested 1000 deep, not DICOM at
      all, a text/plain part). FILE gets one line per part in order: "stored UID" or
      "failed UID-or-dash".
  stow_body.py big --boundary B --parts N --bytes S [--uid-root R]
      N valid CT objects with distinct UIDs (R.<i>), each with S bytes of Pixel Data.
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dicom_bytes as db  # noqa: E402


def meta_group(sop_class, sop_instance, ts):
    """Preamble, DICM and an explicit VR little endian file meta group."""
    body = b"".join([
        db.element(0x0002, 0x0001, "OB", b"\x00\x01"),
        db.element(0x0002, 0x0002, "UI", sop_class),
        db.element(0x0002, 0x0003, "UI", sop_instance),
        db.element(0x0002, 0x0010, "UI", ts),
        db.element(0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.2.1125.99"),
    ])
    length = db.element(0x0002, 0x0000, "UL", struct.pack("<I", len(body)))
    return bytes(128) + b"DICM" + length + body


def part10(sop_instance, dataset, sop_class=db.CT_IMAGE_STORAGE,
           ts=db.EXPLICIT_VR_LITTLE_ENDIAN):
    return meta_group(sop_class, sop_instance, ts) + dataset


def transfer_syntax_of(data):
    """The (0002,0010) value of a Part 10 file, read like dataset_bytes.py does."""
    pos = 132
    while pos + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        if group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            length, header = struct.unpack_from("<I", data, pos + 8)[0], 12
        else:
            length, header = struct.unpack_from("<H", data, pos + 6)[0], 8
        if elem == 0x10:
            return data[pos + header:pos + header + length].rstrip(b"\0 ").decode()
        pos += header + length
    return ""


class Writer:
    def __init__(self, boundary, eol=b"\r\n"):
        self.boundary = boundary.encode()
        self.eol = eol
        self.out = sys.stdout.buffer

    def part(self, data, headers):
        eol = self.eol
        head = b"--" + self.boundary + eol
        for name, value in headers:
            head += name.encode() + b": " + value.encode() + eol
        self.out.write(head + eol)
        self.out.write(data)
        self.out.write(eol)

    def close(self):
        self.out.write(b"--" + self.boundary + b"--" + self.eol)
        self.out.flush()


def headers_for(mode, data, index):
    if mode == "cycle":
        mode = ("plain", "ts", "none", "length")[index % 4]
    if mode == "plain":
        return [("Content-Type", "application/dicom")]
    if mode == "ts":
        return [("Content-Type", "application/dicom; transfer-syntax=" + transfer_syntax_of(data))]
    if mode == "none":
        return []
    if mode == "length":
        return [("Content-Type", "application/dicom"), ("Content-Length", str(len(data)))]
    raise SystemExit("unknown header mode " + mode)


def cmd_files(args):
    w = Writer(args.boundary, b"\n" if args.lf else b"\r\n")
    if args.framing:
        w.out.write(b"This is a preamble the server ignores." + w.eol)
    for i, path in enumerate(args.files):
        with open(path, "rb") as f:
            data = f.read()
        w.part(data, headers_for(args.headers, data, i))
    w.close()
    if args.framing:
        w.out.write(b"and an epilogue" + w.eol)
        w.out.flush()


def cmd_hostile(args):
    w = Writer(args.boundary)
    ct = [("Content-Type", "application/dicom")]
    expect = []
    root = "1.2.826.0.1.3680043.2.1125.77"
    study = "1.2.826.0.1.3680043.2.1125.77.1"

    def hostile_parts():
        uid = root + ".1"
        yield "failed", uid, part10(uid, db.truncated_dataset(uid)), ct
        yield "failed", "-", part10(root + ".2", b"")[:150], ct  # ends inside the meta
        yield "failed", "-", part10("1.2.3.", db.valid_dataset("1.2.3.")), ct
        yield "failed", "-", part10("../x", db.valid_dataset("../x")), ct
        uid = root + ".5"
        yield "failed", uid, part10(uid, db.nested_dataset(uid, 1000)), ct
        yield "failed", "-", b"this is not a DICOM file at all" * 10, ct
        uid = root + ".7"
        yield "failed", "-", part10(uid, db.valid_dataset(uid, study=study)), [
            ("Content-Type", "text/plain")]
        uid = root + ".8"  # declared UID differs from the data set's
        yield "failed", uid, part10(uid, db.valid_dataset(root + ".9")), ct

    good = list(args.files)
    for kind, uid, data, headers in hostile_parts():
        if good:
            path = good.pop(0)
            with open(path, "rb") as f:
                w.part(f.read(), ct)
            expect.append("stored " + os.path.basename(path))
        w.part(data, headers)
        expect.append(kind + " " + uid)
    for path in good:
        with open(path, "rb") as f:
            w.part(f.read(), ct)
        expect.append("stored " + os.path.basename(path))
    w.close()
    with open(args.expect, "w") as f:
        f.write("\n".join(expect) + "\n")


def cmd_big(args):
    w = Writer(args.boundary)
    ct = [("Content-Type", "application/dicom")]
    study = args.uid_root + ".1"
    for i in range(args.parts):
        uid = "%s.2.%d" % (args.uid_root, i + 1)
        ds = db.valid_dataset(uid, pixel_bytes=args.bytes, study=study,
                              series=args.uid_root + ".1.1")
        w.part(part10(uid, ds), ct)
    w.close()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("files")
    f.add_argument("--boundary", required=True)
    f.add_argument("--headers", default="plain")
    f.add_argument("--lf", action="store_true")
    f.add_argument("--framing", action="store_true")
    f.add_argument("files", nargs="+")
    h = sub.add_parser("hostile")
    h.add_argument("--boundary", required=True)
    h.add_argument("--expect", required=True)
    h.add_argument("files", nargs="*")
    b = sub.add_parser("big")
    b.add_argument("--boundary", required=True)
    b.add_argument("--parts", type=int, required=True)
    b.add_argument("--bytes", type=int, required=True)
    b.add_argument("--uid-root", default="1.2.826.0.1.3680043.2.1125.88")
    args = p.parse_args()
    {"files": cmd_files, "hostile": cmd_hostile, "big": cmd_big}[args.cmd](args)


if __name__ == "__main__":
    main()

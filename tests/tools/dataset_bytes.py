#!/usr/bin/python3
"""Prints facts about a DICOM Part 10 file for the test suites.

  dataset_bytes.py sha FILE   SHA-256 of the data set bytes (everything after the file
                              meta group) and the transfer syntax UID, tab-separated.
  dataset_bytes.py preamble FILE   prints "zero" if the 128-byte preamble is all zeros.
"""
import hashlib
import struct
import sys


def dataset_offset(data):
    """Offset of the first element after the (explicit VR little endian) meta group."""
    if data[128:132] != b"DICM":
        raise SystemExit("not a Part 10 file")
    pos, ts = 132, ""
    while pos + 8 <= len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        if group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            length = struct.unpack_from("<I", data, pos + 8)[0]
            header = 12
        else:
            length = struct.unpack_from("<H", data, pos + 6)[0]
            header = 8
        if elem == 0x10:
            ts = data[pos + header:pos + header + length].rstrip(b"\0 ").decode()
        pos += header + length
    return pos, ts


def main():
    mode, path = sys.argv[1], sys.argv[2]
    data = open(path, "rb").read()
    if mode == "sha":
        off, ts = dataset_offset(data)
        print(hashlib.sha256(data[off:]).hexdigest() + "\t" + ts)
    elif mode == "preamble":
        print("zero" if data[:128] == bytes(128) else "nonzero")
    else:
        raise SystemExit("unknown mode")


main()

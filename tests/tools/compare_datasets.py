#!/usr/bin/python3
"""compare_datasets.py A B: exit 0 if the data sets of two DICOM files hold the same
elements with byte-identical values (file meta information aside).

Encoding details that a sender may legitimately change on the way are ignored: defined
vs undefined sequence/item lengths, group length elements (gggg,0000), Data Set
Trailing Padding (FFFC,FFFC), and leading/trailing spaces of each value of the string
VRs where PS3.5 6.2 declares them insignificant (DCMTK's senders normalize these).
Differences are printed, one per line.
"""
import sys

import pydicom
from pydicom.dataelem import RawDataElement

IGNORED = {0xFFFCFFFC}
PADDED_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI"}


def normalized(raw):
    return [v.strip(b" \0") for v in raw.split(b"\\")]


def raw_bytes(ds, tag):
    elem = ds.get_item(tag)
    if isinstance(elem, RawDataElement):
        return elem.value if elem.value is not None else b""
    return None


def walk(a, b, path, out):
    tags = sorted(set(a.keys()) | set(b.keys()))
    for tag in tags:
        t = int(tag)
        if t in IGNORED or (t & 0xFFFF) == 0 or (t >> 16) == 2:
            continue
        where = f"{path}({t >> 16:04x},{t & 0xFFFF:04x})"
        if tag not in a or tag not in b:
            out.append(f"{where} present in only one data set")
            continue
        ra, rb = raw_bytes(a, tag), raw_bytes(b, tag)
        ea, eb = a[tag], b[tag]
        if ea.VR == "SQ" or eb.VR == "SQ":
            if len(ea.value) != len(eb.value):
                out.append(f"{where} item count {len(ea.value)} != {len(eb.value)}")
                continue
            for i, (ia, ib) in enumerate(zip(ea.value, eb.value)):
                walk(ia, ib, f"{where}[{i}]", out)
        elif ra is not None and rb is not None and a.is_little_endian == b.is_little_endian:
            if ra != rb and not (ea.VR in PADDED_VRS and normalized(ra) == normalized(rb)):
                out.append(f"{where} value bytes differ ({len(ra)} vs {len(rb)} bytes)")
        elif ea.value != eb.value:
            out.append(f"{where} values differ")


def main():
    a = pydicom.dcmread(sys.argv[1], force=True)
    b = pydicom.dcmread(sys.argv[2], force=True)
    out = []
    walk(a, b, "", out)
    for line in out[:20]:
        print(line)
    sys.exit(1 if out else 0)


main()

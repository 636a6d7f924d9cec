#!/usr/bin/python3
"""Helpers for tests/integration/wado.sh (WADO-RS checks), pydicom and numpy only.

  wado.py split HEADERS BODY OUTDIR
      Splits a multipart/related response (HEADERS: the response header block as curl -D
      writes it) into OUTDIR/part-N.bin and writes OUTDIR/parts.tsv (N, Content-Type,
      transfer-syntax parameter). Checks the framing on the way: the boundary from
      Content-Type, the boundary line first (nothing before it), every part with a
      Content-Type and, when given, a Content-Length equal to its size, the closing
      delimiter last. Prints the number of parts; exits 1 on any violation.
  wado.py sops DIR            SOP Instance UIDs of the part-*.bin files, sorted.
  wado.py same-datasets DIR MANIFEST
      exit 0 if every part-*.bin in DIR has the data set bytes (everything after the file
      meta group) of the manifest file (make_studies.py) with its SOP Instance UID.
  wado.py prepare OUT STUDY FILE...
      Copies each FILE into OUT with new Study (STUDY), Series and SOP Instance UIDs
      (derived from the file name), keeping its transfer syntax and pixel data bytes;
      writes OUT/files.tsv (path, series, sop, transfer syntax, frames).
  wado.py same-pixels A B     exit 0 if both files decode to equal pixel arrays.
  wado.py frame-stored FILE N PART
      exit 0 if PART holds frame N (1-based) of FILE as stored: the native frame bytes,
      or the frame's fragments concatenated without item headers.
  wado.py frame-decoded FILE N PART
      exit 0 if PART holds frame N of FILE decoded (pydicom + numpy), little endian,
      colour by pixel.
  wado.py frames stored|decoded FILE DIR TYPE N...
      the parts DIR/part-1.bin... (from split) are frames N... of FILE (as frame-stored or
      frame-decoded check them), and parts.tsv gives each the Content-Type TYPE.
"""
import hashlib
import os
import re
import struct
import sys

# pydicom is imported only by the modes that need it: split runs often and must be quick.


def fail(message):
    print(message)
    sys.exit(1)


def header_value(headers, name):
    for line in headers.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def param(content_type, name):
    m = re.search(r';\s*' + name + r'\s*=\s*("([^"]*)"|[^;\s]+)', content_type, re.I)
    if not m:
        return None
    return m.group(2) if m.group(2) is not None else m.group(1)


def split(headers_path, body_path, out):
    raw = open(headers_path, "rb").read().decode("latin-1")
    # curl -D writes every header block it saw; the last one is the response's.
    headers = raw.strip("\r\n").split("\r\n\r\n")[-1]
    content_type = header_value(headers, "Content-Type") or ""
    if not content_type.lower().startswith("multipart/related"):
        fail("not multipart/related: " + content_type)
    boundary = param(content_type, "boundary")
    if not boundary:
        fail("no boundary in " + content_type)
    body = open(body_path, "rb").read()
    delimiter = b"--" + boundary.encode()
    if not body.startswith(delimiter + b"\r\n"):
        fail("the body does not start with the boundary line")
    os.makedirs(out, exist_ok=True)
    pos = len(delimiter) + 2
    rows = []
    while True:
        end_headers = body.find(b"\r\n\r\n", pos)
        if end_headers < 0:
            fail("a part has no end of headers")
        part_headers = body[pos:end_headers].decode("latin-1")
        part_type = header_value(part_headers, "Content-Type")
        if not part_type:
            fail("a part has no Content-Type")
        start = end_headers + 4
        length = header_value(part_headers, "Content-Length")
        if length is not None:
            end = start + int(length)
            if body[end:end + 2 + len(delimiter)] != b"\r\n" + delimiter:
                fail("a part's Content-Length does not end at a delimiter")
        else:
            end = body.find(b"\r\n" + delimiter, start)
            if end < 0:
                fail("a part has no closing delimiter")
        n = len(rows) + 1
        with open(os.path.join(out, "part-%d.bin" % n), "wb") as f:
            f.write(body[start:end])
        rows.append((n, part_type, param(part_type, "transfer-syntax") or ""))
        pos = end + 2 + len(delimiter)
        if body[pos:pos + 2] == b"--":
            if body[pos + 2:] not in (b"\r\n", b""):
                fail("bytes after the closing delimiter")
            break
        if body[pos:pos + 2] != b"\r\n":
            fail("a delimiter is not followed by CRLF")
        pos += 2
    with open(os.path.join(out, "parts.tsv"), "w") as f:
        for row in rows:
            f.write("%d\t%s\t%s\n" % row)
    print(len(rows))


def sops(folder):
    import pydicom
    uids = []
    for name in os.listdir(folder):
        if name.startswith("part-"):
            ds = pydicom.dcmread(os.path.join(folder, name), stop_before_pixels=True)
            uids.append(str(ds.SOPInstanceUID))
    for uid in sorted(uids):
        print(uid)


def derived_uid(*parts):
    digest = hashlib.sha256("/".join(parts).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def prepare(out, study, files):
    import pydicom
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "files.tsv"), "w") as listing:
        for path in files:
            name = os.path.basename(path)
            ds = pydicom.dcmread(path)
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = derived_uid(study, name, "series")
            ds.SOPInstanceUID = derived_uid(study, name, "sop")
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            target = os.path.join(out, name)
            ds.save_as(target, write_like_original=True)
            frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
            listing.write("%s\t%s\t%s\t%s\t%d\n" % (target, ds.SeriesInstanceUID, ds.SOPInstanceUID,
                                                    ds.file_meta.TransferSyntaxUID, frames))


def pixels(path):
    import pydicom
    ds = pydicom.dcmread(path)
    return ds, ds.pixel_array


def same_pixels(a, b):
    import numpy
    _, pa = pixels(a)
    _, pb = pixels(b)
    if pa.shape != pb.shape or not numpy.array_equal(pa, pb):
        fail("pixels differ: %s %s vs %s %s" % (pa.shape, pa.dtype, pb.shape, pb.dtype))


def frame_count(ds):
    return int(getattr(ds, "NumberOfFrames", 1) or 1)


def stored_frame(ds, n):
    from pydicom import encaps
    frames = frame_count(ds)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        return list(encaps.generate_pixel_data_frame(ds.PixelData, frames))[n - 1]
    size = len(ds.PixelData) // frames
    return ds.PixelData[(n - 1) * size:n * size]


def frame_stored(path, n, part):
    import pydicom
    ds = pydicom.dcmread(path)
    want = stored_frame(ds, int(n))
    got = open(part, "rb").read()
    if got != want:
        fail("frame %s: %d bytes received, %d stored, first difference at %s" % (
            n, len(got), len(want),
            next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))))


def frame_decoded(path, n, part):
    import numpy
    ds, array = pixels(path)
    if frame_count(ds) > 1:
        array = array[int(n) - 1]
    want = numpy.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    got = open(part, "rb").read()
    if got != want:
        fail("frame %s: %d bytes received, %d decoded by pydicom (%s %s)" % (
            n, len(got), len(want), array.shape, array.dtype))


def dataset_bytes(data):
    """The bytes after the (explicit VR little endian) file meta group."""
    if data[128:132] != b"DICM":
        fail("not a Part 10 file")
    pos = 132
    while pos + 8 <= len(data):
        group = struct.unpack_from("<H", data, pos)[0]
        if group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            pos += 12 + struct.unpack_from("<I", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return data[pos:]


def same_datasets(folder, manifest):
    import pydicom
    base = os.path.dirname(manifest)
    paths = {}
    with open(manifest) as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            paths[cols[4]] = os.path.join(base, cols[0])
    bad = 0
    for name in sorted(os.listdir(folder)):
        if not name.startswith("part-"):
            continue
        part = os.path.join(folder, name)
        uid = str(pydicom.dcmread(part, stop_before_pixels=True).SOPInstanceUID)
        if uid not in paths:
            print("not in the manifest: " + uid)
            bad = 1
        elif dataset_bytes(open(part, "rb").read()) != dataset_bytes(open(paths[uid], "rb").read()):
            print("data set bytes differ: " + uid)
            bad = 1
    if bad:
        sys.exit(1)


def frames(mode, path, folder, part_type, numbers):
    with open(os.path.join(folder, "parts.tsv")) as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    if len(rows) != len(numbers):
        fail("%d parts for %d frames" % (len(rows), len(numbers)))
    for i, n in enumerate(numbers, 1):
        if rows[i - 1][1] != part_type:
            fail("part %d is %s" % (i, rows[i - 1][1]))
        check = frame_stored if mode == "stored" else frame_decoded
        check(path, n, os.path.join(folder, "part-%d.bin" % i))


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "split":
        split(*args)
    elif mode == "sops":
        sops(*args)
    elif mode == "prepare":
        prepare(args[0], args[1], args[2:])
    elif mode == "same-pixels":
        same_pixels(*args)
    elif mode == "frame-stored":
        frame_stored(*args)
    elif mode == "frame-decoded":
        frame_decoded(*args)
    elif mode == "same-datasets":
        same_datasets(*args)
    elif mode == "frames":
        frames(args[0], args[1], args[2], args[3], args[4:])
    else:
        fail("unknown mode " + mode)


main()

#!/usr/bin/python3
"""render_check.py: reference pixels and image checks for tests/integration/rendered.sh.

Uses pydicom (no numpy) and zlib only; PNG decoding is the minimal decoder below
(8-bit gray or RGB, non-interlaced, all five filter types).

  render_check.py variants SRC OUTDIR
      writes from the uncompressed MONOCHROME2 file SRC: OUTDIR/mono1.dcm (the same pixels
      as MONOCHROME1, new series and instance UIDs, same study) and OUTDIR/overcap.dcm
      (RLE Lossless declaring 9000 x 9000 pixels with one tiny fragment, new UIDs).
  render_check.py compare DICOM PNG [--window C,W] [--invert]
      prints the largest absolute difference between the PNG's pixels and the reference:
      modality LUT (Rescale Slope/Intercept) then LINEAR VOI (PS3.3 C.11.2.1.2.1) with the
      given window or the object's first, rounded to nearest; --invert: 255 - that.
  render_check.py color DICOM PNG
      prints the largest difference between the PNG's RGB pixels and the object's
      (uncompressed, interleaved RGB or YBR_FULL_422, converted with PS3.3 C.7.6.3.1.2)
  render_check.py pngsize PNG      prints "WIDTHxHEIGHT"
  render_check.py jpegsize JPEG    prints "WIDTHxHEIGHT" (SOF marker) or fails if not JPEG
  render_check.py pngdiff A B      prints the largest difference of A and 255 - B
"""
import array
import copy
import struct
import sys
import zlib

import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless, generate_uid


def decode_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            if depth != 8 or color not in (0, 2) or interlace:
                raise SystemExit(f"{path}: unsupported PNG (depth {depth}, color {color})")
            channels = 1 if color == 0 else 3
        elif kind == b"IDAT":
            idat += chunk
        elif kind == b"IEND":
            break
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    out = bytearray()
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        ftype, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ftype == 1:
                cur[i] = (cur[i] + a) & 255
            elif ftype == 2:
                cur[i] = (cur[i] + b) & 255
            elif ftype == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + pred) & 255
        out += cur
        prev = cur
    return width, height, channels, out


def stored_values(ds):
    bits = ds.BitsAllocated
    signed = ds.PixelRepresentation == 1
    code = {8: "b" if signed else "B", 16: "h" if signed else "H"}[bits]
    values = array.array(code)
    values.frombytes(ds.PixelData[:ds.Rows * ds.Columns * bits // 8])
    if sys.byteorder != "little":
        values.byteswap()
    stored, shift = ds.BitsStored, 0
    mask = (1 << stored) - 1
    result = []
    for v in values:
        v &= mask
        if signed and v >> (stored - 1):
            v -= 1 << stored
        result.append(v)
    return result


def first(value):
    return float(value[0] if isinstance(value, pydicom.multival.MultiValue) else value)


def linear(x, c, w):
    if x <= c - 0.5 - (w - 1) / 2:
        return 0
    if x > c - 0.5 + (w - 1) / 2:
        return 255
    return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255


def round_half_up(y):
    return int(y + 0.5)


def compare(args):
    ds = pydicom.dcmread(args[0])
    window = None
    invert = "--invert" in args
    if "--window" in args:
        window = [float(v) for v in args[args.index("--window") + 1].split(",")[:2]]
    else:
        window = [first(ds.WindowCenter), first(ds.WindowWidth)]
    slope = float(getattr(ds, "RescaleSlope", 1))
    intercept = float(getattr(ds, "RescaleIntercept", 0))
    width, height, channels, pixels = decode_png(args[1])
    if (width, height, channels) != (ds.Columns, ds.Rows, 1):
        raise SystemExit(f"PNG is {width}x{height}x{channels}, "
                         f"object {ds.Columns}x{ds.Rows}x1")
    worst = 0
    for i, v in enumerate(stored_values(ds)):
        want = round_half_up(linear(v * slope + intercept, window[0], window[1]))
        if invert:
            want = 255 - want
        worst = max(worst, abs(pixels[i] - want))
    print(worst)


def color(args):
    ds = pydicom.dcmread(args[0])
    width, height, channels, pixels = decode_png(args[1])
    if (width, height, channels) != (ds.Columns, ds.Rows, 3):
        raise SystemExit(f"PNG is {width}x{height}x{channels}")
    raw = ds.PixelData
    if ds.PhotometricInterpretation == "RGB":
        want = list(raw[:width * height * 3])
    elif ds.PhotometricInterpretation == "YBR_FULL_422":
        want = []
        for i in range(0, width * height * 2, 4):  # Y1 Y2 Cb Cr for two pixels
            y1, y2, cb, cr = raw[i:i + 4]
            for y in (y1, y2):
                for v in (y + 1.402 * (cr - 128),
                          y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128),
                          y + 1.772 * (cb - 128)):
                    want.append(min(255, max(0, round_half_up(v))))
    else:
        raise SystemExit("unsupported photometric interpretation")
    print(max(abs(a - b) for a, b in zip(pixels, want)))


def variants(src, outdir):
    ds = pydicom.dcmread(src)
    mono1 = copy.deepcopy(ds)
    mono1.PhotometricInterpretation = "MONOCHROME1"
    mono1.SeriesInstanceUID = generate_uid()
    mono1.SOPInstanceUID = generate_uid()
    mono1.file_meta.MediaStorageSOPInstanceUID = mono1.SOPInstanceUID
    mono1.SeriesNumber = 90
    mono1.save_as(f"{outdir}/mono1.dcm", write_like_original=False)

    big = copy.deepcopy(ds)
    big.SeriesInstanceUID = generate_uid()
    big.SOPInstanceUID = generate_uid()
    big.file_meta.MediaStorageSOPInstanceUID = big.SOPInstanceUID
    big.SeriesNumber = 91
    big.Rows = big.Columns = 9000
    big.BitsAllocated, big.BitsStored, big.HighBit = 8, 8, 7
    big.file_meta.TransferSyntaxUID = RLELossless
    big.PixelData = encapsulate([b"\x00" * 64])
    big["PixelData"].VR = "OB"
    big.is_implicit_VR, big.is_little_endian = False, True
    big.save_as(f"{outdir}/overcap.dcm", write_like_original=False)
    for name, d in (("mono1", mono1), ("overcap", big)):
        print(name, d.StudyInstanceUID, d.SeriesInstanceUID, d.SOPInstanceUID)


def jpegsize(path):
    data = open(path, "rb").read()
    if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
        raise SystemExit(f"{path}: not a JPEG")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise SystemExit(f"{path}: broken marker at {pos}")
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            print(f"{width}x{height}")
            return
        pos += 2 + length
    raise SystemExit(f"{path}: no SOF marker")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "variants":
        variants(args[0], args[1])
    elif cmd == "compare":
        compare(args)
    elif cmd == "color":
        color(args)
    elif cmd == "pngsize":
        w, h, _, _ = decode_png(args[0])
        print(f"{w}x{h}")
    elif cmd == "jpegsize":
        jpegsize(args[0])
    elif cmd == "pngdiff":
        wa, ha, ca, a = decode_png(args[0])
        wb, hb, cb, b = decode_png(args[1])
        if (wa, ha, ca) != (wb, hb, cb):
            raise SystemExit("different sizes")
        print(max(abs(x - (255 - y)) for x, y in zip(a, b)))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()

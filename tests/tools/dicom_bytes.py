#!/usr/bin/python3
"""Builds raw DICOM data sets (no file meta group) byte by byte, valid and hostile.

Standard library only. Used by raw_scu.py and by the hostile-input suites; every
generator returns `bytes` in explicit VR little endian unless it says otherwise.

As a CLI it writes one data set to a file (or stdout with -o -):

  dicom_bytes.py valid     --sop-instance UID [--patient-name PN] [--extra TEXT]
                           [--pixel-bytes N] -o FILE
  dicom_bytes.py truncated --sop-instance UID -o FILE   # cut inside an element value
  dicom_bytes.py huge-length --sop-instance UID [--length N] -o FILE
  dicom_bytes.py nested    --sop-instance UID --depth N -o FILE
  dicom_bytes.py bad-vr    --sop-instance UID -o FILE
  dicom_bytes.py deflated  --sop-instance UID -o FILE   # valid, raw-deflated
  dicom_bytes.py deflate-bomb --sop-instance UID [--inflated N] -o FILE
"""
import argparse
import struct
import sys
import zlib

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"

UNDEFINED_LENGTH = 0xFFFFFFFF

# VRs whose explicit encoding has 2 reserved bytes and a 32-bit length (PS3.5 7.1.2).
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
            b"UT", b"UV"}
# VRs padded with NUL rather than space to an even length.
NUL_PADDED_VRS = {b"UI", b"OB", b"UN"}


def _as_bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def pad(vr, value):
    """Returns `value` padded to even length as PS3.5 6.2 asks for `vr`."""
    value = _as_bytes(value)
    if len(value) % 2:
        value += b"\0" if vr in NUL_PADDED_VRS else b" "
    return value


def header(group, element, vr, length):
    """An explicit VR little endian element header declaring `length` (not checked)."""
    vr = _as_bytes(vr)
    if vr in LONG_VRS:
        return struct.pack("<HH2sHI", group, element, vr, 0, length)
    if length > 0xFFFF:
        raise ValueError("length does not fit a 16-bit VR")
    return struct.pack("<HH2sH", group, element, vr, length)


def element(group, element_number, vr, value):
    """One explicit VR little endian element with its value padded to even length."""
    value = pad(_as_bytes(vr), value)
    return header(group, element_number, vr, len(value)) + value


def implicit_element(group, element_number, value, nul_pad=False):
    """One implicit VR little endian element (the VR comes from the dictionary)."""
    value = _as_bytes(value)
    if len(value) % 2:
        value += b"\0" if nul_pad else b" "
    return struct.pack("<HHI", group, element_number, len(value)) + value


def item_start(length=UNDEFINED_LENGTH):
    return struct.pack("<HHI", 0xFFFE, 0xE000, length)


def item_end():
    return struct.pack("<HHI", 0xFFFE, 0xE00D, 0)


def sequence_end():
    return struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def identifying_elements(sop_instance, sop_class=CT_IMAGE_STORAGE,
                         study="1.2.826.0.1.3680043.2.1125.1",
                         series="1.2.826.0.1.3680043.2.1125.1.1",
                         patient_name="Test^Hostile", patient_id="HOSTILE1"):
    """The top-level elements the archive requires, as (tag, bytes) pairs."""
    return [
        ((0x0008, 0x0016), element(0x0008, 0x0016, "UI", sop_class)),
        ((0x0008, 0x0018), element(0x0008, 0x0018, "UI", sop_instance)),
        ((0x0008, 0x0060), element(0x0008, 0x0060, "CS", "CT")),
        ((0x0010, 0x0010), element(0x0010, 0x0010, "PN", patient_name)),
        ((0x0010, 0x0020), element(0x0010, 0x0020, "LO", patient_id)),
        ((0x0020, 0x000D), element(0x0020, 0x000D, "UI", study)),
        ((0x0020, 0x000E), element(0x0020, 0x000E, "UI", series)),
        ((0x0020, 0x0013), element(0x0020, 0x0013, "IS", "1")),
    ]


def assemble(pairs):
    """Concatenates (tag, bytes) pairs in ascending tag order, as a data set requires."""
    return b"".join(data for _, data in sorted(pairs, key=lambda p: p[0]))


def valid_dataset(sop_instance, extra="", pixel_bytes=8, **kwargs):
    """A well-formed CT data set with `pixel_bytes` (even) of Pixel Data. `extra` goes into
    Image Comments (0020,4000), so two calls differing only in `extra` give the same UIDs
    with different content."""
    pairs = identifying_elements(sop_instance, **kwargs)
    if extra:
        pairs.append(((0x0020, 0x4000), element(0x0020, 0x4000, "LT", extra)))
    pairs.append(((0x0028, 0x0010), element(0x0028, 0x0010, "US", struct.pack("<H", 2))))
    pairs.append(((0x0028, 0x0011), element(0x0028, 0x0011, "US", struct.pack("<H", 2))))
    pairs.append(((0x7FE0, 0x0010), element(0x7FE0, 0x0010, "OW", bytes(pixel_bytes))))
    return assemble(pairs)


def implicit_valid_dataset(sop_instance, sop_class=CT_IMAGE_STORAGE,
                           study="1.2.826.0.1.3680043.2.1125.1",
                           series="1.2.826.0.1.3680043.2.1125.1.1"):
    """A small, well-formed data set in implicit VR little endian."""
    return b"".join([
        implicit_element(0x0008, 0x0016, sop_class, nul_pad=True),
        implicit_element(0x0008, 0x0018, sop_instance, nul_pad=True),
        implicit_element(0x0010, 0x0010, "Test^Implicit"),
        implicit_element(0x0020, 0x000D, study, nul_pad=True),
        implicit_element(0x0020, 0x000E, series, nul_pad=True),
    ])


def truncated_dataset(sop_instance):
    """A valid data set cut in the middle of the Study Instance UID value."""
    data = valid_dataset(sop_instance)
    study = _as_bytes("1.2.826.0.1.3680043.2.1125.1")
    cut = data.index(study) + len(study) // 2
    return data[:cut]


def huge_length_dataset(sop_instance, length=0x7FFFFFF0):
    """Valid identifying elements, then an Encapsulated Document (0042,0011) OB whose
    declared `length` is far beyond the few bytes that follow."""
    pairs = identifying_elements(sop_instance)
    pairs.append(((0x0042, 0x0011), header(0x0042, 0x0011, "OB", length) + b"ABCDEFGH"))
    return assemble(pairs)


def nested_dataset(sop_instance, depth):
    """Valid identifying elements, then `depth` nested undefined-length sequences, each
    with one undefined-length item, all properly closed. Built iteratively."""
    opening = header(0x0040, 0xA730, "SQ", UNDEFINED_LENGTH) + item_start()
    closing = item_end() + sequence_end()
    nest = opening * depth + element(0x0040, 0xA040, "CS", "TEXT") + closing * depth
    pairs = identifying_elements(sop_instance)
    pairs.append(((0x0040, 0xA730), nest))
    return assemble(pairs)


def bad_vr_dataset(sop_instance, vr=b"\x00\x01"):
    """Valid identifying elements, then an element whose VR bytes are not a VR."""
    pairs = identifying_elements(sop_instance)
    pairs.append(((0x0010, 0x1010), struct.pack("<HH2sH", 0x0010, 0x1010, vr, 4) + b"042Y"))
    return assemble(pairs)


def raw_deflate(data):
    """`data` as a raw deflate stream (no zlib header), as PS3.5 A.5 specifies."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def deflate_bomb(sop_instance, inflated=64 << 20):
    """A raw-deflated data set of about `inflated` bytes: valid identifying elements,
    then one Pixel Data OB of zeros. Compressed chunk by chunk, so memory stays small."""
    head = assemble(identifying_elements(sop_instance))
    value_length = inflated - len(head) - 12
    value_length -= value_length % 2
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [compressor.compress(head + header(0x7FE0, 0x0010, "OB", value_length))]
    zeros = bytes(1 << 20)
    left = value_length
    while left > 0:
        chunk = zeros if left >= len(zeros) else bytes(left)
        out.append(compressor.compress(chunk))
        left -= len(chunk)
    out.append(compressor.flush())
    return b"".join(out)


def main():
    parser = argparse.ArgumentParser(description="Write a raw DICOM data set.")
    parser.add_argument("kind", choices=["valid", "implicit", "truncated", "huge-length", "nested",
                                         "bad-vr", "deflated", "deflate-bomb"])
    parser.add_argument("--sop-instance", required=True)
    parser.add_argument("--sop-class", default=CT_IMAGE_STORAGE)
    parser.add_argument("--patient-name", default="Test^Hostile")
    parser.add_argument("--extra", default="", help="Image Comments text (valid only)")
    parser.add_argument("--pixel-bytes", type=int, default=8,
                        help="Pixel Data size (valid, deflated)")
    parser.add_argument("--depth", type=int, default=10000, help="nesting depth (nested)")
    parser.add_argument("--length", type=lambda s: int(s, 0), default=0x7FFFFFF0,
                        help="declared length (huge-length)")
    parser.add_argument("--inflated", type=lambda s: int(s, 0), default=64 << 20,
                        help="inflated size in bytes (deflate-bomb)")
    parser.add_argument("-o", "--output", required=True, help="file to write, - for stdout")
    args = parser.parse_args()

    if args.kind == "valid":
        data = valid_dataset(args.sop_instance, extra=args.extra, pixel_bytes=args.pixel_bytes,
                             sop_class=args.sop_class, patient_name=args.patient_name)
    elif args.kind == "implicit":
        data = implicit_valid_dataset(args.sop_instance, sop_class=args.sop_class)
    elif args.kind == "truncated":
        data = truncated_dataset(args.sop_instance)
    elif args.kind == "huge-length":
        data = huge_length_dataset(args.sop_instance, args.length)
    elif args.kind == "nested":
        data = nested_dataset(args.sop_instance, args.depth)
    elif args.kind == "bad-vr":
        data = bad_vr_dataset(args.sop_instance)
    elif args.kind == "deflated":
        data = raw_deflate(valid_dataset(args.sop_instance, extra=args.extra,
                                         pixel_bytes=args.pixel_bytes, sop_class=args.sop_class,
                                         patient_name=args.patient_name))
    else:
        data = deflate_bomb(args.sop_instance, args.inflated)

    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.output, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()

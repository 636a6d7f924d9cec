// Checks made on encapsulated pixel data before one of DCMTK's decoders reads it.
//
// DCMTK's decoders trust the streams they are given. Fuzzing found two that a crafted
// object turns against the server: the RLE decoder reads out of bounds on a bad segment
// header, and the JPEG decoder (dcmjpeg) loops forever when its marker walk meets a TEM
// marker (FF01) before the frame header. Every path that decodes pixel data (rendering,
// frame retrieval, transcoding) calls CheckBeforeDecode first and refuses the object on
// an error, which names what is wrong.
//
// The checks are linear in the size of the pixel data and allocate nothing.
#pragma once

#include "core/status.h"

class DcmDataset;

namespace tresor::dicom {

// Ok for native pixel data, and for encapsulated pixel data that the checks below accept:
//  - RLE Lossless (PS3.5 Annex G): one fragment per frame, each with a 64-byte header of
//    as many segments as the pixel format needs (one per byte of a sample, times the
//    samples; 1..15), ascending offsets inside the fragment, the first 64.
//  - The JPEG family decoded by dcmjpeg (1.2.840.10008.1.2.4.50 to .70): no fragment leads
//    DCMTK's marker walk to a TEM marker.
// InvalidArgument otherwise, or when the pixel data cannot be read.
Status CheckBeforeDecode(DcmDataset& dataset);

}  // namespace tresor::dicom

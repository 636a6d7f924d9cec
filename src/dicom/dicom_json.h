// The DICOM JSON model (PS3.18 F.2) of a whole data set, written while the bounded scanner
// walks it (dataset_scanner.h), so a store builds its WADO-RS metadata in the same pass
// that validates it.
//
// What the writer emits:
//  - every data element of the data set except group lengths (gggg,0000) and file meta
//    (0002,xxxx), private ones included; implicit VR data gets its VR from the dictionary;
//    sequences nested (a UN of undefined length is written as the SQ it is; a UN value of
//    a tag the dictionary knows gets the dictionary's VR);
//  - text in UTF-8, converted from the top-level Specific Character Set (item-level
//    character sets are not applied); multi-valued text split at '\'; empty values without
//    "Value", empty components of multi-valued ones as null;
//  - PN as {"Alphabetic", "Ideographic", "Phonetic"} (empty groups left out);
//  - IS, DS, US, SS, UL, SL, FL, FD, UV, SV as JSON numbers (an IS or DS that is not a
//    number stays a string; a non-finite float is null); AT as "GGGGEEEE";
//  - "BulkDataURI" instead of the value for: OB, OD, OF, OL, OV, OW, UN (always, when not
//    empty), binary numbers and AT longer than `bulk_threshold`, text longer than
//    `max_inline_text`, every value once the document has passed `soft_document_bytes`.
//    Never InlineBinary. Encapsulated Pixel Data is one BulkDataURI too.
// A BulkDataURI is `bulk_data_uri_prefix` followed by the element's tag path (TagPath).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "dicom/byte_reader.h"
#include "dicom/dataset_scanner.h"
#include "dicom/transfer_syntax.h"

namespace tresor::dicom {

struct DicomJsonOptions {
  std::string bulk_data_uri_prefix;          // e.g. "instances/1.2.3/bulk/"
  size_t bulk_threshold = 1024;              // binary numbers and AT longer than this
  size_t max_inline_text = 64 * 1024;        // text (and IS/DS) longer than this
  size_t soft_document_bytes = 4u << 20;     // past this size, every further value is bulk
  size_t max_document_bytes = 16u << 20;     // past this size, the document is refused
};

// Writes the JSON object of one data set. Pass it to ScanDataset as the visitor, then call
// Finish() if the scan succeeded. Not thread-safe; one per data set.
class DicomJsonWriter : public ScanVisitor {
 public:
  DicomJsonWriter(Encoding encoding, DicomJsonOptions options);
  ~DicomJsonWriter() override;
  DicomJsonWriter(const DicomJsonWriter&) = delete;
  DicomJsonWriter& operator=(const DicomJsonWriter&) = delete;

  bool OnElement(const ElementHead& element) override;
  void OnValue(const ElementHead& element, std::string_view value) override;
  void OnContainerStart(const ElementHead& element, Container kind) override;
  void OnContainerEnd() override;
  void OnItemStart() override;
  void OnItemEnd() override;
  void OnFragment(uint64_t value_offset, uint32_t length) override;

  // The JSON object ("{...}"). kResourceExhausted if it grew past max_document_bytes.
  Result<std::string> Finish();
  // True if some text could not be converted to UTF-8 (written with '?').
  bool text_not_converted() const { return text_not_converted_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  bool text_not_converted_ = false;
};

// Scans `dataset` (in memory, no file meta) and returns its JSON object.
Result<std::string> DataSetToJson(std::string_view dataset, Encoding encoding,
                                  const DicomJsonOptions& options,
                                  const ScanLimits& limits = ScanLimits{});

// The path of a (possibly nested) element, as BulkDataURIs name it: the tag in 8 upper-case
// hex digits, preceded for nested elements by each enclosing sequence's tag and the
// (0-based) item index, joined by '.': "7FE00010", "00540016.0.00181072".
struct TagPathStep {
  TagKey tag = 0;
  uint32_t item = 0;  // the item of this sequence that holds the next step
};
std::string FormatTagPath(const std::vector<TagPathStep>& sequences, TagKey tag);
// The steps (sequences with their items) and the final tag; kInvalidArgument if malformed.
Result<std::pair<std::vector<TagPathStep>, TagKey>> ParseTagPath(std::string_view path);

// Where the value of the element at a tag path lies (offsets from the start of the data
// set as scanned).
struct LocatedValue {
  char vr[2] = {0, 0};  // as encoded, or from the dictionary for implicit VR
  bool encapsulated = false;  // Pixel Data of undefined length: see `fragments`
  uint64_t value_offset = 0;
  uint64_t value_length = 0;
  std::vector<std::pair<uint64_t, uint32_t>> fragments;  // (value offset, length), BOT first
};
// Scans `in` for the element at `path`. nullopt if there is none (or it is a sequence).
Result<std::optional<LocatedValue>> LocateValue(ByteReader& in, Encoding encoding,
                                                const ScanLimits& limits,
                                                std::string_view path);

// Stored form of a document: raw deflate (zlib, level 6) terminated by a sync flush, so
// stored documents can be concatenated into one deflate stream, after a header holding
// the uncompressed size and CRC-32.
std::string CompressDocument(std::string_view json);
// kInvalidArgument if `stored` is not a CompressDocument result, or its size exceeds `max`.
Result<std::string> DecompressDocument(std::string_view stored, size_t max = 64u << 20);

}  // namespace tresor::dicom

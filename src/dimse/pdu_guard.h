// PduGuard: checks the DICOM upper-layer byte stream an association receives, before
// DCMTK parses any of it.
//
// DCMTK's parsers trust their input: an oversized PDU, or a command set nested
// thousands of levels deep (which DIMSE parses recursively), can exhaust memory or
// the stack. PduGuard follows PDU and PDV boundaries in the raw stream and refuses:
//   - a PDU of an unknown type, or longer than the limit for its type (the P-DATA-TF
//     limit is the maximum PDU length Tresor announced);
//   - PDV items that do not add up to their PDU;
//   - a command set larger than kMaxCommandBytes, or one that is not flat (command
//     sets never contain sequences), checked with the same bounded scanner as data sets.
// Data set fragments pass through; their own scan happens at store time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tresor::dimse {

class PduGuard {
 public:
  static constexpr size_t kMaxCommandBytes = 64 * 1024;
  static constexpr uint32_t kMaxAssociateBytes = 1 << 20;

  explicit PduGuard(uint32_t max_pdata_bytes) : max_pdata_(max_pdata_bytes) {}

  // Feeds the next bytes received. Returns false once the stream violates a rule;
  // error() then says which. After a false return the stream must be dropped.
  bool Feed(const uint8_t* data, size_t n);
  const std::string& error() const { return error_; }

 private:
  bool Fail(std::string why);
  bool EndPdu();
  bool EndPdvHeader();
  bool EndPdv();
  bool CommandBytes(const uint8_t* data, size_t n);

  enum class State { kPduHeader, kPduBody, kPdvHeader, kPdvBody };
  const uint32_t max_pdata_;
  State state_ = State::kPduHeader;
  uint8_t header_[6] = {};
  size_t header_len_ = 0;
  uint8_t pdu_type_ = 0;
  uint64_t pdu_left_ = 0;   // bytes of the current PDU body still to come
  uint64_t pdv_left_ = 0;   // bytes of the current PDV fragment still to come
  bool pdv_is_command_ = false;
  bool pdv_is_last_ = false;
  std::string command_;     // the command set being assembled
  std::string error_;
};

}  // namespace tresor::dimse

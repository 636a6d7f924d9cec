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
//
// The first A-ASSOCIATE-RQ is also checked field by field (CheckAssociateRq) for what
// DCMTK's parser lets through: AE title fields holding bytes an AE title cannot (DCMTK
// stops at a NUL, so "AE\0\0..." would read as "AE"), and presentation context IDs that
// are even, zero or used twice (PS3.8 9.3.2.2: odd integers 1-255; 7.1.1.13: unique).
// These do not abort the stream: the request is refused with an A-ASSOCIATE-RJ by the
// server, which reads the verdict from associate_check(). A request whose structure does
// not hold together (kMalformed) does abort it, before DCMTK parses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tresor::dimse {

// What CheckAssociateRq found wrong with an A-ASSOCIATE-RQ, first problem only.
enum class AssociateRqProblem {
  kNone,
  kBadCallingAe,   // the calling AE title field is not a valid AE title
  kBadCalledAe,    // the called AE title field is not a valid AE title
  kBadContextId,   // a presentation context ID is even, zero, or used twice
  kMalformed,      // fixed fields missing or a variable item running past the PDU
};

struct AssociateRqCheck {
  AssociateRqProblem problem = AssociateRqProblem::kNone;
  std::string detail;  // for the log; never contains the AE title bytes themselves
};

// Checks the body of an A-ASSOCIATE-RQ PDU (the bytes after its 6-byte header):
//   - the called (bytes 5-20) and calling (21-36) AE title fields: 16 bytes of printable
//     ASCII (0x20-0x7E) other than backslash, not all spaces (PS3.8 9.3.2, PS3.5 VR AE;
//     spaces pad, NUL does not);
//   - every Presentation Context item (type 20H): its ID odd, so 1-255, and no ID twice;
//     one Abstract Syntax sub-item, then one or more Transfer Syntax sub-items;
//   - structure (kMalformed): only application context (once), presentation context and
//     user information (at most once) items; variable items and the sub-items of presentation contexts and
//     user information fill their enclosing item exactly; user information sub-items are
//     of the types a request holds (51H-58H), and those with an inner layout (maximum
//     length, asynchronous window, role selection, extended negotiation, user identity)
//     have exactly that layout.
// Reads only within [body, body + n).
AssociateRqCheck CheckAssociateRq(const uint8_t* body, size_t n);

class PduGuard {
 public:
  static constexpr size_t kMaxCommandBytes = 64 * 1024;
  static constexpr uint32_t kMaxAssociateBytes = 1 << 20;

  explicit PduGuard(uint32_t max_pdata_bytes) : max_pdata_(max_pdata_bytes) {}

  // Feeds the next bytes received. Returns false once the stream violates a rule;
  // error() then says which. After a false return the stream must be dropped.
  bool Feed(const uint8_t* data, size_t n);
  const std::string& error() const { return error_; }

  // The verdict on the stream's first A-ASSOCIATE-RQ, once it has been fed completely
  // (kNone before that, and for streams that start with another PDU).
  const AssociateRqCheck& associate_check() const { return associate_check_; }

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
  bool first_pdu_ = true;   // the PDU being read is the stream's first
  std::string associate_rq_;  // the first PDU's body while it is an A-ASSOCIATE-RQ
  AssociateRqCheck associate_check_;
  std::string error_;
};

}  // namespace tresor::dimse

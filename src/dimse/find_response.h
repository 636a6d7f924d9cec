// DIMSE responses written straight to the wire. C-FIND pending responses: each
// response's command set and identifier are encoded from the index values (no DCMTK data
// set per match), each response's command and identifier share one P-DATA-TF PDU (within
// the peer's maximum PDU length), and many responses' PDUs go out in one write.
// DCMTK's DIMSE_sendFindResponse builds two data sets per response and writes each PDU
// with two system calls; with hundreds of matches that was most of the time of a C-FIND.
// C-STORE responses go out the same way, one PDU in one write per stored object.
#ifndef TRESOR_DIMSE_FIND_RESPONSE_H_
#define TRESOR_DIMSE_FIND_RESPONSE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "dicom/query.h"

struct T_ASC_Association;

namespace tresor::dimse {

// How to encode the identifiers of one C-FIND's responses: the elements in ascending tag
// order, each with its VR. Built once per C-FIND by Make; Make fails (kUnsupported) when an
// element cannot be written by this encoder (a binary VR, a tag without a single VR, a
// transfer syntax other than implicit or explicit VR little endian), and the caller then
// uses DCMTK for the responses.
class FindResponseEncoder {
 public:
  // `requested`: the identifier's keys as (group << 16 | element), in any order, without
  // Specific Character Set and Query/Retrieve Level, which every response carries
  // ("ISO_IR 192" and `level`). `transfer_syntax`: the presentation context's.
  static Result<FindResponseEncoder> Make(const std::vector<dicom::TagKey>& requested,
                                          const std::string& level,
                                          const std::string& transfer_syntax);

  // Appends the identifier of `match` to `out`. Fails (kUnsupported) when a value is too
  // long for its VR's 16-bit length in explicit VR; nothing is appended then.
  Status Encode(const dicom::QueryMatch& match, std::string* out) const;

 private:
  struct Element {
    dicom::TagKey tag;
    char vr[2];
    bool long_length;   // explicit VR: 2 reserved bytes and a 32-bit length
    bool sequence;      // written as an empty sequence
    char pad;           // ' ' or '\0' (UI)
    int source;         // 0: the match's value, 1: Specific Character Set, 2: the level
  };
  bool explicit_vr_ = false;
  std::string level_;
  std::vector<Element> elements_;
};

// The C-FIND-RSP command set (PS3.7 9.3.2.2) with a data set following, implicit VR
// little endian.
std::string FindPendingCommand(const std::string& sop_class, uint16_t message_id, uint16_t status);
// The C-STORE-RSP command set (PS3.7 9.3.1.2), no data set, implicit VR little endian:
// what DIMSE_sendStoreResponse would send, without building two DCMTK data sets and
// writing the PDU with two system calls for every stored object.
std::string StoreResponseCommand(const std::string& sop_class, const std::string& sop_instance,
                                 uint16_t message_id, uint16_t status);
// A pending C-GET-RSP or C-MOVE-RSP command set (PS3.7 9.3.3.2, 9.3.4.2; `command_field`
// 0x8010 or 0x8021), no data set, with the four sub-operation counts, implicit VR little
// endian: sent once per sub-operation, so built without DCMTK's data sets and two writes.
struct SubOperationCounts {
  uint16_t remaining = 0, completed = 0, failed = 0, warning = 0;
};
std::string RetrievePendingCommand(uint16_t command_field, const std::string& sop_class,
                                   uint16_t message_id, const SubOperationCounts& counts);

// Collects DIMSE messages as PDVs in P-DATA-TF PDUs of at most the peer's maximum length,
// one PDU per message (more when its data set needs several fragments), and writes them to the association's transport, one write per Flush (and whenever more
// than `flush_bytes` are pending). Nothing reaches the wire before Flush.
class PduBatcher {
 public:
  PduBatcher(T_ASC_Association* assoc, uint8_t pres_id, size_t flush_bytes = 64 * 1024);
  // Adds one message: its command set, then its data set (each one or more PDVs).
  Status AddMessage(const std::string& command, const std::string& dataset);
  // Adds one message without a data set.
  Status AddCommand(const std::string& command);
  Status Flush();
  size_t pending() const { return buf_.size(); }

 private:
  // One message; `dataset` null: none follows its command.
  Status Add(const std::string& command, const std::string* dataset);
  Status AddPdvs(bool command, const std::string& data);
  void StartPdu();
  void EndPdu();

  T_ASC_Association* assoc_;
  uint8_t pres_id_;
  size_t max_pdu_body_;
  size_t flush_bytes_;
  std::string buf_;
  size_t pdu_start_ = std::string::npos;  // offset of the open PDU's header in buf_
};

}  // namespace tresor::dimse

#endif  // TRESOR_DIMSE_FIND_RESPONSE_H_

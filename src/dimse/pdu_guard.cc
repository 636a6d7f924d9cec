#include "dimse/pdu_guard.h"

#include <algorithm>

#include "dicom/byte_reader.h"
#include "dicom/dataset_scanner.h"

namespace tresor::dimse {
namespace {

uint32_t BigEndian32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

uint16_t BigEndian16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// An A-ASSOCIATE AE title field: 16 bytes of the AE repertoire, space padded.
bool IsAeTitleField(const uint8_t* field) {
  bool all_space = true;
  for (int i = 0; i < 16; ++i) {
    uint8_t c = field[i];
    if (c < 0x20 || c > 0x7E || c == '\\') return false;
    if (c != ' ') all_space = false;
  }
  return !all_space;
}

}  // namespace

AssociateRqCheck CheckAssociateRq(const uint8_t* body, size_t n) {
  AssociateRqCheck out;
  auto problem = [&out](AssociateRqProblem p, std::string detail) {
    out.problem = p;
    out.detail = std::move(detail);
    return out;
  };
  // Protocol version (2), reserved (2), called AE (16), calling AE (16), reserved (32).
  constexpr size_t kFixed = 68;
  if (n < kFixed) return problem(AssociateRqProblem::kMalformed, "A-ASSOCIATE-RQ shorter than its fixed fields");
  if (!IsAeTitleField(body + 4)) {
    return problem(AssociateRqProblem::kBadCalledAe,
                   "called AE title field holds bytes an AE title cannot (NUL, control, backslash) or is blank");
  }
  if (!IsAeTitleField(body + 20)) {
    return problem(AssociateRqProblem::kBadCallingAe,
                   "calling AE title field holds bytes an AE title cannot (NUL, control, backslash) or is blank");
  }
  bool seen[256] = {};
  size_t pos = kFixed;
  while (pos < n) {
    if (n - pos < 4) return problem(AssociateRqProblem::kMalformed, "variable item header cut short");
    uint8_t type = body[pos];
    size_t length = BigEndian16(body + pos + 2);
    if (length > n - pos - 4) {
      return problem(AssociateRqProblem::kMalformed, "variable item runs past the end of the PDU");
    }
    if (type == 0x20) {  // Presentation Context (RQ)
      if (length < 4) return problem(AssociateRqProblem::kMalformed, "presentation context item too short");
      uint8_t id = body[pos + 4];
      if (id % 2 == 0) {
        return problem(AssociateRqProblem::kBadContextId,
                       "presentation context ID " + std::to_string(id) + " is not odd");
      }
      if (seen[id]) {
        return problem(AssociateRqProblem::kBadContextId,
                       "presentation context ID " + std::to_string(id) + " proposed twice");
      }
      seen[id] = true;
    }
    pos += 4 + length;
  }
  return out;
}

bool PduGuard::Fail(std::string why) {
  error_ = std::move(why);
  return false;
}

bool PduGuard::Feed(const uint8_t* data, size_t n) {
  if (!error_.empty()) return false;
  while (n > 0) {
    switch (state_) {
      case State::kPduHeader: {
        size_t take = std::min(n, 6 - header_len_);
        std::copy(data, data + take, header_ + header_len_);
        header_len_ += take;
        data += take;
        n -= take;
        if (header_len_ < 6) break;
        header_len_ = 0;
        pdu_type_ = header_[0];
        pdu_left_ = BigEndian32(header_ + 2);
        uint64_t limit = 0;
        switch (pdu_type_) {
          case 0x01: case 0x02: case 0x03: limit = kMaxAssociateBytes; break;  // A-ASSOCIATE
          case 0x04: limit = max_pdata_; break;                                 // P-DATA-TF
          case 0x05: case 0x06: case 0x07: limit = 4; break;                    // release, abort
          default: return Fail("unknown PDU type " + std::to_string(pdu_type_));
        }
        if (pdu_left_ > limit) {
          return Fail("PDU of " + std::to_string(pdu_left_) + " bytes exceeds the limit of " +
                      std::to_string(limit));
        }
        state_ = pdu_type_ == 0x04 ? State::kPdvHeader : State::kPduBody;
        if (first_pdu_ && pdu_type_ == 0x01) associate_rq_.reserve(static_cast<size_t>(pdu_left_));
        if (pdu_left_ == 0 && !EndPdu()) return false;
        break;
      }
      case State::kPduBody: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, pdu_left_));
        if (first_pdu_ && pdu_type_ == 0x01) associate_rq_.append(reinterpret_cast<const char*>(data), take);
        data += take;
        n -= take;
        pdu_left_ -= take;
        if (pdu_left_ == 0 && !EndPdu()) return false;
        break;
      }
      case State::kPdvHeader: {
        size_t take = std::min(n, 6 - header_len_);
        std::copy(data, data + take, header_ + header_len_);
        header_len_ += take;
        data += take;
        n -= take;
        if (take > pdu_left_) return Fail("PDV header crosses the end of its PDU");
        pdu_left_ -= take;
        if (header_len_ == 6 && !EndPdvHeader()) return false;
        break;
      }
      case State::kPdvBody: {
        size_t take = static_cast<size_t>(std::min<uint64_t>(n, pdv_left_));
        if (pdv_is_command_ && !CommandBytes(data, take)) return false;
        data += take;
        n -= take;
        pdv_left_ -= take;
        pdu_left_ -= take;
        if (pdv_left_ == 0 && !EndPdv()) return false;
        break;
      }
    }
  }
  return true;
}

bool PduGuard::EndPdu() {
  if (first_pdu_ && pdu_type_ == 0x01) {
    associate_check_ = CheckAssociateRq(reinterpret_cast<const uint8_t*>(associate_rq_.data()),
                                        associate_rq_.size());
    std::string().swap(associate_rq_);  // release the buffer
  }
  first_pdu_ = false;
  state_ = State::kPduHeader;
  header_len_ = 0;
  return true;
}

bool PduGuard::EndPdvHeader() {
  header_len_ = 0;
  uint32_t item_length = BigEndian32(header_);
  if (item_length < 2) return Fail("PDV item shorter than its header");
  // The item length counts the context ID and control header (2 bytes) already read.
  pdv_left_ = item_length - 2;
  if (pdv_left_ > pdu_left_) return Fail("PDV item runs past the end of its PDU");
  uint8_t control = header_[5];
  pdv_is_command_ = (control & 0x01) != 0;
  pdv_is_last_ = (control & 0x02) != 0;
  state_ = State::kPdvBody;
  return pdv_left_ > 0 || EndPdv();
}

bool PduGuard::EndPdv() {
  if (pdv_is_command_ && pdv_is_last_) {
    dicom::MemoryReader reader(command_.data(), command_.size());
    dicom::ScanLimits limits;
    limits.max_bytes = kMaxCommandBytes;
    limits.max_sequence_depth = 0;  // a command set holds no sequences
    auto scan = dicom::ScanDataset(reader, dicom::Encoding::kImplicitLittle, limits, {});
    if (!scan.ok()) return Fail("malformed command set: " + scan.status().message());
    if (command_.empty()) return Fail("empty command set");
    command_.clear();
  }
  state_ = State::kPdvHeader;
  return pdu_left_ > 0 || EndPdu();
}

bool PduGuard::CommandBytes(const uint8_t* data, size_t n) {
  if (command_.size() + n > kMaxCommandBytes) {
    return Fail("command set larger than " + std::to_string(kMaxCommandBytes) + " bytes");
  }
  command_.append(reinterpret_cast<const char*>(data), n);
  return true;
}

}  // namespace tresor::dimse

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

// Walks the sub-items of the item whose payload is [p, p + n): each one's 4-byte header
// and length must fit, and together they must fill the payload exactly. Calls
// `each(type, payload, length)` for each; stops at the first false. Returns "" or what is
// wrong.
template <typename Each>
std::string WalkSubItems(const uint8_t* p, size_t n, Each each) {
  size_t pos = 0;
  while (pos < n) {
    if (n - pos < 4) return "sub-item header cut short";
    size_t length = BigEndian16(p + pos + 2);
    if (length > n - pos - 4) return "sub-item runs past its item";
    std::string why = each(p[pos], p + pos + 4, length);
    if (!why.empty()) return why;
    pos += 4 + length;
  }
  return "";
}

// A value of `n` bytes at `p` made of 2-byte-length-prefixed fields, `fields` of them,
// followed by `tail` fixed bytes (-1: any number): true if it has exactly that shape.
bool LengthPrefixedFields(const uint8_t* p, size_t n, int fields, int tail) {
  size_t pos = 0;
  for (int i = 0; i < fields; ++i) {
    if (n - pos < 2) return false;
    size_t length = BigEndian16(p + pos);
    pos += 2;
    if (length > n - pos) return false;
    pos += length;
  }
  return tail < 0 || n - pos == static_cast<size_t>(tail);
}

// The structure of a Presentation Context item's payload after its 4 fixed bytes
// (PS3.8 9.3.2.2): one Abstract Syntax sub-item (30H), then one or more Transfer Syntax
// sub-items (40H).
std::string CheckContextSubItems(const uint8_t* p, size_t n) {
  int index = 0;
  std::string why = WalkSubItems(p, n, [&index](uint8_t type, const uint8_t*, size_t) -> std::string {
    const uint8_t want = index++ == 0 ? 0x30 : 0x40;
    if (type != want) return "presentation context sub-items are not one abstract syntax, then transfer syntaxes";
    return "";
  });
  if (why.empty() && index < 2) why = "presentation context without a transfer syntax";
  return why;
}

// The User Information item's sub-items (PS3.7 D.3.3, PS3.8 9.3.2.3): only the types a
// request may hold (51H-58H), each with its exact inner layout where it has one.
std::string CheckUserInfoSubItems(const uint8_t* p, size_t n) {
  return WalkSubItems(p, n, [](uint8_t type, const uint8_t* v, size_t length) -> std::string {
    switch (type) {
      case 0x51:  // maximum length
      case 0x53:  // asynchronous operations window
        if (length != 4) return "user information sub-item of the wrong length";
        break;
      case 0x54:  // SCP/SCU role selection: UID, then two role bytes
        if (!LengthPrefixedFields(v, length, 1, 2)) return "role selection sub-item malformed";
        break;
      case 0x56:  // SOP class extended negotiation: UID, then application information
        if (!LengthPrefixedFields(v, length, 1, -1)) return "extended negotiation sub-item malformed";
        break;
      case 0x57:  // SOP class common extended negotiation: two UIDs, then a UID list
        if (!LengthPrefixedFields(v, length, 3, 0)) return "common extended negotiation sub-item malformed";
        break;
      case 0x58:  // user identity: type, response requested, then two length-prefixed fields
        if (length < 2 || !LengthPrefixedFields(v + 2, length - 2, 2, 0)) {
          return "user identity sub-item malformed";
        }
        break;
      case 0x52:  // implementation class UID
      case 0x55:  // implementation version name
        break;
      default:  // 59H answers a request; nothing else is defined (DCMTK gives up on them)
        return "user information sub-item of type " + std::to_string(type) + " in a request";
    }
    return "";
  });
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
  // The structure first: a request that does not hold together is kMalformed whatever
  // else is wrong with it (the guard then aborts it before DCMTK parses it).
  bool seen[256] = {};
  std::string bad_id;  // the first context ID problem, reported after the AE titles
  int application_contexts = 0, user_infos = 0;
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
      std::string why = CheckContextSubItems(body + pos + 8, length - 4);
      if (!why.empty()) return problem(AssociateRqProblem::kMalformed, why);
      uint8_t id = body[pos + 4];
      if (bad_id.empty() && id % 2 == 0) {
        bad_id = "presentation context ID " + std::to_string(id) + " is not odd";
      } else if (bad_id.empty() && seen[id]) {
        bad_id = "presentation context ID " + std::to_string(id) + " proposed twice";
      }
      seen[id] = true;
    } else if (type == 0x50) {  // User Information
      if (++user_infos > 1) return problem(AssociateRqProblem::kMalformed, "user information item twice");
      std::string why = CheckUserInfoSubItems(body + pos + 4, length);
      if (!why.empty()) return problem(AssociateRqProblem::kMalformed, why);
    } else if (type == 0x10) {  // Application Context
      if (++application_contexts > 1) {
        return problem(AssociateRqProblem::kMalformed, "application context item twice");
      }
    } else {  // PS3.8 9.3.2 has no other item in a request
      return problem(AssociateRqProblem::kMalformed,
                     "item of type " + std::to_string(type) + " in an A-ASSOCIATE-RQ");
    }
    pos += 4 + length;
  }
  if (!IsAeTitleField(body + 4)) {
    return problem(AssociateRqProblem::kBadCalledAe,
                   "called AE title field holds bytes an AE title cannot (NUL, control, backslash) or is blank");
  }
  if (!IsAeTitleField(body + 20)) {
    return problem(AssociateRqProblem::kBadCallingAe,
                   "calling AE title field holds bytes an AE title cannot (NUL, control, backslash) or is blank");
  }
  if (!bad_id.empty()) return problem(AssociateRqProblem::kBadContextId, bad_id);
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
    // A request whose structure cannot be walked never reaches DCMTK's parser (which
    // leaks memory on some of them): the stream is refused like any other violation.
    if (associate_check_.problem == AssociateRqProblem::kMalformed) {
      return Fail("malformed A-ASSOCIATE-RQ: " + associate_check_.detail);
    }
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

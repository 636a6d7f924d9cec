#include "dicom/part10.h"

#include <cstring>

namespace tresor::dicom {
namespace {

constexpr size_t kMaxMetaBytes = 64 * 1024;

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v & 0xFF));
  out.push_back(static_cast<char>(v >> 8));
}
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// Appends one explicit-VR little-endian element of group 0002.
void PutElement(std::string& out, uint16_t element, const char* vr, std::string value,
                char pad) {
  if (value.size() % 2) value.push_back(pad);
  PutU16(out, 0x0002);
  PutU16(out, element);
  out.append(vr, 2);
  if (std::strcmp(vr, "OB") == 0) {
    PutU16(out, 0);
    PutU32(out, static_cast<uint32_t>(value.size()));
  } else {
    PutU16(out, static_cast<uint16_t>(value.size()));
  }
  out += value;
}

}  // namespace

std::string TrimPadding(const std::string& v) {
  size_t end = v.size();
  while (end > 0 && (v[end - 1] == '\0' || v[end - 1] == ' ')) --end;
  size_t begin = 0;
  while (begin < end && v[begin] == ' ') ++begin;
  return v.substr(begin, end - begin);
}

std::string BuildFileMetaHeader(const FileMeta& meta) {
  std::string group;
  PutElement(group, 0x0001, "OB", std::string("\0\1", 2), '\0');
  PutElement(group, 0x0002, "UI", meta.sop_class_uid, '\0');
  PutElement(group, 0x0003, "UI", meta.sop_instance_uid, '\0');
  PutElement(group, 0x0010, "UI", meta.transfer_syntax_uid, '\0');
  PutElement(group, 0x0012, "UI", kImplementationClassUid, '\0');
  PutElement(group, 0x0013, "SH", kImplementationVersion, ' ');
  if (!meta.source_ae.empty()) PutElement(group, 0x0016, "AE", meta.source_ae, ' ');
  std::string out(128, '\0');
  out += "DICM";
  PutU16(out, 0x0002);
  PutU16(out, 0x0000);
  out += "UL";
  PutU16(out, 4);
  PutU32(out, static_cast<uint32_t>(group.size()));
  out += group;
  return out;
}

Result<FileMeta> ReadFileMeta(ByteReader& in) {
  auto read_exact = [&](void* out, size_t n) -> Status {
    size_t done = 0;
    while (done < n) {
      TRESOR_ASSIGN_OR_RETURN(size_t got, in.Read(static_cast<char*>(out) + done, n - done));
      if (got == 0) return InvalidArgument("file ends inside the file meta information");
      done += got;
    }
    return Status::Ok();
  };
  char preamble[132];
  if (!read_exact(preamble, sizeof preamble).ok()) {
    return InvalidArgument("not a DICOM Part 10 file (shorter than preamble and DICM prefix)");
  }
  if (std::memcmp(preamble + 128, "DICM", 4) != 0) {
    return InvalidArgument("not a DICOM Part 10 file (no DICM prefix after the preamble)");
  }
  FileMeta meta;
  uint64_t pos = 132;
  // The meta group is explicit VR little endian; read elements while the group is 0002.
  // One element of lookahead is needed to see where the group ends, so elements are read
  // whole and the first non-0002 tag marks the data set start.
  uint8_t head[8];
  while (true) {
    size_t got = 0;
    while (got < 4) {
      TRESOR_ASSIGN_OR_RETURN(size_t n, in.Read(head + got, 4 - got));
      if (n == 0) break;
      got += n;
    }
    if (got < 4) break;  // file holds only the meta group
    uint16_t group = static_cast<uint16_t>(head[0] | head[1] << 8);
    uint16_t element = static_cast<uint16_t>(head[2] | head[3] << 8);
    if (group != 0x0002) break;
    TRESOR_RETURN_IF_ERROR(read_exact(head + 4, 4));
    char a = static_cast<char>(head[4]), b = static_cast<char>(head[5]);
    uint32_t length;
    uint64_t header = 8;
    bool long_form = (a == 'O' && (b == 'B' || b == 'W')) || (a == 'U' && (b == 'N' || b == 'T')) ||
                     (a == 'S' && b == 'Q');
    if (long_form) {
      uint8_t len[4];
      TRESOR_RETURN_IF_ERROR(read_exact(len, 4));
      length = uint32_t{len[0]} | uint32_t{len[1]} << 8 | uint32_t{len[2]} << 16 |
               uint32_t{len[3]} << 24;
      header = 12;
    } else {
      length = static_cast<uint32_t>(head[6] | head[7] << 8);
    }
    if (pos + header + length - 132 > kMaxMetaBytes) {
      return InvalidArgument("file meta information too large or malformed");
    }
    std::string value(length, '\0');
    TRESOR_RETURN_IF_ERROR(read_exact(value.data(), length));
    pos += header + length;
    switch (element) {
      case 0x0002: meta.sop_class_uid = TrimPadding(value); break;
      case 0x0003: meta.sop_instance_uid = TrimPadding(value); break;
      case 0x0010: meta.transfer_syntax_uid = TrimPadding(value); break;
      case 0x0016: meta.source_ae = TrimPadding(value); break;
      default: break;
    }
  }
  if (meta.transfer_syntax_uid.empty()) {
    return InvalidArgument("file meta information has no transfer syntax");
  }
  meta.dataset_offset = pos;
  return meta;
}

}  // namespace tresor::dicom

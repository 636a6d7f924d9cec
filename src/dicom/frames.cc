#include "dicom/frames.h"

#include <charconv>

#include "dicom/part10.h"

namespace tresor::dicom {
namespace {

constexpr TagKey kSamplesPerPixel = MakeTag(0x0028, 0x0002);
constexpr TagKey kNumberOfFrames = MakeTag(0x0028, 0x0008);
constexpr TagKey kRows = MakeTag(0x0028, 0x0010);
constexpr TagKey kColumns = MakeTag(0x0028, 0x0011);
constexpr TagKey kBitsAllocated = MakeTag(0x0028, 0x0100);
constexpr TagKey kExtendedOffsetTable = MakeTag(0x7FE0, 0x0001);
constexpr TagKey kExtendedOffsetTableLengths = MakeTag(0x7FE0, 0x0002);

// Decodes little or big endian unsigned integers of `size` bytes at `p`.
uint64_t Unsigned(const unsigned char* p, int size, bool big) {
  uint64_t v = 0;
  for (int i = 0; i < size; ++i) {
    int k = big ? i : size - 1 - i;
    v = v << 8 | p[k];
  }
  return v;
}

uint16_t U16Value(const ScanResult& scan, TagKey tag, bool big, uint16_t fallback) {
  auto it = scan.values.find(tag);
  if (it == scan.values.end() || it->second.size() < 2) return fallback;
  return static_cast<uint16_t>(
      Unsigned(reinterpret_cast<const unsigned char*>(it->second.data()), 2, big));
}

// Groups the fragments (items after the offset table) into frames by `offsets`, counted
// from the first fragment's item tag. False unless every offset starts a fragment, in
// increasing order, the first at 0.
bool GroupByOffsets(const std::vector<PixelDataPosition::Fragment>& items,
                    const std::vector<uint64_t>& offsets, uint64_t base_offset,
                    std::vector<std::vector<FrameLayout::Range>>* frames) {
  if (items.size() < 2 || offsets.empty() || offsets[0] != 0) return false;
  const uint64_t origin = items[1].item_offset;
  std::vector<std::vector<FrameLayout::Range>> out;
  size_t next = 0;  // index into offsets of the next frame to open
  for (size_t i = 1; i < items.size(); ++i) {
    uint64_t rel = items[i].item_offset - origin;
    if (next < offsets.size() && rel == offsets[next]) {
      out.emplace_back();
      ++next;
    } else if (next < offsets.size() && rel > offsets[next]) {
      return false;  // an offset inside a fragment
    }
    out.back().push_back({items[i].value_offset + base_offset, items[i].length});
  }
  if (next != offsets.size()) return false;
  *frames = std::move(out);
  return true;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in->empty()) return false;
    auto byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= uint64_t{byte & 0x7Fu} << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

}  // namespace

const std::set<TagKey>& FrameLayoutTags() {
  static const std::set<TagKey> kTags = {kSamplesPerPixel, kNumberOfFrames,
                                         kRows,            kColumns,
                                         kBitsAllocated,   kExtendedOffsetTable,
                                         kExtendedOffsetTableLengths};
  return kTags;
}

std::optional<FrameLayout> BuildFrameLayout(const ScanResult& scan, Encoding encoding,
                                            uint64_t base_offset) {
  const PixelDataPosition& pixel = scan.pixel_data;
  if (!pixel.present || encoding == Encoding::kDeflatedExplicitLittle) return std::nullopt;
  const bool big = encoding == Encoding::kExplicitBig;
  FrameLayout layout;
  layout.encapsulated = pixel.encapsulated;
  layout.rows = U16Value(scan, kRows, big, 0);
  layout.columns = U16Value(scan, kColumns, big, 0);
  layout.samples_per_pixel = U16Value(scan, kSamplesPerPixel, big, 1);
  layout.bits_allocated = U16Value(scan, kBitsAllocated, big, 0);
  if (auto it = scan.values.find(kNumberOfFrames); it != scan.values.end()) {
    std::string text = TrimPadding(it->second);
    uint32_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec == std::errc() && end == text.data() + text.size() && n > 0) layout.number_of_frames = n;
  }
  if (!pixel.encapsulated) {
    uint64_t frame_bits = uint64_t{layout.rows} * layout.columns * layout.samples_per_pixel *
                          layout.bits_allocated;
    if (frame_bits == 0) return layout;
    for (uint64_t i = 0; i < layout.number_of_frames; ++i) {
      uint64_t first = i * frame_bits / 8;
      uint64_t end = ((i + 1) * frame_bits + 7) / 8;  // bit-packed frames share a byte
      if (end > pixel.value_length) break;
      layout.frames.push_back({{pixel.value_offset + base_offset + first, end - first}});
    }
    return layout;
  }
  const auto& items = pixel.items;
  if (items.size() < 2) return layout;  // an offset table and no fragment
  // Extended Offset Table (PS3.5 A.4, 64-bit offsets), then the Basic Offset Table.
  if (auto it = scan.values.find(kExtendedOffsetTable);
      it != scan.values.end() && !it->second.empty() && it->second.size() % 8 == 0) {
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < it->second.size(); i += 8) {
      offsets.push_back(
          Unsigned(reinterpret_cast<const unsigned char*>(it->second.data() + i), 8, big));
    }
    if (GroupByOffsets(items, offsets, base_offset, &layout.frames)) return layout;
  }
  const std::string& bot = pixel.basic_offset_table;
  if (!bot.empty() && bot.size() == items[0].length && bot.size() % 4 == 0) {
    std::vector<uint64_t> offsets;
    for (size_t i = 0; i < bot.size(); i += 4) {
      offsets.push_back(Unsigned(reinterpret_cast<const unsigned char*>(bot.data() + i), 4, big));
    }
    if (GroupByOffsets(items, offsets, base_offset, &layout.frames)) return layout;
  }
  const size_t fragments = items.size() - 1;
  if (fragments == layout.number_of_frames) {
    for (size_t i = 1; i < items.size(); ++i) {
      layout.frames.push_back({{items[i].value_offset + base_offset, items[i].length}});
    }
  } else if (layout.number_of_frames == 1) {
    layout.frames.emplace_back();
    for (size_t i = 1; i < items.size(); ++i) {
      layout.frames[0].push_back({items[i].value_offset + base_offset, items[i].length});
    }
  }
  return layout;
}

// Format: 'F' 1, flags, rows, columns, samples, bits, number of frames, frame count, then
// per frame its range count and (offset, length) pairs; all integers as varints.
std::string SerializeFrameLayout(const FrameLayout& layout) {
  std::string out = "F\x01";
  PutVarint(&out, layout.encapsulated ? 1 : 0);
  PutVarint(&out, layout.rows);
  PutVarint(&out, layout.columns);
  PutVarint(&out, layout.samples_per_pixel);
  PutVarint(&out, layout.bits_allocated);
  PutVarint(&out, layout.number_of_frames);
  PutVarint(&out, layout.frames.size());
  for (const auto& frame : layout.frames) {
    PutVarint(&out, frame.size());
    for (const auto& r : frame) {
      PutVarint(&out, r.offset);
      PutVarint(&out, r.length);
    }
  }
  return out;
}

Result<FrameLayout> ParseFrameLayout(std::string_view in) {
  if (in.size() < 2 || in[0] != 'F' || in[1] != 1) return InvalidArgument("not a frame layout");
  in.remove_prefix(2);
  uint64_t v[7];
  for (uint64_t& x : v) {
    if (!GetVarint(&in, &x)) return InvalidArgument("truncated frame layout");
  }
  FrameLayout layout;
  layout.encapsulated = v[0] != 0;
  layout.rows = static_cast<uint16_t>(v[1]);
  layout.columns = static_cast<uint16_t>(v[2]);
  layout.samples_per_pixel = static_cast<uint16_t>(v[3]);
  layout.bits_allocated = static_cast<uint16_t>(v[4]);
  layout.number_of_frames = static_cast<uint32_t>(v[5]);
  if (v[6] > in.size()) return InvalidArgument("frame layout frame count");
  layout.frames.resize(v[6]);
  for (auto& frame : layout.frames) {
    uint64_t n;
    if (!GetVarint(&in, &n) || n > in.size()) return InvalidArgument("truncated frame layout");
    frame.resize(n);
    for (auto& r : frame) {
      if (!GetVarint(&in, &r.offset) || !GetVarint(&in, &r.length)) {
        return InvalidArgument("truncated frame layout");
      }
    }
  }
  if (!in.empty()) return InvalidArgument("trailing bytes after a frame layout");
  return layout;
}

}  // namespace tresor::dicom

// Fuzz target: the bounded data set scanner (dicom/dataset_scanner.h) over a Part 10 file
// or a bare data set (see fuzz_input.h), then, as the archive does with what passed the
// scan, DCMTK's parse of the same data set (behind the archive's own meta group for a
// file, or alone).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <cstddef>
#include <cstdint>

#include "dicom/dataset_scanner.h"
#include "dicom/instance.h"
#include "fuzz_input.h"

namespace {

// Counts the structure events and checks that they nest.
class NestingVisitor : public tresor::dicom::ScanVisitor {
 public:
  bool OnElement(const tresor::dicom::ElementHead& e) override { return e.length <= 4096; }
  void OnValue(const tresor::dicom::ElementHead& e, std::string_view value) override {
    TRESOR_FUZZ_CHECK(value.size() == e.length);
  }
  void OnContainerStart(const tresor::dicom::ElementHead&, Container) override { ++open_; }
  void OnContainerEnd() override { --open_; TRESOR_FUZZ_CHECK(open_ >= 0); }
  void OnItemStart() override {}
  void OnItemEnd() override {}
  void OnFragment(uint64_t, uint32_t) override {}
  int open_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tresor;
  fuzz::DataSetInput input;
  if (!fuzz::SplitDataSetInput(data, size, &input)) return 0;
  dicom::MemoryReader reader(input.dataset.data(), input.dataset.size());
  dicom::ScanLimits limits;
  limits.max_bytes = 8u << 20;  // deflated input inflates at most this far
  NestingVisitor visitor;
  auto scan = dicom::ScanDataset(reader, input.encoding, limits, dicom::IndexedTags(), &visitor);
  if (!scan.ok()) return 0;
  TRESOR_FUZZ_CHECK(visitor.open_ == 0);
  TRESOR_FUZZ_CHECK(scan->max_depth_seen <= limits.max_sequence_depth);
  if (scan->pixel_data.present && !scan->pixel_data.encapsulated &&
      input.encoding != dicom::Encoding::kDeflatedExplicitLittle) {
    TRESOR_FUZZ_CHECK(scan->pixel_data.value_offset + scan->pixel_data.value_length <=
                      input.dataset.size());
  }
  // What passed the scan is what DCMTK gets to parse: for a file, the data set behind the
  // meta group the archive writes (the sender's meta group never reaches DCMTK).
  if (input.part10) {
    const std::string stored = fuzz::StoredForm(input);
    DcmFileFormat file;
    DcmInputBufferStream in;
    in.setBuffer(stored.data(), static_cast<offile_off_t>(stored.size()));
    in.setEos();
    file.transferInit();
    file.read(in, EXS_Unknown, EGL_noChange);
    file.transferEnd();
  } else {
    DcmDataset dataset;
    DcmInputBufferStream in;
    in.setBuffer(input.dataset.data(), static_cast<offile_off_t>(input.dataset.size()));
    in.setEos();
    dataset.transferInit();
    dataset.read(in, DcmXfer(input.transfer_syntax.c_str()).getXfer(), EGL_noChange);
    dataset.transferEnd();
  }
  return 0;
}

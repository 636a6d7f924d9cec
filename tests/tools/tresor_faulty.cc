// tresor_faulty: the tresor binary with fault injection, for tests/faults only. Never
// installed; the tresor binary itself has no fault hooks.
//
// Built from the same code as tresor (src/app/main.cc compiled with its main renamed to
// TresorMain) plus the test-only decorators of src/store/testing. When TRESOR_FAULTS
// names a control file (store/testing/fault_plan.h), every archive it opens runs over a
// FaultyIndex and a FaultyBlobStore that fail whatever faults the file lists at the
// moment of each call; without it the binary behaves exactly like tresor.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "app/data_dir.h"
#include "store/testing/fault_plan.h"
#include "store/testing/faulty_blob_store.h"
#include "store/testing/faulty_index.h"

int TresorMain(int argc, char** argv);

int main(int argc, char** argv) {
  using namespace tresor;
  const char* control = std::getenv("TRESOR_FAULTS");
  if (control != nullptr && *control != '\0') {
    auto plan = std::make_shared<store::testing::FaultPlan>(control);
    auto active = [plan](std::string_view fault) { return plan->Active(fault); };
    app::StoreDecorators d;
    d.index = [active](store::Index& inner) {
      auto faulty = std::make_unique<store::testing::FaultyIndex>(inner);
      faulty->active = active;
      return std::unique_ptr<store::Index>(std::move(faulty));
    };
    d.blobs = [active](store::BlobStore& inner) {
      auto faulty = std::make_unique<store::testing::FaultyBlobStore>(inner);
      faulty->active = active;
      return std::unique_ptr<store::BlobStore>(std::move(faulty));
    };
    app::SetStoreDecorators(std::move(d));
    std::cerr << "tresor_faulty: injected faults from " << control << "\n";
  }
  return TresorMain(argc, argv);
}

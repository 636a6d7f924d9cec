// index_tamper DIR SQL: runs SQL read-write on the sealed index of the (stopped) data
// directory DIR, with the page key derived from DIR's master key. Test-only: it plays an
// insider who holds the key and rewrites the index behind the archive's back, so the
// suites can check that `tresor audit verify` notices. It is not part of the `tresor`
// binary and is never installed.
//
// Exit status: 0 when every statement ran, 1 on any error (message on stderr).
#include <sqlite3.h>

#include <iostream>
#include <memory>
#include <string>

#include "app/data_dir.h"
#include "store/sealed_vfs.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "index_tamper: " << message << "\n";
  return 1;
}

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return Fail("usage: index_tamper DATA_DIR \"SQL; ...\"");
  const std::string dir = argv[1];
  const std::string path = dir + "/index.db";
  auto key = tresor::app::IndexPageKey(dir);
  if (!key.ok()) return Fail(key.status().message());
  auto vfs = tresor::store::SealedVfs::Make(*key);
  if (!vfs.ok()) return Fail(vfs.status().message());
  tresor::Status checked = (*vfs)->CheckDatabase(path);
  if (!checked.ok()) return Fail(checked.message());
  // Declared after the VFS, so the connection closes before the VFS is unregistered.
  std::unique_ptr<sqlite3, CloseDb> db;
  {
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, (*vfs)->name());
    db.reset(raw);
    if (rc != SQLITE_OK) return Fail("cannot open " + path + ": " + sqlite3_errmsg(raw));
  }
  // Statement journals stay in memory: the sealed VFS refuses temporary files.
  const std::string sql = std::string("PRAGMA temp_store=MEMORY; ") + argv[2];
  char* error = nullptr;
  if (sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : sqlite3_errmsg(db.get());
    sqlite3_free(error);
    return Fail(message);
  }
  if (sqlite3_close(db.release()) != SQLITE_OK) return Fail("cannot close " + path);
  return 0;
}

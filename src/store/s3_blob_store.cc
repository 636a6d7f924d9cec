#include "store/s3_blob_store.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "core/hex.h"
#include "core/log.h"
#include "core/random.h"

namespace tresor::store {
namespace {

constexpr size_t kMinPartBytes = 5 << 20;

bool ValidNode(const std::string& node) {
  if (node.empty() || node.size() > 64) return false;
  for (char c : node) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return node != "." && node != "..";
}

bool ValidPrefix(const std::string& prefix) {
  if (prefix.size() > 256 || (!prefix.empty() && prefix.front() == '/')) return false;
  for (char c : prefix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '/';
    if (!ok) return false;
  }
  return prefix.find("//") == std::string::npos;
}

// Writes one sealed blob: segments are sealed as the plaintext arrives (a segment once
// data beyond it is appended, or at Finish() as the final one) into a buffer of one part.
// A full part starts (or continues) a multipart upload; Finish() sends the rest: the last
// part, or the whole blob in one PUT when it never filled a part. The staging marker is
// written before the first byte of the blob is sent. Destroyed without a successful
// Finish(), it aborts the upload and deletes what it wrote (best effort: what is left is
// marked staged and the node's next Recover() deletes it).
class S3BlobWriter : public BlobWriter {
 public:
  S3BlobWriter(S3Client& client, std::string name, std::string blob_key, std::string marker_key,
               size_t part_bytes, std::unique_ptr<BlobCipher> cipher, const std::string& header)
      : client_(client), name_(std::move(name)), blob_key_(std::move(blob_key)),
        marker_key_(std::move(marker_key)), part_bytes_(part_bytes), cipher_(std::move(cipher)),
        pending_(new char[cipher_->segment_bytes()]) {
    buf_.reserve(std::min<size_t>(part_bytes_ + cipher_->segment_bytes() + kTagBytes, 1 << 20));
    buf_.append(header);
  }

  ~S3BlobWriter() override {
    if (finished_) return;
    if (!upload_id_.empty()) {
      Status s = client_.AbortMultipart(blob_key_, upload_id_);
      if (!s.ok()) TRESOR_LOG(kDebug) << "abort of an unfinished upload: " << s.ToString();
    }
    if (marker_written_) {
      Status s = client_.Delete(blob_key_);
      if (s.ok()) s = client_.Delete(marker_key_);
      if (!s.ok()) {
        TRESOR_LOG(kWarn) << "unfinished blob " << name_
                          << " left staged for the next recovery: " << s.ToString();
      }
    }
  }

  Status Append(const void* data, size_t n) override {
    if (failed_) return Internal("append after a failed write");
    const char* p = static_cast<const char*>(data);
    const size_t seg = cipher_->segment_bytes();
    size_ += n;
    while (n > 0) {
      if (pending_len_ == seg) {
        TRESOR_RETURN_IF_ERROR(Fail(SealSegment(pending_.get(), seg, false)));
        pending_len_ = 0;
      }
      if (pending_len_ == 0 && n > seg) {
        TRESOR_RETURN_IF_ERROR(Fail(SealSegment(p, seg, false)));
        p += seg;
        n -= seg;
        continue;
      }
      size_t take = std::min(seg - pending_len_, n);
      std::memcpy(pending_.get() + pending_len_, p, take);
      pending_len_ += take;
      p += take;
      n -= take;
    }
    return Status::Ok();
  }

  Result<std::string> Finish() override {
    if (failed_ || finished_) return Internal("finish after a failed or finished write");
    TRESOR_RETURN_IF_ERROR(Fail(SealSegment(pending_.get(), pending_len_, true)));
    pending_len_ = 0;
    if (upload_id_.empty()) {
      TRESOR_RETURN_IF_ERROR(Fail(WriteMarker()));
      TRESOR_RETURN_IF_ERROR(Fail(client_.Put(blob_key_, buf_.data(), buf_.size())));
    } else {
      // The rest is the last part: never empty (the final segment's tag is in it).
      TRESOR_RETURN_IF_ERROR(Fail(SendPart(buf_.data(), buf_.size())));
      TRESOR_RETURN_IF_ERROR(Fail(client_.CompleteMultipart(blob_key_, upload_id_, etags_)));
    }
    buf_.clear();
    buf_.shrink_to_fit();
    finished_ = true;
    return name_;
  }

  uint64_t size() const override { return size_; }

 private:
  Status Fail(Status s) {
    if (!s.ok()) failed_ = true;
    return s;
  }

  Status WriteMarker() {
    if (marker_written_) return Status::Ok();
    TRESOR_RETURN_IF_ERROR(client_.Put(marker_key_, "", 0));
    marker_written_ = true;
    return Status::Ok();
  }

  Status SendPart(const char* data, size_t n) {
    TRESOR_ASSIGN_OR_RETURN(std::string etag,
                            client_.UploadPart(blob_key_, upload_id_,
                                               static_cast<int>(etags_.size()) + 1, data, n));
    etags_.push_back(std::move(etag));
    return Status::Ok();
  }

  Status SealSegment(const char* plain, size_t n, bool final) {
    size_t at = buf_.size();
    buf_.resize(at + n + kTagBytes);
    TRESOR_RETURN_IF_ERROR(cipher_->Seal(segment_++, final, plain, n, buf_.data() + at));
    // A full part goes out now, unless it might be the last (then Finish() sends it).
    while (!final && buf_.size() > part_bytes_) {
      if (upload_id_.empty()) {
        TRESOR_RETURN_IF_ERROR(WriteMarker());
        TRESOR_ASSIGN_OR_RETURN(upload_id_, client_.StartMultipart(blob_key_));
      }
      TRESOR_RETURN_IF_ERROR(SendPart(buf_.data(), part_bytes_));
      buf_.erase(0, part_bytes_);
    }
    return Status::Ok();
  }

  S3Client& client_;
  const std::string name_;
  const std::string blob_key_;
  const std::string marker_key_;
  const size_t part_bytes_;
  std::unique_ptr<BlobCipher> cipher_;
  std::unique_ptr<char[]> pending_;  // plaintext of the segment being filled
  size_t pending_len_ = 0;
  uint32_t segment_ = 0;
  std::string buf_;  // sealed bytes not yet sent (at most a part and a segment)
  uint64_t size_ = 0;
  std::string upload_id_;
  std::vector<std::string> etags_;
  bool marker_written_ = false;
  bool finished_ = false;
  bool failed_ = false;
};

// Reads a sealed blob by ranged GETs of whole segments: a window of up to
// kReadWindowSegments segments is fetched, authenticated and kept as plaintext, so
// sequential reads at any alignment fetch every segment once and memory stays at one
// window. Not thread-safe (one reader per thread, as for every BlobReader).
class S3BlobReader : public BlobReader {
 public:
  S3BlobReader(S3Client& client, std::string key, std::unique_ptr<BlobCipher> cipher,
               uint64_t plain_size)
      : client_(client), key_(std::move(key)), cipher_(std::move(cipher)), size_(plain_size),
        seg_(cipher_->segment_bytes()),
        segments_(plain_size == 0 ? 1 : (plain_size + seg_ - 1) / seg_) {}

  uint64_t size() const override { return size_; }

  // `sealed` holds the sealed segments from `first` on (as fetched at Open()).
  Status Fill(uint64_t first, const std::string& sealed) {
    window_first_ = UINT64_MAX;
    uint64_t count = std::min<uint64_t>(S3BlobStore::kReadWindowSegments, segments_ - first);
    size_t plain_bytes = 0;
    for (uint64_t i = first; i < first + count; ++i) plain_bytes += SegmentLength(i);
    if (sealed.size() < plain_bytes + count * kTagBytes) {
      return DataLoss("integrity error: sealed blob truncated (" + key_ + ")");
    }
    window_.resize(plain_bytes);
    size_t in = 0, out = 0;
    for (uint64_t i = first; i < first + count; ++i) {
      size_t len = SegmentLength(i);
      Status s = cipher_->Unseal(static_cast<uint32_t>(i), i + 1 == segments_, sealed.data() + in,
                                 len + kTagBytes, window_.data() + out);
      if (!s.ok()) return Status(s.code(), s.message() + " (" + key_ + ")");
      in += len + kTagBytes;
      out += len;
    }
    window_first_ = first;
    window_count_ = count;
    return Status::Ok();
  }

  Result<size_t> ReadAt(void* out, size_t n, uint64_t offset) override {
    if (offset >= size_ || n == 0) return size_t{0};
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    char* dst = static_cast<char*>(out);
    size_t done = 0;
    while (done < n) {
      uint64_t pos = offset + done;
      uint64_t index = pos / seg_;
      if (window_first_ == UINT64_MAX || index < window_first_ ||
          index >= window_first_ + window_count_) {
        TRESOR_RETURN_IF_ERROR(LoadWindow(index));
      }
      uint64_t window_start = window_first_ * seg_;
      size_t within = static_cast<size_t>(pos - window_start);
      size_t take = std::min(window_.size() - within, n - done);
      std::memcpy(dst + done, window_.data() + within, take);
      done += take;
    }
    return done;
  }

 private:
  size_t SegmentLength(uint64_t index) const {
    return index + 1 < segments_ ? seg_ : static_cast<size_t>(size_ - (segments_ - 1) * seg_);
  }

  Status LoadWindow(uint64_t first) {
    uint64_t count = std::min<uint64_t>(S3BlobStore::kReadWindowSegments, segments_ - first);
    uint64_t at = kSealedHeaderBytes + first * (uint64_t{seg_} + kTagBytes);
    uint64_t len = 0;
    for (uint64_t i = first; i < first + count; ++i) len += SegmentLength(i) + kTagBytes;
    std::string sealed;
    sealed.reserve(len);
    Status got = client_.Get(
        key_, at, len,
        [&](const char* p, size_t k) {
          if (sealed.size() + k > len) {
            return DataLoss("integrity error: the server sent more than the range (" + key_ + ")");
          }
          sealed.append(p, k);
          return Status::Ok();
        },
        [&] { sealed.clear(); });
    if (!got.ok()) return got;
    return Fill(first, sealed);
  }

  S3Client& client_;
  const std::string key_;
  std::unique_ptr<BlobCipher> cipher_;
  const uint64_t size_;
  const uint32_t seg_;
  const uint64_t segments_;
  std::string window_;  // plaintext of segments [window_first_, + window_count_)
  uint64_t window_first_ = UINT64_MAX;
  uint64_t window_count_ = 0;
};

}  // namespace

S3BlobStore::S3BlobStore(S3BlobStoreOptions options, std::unique_ptr<S3Client> client)
    : options_(std::move(options)), client_(std::move(client)) {}

S3BlobStore::~S3BlobStore() = default;

Result<std::unique_ptr<S3BlobStore>> S3BlobStore::Make(S3BlobStoreOptions options) {
  if (!options.keys) {
    return InvalidArgument("S3 storage is always encrypted: it needs the master key");
  }
  if (!ValidNode(options.node)) {
    return InvalidArgument("not a node name (1-64 of A-Z a-z 0-9 . _ -): '" + options.node + "'");
  }
  if (!ValidPrefix(options.prefix)) {
    return InvalidArgument("not an S3 key prefix (A-Z a-z 0-9 . _ - /): '" + options.prefix + "'");
  }
  if (!options.prefix.empty() && options.prefix.back() != '/') options.prefix += '/';
  if (options.part_bytes < kMinPartBytes) {
    return InvalidArgument("S3 part size must be at least 5 MiB");
  }
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<S3Client> client, S3Client::Make(options.s3));
  std::unique_ptr<S3BlobStore> store(new S3BlobStore(std::move(options), std::move(client)));
  Status sealing = store->CheckSealing();
  if (!sealing.ok()) {
    return Status(sealing.code(), "S3 storage " + store->options_.s3.endpoint + "/" +
                                      store->options_.s3.bucket + "/" + store->options_.prefix +
                                      ": " + sealing.message());
  }
  return store;
}

std::string S3BlobStore::BlobKey(const std::string& name) const {
  return options_.prefix + "blobs/" + name;
}

std::string S3BlobStore::MarkerKey(const std::string& name) const {
  return options_.prefix + "staging/" + options_.node + "/" + name;
}

Status S3BlobStore::CheckSealing() {
  const std::string marker = options_.prefix + "sealed";
  std::string text;
  Status got = client_->Get(
      marker, 0, 0,
      [&](const char* p, size_t n) {
        if (text.size() + n > 4096) return DataLoss("integrity error: " + marker + " is damaged");
        text.append(p, n);
        return Status::Ok();
      },
      [&] { text.clear(); });
  if (got.code() == Code::kNotFound) {
    bool any = false;
    Status listed = client_->List(options_.prefix + "blobs/", [&](const S3ObjectInfo&) {
      any = true;
      return Status(Code::kAlreadyExists, "stop");
    });
    if (!listed.ok() && listed.code() != Code::kAlreadyExists) return listed;
    if (any) return DataLoss("integrity error: blobs are present but the marker " + marker + " is missing");
    const std::string record = SealedMarkerText(options_.keys->current().id);
    return client_->Put(marker, record.data(), record.size());
  }
  TRESOR_RETURN_IF_ERROR(got);
  return CheckSealedMarker(text, marker, options_.keys.get());
}

Result<std::unique_ptr<BlobWriter>> S3BlobStore::Create() {
  std::string name = RandomHex(16);
  std::string header;
  TRESOR_ASSIGN_OR_RETURN(std::unique_ptr<BlobCipher> cipher,
                          BlobCipher::Create(*options_.keys, BlobIdOfName(name), &header));
  return std::unique_ptr<BlobWriter>(new S3BlobWriter(*client_, name, BlobKey(name),
                                                      MarkerKey(name), options_.part_bytes,
                                                      std::move(cipher), header));
}

Status S3BlobStore::Persist(const std::vector<std::string>&) {
  // Finish() returned only after the server acknowledged the object: it is durable.
  return Status::Ok();
}

Status S3BlobStore::Publish(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  Status s = client_->Delete(MarkerKey(name));
  if (!s.ok()) return Status(s.code(), "publish blob: " + s.message());
  return s;
}

Status S3BlobStore::Discard(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  // The marker goes last: while it is there, recovery knows the blob is this node's.
  TRESOR_RETURN_IF_ERROR(client_->Delete(BlobKey(name)));
  return client_->Delete(MarkerKey(name));
}

Status S3BlobStore::Remove(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  TRESOR_RETURN_IF_ERROR(client_->Delete(BlobKey(name)));
  return client_->Delete(MarkerKey(name));
}

Result<std::unique_ptr<BlobReader>> S3BlobStore::Open(const std::string& name) {
  if (!IsBlobName(name)) return InvalidArgument("not a blob name");
  const std::string key = BlobKey(name);
  // One GET brings the header and the first window; its Content-Range gives the size.
  const uint64_t want =
      kSealedHeaderBytes + uint64_t{kReadWindowSegments} * (uint64_t{kSegmentBytes} + kTagBytes);
  std::string sealed;
  uint64_t object_size = 0;
  Status got = client_->Get(
      key, 0, want,
      [&](const char* p, size_t n) {
        if (sealed.size() + n > want) {
          return DataLoss("integrity error: the server sent more than the range (" + key + ")");
        }
        sealed.append(p, n);
        return Status::Ok();
      },
      [&] { sealed.clear(); }, &object_size);
  if (got.code() == Code::kNotFound) return NotFound("blob missing from storage (blob " + name + ")");
  if (!got.ok()) return got;
  auto fail = [&](const Status& s) { return Status(s.code(), s.message() + " (blob " + name + ")"); };
  if (sealed.size() < kSealedHeaderBytes) {
    return fail(DataLoss("integrity error: sealed blob truncated"));
  }
  auto cipher = BlobCipher::Open(*options_.keys, BlobIdOfName(name), sealed.data(), kSealedHeaderBytes);
  if (!cipher.ok()) return fail(cipher.status());
  uint32_t seg = (*cipher)->segment_bytes();
  auto plain = PlainSize(object_size, seg);
  if (!plain.ok()) return fail(plain.status());
  auto reader = std::make_unique<S3BlobReader>(*client_, key, std::move(cipher).value(), *plain);
  if (seg == kSegmentBytes) {
    TRESOR_RETURN_IF_ERROR(reader->Fill(0, sealed.substr(kSealedHeaderBytes)));
  }
  return std::unique_ptr<BlobReader>(std::move(reader));
}

Status S3BlobStore::Recover(const std::function<Result<bool>(const std::string&)>& is_referenced) {
  const std::string mine = options_.prefix + "staging/" + options_.node + "/";
  std::vector<std::string> names;
  TRESOR_RETURN_IF_ERROR(client_->List(mine, [&](const S3ObjectInfo& o) {
    names.push_back(o.key.substr(mine.size()));
    return Status::Ok();
  }));
  int published = 0, removed = 0, left = 0;
  for (const std::string& n : names) {
    bool keep = false;
    if (IsBlobName(n)) {
      TRESOR_ASSIGN_OR_RETURN(keep, is_referenced(n));
    }
    if (keep) {
      TRESOR_RETURN_IF_ERROR(Publish(n));
      ++published;
      continue;
    }
    Status gone = IsBlobName(n) ? client_->Delete(BlobKey(n)) : Status::Ok();
    if (gone.ok()) gone = client_->Delete(mine + n);
    if (gone.ok()) {
      ++removed;
    } else {
      // Unreferenced, so harmless where it is; the next recovery tries again.
      TRESOR_LOG(kError) << "storage recovery: " << gone.ToString() << " (staged " << n << ")";
      ++left;
    }
  }
  if (published || removed || left) {
    TRESOR_LOG(kInfo) << "storage recovery (node " << options_.node << "): published "
                      << published << " committed blob(s), removed " << removed
                      << " unacknowledged one(s)"
                      << (left ? ", could not remove " + std::to_string(left) : std::string());
  }
  return Status::Ok();
}

Status S3BlobStore::List(const std::function<Status(const std::string&, bool staged)>& visit) {
  // Staged: a marker of any node.
  std::set<std::string> staged;
  const std::string staging = options_.prefix + "staging/";
  TRESOR_RETURN_IF_ERROR(client_->List(staging, [&](const S3ObjectInfo& o) {
    size_t slash = o.key.rfind('/');
    std::string n = o.key.substr(slash + 1);
    if (IsBlobName(n)) staged.insert(n);
    return Status::Ok();
  }));
  const std::string blobs = options_.prefix + "blobs/";
  return client_->List(blobs, [&](const S3ObjectInfo& o) {
    std::string n = o.key.substr(blobs.size());
    if (!IsBlobName(n)) return Status::Ok();
    return visit(n, staged.count(n) > 0);
  });
}

}  // namespace tresor::store

// The HTTPS transport end to end in-process: a real listener with a certificate from
// security/tls_material, driven by a small blocking OpenSSL client that writes raw HTTP,
// so malformed and oversized requests can be sent as they are.
#include "web/https_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/fake_clock.h"
#include "security/tls_material.h"
#include "web/json_body.h"

namespace tresor::web {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kToken[] = "the-token";

// A client writing to a connection the server closed must see an error, not die.
const bool kSigpipeIgnored = [] {
  signal(SIGPIPE, SIG_IGN);
  return true;
}();

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower case
  std::string body;
  std::vector<size_t> chunks;  // sizes of the chunks of a chunked body
  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

int ConnectTcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SetReceiveTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// A blocking TLS client that verifies the server against `ca_file` and IP 127.0.0.1.
class Client {
 public:
  ~Client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) close(fd_);
  }

  // Connects and handshakes with a protocol version in [min_version, max_version] (0: any).
  static std::unique_ptr<Client> Connect(int port, const std::string& ca_file,
                                         int min_version = 0, int max_version = 0) {
    auto c = std::unique_ptr<Client>(new Client());
    c->ctx_ = SSL_CTX_new(TLS_client_method());
    if (min_version != 0 && min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(c->ctx_, 0);
    if (min_version) SSL_CTX_set_min_proto_version(c->ctx_, min_version);
    if (max_version) SSL_CTX_set_max_proto_version(c->ctx_, max_version);
    if (max_version && max_version < TLS1_2_VERSION) {
      SSL_CTX_set_cipher_list(c->ctx_, "ALL:@SECLEVEL=0");
    }
    SSL_CTX_load_verify_locations(c->ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
    c->fd_ = ConnectTcp(port);
    if (c->fd_ < 0) return nullptr;
    SetReceiveTimeout(c->fd_, 5s);
    c->ssl_ = SSL_new(c->ctx_);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl_), "127.0.0.1");
    SSL_set_fd(c->ssl_, c->fd_);
    if (SSL_connect(c->ssl_) != 1) {
      ERR_clear_error();
      return nullptr;
    }
    return c;
  }

  int version() const { return SSL_version(ssl_); }
  // Shuts the TCP connection down in both directions (no TLS close_notify).
  void Abort() { shutdown(fd_, SHUT_RDWR); }

  bool Send(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      int n = SSL_write(ssl_, data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one complete response (Content-Length framed; the header only for the response
  // to a HEAD request). False on EOF, error or timeout.
  bool Read(Response* out, bool head_only = false) {
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return false;
    }
    std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    *out = Response();
    if (head.compare(0, 5, "HTTP/") != 0 || head.size() < 12) return false;
    out->status = std::stoi(head.substr(9, 3));
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
      size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos
                                                                        : next - pos - 2);
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        for (char& ch : name) ch = static_cast<char>(tolower(ch));
        size_t v = line.find_first_not_of(' ', colon + 1);
        out->headers[name] = v == std::string::npos ? "" : line.substr(v);
      }
      pos = next;
    }
    if (head_only) return true;
    if (out->Header("transfer-encoding") == "chunked") return ReadChunked(out);
    size_t length = out->headers.count("content-length")
                        ? std::stoul(out->headers["content-length"])
                        : 0;
    while (buffer_.size() < length) {
      if (!Fill()) return false;
    }
    out->body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return true;
  }

  // Reads a chunked body into out->body (chunk sizes recorded in out->chunks).
  bool ReadChunked(Response* out) {
    while (true) {
      size_t eol;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        if (!Fill()) return false;
      }
      size_t size = std::stoul(buffer_.substr(0, eol), nullptr, 16);
      buffer_.erase(0, eol + 2);
      while (buffer_.size() < size + 2) {
        if (!Fill()) return false;
      }
      out->body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
      if (size == 0) return true;
      out->chunks.push_back(size);
    }
  }

  // Reads everything up to the server's close (an HTTP/1.0 body); true on a clean TLS
  // close_notify, false when the connection was cut.
  bool ReadToClose(std::string* out) {
    *out = buffer_;
    buffer_.clear();
    while (true) {
      char buf[16384];
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) {
        out->append(buf, static_cast<size_t>(n));
        continue;
      }
      bool clean = SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
      ERR_clear_error();
      return clean;
    }
  }

  // Sends a request and reads its response.
  Response Roundtrip(const std::string& request) {
    Response r;
    if (!Send(request) || !Read(&r, request.compare(0, 5, "HEAD ") == 0)) r.status = -1;
    return r;
  }

  // True if the server closes the connection within `timeout` (data is discarded).
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      SetReceiveTimeout(fd_, 200ms);
      char buf[4096];
      int n = SSL_read(ssl_, buf, sizeof buf);
      if (n > 0) continue;
      int err = SSL_get_error(ssl_, n);
      ERR_clear_error();
      if (err != SSL_ERROR_WANT_READ) return true;
    }
    return false;
  }

 private:
  Client() = default;
  bool Fill() {
    char buf[16384];
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n <= 0) {
      ERR_clear_error();
      return false;
    }
    buffer_.append(buf, static_cast<size_t>(n));
    return true;
  }

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string buffer_;
};

std::string Get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

void ExpectSecurityHeaders(const Response& r) {
  EXPECT_EQ(r.Header("strict-transport-security"), "max-age=31536000; includeSubDomains")
      << r.status;
  EXPECT_EQ(r.Header("content-security-policy"), "default-src 'self'; frame-ancestors 'none'")
      << r.status;
  EXPECT_EQ(r.Header("x-content-type-options"), "nosniff") << r.status;
  EXPECT_EQ(r.Header("x-frame-options"), "DENY") << r.status;
  EXPECT_EQ(r.Header("referrer-policy"), "no-referrer") << r.status;
  EXPECT_EQ(r.Header("cache-control"), "no-store") << r.status;
}

void ExpectJsonError(const Response& r) {
  EXPECT_EQ(r.Header("content-type"), "application/json") << r.status;
  auto body = ParseJsonBody(r.body);
  ASSERT_TRUE(body.ok()) << r.body;
  EXPECT_TRUE(body->contains("error")) << r.body;
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tresor_https_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto ca = security::CreateCertificateAuthority("Tresor test CA");
    ASSERT_TRUE(ca.ok()) << ca.status().ToString();
    auto server = security::IssueCertificate(*ca, "localhost", true, {"localhost"}, {"127.0.0.1"});
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    ca_file_ = dir_ + "/ca.pem";
    std::ofstream(ca_file_) << ca->certificate_pem;
    std::ofstream(dir_ + "/server.pem") << server->certificate_pem;
    std::ofstream(dir_ + "/server.key") << server->key_pem;
    options_.bind_address = "127.0.0.1";
    options_.port = 0;
    options_.certificate_file = dir_ + "/server.pem";
    options_.private_key_file = dir_ + "/server.key";
  }

  void TearDown() override {
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<Router> MakeRouter() {
    auto router = std::make_unique<Router>(
        [](const std::string& bearer, const std::string& source) -> Result<archive::Principal> {
          if (bearer != kToken) return Status(Code::kUnauthenticated, "bad token");
          return archive::Principal::ForUser("alice", "admin", source, {});
        },
        "test");
    router->Add(Route::Public("GET", "/api/health", "health", [](const HttpRequest&) {
      return HttpResponse::Json(200, R"({"status":"ok"})");
    }));
    router->Add(Route::Authenticated(
        "GET", "/secure", "secure", [](const HttpRequest& r, const archive::Principal& who) {
          return HttpResponse::Json(200, DumpJson({{"user", who.user},
                                                   {"client", r.client_address}}));
        }));
    router->Add(Route::Public("POST", "/echo", "echo", [](const HttpRequest& r) {
      return HttpResponse::Json(200, DumpJson({{"size", r.body.size()}}));
    }));
    Route small = Route::Public("POST", "/small", "small", [](const HttpRequest& r) {
      return HttpResponse::Json(200, DumpJson({{"size", r.body.size()}}));
    });
    small.max_body_bytes = 10;
    router->Add(std::move(small));
    AddStreamedRoutes(*router);
    return router;
  }

  // What the test sinks saw; shared with the server's threads.
  struct Uploads {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<size_t> pieces;   // sizes of the Write() calls
    std::string data;             // what was written (up to 1 MiB)
    uint64_t total = 0;
    int finished = 0;
    int destroyed_unfinished = 0;
    int opened = 0;
    bool gate_open = true;        // false: Write blocks until opened
    bool in_write = false;
  };

  class TestSink : public BodySink {
   public:
    TestSink(std::shared_ptr<Uploads> u, uint64_t fail_after) : u_(std::move(u)), fail_after_(fail_after) {}
    ~TestSink() override {
      std::lock_guard<std::mutex> lock(u_->mu);
      if (!finished_) ++u_->destroyed_unfinished;
      u_->cv.notify_all();
    }
    Status Write(std::string_view piece) override {
      std::unique_lock<std::mutex> lock(u_->mu);
      u_->in_write = true;
      u_->cv.notify_all();
      u_->cv.wait(lock, [&] { return u_->gate_open; });
      u_->in_write = false;
      u_->pieces.push_back(piece.size());
      if (u_->data.size() < (1u << 20)) u_->data.append(piece.substr(0, (1u << 20) - u_->data.size()));
      u_->total += piece.size();
      written_ += piece.size();
      if (fail_after_ != 0 && written_ > fail_after_) {
        return Status(Code::kInvalidArgument, "the test sink refuses this body");
      }
      return Status::Ok();
    }
    HttpResponse Finish() override {
      std::lock_guard<std::mutex> lock(u_->mu);
      finished_ = true;
      ++u_->finished;
      u_->cv.notify_all();
      return HttpResponse::Json(201, DumpJson({{"size", written_}}));
    }

   private:
    std::shared_ptr<Uploads> u_;
    uint64_t fail_after_;
    uint64_t written_ = 0;
    bool finished_ = false;
  };

  // `size` bytes of a repeating pattern, `fail` after `fail_at` bytes (0: never).
  class TestSource : public BodySource {
   public:
    TestSource(uint64_t size, uint64_t fail_at) : size_(size), fail_at_(fail_at) {}
    Result<size_t> Read(char* out, size_t n) override {
      if (fail_at_ != 0 && sent_ >= fail_at_) return Status(Code::kIoError, "the disk went away");
      size_t k = static_cast<size_t>(std::min<uint64_t>(n, size_ - sent_));
      if (fail_at_ != 0) k = static_cast<size_t>(std::min<uint64_t>(k, fail_at_ - sent_));
      for (size_t i = 0; i < k; ++i) out[i] = static_cast<char>('a' + (sent_ + i) % 26);
      sent_ += k;
      return k;
    }

   private:
    uint64_t size_, fail_at_, sent_ = 0;
  };

  void AddStreamedRoutes(Router& router) {
    auto uploads = uploads_;
    auto open = [uploads](uint64_t fail_after) {
      return [uploads, fail_after](const HttpRequest&, const archive::Principal&)
                 -> Result<std::unique_ptr<BodySink>> {
        {
          std::lock_guard<std::mutex> lock(uploads->mu);
          ++uploads->opened;
        }
        return std::unique_ptr<BodySink>(new TestSink(uploads, fail_after));
      };
    };
    router.Add(Route::Streamed("POST", "/upload", "upload", {"application/octet-stream"},
                               uint64_t{1} << 30, open(0)));
    router.Add(Route::Streamed("POST", "/upload_small", "small upload",
                               {"application/octet-stream"}, 100, open(0)));
    router.Add(Route::Streamed("POST", "/upload_fail", "refused upload",
                               {"application/octet-stream"}, 0, open(1000)));
    router.Add(Route::Streamed(
        "POST", "/upload_denied", "denied upload", {"application/octet-stream"}, 0,
        [uploads](const HttpRequest&, const archive::Principal&) -> Result<std::unique_ptr<BodySink>> {
          return Status(Code::kPermissionDenied, "not allowed to store");
        }));
    router.Add(Route::Public("GET", "/stream", "stream", [](const HttpRequest& r) {
      // /stream?<size>[,known][,fail=<n>]
      HttpResponse out;
      out.content_type = "application/octet-stream";
      uint64_t size = std::stoull(r.query);
      uint64_t fail = 0;
      if (auto f = r.query.find("fail="); f != std::string::npos) fail = std::stoull(r.query.substr(f + 5));
      out.stream = std::make_shared<TestSource>(size, fail);
      if (r.query.find("known") != std::string::npos) out.stream_length = size;
      return out;
    }));
  }

  std::string Auth() const { return std::string("Authorization: Bearer ") + kToken + "\r\n"; }

  void StartServer() {
    server_ = std::make_unique<HttpsServer>(MakeRouter(), options_, *clock_);
    Status st = server_->Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_GT(server_->port(), 0);
  }

  std::unique_ptr<Client> Connect(int min_version = 0, int max_version = 0) {
    return Client::Connect(server_->port(), ca_file_, min_version, max_version);
  }

  // The health route answers on a fresh connection: the server is up.
  void ExpectServing() {
    auto c = Connect();
    ASSERT_TRUE(c) << "the server no longer accepts connections";
    EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
  }

  std::string dir_;
  std::string ca_file_;
  WebOptions options_;
  ::tresor::testing::FakeClock fake_clock_;  // tests that decide deadlines point clock_ here
  const core::Clock* clock_ = &core::SystemClock::Instance();
  std::unique_ptr<HttpsServer> server_;
  std::shared_ptr<Uploads> uploads_ = std::make_shared<Uploads>();
};

// Ends a client's connection abruptly (the server sees a reset or EOF mid-request).
template <typename C>
void Cut(C& client) { client.Abort(); }

std::string Pattern(size_t n) {
  std::string s(n, 0);
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST_F(HttpsServerTest, PublicRouteWithSecurityHeaders) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response r = c->Roundtrip(Get("/api/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"ok"})");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("server"), "");
  ExpectSecurityHeaders(r);
}

TEST_F(HttpsServerTest, ErrorsAreJsonWithSecurityHeaders) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response missing = c->Roundtrip(Get("/nope"));
  EXPECT_EQ(missing.status, 404);
  ExpectSecurityHeaders(missing);
  ExpectJsonError(missing);

  Response method = c->Roundtrip(Get("/echo"));
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(method.Header("allow"), "POST");
  ExpectSecurityHeaders(method);
  ExpectJsonError(method);

  Response anonymous = c->Roundtrip(Get("/secure"));
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(anonymous.Header("www-authenticate").rfind("Bearer", 0), 0u);
  ExpectSecurityHeaders(anonymous);
  ExpectJsonError(anonymous);

  Response garbage = c->Roundtrip(Get("/secure", "Authorization: Bearer garbage\r\n"));
  EXPECT_EQ(garbage.status, 401);
  ExpectSecurityHeaders(garbage);
}

TEST_F(HttpsServerTest, AuthenticatedRouteAndKeepAlive) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  for (int i = 0; i < 3; ++i) {
    Response r = c->Roundtrip(Get("/secure", std::string("Authorization: Bearer ") + kToken + "\r\n"));
    ASSERT_EQ(r.status, 200) << i;
    EXPECT_EQ(r.body, R"({"client":"127.0.0.1","user":"alice"})");
    ExpectSecurityHeaders(r);
  }
  Response echo = c->Roundtrip(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(echo.status, 200);
  EXPECT_EQ(echo.body, R"({"size":5})");
}

TEST_F(HttpsServerTest, OneLogLinePerRequestWithoutSecrets) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  ::testing::internal::CaptureStderr();
  Response ok = c->Roundtrip(
      Get("/secure?PatientName=SECRET^NAME&limit=5", std::string("Authorization: Bearer ") + kToken + "\r\n"));
  Response bad = c->Roundtrip(
      "POST /echo?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\npassword=pw");
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(bad.status, 200);
  EXPECT_NE(log.find("HTTPS GET /secure?PatientName&limit 200 client 127.0.0.1 user alice"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("HTTPS POST /echo?x 200 client 127.0.0.1 user -"), std::string::npos) << log;
  EXPECT_EQ(log.find("SECRET"), std::string::npos) << log;
  EXPECT_EQ(log.find(kToken), std::string::npos) << log;
  EXPECT_EQ(log.find("password=pw"), std::string::npos) << log;
}

TEST_F(HttpsServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response r = c->Roundtrip(Get("/api/health", "Connection: close\r\n"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(c->ClosedWithin(3s));
}

TEST_F(HttpsServerTest, DeclaredBodyBeyondLimitIs413BeforeAnyBodyByte) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  // Only the head is sent: the answer must come without waiting for 2 MB.
  Response r = c->Roundtrip(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 2097152\r\n\r\n");
  EXPECT_EQ(r.status, 413);
  ExpectSecurityHeaders(r);
  ExpectJsonError(r);
  EXPECT_EQ(r.Header("connection"), "close");
}

TEST_F(HttpsServerTest, BodyActuallySentBeyondLimitStillGets413) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string body(2u << 20, 'x');
  std::thread sender([&] {
    c->Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body);
  });
  Response r;
  bool read = c->Read(&r);
  sender.join();
  ASSERT_TRUE(read);
  EXPECT_EQ(r.status, 413);
}

TEST_F(HttpsServerTest, RouteBodyLimitAndChunkedBodies) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response ok = c->Roundtrip("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789");
  EXPECT_EQ(ok.status, 200);
  Response over =
      c->Roundtrip("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890");
  EXPECT_EQ(over.status, 413);

  auto c2 = Connect();
  ASSERT_TRUE(c2);
  Response chunked = c2->Roundtrip(
      "POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n");
  EXPECT_EQ(chunked.status, 413);
  ExpectSecurityHeaders(chunked);

  auto c3 = Connect();
  ASSERT_TRUE(c3);
  Response small_chunks = c3->Roundtrip(
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(small_chunks.status, 200);
  EXPECT_EQ(small_chunks.body, R"({"size":5})");
}

TEST_F(HttpsServerTest, ExpectContinue) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      "Content-Length: 4\r\n\r\n"));
  Response interim;
  ASSERT_TRUE(c->Read(&interim));
  EXPECT_EQ(interim.status, 100);
  Response r = c->Roundtrip("abcd");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"size":4})");
}

TEST_F(HttpsServerTest, UnauthenticatedUploadIsRefusedBeforeItsBody) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  // An authenticated route refuses at the head; the body is never awaited.
  Response r = c->Roundtrip("GET /secure HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.Header("connection"), "close");
}

TEST_F(HttpsServerTest, OversizedHeaderIs431) {
  options_.max_header_bytes = 4096;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response r = c->Roundtrip(Get("/api/health", "X-Big: " + std::string(8000, 'a') + "\r\n"));
  EXPECT_EQ(r.status, 431);
  ExpectSecurityHeaders(r);
  ExpectJsonError(r);
}

TEST_F(HttpsServerTest, MalformedRequestsAre400) {
  StartServer();
  for (const std::string& request :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n"),
        std::string("GET /api/health HTTP/1.1\r\n\r\n"),  // no Host
        std::string("GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        std::string("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        std::string("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc")}) {
    auto c = Connect();
    ASSERT_TRUE(c);
    Response r = c->Roundtrip(request);
    EXPECT_EQ(r.status, 400) << request;
    ExpectSecurityHeaders(r);
  }
}

TEST_F(HttpsServerTest, OnlyTls12And13) {
  StartServer();
  auto old = Connect(TLS1_VERSION, TLS1_1_VERSION);
  EXPECT_FALSE(old) << "TLS 1.1 accepted";
  auto v12 = Connect(TLS1_2_VERSION, TLS1_2_VERSION);
  ASSERT_TRUE(v12);
  EXPECT_EQ(v12->version(), TLS1_2_VERSION);
  EXPECT_EQ(v12->Roundtrip(Get("/api/health")).status, 200);
  auto v13 = Connect(TLS1_3_VERSION, TLS1_3_VERSION);
  ASSERT_TRUE(v13);
  EXPECT_EQ(v13->version(), TLS1_3_VERSION);
  EXPECT_EQ(v13->Roundtrip(Get("/api/health")).status, 200);
}

TEST_F(HttpsServerTest, PlainHttpGetsNoHttpResponse) {
  StartServer();
  int fd = ConnectTcp(server_->port());
  ASSERT_GE(fd, 0);
  SetReceiveTimeout(fd, 3s);
  std::string request = Get("/api/health");
  ASSERT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_EQ(got.find("HTTP/"), std::string::npos) << got;
  ExpectServing();
}

TEST_F(HttpsServerTest, ConnectionCap) {
  options_.max_connections = 2;
  StartServer();
  auto a = Connect();
  auto b = Connect();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_FALSE(Connect()) << "a third connection was served";
  EXPECT_EQ(a->Roundtrip(Get("/api/health")).status, 200);
  b.reset();  // frees a slot once the server notices
  std::unique_ptr<Client> c;
  for (int i = 0; i < 50 && !c; ++i) {
    std::this_thread::sleep_for(50ms);
    c = Connect();
  }
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
}

// The deadlines are decided on the clock: with a fake one, a connection lives exactly as
// long as the clock says, however long the test really takes.
TEST_F(HttpsServerTest, IdleDeadlineIsDecidedOnTheClock) {
  clock_ = &fake_clock_;
  options_.idle_timeout_seconds = 5;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
  fake_clock_.AdvanceSeconds(4);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200) << "4 s idle of 5: still open";
  fake_clock_.AdvanceSeconds(4);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200) << "each request restarts the idle time";
  fake_clock_.AdvanceSeconds(5);
  EXPECT_TRUE(c->ClosedWithin(30s)) << "5 s idle: closed";
  ExpectServing();
}

TEST_F(HttpsServerTest, ReadDeadlineIsDecidedOnTheClock) {
  clock_ = &fake_clock_;
  options_.read_timeout_seconds = 5;
  options_.idle_timeout_seconds = 600;
  StartServer();
  auto slow = Connect();
  ASSERT_TRUE(slow);
  ASSERT_TRUE(slow->Send("GET /api/health HTTP/1.1\r\n"));
  fake_clock_.AdvanceSeconds(4);
  Response r = slow->Roundtrip("Host: x\r\n\r\n");
  EXPECT_EQ(r.status, 200) << "finished 4 s after its first byte, within the read timeout";

  auto stalled = Connect();
  ASSERT_TRUE(stalled);
  ASSERT_TRUE(stalled->Send("GET /api/health HTTP/1.1\r\nHost: x\r\n"));  // never finished
  fake_clock_.AdvanceSeconds(5);
  EXPECT_TRUE(stalled->ClosedWithin(30s)) << "an unfinished request ends at the read timeout";
  EXPECT_EQ(slow->Roundtrip(Get("/api/health")).status, 200)
      << "a kept-alive connection waits for the idle timeout, not the read timeout";
  ExpectServing();
}

// Real-time smoke checks: the watchdog really runs on the system clock. The verdict is
// "was closed" (within a generous bound), not how fast.
TEST_F(HttpsServerTest, IdleKeepAliveConnectionIsClosed) {
  options_.idle_timeout_seconds = 1;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
  EXPECT_TRUE(c->ClosedWithin(30s));
  ExpectServing();
}

TEST_F(HttpsServerTest, SlowRequestAndSilentHandshakeTimeOut) {
  options_.read_timeout_seconds = 1;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("GET /api/health HTTP/1.1\r\nHost: x\r\n"));  // never finished
  EXPECT_TRUE(c->ClosedWithin(30s));

  int fd = ConnectTcp(server_->port());  // TCP only, no ClientHello
  ASSERT_GE(fd, 0);
  SetReceiveTimeout(fd, 30s);
  char byte;
  ssize_t n = read(fd, &byte, 1);
  EXPECT_TRUE(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      << "the silent handshake was not ended (read " << n << ")";
  close(fd);
  ExpectServing();
}

TEST_F(HttpsServerTest, ConcurrentClients) {
  StartServer();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto c = Connect();
      if (!c) return;
      for (int i = 0; i < 20; ++i) {
        if (c->Roundtrip(Get("/secure", std::string("Authorization: Bearer ") + kToken + "\r\n"))
                .status == 200) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 160);
}

TEST_F(HttpsServerTest, StopClosesConnectionsAndIsIdempotent) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
  int port = server_->port();
  server_->Stop();
  EXPECT_TRUE(c->ClosedWithin(2s));
  server_->Stop();
  EXPECT_EQ(server_->port(), -1);
  EXPECT_FALSE(Client::Connect(port, ca_file_));
}

TEST_F(HttpsServerTest, StartFailures) {
  StartServer();
  EXPECT_EQ(server_->Start().code(), Code::kInternal);

  WebOptions missing = options_;
  missing.certificate_file = dir_ + "/nonexistent.pem";
  HttpsServer no_cert(MakeRouter(), missing, *clock_);
  EXPECT_EQ(no_cert.Start().code(), Code::kInvalidArgument);

  WebOptions taken = options_;
  taken.port = server_->port();
  HttpsServer busy(MakeRouter(), taken, *clock_);
  EXPECT_EQ(busy.Start().code(), Code::kIoError);
}

TEST_F(HttpsServerTest, DestructorStopsWithOpenConnections) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("GET /api/health HTTP/1.1\r\n"));  // a request in progress
  server_.reset();
  EXPECT_TRUE(c->ClosedWithin(2s));
}


// --- Streamed request bodies ---

TEST_F(HttpsServerTest, StreamedUploadWithContentLengthArrivesInPieces) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  // 3 MiB: beyond the server's 1 MiB limit for bodies read whole, within the route's.
  std::string body = Pattern(3u << 20);
  std::thread sender([&] {
    c->Send("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
            "Content-Type: application/octet-stream\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body);
  });
  Response r;
  bool read = c->Read(&r);
  sender.join();
  ASSERT_TRUE(read);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.body, R"({"size":3145728})");
  ExpectSecurityHeaders(r);
  std::lock_guard<std::mutex> lock(uploads_->mu);
  EXPECT_EQ(uploads_->total, body.size());
  EXPECT_EQ(uploads_->data, body.substr(0, 1u << 20));
  EXPECT_GT(uploads_->pieces.size(), 3u);
  for (size_t piece : uploads_->pieces) EXPECT_LE(piece, 64u * 1024);
  EXPECT_EQ(uploads_->finished, 1);
  // Keep-alive after a streamed upload.
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
}

TEST_F(HttpsServerTest, StreamedUploadChunkedIsDechunked) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response r = c->Roundtrip("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
                            "Transfer-Encoding: chunked\r\n\r\n"
                            "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"size":11})");
  std::lock_guard<std::mutex> lock(uploads_->mu);
  EXPECT_EQ(uploads_->data, "hello world");
}

TEST_F(HttpsServerTest, StreamedUploadEmptyBodyAndExpectContinue) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response empty = c->Roundtrip("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
                                "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(empty.status, 201);
  EXPECT_EQ(empty.body, R"({"size":0})");

  ASSERT_TRUE(c->Send("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
                      "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  Response interim;
  ASSERT_TRUE(c->Read(&interim));
  EXPECT_EQ(interim.status, 100);
  Response r = c->Roundtrip("abcd");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"size":4})");
}

TEST_F(HttpsServerTest, StreamedUploadLimits) {
  StartServer();
  {
    auto c = Connect();
    ASSERT_TRUE(c);
    // Declared beyond the route's limit: 413 from the head alone, no sink opened.
    Response r = c->Roundtrip("POST /upload_small HTTP/1.1\r\nHost: x\r\n" + Auth() +
                              "Content-Length: 101\r\n\r\n");
    EXPECT_EQ(r.status, 413);
    ExpectJsonError(r);
    ExpectSecurityHeaders(r);
  }
  {
    auto c = Connect();
    ASSERT_TRUE(c);
    // Declared beyond every limit (the route's 1 GiB): refused by the parser at once.
    Response r = c->Roundtrip("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
                              "Content-Length: 100000000000\r\n\r\n");
    EXPECT_EQ(r.status, 413);
  }
  {
    auto c = Connect();
    ASSERT_TRUE(c);
    // A chunked stream passing the limit is cut with 413.
    Response r = c->Roundtrip("POST /upload_small HTTP/1.1\r\nHost: x\r\n" + Auth() +
                              "Transfer-Encoding: chunked\r\n\r\n"
                              "40\r\n" + std::string(64, 'a') + "\r\n"
                              "40\r\n" + std::string(64, 'b') + "\r\n0\r\n\r\n");
    EXPECT_EQ(r.status, 413);
    EXPECT_EQ(r.Header("connection"), "close");
  }
  {
    std::lock_guard<std::mutex> lock(uploads_->mu);
    EXPECT_EQ(uploads_->opened, 1) << "only the chunked stream opened a sink";
    EXPECT_EQ(uploads_->finished, 0);
    EXPECT_LE(uploads_->total, 100u);
  }
  // The sink of the cut stream is destroyed without Finish (on a worker).
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard<std::mutex> lock(uploads_->mu);
      if (uploads_->destroyed_unfinished == 1) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  {
    std::lock_guard<std::mutex> lock(uploads_->mu);
    EXPECT_EQ(uploads_->destroyed_unfinished, 1);
  }
  ExpectServing();
}

TEST_F(HttpsServerTest, StreamedUploadRefusals) {
  StartServer();
  {
    auto c = Connect();
    ASSERT_TRUE(c);
    Response r = c->Roundtrip("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
    EXPECT_EQ(r.status, 401) << "no credentials: refused at the head";
  }
  {
    auto c = Connect();
    ASSERT_TRUE(c);
    Response r = c->Roundtrip("POST /upload_denied HTTP/1.1\r\nHost: x\r\n" + Auth() +
                              "Expect: 100-continue\r\nContent-Length: 500000\r\n\r\n");
    EXPECT_EQ(r.status, 403) << "the handler refused before any body byte (no 100 first)";
    ExpectJsonError(r);
  }
  {
    auto c = Connect();
    ASSERT_TRUE(c);
    std::string body = Pattern(200000);
    std::thread sender([&] {
      c->Send("POST /upload_fail HTTP/1.1\r\nHost: x\r\n" + Auth() + "Content-Length: " +
              std::to_string(body.size()) + "\r\n\r\n" + body);
    });
    Response r;
    bool read = c->Read(&r);
    sender.join();
    ASSERT_TRUE(read);
    EXPECT_EQ(r.status, 400) << "a Write error becomes its status";
    EXPECT_EQ(r.Header("connection"), "close");
  }
  ExpectServing();
}

TEST_F(HttpsServerTest, StreamedUploadBackpressureAndDisconnect) {
  StartServer();
  {
    std::lock_guard<std::mutex> lock(uploads_->mu);
    uploads_->gate_open = false;
  }
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string body = Pattern(48u << 20);
  std::atomic<bool> sent_all{false};
  std::thread sender([&] {
    if (c->Send("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() + "Content-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body)) {
      sent_all = true;
    }
  });
  {
    std::unique_lock<std::mutex> lock(uploads_->mu);
    ASSERT_TRUE(uploads_->cv.wait_for(lock, 30s, [&] { return uploads_->in_write; }));
  }
  // While the first Write blocks the server reads nothing more: the client cannot finish
  // its 48 MiB (socket buffers hold a few MiB at most).
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(sent_all.load()) << "the server kept reading while its sink was busy";
  {
    std::lock_guard<std::mutex> lock(uploads_->mu);
    EXPECT_EQ(uploads_->total, 0u);
  }
  // The client goes away mid-upload: the sink is destroyed without Finish.
  Cut(*c);
  {
    std::lock_guard<std::mutex> lock(uploads_->mu);
    uploads_->gate_open = true;
    uploads_->cv.notify_all();
  }
  sender.join();
  {
    std::unique_lock<std::mutex> lock(uploads_->mu);
    ASSERT_TRUE(uploads_->cv.wait_for(lock, 30s, [&] { return uploads_->destroyed_unfinished == 1; }));
    EXPECT_EQ(uploads_->finished, 0);
    EXPECT_LT(uploads_->total, body.size());
  }
  ExpectServing();
}

// A long upload is not cut by a whole-request deadline: each piece must come within
// read_timeout of the previous one.
TEST_F(HttpsServerTest, StreamedUploadHasAProgressDeadline) {
  clock_ = &fake_clock_;
  options_.read_timeout_seconds = 5;
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
                      "Transfer-Encoding: chunked\r\n\r\n"));
  // 48 KiB chunks: each is handed to the sink as one piece, so the test sees it read.
  const std::string chunk = "c000\r\n" + std::string(49152, 'a') + "\r\n";
  for (int i = 0; i < 4; ++i) {
    // Wait until the previous piece was written, then let 4 s pass before the next.
    for (int k = 0; k < 500; ++k) {
      {
        std::lock_guard<std::mutex> lock(uploads_->mu);
        if (uploads_->pieces.size() == static_cast<size_t>(i)) break;
      }
      std::this_thread::sleep_for(10ms);
    }
    fake_clock_.AdvanceSeconds(4);
    ASSERT_TRUE(c->Send(chunk)) << i;
  }
  Response r = c->Roundtrip("0\r\n\r\n");
  EXPECT_EQ(r.status, 201) << "16 s in total, never 5 s without progress";
  EXPECT_EQ(r.body, "{\"size\":" + std::to_string(4 * 49152) + "}");

  auto stalled = Connect();
  ASSERT_TRUE(stalled);
  ASSERT_TRUE(stalled->Send("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
                            "Transfer-Encoding: chunked\r\n\r\n" + chunk));
  for (int k = 0; k < 500; ++k) {
    {
      std::lock_guard<std::mutex> lock(uploads_->mu);
      if (uploads_->pieces.size() == 5) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  fake_clock_.AdvanceSeconds(5);
  EXPECT_TRUE(stalled->ClosedWithin(30s)) << "5 s without a piece: closed";
  ExpectServing();
}


long RssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// 128 MiB through a streamed route, chunked, from a client that itself holds 1 MiB: the
// process (client and server) grows by far less than the body.
TEST_F(HttpsServerTest, StreamedUploadMemoryStaysBounded) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  long before = RssKb();
  ASSERT_GT(before, 0);
  std::atomic<long> peak{before};
  std::atomic<bool> sending{true};
  std::thread sampler([&] {
    while (sending) {
      long now = RssKb();
      if (now > peak) peak = now;
      std::this_thread::sleep_for(5ms);
    }
  });
  std::string piece = Pattern(1u << 20);
  char size_line[32];
  snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
  bool sent = c->Send("POST /upload HTTP/1.1\r\nHost: x\r\n" + Auth() +
                      "Transfer-Encoding: chunked\r\n\r\n");
  const int kPieces = 128;
  for (int i = 0; i < kPieces && sent; ++i) {
    sent = c->Send(size_line) && c->Send(piece) && c->Send("\r\n");
  }
  Response r = c->Roundtrip("0\r\n\r\n");
  sending = false;
  sampler.join();
  ASSERT_TRUE(sent);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"size\":" + std::to_string(uint64_t{kPieces} << 20) + "}");
  long growth_mb = (peak - before) / 1024;
  std::printf("streamed upload of %d MiB: peak RSS growth %ld MiB\n", kPieces, growth_mb);
  EXPECT_LT(growth_mb, 32) << "the body was buffered";
}

// --- Streamed responses ---

TEST_F(HttpsServerTest, StreamedResponseWithKnownLength) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response r = c->Roundtrip(Get("/stream?1000000,known"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-length"), "1000000");
  EXPECT_EQ(r.Header("transfer-encoding"), "");
  EXPECT_EQ(r.body, Pattern(1000000));
  ExpectSecurityHeaders(r);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200) << "kept alive";
}

TEST_F(HttpsServerTest, HeadSendsTheGetHeaderWithoutBody) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response whole = c->Roundtrip("HEAD /api/health HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.Header("content-length"),
            std::to_string(c->Roundtrip(Get("/api/health")).body.size()))
      << "the length of the GET body, after which the connection carries the next response";
  ExpectSecurityHeaders(whole);
  Response streamed = c->Roundtrip("HEAD /stream?1000000,known HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(streamed.status, 200);
  EXPECT_EQ(streamed.Header("content-length"), "1000000");
  EXPECT_EQ(streamed.Header("transfer-encoding"), "");
  Response unknown = c->Roundtrip("HEAD /stream?300000 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(unknown.status, 200);
  EXPECT_EQ(unknown.Header("transfer-encoding"), "") << "no body, so no chunked coding";
  Response after = c->Roundtrip(Get("/api/health"));
  EXPECT_EQ(after.status, 200) << "kept alive with no stray body bytes";
  EXPECT_EQ(after.body, c->Roundtrip(Get("/api/health")).body);
  Response anonymous = c->Roundtrip("HEAD /secure HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200) << "still framed after an error";
}

TEST_F(HttpsServerTest, StreamedResponseChunkedWhenLengthUnknown) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response r = c->Roundtrip(Get("/stream?300000"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  EXPECT_EQ(r.body, Pattern(300000));
  EXPECT_GE(r.chunks.size(), 5u) << "sent piece by piece";
  for (size_t chunk : r.chunks) EXPECT_LE(chunk, 64u * 1024);
  ExpectSecurityHeaders(r);
  Response empty = c->Roundtrip(Get("/stream?0"));
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "");
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200) << "kept alive";
}

TEST_F(HttpsServerTest, StreamedResponseToHttp10IsCloseDelimited) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->Send("GET /stream?100000 HTTP/1.0\r\n\r\n"));
  std::string all;
  EXPECT_TRUE(c->ReadToClose(&all));
  size_t end = all.find("\r\n\r\n");
  ASSERT_NE(end, std::string::npos);
  std::string head = all.substr(0, end);
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_EQ(all.substr(end + 4), Pattern(100000));
}

TEST_F(HttpsServerTest, StreamedResponseErrorCutsTheConnection) {
  StartServer();
  for (const char* target : {"/stream?500000,fail=200000", "/stream?500000,known,fail=200000"}) {
    auto c = Connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->Send(Get(target)));
    std::string all;
    EXPECT_FALSE(c->ReadToClose(&all)) << target << ": cut, no clean close";
    EXPECT_EQ(all.rfind("HTTP/1.1 200", 0), 0u) << target;
    EXPECT_EQ(all.find("0\r\n\r\n", all.size() - 5), std::string::npos)
        << target << ": no final chunk";
    EXPECT_LT(all.size(), 500000u) << target;
  }
  ExpectServing();
}

// --- Connections cannot be starved ---

TEST_F(HttpsServerTest, HandshakeDeadlineIsDecidedOnTheClock) {
  clock_ = &fake_clock_;
  options_.handshake_timeout_seconds = 3;
  options_.read_timeout_seconds = 600;
  StartServer();
  int fd = ConnectTcp(server_->port());  // TCP only, no ClientHello
  ASSERT_GE(fd, 0);
  // A request on a later connection: the server has accepted the silent one by then.
  ExpectServing();
  // Still open after 2 s of the 3.
  fake_clock_.AdvanceSeconds(2);
  ExpectServing();
  fake_clock_.AdvanceSeconds(1);
  SetReceiveTimeout(fd, 30s);
  char byte;
  ssize_t n = read(fd, &byte, 1);
  EXPECT_TRUE(n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
      << "the silent connection outlived the handshake deadline (read " << n << ")";
  close(fd);

  // The handshake deadline is not the read timeout: after the handshake the first
  // request may take longer than 3 s.
  auto c = Connect();
  ASSERT_TRUE(c);
  fake_clock_.AdvanceSeconds(10);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
}

TEST_F(HttpsServerTest, PerAddressConnectionCap) {
  options_.max_connections_per_address = 3;
  StartServer();
  std::vector<int> silent;
  for (int i = 0; i < 3; ++i) {
    int fd = ConnectTcp(server_->port());
    ASSERT_GE(fd, 0);
    silent.push_back(fd);
  }
  // A fourth connection from 127.0.0.1 is closed at accept ...
  EXPECT_FALSE(Connect()) << "beyond the per-address cap";
  // ... while another address still gets served.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(server_->port()));
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_load_verify_locations(ctx, ca_file_.c_str(), nullptr);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SetReceiveTimeout(fd, 5s);
  ASSERT_EQ(SSL_connect(ssl), 1);
  std::string request = Get("/secure", Auth());
  ASSERT_EQ(SSL_write(ssl, request.data(), static_cast<int>(request.size())),
            static_cast<int>(request.size()));
  char buf[4096];
  int n = SSL_read(ssl, buf, sizeof buf);
  ASSERT_GT(n, 0);
  std::string got(buf, static_cast<size_t>(n));
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got;
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  close(fd);
  // Freeing a slot of 127.0.0.1 lets it in again.
  close(silent.back());
  silent.pop_back();
  std::unique_ptr<Client> again;
  for (int i = 0; i < 50 && !again; ++i) {
    std::this_thread::sleep_for(50ms);
    again = Connect();
  }
  ASSERT_TRUE(again);
  EXPECT_EQ(again->Roundtrip(Get("/api/health")).status, 200);
  for (int s : silent) close(s);
}

// --- CORS ---

TEST_F(HttpsServerTest, CorsOnlyForConfiguredOrigins) {
  options_.cors_origins = {"https://viewer.example"};
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response granted = c->Roundtrip(Get("/secure", Auth() + "Origin: https://viewer.example\r\n"));
  EXPECT_EQ(granted.status, 200);
  EXPECT_EQ(granted.Header("access-control-allow-origin"), "https://viewer.example");
  EXPECT_EQ(granted.Header("access-control-allow-credentials"), "true");
  EXPECT_NE(granted.Header("access-control-expose-headers").find("WWW-Authenticate"),
            std::string::npos);
  EXPECT_EQ(granted.Header("vary"), "Origin");

  Response other = c->Roundtrip(Get("/secure", Auth() + "Origin: https://evil.example\r\n"));
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.Header("access-control-allow-origin"), "");
  EXPECT_EQ(other.Header("access-control-allow-credentials"), "");
  EXPECT_EQ(other.Header("vary"), "Origin");

  // Errors carry the grant too (a browser can then read the 401).
  Response error = c->Roundtrip(Get("/secure", "Origin: https://viewer.example\r\n"));
  EXPECT_EQ(error.status, 401);
  EXPECT_EQ(error.Header("access-control-allow-origin"), "https://viewer.example");

  // Preflight: before authentication, the path's methods, the request headers.
  Response preflight = c->Roundtrip(
      "OPTIONS /secure HTTP/1.1\r\nHost: x\r\nOrigin: https://viewer.example\r\n"
      "Access-Control-Request-Method: GET\r\n"
      "Access-Control-Request-Headers: authorization, accept\r\n\r\n");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(preflight.Header("access-control-allow-origin"), "https://viewer.example");
  EXPECT_EQ(preflight.Header("access-control-allow-methods"), "GET, HEAD, OPTIONS");
  std::string allowed = preflight.Header("access-control-allow-headers");
  for (const char* h : {"Accept", "Authorization", "Content-Type", "X-CSRF-Token"}) {
    EXPECT_NE(allowed.find(h), std::string::npos) << h;
  }
  ExpectSecurityHeaders(preflight);

  Response refused = c->Roundtrip(
      "OPTIONS /secure HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\n"
      "Access-Control-Request-Method: GET\r\n\r\n");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.Header("access-control-allow-origin"), "");
  EXPECT_EQ(refused.Header("access-control-allow-methods"), "");

  Response plain = c->Roundtrip("OPTIONS /echo HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(plain.status, 204);
  EXPECT_EQ(plain.Header("allow"), "POST, OPTIONS");
  Response unrouted = c->Roundtrip(
      "OPTIONS /nope HTTP/1.1\r\nHost: x\r\nOrigin: https://viewer.example\r\n"
      "Access-Control-Request-Method: GET\r\n\r\n");
  EXPECT_EQ(unrouted.status, 404);
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
}

TEST_F(HttpsServerTest, NoCorsWithoutConfiguredOrigins) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  Response r = c->Roundtrip(Get("/secure", Auth() + "Origin: https://viewer.example\r\n"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("access-control-allow-origin"), "");
  EXPECT_EQ(r.Header("vary"), "");
  Response preflight = c->Roundtrip(
      "OPTIONS /secure HTTP/1.1\r\nHost: x\r\nOrigin: https://viewer.example\r\n"
      "Access-Control-Request-Method: GET\r\n\r\n");
  EXPECT_EQ(preflight.status, 403);
  EXPECT_EQ(preflight.Header("access-control-allow-origin"), "");
  EXPECT_EQ(c->Roundtrip(Get("/api/health")).status, 200);
}

TEST_F(HttpsServerTest, SessionCookieAndCsrf) {
  StartServer();
  auto c = Connect();
  ASSERT_TRUE(c);
  std::string cookie = std::string("Cookie: other=1; ") + kSessionCookie + "=" + kToken + "\r\n";
  Response read = c->Roundtrip(Get("/secure", cookie));
  EXPECT_EQ(read.status, 200) << "a GET with the cookie needs no CSRF token";
  Response no_csrf = c->Roundtrip("POST /upload HTTP/1.1\r\nHost: x\r\n" + cookie +
                                  "Content-Length: 3\r\n\r\nabc");
  EXPECT_EQ(no_csrf.status, 403);
  ExpectJsonError(no_csrf);
  auto c2 = Connect();
  ASSERT_TRUE(c2);
  Response wrong = c2->Roundtrip("POST /upload HTTP/1.1\r\nHost: x\r\n" + cookie +
                                 "X-CSRF-Token: " + CsrfTokenFor("another") +
                                 "\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(wrong.status, 403);
  auto c3 = Connect();
  ASSERT_TRUE(c3);
  Response ok = c3->Roundtrip("POST /upload HTTP/1.1\r\nHost: x\r\n" + cookie +
                              "X-CSRF-Token: " + CsrfTokenFor(kToken) +
                              "\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(ok.status, 201);
}

}  // namespace
}  // namespace tresor::web

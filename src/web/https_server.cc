#include "web/https_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "core/log.h"
#include "web/error_mapping.h"
#include "security/tls_policy.h"

namespace tresor::web {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Sent with every response, errors included. A handler may replace the two marked
// overridable (a page's own CSP, caching of static files); the others always hold.
constexpr std::pair<const char*, const char*> kSecurityHeaders[] = {
    {"Strict-Transport-Security", "max-age=31536000; includeSubDomains"},
    {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
};
constexpr const char* kOverridableHeaders[] = {"Content-Security-Policy", "Cache-Control"};

bool IsOverridable(std::string_view name) {
  for (const char* o : kOverridableHeaders) {
    if (EqualsIgnoreCase(name, o)) return true;
  }
  return false;
}

bool IsSecurityHeader(std::string_view name) {
  for (const auto& [n, v] : kSecurityHeaders) {
    if (EqualsIgnoreCase(name, n)) return true;
  }
  return false;
}

bool HasHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return true;
  }
  return false;
}

// After refusing a request whose rest is still arriving, read and discard at most this
// much for at most this long before closing, so the client sees the response instead of
// a connection reset.
constexpr size_t kMaxDrainBytes = 4u << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr auto kShutdownTime = std::chrono::seconds(5);

using security::OpenSslError;

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

// Chooses HTTP/1.1 when the client offers ALPN; no other protocol is spoken.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
               unsigned int in_len, void*) {
  static const unsigned char kProtocols[] = "\x08http/1.1";
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kProtocols, sizeof kProtocols - 1, in, in_len) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// TLS 1.2/1.3, the BCP 195 suites of DICOM TLS (dimse/tls.cc), no client certificate.
Status ConfigureTls(ssl::context& context, const WebOptions& options) {
  SSL_CTX* ctx = context.native_handle();
  TRESOR_RETURN_IF_ERROR(
      security::ApplyServerTlsPolicy(ctx, options.certificate_file, options.private_key_file));
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_alpn_select_cb(ctx, SelectAlpn, nullptr);
  return Status::Ok();
}

// Owned by the server; shared with the listener and every session, which all end before
// the server's Stop() returns.
struct Shared {
  WebOptions options;
  const core::Clock* clock = nullptr;  // connection deadlines; outlives the server
  std::unique_ptr<Router> router;
  std::optional<ssl::context> tls;
  std::optional<net::thread_pool> workers;
  std::atomic<int> connections{0};
  // The limit the header parser applies to a declared Content-Length: the largest any
  // route accepts (streamed routes may exceed the server's); OnDecided applies the route's.
  uint64_t header_body_limit = 0;
  // Open connections per client address, counted at accept.
  std::mutex address_mutex;
  std::unordered_map<std::string, int> per_address;

  bool AllowedOrigin(std::string_view origin) const {
    if (origin.empty()) return false;
    for (const std::string& o : options.cors_origins) {
      if (o == origin) return true;
    }
    return false;
  }
  void Release(const std::string& address) {
    std::lock_guard<std::mutex> lock(address_mutex);
    auto it = per_address.find(address);
    if (it != per_address.end() && --it->second <= 0) per_address.erase(it);
  }
};

// The size of one piece of a streamed body, either way.
constexpr size_t kPieceBytes = 64 * 1024;
// A request piece goes to the sink once it holds this much (or the body ended).
constexpr size_t kDispatchBytes = 48 * 1024;

bool IsHttpParseError(const beast::error_code& ec) {
  return &ec.category() == &http::make_error_code(http::error::bad_target).category();
}

// One TLS connection: handshake, then requests one at a time (keep-alive) until the
// client closes, a timeout passes, or an error ends it. All members are touched only on
// the connection's strand, or by the one worker task running while no I/O is pending
// (worker_busy_ tells the watchdog so; the worker touches only the sink/source and
// piece_).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<Shared> shared, std::string client)
      : stream_(std::move(socket), *shared->tls),
        shared_(shared),
        client_(std::move(client)),
        watchdog_(stream_.get_executor()),
        deadline_(*shared->clock,
                  std::chrono::seconds(shared->options.handshake_timeout_seconds)) {}
  ~Session() {
    shared_->connections.fetch_sub(1);
    shared_->Release(client_);
  }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::Handshake, shared_from_this()));
  }

 private:
  const WebOptions& options() const { return shared_->options; }
  beast::tcp_stream& Socket() { return beast::get_lowest_layer(stream_); }
  std::chrono::seconds ReadTimeout() const {
    return std::chrono::seconds(options().read_timeout_seconds);
  }

  // Moves the connection's deadline to `timeout` from now. Once it has expired (decided
  // on the clock) the watchdog closes the socket, which ends every pending operation.
  void Expire(std::chrono::milliseconds timeout) {
    deadline_.Restart(timeout);
    if (!watching_) Watch();
  }
  // Wakes up when the deadline may have passed, at the latest after a second, and checks.
  // Holds the session only weakly: a finished session is destroyed, cancelling the wait.
  // While a worker runs for the connection nothing is awaited from the client: no expiry.
  void Watch() {
    watching_ = true;
    watchdog_.expires_after(std::clamp<std::chrono::milliseconds>(
        deadline_.Remaining(), std::chrono::milliseconds(1), std::chrono::seconds(1)));
    watchdog_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      if (self->worker_busy_ || !self->deadline_.Expired()) return self->Watch();
      self->watching_ = false;
      TRESOR_LOG(kDebug) << "HTTPS connection from " << self->client_ << " timed out";
      self->Cut();
    });
  }

  // Ends the connection at once, without a TLS close_notify (a truncated response must
  // not look complete).
  void Cut() {
    beast::error_code ignored;
    Socket().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Socket().socket().close(ignored);
  }

  // Runs `work` on a worker, then `done(result)` back on the connection's strand. The
  // deadline is suspended meanwhile.
  template <typename Work, typename Done>
  void OnWorker(Work work, Done done) {
    worker_busy_ = true;
    net::post(*shared_->workers, [self = shared_from_this(), work = std::move(work),
                                  done = std::move(done)]() mutable {
      auto result = work();
      net::post(self->stream_.get_executor(), [self, result = std::move(result),
                                               done = std::move(done)]() mutable {
        self->worker_busy_ = false;
        done(std::move(result));
      });
    });
  }

  // Deadlines: the handshake within handshake_timeout of accept; the first request's
  // header within read_timeout of accept; a request's body (and its handling)
  // within read_timeout of its header, or for a streamed body each piece within
  // read_timeout of the previous one; the next request's header within idle_timeout of
  // the previous response, or the response itself within read_timeout when the
  // connection closes after it. Each is set before the client can see the event it
  // follows, so a test on a fake clock knows it.
  void Handshake() {
    connected_at_ = shared_->clock->MonotonicNow();
    Expire(std::chrono::seconds(options().handshake_timeout_seconds));
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      TRESOR_LOG(kDebug) << "HTTPS handshake with " << client_ << " failed: " << ec.message();
      return;
    }
    // Counted from the connection (known before the client could send anything), not
    // from the end of the handshake.
    auto since = std::chrono::duration_cast<std::chrono::milliseconds>(
        shared_->clock->MonotonicNow() - connected_at_);
    Expire(std::max(std::chrono::milliseconds(0),
                    std::chrono::milliseconds(ReadTimeout()) - since));
    ReadHeader();
  }

  void ReadHeader() {
    header_parser_.emplace();
    header_parser_->header_limit(options().max_header_bytes);
    header_parser_->body_limit(shared_->header_body_limit);
    body_parser_.reset();
    stream_parser_.reset();
    piece_fill_ = 0;
    request_ = HttpRequest{};
    log_method_ = "-";
    log_target_ = "-";
    origin_.clear();
    user_.clear();
    version_ = 11;
    keep_alive_ = false;
    http::async_read_header(stream_, buffer_, *header_parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  // Handles a failed read: answers what deserves an answer, else just closes. A sink
  // being fed is destroyed without Finish().
  void OnReadError(beast::error_code ec) {
    DiscardSink();
    if (ec == http::error::header_limit) {
      Refuse(431, "request header fields too large");
    } else if (ec == http::error::body_limit) {
      Refuse(413, "request body too large");
    } else if (IsHttpParseError(ec) && ec != http::error::end_of_stream &&
               ec != http::error::partial_message) {
      Refuse(400, "malformed HTTP request");
    } else {
      TRESOR_LOG(kDebug) << "HTTPS connection from " << client_ << " closed: " << ec.message();
    }
  }

  bool BodyDone() const {
    if (stream_parser_) return stream_parser_->is_done();
    if (body_parser_) return body_parser_->is_done();
    return header_parser_->is_done();
  }

  void OnHeader(beast::error_code ec, size_t) {
    started_ = Clock::now();
    if (ec) return OnReadError(ec);
    // The whole request (its body included) must arrive within the read timeout.
    Expire(ReadTimeout());
    auto& head = header_parser_->get();
    version_ = head.version();
    keep_alive_ = head.keep_alive();
    request_.method = std::string(View(head.method_string()));
    head_only_ = request_.method == "HEAD";
    std::string_view target = View(head.target());
    size_t question = target.find('?');
    request_.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request_.query = std::string(target.substr(question + 1));
    for (const auto& field : head) {
      request_.headers.emplace_back(std::string(View(field.name_string())),
                                    std::string(View(field.value())));
    }
    request_.client_address = client_;
    origin_ = std::string(request_.Header("Origin"));
    log_method_ = TargetForLog(request_.method, "");
    log_target_ = TargetForLog(request_.path, request_.query);
    if (request_.path.empty() || request_.path.front() != '/') {
      return Refuse(400, "the request target must be an absolute path");
    }
    if (version_ >= 11 && head.find(http::field::host) == head.end()) {
      return Refuse(400, "missing Host header");
    }
    // RFC 7230 3.3.3: a request whose transfer coding does not end in chunked has no
    // determinable length.
    if (head.find(http::field::transfer_encoding) != head.end() && !head.chunked()) {
      return Refuse(400, "unsupported transfer coding");
    }
    if (request_.method == "OPTIONS") return Send(Options(), /*close=*/!BodyDone());
    net::post(*shared_->workers, [self = shared_from_this()] {
      Router::Decision decision = self->shared_->router->Decide(self->request_);
      net::post(self->stream_.get_executor(), [self, d = std::move(decision)]() mutable {
        self->OnDecided(std::move(d));
      });
    });
  }

  // OPTIONS, answered before authentication: a CORS preflight or a plain OPTIONS.
  HttpResponse Options() {
    std::string allow = shared_->router->AllowedMethods(request_.path);
    if (allow.empty()) return HttpResponse::Error(404, "not found");
    allow += ", OPTIONS";
    HttpResponse r;
    r.status = 204;
    if (origin_.empty() || request_.Header("Access-Control-Request-Method").empty()) {
      r.headers.emplace_back("Allow", allow);
      return r;
    }
    if (!shared_->AllowedOrigin(origin_)) {
      return HttpResponse::Error(403, "origin not allowed");
    }
    r.headers.emplace_back("Access-Control-Allow-Methods", allow);
    r.headers.emplace_back("Access-Control-Allow-Headers",
                           "Accept, Authorization, Content-Type, X-CSRF-Token");
    r.headers.emplace_back("Access-Control-Max-Age", "600");
    return r;
  }

  void OnDecided(Router::Decision decision) {
    user_ = decision.user();
    if (!decision.accepted()) {
      // The body was not read: the connection cannot carry another request.
      return Send(decision.rejection(), /*close=*/!BodyDone());
    }
    uint64_t limit = options().max_body_bytes;
    if (decision.streamed()) {
      if (decision.max_body_bytes() != 0) limit = decision.max_body_bytes();
    } else if (decision.max_body_bytes() != 0 && decision.max_body_bytes() < limit) {
      limit = decision.max_body_bytes();
    }
    if (auto length = header_parser_->content_length(); length && *length > limit) {
      return Refuse(413, "request body too large");
    }
    decision_ = std::move(decision);
    if (decision_->streamed()) return OpenSink(limit);
    if (header_parser_->is_done()) return Handle();
    body_parser_.emplace(std::move(*header_parser_));
    body_parser_->body_limit(limit);  // also bounds a chunked body
    ContinueThen([this] { ReadBody(); });
  }

  // Sends "100 Continue" if the client waits for it, then runs `next`.
  template <typename Next>
  void ContinueThen(Next next) {
    if (!EqualsIgnoreCase(request_.Header("Expect"), "100-continue")) return next();
    continue_ = {};
    continue_.version(11);
    continue_.result(http::status::continue_);
    http::async_write(stream_, continue_,
                      [self = shared_from_this(), next](beast::error_code ec, size_t) {
                        if (!ec) next();
                      });
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *body_parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    request_.body = std::move(body_parser_->get().body());
    Handle();
  }

  void Handle() {
    net::post(*shared_->workers, [self = shared_from_this()] {
      HttpResponse response =
          self->shared_->router->Invoke(*self->decision_, std::move(self->request_));
      net::post(self->stream_.get_executor(), [self, r = std::move(response)]() mutable {
        self->Send(std::move(r), /*close=*/false);
      });
    });
  }

  // --- Streamed request bodies ---

  void OpenSink(uint64_t limit) {
    OnWorker(
        [self = shared_from_this()] {
          return self->shared_->router->OpenSink(*self->decision_, self->request_);
        },
        [this, self = shared_from_this(), limit](Result<std::unique_ptr<BodySink>> sink) {
          if (!sink.ok()) {
            return Send(ErrorFromBodyStatus(sink.status()), /*close=*/!BodyDone());
          }
          sink_ = std::move(sink).value();
          if (header_parser_->is_done()) return FinishSink();
          stream_parser_.emplace(std::move(*header_parser_));
          stream_parser_->body_limit(limit);  // bounds a chunked stream too
          if (piece_.empty()) piece_.resize(kPieceBytes);
          ContinueThen([this] {
            Expire(ReadTimeout());
            ReadPiece();
          });
        });
  }

  void ReadPiece() {
    auto& body = stream_parser_->get().body();
    body.data = piece_.data() + piece_fill_;
    body.size = piece_.size() - piece_fill_;
    body.more = true;
    http::async_read_some(stream_, buffer_, *stream_parser_,
                          beast::bind_front_handler(&Session::OnPiece, shared_from_this()));
  }

  void OnPiece(beast::error_code ec, size_t) {
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return OnReadError(ec);
    size_t got = piece_.size() - piece_fill_ - stream_parser_->get().body().size;
    piece_fill_ += got;
    bool done = stream_parser_->is_done();
    if (!done && piece_fill_ < kDispatchBytes) {
      // Gather a few TLS records before handing a piece over (fewer thread hops); any
      // body byte counts as progress.
      if (got > 0) Expire(ReadTimeout());
      return ReadPiece();
    }
    size_t n = piece_fill_;
    piece_fill_ = 0;
    if (n == 0) return FinishSink();
    OnWorker(
        [self = shared_from_this(), n] {
          try {
            return self->sink_->Write(std::string_view(self->piece_.data(), n));
          } catch (const std::exception& e) {
            TRESOR_LOG(kError) << "HTTPS body sink threw: " << e.what();
          } catch (...) {
            TRESOR_LOG(kError) << "HTTPS body sink threw";
          }
          return Internal("internal error");
        },
        [this, self = shared_from_this(), done](Status written) {
          if (!written.ok()) {
            if (HttpStatus(written.code()) >= 500) {
              TRESOR_LOG(kError) << "HTTPS body sink failed: " << written.ToString();
            }
            DiscardSink();
            return Send(ErrorFromBodyStatus(written), /*close=*/true);
          }
          if (done) return FinishSink();
          Expire(ReadTimeout());  // progress: the next piece within read_timeout
          ReadPiece();
        });
  }

  void FinishSink() {
    OnWorker(
        [self = shared_from_this()] {
          std::unique_ptr<BodySink> sink = std::move(self->sink_);
          try {
            return sink->Finish();
          } catch (const std::exception& e) {
            TRESOR_LOG(kError) << "HTTPS body sink threw: " << e.what();
          } catch (...) {
            TRESOR_LOG(kError) << "HTTPS body sink threw";
          }
          return HttpResponse::Error(500, "internal error");
        },
        [this, self = shared_from_this()](HttpResponse response) {
          Send(std::move(response), /*close=*/false);
        });
  }

  // Destroys the sink (without Finish) on a worker: it may remove partial files.
  void DiscardSink() {
    if (!sink_) return;
    std::shared_ptr<BodySink> sink(std::move(sink_));
    net::post(*shared_->workers, [sink]() mutable { sink.reset(); });
  }

  // --- Responses ---

  // Answers a request that cannot be processed and closes the connection.
  void Refuse(int status, std::string_view message) {
    Send(HttpResponse::Error(status, message), /*close=*/true);
  }

  template <typename Message>
  void SetHeaders(Message& m, const HttpResponse& r) {
    m.version(version_ == 10 ? 10 : 11);
    m.result(static_cast<unsigned>(r.status));
    for (const auto& [name, value] : kSecurityHeaders) {
      if (IsOverridable(name) && HasHeader(r.headers, name)) continue;
      m.set(name, value);
    }
    bool has_challenge = false;
    for (const auto& [name, value] : r.headers) {
      has_challenge |= EqualsIgnoreCase(name, "WWW-Authenticate");
      if (IsSecurityHeader(name) && !IsOverridable(name)) continue;  // never weakened
      m.insert(name, value);
    }
    if (r.status == 401 && !has_challenge) {
      m.set(http::field::www_authenticate, "Bearer realm=\"tresor\"");
    }
    if (!r.content_type.empty()) m.set(http::field::content_type, r.content_type);
    if (!options().cors_origins.empty()) {
      m.insert(http::field::vary, "Origin");
      if (shared_->AllowedOrigin(origin_)) {
        m.set(http::field::access_control_allow_origin, origin_);
        m.set(http::field::access_control_allow_credentials, "true");
        m.set(http::field::access_control_expose_headers,
              "Content-Type, Content-Length, Retry-After, WWW-Authenticate");
      }
    }
  }

  void LogRequest(int status) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_);
    // request_ may have been handed to the handler by now: log from the saved copies.
    TRESOR_LOG(kInfo) << "HTTPS " << log_method_ << " " << log_target_ << " " << status
                      << " client " << client_ << " user " << (user_.empty() ? "-" : user_)
                      << " " << elapsed.count() << " ms";
  }

  void Send(HttpResponse r, bool close) {
    // HEAD: the header the GET would send, Content-Length included when the GET's length
    // is known, and no body; a streamed body's source is released unread, on a worker.
    std::optional<uint64_t> head_length;
    if (head_only_) {
      if (r.stream) {
        std::shared_ptr<BodySource> source = std::move(r.stream);
        net::post(*shared_->workers, [source]() mutable { source.reset(); });
        if (r.stream_length != HttpResponse::kUnknownLength) head_length = r.stream_length;
      } else {
        head_length = r.body.size();
      }
      r.body.clear();
    }
    if (r.stream) return SendStream(std::move(r), close);
    response_ = {};
    SetHeaders(response_, r);
    response_.body() = std::move(r.body);
    keep_alive_ = keep_alive_ && !close;
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();
    if (head_only_) {
      if (head_length) {
        response_.content_length(*head_length);
      } else {
        response_.erase(http::field::content_length);
      }
    }
    if (r.status == 204 || r.status == 304) response_.erase(http::field::content_length);
    drain_after_write_ = close;
    LogRequest(r.status);
    // From here on: the response must be read, and a kept-alive connection's next request
    // must come, within this.
    Expire(std::chrono::seconds(keep_alive_ ? options().idle_timeout_seconds
                                            : options().read_timeout_seconds));
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (ec) return;
    if (keep_alive_) {
      decision_.reset();
      return ReadHeader();
    }
    if (drain_after_write_) return Drain();
    Expire(kShutdownTime);
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  // --- Streamed responses ---

  void SendStream(HttpResponse r, bool close) {
    source_ = std::move(r.stream);
    stream_serializer_.reset();
    stream_response_.emplace();
    SetHeaders(*stream_response_, r);
    keep_alive_ = keep_alive_ && !close && version_ != 10;
    stream_length_ = r.stream_length;
    stream_sent_ = 0;
    if (stream_length_ != HttpResponse::kUnknownLength) {
      stream_response_->content_length(stream_length_);
    } else if (version_ != 10) {
      stream_response_->chunked(true);
    }  // HTTP/1.0 without a length: the end of the body is the end of the connection
    stream_response_->keep_alive(keep_alive_);
    stream_response_->body().data = nullptr;
    stream_response_->body().size = 0;
    stream_response_->body().more = true;
    stream_serializer_.emplace(*stream_response_);
    drain_after_write_ = close;
    LogRequest(r.status);
    if (piece_.empty()) piece_.resize(kPieceBytes);
    Expire(ReadTimeout());
    http::async_write_header(stream_, *stream_serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->EndStream();
                               self->NextPiece();
                             });
  }

  void NextPiece() {
    OnWorker(
        [self = shared_from_this()]() -> Result<size_t> {
          try {
            return self->source_->Read(self->piece_.data(), self->piece_.size());
          } catch (const std::exception& e) {
            TRESOR_LOG(kError) << "HTTPS body source threw: " << e.what();
          } catch (...) {
            TRESOR_LOG(kError) << "HTTPS body source threw";
          }
          return Internal("body source threw");
        },
        [this, self = shared_from_this()](Result<size_t> n) {
          if (!n.ok()) {
            TRESOR_LOG(kError) << "HTTPS response stream failed: " << n.status().ToString();
            return CutStream();
          }
          bool known = stream_length_ != HttpResponse::kUnknownLength;
          auto& body = stream_response_->body();
          if (*n == 0) {
            if (known && stream_sent_ != stream_length_) {
              TRESOR_LOG(kError) << "HTTPS response stream ended after " << stream_sent_
                                 << " of " << stream_length_ << " bytes";
              return CutStream();
            }
            body.data = nullptr;
            body.size = 0;
            body.more = false;
            // As for a whole response: the next request within idle_timeout.
            Expire(std::chrono::seconds(keep_alive_ ? options().idle_timeout_seconds
                                                    : options().read_timeout_seconds));
            return http::async_write(stream_, *stream_serializer_,
                                     [self](beast::error_code ec, size_t) {
                                       if (ec == http::error::need_buffer) ec = {};
                                       self->source_.reset();
                                       if (ec) return self->EndStream();
                                       self->OnWrite(ec, 0);
                                     });
          }
          if (*n > piece_.size() || (known && stream_length_ - stream_sent_ < *n)) {
            TRESOR_LOG(kError) << "HTTPS response stream longer than announced";
            return CutStream();
          }
          stream_sent_ += *n;
          body.data = piece_.data();
          body.size = *n;
          body.more = true;
          Expire(ReadTimeout());  // the client must take each piece within read_timeout
          http::async_write(stream_, *stream_serializer_,
                            [self](beast::error_code ec, size_t) {
                              if (ec == http::error::need_buffer) ec = {};
                              if (ec) return self->EndStream();
                              self->NextPiece();
                            });
        });
  }

  void CutStream() {
    EndStream();
    Cut();
  }
  void EndStream() {
    std::shared_ptr<BodySource> source = std::move(source_);
    if (source) net::post(*shared_->workers, [source]() mutable { source.reset(); });
  }

  // Reads and discards what the client is still sending, then closes (on return of the
  // last handler the session and its socket are destroyed).
  void Drain() {
    Expire(kDrainTime);
    DrainSome();
  }
  void DrainSome() {
    stream_.async_read_some(net::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (!ec && self->drained_ <= kMaxDrainBytes) self->DrainSome();
                            });
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  std::shared_ptr<Shared> shared_;
  const std::string client_;
  beast::flat_buffer buffer_;
  // The request's parser: the header, then (with the header moved over) a whole body or
  // a streamed one.
  std::optional<http::request_parser<http::empty_body>> header_parser_;
  std::optional<http::request_parser<http::string_body>> body_parser_;
  std::optional<http::request_parser<http::buffer_body>> stream_parser_;
  HttpRequest request_;
  std::optional<Router::Decision> decision_;
  std::unique_ptr<BodySink> sink_;  // a streamed request body's consumer
  std::vector<char> piece_;         // one piece of a streamed body, either way
  size_t piece_fill_ = 0;           // bytes of a request piece gathered so far
  http::response<http::string_body> response_;
  bool head_only_ = false;  // a HEAD request: responses carry their header only
  http::response<http::empty_body> continue_;
  std::optional<http::response<http::buffer_body>> stream_response_;
  std::optional<http::response_serializer<http::buffer_body>> stream_serializer_;
  std::shared_ptr<BodySource> source_;  // a streamed response's producer
  uint64_t stream_length_ = HttpResponse::kUnknownLength;
  uint64_t stream_sent_ = 0;
  std::string log_method_ = "-";  // for the request log line
  std::string log_target_ = "-";  // path and query parameter names, escaped
  std::string origin_;            // the request's Origin header (CORS)
  std::string user_;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool drain_after_write_ = false;
  bool worker_busy_ = false;  // a worker runs for this connection: the deadline waits
  size_t drained_ = 0;
  char drain_buffer_[16384];
  Clock::time_point started_ = Clock::now();
  net::steady_timer watchdog_;  // wakes the deadline check; on the connection's strand
  core::Deadline deadline_;     // when the current phase (handshake, read, idle, ...) ends
  core::Clock::Monotonic connected_at_;  // when the handshake began (on the clock)
  bool watching_ = false;       // a watchdog wait is pending
};

// Accepts connections on its own strand and starts a Session for each, up to the cap.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& io, std::shared_ptr<Shared> shared)
      : io_(io),
        acceptor_(net::make_strand(io)),
        retry_(acceptor_.get_executor()),
        shared_(std::move(shared)) {}

  Status Open(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return IoError("cannot listen for HTTPS on " + endpoint.address().to_string() + ":" +
                     std::to_string(endpoint.port()) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    return Status::Ok();
  }
  int port() const { return port_; }

  void Accept() {
    acceptor_.async_accept(net::make_strand(io_),
                           beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  // Only when no I/O thread runs.
  void Close() {
    beast::error_code ec;
    acceptor_.close(ec);
    retry_.cancel();
  }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      // E.g. out of file descriptors: wait a little instead of spinning.
      TRESOR_LOG(kWarn) << "HTTPS accept failed: " << ec.message();
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e) self->Accept();
      });
      return;
    }
    beast::error_code ignored;
    tcp::endpoint remote = socket.remote_endpoint(ignored);
    if (ignored) {
      socket.close(ignored);
      return Accept();
    }
    net::ip::address address = remote.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
    }
    std::string client = address.to_string();
    const char* limit = nullptr;
    if (shared_->connections.load() >= shared_->options.max_connections) {
      limit = "connection limit";
    } else {
      std::lock_guard<std::mutex> lock(shared_->address_mutex);
      int& open = shared_->per_address[client];
      if (open >= shared_->options.max_connections_per_address) {
        limit = "per-address connection limit";
      } else {
        ++open;
      }
    }
    if (limit != nullptr) {
      ++refused_;
      auto now = Clock::now();
      if (now - last_refusal_log_ > std::chrono::seconds(1)) {
        TRESOR_LOG(kWarn) << "HTTPS " << limit << " reached: refused " << refused_
                          << " connection(s), latest from " << client;
        refused_ = 0;
        last_refusal_log_ = now;
      }
      socket.close(ignored);
      return Accept();
    }
    socket.set_option(tcp::no_delay(true), ignored);
    shared_->connections.fetch_add(1);
    std::make_shared<Session>(std::move(socket), shared_, std::move(client))->Start();
    Accept();
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  std::shared_ptr<Shared> shared_;
  int port_ = -1;
  uint64_t refused_ = 0;                 // on the acceptor's strand
  Clock::time_point last_refusal_log_;  // on the acceptor's strand
};

}  // namespace

class HttpsServer::Impl {
 public:
  Impl(std::unique_ptr<Router> router, WebOptions options, const core::Clock& clock)
      : shared_(std::make_shared<Shared>()) {
    shared_->router = std::move(router);
    shared_->options = std::move(options);
    shared_->clock = &clock;
  }
  ~Impl() { Stop(); }

  Status Start() {
    if (started_) return Internal("HTTPS server started twice");
    started_ = true;
    WebOptions& o = shared_->options;
    o.threads = std::max(1, o.threads);
    o.worker_threads = std::max(1, o.worker_threads);
    o.max_connections = std::max(1, o.max_connections);
    o.max_connections_per_address = std::max(1, o.max_connections_per_address);
    o.handshake_timeout_seconds = std::max(1, o.handshake_timeout_seconds);
    for (const std::string& origin : o.cors_origins) {
      if (origin.empty() || origin == "*" || origin == "null") {
        return InvalidArgument("a CORS origin must be an explicit origin, not '" + origin + "'");
      }
    }
    shared_->header_body_limit = o.max_body_bytes;
    for (const Route& route : shared_->router->routes()) {
      if (route.is_streamed()) {
        shared_->header_body_limit = std::max(shared_->header_body_limit, route.max_body_bytes);
      }
    }
    o.read_timeout_seconds = std::max(1, o.read_timeout_seconds);
    o.idle_timeout_seconds = std::max(1, o.idle_timeout_seconds);
    if (o.port < 0 || o.port > 65535) return InvalidArgument("invalid HTTPS port");
    try {
      shared_->tls.emplace(ssl::context::tls_server);
    } catch (const std::exception& e) {
      return Internal(std::string("cannot create a TLS context: ") + e.what());
    }
    TRESOR_RETURN_IF_ERROR(ConfigureTls(*shared_->tls, o));

    io_ = std::make_unique<net::io_context>(o.threads);
    beast::error_code ec;
    tcp::resolver resolver(*io_);
    auto endpoints = resolver.resolve(o.bind_address, std::to_string(o.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || endpoints.empty()) {
      return InvalidArgument("cannot resolve HTTPS bind address " + o.bind_address +
                             (ec ? ": " + ec.message() : std::string()));
    }
    listener_ = std::make_shared<Listener>(*io_, shared_);
    TRESOR_RETURN_IF_ERROR(listener_->Open(endpoints.begin()->endpoint()));
    port_ = listener_->port();

    shared_->workers.emplace(static_cast<size_t>(o.worker_threads));
    work_.emplace(io_->get_executor());
    listener_->Accept();
    for (int i = 0; i < o.threads; ++i) {
      threads_.emplace_back([io = io_.get()] {
        while (true) {
          try {
            io->run();
            return;
          } catch (const std::exception& e) {
            TRESOR_LOG(kError) << "HTTPS I/O thread: " << e.what();
          }
        }
      });
    }
    return Status::Ok();
  }

  int port() const { return port_; }

  void Stop() {
    if (stopped_) return;
    stopped_ = true;
    if (!io_) return;
    work_.reset();
    io_->stop();
    for (auto& t : threads_) t.join();
    threads_.clear();
    // Handlers in flight finish; what they post back is dropped with the I/O context.
    if (shared_->workers) shared_->workers->join();
    if (listener_) listener_->Close();
    listener_.reset();
    io_.reset();  // destroys pending operations, and with them every session
    shared_->workers.reset();
    port_ = -1;
  }

 private:
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<net::io_context> io_;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::shared_ptr<Listener> listener_;
  std::vector<std::thread> threads_;
  int port_ = -1;
  bool started_ = false;
  bool stopped_ = false;
};

HttpsServer::HttpsServer(std::unique_ptr<Router> router, WebOptions options,
                         const core::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(router), std::move(options), clock)) {}

HttpsServer::~HttpsServer() { Stop(); }

Status HttpsServer::Start() { return impl_->Start(); }

int HttpsServer::port() const { return impl_->port(); }

void HttpsServer::Stop() { impl_->Stop(); }

}  // namespace tresor::web

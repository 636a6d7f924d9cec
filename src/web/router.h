// The route table of the HTTPS API and the one authentication step in front of it.
//
// A Route is public or authenticated by construction: a public route has a handler that
// takes only the request; an authenticated route's handler also takes the Principal, and
// the only way to reach it is through Router::Decide, which authenticates the bearer
// credential first. No route can skip the step, and no route can forget to declare itself.
//
// Requests are decided in two phases so the transport can refuse before reading a body:
// Decide() sees the method, target and headers (404, 405, 401, 429 happen here) and
// Invoke() runs the handler once the body has arrived.
//
// Thread-safety: Add() only before serving; afterwards Decide/Invoke/Handle/OpenApi are
// const and safe from any thread (handlers must be thread-safe themselves).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/archive_service.h"
#include "core/status.h"
#include "web/http_message.h"

namespace tresor::web {

// Verifies a bearer credential from `source` (client IP): ArchiveService::Authenticate in
// production. kUnauthenticated for a bad credential, kResourceExhausted while blocked.
using Authenticator = std::function<Result<archive::Principal>(const std::string& bearer,
                                                               const std::string& source)>;
using PublicHandler = std::function<HttpResponse(const HttpRequest&)>;
using AuthenticatedHandler =
    std::function<HttpResponse(const HttpRequest&, const archive::Principal&)>;
// A streamed route's handler: sees the request head (its body unread) and returns the
// sink that consumes the body as it arrives, or an error refusing the request before any
// body byte is read (mapped with ErrorFromBodyStatus).
using StreamHandler = std::function<Result<std::unique_ptr<BodySink>>(
    const HttpRequest& head, const archive::Principal&)>;

struct Route {
  std::string method;   // "GET", "POST", ...
  std::string path;     // "/api/stats"; a segment "{name}" matches one non-empty segment.
                        // A path ending in "/*" (a prefix route, no "{name}" allowed)
                        // matches every path starting with the part before the '*'
                        // ("/viewer/*": "/viewer/", "/viewer/a/b.js"); the rest, raw, is
                        // path_params["*"]. Routes without '*' are tried first, then
                        // prefix routes, longest prefix first.
  std::string summary;  // one line, for the OpenAPI document
  std::vector<std::string> body_types;  // media types of the request body; empty: no body
  uint64_t max_body_bytes = 0;          // 0: the server's limit, else the smaller of both
                                        // (a streamed route's own limit may exceed the
                                        // server's, which bounds bodies held in memory)
  PublicHandler public_handler;         // exactly one of the three handlers is set
  AuthenticatedHandler handler;
  StreamHandler stream_handler;         // authenticated, body streamed (max_body_bytes
                                        // then bounds the whole stream)
  // Authenticated pages a browser navigates to (the viewer): a GET without a valid
  // credential whose Accept includes text/html gets 303 to the sign-in page
  // ("/?next=" + the percent-encoded path and query) instead of 401. Nothing else changes:
  // the handler still runs only for an authenticated caller.
  bool sign_in_redirect = false;

  bool is_public() const { return static_cast<bool>(public_handler); }
  bool is_streamed() const { return static_cast<bool>(stream_handler); }

  static Route Public(std::string method, std::string path, std::string summary,
                      PublicHandler handler);
  static Route Authenticated(std::string method, std::string path, std::string summary,
                             AuthenticatedHandler handler);
  static Route Streamed(std::string method, std::string path, std::string summary,
                        std::vector<std::string> body_types, uint64_t max_body_bytes,
                        StreamHandler handler);
};

// The browser session cookie: set by POST /auth/session, accepted by Decide() when a
// request has no Authorization header.
inline constexpr char kSessionCookie[] = "tresor_session";
// The header carrying the CSRF token on cookie-authenticated state-changing requests.
inline constexpr char kCsrfHeader[] = "X-CSRF-Token";
// The key of a prefix route's rest in HttpRequest::path_params.
inline constexpr char kRestParam[] = "*";

// The Location of the sign-in redirect for a request: "/?next=" followed by its path and
// query, every byte outside [A-Za-z0-9/._~-] percent-encoded (so the value is one
// same-origin path, never a scheme or another host).
std::string SignInLocation(std::string_view path, std::string_view query);

// The CSRF token of a session token: hex SHA-256 of a fixed label and the token. Stateless;
// only a client that was handed the token (or can read the cookie) can present it.
std::string CsrfTokenFor(std::string_view session_token);

// The value of cookie `name` in the request's Cookie header(s), parsed strictly
// (RFC 6265 cookie-string: name=value pairs separated by "; "). Empty when absent; an
// error (kInvalidArgument) for a malformed header or a name given twice.
Result<std::string> CookieValue(const HttpRequest& request, std::string_view name);

class Router {
 public:
  // `version` is reported in the OpenAPI document.
  Router(Authenticator authenticate, std::string version);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Adds a route. Aborts (a programming error) when the method and path are already
  // routed, or unless exactly one handler is set.
  void Add(Route route);
  const std::vector<Route>& routes() const { return routes_; }

  // What Decide() concluded about a request head.
  class Decision {
   public:
    // True when the handler may run once the body has been read.
    bool accepted() const { return route_ != nullptr; }
    // The response to send instead when !accepted() (404, 405, 401, 429, ...).
    const HttpResponse& rejection() const { return rejection_; }
    // The route's own body limit (0: the server's).
    uint64_t max_body_bytes() const { return route_ ? route_->max_body_bytes : 0; }
    // True when the body is to be streamed into OpenSink()'s sink instead of read whole.
    bool streamed() const { return route_ != nullptr && route_->is_streamed(); }
    // Who was authenticated, for logs (user or peer name); empty on public routes.
    std::string user() const;
    // True when the session cookie (not an Authorization header) authenticated it.
    bool by_cookie() const { return by_cookie_; }

   private:
    friend class Router;
    const Route* route_ = nullptr;
    std::map<std::string, std::string> path_params_;
    std::optional<archive::Principal> principal_;
    HttpResponse rejection_;
    bool by_cookie_ = false;
  };

  // Routes the request (its body may still be unread) and, for an authenticated route,
  // checks `Authorization: Bearer <credential>` or, without an Authorization header, the
  // browser session cookie (kSessionCookie): 401 (with WWW-Authenticate) when both are
  // missing or the credential is rejected, 429 while the client is blocked. A request
  // authenticated by the cookie with a method other than GET, HEAD or OPTIONS must carry
  // `X-CSRF-Token: CsrfTokenFor(cookie)`, else 403.
  // HEAD runs the GET route of the path (unless a HEAD route is registered); the
  // transport then sends the response's header only (RFC 9110 9.3.2).
  Decision Decide(const HttpRequest& head) const;
  // The methods routed at `path`, e.g. "GET, HEAD, POST" (HEAD follows GET; empty: the
  // path is not routed).
  std::string AllowedMethods(std::string_view path) const;
  // Runs the accepted route's handler on the complete request. A handler that throws
  // yields 500 (logged); nothing propagates.
  HttpResponse Invoke(const Decision& decision, HttpRequest request) const;
  // For an accepted streamed route: runs its handler on the request head and returns the
  // sink for the body. A handler that throws yields kInternal (logged).
  Result<std::unique_ptr<BodySink>> OpenSink(const Decision& decision, HttpRequest head) const;
  // Decide and, if accepted, Invoke. A streamed route gets its whole body in one Write()
  // (tests; the transport streams).
  HttpResponse Handle(HttpRequest request) const;

  // An OpenAPI 3.0 document (JSON) generated from the table: every route with its method,
  // summary, request body types (x-streamed for streamed routes) and security (`[]` for
  // public routes, bearerAuth or cookieAuth else).
  std::string OpenApi() const;

 private:
  // True if a route of `method` (a prefix route when `prefix`) matches `path`.
  bool HasRoute(std::string_view method, std::string_view path, bool prefix) const;
  // The authentication step alone: a Decision with the principal set, or its rejection.
  Decision Authenticate(const HttpRequest& head) const;

  Authenticator authenticate_;
  std::string version_;
  std::vector<Route> routes_;
};

}  // namespace tresor::web

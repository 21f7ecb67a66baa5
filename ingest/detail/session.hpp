// One HTTP/1.1 connection: read a header, route and authenticate on it, read
// the body only when the request passed those checks, answer, repeat while
// keep-alive holds. All of a session's work runs on its own strand; exactly
// one read or one write is in flight at a time.
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ingest/detail/reconcile_routes.hpp"
#include "ingest/detail/router.hpp"
#include "ingest/detail/server_state.hpp"
#include "ingest/detail/stripe.hpp"
#include "ingest/detail/trigger_token.hpp"

namespace isync::ingest::detail {

// The message of 403 csrf_failed.
inline constexpr std::string_view kCsrfFailed =
    "the X-CSRF-Token header is missing or wrong; a request made with the console's session "
    "cookie must carry the token answered by POST /console/login or GET /console/session";

class Session : public std::enable_shared_from_this<Session> {
 public:
  // REQUIRES: `socket` uses a strand of its own as executor; state->admit()
  // returned true for it (the session releases the slot when destroyed).
  Session(boost::asio::ip::tcp::socket socket, std::shared_ptr<ServerState> state,
          ListenerKind listener);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Server stopping: an idle connection is closed now; a request being
  // handled is answered with `Connection: close`.
  void drain();
  // Drain deadline passed: close whatever is left.
  void force_close();

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  void do_read_header();
  void on_read_header(boost::beast::error_code ec);
  void route_request();
  void do_read_body();
  // Parses a body already in buffer_ at once; true = it was whole (or bad)
  // and on_read_body has been called, false = an asynchronous read is due.
  bool parse_buffered_body();
  void on_read_body(boost::beast::error_code ec);
  // Webhook routes (session_webhooks.cpp).
  void route_webhook();
  void handle_events_body();
  void route_stripe();
  void handle_stripe_body();
  // `status`: of an accepted event (202; 200 for triggers, which Intacct
  // counts as the only success).
  void on_accepted(Result<queue::AcceptResult> result, unsigned status = 202);
  // Trigger routes (session_triggers.cpp).
  void route_triggers();
  void handle_trigger_body();
  // Answers a refused trigger, logs the check that failed (`reason`, the
  // metric label) with `detail`, and counts it.
  void refuse_trigger(unsigned status, std::string_view code, std::string_view reason,
                      std::string_view detail);
  // Admin routes (session_admin.cpp).
  void route_admin();
  void handle_metrics();
  void handle_status();
  void handle_mirror();
  void handle_reconcile_start();
  void handle_events_api();
  std::function<void(AdminAnswer)> admin_reply();  // posts the answer to the strand
  void respond_admin(AdminAnswer answer);
  std::size_t body_limit() const;  // of the matched route
  // Console routes (session_console.cpp).
  void route_console();
  void handle_console_login();
  void serve_asset();
  // The request's console session: the cookie's value when it is valid, else "".
  std::string console_session(const Request& req) const;
  void add_console_headers();

  enum class AdminAuth { none, admin_token, read_token, console_session };
  bool tenant_authorized(const Request& req, std::string_view query) const;
  // How an admin request is authenticated: a Bearer admin token (or, when
  // allowed, the tenant's read token) first, then the console's cookie
  // (`session` gets its value).
  AdminAuth admin_auth(const Request& req, bool allow_read_token, std::string& session) const;
  // The throttle of failed admin authentications (detail/auth_throttle.hpp),
  // keyed by the client's address: refuse_throttled() answers 429 and
  // returns true while the address is refused; auth_failed() counts one.
  bool refuse_throttled(const Request& req);
  void auth_failed(const Request& req);
  std::string client_key(const Request& req) const;

  void respond(unsigned status, std::string body,
               std::string_view content_type = "application/json");
  void respond_error(unsigned status, std::string_view code, std::string_view message);
  void on_write(boost::beast::error_code ec);
  void linger_close();
  void do_discard();
  void close();

  static constexpr std::size_t kMaxLinger = 4 * 1024 * 1024;  // bytes dropped before closing

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<ServerState> state_;
  ListenerKind listener_;
  boost::asio::ip::address peer_;

  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  boost::beast::http::response<boost::beast::http::string_body> res_;
  std::string head_, body_;  // an answer serialized by respond() itself
  bool keep_alive_ = true;   // of the answer being written
  RouteMatch route_;
  std::optional<StripeSignature> stripe_signature_;  // the Stripe route's parsed header
  // The triggers route, from the header's checks to the body's.
  struct TriggerRequest {
    TokenSource token_from = TokenSource::none;
    std::string signature_header = "absent";  // FoundToken::signature_header
    TriggerClaims claims;
    std::size_t secret_index = 0;
    bool unusual_media = false;
  };
  std::optional<TriggerRequest> trigger_;
  std::chrono::steady_clock::time_point started_;
  bool busy_ = false;         // a request has been read and is not answered yet
  bool close_after_ = false;  // answer, then close (unread body, framing error)
  bool closed_ = false;
  std::string retry_after_;  // set for 503 and 429 answers
  std::string allow_;        // set for 405 answers
  std::string cache_control_ = "no-store";
  std::vector<std::pair<std::string, std::string>> headers_;  // more headers of the answer
  // The metric handles of the last answer (route, status): a keep-alive
  // connection mostly repeats one request, so most answers skip the lookup.
  std::string_view metrics_route_;
  unsigned metrics_status_ = 0;
  ServerState::RequestMetrics metrics_;
  std::array<char, 4096> discard_{};
  std::size_t lingered_ = 0;
};

}  // namespace isync::ingest::detail

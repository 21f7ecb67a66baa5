#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <functional>
#include <optional>

#include "sandbox/detail/poster_queue.hpp"

namespace isync::sandbox::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

namespace {

// A receiver's answer is only looked at for its status; this caps what a
// misbehaving receiver can make the sandbox buffer.
constexpr std::uint64_t kResponseBodyLimit = 64 * 1024;
// Full-queue drops are logged on the first and then every this many.
constexpr std::int64_t kDropLogEvery = 1000;

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<EventUrl> parse_event_url(std::string_view url) {
  auto bad = [](std::string why) {
    return make_error("invalid_config",
                      "events URL: " + why + "; expected http://HOST[:PORT]/PATH[?QUERY]");
  };
  constexpr std::string_view kScheme = "http://";
  if (!iequals_prefix(url, kScheme)) {
    return bad(iequals_prefix(url, "https://") ? "https is not supported (plain HTTP only)"
                                               : "it does not start with http://");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find('#') != std::string_view::npos) return bad("it has a fragment (#)");
  auto end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) return bad("user info (@) is not supported");
  EventUrl out;
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 host lacks its ']'");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("text after the IPv6 host");
      port = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return bad("the host is empty");
  if (port.empty()) port = "80";
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos ||
      std::stoul(std::string(port)) == 0 || std::stoul(std::string(port)) > 65535) {
    return bad("the port is not a number 1-65535");
  }
  out.host = std::string(host);
  out.port = std::string(port);
  out.target = target.empty()
                   ? "/"
                   : (target.front() == '?' ? "/" + std::string(target) : std::string(target));
  auto path_end = out.target.find('?');
  out.shown = "http://" + std::string(authority) + out.target.substr(0, path_end);
  return out;
}

std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c)) {
      out += ch;
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

std::string event_body(const Change& change, bool snapshot) {
  std::string body = "object=" + form_encode(change.object);
  body += "&action=" + form_encode(change.action);
  body += "&recordno=" + std::to_string(change.recordno);
  body += "&whenmodified=" + form_encode(change.whenmodified);
  if (snapshot) {
    for (const auto& [name, value] : change.fields) {
      auto key = lower(name);
      // The receiver treats names case-insensitively and refuses repeats.
      if (key == "object" || key == "action" || key == "recordno" || key == "whenmodified") {
        continue;
      }
      body += '&';
      body += form_encode(name);
      body += '=';
      body += form_encode(value);
    }
  }
  return body;
}

// One connection, its strand and its FIFO. `queue` and `busy` are guarded by
// `mu` (enqueue runs on any thread); everything else runs on `strand`.
struct Poster::Lane {
  explicit Lane(asio::any_io_executor ex) : strand(std::move(ex)), resolver(strand) {}
  asio::any_io_executor strand;
  tcp::resolver resolver;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  std::optional<http::response_parser<http::string_body>> parser;
  Post current;
  bool closed = false;

  std::mutex mu;
  std::deque<Post> queue;
  bool busy = false;  // a pump is running: it takes what is queued
};

PostFormat smart_event_format(const EventOptions& options) {
  PostFormat f;
  f.render = [snapshot = options.snapshot](const Change& change) {
    return PostContent{event_body(change, snapshot), "application/x-www-form-urlencoded", {}};
  };
  return f;
}

Poster::Poster(asio::any_io_executor ex, EventOptions options, PostFormat format, Log& log)
    : ex_(std::move(ex)), options_(std::move(options)), format_(std::move(format)), log_(log) {}

Poster::~Poster() = default;

Result<void> Poster::prepare() {
  if (options_.url.empty()) return {};
  auto url = parse_event_url(options_.url);
  if (!url) return url.error();
  url_ = std::move(*url);
  enabled_ = true;
  std::size_t n = options_.connections == 0 ? 1 : options_.connections;
  for (std::size_t i = 0; i < n; ++i) {
    lanes_.push_back(std::make_shared<Lane>(make_strand_executor(ex_)));
  }
  return {};
}

void Poster::enqueue(const Change& change) {
  if (!enabled_ || !accepting_.load()) {
    dropped_.fetch_add(1);
    return;
  }
  // Reserve a queue slot first, so the limit holds across threads.
  if (queued_.fetch_add(1) >= static_cast<std::int64_t>(options_.queue_limit)) {
    queued_.fetch_sub(1);
    auto n = dropped_.fetch_add(1) + 1;
    if (n == 1 || n % kDropLogEvery == 0) {
      log_.warn(format_.noun + " dropped: the post queue is full",
                LogLine()
                    .str("object", change.object)
                    .num("recordno", change.recordno)
                    .num("queue_limit", static_cast<std::int64_t>(options_.queue_limit))
                    .num("dropped_total", n));
    }
    return;
  }
  Post post{change.object, change.action, change.recordno, format_.render(change), 1};
  std::size_t key = std::hash<std::string>{}(change.object) ^
                    (std::hash<std::int64_t>{}(change.recordno) * 0x9E3779B97F4A7C15ULL);
  push(lanes_[key % lanes_.size()], std::move(post));
}

void Poster::push(const std::shared_ptr<Lane>& lane, Post post) {
  bool start = false;
  {
    std::lock_guard lock(lane->mu);
    lane->queue.push_back(std::move(post));
    if (!lane->busy) start = lane->busy = true;
  }
  if (start) asio::post(lane->strand, [self = shared_from_this(), lane] { self->pump(lane); });
}

void Poster::count_fault_drop(const Change& change) {
  dropped_.fetch_add(1);
  log_.info("smart event dropped by the drop_events fault", LogLine()
                                                                .str("object", change.object)
                                                                .str("action", change.action)
                                                                .num("recordno", change.recordno));
}

PosterStats Poster::stats() const {
  return PosterStats{posted_.load(), failed_.load(), dropped_.load(), queued_.load(),
                     retried_.load()};
}

void Poster::close() {
  for (auto& lane : lanes_) {
    asio::post(lane->strand, [lane] {
      lane->closed = true;
      lane->resolver.cancel();
      if (lane->stream) lane->stream->close();
    });
  }
}

// Runs on the lane's strand: takes the next post, or marks the lane idle.
void Poster::pump(const std::shared_ptr<Lane>& lane) {
  {
    std::lock_guard lock(lane->mu);
    if (lane->queue.empty()) {
      lane->busy = false;
      return;
    }
    lane->current = std::move(lane->queue.front());
    lane->queue.pop_front();
  }
  auto& req = lane->request;
  req = {};
  req.method(http::verb::post);
  req.target(url_.target);
  req.version(11);
  req.set(http::field::host, url_.port == "80" ? url_.host : url_.host + ":" + url_.port);
  req.set(http::field::user_agent, "Intacct Standard HTTP Agent");
  req.set(http::field::content_type, lane->current.content.content_type);
  for (const auto& [name, value] : lane->current.content.headers) req.set(name, value);
  if (!options_.bearer_token.empty()) {
    req.set(http::field::authorization, "Bearer " + options_.bearer_token.reveal());
  }
  req.keep_alive(true);
  // Copied, not moved: a trigger may be sent again, byte for byte.
  req.body() = lane->current.content.body;
  req.prepare_payload();
  send(lane, !lane->stream.has_value());
}

// Runs on the lane's strand. `fresh_connection`: connect first.
void Poster::send(const std::shared_ptr<Lane>& lane, bool fresh_connection) {
  auto self = shared_from_this();
  if (lane->closed) {
    // Posted, not called: a long queue failing here must not recurse.
    return asio::post(lane->strand,
                      [self, lane] { self->on_sent(lane, false, 0, "the poster is stopping"); });
  }
  auto write = [self, lane, reused = !fresh_connection] {
    lane->stream->expires_after(self->options_.response_timeout);
    http::async_write(
        *lane->stream, lane->request, [self, lane, reused](beast::error_code ec, std::size_t) {
          if (ec) {
            if (reused) return self->send(lane, true);
            return self->on_sent(lane, false, 0, ec.message());
          }
          lane->parser.emplace();
          lane->parser->body_limit(kResponseBodyLimit);
          http::async_read(*lane->stream, lane->buffer, *lane->parser,
                           [self, lane, reused](beast::error_code rec, std::size_t) {
                             if (rec) {
                               // A kept-alive connection the receiver had already
                               // closed: nothing was delivered, so send again once.
                               if (reused && !lane->parser->got_some())
                                 return self->send(lane, true);
                               return self->on_sent(lane, false, 0, rec.message());
                             }
                             const auto& res = lane->parser->get();
                             int status = static_cast<int>(res.result_int());
                             if (!res.keep_alive()) {
                               lane->stream->close();
                               lane->stream.reset();
                             }
                             self->on_sent(lane,
                                           self->format_.only_200 ? status == 200
                                                                  : status >= 200 && status < 300,
                                           status, {});
                           });
        });
  };
  if (!fresh_connection) return write();
  if (lane->stream) lane->stream->close();
  lane->stream.reset();
  lane->buffer.clear();
  lane->resolver.async_resolve(
      url_.host, url_.port,
      [self, lane, write](beast::error_code ec, const tcp::resolver::results_type& results) {
        if (ec) return self->on_sent(lane, false, 0, "resolve: " + ec.message());
        if (lane->closed) return self->on_sent(lane, false, 0, "the poster is stopping");
        lane->stream.emplace(lane->strand);
        lane->stream->expires_after(self->options_.connect_timeout);
        lane->stream->async_connect(
            results, [self, lane, write](beast::error_code cec, const tcp::endpoint&) {
              if (cec) return self->on_sent(lane, false, 0, "connect: " + cec.message());
              write();
            });
      });
}

// Runs on the lane's strand: counts the outcome, then the next post. The
// outcome's counter moves last, so whoever sees it sees the post no longer
// queued and its log line written.
void Poster::on_sent(const std::shared_ptr<Lane>& lane, bool ok, int status,
                     std::string_view error) {
  // Intacct retries these (and the sandbox also a post that got no answer).
  const bool retryable = status == 0 || status == 408 || status == 429 || status == 500 ||
                         status == 502 || status == 503 || status == 504;
  if (!ok && retryable && !lane->closed && accepting_.load() &&
      lane->current.attempt <= format_.retry_delays.size()) {
    if (lane->stream && status == 0) {
      lane->stream->close();
      lane->stream.reset();
    }
    auto delay = format_.retry_delays[lane->current.attempt - 1];
    LogLine line;
    line.str("url", url_.shown)
        .str("object", lane->current.object)
        .str("action", lane->current.action)
        .num("recordno", lane->current.recordno)
        .num("attempt", static_cast<std::int64_t>(lane->current.attempt))
        .num("retry_in_ms", delay.count());
    if (status != 0) {
      line.num("status", status);
    } else {
      line.str("error", error);
    }
    log_.info(format_.noun + " post failed; retrying", line);
    retried_.fetch_add(1);
    Post again = std::move(lane->current);
    ++again.attempt;
    // Still counted in queued_ while it waits.
    auto timer = std::make_shared<asio::steady_timer>(lane->strand, delay);
    timer->async_wait([self = shared_from_this(), lane, timer, again = std::move(again)](
                          beast::error_code) mutable { self->push(lane, std::move(again)); });
    return pump(lane);
  }
  queued_.fetch_sub(1);
  if (ok) {
    posted_.fetch_add(1);
  } else {
    if (lane->stream && status == 0) {
      lane->stream->close();
      lane->stream.reset();
    }
    LogLine line;
    line.str("url", url_.shown)
        .str("object", lane->current.object)
        .str("action", lane->current.action)
        .num("recordno", lane->current.recordno);
    if (status != 0) {
      line.num("status", status);
    } else {
      line.str("error", error);
    }
    if (lane->current.attempt > 1) {
      line.num("attempt", static_cast<std::int64_t>(lane->current.attempt));
    }
    log_.warn(format_.noun + " post failed", line);
    failed_.fetch_add(1);
  }
  pump(lane);
}

}  // namespace isync::sandbox::detail

// The no-secret test's tools: every kind of secret with a distinctive
// marker value, the sandbox and one intacct-sync configured with all of
// them, an HTTP client that sends any header and keeps the answer's, a dump
// of every Redis key by type, and the search for the markers.
#pragma once

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::nosecret {

// Every secret shares this prefix, so a secret cut short is found too.
inline constexpr const char* kPrefix = "sEkReT";
inline constexpr const char* kAdminToken = "sEkReT-admin-token-71";
inline constexpr const char* kAcmeToken = "sEkReT-acme-token-72";      // enc:
inline constexpr const char* kAcmeReadToken = "sEkReT-acme-read-73";   // file:
inline constexpr const char* kBetaToken = "sEkReT-beta-token-74";      // a literal in the file
inline constexpr const char* kSenderPassword = "sEkReT-sender-pw-75";  // enc:
inline constexpr const char* kUserPassword = "sEkReT-user-pw-76";      // env:
inline constexpr const char* kBetaPassword = "sEkReT-beta-pw-77";      // file:, refused by Intacct
inline constexpr const char* kStripeNew = "whsec_sEkReT-stripe-78";    // env:
inline constexpr const char* kStripeOld = "whsec_sEkReT-stripe-79";    // enc:
inline constexpr const char* kAlertPath = "/hook/sEkReT-alert-80";     // the alert URL's path
// The enc: master key: 32 bytes, given base64 in INTACCT_SYNC_MASTER_KEY.
inline constexpr const char* kMasterKeyRaw = "sEkReT-master-key-0123456789abcd";

struct Needle {
  std::string name, value;
};

// A secret found: where, which, and the text around it.
struct Leak {
  std::string where, secret, context;
};

inline std::vector<Leak> find_secrets(const std::string& where, const std::string& text,
                                      const std::vector<Needle>& needles) {
  std::vector<Leak> out;
  for (const auto& n : needles) {
    if (n.value.empty()) continue;
    const auto at = text.find(n.value);
    if (at == std::string::npos) continue;
    const auto from = at > 80 ? at - 80 : 0;
    out.push_back({where, n.name, text.substr(from, 200)});
  }
  return out;
}

inline std::string describe(const std::vector<Leak>& leaks) {
  std::string out;
  for (const auto& l : leaks) out += l.where + ": " + l.secret + " in …" + l.context + "…\n";
  return out;
}

struct Reply {
  int status = 0;  // 0 = no answer
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

// One request on a fresh connection, any headers; a 10 s receive deadline.
inline Reply request(std::uint16_t port, http::verb method, const std::string& target,
                     const std::string& body = {},
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  try {
    asio::io_context ioc;
    asio::ip::tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{10, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::connection, "close");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    http::write(s, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    Reply out{static_cast<int>(res.result_int()), res.body(), {}};
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] += (out.headers.count(name) ? "\n" : "") + std::string(f.value());
    }
    return out;
  } catch (const std::exception&) {
    return {};
  }
}

inline std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

// A Stripe delivery signed now with `secret`.
inline Reply post_stripe(std::uint16_t port, const std::string& secret, const std::string& body) {
  const std::string t = std::to_string(std::time(nullptr));
  return request(port, http::verb::post, "/v1/payments/acme/stripe", body,
                 {{"Content-Type", "application/json"},
                  {"Stripe-Signature", "t=" + t + ",v1=" + hmac_hex(secret, t + "." + body)}});
}

inline std::string payment_event(const std::string& n, const std::string& invoice, int amount) {
  const std::string now = std::to_string(std::time(nullptr));
  return R"({"id":"evt_ns_)" + n + R"(","object":"event","type":"payment_intent.succeeded",)" +
         R"("created":)" + now + R"(,"livemode":false,"data":{"object":{"id":"pi_ns_)" + n +
         R"(","object":"payment_intent","amount":)" + std::to_string(amount) +
         R"(,"amount_received":)" + std::to_string(amount) + R"(,"currency":"usd","created":)" +
         now + R"(,"latest_charge":"ch_ns_)" + n +
         R"(","payment_method_types":["card"],"metadata":{"intacct_invoice":")" + invoice +
         R"("}}}})";
}

// Flattens a reply to text: strings, numbers, arrays element by element.
inline void flatten(const redis::Reply& r, std::string& out) {
  switch (r.type) {
    case redis::Reply::Type::integer:
      out += std::to_string(r.integer);
      break;
    case redis::Reply::Type::array:
      for (const auto& e : r.elements) {
        flatten(e, out);
        out += '\n';
      }
      break;
    case redis::Reply::Type::nil:
      out += "(nil)";
      break;
    default:
      out += r.str;
  }
}

// Every key (SCAN) and its value read by its type, as "key (type)\nvalue":
// strings, hashes, lists, sets, sorted sets with their scores, streams with
// their entries. A type it cannot read is named as such (and counted).
inline std::map<std::string, std::string> dump_redis(RedisServer& redis, int& unreadable) {
  std::map<std::string, std::string> out;
  unreadable = 0;
  std::string cursor = "0";
  do {
    auto page = redis.cmd({"SCAN", cursor, "COUNT", "1000"});
    REQUIRE(page.elements.size() == 2);
    cursor = page.elements[0].str;
    for (const auto& k : page.elements[1].elements) {
      const std::string type = redis.cmd({"TYPE", k.str}).str;
      redis::Reply value;
      if (type == "string") {
        value = redis.cmd({"GET", k.str});
      } else if (type == "hash") {
        value = redis.cmd({"HGETALL", k.str});
      } else if (type == "list") {
        value = redis.cmd({"LRANGE", k.str, "0", "-1"});
      } else if (type == "set") {
        value = redis.cmd({"SMEMBERS", k.str});
      } else if (type == "zset") {
        value = redis.cmd({"ZRANGE", k.str, "0", "-1", "WITHSCORES"});
      } else if (type == "stream") {
        value = redis.cmd({"XRANGE", k.str, "-", "+"});
      } else if (type != "none") {  // "none": expired meanwhile
        ++unreadable;
      }
      std::string text = k.str + " (" + type + ")\n";
      flatten(value, text);
      out[k.str] = std::move(text);
    }
  } while (cursor != "0");
  return out;
}

// A local alert receiver: answers every POST 200 and keeps its target and
// body. One connection at a time, on a thread of its own.
class Receiver {
 public:
  struct Post {
    std::string target, body;
  };

  Receiver() : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { run(); });
  }
  ~Receiver() {
    stopping_ = true;
    boost::system::error_code ec;
    asio::ip::tcp::socket poke(ioc_);
    poke.connect({asio::ip::make_address("127.0.0.1"), port}, ec);  // wakes accept()
    thread_.join();
  }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  std::vector<Post> posts() {
    std::lock_guard lock(mu_);
    return posts_;
  }

  std::uint16_t port = 0;

 private:
  void run() {
    while (!stopping_) {
      asio::ip::tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stopping_) continue;
      timeval tv{10, 0};
      ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      boost::beast::flat_buffer buf;
      for (;;) {  // keep-alive: every request of the connection
        http::request<http::string_body> req;
        http::read(s, buf, req, ec);
        if (ec) break;
        {
          std::lock_guard lock(mu_);
          posts_.push_back({std::string(req.target()), req.body()});
        }
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain");
        res.body() = "ok";
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(s, res, ec);
        if (ec || !req.keep_alive()) break;
      }
    }
  }

  asio::io_context ioc_;
  asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::vector<Post> posts_;
};

}  // namespace isync::testing::nosecret

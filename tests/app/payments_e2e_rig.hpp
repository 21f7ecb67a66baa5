// The payments stress test's rig: Stripe webhooks, the sandbox and three services, their checks.
#pragma once

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/write.hpp>
#include <chrono>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/quiet_reconcile.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::payments_e2e {

using namespace std::chrono_literals;
using isync::testing::Child;
using isync::testing::eventually;
using isync::testing::free_port;
using isync::testing::HttpClient;
using isync::testing::read_sandbox_ports;
using isync::testing::RedisServer;
using isync::testing::Response;
namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

inline constexpr const char* kAdminToken = "admin-token-for-payments";
inline constexpr const char* kTenantToken = "acme-token-for-payments";
inline constexpr const char* kSenderPassword = "sender-secret-payments";
inline constexpr const char* kUserPassword = "user-secret-payments";
inline constexpr const char* kStripeSecret = "whsec_payments_e2e";

// 1,000 payments in both builds: under ASan + UBSan the run takes about as
// long (the sending is spread over 10 s and dominates); only the deadline to
// settle is more generous there.
inline constexpr int kPayments = 1000;
inline constexpr auto kSendSpread = 10s;
#ifdef ISYNC_SANITIZED
inline constexpr auto kSettleDeadline = 600s;
#else
inline constexpr auto kSettleDeadline = 240s;
#endif
inline constexpr int kServices = 3;
inline constexpr int kClients = 4;
inline constexpr int kMinKills = 5;
inline constexpr int kMaxKills = 15;
inline constexpr auto kKillEvery = 2s;

inline rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str(), text.size());
  return d;
}

inline std::string str_of(const rapidjson::Value& obj, const std::string& name) {
  const char* key = name.c_str();
  if (!obj.IsObject() || !obj.HasMember(key) || !obj[key].IsString()) return {};
  return obj[key].GetString();
}

// "123.45" → 12345; "-" or garbage → -1.
inline std::int64_t cents(const std::string& text) {
  if (text.empty()) return -1;
  std::int64_t whole = 0, frac = 0;
  int frac_digits = 0;
  bool dot = false;
  for (char c : text) {
    if (c == '.') {
      if (dot) return -1;
      dot = true;
    } else if (c >= '0' && c <= '9') {
      if (dot) {
        if (++frac_digits > 2) return -1;
        frac = frac * 10 + (c - '0');
      } else {
        whole = whole * 10 + (c - '0');
      }
    } else {
      return -1;
    }
  }
  if (frac_digits == 1) frac *= 10;
  return whole * 100 + frac;
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

// One POST with a Stripe-Signature made now; status 0 = no answer (the
// process is down or died mid-request).
inline Response post_stripe(std::uint16_t port, const std::string& body) {
  const std::string t = std::to_string(std::time(nullptr));
  const std::string sig = "t=" + t + ",v1=" + hmac_hex(kStripeSecret, t + "." + body);
  try {
    asio::io_context ioc;
    asio::ip::tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval tv{10, 0};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    http::request<http::string_body> req{http::verb::post, "/v1/payments/acme/stripe", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.set("Stripe-Signature", sig);
    req.set(http::field::connection, "close");
    req.body() = body;
    req.prepare_payload();
    http::write(s, req);
    boost::beast::flat_buffer buf;
    http::response<http::string_body> res;
    http::read(s, buf, res);
    return {static_cast<int>(res.result_int()), res.body()};
  } catch (const std::exception&) {
    return {0, {}};
  }
}

struct Invoice {
  std::int64_t recordno = 0;
  std::string recordid;
  std::int64_t due = 0;  // cents, before the run
};

struct Payment {
  int n = 0;
  std::string pi, ch;
  std::size_t invoice = 0;  // index into the invoices
  std::string reference;    // metadata intacct_invoice
  std::int64_t amount = 0;  // cents
  bool charge_event = false;
};

struct Delivery {
  std::string event_id;
  std::string body;
};

inline std::string amount_text(std::int64_t c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%02lld", static_cast<long long>(c / 100),
                static_cast<long long>(c % 100));
  return buf;
}

inline std::string pi_event(const Payment& p, std::int64_t now) {
  const std::string amount = std::to_string(p.amount);
  return R"({"id":"evt_pi_)" + std::to_string(p.n) +
         R"(","object":"event","type":"payment_intent.succeeded","created":)" +
         std::to_string(now) + R"(,"livemode":false,"data":{"object":{"id":")" + p.pi +
         R"(","object":"payment_intent","amount":)" + amount + R"(,"amount_received":)" + amount +
         R"(,"currency":"usd","created":)" + std::to_string(now) + R"(,"latest_charge":")" + p.ch +
         R"(","payment_method_types":["card"],"metadata":{"intacct_invoice":")" + p.reference +
         R"("}}}})";
}

inline std::string charge_event(const Payment& p, std::int64_t now, const std::string& event_id,
                                const std::string& type, std::int64_t refunded) {
  std::string out =
      R"({"id":")" + event_id + R"(","object":"event","type":")" + type + R"(","created":)" +
      std::to_string(now) + R"(,"livemode":false,"data":{"object":{"id":")" + p.ch +
      R"(","object":"charge","amount":)" + std::to_string(p.amount) +
      R"(,"currency":"usd","created":)" + std::to_string(now) + R"(,"payment_intent":")" + p.pi +
      R"(","billing_details":{"email":"payer@example.com"},)" +
      R"("payment_method_details":{"type":"card","card":{"last4":"4242"}},)";
  if (refunded >= 0) {
    out += R"("refunded":true,"amount_refunded":)" + std::to_string(refunded) + ",";
  }
  return out + R"("metadata":{"intacct_invoice":")" + p.reference + R"("}}}})";
}

// Sum of every series of a counter in a Prometheus text page.
inline std::int64_t counter_sum(const std::string& page, const std::string& name) {
  std::int64_t sum = 0;
  std::istringstream in(page);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    if (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ') {
      continue;
    }
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    sum += static_cast<std::int64_t>(std::strtod(line.c_str() + sp + 1, nullptr));
  }
  return sum;
}

// The lines of `text` containing any of `needles` (at most `max`).
inline std::string grep(const std::string& text, const std::vector<std::string>& needles,
                        std::size_t max = 60) {
  std::istringstream in(text);
  std::string line, out;
  std::size_t n = 0;
  while (std::getline(in, line) && n < max) {
    for (const auto& needle : needles) {
      if (line.find(needle) != std::string::npos) {
        out += line + "\n";
        ++n;
        break;
      }
    }
  }
  return out;
}

// The sandbox and the three services, their files under the build directory.
//
// The sandbox posts no smart events here: the mirror's path has its own test
// (intacct_e2e_test.cpp), and without it every Intacct call of the run is a
// payment's, so the calls per payment printed at the end are the payments'
// own cost.
//
// Each child's stderr is kept under the build directory
// (tests/app/app_payments_test.d/), and the relevant lines are printed when
// a check fails.
class Rig {
 public:
  explicit Rig(RedisServer& redis) : redis_(redis) {
    // serve's reconcile scheduler stays out of this test (see quiet_reconcile.hpp).
    isync::testing::recent_reconcile(redis, "acme");
    dir = std::string(ISYNC_TEST_DIR) + "/app_payments_test.d";
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    std::filesystem::create_directories(dir);
  }
  ~Rig() {
    services.clear();
    sandbox.reset();
  }

  void start_sandbox() {
    const std::string port_file = dir + "/sandbox.ports";
    sandbox = std::make_unique<Child>(
        ISYNC_SANDBOX_BINARY,
        std::vector<std::string>{"serve", "--gateway-listen", "127.0.0.1:0", "--control-listen",
                                 "127.0.0.1:0", "--sender-id", "sender-e2e", "--company-id",
                                 "DEMO-CO", "--user-id", "ws_user", "--demo-customers", "50",
                                 "--demo-invoices", "500", "--seed", "7", "--port-file", port_file},
        std::vector<std::string>{std::string("INTACCT_SANDBOX_SENDER_PASSWORD=") + kSenderPassword,
                                 std::string("INTACCT_SANDBOX_USER_PASSWORD=") + kUserPassword},
        dir + "/sandbox.log");
    bool up = read_sandbox_ports(port_file, gateway_port, control_port);
    if (!up) FAIL("sandbox did not come up; log:\n" << sandbox->log());
  }

  void write_configs() {
    for (int i = 0; i < kServices; ++i) {
      public_ports.push_back(free_port());
      admin_ports.push_back(free_port());
      std::ofstream(config(i))
          << "[server]\npublic_listen = \"127.0.0.1:" << public_ports.back()
          << "\"\nadmin_listen = \"127.0.0.1:" << admin_ports.back()
          << "\"\nthreads = 2\ndrain_timeout = \"10s\"\n"
          << "[redis]\nurl = \"" << redis_.url() << "\"\n"
          << "[queue]\nworkers = 2\nretry_base = \"200ms\"\nretry_cap = \"2s\"\n"
          << "visibility_timeout = \"3s\"\n"
          << "[intacct]\nendpoint = \"http://127.0.0.1:" << gateway_port
          << "/ia/xml/xmlgw.phtml\"\nsender_id = \"sender-e2e\"\n"
          << "call_timeout = \"3s\"\nconnect_timeout = \"1s\"\n"
          << "sender_password = \"env:TEST_SENDER_PASSWORD\"\n"
          << "[payments]\nlease = \"3s\"\nreadback_interval = \"500ms\"\n"
          << "readback_wait = \"6s\"\n"
          << "[admin]\ntoken = \"env:TEST_ADMIN_TOKEN\"\n"
          << "[[tenant]]\nid = \"acme\"\ntoken = \"env:TEST_ACME_TOKEN\"\n"
          << "company_id = \"DEMO-CO\"\nuser_id = \"ws_user\"\n"
          << "user_password = \"env:TEST_USER_PASSWORD\"\n"
          << "concurrency = 6\n"
          << isync::testing::far_reconcile_at() << "stripe_secrets = [\"env:TEST_STRIPE_SECRET\"]\n"
          << "undeposited_account = \"1100\"\n";
      services.emplace_back();
    }
  }

  std::string config(int i) const { return dir + "/service" + std::to_string(i) + ".toml"; }
  std::string log_path(int i) const { return dir + "/service" + std::to_string(i) + ".log"; }

  // Starts (or restarts) service i with its config and ports; false when it
  // is not ready within 10 s.
  bool start_service(int i) {
    services[static_cast<std::size_t>(i)] = std::make_unique<Child>(
        ISYNC_BINARY, std::vector<std::string>{"serve", "--config", config(i)},
        std::vector<std::string>{std::string("TEST_ADMIN_TOKEN=") + kAdminToken,
                                 std::string("TEST_ACME_TOKEN=") + kTenantToken,
                                 std::string("TEST_SENDER_PASSWORD=") + kSenderPassword,
                                 std::string("TEST_USER_PASSWORD=") + kUserPassword,
                                 std::string("TEST_STRIPE_SECRET=") + kStripeSecret},
        log_path(i));
    const auto port = public_ports[static_cast<std::size_t>(i)];
    return eventually(
        [&] { return HttpClient(port).request(http::verb::get, "/readyz").status == 200; }, 10s);
  }

  void kill_service(int i) {
    auto& child = services[static_cast<std::size_t>(i)];
    child->signal(SIGKILL);
    child->wait_exit(10s);
    std::ofstream(log_path(i), std::ios::app) << "--- SIGKILL by the test; restarted\n";
  }

  Response control(http::verb method, const std::string& target, const std::string& body = {}) {
    return HttpClient(control_port).request(method, target, body, "application/json");
  }

  // Every record of `object` from the control API, pages of 1000.
  std::vector<rapidjson::Document> records(const std::string& object) {
    std::vector<rapidjson::Document> out;
    std::int64_t after = 0;
    for (;;) {
      auto r = control(http::verb::get,
                       "/v1/records/" + object + "?limit=1000&after=" + std::to_string(after));
      REQUIRE_MESSAGE(r.status == 200, r.body);
      auto page = json(r.body);
      REQUIRE(page.IsObject());
      const auto& list = page["records"];
      if (list.Empty()) break;
      for (const auto& rec : list.GetArray()) {
        rapidjson::Document d;
        d.CopyFrom(rec, d.GetAllocator());
        after = std::max<std::int64_t>(after, rec["recordno"].GetInt64());
        out.push_back(std::move(d));
      }
    }
    return out;
  }

  std::string logs(const std::vector<std::string>& needles) {
    std::string out;
    for (int i = 0; i < kServices; ++i) {
      std::ifstream in(log_path(i));
      std::stringstream s;
      s << in.rdbuf();
      out +=
          "--- service" + std::to_string(i) + " (" + log_path(i) + ")\n" + grep(s.str(), needles);
    }
    return out;
  }

  std::string dir;
  std::uint16_t gateway_port = 0, control_port = 0;
  std::vector<std::uint16_t> public_ports, admin_ports;
  std::unique_ptr<Child> sandbox;
  std::vector<std::unique_ptr<Child>> services;

 private:
  RedisServer& redis_;
};

inline std::int64_t zcard(RedisServer& redis, const std::string& suffix) {
  return redis.cmd({"ZCARD", "isync:{acme}:" + suffix}).integer;
}

}  // namespace isync::testing::payments_e2e

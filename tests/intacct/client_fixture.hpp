// The client tests' fake gateway (Intacct's reply shapes) and their Env of client hubs.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "tests/intacct/gateway_server.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::intacct::test::client {

using std::chrono::milliseconds;

using test::GatewayReply;
using test::GatewayServer;

inline constexpr std::int64_t kStartMs = 1700000000000;  // 2023-11
inline constexpr std::int64_t kSessionMs =
    2 * 3600 * 1000;  // the fake's sessiontimeout − timestamp

// ---- the fake gateway: Intacct's reply shapes, thread-safe ---------------------

class FakeGateway {
 public:
  std::string url;
  std::string user_password = "userpw";
  milliseconds delay{0};
  int invalid_session_next = 0;  // next N session calls answer "Invalid session"
  int timeout_524_writes = 0;    // next N requests with a write: HTTP 524 after running

  GatewayReply handle(const std::string& body) {
    std::lock_guard lock(mu_);
    ++requests;
    pugi::xml_document doc;
    if (!doc.load_string(body.c_str())) return {400, "text/plain", "bad xml", delay};
    auto control = doc.child("request").child("control");
    auto op = doc.child("request").child("operation");
    if (std::string(control.child_value("senderid")) != "sender" ||
        std::string(control.child_value("password")) != "senderpw") {
      return {200, "text/xml", control_failure(), delay};
    }
    auto auth = op.child("authentication");
    std::string company;
    if (auth.child("login")) {
      company = auth.child("login").child_value("companyid");
      if (std::string(auth.child("login").child_value("password")) != user_password) {
        return {200, "text/xml", auth_failure("Sign-in information is incorrect"), delay};
      }
    } else {
      const std::string sid = auth.child_value("sessionid");
      if (invalid_session_next > 0 || !sessions_.count(sid)) {
        if (invalid_session_next > 0) --invalid_session_next;
        return {200, "text/xml", auth_failure("Invalid session"), delay};
      }
      company = sessions_[sid];
    }
    std::string results;
    bool write = false;
    for (auto fn : op.child("content").children("function")) {
      const std::string cid = fn.attribute("controlid").value();
      auto call = fn.first_child();
      const std::string name = call.name();
      ++calls_by_function[name];
      ++calls_by_company[company + ":" + name];
      if (name == "getAPISession") {
        const std::string sid = "sess-" + std::to_string(++session_counter);
        sessions_[sid] = company;
        results += result(name, cid,
                          "<data><api><sessionid>" + sid + "</sessionid><endpoint>" + url +
                              "</endpoint><locationid></locationid></api></data>");
      } else if (name == "read") {
        const std::string object = call.child_value("object");
        std::string rows;
        std::string keys = call.child_value("keys");
        std::size_t count = 0;
        for (std::size_t at = 0; at <= keys.size();) {
          auto comma = keys.find(',', at);
          if (comma == std::string::npos) comma = keys.size();
          const std::string k = keys.substr(at, comma - at);
          at = comma + 1;
          if (k.empty() || k.rfind("9", 0) == 0) continue;  // keys 9… do not exist
          ++count;
          rows += "<" + object + "><RECORDNO>" + k + "</RECORDNO><NAME>n" + k + "</NAME></" +
                  object + ">";
        }
        results += result(name, cid,
                          "<data listtype=\"" + object + "\" count=\"" + std::to_string(count) +
                              "\">" + rows + "</data>");
      } else {
        write = true;
        results += result(name, cid, "<data listtype=\"objects\" count=\"1\"></data>");
      }
    }
    if (write && timeout_524_writes > 0) {
      --timeout_524_writes;
      return {524, "text/plain", "A timeout occurred", delay};
    }
    return {200, "text/xml",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>" + control_ok() +
                "<operation><authentication><status>success</status><userid>u</userid>"
                "<companyid>" +
                company +
                "</companyid><locationid></locationid>"
                "<sessiontimestamp>2015-12-06T15:57:08-08:00</sessiontimestamp>"
                "<sessiontimeout>2015-12-06T17:57:08-08:00</sessiontimeout></authentication>" +
                results + "</operation></response>",
            delay};
  }

  void expire_sessions() {
    std::lock_guard lock(mu_);
    sessions_.clear();
  }
  int count(const std::string& function) {
    std::lock_guard lock(mu_);
    return calls_by_function[function];
  }
  int count_requests() {
    std::lock_guard lock(mu_);
    return requests;
  }
  void set(std::function<void(FakeGateway&)> f) {
    std::lock_guard lock(mu_);
    f(*this);
  }

  std::map<std::string, int> calls_by_function, calls_by_company;
  int requests = 0;
  int session_counter = 0;

 private:
  static std::string control_ok() {
    return "<control><status>success</status><senderid>sender</senderid><controlid>c</controlid>"
           "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>";
  }
  static std::string control_failure() {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response><control><status>failure</status>"
           "<senderid>sender</senderid><controlid>c</controlid><uniqueid>false</uniqueid>"
           "<dtdversion>3.0</dtdversion></control><errormessage><error><errorno>XL03000006"
           "</errorno><description>Incorrect Intacct XML Partner ID or password.</description>"
           "<description2></description2><correction></correction></error></errormessage>"
           "</response>";
  }
  static std::string auth_failure(const std::string& text) {
    return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><response>" + control_ok() +
           "<operation><authentication><status>failure</status><userid>u</userid><companyid>c"
           "</companyid></authentication><errormessage><error><errorno>XL03000006</errorno>"
           "<description>" +
           text + "</description><description2>" + text +
           "</description2><correction></correction></error></errormessage></operation>"
           "</response>";
  }
  static std::string result(const std::string& fn, const std::string& cid,
                            const std::string& data) {
    return "<result><status>success</status><function>" + fn + "</function><controlid>" + cid +
           "</controlid>" + data + "</result>";
  }

  std::mutex mu_;
  std::map<std::string, std::string> sessions_;  // id -> company
};

// ---- the client side -------------------------------------------------------------

struct Env {
  testing::RedisServer redis;
  FakeGateway gw;
  GatewayServer server{[this](const std::string& body) { return gw.handle(body); }, gw.url};
  ManualClock clock{kStartMs};
  Metrics metrics;
  std::mutex log_mu;
  std::vector<std::string> lines;
  Log log{Level::info, [this](std::string_view line) {
            std::lock_guard lock(log_mu);
            lines.emplace_back(line);
          }};
  testing::Loop loop;
  struct Process {
    std::shared_ptr<redis::Connection> conn;
    std::shared_ptr<HttpTransport> transport;
    std::unique_ptr<ClientHub> hub;
  };
  std::vector<Process> processes;

  ~Env() {
    for (auto& p : processes) {
      p.hub->shutdown();
      p.transport->shutdown();
      testing::close_and_wait(*p.conn);
    }
    processes.clear();
  }

  ClientOptions options() const {
    ClientOptions o;
    o.endpoint = gw.url;
    o.sender_id = "sender";
    o.sender_password = Secret("senderpw");
    o.call_timeout = milliseconds(10'000);
    o.slot_wait = milliseconds(10'000);
    return o;
  }
  static TenantAccess access(std::string tenant, std::string password = "userpw") {
    TenantAccess a;
    a.tenant = tenant;
    a.company_id = "co-" + tenant;
    a.user_id = "u";
    a.user_password = Secret(std::move(password));
    return a;
  }
  // A second hub = a second process sharing the Redis.
  ClientHub& hub(ClientOptions o) {
    Process p;
    p.conn = redis::Connection::create(loop.ioc.get_executor(), redis.endpoint(), {}, &log);
    p.conn->start();
    REQUIRE(testing::eventually([&] { return p.conn->connected(); }));
    TransportOptions t;
    t.allow_plain_http = true;
    p.transport = HttpTransport::create(loop.ioc.get_executor(), t, log);
    p.hub = std::make_unique<ClientHub>(loop.ioc.get_executor(), p.conn, p.transport, std::move(o),
                                        metrics, clock, log);
    processes.push_back(std::move(p));
    return *processes.back().hub;
  }
  int log_count(std::string_view needle) {
    std::lock_guard lock(log_mu);
    int n = 0;
    for (const auto& l : lines) n += l.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
};

inline std::vector<Function> read_fn(std::vector<std::string> keys = {"1"}) {
  return {Function{{}, Read{"ARINVOICE", std::move(keys), {}, {}}}};
}

inline std::future<CallOutcome> call(Client& c, std::vector<Function> fns, bool unique = false) {
  auto p = std::make_shared<std::promise<CallOutcome>>();
  auto f = p->get_future();
  c.call(std::move(fns), unique, [p](CallOutcome o) { p->set_value(std::move(o)); });
  return f;
}

inline CallOutcome wait(std::future<CallOutcome> f) {
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}

inline bool all_succeeded(const CallOutcome& o) {
  if (o.error || !o.response) return false;
  for (const auto& r : o.response->results) {
    if (r.status != Status::success) return false;
  }
  return true;
}

}  // namespace isync::intacct::test::client

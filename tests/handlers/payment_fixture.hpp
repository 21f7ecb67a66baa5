// The payment tests' rig: a real Redis, the sandbox company behind its
// gateway (reached through a proxy that can fail or hold creates), an Intacct
// client hub and a PaymentHandler for the tenant; Stripe events as the ingest
// route queues them.
#pragma once

#include <doctest/doctest.h>
#include <sys/socket.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <future>
#include <set>
#include <thread>

#include "handlers/detail/payment_map.hpp"
#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"
#include "tests/handlers/mirror_fixture.hpp"

namespace isync::testing {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using Kind = queue::Outcome::Kind;

// 2026-11-22 03:30:00 UTC.
inline constexpr std::int64_t kCreated = 1795318200;
inline constexpr const char* kReceipt = "11/22/2026";

// A gateway in front of the sandbox's: passes every request on, except that
// it can answer a create with HTTP 503 without passing it on (a write that
// never lands), or hold creates unanswered (a call that never returns). Each
// connection has a thread of its own.
class GatewayProxy {
 public:
  explicit GatewayProxy(std::uint16_t upstream) : upstream_(upstream) {
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~GatewayProxy() { stop(); }
  GatewayProxy(const GatewayProxy&) = delete;
  GatewayProxy& operator=(const GatewayProxy&) = delete;

  std::uint16_t port() const { return port_; }

  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

  // The bodies of the create requests seen (answered, failed or held).
  std::vector<std::string> creates() {
    std::lock_guard lock(mu_);
    return creates_;
  }

  std::atomic<int> fail_creates{0};
  std::atomic<bool> hold_creates{false};
  std::atomic<int> held{0};

 private:
  void accept_loop() {
    for (;;) {
      tcp::socket s(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(s, ec);
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (ec) continue;
      fds_.push_back(s.native_handle());
      threads_.emplace_back([this, sock = std::move(s)]() mutable { serve(std::move(sock)); });
    }
  }

  void serve(tcp::socket client) {
    boost::beast::flat_buffer buf, upbuf;
    std::optional<tcp::socket> up;
    for (;;) {
      boost::system::error_code ec;
      http::request<http::string_body> req;
      http::read(client, buf, req, ec);
      if (ec) return;
      const bool create = req.body().find("<create>") != std::string::npos;
      if (create) {
        std::unique_lock lock(mu_);
        creates_.push_back(req.body());
        if (hold_creates) {
          ++held;
          cv_.wait(lock, [this] { return stopping_; });
          return;
        }
      }
      if (create && fail_creates > 0) {
        --fail_creates;
        http::response<http::string_body> res{http::status::service_unavailable, req.version()};
        res.keep_alive(req.keep_alive());
        res.prepare_payload();
        http::write(client, res, ec);
        if (ec) return;
        continue;
      }
      if (!up) {
        up.emplace(ioc_);
        up->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), upstream_), ec);
        if (ec) return;
        std::lock_guard lock(mu_);
        if (stopping_) return;
        fds_.push_back(up->native_handle());
      }
      http::write(*up, req, ec);
      if (ec) return;
      http::response<http::string_body> res;
      http::read(*up, upbuf, res, ec);
      if (ec) return;
      http::write(client, res, ec);
      if (ec) return;
    }
  }

  std::uint16_t upstream_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  std::uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::vector<std::string> creates_;
  std::thread accept_thread_;
};

// One Stripe payment as the ingest route queues it.
struct Pay {
  std::string id = "pi_1";
  std::string type = "payment_intent.succeeded";
  std::int64_t amount = 4000;  // minor units
  std::int64_t refunded = 0;
  std::string currency = "USD";
  std::string invoice = "INV-1";
  std::string customer;
  std::string method = "card";
};

inline int g_event = 0;

inline queue::Envelope stripe(const Pay& p) {
  queue::Envelope e;
  e.event_id = make_ulid(kStartMs + ++g_event);
  e.source = "stripe";
  e.tenant = kTenant;
  e.object = "ARPYMT";
  e.action = p.type;
  e.key = p.id;
  e.version = kCreated;
  Fields s = {{"AMOUNT", std::to_string(p.amount)},
              {"CHARGE_ID", "ch_" + p.id.substr(3)},
              {"CREATED", std::to_string(kCreated)},
              {"CURRENCY", p.currency},
              {"EVENT_ID", "evt_" + std::to_string(g_event)},
              {"LIVEMODE", "false"},
              {"METHOD", p.method},
              {"PAYMENT_ID", p.id}};
  if (p.type == "charge.refunded") s.emplace_back("AMOUNT_REFUNDED", std::to_string(p.refunded));
  if (!p.invoice.empty()) s.emplace_back("INVOICE", p.invoice);
  if (!p.customer.empty()) s.emplace_back("CUSTOMER", p.customer);
  std::sort(s.begin(), s.end());
  e.snapshot = std::move(s);
  e.received_at_ms = kStartMs;
  e.content_type = "application/json";
  e.raw = "{}";
  return e;
}

inline int g_entry = 0;

inline queue::Delivery delivery(const queue::Envelope& e) {
  queue::Delivery d;
  d.tenant = e.tenant;
  d.stream = queue::key(e.tenant, "events");
  d.entry_id = "1-" + std::to_string(++g_entry);
  d.envelope = e;
  return d;
}

inline handlers::PaymentOptions pay_options() {
  handlers::PaymentOptions o;
  o.lease = std::chrono::milliseconds(2000);
  o.readback_interval = std::chrono::milliseconds(300);
  o.readback_wait = std::chrono::milliseconds(5000);
  return o;
}

inline handlers::PaymentPolicy default_policy() {
  handlers::PaymentPolicy p;
  p.bank_account = "BOA";
  return p;
}

inline sandbox::Credentials credentials() {
  return {"sender-1", "sender-secret", "DEMO-CO", "ws_user", "user-secret"};
}

// Redis, the sandbox company behind its gateway (reached through the proxy),
// an Intacct client hub and a PaymentHandler for the tenant.
struct PayFixture : MirrorFixture {
  ManualClock sandbox_clock{kCreated * 1000 + 3'600'000};
  sandbox::Company company{
      sandbox::Options{credentials(), "", std::chrono::hours(2), std::chrono::minutes(30), false},
      sandbox_clock};
  std::unique_ptr<sandbox::Server> gateway;
  std::unique_ptr<GatewayProxy> proxy;
  std::shared_ptr<intacct::HttpTransport> transport;
  std::shared_ptr<intacct::ClientHub> hub;
  handlers::PaymentOptions pay_opts = pay_options();
  handlers::PaymentPolicy policy = default_policy();
  std::unique_ptr<handlers::PaymentHandler> pay;

  explicit PayFixture(std::string user_password = "user-secret") {
    clock.set(kCreated * 1000 + 3'600'000);
    sandbox::ServerOptions so;
    so.gateway_port = 0;
    so.control_port = 0;
    gateway = std::make_unique<sandbox::Server>(io->executor(), company, so, log);
    REQUIRE(gateway->start().has_value());
    proxy = std::make_unique<GatewayProxy>(gateway->gateway_port());
    intacct::TransportOptions to;
    to.allow_plain_http = true;
    transport = intacct::HttpTransport::create(io->executor(), to, log);
    hub = make_hub(conn, clock, std::move(user_password));
    rebuild_payments();
    add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "Acme One"}});
    add("CUSTOMER", {{"CUSTOMERID", "C2"}, {"NAME", "Beta Two"}});
  }
  ~PayFixture() {
    // PAYTEST_LOG=1: the service's and the sandbox's log lines, to see why a case failed.
    if (std::getenv("PAYTEST_LOG") != nullptr) {
      std::lock_guard lock(log_mu);
      for (const auto& l : log_lines) std::fprintf(stderr, "%s\n", l.c_str());
    }
    hub->shutdown();
    transport->shutdown();
    proxy->stop();
    std::promise<void> stopped;
    gateway->stop([&] { stopped.set_value(); });
    stopped.get_future().wait_for(std::chrono::seconds(15));
  }

  std::shared_ptr<intacct::ClientHub> make_hub(std::shared_ptr<redis::Connection> c, Clock& clk,
                                               std::string password = "user-secret") {
    intacct::ClientOptions co;
    co.endpoint = "http://127.0.0.1:" + std::to_string(proxy->port()) + "/ia/xml/xmlgw.phtml";
    co.sender_id = "sender-1";
    co.sender_password = Secret("sender-secret");
    auto h = std::make_shared<intacct::ClientHub>(io->executor(), std::move(c), transport, co,
                                                  metrics, clk, log);
    h->add_tenant(intacct::TenantAccess{kTenant, "DEMO-CO", "ws_user", Secret(std::move(password)),
                                        "", 4, 100000});
    return h;
  }

  void rebuild_payments() {
    pay = std::make_unique<handlers::PaymentHandler>(
        conn, pay_opts, std::map<std::string, handlers::PaymentPolicy>{{kTenant, policy}}, metrics,
        clock, log, io->executor(), hub);
  }

  sandbox::Record add(const std::string& object, const std::map<std::string, std::string>& f) {
    auto r = company.add(object, f);
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? "" : r.error().message));
    return *r;
  }
  // An invoice of `total` for `customer`; returns its RECORDNO.
  std::string invoice(const std::string& recordid, const std::string& total,
                      const std::string& customer = "C1", const std::string& currency = "USD") {
    return std::to_string(add("ARINVOICE", {{"RECORDID", recordid},
                                            {"CUSTOMERID", customer},
                                            {"TOTALENTERED", total},
                                            {"CURRENCY", currency}})
                              .recordno);
  }
  std::string inv_field(const std::string& recordno, const std::string& name) {
    auto r = company.get("ARINVOICE", std::stoll(recordno));
    REQUIRE(r.has_value());
    auto it = r->fields.find(name);
    return it == r->fields.end() ? std::string() : it->second;
  }
  std::vector<sandbox::Record> payments() { return company.list("ARPYMT", 0, 1000); }

  // Every outcome is checked against the event's document: done means the
  // handler acked the entry (queue::kAckLua marks the document done), any
  // other outcome leaves it for the queue to move.
  queue::Outcome handle(const queue::Delivery& d, handlers::PaymentHandler* h = nullptr) {
    auto* worker = h != nullptr ? h : pay.get();
    const std::string doc = queue::key(kTenant, "ev:" + d.envelope.event_id);
    server.cmd({"HSET", doc, "state", "pending"});
    auto out = await<queue::Outcome>([&](auto cb) { worker->handle(d, cb); });
    INFO("outcome " << out.result << " " << out.failure.code);
    CHECK((server.cmd({"HGET", doc, "state"}).str == "done") == (out.kind == Kind::done));
    return out;
  }
  queue::Outcome handle(const queue::Envelope& e) { return handle(delivery(e)); }

  std::string ledger(const std::string& payment_id, const std::string& field) {
    auto r = server.cmd({"HGET", queue::key(kTenant, "pay:" + payment_id), field});
    return r.type == redis::Reply::Type::string ? r.str : std::string();
  }
  bool unsettled(const std::string& payment_id) {
    return server.cmd({"ZSCORE", queue::key(kTenant, "payments:unsettled"), payment_id}).type ==
           redis::Reply::Type::string;
  }
  std::int64_t executed(const std::string& function) {
    auto s = company.stats();
    auto it = s.calls_by_function.find(function);
    return it == s.calls_by_function.end() ? 0 : it->second;
  }
  std::uint64_t readbacks(const std::string& result) {
    return metrics
        .counter("isync_payment_readbacks_total", "", {{"tenant", kTenant}, {"result", result}})
        .value();
  }
  std::vector<std::string> audit(const std::string& object, const std::string& recordno) {
    auto r = server.cmd({"LRANGE", audit_key(object, recordno), "0", "-1"});
    std::vector<std::string> out;
    for (const auto& e : r.elements) out.push_back(e.str);
    return out;
  }
  void faults(const sandbox::Faults& f) { company.set_faults(f); }
  // The next write runs in Intacct but its answer is a 524: ambiguous.
  void timeout_next_write() {
    sandbox::Faults fault;
    fault.timeout_after_write = 1;
    faults(fault);
  }
};

inline bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline std::string controlid_of(const std::string& body) {
  const std::string marker = "<function controlid=\"";
  auto at = body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return body.substr(at, body.find('"', at) - at);
}

}  // namespace isync::testing

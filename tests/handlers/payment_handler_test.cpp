// PaymentHandler against a real Redis and the sandbox's gateway over HTTP:
// Stripe payments posted to Intacct as ARPYMTs exactly once, through every
// fault the sandbox can inject (PRODUCT.md §2, §3; DESIGN-NOTES.md §6).
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
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using Kind = queue::Outcome::Kind;

// 2026-11-22 03:30:00 UTC.
constexpr std::int64_t kCreated = 1795318200;
constexpr const char* kReceipt = "11/22/2026";

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

int g_event = 0;

queue::Envelope stripe(const Pay& p) {
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

int g_entry = 0;

queue::Delivery delivery(const queue::Envelope& e) {
  queue::Delivery d;
  d.tenant = e.tenant;
  d.stream = queue::key(e.tenant, "events");
  d.entry_id = "1-" + std::to_string(++g_entry);
  d.envelope = e;
  return d;
}

handlers::PaymentOptions pay_options() {
  handlers::PaymentOptions o;
  o.lease = std::chrono::milliseconds(2000);
  o.readback_interval = std::chrono::milliseconds(300);
  o.readback_wait = std::chrono::milliseconds(5000);
  return o;
}

handlers::PaymentPolicy default_policy() {
  handlers::PaymentPolicy p;
  p.bank_account = "BOA";
  return p;
}

sandbox::Credentials credentials() {
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

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string controlid_of(const std::string& body) {
  const std::string marker = "<function controlid=\"";
  auto at = body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return body.substr(at, body.find('"', at) - at);
}

// ---- 1 ----------------------------------------------------------------------

TEST_CASE("a payment to an invoice is posted once with the mapped fields, ledger and mirror") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  p.customer = "C1";
  auto e = stripe(p);
  auto out = f.handle(e);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  const auto& rec = pays[0].fields;
  const std::string n = std::to_string(pays[0].recordno);
  CHECK(rec.at("CUSTOMERID") == "C1");
  CHECK(rec.at("DOCNUMBER") == "pi_1");
  CHECK(rec.at("PAYMENTMETHOD") == "Credit Card");
  CHECK(rec.at("FINANCIALENTITY") == "BOA");
  CHECK(rec.at("RECEIPTDATE") == kReceipt);
  CHECK(rec.at("PAYMENTDATE") == kReceipt);
  CHECK(rec.at("CURRENCY") == "USD");
  CHECK(rec.at("TOTALENTERED") == "40.00");
  CHECK(rec.at("ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY") == inv);
  CHECK(rec.at("ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT") == "40.00");
  CHECK(f.inv_field(inv, "TOTALPAID") == "40.00");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
  // The ledger.
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.ledger("pi_1", "recordno") == n);
  CHECK(f.ledger("pi_1", "sends") == "1");
  CHECK(f.ledger("pi_1", "controlid") ==
        handlers::detail::payment_control_id(kTenant, "pi_1", "create"));
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 0);
  // The mirror: the payment's record, its id lookup, and audit links both ways.
  auto mirrored = f.fields("ARPYMT", n);
  CHECK(mirrored["RECORDNO"] == n);
  CHECK(mirrored["DOCNUMBER"] == "pi_1");
  CHECK(mirrored["CUSTOMERID"] == "C1");
  CHECK(f.server.cmd({"SISMEMBER", queue::key(kTenant, "id:ARPYMT:pi_1"), n}).integer == 1);
  auto pay_audit = f.audit("ARPYMT", n);
  REQUIRE(pay_audit.size() == 1);
  CHECK(has(pay_audit[0], "\"payment_id\":\"pi_1\""));
  CHECK(has(pay_audit[0], "\"invoice\":\"" + inv + "\""));
  CHECK(has(pay_audit[0], "\"event_id\":\"" + e.event_id + "\""));
  CHECK(has(pay_audit[0], "\"result\":\"posted\""));
  auto inv_audit = f.audit("ARINVOICE", inv);
  REQUIRE(inv_audit.size() == 1);
  CHECK(has(inv_audit[0], "\"arpymt\":\"" + n + "\""));
  CHECK(has(inv_audit[0], "\"payment_id\":\"pi_1\""));
  CHECK(f.executed("create") == 1);
}

// ---- 2 ----------------------------------------------------------------------

TEST_CASE("a redelivered payment and its other event type are duplicates, never a second ARPYMT") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  Pay p;
  auto first = stripe(p);
  auto d = delivery(first);
  REQUIRE(f.handle(d).result == "posted");
  d.attempt = 2;
  auto again = f.handle(d);
  CHECK(again.kind == Kind::done);
  CHECK(again.result == "duplicate");
  Pay charge = p;
  charge.type = "charge.succeeded";
  auto other = f.handle(stripe(charge));
  CHECK(other.kind == Kind::done);
  CHECK(other.result == "duplicate");
  CHECK(f.payments().size() == 1);
  CHECK(f.executed("create") == 1);
}

TEST_CASE("both event types of one payment handled at once: one waits, one ARPYMT") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  sandbox::Faults slow;
  slow.latency = std::chrono::milliseconds(300);
  f.faults(slow);
  Pay p;
  Pay charge = p;
  charge.type = "charge.succeeded";
  auto d1 = delivery(stripe(p));
  auto d2 = delivery(stripe(charge));
  auto p1 = std::make_shared<std::promise<queue::Outcome>>();
  auto p2 = std::make_shared<std::promise<queue::Outcome>>();
  f.pay->handle(d1, [p1](queue::Outcome o) { p1->set_value(std::move(o)); });
  f.pay->handle(d2, [p2](queue::Outcome o) { p2->set_value(std::move(o)); });
  auto r1 = p1->get_future();
  auto r2 = p2->get_future();
  REQUIRE(r1.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  REQUIRE(r2.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  std::vector<queue::Outcome> outs{r1.get(), r2.get()};
  int posted = 0, busy = 0;
  queue::Delivery* retried = nullptr;
  for (std::size_t i = 0; i < 2; ++i) {
    if (outs[i].result == "posted") ++posted;
    if (outs[i].kind == Kind::retry) {
      ++busy;
      CHECK(outs[i].failure.code == "payment_in_progress");
      CHECK(outs[i].failure.message ==
            "payment pi_1 is being handled by another worker; retried later");
      CHECK(outs[i].retry_after.count() > 0);
      retried = i == 0 ? &d1 : &d2;
    }
  }
  CHECK(posted == 1);
  CHECK(busy == 1);
  REQUIRE(retried != nullptr);
  retried->attempt = 2;
  CHECK(f.handle(*retried).result == "duplicate");
  CHECK(f.payments().size() == 1);
  CHECK(f.executed("create") == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

// ---- 3 ----------------------------------------------------------------------

TEST_CASE("a 524 after the create ran is ambiguous; the next attempt reads back and adopts it") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.timeout_next_write();
  Pay p;
  auto d = delivery(stripe(p));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.cls == queue::FailureClass::ambiguous);
  CHECK(first.failure.code == "ambiguous");
  CHECK(first.retry_after == std::chrono::milliseconds(300));
  CHECK(has(first.failure.message, "payment pi_1: creating the ARPYMT failed: Intacct transport"));
  CHECK(f.ledger("pi_1", "state") == "unknown");
  CHECK(f.unsettled("pi_1"));
  REQUIRE(f.payments().size() == 1);  // it did run
  d.attempt = 2;
  auto second = f.handle(d);
  CHECK(second.kind == Kind::done);
  CHECK(second.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.proxy->creates().size() == 1);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.ledger("pi_1", "recordno") == std::to_string(f.payments()[0].recordno));
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.readbacks("found") == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE("the next payment to an invoice waits while an earlier one's create may have run") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.timeout_next_write();
  Pay p;
  auto d = delivery(stripe(p));
  REQUIRE(f.handle(d).kind == Kind::retry);  // unknown: the invoice lock stays with pi_1
  CHECK(f.server.cmd({"GET", queue::key(kTenant, "pay-lock:INV-1")}).str == "pi_1");
  Pay q;
  q.id = "pi_2";
  q.amount = 6000;  // the rest of the balance once pi_1's 40.00 is counted
  auto other = f.handle(stripe(q));
  CHECK(other.kind == Kind::retry);
  CHECK(other.failure.code == "invoice_busy");
  CHECK(f.payments().size() == 1);
  d.attempt = 2;
  CHECK(f.handle(d).result == "adopted");  // settled: the lock is free
  CHECK(f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 0);
  CHECK(f.handle(stripe(q)).result == "posted");
  CHECK(f.payments().size() == 2);
  CHECK(f.inv_field(inv, "TOTALDUE") == "0.00");
}

// ---- 4 ----------------------------------------------------------------------

TEST_CASE("a write landing late is read back without a resend until it lands, then adopted") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  sandbox::Faults fault;
  fault.land_later = 1;
  fault.land_delay = std::chrono::milliseconds(2000);
  f.faults(fault);
  Pay p;
  auto d = delivery(stripe(p));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.code == "ambiguous");
  CHECK(f.ledger("pi_1", "state") == "unknown");
  CHECK(f.payments().empty());
  // Read-backs within readback_wait find nothing and send nothing.
  for (int i = 0; i < 2; ++i) {
    f.clock.advance(300);
    d.attempt++;
    auto out = f.handle(d);
    CHECK(out.kind == Kind::retry);
    CHECK(out.failure.code == "awaiting_readback");
    CHECK(out.failure.message ==
          "payment pi_1 is not in Intacct yet after an ambiguous send; read back again before any "
          "new attempt");
    CHECK(out.retry_after.count() >= 100);
    CHECK(f.ledger("pi_1", "state") == "unknown");
  }
  CHECK(f.readbacks("not_found") == 2);
  CHECK(f.proxy->creates().size() == 1);
  // It lands.
  f.sandbox_clock.advance(2100);
  REQUIRE(eventually([&] { return f.payments().size() == 1; }));
  f.clock.advance(600);
  d.attempt++;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.proxy->creates().size() == 1);
  CHECK(f.ledger("pi_1", "state") == "posted");
}

TEST_CASE("a write that never landed is sent again with the same controlid after readback_wait") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.proxy->fail_creates = 1;  // HTTP 503, never passed on
  Pay p;
  auto d = delivery(stripe(p));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.cls == queue::FailureClass::ambiguous);
  CHECK(has(first.failure.message, "HTTP 503"));
  CHECK(f.ledger("pi_1", "state") == "unknown");
  f.clock.advance(300);
  d.attempt++;
  auto waiting = f.handle(d);
  CHECK(waiting.failure.code == "awaiting_readback");
  CHECK(f.proxy->creates().size() == 1);
  f.clock.advance(5000);
  d.attempt++;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto creates = f.proxy->creates();
  REQUIRE(creates.size() == 2);
  CHECK(controlid_of(creates[0]) ==
        handlers::detail::payment_control_id(kTenant, "pi_1", "create"));
  CHECK(controlid_of(creates[1]) == controlid_of(creates[0]));
  CHECK(f.payments().size() == 1);
  CHECK(f.ledger("pi_1", "sends") == "2");
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE(
    "a write landing after readback_wait: the resend is refused as a duplicate, then adopted") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  sandbox::Faults fault;
  fault.land_later = 1;
  fault.land_delay = std::chrono::milliseconds(8000);
  f.faults(fault);
  Pay p;
  auto d = delivery(stripe(p));
  REQUIRE(f.handle(d).failure.code == "ambiguous");
  // Past readback_wait: the same request goes again, and Intacct refuses
  // the controlid it is still working on.
  f.clock.advance(5000);
  d.attempt++;
  auto resent = f.handle(d);
  CHECK(resent.kind == Kind::retry);
  CHECK(f.proxy->creates().size() == 2);
  CHECK(f.payments().empty());
  CHECK(f.ledger("pi_1", "state") == "unknown");
  f.sandbox_clock.advance(8100);
  REQUIRE(eventually([&] { return f.payments().size() == 1; }));
  f.clock.advance(1000);
  d.attempt++;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE("a payment naming its invoice by RECORDNO is posted to that invoice") {
  PayFixture f;
  f.invoice("INV-0", "10.00");
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  p.invoice = inv;
  CHECK(f.handle(stripe(p)).result == "posted");
  CHECK(f.payments().at(0).fields.at("ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY") == inv);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

// ---- 5 ----------------------------------------------------------------------

TEST_CASE("after a crash past the intent a new worker reads back before it sends again") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  // The first worker: its own Redis connection, its call held unanswered.
  auto conn1 = connect(f.io->executor(), f.server.endpoint());
  auto hub1 = f.make_hub(conn1, f.clock);
  handlers::PaymentHandler worker1(
      conn1, f.pay_opts, std::map<std::string, handlers::PaymentPolicy>{{kTenant, f.policy}},
      f.metrics, f.clock, f.log, f.io->executor(), hub1);
  f.proxy->hold_creates = true;
  Pay p;
  auto d = delivery(stripe(p));
  auto lost = std::make_shared<std::promise<queue::Outcome>>();
  worker1.handle(d, [lost](queue::Outcome o) { lost->set_value(std::move(o)); });
  REQUIRE(eventually([&] { return f.proxy->held == 1; }));
  CHECK(f.ledger("pi_1", "state") == "posting");
  CHECK(f.ledger("pi_1", "sends") == "1");
  CHECK_FALSE(f.ledger("pi_1", "body").empty());
  CHECK(f.unsettled("pi_1"));
  // The crash: nothing of worker1 reaches Redis any more; its lease and lock
  // run out.
  conn1->close();
  f.proxy->hold_creates = false;
  REQUIRE(eventually([&] {
    return f.server.cmd({"EXISTS", queue::key(kTenant, "pay-lock:INV-1")}).integer == 0;
  }));
  // A new worker, its clock past the lease.
  ManualClock clock2{f.clock.now_ms() + 2500};
  auto hub2 = f.make_hub(f.conn, clock2);
  handlers::PaymentHandler worker2(
      f.conn, f.pay_opts, std::map<std::string, handlers::PaymentPolicy>{{kTenant, f.policy}},
      f.metrics, clock2, f.log, f.io->executor(), hub2);
  d.attempt = 2;
  auto first = f.handle(d, &worker2);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.code == "awaiting_readback");
  CHECK(f.readbacks("not_found") == 1);
  CHECK(f.executed("create") == 0);
  CHECK(f.ledger("pi_1", "state") == "unknown");
  clock2.advance(5000);
  d.attempt = 3;
  auto out = f.handle(d, &worker2);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  CHECK(f.payments().size() == 1);
  CHECK(f.readbacks("not_found") == 2);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.ledger("pi_1", "sends") == "2");
  hub2->shutdown();
  hub1->shutdown();
}

// ---- 6 ----------------------------------------------------------------------

TEST_CASE("a duplicate-number error is adopted when the ARPYMT is ours, dead letter when not") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.company.set_settings({false, true});
  // As if our earlier write had landed.
  const auto ours = f.add("ARPYMT", {{"CUSTOMERID", "C1"},
                                     {"PAYMENTMETHOD", "Credit Card"},
                                     {"FINANCIALENTITY", "BOA"},
                                     {"RECEIPTDATE", kReceipt},
                                     {"DOCNUMBER", "pi_6"},
                                     {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", inv},
                                     {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "40.00"}});
  Pay p;
  p.id = "pi_6";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "adopted");
  CHECK(f.payments().size() == 1);
  CHECK(f.ledger("pi_6", "recordno") == std::to_string(ours.recordno));
  CHECK(f.ledger("pi_6", "state") == "posted");
  // Someone else's payment under our number.
  const auto theirs =
      f.add("ARPYMT", {{"CUSTOMERID", "C1"},
                       {"PAYMENTMETHOD", "Cash"},
                       {"FINANCIALENTITY", "BOA"},
                       {"RECEIPTDATE", kReceipt},
                       {"DOCNUMBER", "pi_7"},
                       {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", inv},
                       {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "30.00"}});
  Pay q;
  q.id = "pi_7";
  q.amount = 2000;
  auto conflict = f.handle(stripe(q));
  CHECK(conflict.kind == Kind::dead);
  CHECK(conflict.failure.cls == queue::FailureClass::permanent);
  CHECK(conflict.failure.code == "docnumber_conflict");
  CHECK(conflict.failure.message ==
        "Intacct has ARPYMT " + std::to_string(theirs.recordno) +
            " with DOCNUMBER pi_7 for customer C1 and amount 30.00, which is not this payment "
            "(C1, 20.00); nothing was posted.");
  CHECK(conflict.failure.correction ==
        "Check that ARPYMT in Intacct; if it is this payment entered by hand, discard this event, "
        "else post the payment by hand.");
  CHECK(f.payments().size() == 2);
  CHECK(f.ledger("pi_7", "state") == "failed");
  CHECK_FALSE(f.unsettled("pi_7"));
}

// ---- 7 ----------------------------------------------------------------------

TEST_CASE("a full refund reverses the payment once; a redelivered refund is a duplicate") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  REQUIRE(f.inv_field(inv, "TOTALDUE") == "60.00");
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "reversed");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  CHECK(pays[0].fields.at("STATE") == "Reversed");
  CHECK(pays[0].fields.at("REVERSEDDATE") == kReceipt);
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
  CHECK(f.inv_field(inv, "TOTALPAID") == "0.00");
  CHECK(f.ledger("pi_1", "state") == "reversed");
  CHECK(f.ledger("pi_1", "rcontrolid") ==
        handlers::detail::payment_control_id(kTenant, "pi_1", "reverse"));
  CHECK_FALSE(f.unsettled("pi_1"));
  const std::string n = std::to_string(pays[0].recordno);
  auto audit = f.audit("ARPYMT", n);
  REQUIRE(audit.size() == 2);
  CHECK(has(audit[0], "\"action\":\"refund\""));
  CHECK(f.audit("ARINVOICE", inv).size() == 2);
  d.attempt = 2;
  CHECK(f.handle(d).result == "duplicate");
  CHECK(f.handle(stripe(refund)).result == "duplicate");
  CHECK(f.executed("reverse_arpayment") == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
}

TEST_CASE("a reversal answered by a 524 is read back by RECORDNO and not sent twice") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  f.timeout_next_write();
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  auto first = f.handle(d);
  CHECK(first.kind == Kind::retry);
  CHECK(first.failure.cls == queue::FailureClass::ambiguous);
  CHECK(f.ledger("pi_1", "state") == "reverse_unknown");
  CHECK(f.unsettled("pi_1"));
  d.attempt = 2;
  auto out = f.handle(d);
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "reversed");
  CHECK(f.executed("reverse_arpayment") == 1);
  CHECK(f.ledger("pi_1", "state") == "reversed");
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
}

TEST_CASE("a reversal landing late is read back until it lands, without a second reversal") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  sandbox::Faults fault;
  fault.land_later = 1;
  fault.land_delay = std::chrono::milliseconds(2000);
  f.faults(fault);
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  REQUIRE(f.handle(d).failure.cls == queue::FailureClass::ambiguous);
  f.clock.advance(300);
  d.attempt++;
  auto waiting = f.handle(d);
  CHECK(waiting.kind == Kind::retry);
  CHECK(waiting.failure.code == "awaiting_readback");
  CHECK(f.ledger("pi_1", "state") == "reverse_unknown");
  f.sandbox_clock.advance(2100);
  REQUIRE(eventually([&] { return f.payments().at(0).fields.at("STATE") == "Reversed"; }));
  f.clock.advance(300);
  d.attempt++;
  CHECK(f.handle(d).result == "reversed");
  CHECK(f.inv_field(inv, "TOTALDUE") == "100.00");
  CHECK(f.ledger("pi_1", "rsends") == "1");
}

TEST_CASE("a partial refund is a dead letter that tells on-call what to do in Intacct") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  REQUIRE(f.handle(stripe(p)).result == "posted");
  const std::string n = std::to_string(f.payments().at(0).recordno);
  Pay refund = p;
  refund.type = "charge.refunded";
  refund.refunded = 1500;
  auto out = f.handle(stripe(refund));
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.cls == queue::FailureClass::permanent);
  CHECK(out.failure.code == "partial_refund");
  CHECK(out.failure.message == "payment pi_1 (Intacct ARPYMT " + n +
                                   ") was partly refunded: 15.00 of 40.00 USD. Intacct cannot "
                                   "reverse part of a payment.");
  CHECK(out.failure.correction ==
        "In Intacct, reverse ARPYMT " + n +
            " and record a new payment of 25.00 USD for the same invoice (or keep the payment and "
            "record the refund as an AR adjustment); then discard this event. A later full refund "
            "is reversed automatically.");
  CHECK(f.executed("reverse_arpayment") == 0);
  CHECK(f.ledger("pi_1", "state") == "posted");
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
}

TEST_CASE("a refund of a payment not posted yet is retried until the payment is") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  Pay refund;
  refund.type = "charge.refunded";
  refund.refunded = 4000;
  auto d = delivery(stripe(refund));
  auto out = f.handle(d);
  CHECK(out.kind == Kind::retry);
  CHECK(out.failure.code == "payment_not_posted");
  CHECK(out.failure.message ==
        "refund of payment pi_1 waits until the payment itself is posted to Intacct");
  CHECK(f.executed("reverse_arpayment") == 0);
  REQUIRE(f.handle(stripe(Pay{})).result == "posted");
  d.attempt = 2;
  CHECK(f.handle(d).result == "reversed");
  CHECK(f.payments().at(0).fields.at("STATE") == "Reversed");
}

// ---- 8 ----------------------------------------------------------------------

TEST_CASE("an invoice Intacct does not have is a dead letter naming it") {
  PayFixture f;
  Pay p;
  p.invoice = "INV-404";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.code == "invoice_not_found");
  CHECK(out.failure.message ==
        "Intacct invoice INV-404 does not exist (no ARINVOICE with that RECORDID or RECORDNO); "
        "payment pi_1 was not posted.");
  CHECK(out.failure.correction ==
        "Check the payment's metadata intacct_invoice; apply the payment by hand in Intacct, then "
        "discard this event.");
  CHECK(f.ledger("pi_1", "state") == "failed");
  CHECK(f.payments().empty());
}

TEST_CASE("an invoice in the mirror but deleted in Intacct is a dead letter invoice_deleted") {
  PayFixture f;
  f.server.cmd({"SADD", queue::key(kTenant, "id:ARINVOICE:INV-9"), "77"});
  Pay p;
  p.invoice = "INV-9";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.code == "invoice_deleted");
  CHECK(has(out.failure.message,
            "Intacct invoice INV-9 (RECORDNO 77 in the mirror) no longer "
            "exists in Intacct"));
  CHECK(has(out.failure.message, "Payment pi_1 was not posted."));
  CHECK(f.payments().empty());
}

TEST_CASE("an invoice named by a RECORDNO the mirror holds but Intacct lacks is invoice_deleted") {
  PayFixture f;
  f.server.cmd({"HSET", queue::key(kTenant, "rec:ARINVOICE:8801"), "v", "1700000000", "del", "0"});
  Pay p;
  p.invoice = "8801";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.code == "invoice_deleted");
  CHECK(has(out.failure.message,
            "Intacct invoice 8801 (RECORDNO 8801 in the mirror) no longer exists in Intacct"));
  Pay q;
  q.id = "pi_2";
  q.invoice = "8802";
  CHECK(f.handle(stripe(q)).failure.code == "invoice_not_found");
  CHECK(f.payments().empty());
}

TEST_CASE("Intacct's refusal is a dead letter with its words; a replay after the fix posts it") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  f.company.set_settings({true, false});
  Pay p;
  auto d = delivery(stripe(p));
  auto out = f.handle(d);
  CHECK(out.kind == Kind::dead);
  CHECK(out.failure.cls == queue::FailureClass::permanent);
  CHECK(out.failure.code == "payment_batch_required");
  CHECK(out.failure.message ==
        "payment pi_1: Intacct says \"Please provide a payment batch key.\": its AR is set to "
        "user-specified payment summaries, so each payment needs a batch, and nothing was "
        "posted. Fix: in Intacct set the AR payment summary frequency to Daily or Monthly "
        "(Accounts Receivable > Setup > Configure), or set payment_batch (PRBATCH) for the "
        "tenant; then replay this event.");
  CHECK(out.failure.errorno == "BL01001973");
  CHECK(out.failure.description == "Please provide a payment batch key.");
  CHECK(out.failure.correction ==
        "Send PRBATCH, or set the AR payment summary frequency to Daily or Monthly.");
  CHECK(out.failure.controlid == handlers::detail::payment_control_id(kTenant, "pi_1", "create"));
  CHECK(f.ledger("pi_1", "state") == "failed");
  CHECK_FALSE(f.unsettled("pi_1"));
  CHECK(f.payments().empty());
  // The other event type of a failed payment does not post it behind the
  // dead letter's back.
  Pay charge = p;
  charge.type = "charge.succeeded";
  CHECK(f.handle(stripe(charge)).result == "failed_before");
  CHECK(f.payments().empty());
  // Fixed in Intacct; the dead letter is replayed (same event id).
  f.company.set_settings({false, false});
  d.attempt = 1;
  auto replay = f.handle(d);
  CHECK(replay.kind == Kind::done);
  CHECK(replay.result == "posted");
  CHECK(f.payments().size() == 1);
  CHECK(f.inv_field(inv, "TOTALDUE") == "60.00");
  CHECK(f.ledger("pi_1", "state") == "posted");
}

TEST_CASE("mapping refusals: over the balance, currency, customer, three-decimal currency") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  f.invoice("INV-EUR", "100.00", "C1", "EUR");
  const std::string label = "INV-1 (RECORDNO 1)";
  SUBCASE("over the balance") {
    Pay p;
    p.amount = 15000;
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "over_balance");
    CHECK(out.failure.message ==
          "Payment pi_1 of 150.00 USD exceeds the balance 100.00 of invoice " + label + ".");
    CHECK(has(out.failure.correction, "overpayment = \"advance\""));
  }
  SUBCASE("currency") {
    Pay p;
    p.currency = "EUR";
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "currency_mismatch");
    CHECK(out.failure.message == "Payment pi_1 is in EUR but invoice " + label + " is in USD.");
  }
  SUBCASE("customer") {
    Pay p;
    p.customer = "C2";
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "customer_mismatch");
    CHECK(out.failure.message ==
          "Payment pi_1 names customer C2 but invoice " + label + " belongs to customer C1.");
  }
  SUBCASE("three decimals") {
    Pay p;
    p.currency = "KWD";
    auto out = f.handle(stripe(p));
    CHECK(out.kind == Kind::dead);
    CHECK(out.failure.code == "unsupported_currency");
    CHECK(out.failure.message ==
          "Payment pi_1 is in KWD, whose amounts have 3 decimals; Intacct amounts have 2. Post it "
          "by hand in Intacct.");
  }
  CHECK(f.payments().empty());
  CHECK(f.ledger("pi_1", "state") == "failed");
  CHECK(f.executed("create") == 0);
}

// ---- 9 ----------------------------------------------------------------------

TEST_CASE("rejected credentials park the payment with the circuit open and post nothing") {
  PayFixture f("wrong-password");
  f.invoice("INV-1", "100.00");
  auto out = f.handle(stripe(Pay{}));
  CHECK(out.kind == Kind::park);
  CHECK(out.failure.code == "intacct_circuit_open");
  CHECK(out.failure.message ==
        "the Intacct credentials of tenant acme were rejected (circuit open); payment pi_1 waits "
        "until they work again");
  CHECK(f.payments().empty());
  CHECK(f.ledger("pi_1", "owner").empty());
}

// ---- 10 ---------------------------------------------------------------------

TEST_CASE("a payment naming only a customer is an unapplied advance") {
  PayFixture f;
  Pay p;
  p.invoice = "";
  p.customer = "C2";
  p.method = "us_bank_account";
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  const auto& rec = pays[0].fields;
  CHECK(rec.at("CUSTOMERID") == "C2");
  CHECK(rec.at("PAYMENTMETHOD") == "EFT");
  CHECK(rec.at("TOTALENTERED") == "40.00");
  CHECK(rec.at("TOTALUNAPPLIED") == "40.00");
  CHECK(rec.count("ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY") == 0);
  const std::string n = std::to_string(pays[0].recordno);
  CHECK(f.fields("ARPYMT", n)["TOTALENTERED"] == "40.00");
  CHECK(f.ledger("pi_1", "state") == "posted");
}

TEST_CASE("with overpayment as advance the balance is applied and the rest kept unapplied") {
  PayFixture f;
  f.policy.overpayment_as_advance = true;
  f.rebuild_payments();
  const auto inv = f.invoice("INV-1", "100.00");
  Pay p;
  p.amount = 15000;
  auto out = f.handle(stripe(p));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "posted");
  auto pays = f.payments();
  REQUIRE(pays.size() == 1);
  const auto& rec = pays[0].fields;
  CHECK(rec.at("TOTALENTERED") == "150.00");
  CHECK(rec.at("ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT") == "100.00");
  CHECK(rec.at("TOTALUNAPPLIED") == "50.00");
  CHECK(f.inv_field(inv, "TOTALDUE") == "0.00");
}

// ---- 11 ---------------------------------------------------------------------

TEST_CASE("two payments to one invoice at once are posted one at a time") {
  PayFixture f;
  const auto inv = f.invoice("INV-1", "100.00");
  sandbox::Faults slow;
  slow.latency = std::chrono::milliseconds(300);
  f.faults(slow);
  Pay a;
  a.id = "pi_a";
  a.amount = 3000;
  Pay b;
  b.id = "pi_b";
  b.amount = 2000;
  auto da = delivery(stripe(a));
  auto db = delivery(stripe(b));
  auto pa = std::make_shared<std::promise<queue::Outcome>>();
  auto pb = std::make_shared<std::promise<queue::Outcome>>();
  f.pay->handle(da, [pa](queue::Outcome o) { pa->set_value(std::move(o)); });
  f.pay->handle(db, [pb](queue::Outcome o) { pb->set_value(std::move(o)); });
  auto ra = pa->get_future();
  auto rb = pb->get_future();
  REQUIRE(ra.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  REQUIRE(rb.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  auto oa = ra.get();
  auto ob = rb.get();
  CHECK((oa.kind == Kind::retry) != (ob.kind == Kind::retry));
  auto& waited = oa.kind == Kind::retry ? oa : ob;
  auto& retry_d = oa.kind == Kind::retry ? da : db;
  CHECK(waited.failure.code == "invoice_busy");
  CHECK(waited.failure.message ==
        "another payment to invoice INV-1 is being posted; payments to one invoice go one at a "
        "time");
  CHECK(f.payments().size() == 1);
  retry_d.attempt = 2;
  CHECK(f.handle(retry_d).result == "posted");
  CHECK(f.payments().size() == 2);
  CHECK(f.inv_field(inv, "TOTALDUE") == "50.00");
  CHECK(f.inv_field(inv, "TOTALPAID") == "50.00");
  CHECK(f.ledger("pi_a", "state") == "posted");
  CHECK(f.ledger("pi_b", "state") == "posted");
}

// ---- 12 ---------------------------------------------------------------------

TEST_CASE("other event types are ignored; a payment for no invoice or customer is not ours") {
  PayFixture f;
  Pay other;
  other.type = "customer.created";
  auto ignored = f.handle(stripe(other));
  CHECK(ignored.kind == Kind::done);
  CHECK(ignored.result == "ignored");
  Pay none;
  none.invoice = "";
  auto out = f.handle(stripe(none));
  CHECK(out.kind == Kind::done);
  CHECK(out.result == "not_for_intacct");
  CHECK(f.ledger("pi_1", "state").empty());
  CHECK(f.company.stats().requests == 0);
}

// ---- 13 ---------------------------------------------------------------------

TEST_CASE("unsettled_payments lists a payment left unknown until it settles") {
  PayFixture f;
  f.invoice("INV-1", "100.00");
  f.timeout_next_write();
  Pay p;
  auto d = delivery(stripe(p));
  REQUIRE(f.handle(d).failure.code == "ambiguous");
  auto list = await<Result<std::vector<handlers::PaymentState>>>(
      [&](auto cb) { handlers::unsettled_payments(*f.conn, kTenant, 10, cb); });
  REQUIRE(list.has_value());
  REQUIRE(list->size() == 1);
  const auto& s = list->front();
  CHECK(s.payment_id == "pi_1");
  CHECK(s.state == "unknown");
  CHECK(s.sends == 1);
  CHECK(s.amount == "40.00");
  CHECK(s.currency == "USD");
  CHECK(s.customer == "C1");
  CHECK(s.invoice == "1");
  CHECK(s.since_ms == f.clock.now_ms());
  CHECK(has(s.error, "ambiguous: "));
  d.attempt = 2;
  REQUIRE(f.handle(d).result == "adopted");
  auto after = await<Result<std::vector<handlers::PaymentState>>>(
      [&](auto cb) { handlers::unsettled_payments(*f.conn, kTenant, 10, cb); });
  REQUIRE(after.has_value());
  CHECK(after->empty());
}

}  // namespace
}  // namespace isync::testing

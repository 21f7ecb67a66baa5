// A reconcile run against a real Redis and the sandbox company behind its
// gateway over real HTTP, in one process. The sandbox's clock is a
// ManualClock an hour behind the service's wall clock, so every read the
// service makes is settled, and tests move it to give records the
// WHENMODIFIED they need. "Events" are the company's changes applied to the
// mirror as a smart event would (a read of the record), while `forward` is
// set; a change made with it clear is what a dropped event leaves behind.
#pragma once

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "handlers/mirror_sync.hpp"
#include "intacct/client.hpp"
#include "intacct/transport.hpp"
#include "reconcile/reconcile.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/mirror_compare.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing::run {

inline constexpr const char* kTenant = "acme";
inline constexpr std::int64_t kDay = 86400;

inline std::int64_t wall_ms() { return SystemClock().now_ms(); }

struct Report {
  rapidjson::Document doc;
  std::string text;
  std::int64_t obj(const char* object, const char* field) const {
    if (!doc.HasMember("objects") || !doc["objects"].HasMember(object)) return -1;
    const auto& o = doc["objects"][object];
    return o.HasMember(field) && o[field].IsInt64() ? o[field].GetInt64() : -1;
  }
  std::int64_t calls(const char* object, const char* kind) const {
    if (!doc.HasMember("objects") || !doc["objects"].HasMember(object)) return -1;
    return doc["objects"][object]["calls"][kind].GetInt64();
  }
  std::string state() const { return doc["state"].GetString(); }
};

struct RunFixture {
  RedisServer server;
  Metrics metrics;
  SystemClock clock;
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  Log log{Level::info, [this](std::string_view line) {
            std::lock_guard lock(log_mu);
            log_lines.emplace_back(line);
          }};
  ManualClock sandbox_clock{(wall_ms() / 1000 - 3600) * 1000};
  sandbox::Company company{
      sandbox::Options{{"sender-1", "sender-secret", "DEMO-CO", "ws_user", "user-secret"},
                       "",
                       std::chrono::hours(2),
                       std::chrono::minutes(30),
                       false},
      sandbox_clock};
  std::unique_ptr<Loop> io = std::make_unique<Loop>(2);
  std::shared_ptr<redis::Connection> conn;
  std::unique_ptr<sandbox::Server> gateway;
  std::shared_ptr<intacct::HttpTransport> transport;
  std::shared_ptr<intacct::ClientHub> hub;
  std::shared_ptr<handlers::MirrorSync> sync;
  std::unique_ptr<reconcile::Reconciler> reconciler;
  std::atomic<bool> forward{false};
  std::atomic<int> in_flight{0};

  explicit RunFixture(int concurrency = 2, reconcile::Options options = fast_options()) {
    conn = redis::Connection::create(io->executor(), server.endpoint(), redis::Options{});
    conn->start();
    REQUIRE(eventually([&] { return conn->connected(); }));
    company.on_change([this](const sandbox::Change& c) { on_change(c); });
    sandbox::ServerOptions so;
    so.gateway_port = 0;
    so.control_port = 0;
    gateway = std::make_unique<sandbox::Server>(io->executor(), company, so, log);
    REQUIRE(gateway->start().has_value());
    intacct::TransportOptions to;
    to.allow_plain_http = true;
    transport = intacct::HttpTransport::create(io->executor(), to, log);
    intacct::ClientOptions co;
    co.endpoint =
        "http://127.0.0.1:" + std::to_string(gateway->gateway_port()) + "/ia/xml/xmlgw.phtml";
    co.sender_id = "sender-1";
    co.sender_password = Secret("sender-secret");
    hub = std::make_shared<intacct::ClientHub>(io->executor(), conn, transport, co, metrics, clock,
                                               log);
    hub->add_tenant(intacct::TenantAccess{kTenant, "DEMO-CO", "ws_user", Secret("user-secret"), "",
                                          concurrency, 100000});
    sync = std::make_shared<handlers::MirrorSync>(io->executor(), conn, handlers::MirrorOptions{},
                                                  clock, log);
    reconcile::TenantPlan plan;
    plan.tenant = kTenant;
    plan.concurrency = concurrency;
    reconciler = std::make_unique<reconcile::Reconciler>(
        io->executor(), conn, hub, std::vector<reconcile::TenantPlan>{plan}, options,
        handlers::MirrorOptions{}, handlers::PaymentOptions{}, metrics, clock, log);
    build_index();
  }
  ~RunFixture() {
    reconciler->stop();
    eventually([&] { return reconciler->running() == 0; }, std::chrono::seconds(10));
    reconciler.reset();
    sync->stop();
    hub->shutdown();
    transport->shutdown();
    std::promise<void> stopped;
    gateway->stop([&] { stopped.set_value(); });
    stopped.get_future().wait_for(std::chrono::seconds(15));
    close_and_wait(*conn);
    io->stop();
  }

  static reconcile::Options fast_options() {
    reconcile::Options o;
    o.retry_base = std::chrono::milliseconds(20);
    o.retry_cap = std::chrono::milliseconds(200);
    o.max_attempts = 3;
    o.readback_wait = std::chrono::milliseconds(0);
    o.pause_at_concurrency_1 = std::chrono::milliseconds(0);
    o.progress_interval = std::chrono::milliseconds(100);
    return o;
  }

  template <class T, class Start>
  T await(Start start) {
    auto promise = std::make_shared<std::promise<T>>();
    auto future = promise->get_future();
    start([promise](T value) { promise->set_value(std::move(value)); });
    REQUIRE(future.wait_for(std::chrono::seconds(60)) == std::future_status::ready);
    return future.get();
  }

  // Runs the index back-fill until the tenant is ready.
  void build_index() {
    for (int i = 0; i < 1000; ++i) {
      auto st = await<Result<handlers::BackfillStatus>>(
          [&](auto cb) { sync->backfill_step(kTenant, cb); });
      REQUIRE(st.has_value());
      if (st->ready) return;
    }
    FAIL("the index back-fill did not finish");
  }

  void on_change(const sandbox::Change& c) {
    if (!forward.load()) return;
    ++in_flight;
    auto done = [this](Result<std::string>) { --in_flight; };
    const std::string key = std::to_string(c.recordno);
    if (c.action == "delete") {
      sync->apply_gone(kTenant, c.object, key, wall_ms(), "intacct", {}, done);
      return;
    }
    intacct::Row row;
    row.element = c.object;
    row.fields = c.fields;
    sync->apply_read(kTenant, c.object, key, row, wall_ms(), "intacct", {}, done);
  }
  void drain_events() {
    REQUIRE(eventually([&] { return in_flight.load() == 0; }, std::chrono::seconds(10)));
  }

  // Moves the sandbox's clock on by `seconds` (default: the next second).
  void tick(std::int64_t seconds = 1) {
    sandbox_clock.set(sandbox_clock.now_ms() + seconds * 1000);
  }

  reconcile::StartResult start(reconcile::RunRequest request,
                               std::shared_ptr<std::promise<std::string>> finished = nullptr) {
    if (request.tenant.empty()) request.tenant = kTenant;
    return await<reconcile::StartResult>([&](auto cb) {
      reconciler->start(request, cb, [finished](std::string json) {
        if (finished) finished->set_value(std::move(json));
      });
    });
  }

  Report run(reconcile::RunRequest request = {}) {
    auto finished = std::make_shared<std::promise<std::string>>();
    auto future = finished->get_future();
    auto started = start(std::move(request), finished);
    REQUIRE_MESSAGE(!started.error, (started.error ? started.error->message : ""));
    REQUIRE(future.wait_for(std::chrono::seconds(120)) == std::future_status::ready);
    Report r;
    r.text = future.get();
    r.doc.Parse(r.text.c_str(), r.text.size());
    REQUIRE(r.doc.IsObject());
    return r;
  }

  std::int64_t since() {
    auto r = server.cmd({"GET", reconcile::since_key(kTenant)});
    REQUIRE(r.type == redis::Reply::Type::string);
    return std::stoll(r.str);
  }

  std::vector<std::string> differences() {
    auto sc = redis::SyncConnection::connect(server.endpoint(), std::chrono::seconds(5));
    REQUIRE(sc.has_value());
    auto d = mirror_differences(*sc, kTenant, company_records(company), since());
    REQUIRE(d.has_value());
    return *d;
  }

  std::int64_t calls(const std::string& function) {
    auto s = company.stats();
    auto it = s.calls_by_function.find(function);
    return it == s.calls_by_function.end() ? 0 : it->second;
  }

  bool live_in_mirror(const std::string& object, std::int64_t recordno) {
    auto r =
        server.cmd({"HMGET", queue::key(kTenant, "rec:" + object + ":" + std::to_string(recordno)),
                    "v", "del", "draft"});
    return r.elements.size() == 3 && r.elements[0].type == redis::Reply::Type::string &&
           r.elements[1].str != "1" && r.elements[2].str != "1";
  }

  sandbox::Record add(const std::string& object, std::map<std::string, std::string> fields) {
    auto r = company.add(object, fields, sandbox::WriteOptions{!forward.load()});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    return *r;
  }
  sandbox::Record set(const std::string& object, std::int64_t recordno,
                      std::map<std::string, std::string> fields) {
    auto r = company.set(object, recordno, fields, sandbox::WriteOptions{!forward.load()});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    return *r;
  }
  void remove(const std::string& object, std::int64_t recordno) {
    auto r = company.remove(object, recordno, sandbox::WriteOptions{!forward.load()});
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
  }
  sandbox::Record customer(const std::string& id) {
    return add("CUSTOMER", {{"CUSTOMERID", id}, {"NAME", "Customer " + id}});
  }
  sandbox::Record invoice(const std::string& customer_id, const std::string& total) {
    return add("ARINVOICE", {{"CUSTOMERID", customer_id}, {"TOTALENTERED", total}});
  }
  sandbox::Record pay(const std::string& customer_id, std::int64_t invoice,
                      const std::string& amount, const std::string& docnumber) {
    return add("ARPYMT", {{"CUSTOMERID", customer_id},
                          {"PAYMENTMETHOD", "Cash"},
                          {"UNDEPOSITEDACCOUNTNO", "1010"},
                          {"RECEIPTDATE", "01/01/2026"},
                          {"DOCNUMBER", docnumber},
                          {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", std::to_string(invoice)},
                          {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", amount}});
  }
  std::vector<sandbox::Record> list(const std::string& object) {
    return company.list(object, 0, 100000);
  }
};

// An old customer with an open and a paid invoice, 8 months back; then the
// demo company of today.
struct Seeded : RunFixture {
  std::int64_t old_open = 0, old_paid = 0;
  explicit Seeded(int concurrency = 2) : RunFixture(concurrency) {
    tick(-240 * kDay);
    customer("OLD-1");
    old_open = invoice("OLD-1", "120.00").recordno;
    old_paid = invoice("OLD-1", "80.00").recordno;
    pay("OLD-1", old_paid, "80.00", "OLD-PAY-1");
    tick(240 * kDay);
    company.seed_demo(40, 120, 7);
    tick();
  }
};

}  // namespace isync::testing::run

// The status document (handlers::read_status) against a real redis-server,
// with payment ledger entries written by the payment handler's own scripts.
#include <rapidjson/document.h>

#include <string>

#include "handlers/detail/payment_lua.hpp"
#include "tests/handlers/mirror_fixture.hpp"

using isync::testing::await;
using isync::testing::IoThread;
using isync::testing::kStartMs;
using isync::testing::RedisServer;
namespace handlers = isync::handlers;
namespace queue = isync::queue;
namespace redis = isync::redis;

namespace {

struct StatusFixture {
  RedisServer server;
  std::unique_ptr<IoThread> io = std::make_unique<IoThread>();
  std::shared_ptr<redis::Connection> conn =
      isync::testing::connect(io->executor(), server.endpoint());

  ~StatusFixture() {
    isync::testing::close_and_wait(*conn);
    io->stop();
  }

  redis::Reply eval(const redis::Script& s, std::vector<std::string> keys,
                    std::vector<std::string> args) {
    auto r = await<redis::Reply>([&](auto cb) {
      conn->eval(s, std::move(keys), std::move(args),
                 [cb](boost::system::error_code ec, redis::Reply reply) {
                   REQUIRE_FALSE(ec);
                   cb(std::move(reply));
                 });
    });
    REQUIRE_FALSE(r.is_error());
    return r;
  }

  std::string pay(const std::string& tenant, const std::string& id) {
    return queue::key(tenant, "pay:" + id);
  }
  std::string unsettled(const std::string& tenant) {
    return queue::key(tenant, "payments:unsettled");
  }
  std::string lock(const std::string& tenant) { return queue::key(tenant, "pay-lock:-"); }

  // As the handler does: lease, intent, send; then, unless `keep_lease`, the
  // release that leaves the payment in `state` with `error`.
  void intent(const std::string& tenant, const std::string& id, std::int64_t at_ms,
              const std::string& state, const std::string& error, bool keep_lease = false) {
    const std::string owner = "owner-" + id;
    const std::string now = std::to_string(at_ms);
    eval(handlers::detail::take_script(), {pay(tenant, id), lock(tenant)},
         {owner, now, "90000", "ev-" + id, "post", "0"});
    eval(handlers::detail::intent_script(), {pay(tenant, id), unsettled(tenant)},
         {owner, now, "post", id, "isync-cid-" + id, "{}", "ev-" + id, "1001", "C-0042", "120.50",
          "USD"});
    if (keep_lease) return;
    eval(handlers::detail::release_script(), {pay(tenant, id), lock(tenant), unsettled(tenant)},
         {owner, std::to_string(at_ms + 1000), state, "0", error, id, state == "failed" ? "1" : "0",
          "ev-" + id});
  }

  handlers::Status read(std::vector<std::string> tenants, std::int64_t now_ms) {
    auto r = await<isync::Result<handlers::Status>>(
        [&](auto cb) { handlers::read_status(*conn, tenants, now_ms, cb); });
    REQUIRE(r.has_value());
    return *r;
  }
};

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string str(const rapidjson::Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

}  // namespace

TEST_CASE_FIXTURE(StatusFixture,
                  "status lists a tenant's unsettled payments oldest first with state, age, "
                  "sends and last error") {
  intent("acme", "pi_new", kStartMs - 10'000, "", "", true);  // posting, lease held
  intent("acme", "pi_old", kStartMs - 75'000, "unknown",
         "ambiguous: payment pi_old: creating the ARPYMT failed: HTTP 524");
  auto s = read({"acme"}, kStartMs);
  REQUIRE(s.tenants.size() == 1);
  const auto& t = s.tenants[0];
  CHECK(t.tenant == "acme");
  CHECK(t.unsettled_count == 2);
  REQUIRE(t.unsettled.size() == 2);
  CHECK(t.unsettled[0].payment_id == "pi_old");
  CHECK(t.unsettled[0].state == "unknown");
  CHECK(t.unsettled[0].since_ms == kStartMs - 75'000);
  CHECK(t.unsettled[0].sends == 1);
  CHECK(t.unsettled[0].error == "ambiguous: payment pi_old: creating the ARPYMT failed: HTTP 524");
  CHECK(t.unsettled[1].payment_id == "pi_new");
  CHECK(t.unsettled[1].state == "posting");

  auto doc = parse(handlers::status_json(s));
  const auto& payments = doc["tenants"][0]["payments"];
  CHECK(payments["unsettled_count"].GetInt64() == 2);
  const auto& old = payments["unsettled"][0];
  CHECK(old.MemberCount() == 11);
  CHECK(str(old["payment_id"]) == "pi_old");
  CHECK(str(old["state"]) == "unknown");
  CHECK(str(old["since"]) == "2023-11-14T22:12:05Z");
  CHECK(old["age_s"].GetInt64() == 75);
  CHECK(old["sends"].GetInt64() == 1);
  CHECK(str(old["invoice"]) == "1001");
  CHECK(str(old["customer"]) == "C-0042");
  CHECK(str(old["amount"]) == "120.50");
  CHECK(str(old["currency"]) == "USD");
  CHECK(str(old["recordno"]).empty());
  CHECK(str(old["last_error"]) ==
        "ambiguous: payment pi_old: creating the ARPYMT failed: HTTP 524");
  CHECK(payments["unsettled"][1]["age_s"].GetInt64() == 10);

  auto text = handlers::status_text(s);
  CHECK(text.find("tenant acme") != std::string::npos);
  CHECK(text.find("2 unsettled") != std::string::npos);
  auto line = text.find("pi_old");
  REQUIRE(line != std::string::npos);
  const auto start = text.rfind('\n', line) + 1;
  const auto row = text.substr(start, text.find('\n', line) - start);
  CHECK(row.find("1m15s") != std::string::npos);
  CHECK(row.find("unknown") != std::string::npos);
  CHECK(row.find("120.50 USD") != std::string::npos);
  CHECK(row.find("HTTP 524") != std::string::npos);
  CHECK(text.find("pi_new") > line);
}

TEST_CASE_FIXTURE(StatusFixture, "a payment is no longer listed once it is settled") {
  intent("acme", "pi_1", kStartMs - 5'000, "unknown", "ambiguous: timeout");
  CHECK(read({"acme"}, kStartMs).tenants[0].unsettled_count == 1);
  // Settled as failed (a dead letter now) by the release script.
  eval(handlers::detail::take_script(), {pay("acme", "pi_1"), lock("acme")},
       {"w2", std::to_string(kStartMs), "90000", "ev-2", "post", "0"});
  eval(handlers::detail::release_script(), {pay("acme", "pi_1"), lock("acme"), unsettled("acme")},
       {"w2", std::to_string(kStartMs), "failed", "0", "intacct_error: no", "pi_1", "1", "ev-2"});
  auto s = read({"acme"}, kStartMs);
  CHECK(s.tenants[0].unsettled_count == 0);
  CHECK(s.tenants[0].unsettled.empty());
  CHECK(handlers::status_text(s).find("pi_1") == std::string::npos);
}

TEST_CASE_FIXTURE(StatusFixture,
                  "at most 100 unsettled payments are listed and the count says how many") {
  for (int i = 0; i < 105; ++i) {
    const std::string id = "pi_" + std::to_string(1000 + i);
    server.cmd({"HSET", pay("acme", id), "state", "unknown", "since",
                std::to_string(kStartMs - 200'000 + i), "sends", "1"});
    server.cmd({"ZADD", unsettled("acme"), std::to_string(kStartMs - 200'000 + i), id});
  }
  auto s = read({"acme"}, kStartMs);
  CHECK(s.tenants[0].unsettled_count == 105);
  REQUIRE(s.tenants[0].unsettled.size() == 100);
  CHECK(s.tenants[0].unsettled.front().payment_id == "pi_1000");
  CHECK(s.tenants[0].unsettled.back().payment_id == "pi_1099");
  CHECK(handlers::status_text(s).find("105 unsettled (the oldest 100 shown)") != std::string::npos);
}

TEST_CASE_FIXTURE(StatusFixture,
                  "status shows the queue figures, the open circuit and this month's calls") {
  const std::string stream = queue::key("acme", "events");
  server.cmd({"XGROUP", "CREATE", stream, std::string(queue::kGroup), "0", "MKSTREAM"});
  server.cmd({"XADD", stream, std::to_string(kStartMs - 42'000) + "-0", "e", "{}"});
  server.cmd({"XADD", stream, std::to_string(kStartMs - 1'000) + "-0", "e", "{}"});
  server.cmd({"XREADGROUP", "GROUP", std::string(queue::kGroup), "w1", "COUNT", "1", "STREAMS",
              stream, ">"});
  server.cmd({"ZADD", queue::key("acme", "retry"), "1", "ev-r"});
  server.cmd({"ZADD", queue::key("acme", "parked"), "1", "ev-p1", "2", "ev-p2"});
  server.cmd({"ZADD", queue::key("acme", "dead"), "1", "ev-d1", "2", "ev-d2", "3", "ev-d3"});
  server.cmd({"HSET", "isync:{acme}:intacct:circuit", "fingerprint", "0123456789abcdef",
              "opened_ms", "1", "reason", "XL03000006 Sign-in information is incorrect"});
  server.cmd({"SET", "isync:{acme}:intacct:calls:2023-11", "1234"});
  server.cmd({"SET", "isync:{acme}:intacct:calls:2023-10", "99999"});

  auto s = read({"acme", "other"}, kStartMs);
  REQUIRE(s.tenants.size() == 2);
  auto doc = parse(handlers::status_json(s));
  const auto& acme = doc["tenants"][0];
  CHECK(acme["queue"]["depth"].GetInt64() == 2);
  CHECK(acme["queue"]["pending"].GetInt64() == 1);
  CHECK(acme["queue"]["retrying"].GetInt64() == 1);
  CHECK(acme["queue"]["parked"].GetInt64() == 2);
  CHECK(acme["queue"]["dead"].GetInt64() == 3);
  CHECK(acme["queue"]["oldest_pending_age_s"].GetInt64() == 42);
  CHECK(str(acme["intacct"]["circuit"]) == "open");
  CHECK(str(acme["intacct"]["circuit_reason"]) == "XL03000006 Sign-in information is incorrect");
  CHECK(acme["intacct"]["calls_this_month"].GetInt64() == 1234);
  CHECK(str(doc["tenants"][1]["intacct"]["circuit"]) == "closed");
  auto text = handlers::status_text(s);
  CHECK(text.find("circuit OPEN (XL03000006 Sign-in information is incorrect)") !=
        std::string::npos);
  CHECK(text.find("oldest pending 42s") != std::string::npos);
  CHECK(text.find("calls this month 1234") != std::string::npos);
}

TEST_CASE_FIXTURE(StatusFixture,
                  "a tenant with nothing in Redis shows zeros and a closed circuit") {
  auto s = read({"quiet"}, kStartMs);
  CHECK(
      handlers::status_json(s) ==
      R"({"tenants":[{"tenant":"quiet","queue":{"depth":0,"pending":0,"retrying":0,)"
      R"("parked":0,"dead":0,"oldest_pending_age_s":0},"intacct":{"circuit":"closed",)"
      R"("calls_this_month":0,"monthly_call_budget":0},"payments":{"unsettled":[],"unsettled_count":0}}]})");
  CHECK(handlers::status_json(read({}, kStartMs)) == R"({"tenants":[]})");
}

TEST_CASE_FIXTURE(StatusFixture, "status is unavailable while Redis is down") {
  server.stop();
  REQUIRE(isync::testing::eventually([&] { return !conn->connected(); }));
  auto r = await<isync::Result<handlers::Status>>(
      [&](auto cb) { handlers::read_status(*conn, {"acme"}, kStartMs, cb); });
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "unavailable");
  CHECK(r.error().message.rfind("Redis: ", 0) == 0);
}

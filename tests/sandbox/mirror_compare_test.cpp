// The test-support comparison of a tenant's mirror in Redis with the
// sandbox company (tests/support/mirror_compare.hpp), against a real
// redis-server: equality over the scope, and each kind of difference named.
#include "tests/support/mirror_compare.hpp"

#include <doctest/doctest.h>

#include "core/core.hpp"
#include "sandbox/detail/control_json.hpp"
#include "tests/support/redis_server.hpp"

namespace sb = isync::sandbox;
using isync::testing::mirror_differences;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kJan5 = 1767614400000;  // 2026-01-05T12:00:00Z
constexpr std::int64_t kSince = 1764547200;    // 2025-12-01T00:00:00Z
constexpr const char* kTenant = "acme";

sb::Record must(const isync::Result<sb::Record>& r) {
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string{} : r.error().message));
  return *r;
}

std::string fields_json(const std::map<std::string, std::string>& fields) {
  std::string out = "{";
  for (const auto& [k, v] : fields) {
    if (out.size() > 1) out += ',';
    isync::append_json_string(out, k);
    out += ':';
    isync::append_json_string(out, v);
  }
  return out + "}";
}

struct Fixture {
  isync::testing::RedisServer server;
  isync::redis::SyncConnection redis;
  isync::ManualClock clock{kJan5};
  sb::Company c;
  sb::Record customer, open_old, paid_old, open_new, payment;

  Fixture()
      : redis([&] {
          auto conn = isync::redis::SyncConnection::connect(server.endpoint(), 10000ms);
          REQUIRE(conn.has_value());
          return std::move(*conn);
        }()),
        c(
            [] {
              sb::Options o;
              o.credentials = {"SENDER", "sender-pw", "ACME", "ws_user", "user-pw"};
              return o;
            }(),
            clock) {
    customer = must(c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
    sb::Settings s;
    s.write_clock_offset = std::chrono::seconds(-240 * 86400);
    c.set_settings(s);
    open_old = must(c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "10.00"}}));
    paid_old = must(c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "20.00"}}));
    REQUIRE(c.add("ARPYMT",
                  {{"CUSTOMERID", "C1"},
                   {"PAYMENTMETHOD", "EFT"},
                   {"FINANCIALENTITY", "BOA"},
                   {"RECEIPTDATE", "05/10/2025"},
                   {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", std::to_string(paid_old.recordno)},
                   {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "20.00"}})
                .has_value());
    c.set_settings({});
    open_new = must(c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "30.00"}}));
    payment = must(c.add(
        "ARPYMT", {{"CUSTOMERID", "C1"},
                   {"PAYMENTMETHOD", "EFT"},
                   {"FINANCIALENTITY", "BOA"},
                   {"RECEIPTDATE", "01/05/2026"},
                   {"DOCNUMBER", "pi_1"},
                   {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", std::to_string(open_new.recordno)},
                   {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", "5.00"}}));
  }

  std::string key(const std::string& object, std::int64_t recordno) {
    return std::string("isync:{") + kTenant + "}:rec:" + object + ":" + std::to_string(recordno);
  }
  // Mirrors the record as the apply script would after reading it.
  void mirror(const sb::Record& current) {
    const auto wm = current.fields.at("WHENMODIFIED");
    auto r = redis.command({"HSET", key(current.object, current.recordno), "v",
                            std::to_string(*isync::parse_whenmodified(wm)), "wm", wm, "f",
                            fields_json(current.fields), "ev", "e-1"});
    REQUIRE(r.has_value());
  }
  void mirror_all_in_scope() {
    for (const auto& r : isync::testing::company_records(c)) {
      if (r.recordno == paid_old.recordno && r.object == "ARINVOICE") continue;
      if (r.object == "ARPYMT" && r.fields.at("WHENMODIFIED").ends_with("2025 12:00:00")) continue;
      mirror(r);
    }
  }
  std::vector<std::string> diff() {
    auto d = mirror_differences(redis, kTenant, isync::testing::company_records(c), kSince);
    REQUIRE_MESSAGE(d.has_value(), (d ? std::string{} : d.error().message));
    return *d;
  }
};

}  // namespace

TEST_CASE("a mirror equal to the company over the scope has no differences") {
  Fixture fx;
  // The old paid invoice and its old payment are out of scope: not mirrored,
  // and not reported.
  fx.mirror_all_in_scope();
  CHECK(fx.diff().empty());
  // An out-of-scope record in the mirror alone is ignored too, as are another
  // tenant's records and keys that are not records.
  REQUIRE(fx.redis
              .command({"HSET", fx.key("ARPYMT", 999), "v", "1700000000", "wm",
                        "11/14/2023 22:13:20", "f", "{}"})
              .has_value());
  REQUIRE(
      fx.redis.command({"HSET", "isync:{other}:rec:CUSTOMER:777", "v", "1", "wm", "", "f", "{}"})
          .has_value());
  REQUIRE(fx.redis.command({"SET", fx.key("CUSTOMER", 1) + ":x", "1"}).has_value());
  CHECK(fx.diff().empty());
}

TEST_CASE("every kind of difference is named with the object, RECORDNO and what differs") {
  Fixture fx;
  // An old open invoice (in scope by TOTALDUE) turned Draft, mirrored live.
  REQUIRE(fx.c.set("ARINVOICE", fx.open_old.recordno, {{"STATE", "Draft"}}).has_value());
  fx.mirror_all_in_scope();
  // A stale version and field of the open new invoice (a dropped event).
  auto stale = *fx.c.get("ARINVOICE", fx.open_new.recordno);
  const auto current_wm = stale.fields.at("WHENMODIFIED");
  stale.fields["WHENMODIFIED"] = "01/05/2026 11:59:00";
  stale.fields["TOTALDUE"] = "30.00";
  fx.mirror(stale);
  // A customer deleted in Intacct without an event, still live in the mirror.
  REQUIRE(fx.redis
              .command({"HSET", fx.key("CUSTOMER", 55), "v", "1767600000", "wm",
                        "01/05/2026 08:00:00", "f", R"({"CUSTOMERID":"C55"})"})
              .has_value());
  // A live payment the mirror holds as a tombstone.
  REQUIRE(
      fx.redis.command({"HSET", fx.key("ARPYMT", fx.payment.recordno), "del", "1"}).has_value());
  // The old paid invoice, out of scope in the company, is in scope in the
  // mirror by its mirrored TOTALDUE: compared, so its stale copy shows.
  auto unpaid = fx.paid_old;
  unpaid.fields["TOTALDUE"] = "20.00";
  fx.mirror(unpaid);

  const auto inv = [&](const sb::Record& r) { return "ARINVOICE " + std::to_string(r.recordno); };
  const std::vector<std::string> expected = {
      "CUSTOMER 55: live in the mirror, not in the sandbox",
      inv(fx.open_old) + ": live in the mirror, a Draft in the sandbox",
      inv(fx.open_new) +
          ": version: mirror 1767614340 (01/05/2026 11:59:00), sandbox 1767614400 (" + current_wm +
          ")",
      inv(fx.open_new) + ": TOTALDUE: mirror \"30.00\", sandbox \"25.00\"",
      inv(fx.open_new) + ": WHENMODIFIED: mirror \"01/05/2026 11:59:00\", sandbox \"" + current_wm +
          "\"",
      "ARPYMT " + std::to_string(fx.payment.recordno) +
          ": live in the sandbox, missing from the mirror (tombstone)",
  };
  auto got = fx.diff();
  // The paid invoice's version is equal; only its TOTALDUE (and the rest of
  // what the payment changed) differs.
  std::erase(got, inv(fx.paid_old) + ": TOTALPAID: mirror \"0.00\", sandbox \"20.00\"");
  std::erase(got, inv(fx.paid_old) + ": STATE: mirror \"Posted\", sandbox \"Paid\"");
  std::erase(got, inv(fx.paid_old) + ": WHENPAID: mirror \"\", sandbox \"05/10/2025\"");
  CHECK(got == std::vector<std::string>{
                   expected[0], expected[1],
                   inv(fx.paid_old) + ": TOTALDUE: mirror \"20.00\", sandbox \"0.00\"", expected[2],
                   expected[3], expected[4], expected[5]});
}

TEST_CASE("records from the control API's list answer feed the comparison alike") {
  Fixture fx;
  fx.mirror_all_in_scope();
  std::vector<sb::Record> records;
  for (const char* object : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    const auto page =
        isync::testing::parse_records_page(sb::detail::records_body(fx.c.list(object, 0, 1000)));
    REQUIRE(page.has_value());
    records.insert(records.end(), page->begin(), page->end());
  }
  CHECK(records.size() == isync::testing::company_records(fx.c).size());
  auto d = mirror_differences(fx.redis, kTenant, records, kSince);
  REQUIRE(d.has_value());
  CHECK(d->empty());
  records.pop_back();  // the new payment, gone from the company's side
  d = mirror_differences(fx.redis, kTenant, records, kSince);
  REQUIRE(d.has_value());
  CHECK(*d == std::vector<std::string>{"ARPYMT " + std::to_string(fx.payment.recordno) +
                                       ": live in the mirror, not in the sandbox"});
  CHECK(isync::testing::parse_records_page(R"({"records":[{"object":"CUSTOMER"}]})")
            .error()
            .message == "expected {\"records\":[{object, recordno, fields}…]}");
}

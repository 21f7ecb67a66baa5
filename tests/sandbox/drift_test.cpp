// What reconciliation tests need from the sandbox: a clock offset for
// writes, a ratio of dropped smart events with the list of those dropped,
// read denial per object, silent writes; and the query/read shapes
// reconcile sends, through the client's own request writer.
#include <doctest/doctest.h>

#include <algorithm>
#include <mutex>

#include "intacct/intacct.hpp"
#include "sandbox/sandbox.hpp"

namespace sb = isync::sandbox;
namespace ii = isync::intacct;
using ii::Status;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kJan5 = 1767614400000;     // 2026-01-05T12:00:00Z
constexpr std::int64_t k240Days = 240LL * 86400;  // seconds

sb::Options options(std::uint64_t seed = 1) {
  sb::Options o;
  o.credentials = {"SENDER", "sender-pw", "ACME", "ws_user", "user-pw"};
  o.endpoint_url = "http://127.0.0.1:8089/ia/xml/xmlgw.phtml";
  o.seed = seed;
  return o;
}

using Fields = std::map<std::string, std::string>;

sb::Record must(const isync::Result<sb::Record>& r) {
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string{} : r.error().message));
  return *r;
}

// One function through the client's request writer and response parser.
ii::FunctionResult run(sb::Company& c, ii::Call call) {
  ii::Request r;
  r.sender_id = "SENDER";
  r.sender_password = isync::Secret("sender-pw");
  r.control_id = "t";
  r.auth = ii::Login{"ws_user", "ACME", isync::Secret("user-pw"), ""};
  r.functions = {{"f", std::move(call)}};
  const auto xml = ii::to_xml(r);
  REQUIRE_MESSAGE(xml.has_value(), (xml ? std::string{} : xml.error().message));
  const auto reply = c.handle_gateway(*xml, "application/xml");
  auto parsed = ii::parse_response(reply.status, reply.content_type, reply.body);
  REQUIRE_MESSAGE(parsed.has_value(), reply.body);
  REQUIRE_MESSAGE(parsed->results.size() == 1, reply.body);
  return parsed->results[0];
}

std::string text(const ii::Row* row, const char* name) {
  const auto* v = row->get(name);
  return v ? *v : "<absent>";
}

std::vector<std::int64_t> recordnos(const ii::FunctionResult& r, const std::string& object) {
  std::vector<std::int64_t> out;
  REQUIRE(r.data);
  for (const auto* row : r.data->rows_of(object)) out.push_back(std::stoll(text(row, "RECORDNO")));
  return out;
}

Fields payment(const std::string& customer, std::int64_t invoice, const std::string& amount,
               const std::string& docnumber) {
  return {{"CUSTOMERID", customer},
          {"PAYMENTMETHOD", "EFT"},
          {"FINANCIALENTITY", "BOA"},
          {"RECEIPTDATE", "01/04/2026"},
          {"DOCNUMBER", docnumber},
          {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", std::to_string(invoice)},
          {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", amount}};
}

struct Fixture {
  isync::ManualClock clock{kJan5};
  sb::Company c;
  std::mutex mu;
  std::vector<sb::Change> changes;
  explicit Fixture(std::uint64_t seed = 1) : c(options(seed), clock) {
    c.on_change([this](const sb::Change& ch) {
      std::lock_guard lock(mu);
      changes.push_back(ch);
    });
  }
  std::size_t seen() {
    std::lock_guard lock(mu);
    return changes.size();
  }
  void offset(std::chrono::seconds by) {
    auto s = c.settings();
    s.write_clock_offset = by;
    c.set_settings(s);
  }
  std::string f(const std::string& object, std::int64_t no, const std::string& name) {
    const auto r = c.get(object, no);
    REQUIRE(r);
    return r->fields.count(name) ? r->fields.at(name) : "<absent>";
  }
};

}  // namespace

TEST_CASE("the write clock offset stamps control and gateway writes in the past, nothing else") {
  Fixture fx;
  fx.offset(std::chrono::seconds(-k240Days));
  CHECK(fx.c.settings().write_clock_offset == std::chrono::seconds(-k240Days));
  // 2026-01-05 12:00:00 - 240 days = 2025-05-10 12:00:00.
  const auto cust = must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C-OLD"}, {"NAME", "Old Co"}}));
  CHECK(cust.fields.at("WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(cust.fields.at("WHENCREATED") == "05/10/2025 12:00:00");
  const auto open = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C-OLD"}, {"TOTALENTERED", "100"}}));
  CHECK(open.fields.at("WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(open.fields.at("WHENCREATED") == "05/10/2025");
  CHECK(open.fields.at("WHENDUE") == "06/09/2025");
  // The smart event carries the shifted WHENMODIFIED, its clock time stays real.
  REQUIRE(fx.seen() >= 1);
  CHECK(fx.changes.back().at_ms >= kJan5);

  // A gateway create and a payment through the gateway: sessions keep the real clock.
  const auto created =
      run(fx.c, ii::Create{"ARINVOICE",
                           {ii::leaf("CUSTOMERID", "C-OLD"), ii::leaf("TOTALENTERED", "40.00")}});
  REQUIRE(created.status == Status::success);
  const auto paid_no = recordnos(created, "ARINVOICE").at(0);
  const auto paid = fx.c.add("ARPYMT", payment("C-OLD", paid_no, "40.00", "P-OLD"));
  REQUIRE(paid.has_value());
  CHECK(paid->fields.at("WHENCREATED") == "05/10/2025 12:00:00");
  CHECK(fx.f("ARINVOICE", paid_no, "WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(fx.f("ARINVOICE", paid_no, "TOTALDUE") == "0.00");
  CHECK(fx.f("ARINVOICE", paid_no, "STATE") == "Paid");

  // Back to 0: the next write is stamped now; the old records keep their stamps.
  fx.offset(0s);
  fx.clock.advance(1000);
  const auto edited = must(fx.c.set("CUSTOMER", cust.recordno, {{"NAME", "Old Co Ltd"}}));
  CHECK(edited.fields.at("WHENMODIFIED") == "01/05/2026 12:00:01");
  CHECK(edited.fields.at("WHENCREATED") == "05/10/2025 12:00:00");
  CHECK(fx.f("ARINVOICE", open.recordno, "WHENMODIFIED") == "05/10/2025 12:00:00");
}

TEST_CASE("the write clock offset is capped at ten years either way") {
  Fixture fx;
  fx.offset(std::chrono::seconds(-100LL * 366 * 86400));
  CHECK(fx.c.settings().write_clock_offset == -sb::kMaxWriteClockOffset);
}

TEST_CASE("drop_events_ratio drops a seeded selection of events, listed with what they were") {
  const auto drops = [](std::uint64_t seed) {
    Fixture fx(seed);
    sb::Faults faults;
    faults.drop_events_ratio = 0.3;
    fx.c.set_faults(faults);
    std::vector<bool> out;
    for (int i = 0; i < 200; ++i) {
      const sb::Change ch{
          "ARINVOICE", i % 2 == 0 ? "add" : "set", 1000 + i, "01/05/2026 12:00:00", kJan5, {}};
      out.push_back(fx.c.take_event_drop(ch));
    }
    const auto listed = fx.c.dropped_events();
    const auto n = std::count(out.begin(), out.end(), true);
    CHECK(listed.count == n);
    REQUIRE(listed.events.size() == static_cast<std::size_t>(n));
    std::size_t k = 0;
    for (int i = 0; i < 200; ++i) {
      if (!out[static_cast<std::size_t>(i)]) continue;
      CHECK(listed.events[k].object == "ARINVOICE");
      CHECK(listed.events[k].recordno == 1000 + i);
      CHECK(listed.events[k].action == (i % 2 == 0 ? "add" : "set"));
      CHECK(listed.events[k].whenmodified == "01/05/2026 12:00:00");
      ++k;
    }
    CHECK(fx.c.stats().faults_by_name.at("drop_events") == n);
    return out;
  };
  const auto first = drops(7);
  const auto n = std::count(first.begin(), first.end(), true);
  CHECK(n > 30);  // about 60 of 200
  CHECK(n < 90);
  CHECK(drops(7) == first);  // same seed, same events: same drops
  CHECK(drops(8) != first);
}

TEST_CASE("the drop counter goes first, ratio 0 stops drops at once, and the list clears") {
  Fixture fx;
  sb::Faults faults;
  faults.drop_events = 2;
  faults.drop_events_ratio = 1;
  fx.c.set_faults(faults);
  const sb::Change ch{"CUSTOMER", "set", 5, "01/05/2026 12:00:00", kJan5, {}};
  for (int i = 0; i < 5; ++i) CHECK(fx.c.take_event_drop(ch));
  CHECK(fx.c.faults().drop_events == 0);
  faults = fx.c.faults();
  faults.drop_events_ratio = 0;
  fx.c.set_faults(faults);
  for (int i = 0; i < 5; ++i) CHECK_FALSE(fx.c.take_event_drop(ch));
  CHECK(fx.c.dropped_events().count == 5);
  fx.c.clear_dropped_events();
  CHECK(fx.c.dropped_events().count == 0);
  CHECK(fx.c.dropped_events().events.empty());
}

TEST_CASE("a denied object fails every read of it as a missing permission; others still read") {
  Fixture fx;
  must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const auto inv = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "50"}}));
  for (int i = 0; i < 3; ++i) {
    REQUIRE(fx.c.add("ARPYMT", payment("C1", inv.recordno, "1.00", "P" + std::to_string(i)))
                .has_value());
  }
  // A resultId taken before the denial is denied too once it is set.
  const auto first = run(fx.c, ii::ReadByQuery{"ARPYMT", {}, "", 1});
  REQUIRE(first.status == Status::success);
  REQUIRE(first.data->result_id);
  const auto result_id = *first.data->result_id;

  sb::Faults faults;
  faults.deny_read_objects = {"ARPYMT"};
  fx.c.set_faults(faults);
  ii::Query q;
  q.object = "ARPYMT";
  q.select = {"RECORDNO"};
  const std::vector<ii::Call> denied = {ii::Read{"ARPYMT", {"1"}, {}, ""},
                                        ii::ReadByQuery{"ARPYMT", {}, "", 100}, q,
                                        ii::ReadMore{result_id}};
  for (const auto& call : denied) {
    const auto r = run(fx.c, call);
    CAPTURE(ii::function_name(call));
    CHECK(r.status == Status::failure);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].errorno == "BL01001973");
    CHECK(r.errors[0].description == "Could not read records!");
    CHECK(r.errors[0].description2 ==
          "You do not have permission for API operation READ on objects of type arpymt.");
  }
  CHECK(fx.c.stats().faults_by_name.at("deny_read_objects") == 4);
  // Other objects, and writes of the denied one, are untouched.
  CHECK(run(fx.c, ii::Read{"ARINVOICE", {std::to_string(inv.recordno)}, {}, ""}).status ==
        Status::success);
  CHECK(run(fx.c, ii::ReadByQuery{"CUSTOMER", {}, "", 100}).status == Status::success);
  CHECK(fx.c.add("ARPYMT", payment("C1", inv.recordno, "1.00", "P9")).has_value());
  // Cleared: reads work again, and the count-based deny_reads is unchanged.
  fx.c.set_faults({});
  CHECK(run(fx.c, ii::Read{"ARPYMT", {"1"}, {}, ""}).status == Status::success);
}

TEST_CASE("silent writes change the company and tell no listener") {
  Fixture fx;
  const auto cust = must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const auto inv = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "80"}}));
  const auto before = fx.seen();
  const sb::WriteOptions silent{true};

  // (a) An Order Entry invoice re-created under a new RECORDNO.
  REQUIRE(fx.c.remove("ARINVOICE", inv.recordno, silent).has_value());
  const auto again =
      must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "80"}}, silent));
  CHECK(again.recordno > inv.recordno);
  CHECK_FALSE(fx.c.get("ARINVOICE", inv.recordno));
  // (b) Turned Draft, silently; the customer's TOTALDUE follows, silently too.
  CHECK(must(fx.c.set("ARINVOICE", again.recordno, {{"STATE", "Draft"}}, silent))
            .fields.at("STATE") == "Draft");
  CHECK(fx.f("CUSTOMER", cust.recordno, "TOTALDUE") == "0.00");
  must(fx.c.set("ARINVOICE", again.recordno, {{"STATE", "Posted"}}, silent));
  // (c) TOTALDUE changed by a silent payment; a field edited silently.
  REQUIRE(fx.c.add("ARPYMT", payment("C1", again.recordno, "30.00", "P1"), silent).has_value());
  CHECK(fx.f("ARINVOICE", again.recordno, "TOTALDUE") == "50.00");
  must(fx.c.set("CUSTOMER", cust.recordno, {{"NAME", "One Ltd"}}, silent));
  CHECK(fx.seen() == before);

  // The same without the flag: each write tells its listeners.
  must(fx.c.set("ARINVOICE", again.recordno, {{"DOCNUMBER", "PO-1"}}));
  CHECK(fx.seen() == before + 1);
  CHECK(fx.changes.back().object == "ARINVOICE");
  CHECK(fx.changes.back().action == "set");
  const auto draft = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "5"}}));
  const auto after_add = fx.seen();
  must(fx.c.set("ARINVOICE", draft.recordno, {{"STATE", "Draft"}}));
  CHECK(fx.seen() > after_add);
  REQUIRE(fx.c.remove("ARINVOICE", draft.recordno).has_value());
  CHECK(fx.changes.back().action == "delete");
  CHECK(fx.changes.back().recordno == draft.recordno);
}

// The listing reconcile sends for invoices: RECORDNO > last seen AND
// (WHENMODIFIED >= since OR TOTALDUE != 0), RECORDNO ascending, showprivate.
ii::Query invoice_listing(std::int64_t after, const std::string& since, int pagesize) {
  ii::Query q;
  q.object = "ARINVOICE";
  q.select = {"RECORDNO", "WHENMODIFIED", "STATE", "TOTALDUE"};
  q.filter = ii::all_of(
      {ii::where(ii::Filter::Op::greaterthan, "RECORDNO", {std::to_string(after)}),
       ii::any_of({ii::where(ii::Filter::Op::greaterthanorequalto, "WHENMODIFIED", {since}),
                   ii::where(ii::Filter::Op::notequalto, "TOTALDUE", {"0"})})});
  q.order_by = {{"RECORDNO", true}};
  q.show_private = true;
  q.pagesize = pagesize;
  return q;
}

TEST_CASE("reconcile's invoice listing pages by key, compares times and amounts by value") {
  Fixture fx;
  must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  // Old (05/10/2025): 1 open, 2 paid, 3 open; new (01/05/2026): 4 paid, 5 open, 6 draft.
  fx.offset(std::chrono::seconds(-k240Days));
  std::vector<std::int64_t> inv;
  for (int i = 0; i < 3; ++i) {
    inv.push_back(
        must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "10.00"}})).recordno);
  }
  REQUIRE(fx.c.add("ARPYMT", payment("C1", inv[1], "10.00", "P-OLD")).has_value());
  fx.offset(0s);
  for (int i = 0; i < 3; ++i) {
    inv.push_back(
        must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "10.00"}})).recordno);
  }
  REQUIRE(fx.c.add("ARPYMT", payment("C1", inv[3], "10.00", "P-NEW")).has_value());
  must(fx.c.set("ARINVOICE", inv[5], {{"STATE", "Draft"}}));
  REQUIRE(fx.f("ARINVOICE", inv[1], "TOTALDUE") == "0.00");
  REQUIRE(fx.f("ARINVOICE", inv[1], "WHENMODIFIED") == "05/10/2025 12:00:00");

  // "12/01/2025 00:00:00" sorts after "01/05/2026 …" as text: only a time
  // comparison includes the new invoices.
  const std::string since = "12/01/2025 00:00:00";
  std::vector<std::int64_t> listed;
  std::int64_t after = 0;
  int pages = 0;
  for (;;) {
    const auto r = run(fx.c, invoice_listing(after, since, 2));
    REQUIRE(r.status == Status::success);
    ++pages;
    const auto rows = r.data->rows_of("ARINVOICE");
    for (const auto* row : rows) {
      CHECK(row->fields.size() == 4);  // exactly the selected fields
      CHECK(text(row, "STATE") != "<absent>");
    }
    const auto nos = recordnos(r, "ARINVOICE");
    CHECK(std::is_sorted(nos.begin(), nos.end()));
    CHECK(r.data->count == static_cast<std::int64_t>(nos.size()));
    CHECK(r.data->totalcount == *r.data->count + *r.data->numremaining);
    listed.insert(listed.end(), nos.begin(), nos.end());
    if (*r.data->numremaining == 0) break;
    REQUIRE(!nos.empty());
    after = nos.back();
    REQUIRE(pages < 10);
  }
  // Everything but the old paid invoice; the draft is listed (as STATE Draft).
  CHECK(listed == std::vector<std::int64_t>{inv[0], inv[2], inv[3], inv[4], inv[5]});
  CHECK(pages == 3);

  // One page of 2000: count = totalcount, numremaining 0; "0.00" is 0.
  auto whole = invoice_listing(0, since, 2000);
  whole.filter->children[1].children[1].values = {"0.00"};
  const auto r = run(fx.c, whole);
  REQUIRE(r.status == Status::success);
  CHECK(r.data->count == 5);
  CHECK(r.data->totalcount == 5);
  CHECK(r.data->numremaining == 0);
  CHECK(r.data->offset == 0);
  CHECK(r.data->listtype == "ARINVOICE");
  const auto* first = r.data->rows_of("ARINVOICE").at(0);
  CHECK(text(first, "WHENMODIFIED") == "05/10/2025 12:00:00");
  CHECK(text(first, "TOTALDUE") == "10.00");
  CHECK(text(first, "STATE") == "Posted");
}

TEST_CASE(
    "reconcile's payment read-back: <in> on DOCNUMBER with 100 values, and read of 100 keys") {
  Fixture fx;
  must(fx.c.add("CUSTOMER", {{"CUSTOMERID", "C1"}, {"NAME", "One"}}));
  const auto inv = must(fx.c.add("ARINVOICE", {{"CUSTOMERID", "C1"}, {"TOTALENTERED", "500"}}));
  std::vector<std::int64_t> pays;
  for (int i = 0; i < 10; ++i) {
    pays.push_back(
        must(fx.c.add("ARPYMT", payment("C1", inv.recordno, std::to_string(i + 1) + ".00",
                                        "pi_" + std::to_string(i))))
            .recordno);
  }
  ii::Query q;
  q.object = "ARPYMT";
  q.select = {"RECORDNO",  "DOCNUMBER", "CUSTOMERID",  "TOTALENTERED",
              "TOTALPAID", "STATE",     "WHENMODIFIED"};
  std::vector<std::string> wanted;
  for (int i = 0; i < 100; ++i)
    wanted.push_back("pi_" + std::to_string(i * 3));  // 0, 3, 6, 9 exist
  q.filter = ii::where(ii::Filter::Op::in, "DOCNUMBER", wanted);
  q.order_by = {{"RECORDNO", true}};
  q.show_private = true;
  q.pagesize = 2000;
  const auto r = run(fx.c, q);
  REQUIRE(r.status == Status::success);
  CHECK(recordnos(r, "ARPYMT") == std::vector<std::int64_t>{pays[0], pays[3], pays[6], pays[9]});
  CHECK(r.data->numremaining == 0);
  const auto* row = r.data->rows_of("ARPYMT").at(1);
  CHECK(text(row, "DOCNUMBER") == "pi_3");
  CHECK(text(row, "CUSTOMERID") == "C1");
  CHECK(text(row, "TOTALENTERED") == "4.00");
  CHECK(text(row, "STATE") == "Posted");

  // read: 100 keys, of which 10 exist; missing ones are simply absent.
  std::vector<std::string> keys;
  for (int i = 0; i < 100; ++i) keys.push_back(std::to_string(pays[0] + i));
  const auto read = run(fx.c, ii::Read{"ARPYMT", keys, {"RECORDNO", "WHENMODIFIED", "STATE"}, ""});
  REQUIRE(read.status == Status::success);
  CHECK(recordnos(read, "ARPYMT") == pays);
  CHECK(read.data->count == 10);
}

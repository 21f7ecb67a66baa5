// The apply script stores a snapshot's own text when the caller names its
// fields (kArgSnapshotNames / kArgSnapshotVersions, made from
// record_doc.hpp's snapshot_text) and encodes the fields itself otherwise.
// Both ways leave the same record, field versions and audit.
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "handlers/detail/apply_call.hpp"
#include "handlers/detail/record_doc.hpp"
#include "tests/handlers/mirror_fixture.hpp"

namespace detail = isync::handlers::detail;
namespace queue = isync::queue;
using isync::testing::await;
using isync::testing::Fields;
using isync::testing::kStartMs;
using isync::testing::kTenant;
using isync::testing::make_event;
using isync::testing::MirrorFixture;

namespace {

constexpr std::int64_t kV1 = 1714564800;  // 05/01/2024 12:00:00 UTC

struct TextFixture : MirrorFixture {
  // One step applied to CUSTOMER `recordno` through the handlers' own inputs;
  // `names` false drops the snapshot's names (the script then encodes).
  std::string run(const std::string& recordno, const queue::Envelope& e, detail::ApplyStep step,
                  bool names) {
    if (!names) step.snapshot_names.clear();
    queue::Delivery d;
    d.tenant = kTenant;
    d.stream = queue::key(kTenant, "events");
    d.entry_id = "0-1";
    d.envelope = e;
    d.envelope.key = recordno;
    return await<std::string>([&](auto cb) {
      detail::run_apply(*conn, d, step, options, kStartMs, detail::ApplyFence{}, cb);
    });
  }

  // The same step on record 1 with the names and on record 2 without.
  void both(const queue::Envelope& e, const detail::ApplyStep& step) {
    CHECK(run("1", e, step, true) == run("2", e, step, false));
  }

  static detail::ApplyStep snapshot(const Fields& fields, std::int64_t version,
                                    std::string kind = "snapshot") {
    detail::ApplyStep step{std::move(kind), "{}", version, isync::format_whenmodified(version),
                           "intacct"};
    detail::set_snapshot(step, "CUSTOMER", fields);
    if (step.kind == "read") step.read_at_ms = (version + 5) * 1000;
    return step;
  }

  static rapidjson::Document parse(const std::string& text) {
    rapidjson::Document doc;
    doc.Parse(text.c_str(), text.size());
    REQUIRE_FALSE(doc.HasParseError());
    return doc;
  }

  // A record's field versions as a JSON object ("" = every field at v).
  std::string versions(const std::string& recordno) {
    std::string fv = hget("CUSTOMER", recordno, "fv");
    if (!fv.empty()) return fv;
    std::string out = "{";
    for (const auto& [name, value] : fields("CUSTOMER", recordno)) {
      if (out.size() > 1) out += ',';
      out += "\"" + name + "\":\"" + hget("CUSTOMER", recordno, "v") + "\"";
    }
    return out + "}";
  }

  // Records 1 and 2 hold equal values: the JSON fields compared as decoded.
  void same_records() {
    for (const char* field : {"v", "wm", "del", "draft", "ev", "rt", "need"})
      CHECK(hget("CUSTOMER", "1", field) == hget("CUSTOMER", "2", field));
    CHECK(parse(hget("CUSTOMER", "1", "f")) == parse(hget("CUSTOMER", "2", "f")));
    CHECK(parse(versions("1")) == parse(versions("2")));
    auto a = server.cmd({"LRANGE", audit_key("CUSTOMER", "1"), "0", "-1"}).elements;
    auto b = server.cmd({"LRANGE", audit_key("CUSTOMER", "2"), "0", "-1"}).elements;
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(parse(a[i].str) == parse(b[i].str));
    CHECK(server.cmd({"HGET", queue::key(kTenant, "idxv:CUSTOMER"), "1"}).str ==
          server.cmd({"HGET", queue::key(kTenant, "idxv:CUSTOMER"), "2"}).str);
  }
};

}  // namespace

TEST_CASE("snapshot_text sorts names by byte, keeps a repeated name's last value, escapes both") {
  auto t =
      detail::snapshot_text({{"b", "2"}, {"A", "x"}, {"a/\"q\"", "v\\1"}, {"A", "y"}, {"_", "\n"}});
  CHECK(t.json == R"({"A":"y","_":"\n","a/\"q\"":"v\\1","b":"2"})");
  CHECK(t.names == std::vector<std::string>{R"("A")", R"("_")", R"("a/\"q\"")", R"("b")"});
  auto empty = detail::snapshot_text({});
  CHECK(empty.json == "{}");
  CHECK(empty.names.empty());
}

TEST_CASE_FIXTURE(TextFixture,
                  "a snapshot applied with its names given leaves the record, field versions "
                  "and audit it leaves when the script encodes the fields") {
  auto e = make_event("CUSTOMER", "1", "set", kV1);
  // A new record, with values that need escaping ('/' is stored unescaped).
  both(e, snapshot({{"CUSTOMERID", "C1"},
                    {"NAME", "Ann \"A\" / B\\C"},
                    {"NOTE", "tab\there, bs\b, é"},
                    {"STATUS", "active"}},
                   kV1));
  same_records();
  // Given names, the record holds the snapshot's own text (a backspace as
  // \u0008, where the script's encoder writes \b), proving the stored-text
  // path ran for record 1 and not for record 2.
  CHECK(hget("CUSTOMER", "1", "f") == detail::snapshot_text({{"CUSTOMERID", "C1"},
                                                             {"NAME", "Ann \"A\" / B\\C"},
                                                             {"NOTE", "tab\there, bs\b, é"},
                                                             {"STATUS", "active"}})
                                          .json);
  CHECK(hget("CUSTOMER", "2", "f") != hget("CUSTOMER", "1", "f"));
  // Every field at the record's version: field versions kept as "".
  CHECK(hget("CUSTOMER", "1", "fv").empty());
  // Stored without decoding: the id set and the index still have it.
  for (const char* recordno : {"1", "2"}) {
    CHECK(server.cmd({"SISMEMBER", queue::key(kTenant, "id:CUSTOMER:C1"), recordno}).integer == 1);
    CHECK(server.cmd({"HGET", queue::key(kTenant, "idxv:CUSTOMER"), recordno}).str ==
          std::to_string(kV1));
  }
  // Every stored field named again, two changed.
  both(e, snapshot({{"CUSTOMERID", "C1"},
                    {"NAME", "Ann"},
                    {"NOTE", "tab\there, bs\b, é"},
                    {"STATUS", "inactive"}},
                   kV1 + 60));
  same_records();
  // A partial snapshot merges into the stored fields (encoded both ways).
  both(e, snapshot({{"STATUS", "active"}}, kV1 + 120));
  same_records();
  CHECK(parse(hget("CUSTOMER", "1", "fv"))["NAME"] == std::to_string(kV1 + 60).c_str());
  // The same second again with the same values: nothing but versions move.
  both(e, snapshot({{"STATUS", "active"}}, kV1 + 120));
  same_records();
  // A read replaces the fields: NOTE and NAME are dropped, EMAIL1 is new.
  both(e, snapshot({{"CUSTOMERID", "C1"}, {"STATUS", "active"}, {"EMAIL1", "a@b.c"}}, kV1 + 180,
                   "read"));
  same_records();
  CHECK(fields("CUSTOMER", "1") == std::map<std::string, std::string>{{"CUSTOMERID", "C1"},
                                                                      {"EMAIL1", "a@b.c"},
                                                                      {"STATUS", "active"}});
  // A read naming none of the stored fields: the dropped ones are in the
  // audit's changed names with the new one.
  both(e, snapshot({{"CURRENCY", "USD"}}, kV1 + 240, "read"));
  same_records();
  auto last = parse(server.cmd({"LINDEX", audit_key("CUSTOMER", "1"), "0"}).str);
  REQUIRE(last["changed"].IsArray());
  std::vector<std::string> changed;
  for (const auto& n : last["changed"].GetArray()) changed.emplace_back(n.GetString());
  CHECK(changed == std::vector<std::string>{"CUSTOMERID", "EMAIL1", "STATUS", "CURRENCY"});
  // An older snapshot is ignored either way.
  both(e, snapshot({{"STATUS", "gone"}}, kV1));
  same_records();
}

TEST_CASE_FIXTURE(TextFixture,
                  "a name given twice keeps its last value, as the script's own decoding of "
                  "the same snapshot does") {
  auto e = make_event("CUSTOMER", "1", "set", kV1);
  auto given = snapshot({{"CUSTOMERID", "C9"}, {"NAME", "first"}, {"NAME", "last"}}, kV1);
  // Record 2 gets the text a decoder sees, both values in it, and no names.
  detail::ApplyStep raw = given;
  raw.snapshot_json = R"({"CUSTOMERID":"C9","NAME":"first","NAME":"last"})";
  CHECK(run("1", e, given, true) == "applied");
  CHECK(run("2", e, raw, false) == "applied");
  same_records();
  CHECK(fields("CUSTOMER", "1").at("NAME") == "last");
}

#include <rapidjson/document.h>

#include <string>

#include "tests/handlers/mirror_fixture.hpp"

using isync::testing::make_event;
using isync::testing::MirrorFixture;

namespace {

constexpr std::int64_t kV1 = 1714564800;  // 05/01/2024 12:00:00 UTC
constexpr std::int64_t kV2 = kV1 + 3600;

rapidjson::Document parse(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

}  // namespace

TEST_CASE_FIXTURE(MirrorFixture,
                  "a record reads back with its fields and audit trail, newest first") {
  auto add = make_event("CUSTOMER", "149", "add", kV1,
                        {{"CUSTOMERID", "C-149"}, {"NAME", "Acme \"East\""}, {"STATUS", "active"}});
  apply(add);
  auto set = make_event("CUSTOMER", "149", "set", kV2, {{"STATUS", "inactive"}});
  apply(set);

  auto text = get("customers", "149");
  REQUIRE(text.has_value());
  auto doc = parse(*text);
  REQUIRE(doc.IsObject());
  CHECK(doc.MemberCount() == 7);
  CHECK(std::string(doc["object"].GetString()) == "CUSTOMER");
  CHECK(std::string(doc["recordno"].GetString()) == "149");
  REQUIRE(doc["version"].IsInt64());
  CHECK(doc["version"].GetInt64() == kV2);
  CHECK(std::string(doc["whenmodified"].GetString()) == "05/01/2024 13:00:00");
  CHECK(doc["deleted"].IsFalse());
  const auto& fields = doc["fields"];
  REQUIRE(fields.IsObject());
  CHECK(fields.MemberCount() == 3);
  CHECK(std::string(fields["CUSTOMERID"].GetString()) == "C-149");
  CHECK(std::string(fields["NAME"].GetString()) == "Acme \"East\"");
  CHECK(std::string(fields["STATUS"].GetString()) == "inactive");

  const auto& audit = doc["audit"];
  REQUIRE(audit.IsArray());
  REQUIRE(audit.Size() == 2);
  const auto& newest = audit[0];
  CHECK(std::string(newest["event_id"].GetString()) == set.event_id);
  CHECK(std::string(newest["at"].GetString()) == "2023-11-14T22:13:20.000Z");
  CHECK(std::string(newest["source"].GetString()) == "intacct");
  CHECK(std::string(newest["action"].GetString()) == "set");
  CHECK(std::string(newest["result"].GetString()) == "applied");
  CHECK(newest["version"].GetInt64() == kV2);
  REQUIRE(newest["changed"].IsArray());
  REQUIRE(newest["changed"].Size() == 1);
  CHECK(std::string(newest["changed"][0].GetString()) == "STATUS");
  CHECK(std::string(audit[1]["event_id"].GetString()) == add.event_id);
  CHECK(audit[1]["changed"].Size() == 3);
}

TEST_CASE_FIXTURE(MirrorFixture, "slashes and backslashes in values are stored as given") {
  apply(make_event("ARINVOICE", "7", "add", kV1,
                   {{"STATE", "Posted"},
                    {"WHENDUE", "11/22/2026"},
                    {"MEMO", "a\\/b \\\\/c \\"}}));  // a\/b \\/c \ (raw)
  auto text = get("invoices", "7");
  REQUIRE(text.has_value());
  CHECK(text->find("11/22/2026") != std::string::npos);  // not 11\/22\/2026
  auto doc = parse(*text);
  CHECK(std::string(doc["fields"]["WHENDUE"].GetString()) == "11/22/2026");
  CHECK(std::string(doc["fields"]["MEMO"].GetString()) == "a\\/b \\\\/c \\");
}

TEST_CASE_FIXTURE(MirrorFixture, "a tombstone reads back with deleted true") {
  apply(make_event("ARPYMT", "12", "add", kV1, {{"DOCNUMBER", "pi_12"}}));
  apply(make_event("ARPYMT", "12", "delete", kV2));
  auto text = get("payments", "12");
  REQUIRE(text.has_value());
  auto doc = parse(*text);
  CHECK(doc["deleted"].IsTrue());
  CHECK(std::string(doc["object"].GetString()) == "ARPYMT");
  CHECK(std::string(doc["fields"]["DOCNUMBER"].GetString()) == "pi_12");
  CHECK(std::string(doc["audit"][0]["result"].GetString()) == "tombstoned");
  CHECK(doc["audit"][0]["changed"].IsArray());
  CHECK(doc["audit"][0]["changed"].Size() == 0);
}

TEST_CASE_FIXTURE(MirrorFixture, "an unknown record is not_found naming the record and tenant") {
  auto r = get("customers", "404");
  REQUIRE(r.has_error());
  CHECK(r.error().code == "not_found");
  CHECK(r.error().message == "no customer 404 in the mirror of tenant acme");
  auto bad = get("payments", "abc");
  REQUIRE(bad.has_error());
  CHECK(bad.error().code == "not_found");
  CHECK(bad.error().message == "no payment abc in the mirror of tenant acme");
}

TEST_CASE_FIXTURE(MirrorFixture, "records are found by their id field") {
  apply(make_event("ARINVOICE", "5", "add", kV1, {{"STATE", "Posted"}, {"RECORDID", "INV-9"}}));
  apply(make_event("ARINVOICE", "6", "add", kV1, {{"STATE", "Posted"}, {"RECORDID", "INV-9"}}));
  apply(make_event("ARINVOICE", "7", "add", kV1, {{"STATE", "Posted"}, {"RECORDID", "INV-7"}}));

  auto text = find("invoices", "INV-9");
  REQUIRE(text.has_value());
  auto doc = parse(*text);
  REQUIRE(doc["records"].IsArray());
  REQUIRE(doc["records"].Size() == 2);
  CHECK(std::string(doc["records"][0]["recordno"].GetString()) == "5");
  CHECK(std::string(doc["records"][1]["recordno"].GetString()) == "6");
  CHECK(std::string(doc["records"][0]["fields"]["RECORDID"].GetString()) == "INV-9");

  auto none = find("invoices", "INV-404");
  REQUIRE(none.has_value());
  CHECK(*none == R"({"records":[]})");
}

TEST_CASE_FIXTURE(MirrorFixture, "a read while Redis is down is unavailable") {
  server.stop();
  auto r = get("customers", "1");
  REQUIRE(r.has_error());
  CHECK(r.error().code == "unavailable");
  server.start();
}

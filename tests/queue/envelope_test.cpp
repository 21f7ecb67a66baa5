#include <doctest/doctest.h>

#include "queue/queue.hpp"

using namespace isync::queue;

namespace {
Envelope sample() {
  Envelope e;
  e.event_id = "01HZX0000000000000000000AB";
  e.source = "intacct";
  e.tenant = "acme";
  e.object = "ARINVOICE";
  e.action = "set";
  e.key = "42";
  e.version = 1700000000;
  e.whenmodified = "11/14/2023 22:13:20";
  e.snapshot = {{"STATE", "Posted"}, {"TOTALDUE", "10.00"}};
  e.received_at_ms = 1700000000123;
  e.content_type = "application/json";
  e.raw = R"({"object":"ARINVOICE"})";
  return e;
}
}  // namespace

TEST_CASE("keys carry the tenant as a hash tag") {
  CHECK(key("acme", "events") == "isync:{acme}:events");
}

TEST_CASE("an envelope survives encode then decode") {
  auto d = decode(encode(sample()));
  REQUIRE(d.has_value());
  CHECK(d->event_id == "01HZX0000000000000000000AB");
  CHECK(d->version == 1700000000);
  CHECK(d->snapshot == sample().snapshot);
  CHECK(d->raw == sample().raw);
  CHECK(d->received_at_ms == 1700000000123);
}

TEST_CASE("an envelope whose raw body is not UTF-8 still decodes, byte for byte") {
  // A smart event's raw body is stored as it came; an envelope queued with
  // one that is not UTF-8 must not be stranded.
  Envelope e = sample();
  e.raw = "\xff\xfe";
  auto d = decode(encode(e));
  REQUIRE(d.has_value());
  CHECK(d->raw == "\xff\xfe");
  CHECK(encode(*d) == encode(e));
}

TEST_CASE("an envelope nested 200,000 deep is refused, not a stack overflow") {
  auto d = decode(std::string(200000, '['));
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().message.find("nested deeper than 64 levels") != std::string::npos);
}

TEST_CASE("decode rejects other versions, wrong types and non-JSON with bad_envelope") {
  auto v2 = decode(R"({"v":2})");
  REQUIRE(!v2);
  CHECK(v2.error().code == "bad_envelope");
  CHECK(v2.error().message == "queued event envelope: version 2 is not supported (expected 1)");
  std::string wrong = encode(sample());
  wrong.replace(wrong.find("\"version\":1700000000"), 20, "\"version\":\"x\"");
  auto w = decode(wrong);
  REQUIRE(!w);
  CHECK(w.error().message == "queued event envelope: field 'version' is not an integer");
  CHECK(!decode("not json"));
  CHECK(!decode("[]"));
}

TEST_CASE("the dedup key depends on the change, not on the event id or arrival") {
  auto a = sample();
  auto b = sample();
  b.event_id = "01HZX0000000000000000000ZZ";
  b.received_at_ms += 5000;
  CHECK(smart_event_dedup_key(a) == smart_event_dedup_key(b));
  CHECK(smart_event_dedup_key(a).rfind("isync:{acme}:dedup:", 0) == 0);
  b.snapshot[1].second = "11.00";
  CHECK(smart_event_dedup_key(a) != smart_event_dedup_key(b));
  auto c = sample();
  c.version += 1;
  CHECK(smart_event_dedup_key(a) != smart_event_dedup_key(c));
  auto thin = sample();
  thin.snapshot.clear();
  CHECK(smart_event_dedup_key(a) != smart_event_dedup_key(thin));
}

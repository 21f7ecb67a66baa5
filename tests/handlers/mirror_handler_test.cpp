#include <string>

#include "tests/handlers/mirror_fixture.hpp"
#include "tests/support/tcp_proxy.hpp"

namespace queue = isync::queue;
using isync::queue::Outcome;
using isync::testing::make_event;
using isync::testing::MirrorFixture;

namespace {

constexpr std::int64_t kV1 = 1714564800;  // 05/01/2024 12:00:00 UTC
constexpr std::int64_t kV2 = kV1 + 60;
constexpr std::int64_t kV3 = kV1 + 120;

}  // namespace

TEST_CASE_FIXTURE(MirrorFixture, "a newer set is applied and recorded in the audit trail") {
  auto first = make_event("CUSTOMER", "149", "add", kV1, {{"CUSTOMERID", "C-1"}, {"NAME", "Acme"}});
  CHECK(apply(first).kind == Outcome::Kind::done);
  auto second = make_event("CUSTOMER", "149", "set", kV2, {{"NAME", "Acme Ltd"}});
  CHECK(apply(second).kind == Outcome::Kind::done);

  auto f = fields("CUSTOMER", "149");
  CHECK(f["NAME"] == "Acme Ltd");
  CHECK(f["CUSTOMERID"] == "C-1");
  CHECK(hget("CUSTOMER", "149", "v") == std::to_string(kV2));
  CHECK(hget("CUSTOMER", "149", "wm") == "05/01/2024 12:01:00");
  CHECK(hget("CUSTOMER", "149", "ev") == second.event_id);
  CHECK(audit_len("CUSTOMER", "149") == 2);
  CHECK(decisions("CUSTOMER", "applied") == 2);
}

TEST_CASE_FIXTURE(MirrorFixture, "an older set is ignored and counted") {
  apply(make_event("CUSTOMER", "7", "set", kV2, {{"NAME", "new"}}));
  auto old = apply(make_event("CUSTOMER", "7", "set", kV1, {{"NAME", "old"}}));
  CHECK(old.kind == Outcome::Kind::done);
  CHECK(fields("CUSTOMER", "7")["NAME"] == "new");
  CHECK(hget("CUSTOMER", "7", "v") == std::to_string(kV2));
  CHECK(audit_len("CUSTOMER", "7") == 1);
  CHECK(decisions("CUSTOMER", "ignored") == 1);
}

TEST_CASE_FIXTURE(MirrorFixture, "an equal version with equal content is ignored") {
  auto e = make_event("CUSTOMER", "8", "set", kV1, {{"NAME", "same"}, {"STATUS", "active"}});
  apply(e);
  auto again = make_event("CUSTOMER", "8", "set", kV1, {{"NAME", "same"}, {"STATUS", "active"}});
  CHECK(apply(again).kind == Outcome::Kind::done);
  CHECK(hget("CUSTOMER", "8", "ev") == e.event_id);
  CHECK(audit_len("CUSTOMER", "8") == 1);
  CHECK(decisions("CUSTOMER", "ignored") == 1);
}

TEST_CASE_FIXTURE(MirrorFixture,
                  "an equal version with a different value is parked for a re-read") {
  apply(make_event("CUSTOMER", "9", "set", kV1, {{"NAME", "one"}}));
  auto conflict = apply(make_event("CUSTOMER", "9", "set", kV1, {{"NAME", "two"}}));
  CHECK(conflict.kind == Outcome::Kind::park);
  CHECK(conflict.failure.code == "needs_reread");
  CHECK(conflict.failure.message.find("re-read from Intacct is needed") != std::string::npos);
  CHECK(fields("CUSTOMER", "9")["NAME"] == "one");
  CHECK(audit_len("CUSTOMER", "9") == 1);
  CHECK(decisions("CUSTOMER", "reread") == 1);
}

TEST_CASE_FIXTURE(MirrorFixture, "a delete with an equal or newer version leaves a tombstone") {
  apply(make_event("ARPYMT", "31", "add", kV1, {{"DOCNUMBER", "pi_1"}, {"AMOUNT", "10.00"}}));
  CHECK(apply(make_event("ARPYMT", "31", "delete", kV1)).kind == Outcome::Kind::done);
  CHECK(hget("ARPYMT", "31", "del") == "1");
  CHECK(fields("ARPYMT", "31")["AMOUNT"] == "10.00");
  auto ttl = server.cmd({"TTL", rec_key("ARPYMT", "31")}).integer;
  CHECK(ttl > 29 * 24 * 3600);
  CHECK(ttl <= 30 * 24 * 3600);
  CHECK(decisions("ARPYMT", "tombstoned") == 1);

  apply(make_event("ARPYMT", "32", "add", kV1, {{"AMOUNT", "5.00"}}));
  CHECK(apply(make_event("ARPYMT", "32", "delete", kV2)).kind == Outcome::Kind::done);
  CHECK(hget("ARPYMT", "32", "del") == "1");
  CHECK(hget("ARPYMT", "32", "v") == std::to_string(kV2));
  // A late set of the deleted version does not bring the record back.
  apply(make_event("ARPYMT", "32", "set", kV2, {{"AMOUNT", "6.00"}}));
  CHECK(hget("ARPYMT", "32", "del") == "1");
  CHECK(fields("ARPYMT", "32")["AMOUNT"] == "5.00");
}

TEST_CASE_FIXTURE(MirrorFixture, "an older delete is ignored") {
  apply(make_event("CUSTOMER", "40", "set", kV2, {{"NAME", "kept"}}));
  CHECK(apply(make_event("CUSTOMER", "40", "delete", kV1)).kind == Outcome::Kind::done);
  CHECK(hget("CUSTOMER", "40", "del") == "0");
  CHECK(server.cmd({"TTL", rec_key("CUSTOMER", "40")}).integer == -1);
  CHECK(audit_len("CUSTOMER", "40") == 1);
}

TEST_CASE_FIXTURE(MirrorFixture, "a snapshot merges field by field into the stored record") {
  apply(make_event("ARINVOICE", "500", "add", kV1,
                   {{"STATE", "Posted"}, {"RECORDID", "INV-1"}, {"TOTALDUE", "100.00"}}));
  apply(make_event("ARINVOICE", "500", "set", kV2,
                   {{"STATE", "Partially Paid"}, {"TOTALDUE", "40.00"}}));
  auto f = fields("ARINVOICE", "500");
  CHECK(f.size() == 3);
  CHECK(f["STATE"] == "Partially Paid");
  CHECK(f["RECORDID"] == "INV-1");
  CHECK(f["TOTALDUE"] == "40.00");
  auto newest = server.cmd({"LINDEX", audit_key("ARINVOICE", "500"), "0"}).str;
  CHECK(newest.find(R"("changed":["STATE","TOTALDUE"])") != std::string::npos);
}

TEST_CASE_FIXTURE(MirrorFixture,
                  "a thin event newer than the mirror is parked when the tenant has no Intacct "
                  "access") {
  apply(make_event("CUSTOMER", "60", "set", kV1, {{"NAME", "x"}}));
  auto thin_event = make_event("CUSTOMER", "60", "set", kV2);
  auto thin = apply(thin_event);
  CHECK(thin.kind == Outcome::Kind::park);
  CHECK(thin.failure.code == "thin_event");
  CHECK(thin.failure.message ==
        "CUSTOMER 60 of tenant acme (event " + thin_event.event_id +
            "): thin event: needs a read from Intacct, and the tenant has no Intacct access "
            "configured (company_id, user_id, user_password)");
  CHECK(hget("CUSTOMER", "60", "v") == std::to_string(kV1));

  auto unknown = apply(make_event("CUSTOMER", "61", "add", kV1));
  CHECK(unknown.kind == Outcome::Kind::park);
  CHECK(server.cmd({"EXISTS", rec_key("CUSTOMER", "61")}).integer == 0);
  CHECK(decisions("CUSTOMER", "thin") == 2);
}

TEST_CASE_FIXTURE(MirrorFixture,
                  "a thin event older than the mirror is acked with no change, one of the same "
                  "version still needs a read") {
  auto e = make_event("CUSTOMER", "62", "set", kV2, {{"NAME", "x"}});
  apply(e);
  CHECK(apply(make_event("CUSTOMER", "62", "set", kV1)).kind == Outcome::Kind::done);
  // Same second as the snapshot: it may be another change of that second,
  // which only a read can tell (parked here, without Intacct access).
  auto same = apply(make_event("CUSTOMER", "62", "set", kV2));
  CHECK(same.kind == Outcome::Kind::park);
  CHECK(same.failure.code == "thin_event");
  CHECK(hget("CUSTOMER", "62", "ev") == e.event_id);
  CHECK(audit_len("CUSTOMER", "62") == 1);
}

TEST_CASE_FIXTURE(MirrorFixture, "a draft invoice is not mirrored and removes a mirrored one") {
  CHECK(apply(make_event("ARINVOICE", "70", "add", kV1, {{"STATE", "Draft"}})).kind ==
        Outcome::Kind::done);
  CHECK(get("invoices", "70").error().code == "not_found");

  apply(make_event("ARINVOICE", "71", "add", kV1, {{"STATE", "Posted"}, {"RECORDID", "I-71"}}));
  CHECK(apply(make_event("ARINVOICE", "71", "set", kV2, {{"STATE", "draft"}})).kind ==
        Outcome::Kind::done);
  auto gone = get("invoices", "71");
  REQUIRE(gone.has_error());
  CHECK(gone.error().code == "not_found");
  CHECK(gone.error().message == "no invoice 71 in the mirror of tenant acme");
  CHECK(server.cmd({"SCARD", queue::key(isync::testing::kTenant, "id:ARINVOICE:I-71")}).integer ==
        0);
  CHECK(decisions("ARINVOICE", "removed") == 1);
  // The hidden marker keeps the version: the older posted state cannot return.
  apply(make_event("ARINVOICE", "71", "set", kV1, {{"STATE", "Posted"}, {"RECORDID", "I-71"}}));
  CHECK(get("invoices", "71").has_error());
  // A newer posted state mirrors it again.
  apply(make_event("ARINVOICE", "71", "set", kV3, {{"STATE", "Posted"}, {"RECORDID", "I-71"}}));
  REQUIRE(get("invoices", "71").has_value());
  CHECK(fields("ARINVOICE", "71")["STATE"] == "Posted");
}

TEST_CASE_FIXTURE(MirrorFixture, "an invoice snapshot without STATE is treated as thin") {
  auto out = apply(make_event("ARINVOICE", "80", "set", kV1, {{"TOTALDUE", "1.00"}}));
  CHECK(out.kind == Outcome::Kind::park);
  CHECK(out.failure.code == "thin_event");
  CHECK(server.cmd({"EXISTS", rec_key("ARINVOICE", "80")}).integer == 0);
}

TEST_CASE_FIXTURE(MirrorFixture, "the audit trail keeps at most audit_max_entries, newest first") {
  options.audit_max_entries = 3;
  rebuild();
  std::string last;
  for (int i = 0; i < 5; ++i) {
    auto e = make_event("CUSTOMER", "90", "set", kV1 + i, {{"NAME", "n" + std::to_string(i)}});
    last = e.event_id;
    apply(e);
  }
  CHECK(audit_len("CUSTOMER", "90") == 3);
  auto newest = server.cmd({"LINDEX", audit_key("CUSTOMER", "90"), "0"}).str;
  CHECK(newest.find(last) != std::string::npos);
}

TEST_CASE_FIXTURE(MirrorFixture, "audit entries older than audit_max_age are dropped") {
  apply(make_event("CUSTOMER", "91", "set", kV1, {{"NAME", "a"}}));
  clock.advance(91LL * 24 * 3600 * 1000);
  apply(make_event("CUSTOMER", "91", "set", kV2, {{"NAME", "b"}}));
  CHECK(audit_len("CUSTOMER", "91") == 1);
}

TEST_CASE_FIXTURE(MirrorFixture, "the id index follows a changed CUSTOMERID") {
  apply(make_event("CUSTOMER", "100", "add", kV1, {{"CUSTOMERID", "OLD"}, {"NAME", "n"}}));
  auto by_old = queue::key(isync::testing::kTenant, "id:CUSTOMER:OLD");
  auto by_new = queue::key(isync::testing::kTenant, "id:CUSTOMER:NEW");
  CHECK(server.cmd({"SISMEMBER", by_old, "100"}).integer == 1);
  apply(make_event("CUSTOMER", "100", "set", kV2, {{"CUSTOMERID", "NEW"}}));
  CHECK(server.cmd({"EXISTS", by_old}).integer == 0);
  CHECK(server.cmd({"SISMEMBER", by_new, "100"}).integer == 1);
}

TEST_CASE_FIXTURE(MirrorFixture, "same-second partial snapshots of one change merge in any order") {
  apply(make_event("CUSTOMER", "110", "set", kV1, {{"NAME", "old"}, {"STATUS", "active"}}));
  CHECK(apply(make_event("CUSTOMER", "110", "set", kV2, {{"STATUS", "inactive"}})).kind ==
        Outcome::Kind::done);
  CHECK(apply(make_event("CUSTOMER", "110", "set", kV2, {{"NAME", "new"}, {"STATUS", "inactive"}}))
            .kind == Outcome::Kind::done);
  auto f = fields("CUSTOMER", "110");
  CHECK(f["NAME"] == "new");
  CHECK(f["STATUS"] == "inactive");
}

TEST_CASE_FIXTURE(MirrorFixture, "an event of an object the mirror does not keep is dead") {
  auto out = apply(make_event("VENDOR", "1", "set", kV1, {{"NAME", "v"}}));
  CHECK(out.kind == Outcome::Kind::dead);
  CHECK(out.failure.code == "invalid_event");
  CHECK(server.keys().empty());
}

TEST_CASE_FIXTURE(MirrorFixture, "the apply acks the stream entry in the same script") {
  auto stream = queue::key(isync::testing::kTenant, "events");
  server.cmd({"XGROUP", "CREATE", stream, std::string(queue::kGroup), "0", "MKSTREAM"});
  auto id = server.cmd({"XADD", stream, "*", "e", "{}"}).str;
  server.cmd({"XREADGROUP", "GROUP", std::string(queue::kGroup), "c1", "COUNT", "1", "STREAMS",
              stream, ">"});
  queue::Delivery d;
  d.tenant = isync::testing::kTenant;
  d.stream = stream;
  d.entry_id = id;
  d.envelope = make_event("CUSTOMER", "120", "set", kV1, {{"NAME", "n"}});
  auto out = isync::testing::await<Outcome>([&](auto cb) { handler->handle(d, cb); });
  CHECK(out.kind == Outcome::Kind::done);
  CHECK(server.cmd({"XLEN", stream}).integer == 0);
  auto pending = server.cmd({"XPENDING", stream, std::string(queue::kGroup)});
  REQUIRE(pending.elements.size() >= 1);
  CHECK(pending.elements[0].integer == 0);
}

TEST_CASE_FIXTURE(MirrorFixture, "each outcome carries the handler's decision for the log line") {
  auto applied = apply(make_event("CUSTOMER", "130", "set", kV1, {{"NAME", "n"}}));
  CHECK(applied.kind == queue::Outcome::Kind::done);
  CHECK(applied.result == "applied");
  auto ignored = apply(make_event("CUSTOMER", "130", "set", kV1, {{"NAME", "n"}}));
  CHECK(ignored.result == "ignored");
  auto thin = apply(make_event("CUSTOMER", "131", "set", kV1, {}));
  CHECK(thin.kind == queue::Outcome::Kind::park);
  CHECK(thin.result == "thin");
}

TEST_CASE_FIXTURE(MirrorFixture,
                  "an apply whose reply is lost is unknown, not a retry, and is in the mirror") {
  // Through the direct connection first: the apply script is then in Redis's
  // cache, so the proxied handler's first EVALSHA is its commit.
  apply(make_event("CUSTOMER", "20", "set", kV1, {{"NAME", "first"}}));
  isync::testing::TcpProxy proxy(server.port());
  auto ep = server.endpoint();
  ep.port = proxy.port();
  auto via_proxy = isync::testing::connect(io->executor(), ep);
  isync::handlers::MirrorHandler lossy(via_proxy, options, metrics, clock, log);
  proxy.cut("EVALSHA", isync::testing::TcpProxy::Cut::after_reply);

  auto e = make_event("CUSTOMER", "21", "set", kV1, {{"CUSTOMERID", "C-21"}, {"NAME", "lost"}});
  queue::Delivery d;
  d.tenant = e.tenant;
  d.stream = queue::key(e.tenant, "events");
  d.entry_id = "1-1";
  d.envelope = e;
  auto o = isync::testing::await<Outcome>([&](auto cb) { lossy.handle(d, cb); });
  CHECK(proxy.cuts() == 1);
  CHECK(o.kind == Outcome::Kind::unknown);
  CHECK(o.failure.code == "redis_reply_lost");
  CHECK(o.failure.message.find("CUSTOMER 21 of tenant acme") != std::string::npos);
  CHECK(fields("CUSTOMER", "21")["NAME"] == "lost");
  CHECK(audit_len("CUSTOMER", "21") == 1);
  isync::testing::close_and_wait(*via_proxy);
}

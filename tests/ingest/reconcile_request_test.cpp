// The POST /v1/admin/reconcile body: what is accepted, and every refusal's
// exact message.
#include "ingest/detail/reconcile_request.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

using isync::ingest::detail::parse_reconcile_request;
using isync::ingest::detail::reconcile_object_of;
using isync::ingest::detail::reconcile_request_json;

void refused(const std::string& body, const std::string& code, const std::string& message) {
  CAPTURE(body);
  auto r = parse_reconcile_request(body);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == code);
  CHECK(r.error().message == message);
}

}  // namespace

TEST_CASE("a reconcile request needs only the tenant: every object, no dry run, guard on") {
  auto r = parse_reconcile_request(R"({"tenant":"acme"})");
  REQUIRE(r.has_value());
  CHECK(r->tenant == "acme");
  CHECK(r->objects.empty());
  CHECK_FALSE(r->dry_run);
  CHECK_FALSE(r->allow_mass_delete);
}

TEST_CASE("objects come back as Intacct names in run order, a repeat counted once") {
  auto r = parse_reconcile_request(
      R"({"tenant":"acme","objects":["payments","customers","payments"],"dry_run":true,)"
      R"("allow_mass_delete":true})");
  REQUIRE(r.has_value());
  CHECK(r->objects == std::vector<std::string>{"CUSTOMER", "ARPYMT"});
  CHECK(r->dry_run);
  CHECK(r->allow_mass_delete);
  CHECK(reconcile_request_json(*r) ==
        R"({"tenant":"acme","objects":["customers","payments"],"dry_run":true,)"
        R"("allow_mass_delete":true})");
  CHECK(reconcile_object_of("invoices") == "ARINVOICE");
  CHECK(reconcile_object_of("ARINVOICE").empty());
}

TEST_CASE("every refusal of a reconcile request names the member and what to send") {
  refused("[]", "invalid_field", "the body must be a JSON object");
  refused(
      R"({"tenant":"acme","tenants":["a"]})", "invalid_field",
      R"(unknown member "tenants"; the body takes tenant, objects, dry_run and allow_mass_delete)");
  refused(R"({"objects":["customers"]})", "invalid_field", R"("tenant" is required)");
  refused(R"({"tenant":7})", "invalid_field", R"("tenant" must be a string)");
  refused(R"({"tenant":"Acme"})", "invalid_field",
          R"("tenant" must be a tenant id ([a-z0-9_-]{1,64}))");
  refused(R"({"tenant":"acme","objects":"customers"})", "invalid_field",
          R"("objects" must be an array of "customers", "invoices" and "payments")");
  refused(R"({"tenant":"acme","objects":[1]})", "invalid_field",
          R"("objects" must be an array of "customers", "invoices" and "payments")");
  refused(R"({"tenant":"acme","objects":[]})", "invalid_field",
          R"("objects" is empty; leave it out to reconcile every object)");
  refused(R"({"tenant":"acme","objects":["CUSTOMER"]})", "invalid_field",
          R"("objects" holds "CUSTOMER"; expected "customers", "invoices" or "payments")");
  refused(R"({"tenant":"acme","dry_run":"yes"})", "invalid_field",
          R"("dry_run" must be true or false)");
  refused(R"({"tenant":"acme","allow_mass_delete":1})", "invalid_field",
          R"("allow_mass_delete" must be true or false)");
  refused(R"({"tenant":"acme","x":1,"objects":[)" + std::string(100, ' ') + "]}", "invalid_field",
          R"(unknown member "x"; the body takes tenant, objects, dry_run and allow_mass_delete)");
  refused(R"({"tenant":"acme","objects":[")" + std::string(100, 'z') + R"("]})", "invalid_field",
          R"("objects" holds ")" + std::string(64, 'z') +
              R"(..."; expected "customers", "invoices" or "payments")");
}

TEST_CASE("a reconcile body that is not strict JSON is malformed_body") {
  for (const std::string& body : {std::string("{"), std::string(R"({"tenant":"a","tenant":"b"})"),
                                  std::string(R"({"tenant":"acme"} x)"), std::string("")}) {
    CAPTURE(body);
    auto r = parse_reconcile_request(body);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == "malformed_body");
  }
}

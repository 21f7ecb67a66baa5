// Classification, one case per row of PROTOCOL.md §5.
#include <doctest/doctest.h>

#include "intacct/intacct.hpp"

namespace ii = isync::intacct;
using ii::ErrorClass;
using ii::ErrorLevel;

namespace {

constexpr ii::CallContext kRead{.write = false, .sent = true};
constexpr ii::CallContext kWrite{.write = true, .sent = true};
constexpr ii::CallContext kWriteUnsent{.write = true, .sent = false};

ii::Response control_failure(ii::ErrorDetail e, int status = 200) {
  ii::Response r;
  r.http_status = status;
  r.has_body = true;
  r.control_status = ii::Status::failure;
  r.control_errors = {std::move(e)};
  return r;
}

ii::Response auth_failure(ii::ErrorDetail e) {
  ii::Response r;
  r.has_body = true;
  r.control_status = ii::Status::success;
  r.authentication = ii::AuthenticationResult{};
  r.authentication->status = ii::Status::failure;
  r.authentication->errors = {std::move(e)};
  return r;
}

ii::IntacctError result_failure(std::vector<ii::ErrorDetail> errors) {
  ii::Response r;
  r.has_body = true;
  r.control_status = ii::Status::success;
  r.results.push_back(ii::FunctionResult{ii::Status::failure, "create", "f1", {}, {}, {}, errors});
  auto e = ii::result_error(r, r.results[0]);
  REQUIRE(e);
  CHECK(e->level == ErrorLevel::result);
  return *e;
}

ii::IntacctError status_only(int status, ii::CallContext context) {
  auto r = ii::parse_response(status, "text/html", "<html/>");
  REQUIRE(r.has_value());
  auto e = ii::response_error(*r, context);
  REQUIRE(e);
  CHECK(e->level == ErrorLevel::transport);
  CHECK(e->http_status == status);
  return *e;
}

}  // namespace

TEST_CASE("HTTP 429 and GW-0010 are transient, for writes too") {
  CHECK(status_only(429, kRead).cls == ErrorClass::transient);
  CHECK(status_only(429, kWrite).cls == ErrorClass::transient);
  auto gw = ii::response_error(control_failure({"GW-0010", "Rate limit", "", ""}), kWrite);
  CHECK(gw->cls == ErrorClass::transient);
  CHECK(gw->level == ErrorLevel::control);
  auto gw429 = ii::response_error(control_failure({"GW-0010", "", "", ""}, 429), kWrite);
  CHECK(gw429->cls == ErrorClass::transient);
  CHECK(gw429->http_status == 429);
}

TEST_CASE("outage and throttle texts are transient at any level") {
  for (ii::ErrorDetail e : {ii::ErrorDetail{"XYZ", "The Service is Temporarily Off-line", "", ""},
                            ii::ErrorDetail{"", "", "Down", "Please Try Again Later"},
                            ii::ErrorDetail{"", "", "API rate limit exceeded", ""}}) {
    CAPTURE(e.errorno);
    CHECK(ii::response_error(control_failure(e), kWrite)->cls == ErrorClass::transient);
    CHECK(ii::response_error(auth_failure(e), kRead)->cls == ErrorClass::transient);
    CHECK(result_failure({e}).cls == ErrorClass::transient);
  }
}

TEST_CASE("gateway and control errors that are permanent") {
  struct Row {
    ii::ErrorDetail e;
    int status;
    bool bad_credentials;
  };
  for (const auto& row : {
           Row{{"GW-0011", "Invalid Request [Request ID: 1]", "", ""}, 400, false},
           Row{{"XMLGW_JPP0002", "Sign-in information is incorrect.", "", ""}, 401, true},
           Row{{"XL03000003", "XML parse error", "", ""}, 200, false},
           Row{{"XL03000006", "", "Incorrect Intacct XML Partner ID or password.", ""}, 200, true},
           Row{{"XL03000006", "", "abc is not a valid transport policy", ""}, 200, false},
           Row{{"PL04000055", "", "demo company expired", ""}, 200, false},
       }) {
    CAPTURE(row.e.errorno);
    auto e = ii::response_error(control_failure(row.e, row.status), kRead);
    REQUIRE(e);
    CHECK(e->level == ErrorLevel::control);
    CHECK(e->cls == ErrorClass::permanent);
    CHECK(e->bad_credentials == row.bad_credentials);
    CHECK_FALSE(e->invalid_session);
  }
}

TEST_CASE("XL03000006 at the authentication level") {
  SUBCASE("invalid session: transient, re-login and retry once") {
    auto e = ii::response_error(
        auth_failure({"XL03000006", "", "Invalid session - please login again", ""}), kWrite);
    REQUIRE(e);
    CHECK(e->level == ErrorLevel::authentication);
    CHECK(e->invalid_session);
    CHECK(e->cls == ErrorClass::transient);
    CHECK_FALSE(e->bad_credentials);
  }
  SUBCASE("sign-in incorrect / not authorized: permanent, bad credentials") {
    for (auto text : {"Sign-in information is incorrect", "Invalid Web Services Authorization"}) {
      auto e = ii::response_error(auth_failure({"XL03000006", "", text, ""}), kRead);
      REQUIRE(e);
      CHECK(e->cls == ErrorClass::permanent);
      CHECK(e->bad_credentials);
      CHECK_FALSE(e->invalid_session);
    }
  }
}

TEST_CASE("result errors that are permanent") {
  for (const auto& e : {
           ii::ErrorDetail{"BL34000061", "",
                           "Another Contact with the given value(s) X already exists",
                           "Use a unique value instead."},
           ii::ErrorDetail{"BL01001973", "", "Could not create X record!", ""},
           ii::ErrorDetail{"PL05000104", "", "entity already exists", ""},
           ii::ErrorDetail{"DL02000001", "There was an error processing the request.", "", ""},
           ii::ErrorDetail{"XL03000010", "", "unknown field", ""},
           ii::ErrorDetail{"Query Failed", "", "Object definition FOO not found", ""},
           ii::ErrorDetail{"", "A transaction with the number 'X' already exists.", "", ""},
           ii::ErrorDetail{"", "Please provide a payment batch key.", "", ""},
           ii::ErrorDetail{"", "You do not have permission for API operation READ", "", ""},
           ii::ErrorDetail{"ZZ99999999", "never seen before", "", ""},
       }) {
    CAPTURE(e.errorno);
    auto err = result_failure({e});
    CHECK(err.cls == ErrorClass::permanent);
    CHECK_FALSE(err.bad_credentials);
    CHECK(err.control_id == "f1");
    CHECK(err.function == "create");
  }
}

TEST_CASE("XL03000009 carries the failed sibling's class") {
  ii::Response r;
  r.has_body = true;
  r.control_status = ii::Status::success;
  const ii::ErrorDetail rolled_back{"XL03000009", "", "rolled back", ""};
  r.results.push_back(
      ii::FunctionResult{ii::Status::aborted, "create", "a", {}, {}, {}, {rolled_back}});
  r.results.push_back(ii::FunctionResult{
      ii::Status::failure, "create", "b", {}, {}, {}, {{"GW-0010", "", "", ""}, rolled_back}});
  CHECK(ii::result_error(r, r.results[0])->cls == ErrorClass::transient);
  CHECK(ii::result_error(r, r.results[1])->cls == ErrorClass::transient);
  r.results[1].errors[0] = {"BL34000061", "", "duplicate", ""};
  CHECK(ii::result_error(r, r.results[0])->cls == ErrorClass::permanent);
  r.results.pop_back();  // no failed sibling to read: permanent
  CHECK(ii::result_error(r, r.results[0])->cls == ErrorClass::permanent);
}

TEST_CASE("HTTP 5xx: transient for reads, ambiguous for a sent non-idempotent write") {
  for (int status : {500, 502, 503, 504}) {
    CAPTURE(status);
    CHECK(status_only(status, kRead).cls == ErrorClass::transient);
    CHECK(status_only(status, kWrite).cls == ErrorClass::ambiguous);
  }
}

TEST_CASE("HTTP 524: ambiguous for writes, transient for reads") {
  CHECK(status_only(524, kWrite).cls == ErrorClass::ambiguous);
  CHECK(status_only(524, kRead).cls == ErrorClass::transient);
}

TEST_CASE("other statuses without a gateway body") {
  CHECK(status_only(408, kWrite).cls == ErrorClass::transient);
  CHECK(status_only(404, kRead).cls == ErrorClass::permanent);
  CHECK(status_only(401, kRead).cls == ErrorClass::permanent);
  CHECK(status_only(302, kRead).cls == ErrorClass::permanent);
}

TEST_CASE("connection reset and timeout") {
  using TF = ii::TransportFailure;
  for (auto f : {TF::reset, TF::timeout}) {
    CHECK(ii::transport_error(f, kRead).cls == ErrorClass::transient);
    CHECK(ii::transport_error(f, kWrite).cls == ErrorClass::ambiguous);
    CHECK(ii::transport_error(f, kWriteUnsent).cls == ErrorClass::transient);
  }
  auto e = ii::transport_error(TF::connect_failed, kWrite);
  CHECK(e.cls == ErrorClass::transient);
  CHECK(e.level == ErrorLevel::transport);
  CHECK(e.http_status == 0);
  CHECK(e.summary() == "Intacct transport failure (transient): (no errorno) could not connect");
}

TEST_CASE("names") {
  CHECK(ii::to_string(ErrorClass::ambiguous) == "ambiguous");
  CHECK(ii::to_string(ErrorLevel::authentication) == "authentication");
}

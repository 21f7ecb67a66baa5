// The payment job's support: the posting kept with the intent, Intacct's
// errors into a failure, and which errors mean "it exists already".
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "handlers/detail/payment_job.hpp"

using namespace isync;
using namespace isync::handlers::detail;
namespace ii = isync::intacct;

namespace {

Posting sample_posting() {
  Posting p;
  p.customer_id = "C-100";
  p.currency = "USD";
  p.total = "40.00";
  p.applied = "40.00";
  p.invoice_recordno = "512";
  p.receipt_date = "11/22/2026";
  p.fields = {ii::leaf("CUSTOMERID", "C-100"), ii::leaf("DOCNUMBER", "pi_\"quoted\"/é"),
              ii::group("ARPYMTDETAILS",
                        {ii::group("ARPYMTDETAIL", {ii::leaf("RECORDKEY", "512"),
                                                    ii::leaf("TRX_PAYMENTAMOUNT", "40.00")})})};
  return p;
}

void check_same(const std::vector<ii::Field>& a, const std::vector<ii::Field>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].name == b[i].name);
    CHECK(a[i].value == b[i].value);
    check_same(a[i].children, b[i].children);
  }
}

ii::IntacctError error_with(ii::ErrorDetail d) {
  ii::IntacctError e;
  e.level = ii::ErrorLevel::result;
  e.errors.push_back(std::move(d));
  return e;
}

}  // namespace

TEST_CASE("a posting comes back from its stored JSON exactly as it was sent") {
  const Posting p = sample_posting();
  auto back = decode_posting(encode_posting(p));
  REQUIRE(back.has_value());
  CHECK(back->customer_id == p.customer_id);
  CHECK(back->currency == p.currency);
  CHECK(back->total == p.total);
  CHECK(back->applied == p.applied);
  CHECK(back->invoice_recordno == p.invoice_recordno);
  CHECK(back->receipt_date == p.receipt_date);
  check_same(back->fields, p.fields);
  // Sent again unchanged: the same request body, byte for byte.
  CHECK(encode_posting(*back) == encode_posting(p));
}

TEST_CASE("a stored posting that encode_posting did not write is refused") {
  CHECK_FALSE(decode_posting("").has_value());
  CHECK_FALSE(decode_posting("not json").has_value());
  CHECK_FALSE(decode_posting("[]").has_value());
  CHECK_FALSE(decode_posting(R"({"customer":"C-1"})").has_value());      // no fields
  CHECK_FALSE(decode_posting(R"({"fields":[{"v":"x"}]})").has_value());  // a field without a name
  CHECK_FALSE(
      decode_posting(R"({"fields":[{"n":"A"}]})").has_value());  // neither value nor children
  // Nesting deeper than any ARPYMT body is refused rather than followed.
  std::string deep = R"({"n":"L","v":"x"})";
  for (int i = 0; i < 6; ++i) deep = R"({"n":"G","c":[)" + deep + "]}";
  CHECK_FALSE(decode_posting(R"({"fields":[)" + deep + "]}").has_value());
  CHECK(decode_posting(R"({"fields":[]})").has_value());  // the empty intent of a crash
}

TEST_CASE("Intacct's first error becomes the failure, its two descriptions joined once") {
  ii::IntacctError e = error_with({"BL01001973", "", "Could not create Payment record!", "Check"});
  e.errors.push_back({"PL04000055", "second", "", ""});
  e.control_id = "isync-abc";
  queue::Failure f;
  copy_intacct(f, e);
  CHECK(f.errorno == "BL01001973");
  CHECK(f.description == "Could not create Payment record!");
  CHECK(f.correction == "Check");
  CHECK(f.controlid == "isync-abc");

  queue::Failure both;
  copy_intacct(both, error_with({"X1", "Payment failed.", "Balance too low.", ""}));
  CHECK(both.description == "Payment failed. Balance too low.");
}

TEST_CASE("only an error saying the record or the request exists counts as a duplicate") {
  CHECK(is_duplicate(error_with({"BL34000061", "", "", ""})));
  CHECK(is_duplicate(error_with({"XL03000009_DUPLICATE_CONTROLID", "", "", ""})));
  CHECK(is_duplicate(
      error_with({"BL01001973", "", "Another record with the value already exists", ""})));
  CHECK(is_duplicate(error_with({"X", "This function was already executed", "", ""})));
  CHECK_FALSE(is_duplicate(error_with({"BL01001973", "Could not create Payment record!", "", ""})));
  CHECK_FALSE(is_duplicate(ii::IntacctError{}));
}

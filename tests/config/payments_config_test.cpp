// The payment keys: the [payments] table and the tenant payment keys, their
// defaults, file and environment, each refusal naming its key, the methods
// and deposit targets, render and load back, and Stripe signing secrets.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "config/config.hpp"
#include "tests/config/load_text.hpp"

using namespace isync::config;
using isync::config::test_load::Env;
using isync::config::test_load::load_error;
using isync::config::test_load::load_ok;
using std::chrono::milliseconds;

TEST_CASE("the [payments] table and the tenant payment keys have their documented defaults") {
  auto c = load_ok("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n", {{"T", "t"}});
  CHECK(c.payments.signature_tolerance == std::chrono::seconds(300));
  CHECK(c.payments.redact ==
        std::vector<std::string>{"billing_details", "payment_method_details", "receipt_email"});
  CHECK(c.payments.lease == milliseconds(90'000));
  CHECK(c.payments.readback_interval == milliseconds(15'000));
  CHECK(c.payments.readback_wait == milliseconds(120'000));
  const auto& t = c.tenants.at(0);
  CHECK(t.payment_method == "Credit Card");
  CHECK(t.ach_payment_method == "EFT");
  CHECK(t.bank_account.empty());
  CHECK(t.undeposited_account.empty());
  CHECK(t.payment_batch.empty());
}

TEST_CASE("the [payments] keys are read from the file and from the environment") {
  auto c = load_ok(R"(
[payments]
signature_tolerance = "10m"
redact = ["billing_details", "email"]
lease = "30s"
readback_interval = "500ms"
readback_wait = "5m"
[[tenant]]
id = "a"
token = "env:T"
payment_method = "Online Charge Card"
ach_payment_method = "Online ACH Debit"
bank_account = "BOA-CHK"
)",
                   {{"T", "t"}});
  CHECK(c.payments.signature_tolerance == std::chrono::seconds(600));
  CHECK(c.payments.redact == std::vector<std::string>{"billing_details", "email"});
  CHECK(c.payments.lease == milliseconds(30'000));
  CHECK(c.payments.readback_interval == milliseconds(500));
  CHECK(c.payments.readback_wait == milliseconds(300'000));
  CHECK(c.tenants.at(0).payment_method == "Online Charge Card");
  CHECK(c.tenants.at(0).ach_payment_method == "Online ACH Debit");
  CHECK(c.tenants.at(0).bank_account == "BOA-CHK");

  auto e =
      load_ok("[payments]\nlease = \"30s\"\n", {{"INTACCT_SYNC_PAYMENTS_SIGNATURE_TOLERANCE", "1h"},
                                                {"INTACCT_SYNC_PAYMENTS_LEASE", "1m"},
                                                {"INTACCT_SYNC_PAYMENTS_READBACK_INTERVAL", "1s"},
                                                {"INTACCT_SYNC_PAYMENTS_READBACK_WAIT", "10s"}});
  CHECK(e.payments.signature_tolerance == std::chrono::seconds(3600));
  CHECK(e.payments.lease == milliseconds(60'000));
  CHECK(e.payments.readback_interval == milliseconds(1000));
  CHECK(e.payments.readback_wait == milliseconds(10'000));
  // A list is not overridable from the environment, like the other lists.
  CHECK(load_error("", {{"INTACCT_SYNC_PAYMENTS_REDACT", "x"}}) ==
        "INTACCT_SYNC_PAYMENTS_REDACT: no setting payments.redact can be overridden (check the "
        "spelling)");
}

TEST_CASE("each [payments] key is validated with a message naming it") {
  CHECK(load_error("[payments]\nsignature_tolerance = \"0s\"\n") ==
        "payments.signature_tolerance: must be greater than 0, got \"0s\"");
  CHECK(load_error("[payments]\nsignature_tolerance = \"2h\"\n") ==
        "payments.signature_tolerance: must be between 1s and 1h, got \"2h\"");
  CHECK(load_error("[payments]\nsignature_tolerance = \"1500ms\"\n") ==
        "payments.signature_tolerance: must be whole seconds, got \"1500ms\"");
  CHECK(load_error("", {{"INTACCT_SYNC_PAYMENTS_SIGNATURE_TOLERANCE", "61m"}}) ==
        "payments.signature_tolerance: must be between 1s and 1h, got \"61m\"");
  CHECK(load_ok("[payments]\nsignature_tolerance = \"1s\"\n").payments.signature_tolerance ==
        std::chrono::seconds(1));
  CHECK(load_error("[payments]\nlease = \"2s\"\n") ==
        "payments.lease: must be at least 3s, got \"2s\"");
  CHECK(load_ok("[payments]\nlease = \"3s\"\n").payments.lease == milliseconds(3000));
  CHECK(load_error("[payments]\nreadback_interval = \"99ms\"\n") ==
        "payments.readback_interval: must be at least 100ms, got \"99ms\"");
  CHECK(load_error("[payments]\nreadback_wait = \"10s\"\n") ==
        "payments.readback_wait: must not be less than payments.readback_interval");
  CHECK(load_error("[payments]\nreadback_wait = \"x\"\n") ==
        "payments.readback_wait: invalid duration \"x\": expected a whole number and a unit "
        "(ms, s, m, h, d), e.g. \"10s\"");
  CHECK(load_error("[payments]\nredact = \"billing_details\"\n") ==
        "payments.redact: expected an array of member names");
  CHECK(load_error("[payments]\nredact = [\"a\", \"\"]\n") ==
        "payments.redact: a member name must not be empty");
  CHECK(load_ok("[payments]\nredact = []\n").payments.redact.empty());
}

TEST_CASE("payment methods are Intacct's, choices are kept, and one deposit target at most") {
  const Env env{{"T", "t"}, {"W", "w"}, {"UP", "up"}};
  const std::string tenant = "[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n";
  CHECK(load_error(tenant + "payment_method = \"Visa\"\n", env) ==
        "tenant[0].payment_method: expected one of Printed Check, Cash, EFT, Credit Card, Online "
        "Charge Card, Online ACH Debit, got \"Visa\"");
  CHECK(load_error(tenant + "ach_payment_method = \"ACH\"\n", env) ==
        "tenant[0].ach_payment_method: expected one of Printed Check, Cash, EFT, Credit Card, "
        "Online Charge Card, Online ACH Debit, got \"ACH\"");
  for (auto m :
       {"Printed Check", "Cash", "EFT", "Credit Card", "Online Charge Card", "Online ACH Debit"}) {
    CHECK(load_ok(tenant + "payment_method = \"" + m + "\"\nach_payment_method = \"" + m + "\"\n",
                  env)
              .tenants.at(0)
              .payment_method == m);
  }
  CHECK(load_error(tenant + "overpayment = \"refund\"\n", env) ==
        "tenant[0].overpayment: expected one of reject, advance, got \"refund\"");
  CHECK(load_error(tenant + "match_customers_by = \"email\"\n", env) ==
        "tenant[0].match_customers_by: expected one of id, name, got \"email\"");

  const std::string two =
      "tenant[0]: set at most one of bank_account, undeposited_account and payment_batch (where "
      "the tenant's payments are deposited)";
  CHECK(load_error(tenant + "bank_account = \"B\"\nundeposited_account = \"1100\"\n", env) == two);
  CHECK(load_error(tenant + "bank_account = \"B\"\npayment_batch = \"7\"\n", env) == two);
  CHECK(load_error(tenant + "undeposited_account = \"1100\"\npayment_batch = \"7\"\n", env) == two);
  CHECK(load_ok(tenant + "payment_batch = \"7\"\n", env).tenants.at(0).payment_batch == "7");
}

TEST_CASE("a tenant taking Stripe payments into Intacct needs a deposit target") {
  const Env env{{"T", "t"}, {"W", "w"}, {"UP", "up"}};
  const std::string head =
      "[intacct]\nsender_id = \"s\"\n[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\n"
      "[[tenant]]\nid = \"acme\"\ntoken = \"env:T\"\n";
  const std::string intacct = "company_id = \"C\"\nuser_id = \"u\"\nuser_password = \"env:UP\"\n";
  const std::string stripe = "stripe_secrets = [\"env:W\"]\n";
  CHECK(load_error(head + intacct + stripe, env) ==
        "tenant[1]: tenant \"acme\" posts Stripe payments to Intacct and needs one of "
        "bank_account, undeposited_account or payment_batch (where they are deposited)");
  for (auto key : {"bank_account", "undeposited_account", "payment_batch"}) {
    CHECK(load_ok(head + intacct + stripe + key + " = \"X\"\n", env).tenants.size() == 2);
  }
  // Without Stripe, or without Intacct access, there is nothing to deposit.
  CHECK(load_ok(head + intacct, env).tenants.size() == 2);
  CHECK(load_ok(head + stripe, env).tenants.size() == 2);
}

TEST_CASE("render shows the payment keys and loads back to the same values") {
  auto c = load_ok(R"(
[payments]
signature_tolerance = "2m"
redact = ["billing_details"]
lease = "45s"
readback_interval = "250ms"
readback_wait = "1m"
[[tenant]]
id = "a"
token = "env:T"
ach_payment_method = "Cash"
payment_batch = "PB-1"
)",
                   {{"T", "t"}});
  auto text = render(c);
  CHECK(text.find("[payments]\nsignature_tolerance = \"2m\"\nredact = [\"billing_details\"]\n"
                  "lease = \"45s\"\nreadback_interval = \"250ms\"\nreadback_wait = \"1m\"\n") !=
        std::string::npos);
  CHECK(text.find("ach_payment_method = \"Cash\"\nbank_account = \"\"\n") != std::string::npos);
  CHECK(text.find("payment_batch = \"PB-1\"\n") != std::string::npos);
  auto again = load_text(text, "rendered", {});
  REQUIRE(again.has_value());
  CHECK(again->payments.signature_tolerance == std::chrono::seconds(120));
  CHECK(again->payments.redact == std::vector<std::string>{"billing_details"});
  CHECK(again->payments.lease == milliseconds(45'000));
  CHECK(again->payments.readback_interval == milliseconds(250));
  CHECK(again->payments.readback_wait == milliseconds(60'000));
  CHECK(again->tenants.at(0).ach_payment_method == "Cash");
  CHECK(again->tenants.at(0).payment_batch == "PB-1");
}

TEST_CASE("an empty Stripe signing secret is refused") {
  CHECK(load_error("[[tenant]]\nid = \"a\"\ntoken = \"env:T\"\nstripe_secrets = [\"env:W\", "
                   "\"env:E\"]\n",
                   {{"T", "t"}, {"W", "w"}, {"E", ""}}) ==
        "tenant[0].stripe_secrets[1]: the secret is empty (a Stripe webhook signing secret)");
}

// POST /v1/payments/{tenant}/stripe: what the queued envelope carries for the
// payment worker.
#include <doctest/doctest.h>

#include "tests/ingest/stripe_route_harness.hpp"

using namespace isync::testing::stripe_route;

TEST_CASE("the queued envelope carries the payment fields for the worker, raw redacted") {
  RedisServer redis;
  Harness h(redis);
  const std::vector<std::string> bodies = {
      // payment_intent.succeeded
      R"({"id":"evt_pi","object":"event","type":"payment_intent.succeeded","created":1700000005,)"
      R"("livemode":true,"data":{"object":{"id":"pi_9","object":"payment_intent","amount":5000,)"
      R"("amount_received":5000,"currency":"usd","created":1700000001,"latest_charge":"ch_9",)"
      R"("payment_method_types":["us_bank_account"],)"
      R"("metadata":{"intacct_invoice":"INV-9","intacct_customer":"CUST-9"},)"
      R"("charges":{"data":[{"billing_details":{"name":"Jane Roe"}}]}}}})",
      // charge.succeeded with a payment intent
      charge_event("evt_ch", kCharge),
      // a charge without a payment intent
      charge_event("evt_bare", R"("id":"ch_2","amount":300,"currency":"jpy","created":1699999000,)"
                               R"("payment_intent":null,"payment_method_details":{"type":"card"})"),
      // charge.refunded
      charge_event("evt_ref",
                   R"("id":"ch_3","amount":1000,"amount_refunded":1000,"currency":"usd",)"
                   R"("created":1699990000,"payment_intent":"pi_3",)"
                   R"("metadata":{"intacct_customer":"CUST-3"})",
                   "charge.refunded"),
      // an unhandled type
      R"({"id":"evt_cus","type":"customer.created","created":1700000009,)"
      R"("data":{"object":{"id":"cus_1","email":"cus@example.com","receipt_email":"x"}}})",
  };
  std::vector<std::string> ids;
  for (const auto& body : bodies) {
    auto r = exchange(h.port(), signed_post(body));
    REQUIRE(r.status == 202);
    ids.push_back(event_id_of(r.body));
  }
  auto queued = h.queued();
  REQUIRE(queued.size() == 5);
  for (std::size_t i = 0; i < queued.size(); ++i) {
    const auto& e = queued[i];
    CHECK(e.v == 1);
    CHECK(e.event_id == ids[i]);
    CHECK(e.source == "stripe");
    CHECK(e.tenant == "acme");
    CHECK(e.object == "ARPYMT");
    CHECK(e.whenmodified.empty());
    CHECK(e.received_at_ms == kNow * 1000);
    CHECK(e.content_type == kJson);
    CHECK(e.raw.find("Jane") == std::string::npos);
    CHECK(e.raw.find("jane@example.com") == std::string::npos);
    CHECK(e.raw.find("4242") == std::string::npos);
  }

  CHECK(queued[0].action == "payment_intent.succeeded");
  CHECK(queued[0].key == "pi_9");
  CHECK(queued[0].version == 1700000005);
  CHECK(queued[0].snapshot == Pairs{{"AMOUNT", "5000"},
                                    {"CHARGE_ID", "ch_9"},
                                    {"CREATED", "1700000001"},
                                    {"CURRENCY", "USD"},
                                    {"CUSTOMER", "CUST-9"},
                                    {"EVENT_ID", "evt_pi"},
                                    {"INVOICE", "INV-9"},
                                    {"LIVEMODE", "true"},
                                    {"METHOD", "us_bank_account"},
                                    {"PAYMENT_ID", "pi_9"}});
  CHECK(queued[0].raw.find(R"("charges":{"data":[{"billing_details":"[redacted]"}]})") !=
        std::string::npos);

  CHECK(queued[1].action == "charge.succeeded");
  CHECK(queued[1].key == "pi_1");
  CHECK(queued[1].version == 1700000000);
  CHECK(queued[1].snapshot == Pairs{{"AMOUNT", "1234"},
                                    {"CHARGE_ID", "ch_1"},
                                    {"CREATED", "1699999999"},
                                    {"CURRENCY", "EUR"},
                                    {"EVENT_ID", "evt_ch"},
                                    {"INVOICE", "INV-1"},
                                    {"LIVEMODE", "false"},
                                    {"METHOD", "card"},
                                    {"PAYMENT_ID", "pi_1"}});
  CHECK(queued[1].raw ==
        R"({"id":"evt_ch","object":"event","type":"charge.succeeded","created":1700000000,)"
        R"("livemode":false,"data":{"object":{"id":"ch_1","amount":1234,"currency":"eur",)"
        R"("created":1699999999,"payment_intent":"pi_1","billing_details":"[redacted]",)"
        R"("payment_method_details":"[redacted]","receipt_email":"[redacted]",)"
        R"("metadata":{"intacct_invoice":"INV-1"}}}})");

  CHECK(queued[2].key == "ch_2");
  CHECK(queued[2].snapshot == Pairs{{"AMOUNT", "300"},
                                    {"CHARGE_ID", "ch_2"},
                                    {"CREATED", "1699999000"},
                                    {"CURRENCY", "JPY"},
                                    {"EVENT_ID", "evt_bare"},
                                    {"LIVEMODE", "false"},
                                    {"METHOD", "card"},
                                    {"PAYMENT_ID", "ch_2"}});

  CHECK(queued[3].action == "charge.refunded");
  CHECK(queued[3].key == "pi_3");
  CHECK(queued[3].snapshot == Pairs{{"AMOUNT", "1000"},
                                    {"AMOUNT_REFUNDED", "1000"},
                                    {"CHARGE_ID", "ch_3"},
                                    {"CREATED", "1699990000"},
                                    {"CURRENCY", "USD"},
                                    {"CUSTOMER", "CUST-3"},
                                    {"EVENT_ID", "evt_ref"},
                                    {"LIVEMODE", "false"},
                                    {"PAYMENT_ID", "pi_3"}});

  CHECK(queued[4].action == "customer.created");
  CHECK(queued[4].key == "cus_1");
  CHECK(queued[4].version == 1700000009);
  CHECK(queued[4].snapshot == Pairs{{"EVENT_ID", "evt_cus"}});
  CHECK(queued[4].raw.find(R"("receipt_email":"[redacted]")") != std::string::npos);
}

// The payment mapping tests' Stripe events, facts, invoice, policy, and readers of a result.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "handlers/detail/payment_map.hpp"

namespace isync::handlers::detail::test {

namespace ii = isync::intacct;

using Pairs = std::vector<std::pair<std::string, std::string>>;

// 2026-11-22 03:30:00 UTC: 11/22/2026 in UTC, 11/21/2026 in New York.
inline constexpr std::int64_t kLateNightUtc = 1795318200;

inline queue::Envelope stripe_event(std::string type, Pairs snapshot) {
  queue::Envelope e;
  e.event_id = "01J0000000000000000000000Q";
  e.source = "stripe";
  e.tenant = "acme";
  e.object = "ARPYMT";
  e.action = std::move(type);
  std::sort(snapshot.begin(), snapshot.end());
  for (const auto& [k, v] : snapshot) {
    if (k == "PAYMENT_ID") e.key = v;
  }
  e.snapshot = std::move(snapshot);
  return e;
}

inline Pairs succeeded_fields() {
  return {{"EVENT_ID", "evt_1"},   {"PAYMENT_ID", "pi_1"}, {"CHARGE_ID", "ch_1"},
          {"AMOUNT", "12345"},     {"CURRENCY", "USD"},    {"CREATED", "1795318200"},
          {"INVOICE", "INV-0042"}, {"CUSTOMER", "C-1"},    {"METHOD", "card"},
          {"LIVEMODE", "false"}};
}

inline Pairs without(Pairs pairs, const std::string& name) {
  pairs.erase(
      std::remove_if(pairs.begin(), pairs.end(), [&](const auto& kv) { return kv.first == name; }),
      pairs.end());
  return pairs;
}

inline Pairs with_value(Pairs pairs, const std::string& name, const std::string& value) {
  pairs = without(std::move(pairs), name);
  pairs.emplace_back(name, value);
  return pairs;
}

inline PaymentFacts facts(std::int64_t amount = 12345, std::string currency = "USD") {
  PaymentFacts p;
  p.event_type = "payment_intent.succeeded";
  p.event_id = "evt_1";
  p.payment_id = "pi_1";
  p.charge_id = "ch_1";
  p.amount = amount;
  p.currency = std::move(currency);
  p.created = kLateNightUtc;
  p.invoice = "INV-0042";
  p.customer = "C-1";
  p.method = "card";
  return p;
}

inline InvoiceView invoice(std::string totaldue = "200.00", std::string currency = "USD") {
  return InvoiceView{"101",    "INV-0042",         "C-1", "Acme Corp", std::move(currency),
                     "Posted", std::move(totaldue)};
}

inline PaymentPolicy policy() {
  PaymentPolicy pol;
  pol.bank_account = "BOA";
  return pol;
}

// A readable form of a field tree: NAME=value, groups as NAME{...}.
inline std::string tree(const std::vector<ii::Field>& fields) {
  std::string out;
  for (const auto& f : fields) {
    if (!out.empty()) out += ";";
    if (f.children.empty()) {
      out += f.name + "=" + f.value;
    } else {
      out += f.name + "{" + tree(f.children) + "}";
    }
  }
  return out;
}

inline Posting posted(const std::variant<Posting, queue::Failure>& r) {
  if (const auto* f = std::get_if<queue::Failure>(&r)) {
    FAIL_CHECK("refused: " << f->code << ": " << f->message);
    return {};
  }
  return std::get<Posting>(r);
}

inline queue::Failure refused(const std::variant<Posting, queue::Failure>& r) {
  if (!std::holds_alternative<queue::Failure>(r)) {
    FAIL_CHECK("posted: " << tree(std::get<Posting>(r).fields));
    return {};
  }
  const auto& f = std::get<queue::Failure>(r);
  CHECK(f.cls == queue::FailureClass::permanent);
  return f;
}

inline std::string content_of(const ii::Function& fn) {
  ii::Request r;
  r.sender_id = "SENDER";
  r.sender_password = ii::Secret("SENDERPW");
  r.control_id = "1700000000";
  r.unique_id = true;
  r.auth = ii::SessionId{ii::Secret("SESSION-abc")};
  r.functions.push_back(fn);
  auto xml = ii::to_xml(r);
  REQUIRE_MESSAGE(xml.has_value(), (xml ? std::string() : xml.error().message));
  auto begin = xml->find("<content>");
  auto end = xml->find("</content>");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return xml->substr(begin + 9, end - begin - 9);
}

}  // namespace isync::handlers::detail::test

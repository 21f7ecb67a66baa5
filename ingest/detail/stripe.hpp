// Stripe webhooks (PRODUCT.md §1): the Stripe-Signature header, the HMAC
// check, and the event body decoded into a queued envelope.
//
// Order of use (the route's check order): parse_stripe_signature on the
// header alone; after the body is read, stripe_signature_matches, then
// stripe_timestamp_fresh, then parse_stripe_event. Nothing here logs, and no
// message quotes the header, a signature or a secret.
//
// Signature: the request is authentic when ANY v1 of the header equals
// lowercase hex HMAC-SHA256(secret, t + "." + raw body) for ANY of the
// tenant's secrets (secret rotation). Every pair is compared in constant
// time, and every pair is compared (no early exit).
//
// The envelope (the contract with the payment worker): v=1, source "stripe",
// object "ARPYMT", action = the Stripe event type verbatim, key = PAYMENT_ID
// for the handled types (payment_intent.succeeded, charge.succeeded,
// charge.refunded) else data.object.id (may be empty), version = top-level
// `created` (0 when absent), whenmodified "", raw = the body re-serialized
// compactly (every number's text kept byte for byte) with every member named
// in the redact list (any depth) replaced by "[redacted]". Snapshot pairs (sorted by name, absent
// sources omitted): EVENT_ID always; for the handled types also PAYMENT_ID, CHARGE_ID, AMOUNT,
// AMOUNT_REFUNDED (charge.refunded), CURRENCY (upper-case), CREATED, INVOICE,
// CUSTOMER (metadata.intacct_invoice / intacct_customer, non-empty), METHOD,
// LIVEMODE (true | false).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"
#include "queue/queue.hpp"

namespace isync::ingest::detail {

inline constexpr std::size_t kMaxStripeSignatures = 16;  // v1 entries in one header

struct StripeSignature {
  std::string timestamp_text;   // t= exactly as sent (the signed text)
  std::int64_t timestamp = 0;   // t= as epoch seconds
  std::vector<std::string> v1;  // each 64 lowercase hex digits
};

// Parses `t=…,v1=…[,v1=…]` (other keys such as v0 are ignored). Error code
// "unauthorized", message "Stripe-Signature header is malformed: <what>";
// the message never repeats a value of the header.
Result<StripeSignature> parse_stripe_signature(std::string_view header);

// Lowercase hex HMAC-SHA256(secret, timestamp_text + "." + body).
std::string stripe_signature(std::string_view secret, std::string_view timestamp_text,
                             std::string_view body);

// True when any v1 matches any secret. With no secrets (unknown tenant, or a
// tenant without Stripe secrets) one HMAC under a dummy key is still computed,
// so the answer takes about as long, and the result is false. An empty secret
// never matches.
bool stripe_signature_matches(const StripeSignature& signature, std::string_view body,
                              const std::vector<std::string>& secrets);

// |now - t| <= tolerance.
bool stripe_timestamp_fresh(std::int64_t timestamp, std::int64_t now_seconds,
                            std::int64_t tolerance_seconds);

struct StripeEvent {
  std::string id;            // the Stripe event id (evt_…), the dedup key's source
  queue::Envelope envelope;  // without event_id, tenant, received_at_ms, content_type
};

// Decodes a Stripe event body (the signature already checked). Errors:
// malformed_body (not one JSON object, trailing bytes, a key twice in one
// object, nested deeper than 64 levels, invalid UTF-8 or a lone surrogate in a
// string: core/json.hpp's strict policy; a body whose stored copy cannot be
// written) and invalid_field (message names the field), both 400. Integer
// fields (amounts, created) are digits only, with a leading '-' only where
// negative values are allowed, within int64/uint64: `100.0`, `1e2`, `+1` are
// invalid_field.
Result<StripeEvent> parse_stripe_event(std::string_view body,
                                       const std::vector<std::string>& redact_fields);

}  // namespace isync::ingest::detail

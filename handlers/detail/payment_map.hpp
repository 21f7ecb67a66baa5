// The mapping of a processor (Stripe) payment to an Intacct ARPYMT
// (PRODUCT.md §3): pure functions, no I/O, internal to handlers/.
//
// Contract:
//  * payment_facts reads the queued event; map_payment decides what to post
//    from the facts, the invoice as Intacct has it and the tenant's policy,
//    or refuses with a permanent queue::Failure that says what to do;
//    arpymt_create wraps the posting in a create function.
//  * Amounts are integers in the currency's minor unit everywhere; text
//    appears only at the edges (format_amount / parse_amount), so no amount
//    ever passes through a floating-point number.
//  * payment_control_id is the same for the same (tenant, payment, operation)
//    on every worker and every attempt: with the gateway's uniqueid it is
//    what makes a replayed create harmless.
//  * All functions are thread-safe (local_date reads the system's time zone
//    database, itself thread-safe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/core.hpp"
#include "intacct/intacct.hpp"
#include "queue/queue.hpp"

namespace isync::handlers::detail {

enum class StripeKind {
  succeeded,  // money arrived: post a payment
  refunded,   // money went back: reverse the payment (full refunds only)
  other,      // not a payment event
};
// payment_intent.succeeded and charge.succeeded → succeeded; charge.refunded
// → refunded; anything else → other.
StripeKind stripe_kind(std::string_view event_type);

// The facts of one Stripe payment event, read from its envelope's snapshot.
struct PaymentFacts {
  std::string event_type;            // the Stripe event type (the envelope's action)
  std::string event_id;              // EVENT_ID, "" when absent
  std::string payment_id;            // PAYMENT_ID: PaymentIntent id, else charge id
  std::string charge_id;             // CHARGE_ID, "" when absent
  std::int64_t amount = 0;           // minor units
  std::int64_t amount_refunded = 0;  // minor units (refunds; 0 otherwise)
  std::string currency;              // upper-case ISO 4217
  std::int64_t created = 0;          // epoch seconds
  std::string invoice;               // metadata intacct_invoice: RECORDID or RECORDNO, or ""
  std::string customer;              // metadata intacct_customer, or ""
  std::string method;                // Stripe payment method type ("card", ...), or ""
};

// From a Stripe envelope of the succeeded or refunded kind. Errors, all with
// code "invalid_event":
//   "<FIELD> is missing in Stripe event <evt>" / "<FIELD> is invalid in Stripe
//   event <evt>" for PAYMENT_ID, AMOUNT, CURRENCY, CREATED, and AMOUNT_REFUNDED
//   for refunds; "Stripe event <evt> of type '<type>' is not a payment event"
//   for another source or kind. <evt> is EVENT_ID, or the queue's event id
//   when Stripe's is absent.
// Readable means: PAYMENT_ID 1–255 characters of [A-Za-z0-9_-]; AMOUNT and
// AMOUNT_REFUNDED a decimal integer (optional '-', at most 18 digits);
// CURRENCY three ASCII letters (upper-cased here); CREATED a non-negative
// decimal integer of at most 12 digits.
Result<PaymentFacts> payment_facts(const queue::Envelope& e);

// Decimals of a currency's minor unit as Stripe counts amounts: 0 for Stripe's
// zero-decimal currencies (BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV
// XAF XOF XPF), 3 for BHD JOD KWD OMR TND, 2 otherwise. `currency` upper-case.
int currency_exponent(std::string_view currency);

// Minor units as decimal text with `exponent` decimals: 12345 at 2 →
// "123.45"; 5 at 2 → "0.05"; 500 at 0 → "500"; -150 at 2 → "-1.50".
// REQUIRES: 0 <= exponent <= 18 (outside, it is clamped).
std::string format_amount(std::int64_t minor, int exponent);

// Intacct decimal text → minor units at `exponent`. Accepted: an optional
// '-', integer digits with optional thousands commas in groups of three
// ("1,234.50"), an optional '.' followed by at least one digit; surrounding
// spaces are ignored. nullopt when unreadable, out of range, or when it has
// more non-zero decimals than the exponent allows ("1.005" at 2; "1.500" at 2
// is 150).
std::optional<std::int64_t> parse_amount(std::string_view text, int exponent);

// Tenant settings (from config).
struct PaymentPolicy {
  // PAYMENTMETHOD for cards and anything not ACH.
  std::string payment_method = "Credit Card";
  // PAYMENTMETHOD for METHOD us_bank_account / ach_debit / ach_credit_transfer / acss_debit.
  std::string ach_payment_method = "EFT";
  // Where the money goes; config sets exactly one. Should several be set, the
  // first of this order is used: bank_account, undeposited_account, payment_batch.
  std::string bank_account;         // FINANCIALENTITY
  std::string undeposited_account;  // UNDEPOSITEDACCOUNTNO
  std::string payment_batch;        // PRBATCH
  // true: the tenant's overpayment = "advance" (the excess over an invoice's
  // balance stays unapplied); false: an overpayment is refused.
  bool overpayment_as_advance = false;
  // How the metadata customer is compared with the invoice's: "id"
  // (CUSTOMERID) or "name" (CUSTOMERNAME).
  std::string match_customers_by = "id";
  // The zone of RECEIPTDATE / PAYMENTDATE (a name of the tz database).
  std::string timezone = "UTC";
};

// The invoice as Intacct has it (read just before posting).
struct InvoiceView {
  std::string recordno, recordid, customerid, customername, currency, state, totaldue;
};

// What to post.
struct Posting {
  std::string customer_id;
  std::string currency;
  std::string total;             // decimal text, the whole payment
  std::string applied;           // decimal text applied to the invoice; "" for an advance
  std::string invoice_recordno;  // "" for an advance
  std::string receipt_date;      // MM/DD/YYYY in the tenant's zone
  // The <ARPYMT> body, in this order: CUSTOMERID, PAYMENTMETHOD, one of
  // FINANCIALENTITY / UNDEPOSITEDACCOUNTNO / PRBATCH, DOCNUMBER (the payment
  // id; ARPYMT documents no memo field, so DOCNUMBER is the only link),
  // RECEIPTDATE, PAYMENTDATE, CURRENCY, TOTALENTERED
  // (only when some or all of the payment is an unapplied advance: the whole
  // amount), then for an invoice ARPYMTDETAILS/ARPYMTDETAIL{RECORDKEY,
  // TRX_PAYMENTAMOUNT}.
  std::vector<intacct::Field> fields;
};

// `invoice`: nullopt when the payment names only a customer — an unapplied
// advance for `customer_id`, which the caller resolved. With an invoice,
// `customer_id` is not used: the payment goes to the invoice's CUSTOMERID.
// Every refusal is a permanent queue::Failure; codes:
//   unsupported_currency, invalid_amount, no_deposit_account,
//   invalid_timezone (or invalid_time, from local_date), currency_mismatch,
//   customer_mismatch, invoice_not_posted, invalid_invoice (unreadable
//   TOTALDUE, or no RECORDNO / CUSTOMERID), over_balance, no_customer (an
//   advance with an empty `customer_id`). The messages are in payment_map.cpp
//   and its tests.
std::variant<Posting, queue::Failure> map_payment(const PaymentFacts& p,
                                                  const std::optional<InvoiceView>& invoice,
                                                  const std::string& customer_id,
                                                  const PaymentPolicy& policy);

// <create><ARPYMT>…</ARPYMT></create> as an intacct::Function with `control_id`.
intacct::Function arpymt_create(const Posting& posting, std::string control_id);

// Deterministic function controlid of one operation on one payment:
// "isync-" + the first 32 hex of sha256(tenant + "\n" + payment_id + "\n" + op)
// (op "create", "reverse").
std::string payment_control_id(std::string_view tenant, std::string_view payment_id,
                               std::string_view op);

}  // namespace isync::handlers::detail

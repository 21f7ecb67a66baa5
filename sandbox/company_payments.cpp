// ARPYMT: creating a payment applies each detail to its invoice (TOTALPAID,
// TOTALDUE, STATE, WHENPAID); deleting or reversing it (reverse_arpayment)
// gives the invoices their amounts back [PROTOCOL.md §4].
#include <algorithm>

#include "sandbox/detail/ops.hpp"

namespace isync::sandbox::detail {
namespace {

const std::string kReversed = "Reversed";  // STATE of a reversed payment (sandbox.hpp)

const char* const kPaymentMethods[] = {
    "Printed Check", "Cash", "EFT", "Credit Card", "Online Charge Card", "Online ACH Debit"};

struct Detail {
  std::int64_t invoice = 0;
  std::int64_t amount = 0;
};

std::vector<Detail> details_of(const Fields& f) {
  std::map<std::int64_t, Detail> by_index;
  for (const auto& [k, v] : f) {
    if (!is_detail_field(k)) continue;
    const auto rest = std::string_view(k).substr(kDetailPrefix.size());
    const auto dot = rest.find('.');
    const auto index = parse_int(rest.substr(0, dot)).value_or(0);
    const auto leaf = rest.substr(dot + 1);
    if (leaf == "RECORDKEY") by_index[index].invoice = parse_int(v).value_or(-1);
    if (leaf == "TRX_PAYMENTAMOUNT") by_index[index].amount = parse_cents(v).value_or(-1);
  }
  std::vector<Detail> out;
  for (const auto& [i, d] : by_index) out.push_back(d);
  return out;
}

}  // namespace

std::optional<Failure> create_payment(WriteContext& ctx, Fields f, Fields& out) {
  const auto customer_id = value_of(f, "CUSTOMERID");
  if (customer_id.empty())
    return invalid_value("Required field CUSTOMERID is missing for ARPYMT.", "Provide CUSTOMERID.");
  if (ctx.data.by_id("CUSTOMER", customer_id) == 0) {
    return invalid_value("Invalid Customer '" + shorten(customer_id, 64) + "' specified.",
                         "Use the CUSTOMERID of an existing customer.");
  }
  const auto method = value_of(f, "PAYMENTMETHOD");
  if (std::find(std::begin(kPaymentMethods), std::end(kPaymentMethods), method) ==
      std::end(kPaymentMethods)) {
    return invalid_value(
        "Invalid PAYMENTMETHOD '" + shorten(method, 32) + "' for ARPYMT.",
        "Use Printed Check, Cash, EFT, Credit Card, Online Charge Card or Online ACH Debit.");
  }
  if (ctx.options.payment_batch_required && value_of(f, "PRBATCH").empty()) {
    // AR configured for user-specified payment summaries [PROTOCOL.md §4, INV].
    return invalid_value(
        "Please provide a payment batch key.",
        "Send PRBATCH, or set the AR payment summary frequency to Daily or Monthly.");
  }
  if (value_of(f, "FINANCIALENTITY").empty() && value_of(f, "UNDEPOSITEDACCOUNTNO").empty() &&
      value_of(f, "PRBATCH").empty()) {
    return invalid_value("ARPYMT needs a deposit account.",
                         "Provide FINANCIALENTITY, UNDEPOSITEDACCOUNTNO or PRBATCH.");
  }
  if (value_of(f, "RECEIPTDATE").empty()) {
    return invalid_value("Required field RECEIPTDATE is missing for ARPYMT.",
                         "Provide RECEIPTDATE as MM/DD/YYYY.");
  }
  const auto docnumber = value_of(f, "DOCNUMBER");
  if (ctx.options.unique_payment_numbers && !docnumber.empty()) {
    const Table& payments = ctx.data.table("ARPYMT");
    for (const auto& [other_no, other] : payments.rows) {
      if (packed_field(*payments.def, other, "CUSTOMERID") == customer_id &&
          packed_field(*payments.def, other, "DOCNUMBER") == docnumber &&
          packed_field(*payments.def, other, "STATE") != kReversed) {
        // The shape of fixtures/result-failure-duplicate-bl34000061.xml.
        Failure dup{"BL34000061",
                    "",
                    "Another AR Payment with the given value(s) " + shorten(docnumber, 64) +
                        " already exists",
                    "Use a unique value instead.",
                    "duplicate",
                    {}};
        dup.then.push_back(
            {"BL01001973", "", "Could not create ARPYMT record!", "", "duplicate", {}});
        return dup;
      }
    }
  }
  const auto currency = value_of(f, "CURRENCY").empty() ? std::string("USD") : f["CURRENCY"];
  const auto details = details_of(f);
  std::map<std::int64_t, std::int64_t> applied;  // invoice RECORDNO → amount
  std::int64_t total = 0;
  for (const auto& d : details) {
    if (d.invoice <= 0 || d.amount <= 0) {
      return invalid_value("Each ARPYMTDETAIL needs a RECORDKEY and a positive TRX_PAYMENTAMOUNT.");
    }
    const auto key = std::to_string(d.invoice);
    const auto inv = ctx.data.get("ARINVOICE", d.invoice);
    if (!inv) {
      return invalid_value(
          "Invoice with RECORDNO " + key + " does not exist; the payment cannot be applied to it.",
          "Check the RECORDKEY of the payment detail.");
    }
    if (value_of(*inv, "CUSTOMERID") != customer_id) {
      return invalid_value("Invoice " + key + " belongs to customer " +
                           value_of(*inv, "CUSTOMERID") + ", not " + shorten(customer_id, 64) +
                           ".");
    }
    const auto inv_currency =
        value_of(*inv, "CURRENCY").empty() ? std::string("USD") : value_of(*inv, "CURRENCY");
    if (inv_currency != currency) {
      return invalid_value("Payment currency " + shorten(currency, 16) +
                               " differs from the currency " + inv_currency + " of invoice " + key +
                               ".",
                           "Pay an invoice in its own currency.");
    }
    if (value_of(*inv, "STATE") == "Draft") {
      return invalid_value("Invoice " + key + " is a draft and cannot take payments.",
                           "Post the invoice first.");
    }
    applied[d.invoice] += d.amount;
    if (applied[d.invoice] > cents_of(*inv, "TOTALDUE")) {
      return invalid_value("Payment amount " + format_cents(applied[d.invoice]) +
                               " exceeds the amount due " + value_of(*inv, "TOTALDUE") +
                               " of invoice " + key + ".",
                           "Apply at most the invoice's TOTALDUE.");
    }
    total += d.amount;
  }
  const auto entered = value_of(f, "TOTALENTERED");
  const auto applied_total = total;  // what the invoices get
  if (details.empty()) {
    if (entered.empty() || cents_of(f, "TOTALENTERED") <= 0) {
      return invalid_value(
          "An ARPYMT without ARPYMTDETAIL needs a positive TOTALENTERED (an advance).");
    }
    total = cents_of(f, "TOTALENTERED");
  } else if (!entered.empty() && cents_of(f, "TOTALENTERED") < total) {
    return invalid_value("TOTALENTERED " + entered + " is less than the sum of the details " +
                             format_cents(total) + ".",
                         "Send a TOTALENTERED at least the sum of the ARPYMTDETAIL amounts.");
  } else if (!entered.empty()) {
    total = cents_of(f, "TOTALENTERED");  // any excess stays unapplied on the payment
  }
  const auto no = next_recordno(ctx, "ARPYMT");
  f.erase("ACTION");
  f["RECORDNO"] = std::to_string(no);
  if (value_of(f, "PAYMENTDATE").empty()) f["PAYMENTDATE"] = f["RECEIPTDATE"];
  if (value_of(f, "CURRENCY").empty()) f["CURRENCY"] = "USD";
  f["STATE"] = "Posted";
  f["TOTALENTERED"] = f["TOTALPAID"] = format_cents(total);
  f["TOTALUNAPPLIED"] = format_cents(total - applied_total);
  f["CURRENCY"] = currency;
  f["RECORDTYPE"] = details.empty() ? "rr" : "rp";  // rr = advance [PROTOCOL.md §4]
  f["WHENCREATED"] = f["WHENMODIFIED"] = stamp(ctx);
  // Details stored normalised and re-indexed from 0.
  for (auto it = f.begin(); it != f.end();)
    it = is_detail_field(it->first) ? f.erase(it) : std::next(it);
  for (std::size_t i = 0; i < details.size(); ++i) {
    const auto prefix = std::string(kDetailPrefix) + std::to_string(i) + ".";
    f[prefix + "RECORDKEY"] = std::to_string(details[i].invoice);
    f[prefix + "TRX_PAYMENTAMOUNT"] = format_cents(details[i].amount);
  }
  ctx.data.put("ARPYMT", no, f);
  out = std::move(f);
  emit(ctx, "ARPYMT", "add", no, out);
  for (const auto& [inv_no, amount] : applied) {
    Fields inv = *ctx.data.get("ARINVOICE", inv_no);
    settle_invoice(inv, cents_of(inv, "TOTALPAID") + amount, out["PAYMENTDATE"]);
    inv["WHENMODIFIED"] = stamp(ctx);
    ctx.data.put("ARINVOICE", inv_no, inv);
    emit(ctx, "ARINVOICE", "set", inv_no, inv);
  }
  if (!applied.empty()) refresh_customer_due(ctx, customer_id);
  return std::nullopt;
}

std::optional<Failure> update_payment(Fields& rec, const Fields& f) {
  if (rec["STATE"] == kReversed) {
    return invalid_value("Payment " + rec["RECORDNO"] + " is reversed and cannot be changed.");
  }
  for (const auto& [k, v] : f) {
    if (is_detail_field(k)) {
      return invalid_value("The applications of payment " + rec["RECORDNO"] + " cannot be changed.",
                           "Delete the payment and create it again.");
    }
    if (k == "CUSTOMERID" && v != rec["CUSTOMERID"]) {
      return invalid_value("CUSTOMERID of payment " + rec["RECORDNO"] + " cannot be changed.");
    }
    if (k == "TOTALENTERED" && cents_of(f, k) != cents_of(rec, k)) {
      return invalid_value("TOTALENTERED of payment " + rec["RECORDNO"] + " cannot be changed.");
    }
  }
  for (const auto& [k, v] : f) {
    if (k != "ACTION" && k != "TOTALENTERED") rec[k] = v;
  }
  if (rec["RECEIPTDATE"].empty()) return invalid_value("RECEIPTDATE of an ARPYMT cannot be empty.");
  return std::nullopt;
}

void reverse_payment(WriteContext& ctx, const Fields& gone) {
  if (value_of(gone, "STATE") == kReversed) return;  // its invoices have their amounts back
  std::map<std::int64_t, std::int64_t> applied;
  for (const auto& d : details_of(gone)) applied[d.invoice] += d.amount;
  for (const auto& [inv_no, amount] : applied) {
    auto inv = ctx.data.get("ARINVOICE", inv_no);
    if (!inv) continue;
    settle_invoice(*inv, std::max<std::int64_t>(0, cents_of(*inv, "TOTALPAID") - amount),
                   value_of(*inv, "WHENPAID"));
    (*inv)["WHENMODIFIED"] = stamp(ctx);
    ctx.data.put("ARINVOICE", inv_no, *inv);
    emit(ctx, "ARINVOICE", "set", inv_no, *inv);
  }
  if (!applied.empty()) refresh_customer_due(ctx, value_of(gone, "CUSTOMERID"));
}

Failure reversal_failure(const std::string& description2, const std::string& correction,
                         const std::string& code) {
  return {"BL01001973", "Could not reverse AR payment record!", description2, correction, code, {}};
}

std::optional<Failure> reverse_payment_record(WriteContext& ctx, std::int64_t recordno,
                                              const std::string& reversed_on) {
  auto rec = ctx.data.get("ARPYMT", recordno);
  const auto n = std::to_string(recordno);
  if (!rec) {
    return reversal_failure("AR payment " + n + " does not exist.",
                            "Check the key: it is the RECORDNO of the ARPYMT.", "not_found");
  }
  if (value_of(*rec, "STATE") == kReversed) {
    return reversal_failure("AR payment " + n + " is already reversed.",
                            "Nothing to do: read the payment to see its REVERSEDDATE.");
  }
  const Fields before = *rec;
  (*rec)["STATE"] = kReversed;
  (*rec)["REVERSEDDATE"] = reversed_on;
  (*rec)["WHENMODIFIED"] = stamp(ctx);
  ctx.data.put("ARPYMT", recordno, *rec);
  emit(ctx, "ARPYMT", "set", recordno, *rec);
  reverse_payment(ctx, before);  // the invoices (and customer) as a delete leaves them
  return std::nullopt;
}

}  // namespace isync::sandbox::detail

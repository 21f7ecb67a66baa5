#include "handlers/detail/payment_map.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace isync::handlers::detail {

namespace {

// Longest text of the event or the invoice quoted in a message.
constexpr std::size_t kQuoteMax = 100;

const std::string* snapshot_value(const queue::Envelope& e, std::string_view name) {
  for (const auto& [k, v] : e.snapshot) {
    if (k == name) return &v;
  }
  return nullptr;
}

std::string snapshot_text(const queue::Envelope& e, std::string_view name) {
  const std::string* v = snapshot_value(e, name);
  return v ? *v : std::string();
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A decimal integer: optional '-' when `allow_negative`, then 1..max_digits
// digits. max_digits <= 18 keeps it inside int64.
std::optional<std::int64_t> parse_integer(std::string_view s, bool allow_negative,
                                          std::size_t max_digits) {
  bool negative = false;
  if (allow_negative && !s.empty() && s.front() == '-') {
    negative = true;
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return negative ? -v : v;
}

bool valid_payment_id(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  });
}

// Three ASCII letters, upper-cased; nullopt otherwise.
std::optional<std::string> currency_code(std::string_view s) {
  if (s.size() != 3) return std::nullopt;
  std::string out;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c < 'A' || c > 'Z') return std::nullopt;
    out.push_back(c);
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool is_ach(std::string_view method) {
  return method == "us_bank_account" || method == "ach_debit" || method == "ach_credit_transfer" ||
         method == "acss_debit";
}

// "INV-1 (RECORDNO 101)"; "RECORDNO 101" when the invoice has no number,
// "INV-1" when it has no RECORDNO.
std::string invoice_label(const InvoiceView& inv) {
  std::string recordid = shorten(inv.recordid, kQuoteMax);
  if (inv.recordno.empty()) return recordid;
  std::string recordno = "RECORDNO " + shorten(inv.recordno, kQuoteMax);
  if (inv.recordid.empty()) return recordno;
  return recordid + " (" + recordno + ")";
}

queue::Failure refuse(std::string code, std::string message, std::string correction = {}) {
  queue::Failure f;
  f.cls = queue::FailureClass::permanent;
  f.code = std::move(code);
  f.message = std::move(message);
  f.correction = std::move(correction);
  return f;
}

}  // namespace

StripeKind stripe_kind(std::string_view event_type) {
  if (event_type == "payment_intent.succeeded" || event_type == "charge.succeeded")
    return StripeKind::succeeded;
  if (event_type == "charge.refunded") return StripeKind::refunded;
  return StripeKind::other;
}

Result<PaymentFacts> payment_facts(const queue::Envelope& e) {
  PaymentFacts p;
  p.event_type = e.action;
  p.event_id = snapshot_text(e, "EVENT_ID");
  const std::string evt = shorten(p.event_id.empty() ? e.event_id : p.event_id, kQuoteMax);
  const StripeKind kind = stripe_kind(e.action);
  if (e.source != "stripe" || kind == StripeKind::other) {
    return make_error("invalid_event", "Stripe event " + evt + " of type '" +
                                           shorten(e.action, kQuoteMax) +
                                           "' is not a payment event");
  }
  auto missing = [&](std::string_view field) {
    return make_error("invalid_event", std::string(field) + " is missing in Stripe event " + evt);
  };
  auto invalid = [&](std::string_view field) {
    return make_error("invalid_event", std::string(field) + " is invalid in Stripe event " + evt);
  };

  const std::string* payment_id = snapshot_value(e, "PAYMENT_ID");
  if (!payment_id) return missing("PAYMENT_ID");
  if (!valid_payment_id(*payment_id)) return invalid("PAYMENT_ID");
  p.payment_id = *payment_id;

  const std::string* amount = snapshot_value(e, "AMOUNT");
  if (!amount) return missing("AMOUNT");
  auto amount_value = parse_integer(*amount, true, 18);
  if (!amount_value) return invalid("AMOUNT");
  p.amount = *amount_value;

  if (kind == StripeKind::refunded) {
    const std::string* refunded = snapshot_value(e, "AMOUNT_REFUNDED");
    if (!refunded) return missing("AMOUNT_REFUNDED");
    auto refunded_value = parse_integer(*refunded, true, 18);
    if (!refunded_value) return invalid("AMOUNT_REFUNDED");
    p.amount_refunded = *refunded_value;
  }

  const std::string* currency = snapshot_value(e, "CURRENCY");
  if (!currency) return missing("CURRENCY");
  auto code = currency_code(*currency);
  if (!code) return invalid("CURRENCY");
  p.currency = std::move(*code);

  const std::string* created = snapshot_value(e, "CREATED");
  if (!created) return missing("CREATED");
  auto created_value = parse_integer(*created, false, 12);
  if (!created_value) return invalid("CREATED");
  p.created = *created_value;

  p.charge_id = snapshot_text(e, "CHARGE_ID");
  p.invoice = snapshot_text(e, "INVOICE");
  p.customer = snapshot_text(e, "CUSTOMER");
  p.method = snapshot_text(e, "METHOD");
  return p;
}

int currency_exponent(std::string_view currency) {
  static constexpr std::array<std::string_view, 16> kZero = {
      "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
      "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
  static constexpr std::array<std::string_view, 5> kThree = {"BHD", "JOD", "KWD", "OMR", "TND"};
  if (std::find(kZero.begin(), kZero.end(), currency) != kZero.end()) return 0;
  if (std::find(kThree.begin(), kThree.end(), currency) != kThree.end()) return 3;
  return 2;
}

std::string format_amount(std::int64_t minor, int exponent) {
  exponent = std::clamp(exponent, 0, 18);
  // The magnitude as unsigned, so INT64_MIN has one too.
  const bool negative = minor < 0;
  const std::uint64_t magnitude = negative ? std::uint64_t{0} - static_cast<std::uint64_t>(minor)
                                           : static_cast<std::uint64_t>(minor);
  std::string digits = std::to_string(magnitude);
  const auto decimals = static_cast<std::size_t>(exponent);
  if (digits.size() <= decimals) digits.insert(0, decimals + 1 - digits.size(), '0');
  if (decimals > 0) digits.insert(digits.size() - decimals, 1, '.');
  return negative ? "-" + digits : digits;
}

std::optional<std::int64_t> parse_amount(std::string_view text, int exponent) {
  if (exponent < 0 || exponent > 18) return std::nullopt;
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  std::string_view whole = text, fraction;
  bool has_point = false;
  if (auto dot = text.find('.'); dot != std::string_view::npos) {
    has_point = true;
    whole = text.substr(0, dot);
    fraction = text.substr(dot + 1);
  }
  if (whole.empty() || (has_point && fraction.empty())) return std::nullopt;

  // Integer digits, commas only between groups of three ("1,234,567").
  std::string int_digits;
  if (whole.find(',') != std::string_view::npos) {
    std::size_t start = 0;
    bool first = true;
    while (true) {
      std::size_t comma = whole.find(',', start);
      std::string_view part = whole.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      if (first ? (part.empty() || part.size() > 3) : part.size() != 3) return std::nullopt;
      int_digits.append(part);
      first = false;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  } else {
    int_digits.assign(whole);
  }
  if (!std::all_of(int_digits.begin(), int_digits.end(), is_digit)) return std::nullopt;
  if (!std::all_of(fraction.begin(), fraction.end(), is_digit)) return std::nullopt;

  // Decimals beyond the exponent must be zeros.
  const auto decimals = static_cast<std::size_t>(exponent);
  if (fraction.size() > decimals) {
    std::string_view extra = fraction.substr(decimals);
    if (extra.find_first_not_of('0') != std::string_view::npos) return std::nullopt;
    fraction = fraction.substr(0, decimals);
  }
  // Leading zeros do not count towards the range.
  std::size_t nz = int_digits.find_first_not_of('0');
  std::string_view significant =
      nz == std::string::npos ? std::string_view() : std::string_view(int_digits).substr(nz);
  if (significant.size() + decimals > 18) return std::nullopt;

  std::int64_t value = 0;
  for (char c : significant) value = value * 10 + (c - '0');
  for (std::size_t i = 0; i < decimals; ++i) {
    value = value * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  }
  return negative ? -value : value;
}

std::variant<Posting, queue::Failure> map_payment(const PaymentFacts& p,
                                                  const std::optional<InvoiceView>& invoice,
                                                  const std::string& customer_id,
                                                  const PaymentPolicy& policy) {
  const std::string& id = p.payment_id;
  const int exponent = currency_exponent(p.currency);
  if (exponent > 2) {
    return refuse("unsupported_currency",
                  "Payment " + id + " is in " + p.currency + ", whose amounts have " +
                      std::to_string(exponent) +
                      " decimals; Intacct amounts have 2. Post it by hand in Intacct.");
  }
  if (p.amount <= 0) {
    return refuse("invalid_amount", "Payment " + id + " has no amount to post.");
  }

  intacct::Field deposit;
  if (!policy.bank_account.empty()) {
    deposit = intacct::leaf("FINANCIALENTITY", policy.bank_account);
  } else if (!policy.undeposited_account.empty()) {
    deposit = intacct::leaf("UNDEPOSITEDACCOUNTNO", policy.undeposited_account);
  } else if (!policy.payment_batch.empty()) {
    deposit = intacct::leaf("PRBATCH", policy.payment_batch);
  } else {
    return refuse("no_deposit_account",
                  "Tenant has no bank_account, undeposited_account or payment_batch configured "
                  "for payments.");
  }

  auto date = local_date(p.created, policy.timezone);
  if (!date) return refuse(date.error().code, date.error().message);

  Posting post;
  post.currency = p.currency;
  post.total = format_amount(p.amount, exponent);
  post.receipt_date = *date;
  bool advance_part = false;  // some or all of the payment stays unapplied

  if (invoice) {
    const InvoiceView& inv = *invoice;
    const std::string label = invoice_label(inv);
    if (inv.recordno.empty()) {
      return refuse("invalid_invoice", "Invoice " + label + " has no RECORDNO.");
    }
    const std::string inv_currency = inv.currency.empty() ? "USD" : upper(inv.currency);
    if (inv_currency != p.currency) {
      return refuse("currency_mismatch", "Payment " + id + " is in " + p.currency +
                                             " but invoice " + label + " is in " +
                                             shorten(inv_currency, kQuoteMax) + ".");
    }
    if (!p.customer.empty()) {
      const std::string& theirs =
          policy.match_customers_by == "name" ? inv.customername : inv.customerid;
      if (p.customer != theirs) {
        return refuse("customer_mismatch", "Payment " + id + " names customer " +
                                               shorten(p.customer, kQuoteMax) + " but invoice " +
                                               label + " belongs to customer " +
                                               shorten(inv.customerid, kQuoteMax) + ".");
      }
    }
    if (inv.state == "Draft") {
      return refuse(
          "invoice_not_posted",
          "Invoice " + label + " is a draft in Intacct and cannot take payment " + id + ".",
          "Post the invoice in Intacct, then replay this event.");
    }
    if (inv.customerid.empty()) {
      return refuse("invalid_invoice", "Invoice " + label + " has no CUSTOMERID.");
    }
    auto due = parse_amount(inv.totaldue, exponent);
    if (!due) {
      return refuse("invalid_invoice", "Invoice " + label + " has an unreadable TOTALDUE '" +
                                           shorten(inv.totaldue, kQuoteMax) + "'.");
    }
    // A credit balance takes nothing.
    const std::int64_t balance = std::max<std::int64_t>(*due, 0);
    std::int64_t applied = p.amount;
    if (p.amount > balance) {
      if (!policy.overpayment_as_advance) {
        return refuse("over_balance",
                      "Payment " + id + " of " + post.total + " " + p.currency +
                          " exceeds the balance " + format_amount(*due, exponent) + " of invoice " +
                          label + ".",
                      "Apply the payment by hand in Intacct, or set overpayment = \"advance\" for "
                      "the tenant to keep the excess as an unapplied advance, then replay.");
      }
      applied = balance;
      advance_part = true;
    }
    post.customer_id = inv.customerid;
    if (applied > 0) {
      post.applied = format_amount(applied, exponent);
      post.invoice_recordno = inv.recordno;
    }
  } else {
    if (customer_id.empty()) {
      return refuse("no_customer",
                    "Payment " + id + " names no invoice and no customer to post it to.");
    }
    post.customer_id = customer_id;
    advance_part = true;
  }

  auto& f = post.fields;
  f.push_back(intacct::leaf("CUSTOMERID", post.customer_id));
  f.push_back(intacct::leaf("PAYMENTMETHOD",
                            is_ach(p.method) ? policy.ach_payment_method : policy.payment_method));
  f.push_back(std::move(deposit));
  f.push_back(intacct::leaf("DOCNUMBER", id));
  f.push_back(intacct::leaf("RECEIPTDATE", post.receipt_date));
  f.push_back(intacct::leaf("PAYMENTDATE", post.receipt_date));
  f.push_back(intacct::leaf("CURRENCY", post.currency));
  if (advance_part) f.push_back(intacct::leaf("TOTALENTERED", post.total));
  if (!post.invoice_recordno.empty()) {
    f.push_back(intacct::group(
        "ARPYMTDETAILS",
        {intacct::group("ARPYMTDETAIL", {intacct::leaf("RECORDKEY", post.invoice_recordno),
                                         intacct::leaf("TRX_PAYMENTAMOUNT", post.applied)})}));
  }
  return post;
}

intacct::Function arpymt_create(const Posting& posting, std::string control_id) {
  return intacct::Function{std::move(control_id), intacct::Create{"ARPYMT", posting.fields}};
}

std::string payment_control_id(std::string_view tenant, std::string_view payment_id,
                               std::string_view op) {
  std::string input;
  input.reserve(tenant.size() + payment_id.size() + op.size() + 2);
  input.append(tenant).append("\n").append(payment_id).append("\n").append(op);
  return "isync-" + sha256_hex(input).substr(0, 32);
}

}  // namespace isync::handlers::detail

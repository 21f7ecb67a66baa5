// What every write of the company engine shares (sandbox/detail/ops.hpp):
// the write clock and WHENMODIFIED stamp, field reads, change reports,
// RECORDNO allocation, and the TOTALDUE side effects of invoices and
// payments on customers (PROTOCOL.md §4). The writes themselves are in
// company_ops.cpp and company_payments.cpp.
#include <algorithm>

#include "sandbox/detail/ops.hpp"

namespace isync::sandbox::detail {

std::int64_t write_time(const WriteContext& ctx) {
  return ctx.now_ms / 1000 + ctx.options.write_clock_offset.count();
}

std::string stamp(const WriteContext& ctx) { return format_whenmodified(write_time(ctx)); }

std::string value_of(const Fields& f, const std::string& key) {
  const auto it = f.find(key);
  return it == f.end() ? std::string{} : it->second;
}

std::int64_t cents_of(const Fields& f, const std::string& key) {
  return parse_cents(value_of(f, key)).value_or(0);
}

void emit(WriteContext& ctx, const std::string& object, const std::string& action,
          std::int64_t recordno, const Fields& after) {
  if (ctx.changes == nullptr) return;
  Change c;
  c.object = object;
  c.action = action;
  c.recordno = recordno;
  c.whenmodified = action == "delete" ? stamp(ctx) : value_of(after, "WHENMODIFIED");
  c.at_ms = ctx.now_ms;
  if (action != "delete") c.fields = after;
  ctx.changes->push_back(std::move(c));
}

std::int64_t next_recordno(WriteContext& ctx, const std::string& object) {
  auto& next = ctx.data.next_recordno[object];
  if (next < 1) next = 1;
  std::int64_t no = 0;
  if (ctx.reserved != nullptr && !(*ctx.reserved)[object].empty()) {
    no = (*ctx.reserved)[object].front();
    (*ctx.reserved)[object].pop_front();
  } else {
    no = next;
  }
  next = std::max(next, no + 1);
  if (ctx.assigned != nullptr) (*ctx.assigned)[object].push_back(no);
  return no;
}

// Sum of the customer's posted invoices' TOTALDUE; when it changed, the
// customer is modified (and a `set` change reported).
void refresh_customer_due(WriteContext& ctx, const std::string& customer_id) {
  if (ctx.deferred_due != nullptr) {
    ctx.deferred_due->insert(customer_id);
    return;
  }
  const auto no = ctx.data.by_id("CUSTOMER", customer_id);
  if (!ctx.data.has("CUSTOMER", no)) return;
  std::int64_t due = 0;
  const Table& invoices = ctx.data.table("ARINVOICE");
  for (const auto inv_no : ctx.data.invoices_by_customer[customer_id]) {
    const auto inv = invoices.rows.find(inv_no);
    if (inv == invoices.rows.end()) continue;
    if (packed_field(*invoices.def, inv->second, "STATE") != "Draft") {
      due += parse_cents(packed_field(*invoices.def, inv->second, "TOTALDUE")).value_or(0);
    }
  }
  const auto text = format_cents(due);
  if (ctx.data.value("CUSTOMER", no, "TOTALDUE") == text) return;
  Fields customer = *ctx.data.get("CUSTOMER", no);
  customer["TOTALDUE"] = text;
  customer["WHENMODIFIED"] = stamp(ctx);
  ctx.data.put("CUSTOMER", no, customer);
  emit(ctx, "CUSTOMER", "set", no, customer);
}

// Recomputes an invoice's TOTALDUE/STATE/WHENPAID after TOTALPAID changed.
void settle_invoice(Fields& inv, std::int64_t paid, const std::string& paid_on) {
  const std::int64_t due = cents_of(inv, "TOTALENTERED") - paid;
  inv["TOTALPAID"] = format_cents(paid);
  inv["TOTALDUE"] = format_cents(due);
  if (value_of(inv, "STATE") == "Draft") return;
  if (paid == 0) {
    inv["STATE"] = "Posted";
    inv["WHENPAID"] = "";
  } else if (due == 0) {
    inv["STATE"] = "Paid";
    inv["WHENPAID"] = paid_on;
  } else {
    inv["STATE"] = "Partially Paid";
    inv["WHENPAID"] = "";
  }
}

}  // namespace isync::sandbox::detail

// Writes: create, update and delete of CUSTOMER, ARINVOICE and ARPYMT, with
// the side effects Intacct applies (customer TOTALDUE; payments in
// company_payments.cpp), shared by the gateway, the control API, seeding and
// deferred landings (what they share: company_write_support.cpp). Business
// rules follow PROTOCOL.md §4.
#include <algorithm>

#include "sandbox/detail/ops.hpp"

namespace isync::sandbox::detail {

namespace {

// The BL34000061 shape of fixtures/result-failure-duplicate-bl34000061.xml,
// including Intacct's two spaces before "already" and its two follow-ups.
Failure duplicate(const std::string& label, const std::string& value) {
  std::string lower = label;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  Failure f{"BL34000061",
            "",
            "Another " + label + " with the given value(s) " + value + "  already exists",
            "Use a unique value instead.",
            "duplicate",
            {}};
  f.then.push_back(
      {"BL01001973", "", "Could not create " + lower + " record!", "", "duplicate", {}});
  f.then.push_back(
      {"BL01001973", "", "Error while saving the " + label + " info", "", "duplicate", {}});
  return f;
}

// Every given field must exist on the object; typed fields must parse.
// Fields the company sets itself (RECORDNO, WHENMODIFIED, ...) are ignored,
// as Intacct ignores read-only fields in create/update.
std::optional<Failure> check_fields(const ObjectDef& def, const Fields& in, Fields& writable) {
  for (const auto& [name, value] : in) {
    if (name == "ACTION") {
      writable[name] = value;
      continue;
    }
    if (def.name == "ARPYMT" && is_detail_field(name)) {
      const auto rest = std::string_view(name).substr(kDetailPrefix.size());
      const auto dot = rest.find('.');
      const auto leaf = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
      if (dot == std::string_view::npos || !parse_int(rest.substr(0, dot)) ||
          (leaf != "RECORDKEY" && leaf != "TRX_PAYMENTAMOUNT" && leaf != "ENTRYKEY")) {
        return unknown_field(def.name, name);
      }
      writable[name] = value;
      continue;
    }
    const FieldDef* f = def.field(name);
    if (f == nullptr) return unknown_field(def.name, name);
    if (!f->writable) continue;
    if (!value.empty()) {
      bool ok = true;
      switch (f->type) {
        case FieldType::money:
          ok = parse_cents(value).has_value();
          break;
        case FieldType::date:
          ok = value.size() == 10 && parse_intacct_time(value).has_value();
          break;
        case FieldType::integer:
          ok = parse_int(value).has_value();
          break;
        case FieldType::boolean:
          ok = value == "true" || value == "false";
          break;
        default:
          break;
      }
      if (!ok) {
        return invalid_value(
            "Invalid value '" + shorten(value, 64) + "' for " + def.name + "." + name + ".",
            f->type == FieldType::date    ? "Use the format MM/DD/YYYY."
            : f->type == FieldType::money ? "Use a decimal amount with at most 2 decimals."
                                          : "");
      }
    }
    writable[name] = value;
  }
  return std::nullopt;
}

// ---- CUSTOMER ----------------------------------------------------------------

std::optional<Failure> check_customer(const Fields& f) {
  const auto status = value_of(f, "STATUS");
  if (!status.empty() && status != "active" && status != "inactive") {
    return invalid_value("Invalid STATUS '" + shorten(status, 32) + "' for CUSTOMER.",
                         "Use active or inactive.");
  }
  return std::nullopt;
}

std::optional<Failure> create_customer(WriteContext& ctx, Fields f, Fields& out) {
  if (value_of(f, "NAME").empty())
    return invalid_value("Required field NAME is missing for CUSTOMER.", "Provide NAME.");
  if (auto bad = check_customer(f)) return bad;
  auto id = value_of(f, "CUSTOMERID");
  if (!id.empty() && ctx.data.customer_by_id.count(id) != 0) return duplicate("Customer", id);
  const auto no = next_recordno(ctx, "CUSTOMER");
  if (id.empty()) id = "C" + std::to_string(no);  // Intacct's auto-numbering, simplified
  f.erase("ACTION");
  f["RECORDNO"] = std::to_string(no);
  f["CUSTOMERID"] = id;
  if (value_of(f, "STATUS").empty()) f["STATUS"] = "active";
  if (value_of(f, "ONHOLD").empty()) f["ONHOLD"] = "false";
  if (value_of(f, "DISPLAYCONTACT.PRINTAS").empty()) f["DISPLAYCONTACT.PRINTAS"] = f["NAME"];
  f["TOTALDUE"] = "0.00";
  f["WHENCREATED"] = f["WHENMODIFIED"] = stamp(ctx);
  ctx.data.customer_by_id[id] = no;
  ctx.data.put("CUSTOMER", no, f);
  out = std::move(f);
  emit(ctx, "CUSTOMER", "add", no, out);
  return std::nullopt;
}

std::optional<Failure> update_customer(Fields& rec, const Fields& f) {
  if (auto bad = check_customer(f)) return bad;
  const auto id = value_of(f, "CUSTOMERID");
  if (!id.empty() && id != rec["CUSTOMERID"]) {
    return invalid_value("CUSTOMERID of customer " + rec["RECORDNO"] + " cannot be changed.",
                         "Create a new customer instead.");
  }
  for (const auto& [k, v] : f) {
    if (k != "ACTION") rec[k] = v;
  }
  if (rec["NAME"].empty())
    return invalid_value("Required field NAME is missing for CUSTOMER.", "Provide NAME.");
  return std::nullopt;
}

// ---- ARINVOICE ---------------------------------------------------------------

std::optional<Failure> create_invoice(WriteContext& ctx, Fields f, Fields& out) {
  const auto customer_id = value_of(f, "CUSTOMERID");
  if (customer_id.empty())
    return invalid_value("Required field CUSTOMERID is missing for ARINVOICE.",
                         "Provide CUSTOMERID.");
  const auto customer_no = ctx.data.by_id("CUSTOMER", customer_id);
  if (!ctx.data.has("CUSTOMER", customer_no)) {
    return invalid_value("Invalid Customer '" + shorten(customer_id, 64) + "' specified.",
                         "Use the CUSTOMERID of an existing customer.");
  }
  if (value_of(f, "TOTALENTERED").empty()) {
    return invalid_value("Required field TOTALENTERED is missing for ARINVOICE.",
                         "Provide TOTALENTERED.");
  }
  const auto total = cents_of(f, "TOTALENTERED");
  if (total < 0) return invalid_value("TOTALENTERED of an invoice cannot be negative.");
  const auto state = value_of(f, "STATE"), action = value_of(f, "ACTION");
  const bool draft = state == "Draft" || action == "Draft";
  if (!state.empty() && state != "Draft" && state != "Posted") {
    return invalid_value("Invalid STATE '" + shorten(state, 32) + "' for a new ARINVOICE.",
                         "Use Draft or Posted.");
  }
  auto number = value_of(f, "RECORDID");
  if (!number.empty() && ctx.data.invoice_by_number.count(number) != 0) {
    // Intacct's duplicate invoice number text [PROTOCOL.md §4, INV]; errorno not documented.
    return Failure{"BL01001973",
                   "",
                   "A transaction with the number '" + number + "' already exists.",
                   "Use a unique invoice number.",
                   "duplicate",
                   {}};
  }
  const auto no = next_recordno(ctx, "ARINVOICE");
  if (number.empty()) number = "INV-" + std::to_string(no);
  f.erase("ACTION");
  f["RECORDNO"] = std::to_string(no);
  f["RECORDID"] = number;
  f["CUSTOMERNAME"] = ctx.data.value("CUSTOMER", customer_no, "NAME");
  f["STATE"] = draft ? "Draft" : "Posted";
  if (value_of(f, "WHENCREATED").empty()) f["WHENCREATED"] = format_date(write_time(ctx));
  if (value_of(f, "WHENDUE").empty()) {
    f["WHENDUE"] = format_date(parse_intacct_time(f["WHENCREATED"]).value_or(0) + 30 * 86400);
  }
  f["WHENPOSTED"] = draft ? "" : f["WHENCREATED"];
  f["WHENPAID"] = "";
  f["TOTALENTERED"] = format_cents(total);
  f["TOTALPAID"] = "0.00";
  f["TOTALDUE"] = format_cents(total);
  if (value_of(f, "CURRENCY").empty()) f["CURRENCY"] = "USD";
  f["WHENMODIFIED"] = stamp(ctx);
  ctx.data.invoice_by_number[number] = no;
  ctx.data.invoices_by_customer[customer_id].insert(no);
  ctx.data.put("ARINVOICE", no, f);
  out = std::move(f);
  emit(ctx, "ARINVOICE", "add", no, out);
  refresh_customer_due(ctx, customer_id);
  return std::nullopt;
}

std::optional<Failure> update_invoice(Fields& rec, const Fields& f) {
  const auto number = value_of(f, "RECORDID");
  if (!number.empty() && number != rec["RECORDID"]) {
    return invalid_value("RECORDID of invoice " + rec["RECORDNO"] + " cannot be changed.");
  }
  const auto customer_id = value_of(f, "CUSTOMERID");
  if (!customer_id.empty() && customer_id != rec["CUSTOMERID"]) {
    return invalid_value("CUSTOMERID of invoice " + rec["RECORDID"] + " cannot be changed.",
                         "Delete the invoice and create it for the other customer.");
  }
  const auto paid = cents_of(rec, "TOTALPAID");
  auto state = value_of(f, "STATE");
  if (value_of(f, "ACTION") == "Submit") state = "Posted";
  if (!state.empty() && state != rec["STATE"]) {
    if ((state != "Draft" && state != "Posted") || paid != 0) {
      return invalid_value(
          "STATE of invoice " + rec["RECORDID"] + " cannot become '" + shorten(state, 32) + "'.",
          "Only an unpaid invoice moves between Draft and Posted.");
    }
    rec["STATE"] = state;
    rec["WHENPOSTED"] = state == "Posted" ? rec["WHENCREATED"] : "";
  }
  for (const auto& [k, v] : f) {
    if (k != "ACTION" && k != "STATE") rec[k] = v;
  }
  if (cents_of(rec, "TOTALENTERED") < paid) {
    return invalid_value("TOTALENTERED of invoice " + rec["RECORDID"] +
                         " cannot be below its TOTALPAID " + format_cents(paid) + ".");
  }
  rec["TOTALENTERED"] = format_cents(cents_of(rec, "TOTALENTERED"));
  settle_invoice(rec, paid, rec["WHENPAID"]);
  return std::nullopt;
}

}  // namespace

std::optional<Failure> create_record(WriteContext& ctx, const ObjectDef& def, const Fields& in,
                                     Fields& out) {
  Fields f;
  if (auto bad = check_fields(def, in, f)) return bad;
  if (def.name == "CUSTOMER") return create_customer(ctx, std::move(f), out);
  if (def.name == "ARINVOICE") return create_invoice(ctx, std::move(f), out);
  return create_payment(ctx, std::move(f), out);
}

std::optional<Failure> update_record(WriteContext& ctx, const ObjectDef& def, const Fields& in,
                                     Fields& out) {
  std::int64_t no = 0;
  std::string key;
  if (const auto it = in.find("RECORDNO"); it != in.end() && !it->second.empty()) {
    key = it->second;
    no = parse_int(key).value_or(0);
  } else if (!def.id_field.empty() && !value_of(in, def.id_field).empty()) {
    key = value_of(in, def.id_field);
    no = ctx.data.by_id(def.name, key);
  } else {
    return invalid_value("An update of " + def.name + " needs RECORDNO" +
                             (def.id_field.empty() ? std::string{} : " or " + def.id_field) + ".",
                         "Name the record to update.");
  }
  const auto rec = ctx.data.get(def.name, no);
  if (!rec) return not_found(def.name, shorten(key, 64));
  Fields f;
  if (auto bad = check_fields(def, in, f)) return bad;
  Fields updated = *rec;  // written back only when every rule passed
  std::optional<Failure> bad;
  if (def.name == "CUSTOMER") bad = update_customer(updated, f);
  if (def.name == "ARINVOICE") bad = update_invoice(updated, f);
  if (def.name == "ARPYMT") bad = update_payment(updated, f);
  if (bad) return bad;
  updated["WHENMODIFIED"] = stamp(ctx);
  if (def.name == "CUSTOMER" && updated["NAME"] != value_of(*rec, "NAME")) {
    // CUSTOMERNAME is joined from the customer in Intacct: it follows the
    // name without modifying the invoices (no WHENMODIFIED bump, no Change).
    for (const auto inv_no : ctx.data.invoices_by_customer[updated["CUSTOMERID"]]) {
      if (auto inv = ctx.data.get("ARINVOICE", inv_no)) {
        (*inv)["CUSTOMERNAME"] = updated["NAME"];
        ctx.data.put("ARINVOICE", inv_no, *inv);
      }
    }
  }
  ctx.data.put(def.name, no, updated);
  out = std::move(updated);
  emit(ctx, def.name, "set", no, out);
  if (def.name == "ARINVOICE") refresh_customer_due(ctx, out["CUSTOMERID"]);
  if (def.name == "CUSTOMER") out = *ctx.data.get("CUSTOMER", no);
  return std::nullopt;
}

std::optional<Failure> delete_record(WriteContext& ctx, const ObjectDef& def,
                                     std::int64_t recordno) {
  const auto rec = ctx.data.get(def.name, recordno);
  if (!rec) return not_found(def.name, std::to_string(recordno));
  const Fields& gone = *rec;
  const auto customer_id = value_of(gone, "CUSTOMERID");
  if (def.name == "CUSTOMER") {
    if (!ctx.data.invoices_by_customer[customer_id].empty()) {
      return invalid_value("Customer " + customer_id + " has invoices and cannot be deleted.",
                           "Delete its invoices first, or set STATUS to inactive.");
    }
    ctx.data.customer_by_id.erase(customer_id);
  } else if (def.name == "ARINVOICE") {
    if (cents_of(gone, "TOTALPAID") != 0) {
      return invalid_value(
          "Invoice " + value_of(gone, "RECORDID") + " has payments applied and cannot be deleted.",
          "Delete its payments first.");
    }
    ctx.data.invoice_by_number.erase(value_of(gone, "RECORDID"));
    ctx.data.invoices_by_customer[customer_id].erase(recordno);
  }
  ctx.data.erase(def.name, recordno);
  emit(ctx, def.name, "delete", recordno, {});
  if (def.name == "ARPYMT") {
    reverse_payment(ctx, gone);
  }
  if (def.name == "ARINVOICE") refresh_customer_due(ctx, customer_id);
  return std::nullopt;
}

}  // namespace isync::sandbox::detail

// The sandbox company's data model: object definitions (schema), the record
// tables with their unique indexes, and the write operations every entry
// point shares (gateway create/update/delete, the control API, seeding,
// deferred landings). Internal to the sandbox module.
//
// Thread rules: nothing here locks; callers hold Company's mutex.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sandbox/sandbox.hpp"

namespace isync::sandbox::detail {

using Fields = std::map<std::string, std::string>;

enum class FieldType {
  text,       // compared as bytes (or case-folded with caseinsensitive)
  integer,    // RECORDNO, RECORDKEY
  money,      // decimal text with two decimals, kept as integer cents
  date,       // MM/DD/YYYY
  timestamp,  // MM/DD/YYYY HH:MM:SS (UTC)
  boolean,    // true | false
};

struct FieldDef {
  std::string name;  // flattened with dots: DISPLAYCONTACT.EMAIL1
  FieldType type = FieldType::text;
  bool writable = true;  // false: set by the company; ignored in create/update
};

struct ObjectDef {
  std::string name;      // CUSTOMER, ARINVOICE, ARPYMT
  std::string id_field;  // the unique business key (CUSTOMERID, RECORDID); "" for ARPYMT
  std::vector<FieldDef> fields;
  const FieldDef* field(std::string_view name) const;
};

// nullptr when the object is not one of the sandbox's. `name` must be upper case.
const ObjectDef* find_object(std::string_view name);
std::string to_upper(std::string_view s);

// The repeated group of payment details, flattened as
// ARPYMTDETAILS.ARPYMTDETAIL.<index>.<FIELD>.
inline constexpr std::string_view kDetailPrefix = "ARPYMTDETAILS.ARPYMTDETAIL.";
bool is_detail_field(std::string_view name);

// ---- values ------------------------------------------------------------------

std::optional<std::int64_t> parse_cents(std::string_view text);  // "12", "12.5", "12.50"
std::string format_cents(std::int64_t cents);                    // "12.50"
std::optional<std::int64_t> parse_int(std::string_view text);
// MM/DD/YYYY or MM/DD/YYYY HH:MM:SS → epoch seconds (UTC); ISO text is refused.
std::optional<std::int64_t> parse_intacct_time(std::string_view text);
std::string format_date(std::int64_t epoch_seconds);  // MM/DD/YYYY (UTC)
std::string format_iso(std::int64_t epoch_ms);        // 2026-11-22T13:00:00+00:00

// ---- failures ----------------------------------------------------------------

// One Intacct <error>; `code` is the control API's Error code for the same failure.
struct Failure {
  std::string errorno;
  std::string description;
  std::string description2;
  std::string correction;
  std::string code;
  std::vector<Failure> then;  // follow-up <error>s Intacct adds after the specific one
};

Failure unknown_object(const std::string& object);
Failure unknown_field(const std::string& object, const std::string& field);
Failure not_found(const std::string& object, const std::string& key);
Failure invalid_value(const std::string& description2, const std::string& correction = "");

// ---- tables ------------------------------------------------------------------

struct Data {
  std::map<std::string, std::map<std::int64_t, Fields>> tables;  // object → RECORDNO → fields
  std::map<std::string, std::int64_t> next_recordno;             // object → next RECORDNO
  // Unique business keys → RECORDNO.
  std::unordered_map<std::string, std::int64_t> customer_by_id;
  std::unordered_map<std::string, std::int64_t> invoice_by_number;
  // CUSTOMERID → its invoices' RECORDNOs (for TOTALDUE).
  std::unordered_map<std::string, std::set<std::int64_t>> invoices_by_customer;

  const Fields* find(const std::string& object, std::int64_t recordno) const;
  Fields* find(const std::string& object, std::int64_t recordno);
  // RECORDNO of a record named by its business key, 0 when none.
  std::int64_t by_id(const std::string& object, const std::string& id) const;
  void rebuild_indexes();
};

// What a write needs besides the data: the time, where to report changes,
// and (for deferred writes) RECORDNOs reserved earlier, consumed in order.
struct WriteContext {
  Data& data;
  const Options& options;
  std::int64_t now_ms = 0;
  std::vector<Change>* changes = nullptr;  // nullptr: no notifications (seeding)
  std::map<std::string, std::deque<std::int64_t>>* reserved = nullptr;
  // RECORDNOs assigned by creates, per object, in order (to reserve them).
  std::map<std::string, std::vector<std::int64_t>>* assigned = nullptr;
};

// Each returns the failure, or nothing and the record's fields after the write.
std::optional<Failure> create_record(WriteContext& ctx, const ObjectDef& def, const Fields& in,
                                     Fields& out);
// `in` names the record by RECORDNO or by the object's ID field.
std::optional<Failure> update_record(WriteContext& ctx, const ObjectDef& def, const Fields& in,
                                     Fields& out);
std::optional<Failure> delete_record(WriteContext& ctx, const ObjectDef& def,
                                     std::int64_t recordno);

// The record's fields as Intacct would return them for `fields` (* = all).
Record to_record(const std::string& object, const Fields& f);

}  // namespace isync::sandbox::detail

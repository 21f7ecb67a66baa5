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

// Compared as numbers (integer cents), and as times.
inline bool numeric(FieldType t) { return t == FieldType::integer || t == FieldType::money; }
inline bool temporal(FieldType t) { return t == FieldType::date || t == FieldType::timestamp; }

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

// ---- filters -----------------------------------------------------------------

enum class Op { eq, ne, lt, gt, le, ge, like, not_like, in, not_in, is_null, is_not_null, between };

// A parsed record filter (query.hpp parses and evaluates it).
struct Expr {
  enum class Kind { all, and_, or_, not_, compare };
  Kind kind = Kind::all;  // all: no condition (matches every record)
  std::vector<Expr> children;
  std::string field;  // compare: upper-case field name, known to the object
  Op op = Op::eq;
  std::vector<std::string> values;  // compare: literals (one; two for between; ≥1 for in)
};

// Where a filter reads a record's field values: "" when absent.
class FieldSource {
 public:
  virtual ~FieldSource() = default;
  virtual std::string_view get(std::string_view name) const = 0;
};

// ---- packed records ------------------------------------------------------------

// A record's fields packed in one string (a million records fit in a few
// hundred MB): per field a tag byte — the field's index in its ObjectDef, or
// kNamedTag then a length byte and the name (payment details) — then the
// value's length as a varint and its bytes. Empty values are kept (a field
// present and empty stays so).
inline constexpr unsigned char kNamedTag = 0xFF;
std::string pack(const ObjectDef& def, const Fields& f);
Fields unpack(const ObjectDef& def, std::string_view packed);
// One field's value without unpacking; "" when absent.
std::string_view packed_field(const ObjectDef& def, std::string_view packed, std::string_view name);

class PackedSource final : public FieldSource {
 public:
  PackedSource(const ObjectDef& def, std::string_view packed) : def_(def), packed_(packed) {}
  std::string_view get(std::string_view name) const override {
    return packed_field(def_, packed_, name);
  }

 private:
  const ObjectDef& def_;
  std::string_view packed_;
};

class MapSource final : public FieldSource {
 public:
  explicit MapSource(const Fields& f) : f_(f) {}
  std::string_view get(std::string_view name) const override {
    const auto it = f_.find(std::string(name));
    return it == f_.end() ? std::string_view{} : std::string_view(it->second);
  }

 private:
  const Fields& f_;
};

// ---- tables ------------------------------------------------------------------

// The RECORDNOs (ascending) of a table's rows matching `filter`: built by
// one scan when a query first uses the filter, then kept current by every
// put and erase, so each further page of a query ordered by RECORDNO costs a
// binary search and the page (company_table.cpp).
struct Selection {
  std::string key;  // canonical text of filter + case_insensitive
  Expr filter;
  bool case_insensitive = false;
  std::vector<std::int64_t> recordnos;
  std::uint64_t last_used = 0;
};
inline constexpr std::size_t kMaxSelections = 8;  // per table; the least recently used goes

struct Table {
  const ObjectDef* def = nullptr;
  std::map<std::int64_t, std::string> rows;  // RECORDNO → packed fields
  std::vector<Selection> selections;
  std::uint64_t uses = 0;  // clock of Selection::last_used
  // The selection of `filter` (built now when missing).
  const Selection& selection(const Expr& filter, bool case_insensitive);
};

struct Data {
  std::map<std::string, Table> tables;                // object → its table
  std::map<std::string, std::int64_t> next_recordno;  // object → next RECORDNO
  // Unique business keys → RECORDNO.
  std::unordered_map<std::string, std::int64_t> customer_by_id;
  std::unordered_map<std::string, std::int64_t> invoice_by_number;
  // CUSTOMERID → its invoices' RECORDNOs (for TOTALDUE).
  std::unordered_map<std::string, std::set<std::int64_t>> invoices_by_customer;

  // The table of a known object (created empty on first use).
  Table& table(const std::string& object);
  const Table* find_table(const std::string& object) const;
  bool has(const std::string& object, std::int64_t recordno) const;
  std::optional<Fields> get(const std::string& object, std::int64_t recordno) const;
  // One field of a record, "" when the record or the field is absent.
  std::string value(const std::string& object, std::int64_t recordno, std::string_view field) const;
  // Inserts or replaces the record (and keeps the table's selections current).
  void put(const std::string& object, std::int64_t recordno, const Fields& f);
  void erase(const std::string& object, std::int64_t recordno);
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
  // Seeding: customers whose TOTALDUE is recomputed once at the end rather
  // than after each of their invoices and payments (nullptr: at once).
  std::set<std::string>* deferred_due = nullptr;
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

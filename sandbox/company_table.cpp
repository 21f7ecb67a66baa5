// The company's tables: records packed one string each, the unique-key
// indexes, and the selections that keep a query ordered by RECORDNO at the
// cost of its page however large the table.
#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

#include "sandbox/detail/query.hpp"

namespace isync::sandbox::detail {
namespace {

// A field's index in its object's definition (-1 when it has none), by hash.
int field_index(const ObjectDef& def, std::string_view name) {
  using Index = std::unordered_map<std::string_view, int>;
  static const auto indexes = [] {
    std::map<const ObjectDef*, Index> out;
    for (const char* object : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
      const ObjectDef* d = find_object(object);
      auto& index = out[d];
      for (std::size_t i = 0; i < d->fields.size(); ++i)
        index.emplace(d->fields[i].name, static_cast<int>(i));
    }
    return out;
  }();
  const auto index = indexes.find(&def);
  if (index == indexes.end()) return -1;
  const auto it = index->second.find(name);
  return it == index->second.end() ? -1 : it->second;
}

void put_varint(std::string& out, std::size_t n) {
  while (n >= 0x80) {
    out += static_cast<char>((n & 0x7F) | 0x80);
    n >>= 7;
  }
  out += static_cast<char>(n);
}

// Reads a varint at `pos` (moved past it); packed text is ours, so it is well formed.
std::size_t get_varint(std::string_view in, std::size_t& pos) {
  std::size_t n = 0;
  int shift = 0;
  while (pos < in.size()) {
    const auto b = static_cast<unsigned char>(in[pos++]);
    n |= static_cast<std::size_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) break;
    shift += 7;
  }
  return n;
}

// Walks the packed fields: f(tag, name (named fields only), value); f returns false to stop.
template <typename F>
void walk(std::string_view in, F&& f) {
  std::size_t pos = 0;
  while (pos < in.size()) {
    const auto tag = static_cast<unsigned char>(in[pos++]);
    std::string_view name;
    if (tag == kNamedTag) {
      const auto len = static_cast<unsigned char>(in[pos++]);
      name = in.substr(pos, len);
      pos += len;
    }
    const auto len = get_varint(in, pos);
    const auto value = in.substr(pos, len);
    pos += len;
    if (!f(tag, name, value)) return;
  }
}

}  // namespace

std::string pack(const ObjectDef& def, const Fields& f) {
  std::string out;
  std::size_t size = 0;
  for (const auto& [k, v] : f) size += v.size() + 2;
  out.reserve(size);
  for (const auto& [k, v] : f) {
    const int i = field_index(def, k);
    if (i >= 0 && i < kNamedTag) {
      out += static_cast<char>(i);
    } else {
      out += static_cast<char>(kNamedTag);
      const auto name = std::string_view(k).substr(0, 255);
      out += static_cast<char>(name.size());
      out += name;
    }
    put_varint(out, v.size());
    out += v;
  }
  out.shrink_to_fit();
  return out;
}

Fields unpack(const ObjectDef& def, std::string_view packed) {
  Fields out;
  walk(packed, [&](unsigned char tag, std::string_view name, std::string_view value) {
    if (tag == kNamedTag) {
      out.emplace(std::string(name), std::string(value));
    } else if (tag < def.fields.size()) {
      out.emplace(def.fields[tag].name, std::string(value));
    }
    return true;
  });
  return out;
}

std::string_view packed_field(const ObjectDef& def, std::string_view packed,
                              std::string_view name) {
  const int i = field_index(def, name);
  std::string_view found;
  walk(packed, [&](unsigned char tag, std::string_view named, std::string_view value) {
    if ((i >= 0 && tag == i) || (tag == kNamedTag && named == name)) {
      found = value;
      return false;
    }
    return true;
  });
  return found;
}

// ---- Table ----------------------------------------------------------------------

const Selection& Table::selection(const Expr& filter, bool case_insensitive) {
  auto key = expr_key(filter, case_insensitive);
  ++uses;
  for (auto& s : selections) {
    if (s.key == key) {
      s.last_used = uses;
      return s;
    }
  }
  if (selections.size() >= kMaxSelections) {
    selections.erase(std::min_element(
        selections.begin(), selections.end(),
        [](const Selection& a, const Selection& b) { return a.last_used < b.last_used; }));
  }
  Selection s{std::move(key), filter, case_insensitive, {}, uses};
  for (const auto& [no, packed] : rows) {
    if (matches(filter, *def, PackedSource(*def, packed), case_insensitive)) {
      s.recordnos.push_back(no);
    }
  }
  s.recordnos.shrink_to_fit();
  selections.push_back(std::move(s));
  return selections.back();
}

// ---- Data -----------------------------------------------------------------------

Table& Data::table(const std::string& object) {
  auto& t = tables[object];
  if (t.def == nullptr) t.def = find_object(object);
  return t;
}

const Table* Data::find_table(const std::string& object) const {
  const auto t = tables.find(object);
  return t == tables.end() ? nullptr : &t->second;
}

bool Data::has(const std::string& object, std::int64_t recordno) const {
  const auto* t = find_table(object);
  return t != nullptr && t->rows.count(recordno) != 0;
}

std::optional<Fields> Data::get(const std::string& object, std::int64_t recordno) const {
  const auto* t = find_table(object);
  if (t == nullptr || t->def == nullptr) return std::nullopt;
  const auto r = t->rows.find(recordno);
  if (r == t->rows.end()) return std::nullopt;
  return unpack(*t->def, r->second);
}

std::string Data::value(const std::string& object, std::int64_t recordno,
                        std::string_view field) const {
  const auto* t = find_table(object);
  if (t == nullptr || t->def == nullptr) return {};
  const auto r = t->rows.find(recordno);
  if (r == t->rows.end()) return {};
  return std::string(packed_field(*t->def, r->second, field));
}

void Data::put(const std::string& object, std::int64_t recordno, const Fields& f) {
  auto& t = table(object);
  auto packed = pack(*t.def, f);
  for (auto& s : t.selections) {
    const bool in = matches(s.filter, *t.def, PackedSource(*t.def, packed), s.case_insensitive);
    const auto at = std::lower_bound(s.recordnos.begin(), s.recordnos.end(), recordno);
    const bool there = at != s.recordnos.end() && *at == recordno;
    if (in && !there) s.recordnos.insert(at, recordno);
    if (!in && there) s.recordnos.erase(at);
  }
  t.rows[recordno] = std::move(packed);
}

void Data::erase(const std::string& object, std::int64_t recordno) {
  auto& t = table(object);
  t.rows.erase(recordno);
  for (auto& s : t.selections) {
    const auto at = std::lower_bound(s.recordnos.begin(), s.recordnos.end(), recordno);
    if (at != s.recordnos.end() && *at == recordno) s.recordnos.erase(at);
  }
}

std::int64_t Data::by_id(const std::string& object, const std::string& id) const {
  if (object != "CUSTOMER" && object != "ARINVOICE") return 0;
  const auto& index = object == "CUSTOMER" ? customer_by_id : invoice_by_number;
  const auto it = index.find(id);
  return it == index.end() ? 0 : it->second;
}

void Data::rebuild_indexes() {
  customer_by_id.clear();
  invoice_by_number.clear();
  invoices_by_customer.clear();
  const auto& customers = table("CUSTOMER");
  for (const auto& [no, packed] : customers.rows) {
    customer_by_id[std::string(packed_field(*customers.def, packed, "CUSTOMERID"))] = no;
  }
  const auto& invoices = table("ARINVOICE");
  for (const auto& [no, packed] : invoices.rows) {
    invoice_by_number[std::string(packed_field(*invoices.def, packed, "RECORDID"))] = no;
    invoices_by_customer[std::string(packed_field(*invoices.def, packed, "CUSTOMERID"))].insert(no);
  }
  table("ARPYMT");
  for (auto& [object, t] : tables) t.selections.clear();
}

}  // namespace isync::sandbox::detail

// Evaluation of a parsed query (Expr) against a record: comparisons by the
// field's type, LIKE with % and _, case folding for caseinsensitive queries.
#include <cctype>

#include "sandbox/detail/query.hpp"

namespace isync::sandbox::detail {
namespace {

bool like(std::string_view s, std::string_view p) {
  // Iterative wildcard match: % any run, _ one character.
  std::size_t si = 0, pi = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && (p[pi] == '_' || p[pi] == s[si])) {
      ++si, ++pi;
    } else if (pi < p.size() && p[pi] == '%') {
      star = pi++;
      mark = si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

std::string fold(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

int compare_values(FieldType type, std::string_view a, std::string_view b, bool case_insensitive) {
  if (numeric(type)) {
    const auto x = parse_cents(a).value_or(0), y = parse_cents(b).value_or(0);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (temporal(type)) {
    const auto x = parse_intacct_time(a).value_or(0), y = parse_intacct_time(b).value_or(0);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const int c = case_insensitive ? fold(a).compare(fold(b)) : a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

bool matches(const Expr& e, const ObjectDef& def, const Fields& record, bool ci) {
  return matches(e, def, MapSource(record), ci);
}

bool matches(const Expr& e, const ObjectDef& def, const FieldSource& record, bool ci) {
  switch (e.kind) {
    case Expr::Kind::all:
      return true;
    case Expr::Kind::and_:
      for (const auto& c : e.children) {
        if (!matches(c, def, record, ci)) return false;
      }
      return true;
    case Expr::Kind::or_:
      for (const auto& c : e.children) {
        if (matches(c, def, record, ci)) return true;
      }
      return false;
    case Expr::Kind::not_:
      return !matches(e.children.front(), def, record, ci);
    case Expr::Kind::compare:
      break;
  }
  const std::string_view value = record.get(e.field);
  if (e.op == Op::is_null) return value.empty();
  if (e.op == Op::is_not_null) return !value.empty();
  if (value.empty()) return false;
  const FieldType type = def.field(e.field)->type;
  const auto cmp = [&](const std::string& lit) { return compare_values(type, value, lit, ci); };
  switch (e.op) {
    case Op::eq:
      return cmp(e.values[0]) == 0;
    case Op::ne:
      return cmp(e.values[0]) != 0;
    case Op::lt:
      return cmp(e.values[0]) < 0;
    case Op::gt:
      return cmp(e.values[0]) > 0;
    case Op::le:
      return cmp(e.values[0]) <= 0;
    case Op::ge:
      return cmp(e.values[0]) >= 0;
    case Op::between:
      return cmp(e.values[0]) >= 0 && cmp(e.values[1]) <= 0;
    case Op::in:
    case Op::not_in: {
      bool found = false;
      for (const auto& v : e.values) found = found || cmp(v) == 0;
      return e.op == Op::in ? found : !found;
    }
    case Op::like:
    case Op::not_like: {
      const bool m = ci ? like(fold(value), fold(e.values[0])) : like(value, e.values[0]);
      return e.op == Op::like ? m : !m;
    }
    default:
      return false;
  }
}

}  // namespace isync::sandbox::detail

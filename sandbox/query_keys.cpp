// A filter's conditions on RECORDNO taken apart (the key range a query
// ordered by RECORDNO slices from a selection) and a filter's canonical text
// (the selection's key).
#include <algorithm>

#include "sandbox/detail/query.hpp"

namespace isync::sandbox::detail {

namespace {

// RECORDNO literals are numbers (checked when parsed), compared as cents:
// the bounds below are the whole RECORDNOs satisfying `RECORDNO <op> x`.
std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// Narrows `r` by one condition on RECORDNO; false when it is not one the
// range can express (it then stays in the rest).
bool narrow(KeyRange& r, const Expr& e) {
  if (e.kind != Expr::Kind::compare || e.field != "RECORDNO" || e.values.size() != 1) return false;
  const auto x = parse_cents(e.values[0]);
  if (!x) return false;
  const std::int64_t fl = floor_div(*x, 100), ce = -floor_div(-*x, 100);
  switch (e.op) {
    case Op::gt:
      r.lo = std::max(r.lo, fl + 1);
      return true;
    case Op::ge:
      r.lo = std::max(r.lo, ce);
      return true;
    case Op::lt:
      r.hi = std::min(r.hi, ce - 1);
      return true;
    case Op::le:
      r.hi = std::min(r.hi, fl);
      return true;
    case Op::eq:
      if (*x % 100 != 0) {
        r.empty = true;
      } else {
        r.lo = std::max(r.lo, *x / 100);
        r.hi = std::min(r.hi, *x / 100);
      }
      return true;
    default:
      return false;
  }
}

void append_key(std::string& out, const Expr& e) {
  out += std::to_string(static_cast<int>(e.kind));
  out += '(';
  if (e.kind == Expr::Kind::compare) {
    out += std::to_string(e.field.size()) + ':' + e.field;
    out += std::to_string(static_cast<int>(e.op));
    for (const auto& v : e.values) out += ',' + std::to_string(v.size()) + ':' + v;
  }
  for (const auto& c : e.children) append_key(out, c);
  out += ')';
}

}  // namespace

KeyRange split_key_range(const Expr& filter) {
  KeyRange r;
  if (narrow(r, filter)) {
    r.rest = Expr{};
  } else if (filter.kind == Expr::Kind::and_) {
    std::vector<Expr> rest;
    for (const auto& c : filter.children) {
      if (!narrow(r, c)) rest.push_back(c);
    }
    if (rest.size() == 1) {
      r.rest = std::move(rest.front());
    } else if (rest.size() > 1) {
      r.rest = Expr{Expr::Kind::and_, std::move(rest), "", Op::eq, {}};
    }
  } else {
    r.rest = filter;
  }
  if (r.lo > r.hi) r.empty = true;
  return r;
}

std::string expr_key(const Expr& e, bool case_insensitive) {
  std::string out = case_insensitive ? "ci:" : "cs:";
  append_key(out, e);
  return out;
}

}  // namespace isync::sandbox::detail

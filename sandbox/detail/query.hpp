// Record filters: the readByQuery query text (PROTOCOL.md §3, "Ops < > >= <=
// = like, not like, in, not in, IS [NOT] NULL, AND, OR, NOT") and the query
// function's <filter> tree, both parsed into one Expr and evaluated against
// a record. Internal to the sandbox module.
#pragma once

#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/detail/model.hpp"

namespace pugi {
class xml_node;
}

namespace isync::sandbox::detail {

// Query text → Expr. Unknown fields, bad syntax and literals that do not fit
// the field's type are DL02000001 failures naming the problem.
std::optional<Failure> parse_query_text(std::string_view text, const ObjectDef& def, Expr& out);

// <filter> (its single child: and/or/equalto/...) → Expr; and/or need ≥ 2 children.
std::optional<Failure> parse_filter_xml(const pugi::xml_node& filter, const ObjectDef& def,
                                        Expr& out);

// Whether the record satisfies the expression. An empty field is NULL: it
// satisfies only IS NULL (and NOT of a comparison with it), as in SQL.
bool matches(const Expr& e, const ObjectDef& def, const FieldSource& record, bool case_insensitive);
bool matches(const Expr& e, const ObjectDef& def, const Fields& record, bool case_insensitive);

// A filter's conditions on RECORDNO taken apart: the rows it can match lie in
// [lo, hi] and must also match `rest` (`empty`: none can match).
struct KeyRange {
  std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  bool empty = false;
  Expr rest;
};
KeyRange split_key_range(const Expr& filter);

// Canonical text of a filter (the key of a Table's Selection).
std::string expr_key(const Expr& e, bool case_insensitive);

// Three-way comparison of two values of one field by its type (numbers and
// dates by value, text by bytes or case-folded). REQUIRES: both parse.
int compare_values(FieldType type, std::string_view a, std::string_view b, bool case_insensitive);

}  // namespace isync::sandbox::detail

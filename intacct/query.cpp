// The <query> function (PROTOCOL.md §3): select, object, filter tree,
// orderby, options, pagesize, offset.
//
// PROTOCOL.md shows one value per comparison; for `between`, `in` and
// `notin` the operands are repeated <value> elements (two for between), and
// `isnull`/`isnotnull` carry only <field>. Decided here, not confirmed by a
// primary source: verify against the sandbox/real gateway.
#include "intacct/detail/writer.hpp"
#include "intacct/detail/xml_util.hpp"

namespace isync::intacct::detail {
namespace {

constexpr int kMaxQueryPage = 2000;
// A filter nested deeper than this is a bug in the caller, not a query.
constexpr int kMaxFilterDepth = 32;

const char* op_element(Filter::Op op) {
  switch (op) {
    case Filter::Op::equalto:
      return "equalto";
    case Filter::Op::notequalto:
      return "notequalto";
    case Filter::Op::lessthan:
      return "lessthan";
    case Filter::Op::lessthanorequalto:
      return "lessthanorequalto";
    case Filter::Op::greaterthan:
      return "greaterthan";
    case Filter::Op::greaterthanorequalto:
      return "greaterthanorequalto";
    case Filter::Op::between:
      return "between";
    case Filter::Op::in:
      return "in";
    case Filter::Op::notin:
      return "notin";
    case Filter::Op::like:
      return "like";
    case Filter::Op::notlike:
      return "notlike";
    case Filter::Op::isnull:
      return "isnull";
    case Filter::Op::isnotnull:
      return "isnotnull";
    case Filter::Op::all_of:
      return "and";
    case Filter::Op::any_of:
      return "or";
  }
  return "equalto";
}

// How many values each operator takes: exactly `min` when `min == max`.
struct Arity {
  std::size_t min, max;
};

Arity arity(Filter::Op op) {
  switch (op) {
    case Filter::Op::between:
      return {2, 2};
    case Filter::Op::in:
    case Filter::Op::notin:
      return {1, SIZE_MAX};
    case Filter::Op::isnull:
    case Filter::Op::isnotnull:
    case Filter::Op::all_of:
    case Filter::Op::any_of:
      return {0, 0};
    default:
      return {1, 1};
  }
}

void write_filter(Writer& w, pugi::xml_node parent, const Filter& f, int depth) {
  const char* name = op_element(f.op);
  if (depth > kMaxFilterDepth) {
    w.fail("the filter is nested deeper than 32 levels");
    return;
  }
  auto node = parent.append_child(name);
  if (f.op == Filter::Op::all_of || f.op == Filter::Op::any_of) {
    if (f.children.size() < 2) {
      w.fail(std::string("<") + name + "> needs at least two conditions, has " +
             std::to_string(f.children.size()));
    }
    if (!f.field.empty() || !f.values.empty()) {
      w.fail(std::string("<") + name + "> takes conditions, not a field or values");
    }
    for (const auto& child : f.children) write_filter(w, node, child, depth + 1);
    return;
  }
  if (!f.children.empty()) w.fail(std::string("<") + name + "> cannot hold conditions");
  if (trim(f.field).empty()) w.fail(std::string("<") + name + "> has no field");
  auto [min, max] = arity(f.op);
  if (f.values.size() < min || f.values.size() > max) {
    w.fail(std::string("<") + name + "> on " + f.field + " has " + std::to_string(f.values.size()) +
           " values");
  }
  w.text(node, "field", f.field);
  for (const auto& v : f.values) w.text(node, "value", v);
}

}  // namespace

void write_query(Writer& w, pugi::xml_node parent, const Query& q) {
  auto node = parent.append_child("query");
  if (q.select.empty()) w.fail("query needs at least one select field");
  auto select = node.append_child("select");
  for (const auto& field : q.select) {
    if (trim(field).empty() || field.find('*') != std::string::npos) {
      w.fail("select field " + quoted(field) + " is empty or a wildcard; name the fields");
    }
    w.text(select, "field", field);
  }
  if (!is_element_name(q.object)) w.fail("object " + quoted(q.object) + " is not valid");
  w.text(node, "object", q.object);
  if (!q.docparid.empty()) w.text(node, "docparid", q.docparid);
  if (q.filter) write_filter(w, node.append_child("filter"), *q.filter, 0);
  if (!q.order_by.empty()) {
    auto orderby = node.append_child("orderby");
    for (const auto& o : q.order_by) {
      if (trim(o.field).empty()) w.fail("an orderby entry has no field");
      auto order = orderby.append_child("order");
      w.text(order, "field", o.field);
      order.append_child(o.ascending ? "ascending" : "descending");
    }
  }
  if (q.case_insensitive || q.show_private) {
    auto options = node.append_child("options");
    if (q.case_insensitive) w.text(options, "caseinsensitive", "true");
    if (q.show_private) w.text(options, "showprivate", "true");
  }
  if (q.pagesize < 1 || q.pagesize > kMaxQueryPage) {
    w.fail("query pagesize " + std::to_string(q.pagesize) + " is outside 1-2000");
  }
  w.text(node, "pagesize", std::to_string(q.pagesize));
  if (q.offset < 0) w.fail("query offset " + std::to_string(q.offset) + " is negative");
  if (q.offset > 0) w.text(node, "offset", std::to_string(q.offset));
}

}  // namespace isync::intacct::detail

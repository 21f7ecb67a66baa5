// The writing functions of PROTOCOL.md §3 (create, update, delete) and the
// legacy reverse_arpayment of §4.
#include "sandbox/detail/gateway_functions.hpp"

namespace isync::sandbox::detail {
namespace {

constexpr std::size_t kMaxWriteObjects = 100;  // objects in one create/update (sandbox cap)

// ---- create / update / delete --------------------------------------------------

void flatten(const pugi::xml_node& node, const std::string& prefix, Fields& out) {
  std::size_t detail_index = 0;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    const std::string name = child.name();
    const bool has_elements =
        child.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; });
    if (prefix == "ARPYMTDETAILS." && name == "ARPYMTDETAIL") {
      flatten(child, prefix + name + "." + std::to_string(detail_index++) + ".", out);
    } else if (has_elements) {
      flatten(child, prefix + name + ".", out);
    } else {
      out[prefix + name] = text_of(child);
    }
  }
}

void write_key_row(pugi::xml_node data, const ObjectDef& def, const Fields& rec) {
  auto row = data.append_child(lower(def.name).c_str());
  add_text(row, "RECORDNO", rec.at("RECORDNO"));
  if (!def.id_field.empty()) add_text(row, def.id_field.c_str(), rec.at(def.id_field));
}

// Objects are written one by one; those written before a failure stay
// written and are listed in <data> (fixtures/result-failure-duplicate-...).

// ---- reverse_arpayment (legacy) ----------------------------------------------

constexpr std::size_t kMaxMemo = 1000;  // <memo> characters (sandbox cap)

// <datereversed><year/><month/><day/></datereversed> as MM/DD/YYYY, or "".
std::string legacy_date(const pugi::xml_node& node) {
  const auto year = text_of(node.child("year")), month = text_of(node.child("month")),
             day = text_of(node.child("day"));
  if (year.size() != 4 || month.empty() || month.size() > 2 || day.empty() || day.size() > 2) {
    return {};
  }
  const auto pad = [](const std::string& v) { return v.size() == 1 ? "0" + v : v; };
  auto text = pad(month) + "/" + pad(day) + "/" + year;
  return parse_intacct_time(text) ? text : std::string{};
}

// <reverse_arpayment key="RECORDNO"><datereversed>..</datereversed><memo/>
// [PROTOCOL.md §4]: the payment stays, reversed; see sandbox.hpp.

}  // namespace

std::optional<Failure> write_objects(FunctionRun& run, const pugi::xml_node& fn,
                                     pugi::xml_node result, bool create) {
  std::vector<pugi::xml_node> objects;
  for (auto child : fn.children()) {
    if (child.type() == pugi::node_element) objects.push_back(child);
  }
  if (objects.empty()) return bad_request(std::string(fn.name()) + " needs at least one object.");
  if (objects.size() > kMaxWriteObjects) {
    return bad_request("At most 100 objects per " + std::string(fn.name()) + ".",
                       "Split the objects over functions.");
  }
  auto data = result.append_child("data");
  data.append_attribute("listtype") = "objects";
  std::size_t count = 0;
  std::optional<Failure> failure;
  for (const auto& obj : objects) {
    const ObjectDef* def = find_object(obj.name());
    std::optional<Failure> bad;
    Fields in, out;
    if (def == nullptr) {
      bad = unknown_object(obj.name());
    } else {
      flatten(obj, "", in);
      bad = create ? create_record(run.ctx, *def, in, out) : update_record(run.ctx, *def, in, out);
    }
    if (bad) {
      if (failure) {
        failure->then.push_back(*bad);
      } else {
        failure = std::move(bad);
      }
      continue;
    }
    write_key_row(data, *def, out);
    ++count;
  }
  set_count(data, "count", count);
  return failure;
}

std::optional<Failure> delete_function(FunctionRun& run, const pugi::xml_node& fn,
                                       pugi::xml_node result) {
  const ObjectDef* def = nullptr;
  if (auto bad = object_of(fn, def)) return bad;
  const auto keys = split_list(text_of(fn.child("keys")));
  if (keys.empty()) return bad_request("delete needs <keys>.");
  if (keys.size() > kMaxKeys) {
    return bad_request("delete accepts at most 100 keys; " + std::to_string(keys.size()) +
                       " were sent.");
  }
  std::vector<std::int64_t> nos;
  for (const auto& key : keys) {
    const auto no = parse_int(key).value_or(0);
    if (!run.ctx.data.has(def->name, no)) return not_found(def->name, shorten(key, 64));
    nos.push_back(no);
  }
  auto data = result.append_child("data");
  data.append_attribute("listtype") = "objects";
  std::size_t count = 0;
  for (const auto no : nos) {
    if (auto bad = delete_record(run.ctx, *def, no)) {
      set_count(data, "count", count);
      return bad;
    }
    add_text(data.append_child(lower(def->name).c_str()), "RECORDNO", std::to_string(no));
    ++count;
  }
  set_count(data, "count", count);
  return std::nullopt;
}

std::optional<Failure> reverse_arpayment(FunctionRun& run, const pugi::xml_node& fn,
                                         pugi::xml_node result) {
  const auto key_attr = fn.attribute("key");
  if (!key_attr) {
    return reversal_failure("reverse_arpayment needs a key attribute.",
                            "Send key=\"RECORDNO\" of the ARPYMT to reverse.");
  }
  const std::string key = key_attr.as_string();
  const auto no = parse_int(key);
  if (!no || *no <= 0) {
    return reversal_failure("AR payment key '" + shorten(key, 64) + "' is not a RECORDNO.",
                            "Send key=\"RECORDNO\" of the ARPYMT to reverse.");
  }
  const auto date = legacy_date(fn.child("datereversed"));
  if (date.empty()) {
    return reversal_failure(
        "<datereversed> needs <year>, <month> and <day> of a valid date.",
        "Send <datereversed><year>YYYY</year><month>MM</month><day>DD</day></datereversed>.");
  }
  if (text_of(fn.child("memo")).size() > kMaxMemo) {
    return reversal_failure("<memo> is longer than 1000 characters.", "Shorten the memo.");
  }
  if (auto bad = reverse_payment_record(run.ctx, *no, date)) return bad;
  add_text(result, "key", std::to_string(*no));
  return std::nullopt;
}

}  // namespace isync::sandbox::detail

// The functions of PROTOCOL.md §3 that read (getAPISession, read,
// readByName, readByQuery, readMore, query), the helpers every function
// shares, and the dispatch; the writes are in gateway_writes.cpp.
#include "sandbox/detail/gateway_functions.hpp"

#include <algorithm>
#include <cctype>

#include "sandbox/detail/gateway.hpp"
#include "sandbox/detail/ops.hpp"
#include "sandbox/detail/query.hpp"

namespace isync::sandbox::detail {

Failure bad_request(const std::string& description2, const std::string& correction) {
  return {"DL02000001",    "There was an error processing the request.",
          description2,    correction,
          "invalid_value", {}};
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t\r\n"));
    item.erase(item.find_last_not_of(" \t\r\n") + 1);
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

std::optional<Failure> object_of(const pugi::xml_node& fn, const ObjectDef*& def) {
  const auto name = text_of(fn.child("object"));
  if (name.empty()) return bad_request("<object> is required.", "Name the object, e.g. CUSTOMER.");
  def = find_object(to_upper(name));
  if (def == nullptr) return unknown_object(name);
  return std::nullopt;
}

void set_count(pugi::xml_node data, const char* name, std::size_t n) {
  data.append_attribute(name) = static_cast<unsigned long long>(n);
}

namespace {

// `*` (or nothing) = every field; otherwise each must exist on the object.
std::optional<Failure> field_list(const std::string& text, const ObjectDef& def,
                                  std::vector<std::string>& out) {
  out.clear();
  auto items = split_list(text);
  if (items.empty() || (items.size() == 1 && items[0] == "*")) return std::nullopt;
  for (auto& item : items) {
    item = to_upper(item);
    if (def.field(item) == nullptr) return unknown_field(def.name, item);
    out.push_back(item);
  }
  return std::nullopt;
}

std::optional<Failure> page_size(const pugi::xml_node& node, std::int64_t max, std::int64_t& out) {
  out = 100;  // default for readByQuery and query [PROTOCOL.md §3]
  if (!node) return std::nullopt;
  const auto v = parse_int(text_of(node));
  if (!v || *v < 1 || *v > max) {
    return bad_request("pagesize must be between 1 and " + std::to_string(max) + ".",
                       "Send a pagesize from 1 to " + std::to_string(max) + ".");
  }
  out = *v;
  return std::nullopt;
}

// readByQuery rows do not come in RECORDNO order in Intacct (PROTOCOL.md
// §3): the sandbox orders them by a fixed scramble of RECORDNO, so a client
// that cursors on RECORDNO instead of using resultId fails here too.
std::uint64_t scramble(std::int64_t recordno) {
  auto z = static_cast<std::uint64_t>(recordno) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// ---- getAPISession -------------------------------------------------------------

std::optional<Failure> get_api_session(FunctionRun& run, const pugi::xml_node& fn,
                                       pugi::xml_node result) {
  auto location = run.location_id;
  if (const auto node = fn.child("locationid"))
    location = text_of(node);  // <locationid/> = top level
  const auto id = run.s.random_token(30) + "..";
  run.s.sessions[id] = {
      location, run.ctx.now_ms + std::int64_t{run.s.options.session_duration.count()} * 1000};
  auto api = result.append_child("data").append_child("api");
  add_text(api, "sessionid", id);
  add_text(api, "endpoint", run.s.options.endpoint_url);
  add_text(api, "locationid", location);
  return std::nullopt;
}

// ---- read / readByName ---------------------------------------------------------

std::optional<Failure> read(FunctionRun& run, const pugi::xml_node& fn, pugi::xml_node result,
                            bool by_name) {
  const ObjectDef* def = nullptr;
  if (auto bad = object_of(fn, def)) return bad;
  std::vector<std::string> fields;
  if (auto bad = field_list(text_of(fn.child("fields")), *def, fields)) return bad;
  const auto keys = split_list(text_of(fn.child("keys")));
  if (keys.size() > kMaxKeys) {
    return bad_request(
        "read accepts at most 100 keys; " + std::to_string(keys.size()) + " were sent.",
        "Split the keys over several read functions.");
  }
  if (by_name && def->id_field.empty())
    return bad_request("readByName is not available for " + def->name + ".");
  auto data = result.append_child("data");
  data.append_attribute("listtype") = def->name.c_str();
  auto count_attr = data.append_attribute("count");
  std::size_t count = 0;
  const auto& table = run.ctx.data.table(def->name);
  for (const auto& key : keys) {
    // Missing keys are simply absent from the answer (PROTOCOL.md §10 q4).
    const auto no = by_name ? run.ctx.data.by_id(def->name, key) : parse_int(key).value_or(0);
    const auto it = table.rows.find(no);
    if (it == table.rows.end()) continue;
    write_row(data, def->name, *def, std::string_view(it->second), fields);
    ++count;
  }
  count_attr = static_cast<unsigned long long>(count);
  if (run.count_reads) run.s.stats.records_read += static_cast<std::int64_t>(count);
  return std::nullopt;
}

// ---- readByQuery / readMore ----------------------------------------------------

void write_page(FunctionRun& run, CompanyState::ResultSet& set, const std::string& result_id,
                std::int64_t pagesize, pugi::xml_node result) {
  const ObjectDef& def = *find_object(set.object);
  auto data = result.append_child("data");
  data.append_attribute("listtype") = lower(def.name).c_str();
  const auto& table = run.ctx.data.table(def.name);
  const auto element = lower(def.name);
  std::size_t count = 0;
  const auto end = std::min(set.recordnos.size(), set.next + static_cast<std::size_t>(pagesize));
  for (; set.next < end; ++set.next) {
    const auto it = table.rows.find(set.recordnos[set.next]);
    if (it == table.rows.end()) continue;  // deleted since the snapshot
    write_row(data, element, def, std::string_view(it->second), set.fields);
    ++count;
  }
  const auto remaining = set.recordnos.size() - set.next;
  set_count(data, "count", count);
  set_count(data, "totalcount", set.recordnos.size());
  set_count(data, "numremaining", remaining);
  data.append_attribute("resultId") = result_id.c_str();
  if (run.count_reads) run.s.stats.records_read += static_cast<std::int64_t>(count);
}

std::optional<Failure> read_by_query(FunctionRun& run, const pugi::xml_node& fn,
                                     pugi::xml_node result) {
  const ObjectDef* def = nullptr;
  if (auto bad = object_of(fn, def)) return bad;
  CompanyState::ResultSet set;
  set.object = def->name;
  if (auto bad = field_list(text_of(fn.child("fields")), *def, set.fields)) return bad;
  Expr filter;
  if (auto bad = parse_query_text(text_of(fn.child("query")), *def, filter)) return bad;
  std::int64_t pagesize = 0;
  if (auto bad = page_size(fn.child("pagesize"), 1000, pagesize)) return bad;
  set.pagesize = pagesize;
  for (const auto& [no, rec] : run.ctx.data.table(def->name).rows) {
    if (matches(filter, *def, PackedSource(*def, rec), false)) set.recordnos.push_back(no);
  }
  std::sort(set.recordnos.begin(), set.recordnos.end(),
            [](std::int64_t a, std::int64_t b) { return scramble(a) < scramble(b); });
  std::string id;
  if (set.recordnos.size() > static_cast<std::size_t>(pagesize)) id = run.s.random_token(34);
  write_page(run, set, id, pagesize, result);
  if (!id.empty()) {
    set.expires_ms = run.ctx.now_ms + run.s.options.result_id_lifetime.count() * 60 * 1000;
    run.s.result_sets.emplace(id, std::move(set));
  }
  return std::nullopt;
}

// An unknown or expired resultId: Intacct's answer is not documented
// (PROTOCOL.md §3, "resultId lifetime undocumented"). The sandbox answers
// DL02000001, Intacct's code for a failed query result, naming the resultId.
std::optional<Failure> read_more(FunctionRun& run, const pugi::xml_node& fn,
                                 pugi::xml_node result) {
  const auto id = text_of(fn.child("resultId"));
  const auto it = run.s.result_sets.find(id);
  if (id.empty() || it == run.s.result_sets.end() || it->second.expires_ms <= run.ctx.now_ms) {
    if (it != run.s.result_sets.end()) run.s.result_sets.erase(it);
    return bad_request("resultId '" + shorten(id, 64) + "' is unknown or has expired.",
                       "Run readByQuery again.");
  }
  write_page(run, it->second, id, it->second.pagesize, result);
  it->second.expires_ms = run.ctx.now_ms + run.s.options.result_id_lifetime.count() * 60 * 1000;
  if (it->second.next >= it->second.recordnos.size()) {
    run.s.result_sets.erase(it);
  }
  return std::nullopt;
}

// ---- query -------------------------------------------------------------------

std::optional<Failure> query(FunctionRun& run, const pugi::xml_node& fn, pugi::xml_node result) {
  const ObjectDef* def = nullptr;
  if (auto bad = object_of(fn, def)) return bad;
  std::vector<std::string> select;
  for (auto f : fn.child("select").children()) {
    if (f.type() != pugi::node_element) continue;
    if (std::string_view(f.name()) != "field") {
      return bad_request("<select><" + shorten(f.name(), 32) + "> is not supported by the sandbox.",
                         "Select plain <field>s.");
    }
    const auto name = to_upper(text_of(f));
    if (name == "*")
      return bad_request("query does not accept '*' in <select>.", "List the fields to return.");
    if (def->field(name) == nullptr) return unknown_field(def->name, name);
    select.push_back(name);
  }
  if (select.empty()) return bad_request("query needs <select> with at least one <field>.");
  const bool ci = text_of(fn.child("options").child("caseinsensitive")) == "true";
  Expr filter;
  if (auto bad = parse_filter_xml(fn.child("filter"), *def, filter)) return bad;
  struct Order {
    std::string field;
    FieldType type;
    bool descending;
  };
  std::vector<Order> orders;
  for (auto o : fn.child("orderby").children("order")) {
    const auto name = to_upper(text_of(o.child("field")));
    const FieldDef* f = def->field(name);
    if (f == nullptr) return unknown_field(def->name, name);
    orders.push_back({name, f->type, static_cast<bool>(o.child("descending"))});
  }
  std::int64_t pagesize = 0;
  if (auto bad = page_size(fn.child("pagesize"), 2000, pagesize)) return bad;
  std::int64_t offset = 0;
  if (const auto node = fn.child("offset")) {
    const auto v = parse_int(text_of(node));
    if (!v) return bad_request("offset must be a whole number ≥ 0.");
    offset = *v;
  }
  auto& table = run.ctx.data.table(def->name);
  // The rows of the page, in order, and how many match in all.
  std::vector<const std::string*> rows;
  std::size_t total = 0;
  if (orders.size() == 1 && orders[0].field == "RECORDNO" && !orders[0].descending) {
    // Ordered by RECORDNO (as a client paging by key asks): the filter's
    // RECORDNO bounds select a slice of the rest's selection, so a page
    // costs a binary search and its rows, not a scan and a sort.
    const KeyRange range = split_key_range(filter);
    if (!range.empty) {
      const auto& nos = table.selection(range.rest, ci).recordnos;
      const auto from = std::lower_bound(nos.begin(), nos.end(), range.lo);
      const auto to = std::upper_bound(from, nos.end(), range.hi);
      total = static_cast<std::size_t>(to - from);
      const auto skip = std::min(total, static_cast<std::size_t>(offset));
      const auto take = std::min(total - skip, static_cast<std::size_t>(pagesize));
      for (auto it = from + static_cast<std::ptrdiff_t>(skip);
           it != from + static_cast<std::ptrdiff_t>(skip + take); ++it) {
        rows.push_back(&table.rows.at(*it));
      }
    }
  } else {
    std::vector<const std::string*> all;
    for (const auto& [no, rec] : table.rows) {
      if (matches(filter, *def, PackedSource(*def, rec), ci)) all.push_back(&rec);
    }
    const auto value = [&](const std::string* r, const std::string& k) {
      return packed_field(*def, *r, k);
    };
    // Without <orderby>, rows come in the same scrambled order as readByQuery.
    std::stable_sort(all.begin(), all.end(), [&](const std::string* a, const std::string* b) {
      for (const auto& o : orders) {
        const auto x = value(a, o.field), y = value(b, o.field);
        int c = x.empty() || y.empty() ? (x.empty() ? (y.empty() ? 0 : -1) : 1)
                                       : compare_values(o.type, x, y, ci);
        if (o.descending) c = -c;
        if (c != 0) return c < 0;
      }
      return scramble(parse_int(value(a, "RECORDNO")).value_or(0)) <
             scramble(parse_int(value(b, "RECORDNO")).value_or(0));
    });
    total = all.size();
    const auto first = std::min(total, static_cast<std::size_t>(offset));
    const auto last = std::min(total, first + static_cast<std::size_t>(pagesize));
    rows.assign(all.begin() + static_cast<std::ptrdiff_t>(first),
                all.begin() + static_cast<std::ptrdiff_t>(last));
  }
  auto data = result.append_child("data");
  data.append_attribute("listtype") = def->name.c_str();
  const auto first = std::min(total, static_cast<std::size_t>(offset));
  set_count(data, "totalcount", total);
  data.append_attribute("offset") = static_cast<long long>(offset);
  set_count(data, "count", rows.size());
  set_count(data, "numremaining", total - first - rows.size());
  for (const auto* r : rows) write_row(data, def->name, *def, std::string_view(*r), select);
  if (run.count_reads) run.s.stats.records_read += static_cast<std::int64_t>(rows.size());
  return std::nullopt;
}

// A read the Web Services user has no permission for. PROTOCOL.md §5 gives
// only the text ("You do not have permission for API .." at the result
// level, permanent) and no errorno: the sandbox sends Intacct's generic
// BL01001973 with the text in description2.
Failure permission_denied(const std::string& object) {
  Failure f;
  f.errorno = "BL01001973";
  f.description = "Could not read records!";
  f.description2 = "You do not have permission for API operation READ on objects of type " +
                   (object.empty() ? std::string("this object") : lower(shorten(object, 64))) + ".";
  f.correction =
      "Ask a company administrator to give the Web Services user List and View "
      "permission on this object.";
  return f;
}

}  // namespace

bool is_known_function(std::string_view name) {
  static const char* const kNames[] = {
      "getAPISession", "read",   "readByName", "readByQuery", "readMore",
      "query",         "create", "update",     "delete",      "reverse_arpayment"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

std::optional<Failure> run_function(FunctionRun& run, const pugi::xml_node& fn,
                                    pugi::xml_node result) {
  const std::string_view name = fn.name();
  const bool reads = name == "read" || name == "readByName" || name == "readByQuery" ||
                     name == "readMore" || name == "query";
  if (reads) {
    // readMore names no object: its resultId's result set does.
    std::string object = to_upper(text_of(fn.child("object")));
    if (name == "readMore") {
      const auto it = run.s.result_sets.find(text_of(fn.child("resultId")));
      if (it != run.s.result_sets.end()) object = it->second.object;
    }
    if (run.s.faults.deny_reads > 0) {
      --run.s.faults.deny_reads;
      run.s.count_fault("deny_reads");
      return permission_denied(object);
    }
    if (!object.empty() && run.s.faults.deny_read_objects.count(object) != 0) {
      run.s.count_fault("deny_read_objects");
      return permission_denied(object);
    }
  }
  if (name == "getAPISession") return get_api_session(run, fn, result);
  if (name == "read") return read(run, fn, result, false);
  if (name == "readByName") return read(run, fn, result, true);
  if (name == "readByQuery") return read_by_query(run, fn, result);
  if (name == "readMore") return read_more(run, fn, result);
  if (name == "query") return query(run, fn, result);
  if (name == "create") return write_objects(run, fn, result, true);
  if (name == "update") return write_objects(run, fn, result, false);
  if (name == "reverse_arpayment") return reverse_arpayment(run, fn, result);
  return delete_function(run, fn, result);
}

}  // namespace isync::sandbox::detail

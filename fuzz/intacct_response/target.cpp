// Fuzz target: Intacct gateway replies (intacct::parse_response).
//
// Each input is one reply body, read as a 200 (content type ignored), as a
// 401 that says it is XML and as a 503 HTML page: parse_response's behaviour
// depends on the status only through "2xx or not" and on the content type
// only through "XML or not", so these three cover every path while a reply
// kept from a finding replays byte for byte. Invariants beyond "no crash"
// (and bounded time, which libFuzzer's -timeout checks):
//  * a reply parses or is "malformed_response"; a non-2xx reply that is not
//    XML carries only its status;
//  * each row keeps every value: its field names are unique, one per leaf
//    element of the row (re-counted here from the XML), and a repeated name
//    KEY is stored as KEY, KEY[1], KEY[2], … without gaps.
#include <cstddef>
#include <cstdint>
#include <pugixml.hpp>
#include <set>
#include <string>
#include <string_view>

#include "fuzz/check.hpp"
#include "intacct/intacct.hpp"

namespace {

namespace ii = isync::intacct;

// The flattening depth of intacct/response.cpp: deeper elements are one leaf.
constexpr int kMaxRowDepth = 16;

std::size_t leaves(const pugi::xml_node& node, int depth) {
  std::size_t n = 0;
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    bool nested = child.find_child([](pugi::xml_node c) { return c.type() == pugi::node_element; });
    n += nested && depth < kMaxRowDepth ? leaves(child, depth + 1) : 1;
  }
  return n;
}

void check_row(const ii::Row& row, const pugi::xml_node& element) {
  FUZZ_CHECK(row.element == element.name(), row.element);
  FUZZ_CHECK(row.fields.size() == leaves(element, 0), row.element);
  std::set<std::string> names;
  for (const auto& [name, value] : row.fields) {
    FUZZ_CHECK(names.insert(name).second, name);
    FUZZ_CHECK(row.get(name) == &value, name);
    if (name.empty() || name.back() != ']') continue;
    auto open = name.rfind('[');
    FUZZ_CHECK(open != std::string::npos && open > 0, name);
    const std::string base = name.substr(0, open);
    const std::string digits = name.substr(open + 1, name.size() - open - 2);
    FUZZ_CHECK(!digits.empty() && digits.size() <= 9 && digits.front() != '0', name);
    const long index = std::stol(digits);
    FUZZ_CHECK(row.fields.contains(base), name);
    FUZZ_CHECK(index == 1 || row.fields.contains(base + "[" + std::to_string(index - 1) + "]"),
               name);
  }
}

// Rows against the XML they came from: results and rows in document order.
void check_rows(const ii::Response& r, std::string_view body) {
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size(), pugi::parse_default)) return;
  auto result = doc.child("response").child("operation").children("result").begin();
  for (const auto& fr : r.results) {
    const auto node = *result++;
    if (!fr.data) continue;
    auto rows = fr.data->rows.begin();
    for (auto child : node.child("data").children()) {
      if (child.type() != pugi::node_element) continue;
      FUZZ_CHECK(rows != fr.data->rows.end(), "fewer rows than elements");
      check_row(*rows++, child);
    }
    FUZZ_CHECK(rows == fr.data->rows.end(), "more rows than elements");
  }
}

void check(int status, std::string_view content_type, std::string_view body, bool rows) {
  auto r = ii::parse_response(status, content_type, body);
  if (!r) {
    FUZZ_CHECK(r.error().code == "malformed_response", r.error().code);
    FUZZ_CHECK(r.error().message.size() <= 512, r.error().message.substr(0, 200));
    return;
  }
  FUZZ_CHECK(r->http_status == status, std::to_string(r->http_status));
  const bool ok = status >= 200 && status < 300;
  if (ok) FUZZ_CHECK(r->has_body, "a 2xx reply parsed without a body");
  if (!r->has_body) {
    FUZZ_CHECK(!ok, "no body");
    FUZZ_CHECK(r->results.empty() && !r->authentication && r->control_errors.empty(),
               "a reply without a body has results");
  }
  if (rows && r->has_body) check_rows(*r, body);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = isync::fuzz::as_text(data, size);
  check(200, "text/xml", body, true);
  check(401, "application/xml; charset=UTF-8", body, false);
  check(503, "text/html", body, false);
  return 0;
}

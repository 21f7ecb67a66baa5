// Gateway XML -> Response (PROTOCOL.md §1 "Response & failure levels").
#include <charconv>
#include <pugixml.hpp>
#include <unordered_map>

#include "intacct/detail/xml_util.hpp"
#include "intacct/intacct.hpp"

namespace isync::intacct {
namespace {

using detail::iequals;
using detail::trim;

// Deeper rows than this are not Intacct records; flattening stops there.
constexpr int kMaxRowDepth = 16;

Error malformed(std::string why) {
  return make_error("malformed_response", "the Intacct reply is not a gateway response: " + why);
}

std::string child_text(pugi::xml_node node, const char* name) {
  return std::string(trim(node.child(name).child_value()));
}

std::optional<Status> read_status(pugi::xml_node node) {
  auto text = trim(node.child("status").child_value());
  if (text == "success") return Status::success;
  if (text == "failure") return Status::failure;
  if (text == "aborted") return Status::aborted;
  return std::nullopt;
}

std::vector<ErrorDetail> read_errors(pugi::xml_node errormessage) {
  std::vector<ErrorDetail> out;
  for (auto e : errormessage.children("error")) {
    out.push_back(ErrorDetail{child_text(e, "errorno"), child_text(e, "description"),
                              child_text(e, "description2"), child_text(e, "correction")});
  }
  return out;
}

std::optional<std::int64_t> read_int(pugi::xml_node node, const char* attribute) {
  auto attr = node.attribute(attribute);
  if (!attr) return std::nullopt;
  std::string_view text = trim(attr.value());
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> read_stamp(pugi::xml_node auth, const char* name) {
  auto node = auth.child(name);
  if (!node) return std::nullopt;
  auto seconds = parse_whenmodified(trim(node.child_value()));
  if (!seconds) return std::nullopt;
  return *seconds;
}

// Same-named children keep Intacct's order as KEY, KEY[1], KEY[2], …. `next`
// holds each key's next index, so the n-th duplicate costs O(1), not n
// look-ups (a row of thousands of same-named children stays linear).
using NextIndex = std::unordered_map<std::string, int>;

void put(Row& row, NextIndex& next, std::string key, std::string value) {
  int& n = next[key];
  if (n == 0) {
    n = 1;
    row.fields.emplace(std::move(key), std::move(value));
    return;
  }
  // Element names cannot hold '[', so an indexed key is only ever made here
  // and the loop runs once; it stays a loop so nothing is ever overwritten.
  for (;; ++n) {
    auto indexed = key + "[" + std::to_string(n) + "]";
    if (!row.fields.contains(indexed)) {
      ++n;
      row.fields.emplace(std::move(indexed), std::move(value));
      return;
    }
  }
}

void flatten(Row& row, NextIndex& next, pugi::xml_node node, const std::string& prefix, int depth) {
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    std::string key = prefix.empty() ? child.name() : prefix + "." + child.name();
    if (child.find_child([](pugi::xml_node n) { return n.type() == pugi::node_element; }) &&
        depth < kMaxRowDepth) {
      flatten(row, next, child, key, depth + 1);
    } else {
      put(row, next, std::move(key), child.text().get());
    }
  }
}

Data read_data(pugi::xml_node node) {
  Data data;
  data.listtype = node.attribute("listtype").value();
  data.count = read_int(node, "count");
  data.totalcount = read_int(node, "totalcount");
  data.numremaining = read_int(node, "numremaining");
  data.offset = read_int(node, "offset");
  if (auto attr = node.attribute("resultId")) data.result_id = attr.value();
  for (auto child : node.children()) {
    if (child.type() != pugi::node_element) continue;
    Row row;
    row.element = child.name();
    NextIndex next;
    flatten(row, next, child, "", 0);
    data.rows.push_back(std::move(row));
  }
  return data;
}

Result<FunctionResult> read_result(pugi::xml_node node) {
  FunctionResult r;
  auto status = read_status(node);
  if (!status) return malformed("a <result> has no success/failure/aborted status");
  r.status = *status;
  r.function = child_text(node, "function");
  r.control_id = child_text(node, "controlid");
  if (auto data = node.child("data")) {
    r.data = read_data(data);
    if (auto api = data.child("api")) {
      r.api_session = ApiSession{Secret(child_text(api, "sessionid")), child_text(api, "endpoint"),
                                 child_text(api, "locationid")};
    }
  }
  if (auto key = node.child("key")) r.key = std::string(trim(key.child_value()));
  r.errors = read_errors(node.child("errormessage"));
  return r;
}

Result<AuthenticationResult> read_authentication(pugi::xml_node node, pugi::xml_node operation) {
  AuthenticationResult a;
  auto status = read_status(node);
  if (!status || *status == Status::aborted) {
    return malformed("<authentication> has no success/failure status");
  }
  a.status = *status;
  a.user_id = child_text(node, "userid");
  a.company_id = child_text(node, "companyid");
  a.location_id = child_text(node, "locationid");
  a.session_timestamp = read_stamp(node, "sessiontimestamp");
  a.session_timeout = read_stamp(node, "sessiontimeout");
  a.errors = read_errors(operation.child("errormessage"));
  return a;
}

bool is_xml_content_type(std::string_view content_type) {
  auto media = trim(content_type.substr(0, content_type.find(';')));
  return iequals(media, "text/xml") || iequals(media, "application/xml");
}

}  // namespace

const std::string* Row::get(std::string_view name) const {
  auto it = fields.find(std::string(name));
  return it == fields.end() ? nullptr : &it->second;
}

std::vector<const Row*> Data::rows_of(std::string_view object) const {
  std::vector<const Row*> out;
  for (const auto& row : rows) {
    if (iequals(row.element, object)) out.push_back(&row);
  }
  return out;
}

const FunctionResult* Response::result(std::string_view function_control_id) const {
  for (const auto& r : results) {
    if (r.control_id == function_control_id) return &r;
  }
  return nullptr;
}

Result<Response> parse_response(int http_status, std::string_view content_type,
                                std::string_view body) {
  Response out;
  out.http_status = http_status;
  const bool ok_status = http_status >= 200 && http_status < 300;
  // Non-2xx replies are read only when they say they are XML (the SDKs do
  // the same); whatever else they carry (HTML error pages) is not ours.
  if (!ok_status && (!is_xml_content_type(content_type) || trim(body).empty())) return out;

  pugi::xml_document doc;
  // pugixml has no DTD processing: a DOCTYPE is skipped unread and custom
  // entities are never expanded, so no entity expansion or external fetch.
  auto parsed = doc.load_buffer(body.data(), body.size(), pugi::parse_default);
  auto root = doc.child("response");
  if (!parsed || !root) {
    // A non-2xx reply whose XML is unreadable is classified by its status.
    if (!ok_status) return out;
    if (!parsed) {
      return malformed(std::string(parsed.description()) + " at offset " +
                       std::to_string(parsed.offset));
    }
    return malformed("the root element is not <response>");
  }
  auto control = root.child("control");
  auto control_status = read_status(control);
  if (!control || !control_status || *control_status == Status::aborted) {
    if (!ok_status) return out;
    return malformed("<control> has no success/failure status");
  }
  out.has_body = true;
  out.control_status = *control_status;
  out.control_id = child_text(control, "controlid");
  out.control_errors = read_errors(root.child("errormessage"));

  auto operation = root.child("operation");
  if (!operation) return out;
  if (auto auth = operation.child("authentication")) {
    auto a = read_authentication(auth, operation);
    if (!a) return a.error();
    out.authentication = std::move(*a);
  }
  for (auto node : operation.children("result")) {
    auto r = read_result(node);
    if (!r) return r.error();
    out.results.push_back(std::move(*r));
  }
  return out;
}

std::optional<std::int64_t> session_expiry_ms(const Response& response, std::int64_t local_now_ms,
                                              std::optional<std::int64_t> previous_ms) {
  const auto& auth = response.authentication;
  if (!auth || !auth->session_timestamp || !auth->session_timeout) return previous_ms;
  return local_now_ms + (*auth->session_timeout - *auth->session_timestamp) * 1000;
}

}  // namespace isync::intacct

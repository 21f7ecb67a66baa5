// Request -> gateway XML (PROTOCOL.md §1 and §3). pugixml does all escaping.
#include <sstream>
#include <type_traits>

#include "intacct/detail/writer.hpp"
#include "intacct/detail/xml_util.hpp"
#include "intacct/intacct.hpp"

namespace isync::intacct {
namespace detail {

pugi::xml_node Writer::text(pugi::xml_node parent, const char* name, std::string_view value) {
  if (has_forbidden_char(value)) fail(std::string("<") + name + "> holds a control character");
  auto node = parent.append_child(name);
  // An empty value is written as <name/>, as PROTOCOL.md shows <locationid/>.
  if (!value.empty()) node.text().set(std::string(value).c_str());
  return node;
}

void Writer::secret(pugi::xml_node parent, const char* name, const Secret& value) {
  if (redact_) {
    parent.append_child(name).text().set("***");
    return;
  }
  text(parent, name, value.reveal());
}

pugi::xml_node Writer::element(pugi::xml_node parent, std::string_view name) {
  return parent.append_child(std::string(name).c_str());
}

void Writer::fail(std::string why) {
  if (!problem_.empty()) return;
  problem_ = context_.empty() ? std::move(why) : context_ + ": " + why;
}

}  // namespace detail

namespace {

using detail::Writer;

// The documented caps: read/delete take at most 100 keys per call, pages of
// readByQuery at most 1000 rows (PROTOCOL.md §3).
constexpr std::size_t kMaxKeys = 100;
constexpr int kMaxReadByQueryPage = 1000;
constexpr std::size_t kMaxControlId = 256;

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += ',';
    out += p;
  }
  return out;
}

void check_object(Writer& w, std::string_view object) {
  if (!detail::is_element_name(object)) {
    w.fail("object " + detail::quoted(object) + " is not a valid object name");
  }
}

void check_keys(Writer& w, const std::vector<std::string>& keys) {
  if (keys.empty()) w.fail("no keys given (1 to 100 per call)");
  if (keys.size() > kMaxKeys) {
    w.fail(std::to_string(keys.size()) + " keys given; at most 100 per call, split the call");
  }
  for (const auto& k : keys) {
    if (k.empty() || k.find(',') != std::string::npos) {
      w.fail("key " + detail::quoted(k) + " is empty or contains a comma");
    }
  }
}

std::string fields_text(const std::vector<std::string>& fields) {
  return fields.empty() ? std::string("*") : join(fields);
}

void write_fields(Writer& w, pugi::xml_node parent, const std::vector<Field>& fields) {
  for (const auto& f : fields) {
    if (!detail::is_element_name(f.name)) {
      w.fail("field name " + detail::quoted(f.name) + " is not a valid element name");
      return;
    }
    if (f.children.empty()) {
      w.text(parent, f.name.c_str(), f.value);
    } else {
      if (!f.value.empty())
        w.fail("group " + detail::quoted(f.name) + " has both a value and children");
      write_fields(w, w.element(parent, f.name), f.children);
    }
  }
}

void write_record(Writer& w, pugi::xml_node fn, const char* verb, const std::string& object,
                  const std::vector<Field>& fields) {
  check_object(w, object);
  if (fields.empty()) w.fail(std::string(verb) + " of " + object + " has no fields");
  if (w.failed()) return;
  write_fields(w, w.element(fn.append_child(verb), object), fields);
}

void write_legacy(Writer& w, pugi::xml_node fn, const Legacy& c) {
  if (!detail::is_element_name(c.name)) {
    w.fail("function name " + detail::quoted(c.name) + " is not a valid element name");
    return;
  }
  auto node = w.element(fn, c.name);
  for (const auto& [name, value] : c.attributes) {
    if (!detail::is_element_name(name)) {
      w.fail("attribute name " + detail::quoted(name) + " is not a valid XML name");
      return;
    }
    if (node.attribute(name.c_str())) {
      w.fail("attribute " + detail::quoted(name) + " is given twice");
      return;
    }
    if (detail::has_forbidden_char(value)) {
      w.fail("attribute " + detail::quoted(name) + " holds a control character");
      return;
    }
    node.append_attribute(name.c_str()).set_value(value.c_str());
  }
  write_fields(w, node, c.children);
}

void write_call(Writer& w, pugi::xml_node fn, const Call& call) {
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, GetApiSession>) {
          auto node = fn.append_child("getAPISession");
          if (c.location_id) w.text(node, "locationid", *c.location_id);
        } else if constexpr (std::is_same_v<T, Read>) {
          check_object(w, c.object);
          check_keys(w, c.keys);
          auto node = fn.append_child("read");
          w.text(node, "object", c.object);
          w.text(node, "keys", join(c.keys));
          w.text(node, "fields", fields_text(c.fields));
          w.text(node, "returnFormat", "xml");
          if (!c.docparid.empty()) w.text(node, "docparid", c.docparid);
        } else if constexpr (std::is_same_v<T, ReadByQuery>) {
          check_object(w, c.object);
          if (c.pagesize < 1 || c.pagesize > kMaxReadByQueryPage) {
            w.fail("readByQuery pagesize " + std::to_string(c.pagesize) + " is outside 1-1000");
          }
          auto node = fn.append_child("readByQuery");
          w.text(node, "object", c.object);
          w.text(node, "fields", fields_text(c.fields));
          w.text(node, "query", c.query);
          w.text(node, "pagesize", std::to_string(c.pagesize));
        } else if constexpr (std::is_same_v<T, ReadMore>) {
          if (c.result_id.empty()) w.fail("readMore needs the resultId of a readByQuery");
          w.text(fn.append_child("readMore"), "resultId", c.result_id);
        } else if constexpr (std::is_same_v<T, Query>) {
          detail::write_query(w, fn, c);
        } else if constexpr (std::is_same_v<T, Create>) {
          write_record(w, fn, "create", c.object, c.fields);
        } else if constexpr (std::is_same_v<T, Update>) {
          write_record(w, fn, "update", c.object, c.fields);
        } else if constexpr (std::is_same_v<T, Delete>) {
          check_object(w, c.object);
          check_keys(w, c.keys);
          auto node = fn.append_child("delete");
          w.text(node, "object", c.object);
          w.text(node, "keys", join(c.keys));
        } else if constexpr (std::is_same_v<T, Legacy>) {
          write_legacy(w, fn, c);
        }
      },
      call);
}

void check_control_id(Writer& w, const std::string& id, std::string_view what) {
  if (id.empty() || id.size() > kMaxControlId) {
    w.fail(std::string(what) + " controlid must be 1 to 256 characters");
  }
}

// Builds the document; `w.problem()` says why when the request is invalid.
void build(Writer& w, pugi::xml_document& doc, const Request& r) {
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version").set_value("1.0");
  decl.append_attribute("encoding").set_value("UTF-8");
  auto root = doc.append_child("request");

  auto control = root.append_child("control");
  if (r.sender_id.empty()) w.fail("the sender id is empty");
  w.text(control, "senderid", r.sender_id);
  w.secret(control, "password", r.sender_password);
  check_control_id(w, r.control_id, "the request");
  w.text(control, "controlid", r.control_id);
  w.text(control, "uniqueid", r.unique_id ? "true" : "false");
  w.text(control, "dtdversion", "3.0");
  w.text(control, "includewhitespace", "false");

  auto operation = root.append_child("operation");
  operation.append_attribute("transaction").set_value(r.transaction ? "true" : "false");
  auto auth = operation.append_child("authentication");
  if (const auto* login = std::get_if<Login>(&r.auth)) {
    auto node = auth.append_child("login");
    w.text(node, "userid", login->user_id);
    w.text(node, "companyid", login->company_id);
    w.secret(node, "password", login->password);
    if (!login->location_id.empty()) w.text(node, "locationid", login->location_id);
  } else {
    const auto& session = std::get<SessionId>(r.auth);
    if (session.session_id.empty()) w.fail("the session id is empty");
    w.secret(auth, "sessionid", session.session_id);
  }

  if (r.functions.empty()) w.fail("the request has no function");
  auto content = operation.append_child("content");
  std::vector<std::string_view> seen;
  for (const auto& f : r.functions) {
    std::string what = "function " + std::string(function_name(f.call));
    check_control_id(w, f.control_id, what);
    for (auto id : seen) {
      if (id == f.control_id) w.fail("two functions share controlid " + detail::quoted(id));
    }
    seen.push_back(f.control_id);
    auto fn = content.append_child("function");
    fn.append_attribute("controlid").set_value(f.control_id.c_str());
    w.set_context(what + " (controlid " + detail::quoted(f.control_id) + ")");
    write_call(w, fn, f.call);
    w.set_context({});
    if (w.failed()) return;
  }
}

std::string save(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
  return out.str();
}

}  // namespace

Filter where(Filter::Op op, std::string field, std::vector<std::string> values) {
  return Filter{op, std::move(field), std::move(values), {}};
}
Filter all_of(std::vector<Filter> children) {
  return Filter{Filter::Op::all_of, {}, {}, std::move(children)};
}
Filter any_of(std::vector<Filter> children) {
  return Filter{Filter::Op::any_of, {}, {}, std::move(children)};
}
Field leaf(std::string name, std::string value) {
  return Field{std::move(name), std::move(value), {}};
}
Field group(std::string name, std::vector<Field> children) {
  return Field{std::move(name), {}, std::move(children)};
}

Result<std::string> to_xml(const Request& request) {
  Writer w(false);
  pugi::xml_document doc;
  build(w, doc, request);
  if (w.failed()) return make_error("invalid_request", w.problem());
  // Error is constructible from strings too, so say which side this is.
  return Result<std::string>(boost::system::in_place_value, save(doc));
}

std::string describe(const Request& request) {
  Writer w(true);
  pugi::xml_document doc;
  build(w, doc, request);
  if (w.failed()) return "invalid request: " + w.problem();
  return save(doc);
}

std::string_view function_name(const Call& call) {
  if (const auto* legacy = std::get_if<Legacy>(&call)) return legacy->name;
  constexpr std::string_view kNames[] = {"getAPISession", "read",   "readByQuery", "readMore",
                                         "query",         "create", "update",      "delete"};
  return kNames[call.index()];
}

bool is_write(const Call& call) {
  return std::holds_alternative<Create>(call) || std::holds_alternative<Update>(call) ||
         std::holds_alternative<Delete>(call) ||
         (std::holds_alternative<Legacy>(call) && std::get<Legacy>(call).write);
}

}  // namespace isync::intacct

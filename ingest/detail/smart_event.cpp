#include "ingest/detail/smart_event.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <pugixml.hpp>
#include <set>

#include "core/json.hpp"
#include "ingest/detail/text.hpp"

namespace isync::ingest::detail {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_lower(c);
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_upper(c);
  return out;
}

// ASCII case-insensitive equality, without building lower-cased copies.
bool iless(std::string_view a, std::string_view b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return ascii_lower(x) < ascii_lower(y);
  });
}

// Values and names quoted in messages are cut so one bad field cannot make a
// megabyte error body.
std::string quoted(std::string_view s) { return '"' + shorten(s, 64) + '"'; }

Error malformed(std::string message) { return make_error("malformed_body", std::move(message)); }
Error invalid(std::string message) { return make_error("invalid_field", std::move(message)); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Shared caps, checked while decoding so an oversized body stops early.
Result<void> check_count(const Fields& fields) {
  if (fields.size() >= kMaxFields) {
    return malformed("the body has more than " + std::to_string(kMaxFields) + " fields");
  }
  return {};
}

Result<void> check_name(std::string_view name) {
  if (name.empty()) return malformed("a field has an empty name");
  if (name.size() > kMaxNameLength) {
    return malformed("field name " + quoted(name) + " is longer than " +
                     std::to_string(kMaxNameLength) + " characters");
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return invalid("field name " + quoted(name) +
                     " may hold only letters, digits, '_', '.' and '-'");
    }
  }
  return {};
}

Result<std::string> parse_recordno(std::string_view raw) {
  std::string_view s = trim(raw);
  auto bad = [&] {
    return invalid("field \"recordno\" must be a positive integer, not " + quoted(raw));
  };
  if (s.empty()) return bad();
  for (char c : s) {
    if (c < '0' || c > '9') return bad();
  }
  while (s.size() > 1 && s.front() == '0') s.remove_prefix(1);
  if (s == "0") return bad();
  static const std::string kMax = std::to_string(std::numeric_limits<std::int64_t>::max());
  if (s.size() > kMax.size() || (s.size() == kMax.size() && s > std::string_view(kMax))) {
    return invalid("field \"recordno\" " + quoted(raw) + " is too large for a record number");
  }
  return Result<std::string>(boost::system::in_place_value, s);
}

}  // namespace

std::optional<BodyEncoding> body_encoding(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string_view media = trim(content_type.substr(0, semi));
  if (iequals(media, "application/x-www-form-urlencoded")) return BodyEncoding::form;
  if (iequals(media, "application/json")) return BodyEncoding::json;
  if (iequals(media, "application/xml") || iequals(media, "text/xml")) return BodyEncoding::xml;
  return std::nullopt;
}

std::optional<std::string> form_unescape(std::string_view s) {
  // Most names and values hold neither: one copy, no per-byte appends.
  if (std::none_of(s.begin(), s.end(), [](char c) { return c == '+' || c == '%'; })) {
    return std::string(s);
  }
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]);
      int lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<Fields> decode_form(std::string_view body) {
  Fields fields;
  fields.reserve(std::min<std::size_t>(
      kMaxFields, 1 + static_cast<std::size_t>(std::count(body.begin(), body.end(), '='))));
  std::size_t pos = 0;
  while (pos <= body.size()) {
    // The separators, found with one pass (find_first_of searches the set
    // for every byte).
    std::size_t end = pos;
    while (end < body.size() && body[end] != '&' && body[end] != '\r' && body[end] != '\n') ++end;
    std::string_view pair = body.substr(pos, end - pos);
    pos = end + 1;
    // Blank lines and empty pairs ("a=1&&b=2", a trailing newline) carry nothing.
    if (trim(pair).empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return malformed("pair " + quoted(pair) + " has no '='");
    }
    auto name = form_unescape(pair.substr(0, eq));
    if (!name) return malformed("field name " + quoted(pair.substr(0, eq)) + " has a bad %-escape");
    auto value = form_unescape(pair.substr(eq + 1));
    if (!value) return malformed("field " + quoted(*name) + " has a bad %-escape in its value");
    if (auto r = check_count(fields); !r) return r.error();
    fields.emplace_back(std::move(*name), std::move(*value));
  }
  return fields;
}

Result<Fields> decode_json(std::string_view body) {
  // Numbers as strings: snapshot values are kept exactly as written.
  auto parsed = json::parse(body, {.numbers_as_strings = true});
  if (!parsed) return parsed.error();
  const rapidjson::Document& doc = *parsed;
  if (!doc.IsObject()) return malformed("the JSON body must be one object");
  Fields fields;
  for (const auto& m : doc.GetObject()) {
    std::string name(m.name.GetString(), m.name.GetStringLength());
    if (!m.value.IsString()) {
      return invalid("field " + quoted(name) + " must be a string or a number");
    }
    if (auto r = check_count(fields); !r) return r.error();
    fields.emplace_back(std::move(name),
                        std::string(m.value.GetString(), m.value.GetStringLength()));
  }
  return fields;
}

Result<Fields> decode_xml(std::string_view body) {
  pugi::xml_document doc;
  // parse_doctype keeps a DOCTYPE node so it can be refused; pugixml never
  // expands custom entities, and refusing any DTD rules out entity tricks.
  // parse_fragment keeps text outside the root as nodes (a whole-document
  // parse drops it silently), so trailing bytes can be refused.
  constexpr unsigned kFlags = pugi::parse_default | pugi::parse_doctype | pugi::parse_fragment;
  auto res = doc.load_buffer(body.data(), body.size(), kFlags);
  if (!res) {
    return malformed(std::string("the XML body does not parse: ") + res.description() +
                     " at offset " + std::to_string(res.offset));
  }
  pugi::xml_node root;
  for (auto node : doc.children()) {
    switch (node.type()) {
      case pugi::node_doctype:
        return malformed("the XML body has a DOCTYPE; DTDs are not accepted");
      case pugi::node_element:
        if (root) return malformed("the XML body has content after the <event> element");
        root = node;
        break;
      case pugi::node_declaration:
        if (root) return malformed("the XML body has content after the <event> element");
        break;
      case pugi::node_pcdata:
        if (trim(node.value()).empty()) break;
        if (root) return malformed("the XML body has content after the <event> element");
        return malformed("the XML body has content outside the <event> element");
      default:
        return malformed("the XML body has content outside the <event> element");
    }
  }
  if (!root || lower(root.name()) != "event") {
    return malformed("the XML body must have <event> as its root element");
  }
  Fields fields;
  for (auto child : root.children()) {
    if (child.type() == pugi::node_pcdata || child.type() == pugi::node_cdata) {
      if (!trim(child.value()).empty()) {
        return malformed("<event> has text outside its field elements");
      }
      continue;
    }
    if (child.type() != pugi::node_element) continue;
    std::string name = child.name();
    std::string value;
    for (auto part : child.children()) {
      if (part.type() == pugi::node_pcdata || part.type() == pugi::node_cdata) {
        value += part.value();
      } else if (part.type() == pugi::node_element) {
        return invalid("field " + quoted(name) + " must be flat text, not nested elements");
      }
    }
    if (auto r = check_count(fields); !r) return r.error();
    fields.emplace_back(std::move(name), std::move(value));
  }
  return fields;
}

namespace {

// The field rules shared by smart events and triggers. `trigger`: `action`
// is optional (absent = set) and `company` is taken out into `company`.
// The names' checks, in the fields' order: the first bad name or repeated
// name (any case) is the error.
Result<void> check_names(const Fields& decoded) {
  std::set<std::string> seen;
  for (const auto& [name, value] : decoded) {
    if (auto r = check_name(name); !r) return r.error();
    if (!seen.insert(lower(name)).second) {
      return malformed("field " + quoted(name) + " appears more than once");
    }
  }
  return {};
}

// True when every name is valid and none repeats: the common case, checked
// without a set or lower-cased copies. Otherwise check_names finds the error.
bool names_fine(const Fields& decoded) {
  std::array<std::string_view, kMaxFields> names;
  std::size_t n = 0;
  for (const auto& [name, value] : decoded) {
    if (n == names.size() || !check_name(name)) return false;
    names[n++] = name;
  }
  std::sort(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(n), iless);
  for (std::size_t i = 1; i < n; ++i) {
    if (iequals(names[i - 1], names[i])) return false;
  }
  return true;
}

Result<SmartEvent> validate_fields(Fields& decoded, bool trigger,
                                   std::optional<std::string>* company) {
  if (!names_fine(decoded)) {
    if (auto r = check_names(decoded); !r) return r.error();
  }

  SmartEvent ev;
  ev.snapshot.reserve(decoded.size());
  std::optional<std::string> object, action, recordno, whenmodified;
  for (auto& [name, value] : decoded) {
    if (iequals(name, "object")) {
      object = std::move(value);
    } else if (iequals(name, "action")) {
      action = std::move(value);
    } else if (iequals(name, "recordno")) {
      recordno = std::move(value);
    } else if (iequals(name, "whenmodified")) {
      whenmodified = std::move(value);
    } else if (trigger && iequals(name, "company")) {
      *company = std::string(trim(value));
    } else {
      for (auto& c : name) c = ascii_upper(c);
      ev.snapshot.emplace_back(std::move(name), std::move(value));
    }
  }

  if (!object) return invalid("field \"object\" is required");
  ev.object = upper(trim(*object));
  if (ev.object != "CUSTOMER" && ev.object != "ARINVOICE" && ev.object != "ARPYMT") {
    return invalid("field \"object\" must be CUSTOMER, ARINVOICE or ARPYMT, not " +
                   quoted(*object));
  }
  if (!action && trigger) action = "set";
  if (!action) return invalid("field \"action\" is required");
  ev.action = lower(trim(*action));
  if (ev.action != "add" && ev.action != "set" && ev.action != "delete") {
    return invalid("field \"action\" must be add, set or delete, not " + quoted(*action));
  }
  if (!recordno) return invalid("field \"recordno\" is required");
  auto key = parse_recordno(*recordno);
  if (!key) return key.error();
  ev.recordno = std::move(*key);
  if (!whenmodified) return invalid("field \"whenmodified\" is required");
  ev.whenmodified = std::string(trim(*whenmodified));
  auto version = parse_whenmodified(ev.whenmodified);
  if (!version) {
    return invalid("field \"whenmodified\" " + quoted(ev.whenmodified) +
                   " is not a date: expected MM/DD/YYYY HH:MM:SS, MM/DD/YYYY or ISO-8601");
  }
  ev.version = *version;
  std::sort(ev.snapshot.begin(), ev.snapshot.end());
  return ev;
}

}  // namespace

Result<SmartEvent> parse_smart_event(std::string_view content_type, std::string_view body) {
  auto encoding = body_encoding(content_type);
  if (!encoding) {
    return make_error("unsupported_media_type",
                      "Content-Type " + quoted(content_type) +
                          " is not accepted; send application/x-www-form-urlencoded, "
                          "application/json or application/xml");
  }
  Result<Fields> decoded = *encoding == BodyEncoding::form   ? decode_form(body)
                           : *encoding == BodyEncoding::json ? decode_json(body)
                                                             : decode_xml(body);
  if (!decoded) return decoded.error();
  return validate_fields(*decoded, false, nullptr);
}

TriggerMedia trigger_media(std::string_view content_type) {
  auto semi = content_type.find(';');
  std::string media = lower(trim(content_type.substr(0, semi)));
  if (media.empty() || media == "application/json" || media.ends_with("+json") ||
      media.starts_with("text/")) {
    return TriggerMedia::json;
  }
  if (media == "application/x-www-form-urlencoded" || media.starts_with("multipart/")) {
    return TriggerMedia::refused;
  }
  return TriggerMedia::unusual;
}

Result<TriggerBody> parse_trigger_body(std::string_view body) {
  auto decoded = decode_json(body);
  if (!decoded) return decoded.error();
  TriggerBody out;
  auto ev = validate_fields(*decoded, true, &out.company);
  if (!ev) return ev.error();
  out.event = std::move(*ev);
  return out;
}

}  // namespace isync::ingest::detail

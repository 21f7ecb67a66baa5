// Response XML, always written through pugixml so every value is escaped.
#include <algorithm>
#include <sstream>

#include "sandbox/detail/gateway.hpp"

namespace isync::sandbox::detail {

pugi::xml_node start_response(pugi::xml_document& doc) {
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  return doc.append_child("response");
}

std::string to_text(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "", pugi::format_raw, pugi::encoding_utf8);
  return out.str();
}

void add_text(pugi::xml_node parent, const char* name, const std::string& value) {
  parent.append_child(name).text().set(value.c_str());
}

void add_error(pugi::xml_node errormessage, const Failure& f) {
  auto error = errormessage.append_child("error");
  add_text(error, "errorno", f.errorno);
  add_text(error, "description", f.description);
  add_text(error, "description2", f.description2);
  add_text(error, "correction", f.correction);
  for (const auto& then : f.then) add_error(errormessage, then);
}

pugi::xml_node add_errors(pugi::xml_node parent, const Failure& f) {
  auto errormessage = parent.append_child("errormessage");
  add_error(errormessage, f);
  return errormessage;
}

std::string text_of(const pugi::xml_node& node) {
  std::string_view s = node.text().get();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

namespace {

void write_field(pugi::xml_node row, std::string_view name, const std::string& value) {
  pugi::xml_node parent = row;
  std::size_t dot;
  while ((dot = name.find('.')) != std::string_view::npos) {
    const std::string group(name.substr(0, dot));
    auto child = parent.child(group.c_str());
    parent = child ? child : parent.append_child(group.c_str());
    name.remove_prefix(dot + 1);
  }
  parent.append_child(std::string(name).c_str()).text().set(value.c_str());
}

void write_details(pugi::xml_node row, const Fields& record) {
  std::map<std::int64_t, std::vector<std::pair<std::string, std::string>>> by_index;
  for (auto it = record.lower_bound(std::string(kDetailPrefix));
       it != record.end() && is_detail_field(it->first); ++it) {
    const auto rest = std::string_view(it->first).substr(kDetailPrefix.size());
    const auto dot = rest.find('.');
    by_index[parse_int(rest.substr(0, dot)).value_or(0)].emplace_back(
        std::string(rest.substr(dot + 1)), it->second);
  }
  auto details = row.append_child("ARPYMTDETAILS");
  for (auto& [index, leaves] : by_index) {
    auto detail = details.append_child("ARPYMTDETAIL");
    // RECORDKEY before TRX_PAYMENTAMOUNT, as in PROTOCOL.md §4's example.
    std::sort(leaves.begin(), leaves.end());
    for (const auto& [leaf, value] : leaves) add_text(detail, leaf.c_str(), value);
  }
}

}  // namespace

void write_row(pugi::xml_node parent, const std::string& element, const ObjectDef& def,
               const Fields& record, const std::vector<std::string>& fields) {
  auto row = parent.append_child(element.c_str());
  const auto value = [&](const std::string& name) {
    const auto it = record.find(name);
    return it == record.end() ? std::string{} : it->second;
  };
  if (fields.empty()) {
    for (const auto& f : def.fields) write_field(row, f.name, value(f.name));
    if (def.name == "ARPYMT") write_details(row, record);
    return;
  }
  for (const auto& name : fields) write_field(row, name, value(name));
}

void write_row(pugi::xml_node parent, const std::string& element, const ObjectDef& def,
               std::string_view packed, const std::vector<std::string>& fields) {
  if (fields.empty()) return write_row(parent, element, def, unpack(def, packed), fields);
  auto row = parent.append_child(element.c_str());
  for (const auto& name : fields)
    write_field(row, name, std::string(packed_field(def, packed, name)));
}

}  // namespace isync::sandbox::detail

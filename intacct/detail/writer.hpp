// The request writer's internals: one pass over a Request that appends
// elements to a pugixml tree and records the first rule the request breaks.
#pragma once

#include <pugixml.hpp>
#include <string>
#include <string_view>

#include "intacct/intacct.hpp"

namespace isync::intacct::detail {

class Writer {
 public:
  // `redact`: write `***` in place of every Secret (the log form).
  explicit Writer(bool redact) : redact_(redact) {}

  // Appends <name>value</name>. A value XML cannot carry is a problem.
  pugi::xml_node text(pugi::xml_node parent, const char* name, std::string_view value);
  // Appends <name>secret</name>, or <name>***</name> when redacting.
  void secret(pugi::xml_node parent, const char* name, const Secret& value);
  // Appends <name/> holding nothing.
  pugi::xml_node element(pugi::xml_node parent, std::string_view name);

  // Records why the request is invalid (the first reason wins), prefixed
  // with the context set last (the function being written).
  void fail(std::string why);
  void set_context(std::string context) { context_ = std::move(context); }
  bool failed() const { return !problem_.empty(); }
  const std::string& problem() const { return problem_; }

 private:
  bool redact_;
  std::string context_;
  std::string problem_;
};

// Appends the <query> element of a Query call (query.cpp).
void write_query(Writer& w, pugi::xml_node parent, const Query& query);

}  // namespace isync::intacct::detail

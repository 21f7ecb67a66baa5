// The gateway's internals: response XML helpers and the functions of
// PROTOCOL.md §3 run against the company. Internal to the sandbox module.
//
// Thread rules: callers hold CompanyState::mu.
#pragma once

#include <optional>
#include <pugixml.hpp>
#include <string>
#include <vector>

#include "sandbox/detail/state.hpp"

namespace isync::sandbox::detail {

// ---- XML ---------------------------------------------------------------------

// A new document with the declaration and an empty <response>.
pugi::xml_node start_response(pugi::xml_document& doc);
std::string to_text(const pugi::xml_document& doc);
// <errormessage> with the failure's <error> and its follow-ups.
pugi::xml_node add_errors(pugi::xml_node parent, const Failure& f);
void add_error(pugi::xml_node errormessage, const Failure& f);
void add_text(pugi::xml_node parent, const char* name, const std::string& value);
// One row: `fields` in order (empty = every field of the object, then the
// ARPYMT details); a dotted name is written nested (<DISPLAYCONTACT><EMAIL1>).
void write_row(pugi::xml_node parent, const std::string& element, const ObjectDef& def,
               const Fields& record, const std::vector<std::string>& fields);
// The same from a packed record (only the named fields are unpacked).
void write_row(pugi::xml_node parent, const std::string& element, const ObjectDef& def,
               std::string_view packed, const std::vector<std::string>& fields);
// Element text with surrounding whitespace trimmed.
std::string text_of(const pugi::xml_node& node);

// ---- authentication ----------------------------------------------------------

// The authentication level (PROTOCOL.md §2). On success writes the
// <authentication> block and returns the caller's entity; on failure writes
// the auth failure (no <result>) and returns nothing.
std::optional<std::string> authenticate(CompanyState& s, const pugi::xml_node& auth,
                                        std::int64_t now, pugi::xml_node operation);

// ---- functions ---------------------------------------------------------------

struct FunctionRun {
  CompanyState& s;
  WriteContext& ctx;
  std::string location_id;  // the caller's entity (login or session)
  bool count_reads = true;  // false while a deferred write is replayed
};

inline bool is_write_function(std::string_view name) {
  return name == "create" || name == "update" || name == "delete" || name == "reverse_arpayment";
}
bool is_known_function(std::string_view name);

// Runs one function (the element inside <function>) and writes its <data>
// into `result`; returns the failure when it failed (a create may have
// written <data> for the objects that were created before it failed).
std::optional<Failure> run_function(FunctionRun& run, const pugi::xml_node& fn,
                                    pugi::xml_node result);

}  // namespace isync::sandbox::detail

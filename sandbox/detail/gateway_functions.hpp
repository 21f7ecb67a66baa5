// Shared by the sandbox's gateway functions (gateway_functions.cpp: reads,
// helpers and the dispatch; gateway_writes.cpp: create, update, delete and
// reverse_arpayment). Internal to sandbox/.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sandbox/detail/gateway.hpp"
#include "sandbox/detail/ops.hpp"

namespace isync::sandbox::detail {

inline constexpr std::size_t kMaxKeys = 100;  // read/delete keys [PROTOCOL.md §3, PHP Read.php]

// DL02000001 "There was an error processing the request." with `description2`.
Failure bad_request(const std::string& description2, const std::string& correction = "");
std::string lower(std::string s);
// A comma-separated list, each item trimmed, empty items dropped.
std::vector<std::string> split_list(const std::string& text);
// The function's <object>, or the failure naming why it is not one.
std::optional<Failure> object_of(const pugi::xml_node& fn, const ObjectDef*& def);
// Sets the <data> attribute `name` to `n`.
void set_count(pugi::xml_node data, const char* name, std::size_t n);

// create (create = true) / update of up to 100 objects.
std::optional<Failure> write_objects(FunctionRun& run, const pugi::xml_node& fn,
                                     pugi::xml_node result, bool create);
std::optional<Failure> delete_function(FunctionRun& run, const pugi::xml_node& fn,
                                       pugi::xml_node result);
std::optional<Failure> reverse_arpayment(FunctionRun& run, const pugi::xml_node& fn,
                                         pugi::xml_node result);

}  // namespace isync::sandbox::detail

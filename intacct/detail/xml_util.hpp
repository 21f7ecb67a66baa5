// Small helpers shared by the request writer and the response reader.
#pragma once

#include <string>
#include <string_view>

namespace isync::intacct::detail {

// ASCII case-insensitive equality (Intacct's row element case varies).
bool iequals(std::string_view a, std::string_view b);

// True for names usable as an element name: [A-Za-z_][A-Za-z0-9_.-]*.
// Stricter than XML allows (no non-ASCII, no colon), which is every object
// and field name Intacct documents.
bool is_element_name(std::string_view name);

// True when `text` holds a character XML 1.0 cannot carry (C0 controls other
// than tab, LF and CR); pugixml would write it raw and break the document.
bool has_forbidden_char(std::string_view text);

// Text with surrounding ASCII whitespace removed.
std::string_view trim(std::string_view text);

// `text` in double quotes, cut at 80 characters, for error messages.
std::string quoted(std::string_view text);

}  // namespace isync::intacct::detail

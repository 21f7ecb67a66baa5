// Smart-event bodies (PRODUCT.md §1 "Smart event body"): the three flat
// encodings Intacct's HTTP-post action can send, decoded into one shape.
//
// Rules shared by every encoding:
//  * Field names are case-insensitive; two fields whose names differ only in
//    case are a duplicate, and a duplicate is malformed_body.
//  * At most kMaxFields fields, each name at most kMaxNameLength characters
//    and made of letters, digits, '_', '.' and '-' (Intacct field names).
//  * `object` is CUSTOMER | ARINVOICE | ARPYMT (any case; kept upper-case).
//  * `action` is add | set | delete (any case; kept lower-case).
//  * `recordno` is a positive decimal integer that fits int64. Surrounding
//    blanks are trimmed; a sign, inner blanks or any other character is
//    invalid; leading zeros are accepted and dropped ("007" is record 7), so
//    one record always has one key.
//  * `whenmodified` is required, blanks trimmed, parsed by
//    isync::parse_whenmodified; an unparseable value is invalid_field.
//  * Every other field is a snapshot field: name upper-cased, value exactly
//    as given. The snapshot is sorted by name.
// Errors: unsupported_media_type (415), malformed_body and invalid_field (400),
// each message naming the field or what is wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/core.hpp"

namespace isync::ingest::detail {

inline constexpr std::size_t kMaxFields = 200;
inline constexpr std::size_t kMaxNameLength = 128;

enum class BodyEncoding { form, json, xml };

// Matches the media type of a Content-Type header value (case-insensitive,
// parameters such as charset allowed). nullopt = not accepted (415).
std::optional<BodyEncoding> body_encoding(std::string_view content_type);

struct SmartEvent {
  std::string object;                                         // CUSTOMER | ARINVOICE | ARPYMT
  std::string action;                                         // add | set | delete
  std::string recordno;                                       // canonical decimal, no leading zeros
  std::int64_t version = 0;                                   // whenmodified as UTC epoch seconds
  std::string whenmodified;                                   // as given, blanks trimmed
  std::vector<std::pair<std::string, std::string>> snapshot;  // sorted by name
};

Result<SmartEvent> parse_smart_event(std::string_view content_type, std::string_view body);

// A Platform Trigger's body: its document template rendered by Intacct, read
// as JSON whatever the Content-Type (see trigger_media). The rules above,
// except that `action` is optional (absent = set; "delete" only when the body
// says so) and `company` is no snapshot field: it is returned apart, blanks
// trimmed, for the route to compare with the tenant's company_id.
struct TriggerBody {
  SmartEvent event;
  std::optional<std::string> company;
};
Result<TriggerBody> parse_trigger_body(std::string_view body);

// How a trigger's Content-Type is taken: json (none, application/json,
// *+json, text/*), refused (a form or multipart type: 415), unusual (any
// other: read as JSON all the same, and logged, since whether a template can
// change the type is not documented).
enum class TriggerMedia { json, unusual, refused };
TriggerMedia trigger_media(std::string_view content_type);

// Field lists before validation (exposed for tests). Names as given.
using Fields = std::vector<std::pair<std::string, std::string>>;
Result<Fields> decode_form(std::string_view body);
Result<Fields> decode_json(std::string_view body);
Result<Fields> decode_xml(std::string_view body);

// Percent- and '+'-decoding of one form component; nullopt on a bad escape.
std::optional<std::string> form_unescape(std::string_view s);

}  // namespace isync::ingest::detail

// Building the JSON documents of mirror reads, and small text helpers shared
// by the handler and the reader. Internal to handlers/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis/redis.hpp"

namespace isync::handlers::detail {

// ISO-8601 UTC with milliseconds, fixed width: 2024-05-01T12:00:00.000Z.
std::string iso8601_ms(std::int64_t epoch_ms);

// A positive decimal integer of at most 19 digits, no sign, no leading zero.
bool valid_recordno(std::string_view s);

// A snapshot as the apply script stores it: the fields as one JSON object,
// each name once (a name given twice keeps its last value, as a JSON decoder
// would), names in byte order; and those names as JSON strings in the same
// order (the script then needs no sorting nor encoding: mirror_lua.hpp).
struct SnapshotText {
  std::string json;                // {"A":"1","B":"2"}
  std::vector<std::string> names;  // "\"A\"", "\"B\""
};
SnapshotText snapshot_text(const std::vector<std::pair<std::string, std::string>>& fields);

// Appends one record document (PRODUCT.md §6) from the reply parts
// {v, wm, del, f, {audit…}} (offset `at` into `parts`). False when the reply
// does not have that shape.
bool append_record_doc(std::string& out, std::string_view object, std::string_view recordno,
                       const std::vector<redis::Reply>& parts, std::size_t at);

}  // namespace isync::handlers::detail

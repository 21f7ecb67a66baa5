// The files of console/assets/, as generated at build time by embed.cmake
// (one entry per file, sorted by name).
#pragma once

#include <cstddef>
#include <string_view>

namespace isync::console::detail {

struct EmbeddedFile {
  std::string_view name;  // file name, e.g. "app.js"
  std::string_view content_type;
  std::string_view body;
  std::string_view etag;  // quoted
};

extern const EmbeddedFile kEmbeddedFiles[];
extern const std::size_t kEmbeddedFileCount;

}  // namespace isync::console::detail

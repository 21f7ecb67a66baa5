// asset(): the embedded files of console/assets/ by request path.
#include <algorithm>

#include "console/console.hpp"
#include "console/detail/embedded.hpp"

namespace isync::console {

namespace {

constexpr std::string_view kShell = "index.html";
constexpr std::string_view kAssetPrefix = "/console/assets/";

bool plain_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

std::optional<Asset> by_name(std::string_view name) {
  for (std::size_t i = 0; i < detail::kEmbeddedFileCount; ++i) {
    const auto& f = detail::kEmbeddedFiles[i];
    if (f.name == name) return Asset{f.content_type, f.body, f.etag};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Asset> asset(std::string_view path) {
  if (path == "/console" || path == "/console/") return by_name(kShell);
  if (path.substr(0, kAssetPrefix.size()) != kAssetPrefix) return std::nullopt;
  std::string_view name = path.substr(kAssetPrefix.size());
  if (!plain_name(name)) return std::nullopt;
  return by_name(name);
}

std::vector<std::string_view> asset_names() {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < detail::kEmbeddedFileCount; ++i) {
    names.push_back(detail::kEmbeddedFiles[i].name);
  }
  return names;
}

}  // namespace isync::console

// Secret references (env:, file:, enc:) and the AES-256-GCM format of enc:.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace isync::config::detail {

inline constexpr std::string_view kMasterKeyVar = "INTACCT_SYNC_MASTER_KEY";

std::string base64_encode(std::string_view bytes);
// Standard alphabet, padding required; nullopt on any other input.
std::optional<std::string> base64_decode(std::string_view text);

// Resolves the reference `ref` given for `key`. `from_env` marks a value that
// came from an environment override (not a literal in the file, so no
// warning). Error messages name `key` and the reference, never a value.
Result<Secret> resolve_secret(std::string_view key, std::string_view ref, bool from_env,
                              const std::map<std::string, std::string>& env,
                              std::vector<std::string>& warnings);

}  // namespace isync::config::detail

// HMAC-SHA256 through OpenSSL's EVP_MAC, shared by the signed webhooks
// (Stripe-Signature, Intacct trigger tokens). Internal to ingest/.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace isync::ingest::detail {

// Raw 32-byte HMAC-SHA256 under `key` of the concatenated `parts`; "" only if
// OpenSSL fails (then nothing can match). An empty key is a valid key here:
// callers refuse empty secrets themselves.
std::string hmac_sha256(std::string_view key, std::initializer_list<std::string_view> parts);

// Lower-case hex of `bytes`.
std::string to_hex(std::string_view bytes);

}  // namespace isync::ingest::detail

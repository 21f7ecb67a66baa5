// Test support: Stripe-style signatures made by an independent
// implementation, the openssl command line, so the service's HMAC is checked
// against something it does not share code with.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace isync::testing {

// Lowercase hex HMAC-SHA256(key, data) computed by `openssl dgst`. REQUIRES:
// `key` is made of letters, digits and '_' (it is passed on a command line).
inline std::string openssl_hmac_sha256(const std::string& key, const std::string& data) {
  for (char c : key) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    REQUIRE(ok);
  }
  char path[] = "/tmp/isync-hmac-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  std::size_t written = 0;
  while (written < data.size()) {
    auto n = ::write(fd, data.data() + written, data.size() - written);
    REQUIRE(n > 0);
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::string cmd = "openssl dgst -sha256 -hmac " + key + " " + path + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  ::unlink(path);
  REQUIRE(rc == 0);
  // "HMAC-SHA2-256(<file>)= <hex>\n"
  auto eq = out.rfind("= ");
  REQUIRE(eq != std::string::npos);
  std::string hex = out.substr(eq + 2);
  while (!hex.empty() && (hex.back() == '\n' || hex.back() == '\r')) hex.pop_back();
  REQUIRE(hex.size() == 64);
  return hex;
}

// The Stripe-Signature value for `body` signed with `key` at time `t`.
inline std::string stripe_header(const std::string& key, long long t, const std::string& body) {
  return "t=" + std::to_string(t) +
         ",v1=" + openssl_hmac_sha256(key, std::to_string(t) + "." + body);
}

}  // namespace isync::testing

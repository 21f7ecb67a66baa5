// Fuzz target: Intacct trigger tokens, signature envelopes and X-ClientContext
// (ingest/detail/trigger_token.hpp).
//
// Each input is read as a token, as an X-IA-Sage-Signature value (as given
// and base64-encoded), as an X-ClientContext (as given and base64-encoded) and
// as an idempotency key. Invariants beyond "no crash":
//  * base64: decoding the encoding of the input gives the input back;
//  * a token's refusal is one of the documented reasons, its detail never
//    holds the token (beyond what a short input makes unavoidable) nor the
//    secret; a time refusal is exactly expired / not_yet_valid;
//  * re-signed with the fuzz secret over the input's own first two parts, a
//    token never fails the HMAC check (it fails before it, on its header, or
//    after it); the same token checked under another secret never passes;
//  * the input as an envelope: the token is found in the envelope exactly
//    when the input is a strict JSON object whose jwtData is a non-empty
//    string, and it is then that string (blanks trimmed); a Bearer token
//    beside it is used only when it is not;
//  * X-ClientContext decodes exactly when the input is a strict JSON object,
//    and every field is at most 64 bytes plus "...";
//  * the idempotency key is accepted exactly when the trimmed input is empty
//    (no key) or 1..200 printable ASCII bytes, and is then that text.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.hpp"
#include "fuzz/check.hpp"
#include "ingest/detail/hmac.hpp"
#include "ingest/detail/trigger_token.hpp"

namespace {

using namespace isync::ingest::detail;

const std::string kSecret = "fuzz-oauth-client-secret";
const std::string kOther = "another-client-secret";
const std::set<std::string> kReasons = {"",          "malformed_token", "alg",
                                        "signature", "claims",          "issuer",
                                        "expired",   "not_yet_valid",   "client_id"};

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

TokenCheck verify(std::string_view token, const std::vector<std::string>& secrets) {
  TokenRules rules;
  rules.secrets = &secrets;
  rules.now_ms = 1'768'598'880'000;
  rules.leeway_ms = 60'000;
  rules.client_id = "fuzz.INTACCT.app.sage.com";
  return verify_trigger_token(token, rules);
}

void check_token(std::string_view input) {
  static const std::vector<std::string> secrets = {kSecret};
  static const std::vector<std::string> others = {kOther};
  TokenCheck c = verify(input, secrets);
  FUZZ_CHECK(kReasons.count(c.reason) == 1, c.reason);
  FUZZ_CHECK(c.detail.find(kSecret) == std::string::npos, "secret in detail");
  if (input.size() > 80) {
    FUZZ_CHECK(c.detail.find(input) == std::string::npos, "token in detail");
  }
  FUZZ_CHECK(c.time_refusal() == (c.reason == "expired" || c.reason == "not_yet_valid"), c.reason);
  FUZZ_CHECK(c.ok() == (c.secret_index == 1 && c.reason.empty()), "secret index");

  // Re-signed over its own first two parts.
  auto first = input.find('.');
  if (first == std::string_view::npos) return;
  auto second = input.find('.', first + 1);
  if (second == std::string_view::npos) return;
  std::string_view signing = input.substr(0, second);
  if (signing.find('.', first + 1) != std::string_view::npos) return;
  std::string token =
      std::string(signing) + "." + base64url_encode(hmac_sha256(kSecret, {signing}));
  TokenCheck r = verify(token, secrets);
  FUZZ_CHECK(r.reason != "signature", token.substr(0, 200));
  TokenCheck o = verify(token, others);
  FUZZ_CHECK(!o.ok(), "verified under another secret");
  if (r.reason != "malformed_token" && r.reason != "alg") {
    FUZZ_CHECK(o.reason == "signature", o.reason);
  }
}

void check_envelope(std::string_view input) {
  auto doc = isync::json::parse(input, isync::json::kStrict);
  std::optional<std::string> jwt;
  if (doc && doc->IsObject()) {
    auto it = doc->FindMember("jwtData");
    if (it != doc->MemberEnd() && it->value.IsString() && it->value.GetStringLength() > 0) {
      jwt = std::string(it->value.GetString(), it->value.GetStringLength());
    }
  }
  for (bool url : {true, false}) {
    std::string header = base64url_encode(input);
    if (!url) {
      for (auto& ch : header) ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
      while (header.size() % 4 != 0) header += '=';
    }
    FoundToken f = find_trigger_token(header, "Bearer beside");
    const bool object = doc && doc->IsObject();
    FUZZ_CHECK(f.envelope == object, "envelope");
    if (jwt) {
      FUZZ_CHECK(f.source == TokenSource::envelope, f.signature_header);
      FUZZ_CHECK(f.token == trim(*jwt), "jwtData");
    } else {
      // Not an envelope with a token (base64 text is never a bare JWT):
      // the Bearer token beside it.
      FUZZ_CHECK(f.source == TokenSource::authorization && f.token == "beside", f.signature_header);
    }
  }
  // As given: never a crash; an envelope only if it is base64 of an object.
  FoundToken raw = find_trigger_token(input, "");
  FUZZ_CHECK(raw.source != TokenSource::authorization, "no Bearer was given");
  if (raw.source == TokenSource::signature_header) FUZZ_CHECK(raw.token == trim(input), "bare");
}

void check_context(std::string_view input) {
  auto doc = isync::json::parse(input, {.subject = "X-ClientContext", .numbers_as_strings = true});
  const bool object = doc && doc->IsObject();
  auto ctx = decode_client_context(base64url_encode(input));
  FUZZ_CHECK(ctx.has_value() == object, ctx ? std::string("decoded") : ctx.error().message);
  if (ctx) {
    for (const std::string* f : {&ctx->company, &ctx->entity, &ctx->user, &ctx->object_name,
                                 &ctx->event, &ctx->timestamp}) {
      FUZZ_CHECK(f->size() <= 67, *f);
    }
  } else {
    FUZZ_CHECK(ctx.error().code == "malformed_context", ctx.error().code);
  }
  (void)decode_client_context(input);
}

void check_idempotency(std::string_view input) {
  auto key = idempotency_key({input});
  std::string_view t = trim(input);
  bool printable = true;
  for (char ch : t) {
    auto c = static_cast<unsigned char>(ch);
    printable = printable && c >= 0x20 && c <= 0x7E;
  }
  const bool ok = t.empty() || (t.size() <= kMaxIdempotencyKey && printable);
  FUZZ_CHECK(key.has_value() == ok, std::string(t.substr(0, 64)));
  if (key && !t.empty()) FUZZ_CHECK(**key == t, "key");
  if (key && t.empty()) FUZZ_CHECK(!key->has_value(), "empty key");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input = isync::fuzz::as_text(data, size);
  auto decoded = base64_decode_lenient(base64url_encode(input));
  FUZZ_CHECK(decoded && *decoded == input, "base64 round trip");
  check_token(input);
  check_envelope(input);
  check_context(input);
  check_idempotency(input);
  return 0;
}

// The trigger token, envelope, payload signature, context and idempotency key
// (ingest/detail/trigger_token.hpp), against tokens made by python3-jwt and
// checked with the fixtures' clock.
#include "ingest/detail/trigger_token.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ingest/detail/smart_event.hpp"
#include "tests/ingest/openssl_hmac.hpp"
#include "tests/ingest/trigger_fixtures.hpp"

using namespace isync::ingest::detail;
using isync::testing::trigger_fixtures;

namespace {

const std::vector<std::string>& secrets() {
  static const std::vector<std::string> s = {trigger_fixtures().value("secret_one"),
                                             trigger_fixtures().value("secret_two")};
  return s;
}

TokenCheck check(const std::string& token, std::string_view client_id = {},
                 std::int64_t now_ms = trigger_fixtures().now_ms) {
  TokenRules rules;
  rules.secrets = &secrets();
  rules.now_ms = now_ms;
  rules.leeway_ms = 60000;
  rules.client_id = client_id;
  return verify_trigger_token(token, rules);
}

std::string b64url(const std::string& s) { return base64url_encode(s); }

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// An HS256 token over `claims`, its HMAC made by the openssl command line.
std::string openssl_token(const std::string& key, const std::string& claims) {
  std::string signing = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(claims);
  return signing + "." + b64url(from_hex(isync::testing::openssl_hmac_sha256(key, signing)));
}

}  // namespace

TEST_CASE(
    "tokens made by python3-jwt verify, in milliseconds and in seconds, under either secret") {
  const auto& f = trigger_fixtures();
  for (const char* name :
       {"valid_ms", "valid_seconds", "second_secret", "upper_payload_signature", "delete"}) {
    CAPTURE(name);
    auto c = check(f.token(name), f.value("client_id"));
    CHECK(c.reason == "");
    CHECK(c.claims.iss == "Sage Intacct");
    CHECK(c.claims.tenant_id == f.value("client_id"));
  }
  CHECK(check(f.token("valid_ms")).secret_index == 1);
  CHECK(check(f.token("second_secret")).secret_index == 2);
  CHECK(check(f.token("valid_ms")).claims.exp_was_ms);
  CHECK(!check(f.token("valid_seconds")).claims.exp_was_ms);
  CHECK(check(f.token("valid_seconds")).claims.exp_ms == f.now_ms - f.now_ms % 1000 + 3600 * 1000);
}

TEST_CASE("each refused token names the check that failed") {
  const auto& f = trigger_fixtures();
  struct Case {
    const char* token;
    const char* reason;
    const char* detail;
  };
  const Case cases[] = {
      {"wrong_secret", "signature",
       "the HMAC matches none of the tenant's 2 trigger_client_secrets"},
      {"alg_none", "alg", "alg is \"none\"; only HS256 is accepted"},
      {"alg_hs512", "alg", "alg is \"HS512\"; only HS256 is accepted"},
      {"alg_rs256", "alg", "alg is \"RS256\"; only HS256 is accepted"},
      {"expired_seconds", "expired", "exp 1768595280 (seconds) is 3600 s before now (leeway 60 s)"},
      {"expired_ms", "expired",
       "exp 1768595280000 (milliseconds) is 3600 s before now (leeway 60 s)"},
      {"iat_future", "not_yet_valid", "iat 1768602480 (seconds) is 3600 s after now (leeway 60 s)"},
      {"wrong_iss", "issuer", "iss is \"Sage Intacct Sandbox\", not \"Sage Intacct\""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.token);
    auto r = check(f.token(c.token));
    CHECK(r.reason == c.reason);
    CHECK(r.detail == c.detail);
  }
  CHECK(check(f.token("expired_ms")).time_refusal());
  CHECK(check(f.token("iat_future")).time_refusal());
  CHECK(!check(f.token("wrong_iss")).time_refusal());

  auto client = check(f.token("wrong_tenant_id"), f.value("client_id"));
  CHECK(client.reason == "client_id");
  CHECK(client.detail ==
        "trigger_client_id is \"3f9a1c2b7d5e4a60.INTACCT.app.sage.com\"; the token's tenant_id "
        "is \"someone-else.INTACCT.app.sage.com\"");
  // The envelope's clientId may stand in for tenant_id.
  std::optional<std::string> envelope_id = f.value("client_id");
  TokenRules rules;
  rules.secrets = &secrets();
  rules.now_ms = f.now_ms;
  rules.client_id = f.value("client_id");
  rules.envelope_client_id = &envelope_id;
  CHECK(verify_trigger_token(f.token("wrong_tenant_id"), rules).ok());

  // No secrets: still one HMAC, and the answer of a wrong signature.
  TokenRules none;
  none.now_ms = f.now_ms;
  auto r = verify_trigger_token(f.token("valid_ms"), none);
  CHECK(r.reason == "signature");
  CHECK(r.detail == "the tenant has no trigger_client_secrets");
}

TEST_CASE("a token that is not three base64url JSON parts is malformed") {
  CHECK(check("").detail == "the token has 1 part, not 3");
  CHECK(check("a.b").detail == "the token has 2 parts, not 3");
  CHECK(check("a.b.c.d").detail == "the token has more than 3 parts");
  CHECK(check("!!.e30.").detail == "the token's header is not base64url JSON");
  CHECK(check(b64url("{}") + ".e30.").detail == "the token's header has no alg");
  CHECK(check(b64url(R"({"alg":"HS256","alg":"none"})") + ".e30.").reason == "malformed_token");
  CHECK(check(std::string(kMaxTriggerToken + 1, 'a')).reason == "malformed_token");
}

TEST_CASE("exp and iat are checked against now with the leeway, at the edges") {
  const std::int64_t now = 1'800'000'000'000;
  auto claims = [](const std::string& exp, const std::string& iat) {
    return R"({"iss":"Sage Intacct","exp":)" + exp + R"(,"iat":)" + iat + "}";
  };
  std::vector<std::string> keys = {"edge_secret"};
  auto run = [&](const std::string& c) {
    TokenRules rules;
    rules.secrets = &keys;
    rules.now_ms = now;
    rules.leeway_ms = 60000;
    return verify_trigger_token(openssl_token("edge_secret", c), rules);
  };
  CHECK(run(claims(std::to_string(now - 60000), std::to_string(now))).ok());
  CHECK(run(claims(std::to_string(now - 60001), std::to_string(now))).reason == "expired");
  CHECK(run(claims(std::to_string(now / 1000 - 60), std::to_string(now / 1000))).ok());
  CHECK(run(claims(std::to_string(now / 1000 - 61), std::to_string(now / 1000))).reason ==
        "expired");
  CHECK(run(claims(std::to_string(now + 1), std::to_string(now + 60000))).ok());
  CHECK(run(claims(std::to_string(now + 1), std::to_string(now + 60001))).reason ==
        "not_yet_valid");
  CHECK(run(R"({"iss":"Sage Intacct","iat":1})").detail == "exp is missing");
  CHECK(run(R"({"iss":"Sage Intacct","exp":"1","iat":1})").detail ==
        "exp is not a number of seconds or milliseconds");
  CHECK(run(R"({"iss":"Sage Intacct","exp":99999999999999,"iat":1})").ok());
  CHECK(run(R"({"exp":1,"iat":1})").detail == "iss is missing or not a string");
  CHECK(run("[]").reason == "claims");
}

TEST_CASE("the payload signature is the body's SHA-256 in either case, compared as bytes") {
  const auto& f = trigger_fixtures();
  const std::string& body = f.body("set");
  auto claims = check(f.token("valid_ms")).claims;
  CHECK(check_payload_signature(claims, body) == "");
  CHECK(check_payload_signature(check(f.token("upper_payload_signature")).claims, body) == "");
  std::string changed = body;
  changed[changed.size() - 3] ^= 1;
  CHECK(check_payload_signature(claims, changed) ==
        "payload_signature does not match the SHA-256 of the body");
  auto bad = claims;
  bad.payload_signature = "abc";
  CHECK(check_payload_signature(bad, body) == "payload_signature is not 64 hex digits");
  bad.payload_signature.reset();
  CHECK(check_payload_signature(bad, body) == "the token has no payload_signature");
  auto alg = claims;
  alg.payload_signature_alg = "SHA-512";
  CHECK(check_payload_signature(alg, body) ==
        "payload_signature_alg is \"SHA-512\", not \"SHA-256\"");
  alg.payload_signature_alg = "sha-256";
  CHECK(check_payload_signature(alg, body) == "");
}

TEST_CASE("the token is looked for in the envelope, then bare, then in Authorization") {
  const auto& f = trigger_fixtures();
  const std::string& token = f.token("valid_ms");
  auto env = find_trigger_token(f.envelopes.at("valid_ms"), "Bearer other");
  CHECK(env.source == TokenSource::envelope);
  CHECK(env.token == token);
  CHECK(env.client_id == f.value("client_id"));
  CHECK(env.signature_header == "envelope");

  auto bare = find_trigger_token(token, "Bearer other");
  CHECK(bare.source == TokenSource::signature_header);
  CHECK(bare.token == token);
  CHECK(token_source_name(bare.source) == "bare");

  auto auth = find_trigger_token(std::nullopt, "Bearer " + token);
  CHECK(auth.source == TokenSource::authorization);
  CHECK(auth.token == token);
  CHECK(auth.signature_header == "absent");

  // Sage's SDK sample: an envelope whose jwtData is null.
  auto sample = find_trigger_token(f.samples.at("sdk_envelope_null_jwt"), "");
  CHECK(sample.source == TokenSource::none);
  CHECK(sample.signature_header == "envelope_null_jwt");
  CHECK(sample.client_id == "0a1b2c3d4e5f.INTACCT.app.sage.com");
  // ... with a Bearer token beside it, that one is used.
  auto beside = find_trigger_token(f.samples.at("sdk_envelope_null_jwt"), "Bearer " + token);
  CHECK(beside.source == TokenSource::authorization);
  CHECK(beside.envelope);

  CHECK(find_trigger_token(base64url_encode(R"({"clientId":"x"})"), "").signature_header ==
        "envelope_no_jwt");
  CHECK(find_trigger_token(base64url_encode(R"({"jwtData":7})"), "").signature_header ==
        "envelope_bad_jwt");
  CHECK(find_trigger_token(base64url_encode(R"({"jwtData":""})"), "").signature_header ==
        "envelope_empty_jwt");
  CHECK(find_trigger_token("not a token", "").signature_header == "unreadable");
}

TEST_CASE("base64 is read in either alphabet, with or without padding") {
  CHECK(base64_decode_lenient("aGk=") == "hi");
  CHECK(base64_decode_lenient("aGk") == "hi");
  CHECK(base64_decode_lenient("-_8") == std::string("\xfb\xff", 2));
  CHECK(base64_decode_lenient("+/8=") == std::string("\xfb\xff", 2));
  CHECK(!base64_decode_lenient("a"));
  CHECK(!base64_decode_lenient("a=b="));
  CHECK(!base64_decode_lenient("a b"));
  CHECK(base64url_encode("hi") == "aGk");
}

TEST_CASE("X-ClientContext decodes for the log, and a malformed one is an error value") {
  auto ctx = decode_client_context(trigger_fixtures().samples.at("client_context"));
  REQUIRE(ctx.has_value());
  CHECK(ctx->company == "199056");
  CHECK(ctx->entity == "false");
  CHECK(ctx->user == "9");
  CHECK(ctx->object_name == "CLASS");
  CHECK(ctx->event == "after_create");
  CHECK(ctx->timestamp == "01/16/2026 21:28:00");
  auto bad = decode_client_context("%%%");
  REQUIRE(!bad.has_value());
  CHECK(bad.error().message == "X-ClientContext is not base64");
  CHECK(!decode_client_context(base64url_encode("[1]")).has_value());
  CHECK(!decode_client_context(base64url_encode("{")).has_value());
}

TEST_CASE("the idempotency key: either header, the same when both, at most 200 printable bytes") {
  using V = std::vector<std::string_view>;
  CHECK(*idempotency_key(V{}) == std::nullopt);
  CHECK(*idempotency_key(V{"  "}) == std::nullopt);
  CHECK(*idempotency_key(V{"k-1"}) == "k-1");
  CHECK(*idempotency_key(V{" k-1 ", "k-1"}) == "k-1");
  auto differ = idempotency_key(V{"k-1", "k-2"});
  REQUIRE(!differ);
  CHECK(differ.error().code == "invalid_field");
  CHECK(differ.error().message ==
        "X-IdempotencyKey and Idempotency-Key carry different idempotency keys; send one key");
  std::string longest(200, 'k');
  CHECK(*idempotency_key(V{longest}) == longest);
  std::string over(201, 'k');
  CHECK(idempotency_key(V{over}).error().message ==
        "the idempotency key (X-IdempotencyKey or Idempotency-Key) is longer than 200 bytes");
  CHECK(idempotency_key(V{"k\x01"}).error().message ==
        "the idempotency key (X-IdempotencyKey or Idempotency-Key) may hold only printable ASCII "
        "characters");
}

TEST_CASE("a trigger body is JSON by the smart-event rules; action is optional, company apart") {
  const auto& f = trigger_fixtures();
  auto set = parse_trigger_body(f.body("set"));
  REQUIRE(set.has_value());
  CHECK(set->event.object == "CUSTOMER");
  CHECK(set->event.action == "set");
  CHECK(set->event.recordno == "42");
  CHECK(set->event.snapshot.empty());
  CHECK(set->company == "ACME-CO");
  auto del = parse_trigger_body(f.body("delete"));
  REQUIRE(del.has_value());
  CHECK(del->event.action == "delete");
  auto none = parse_trigger_body(f.body("no_object"));
  REQUIRE(!none.has_value());
  CHECK(none.error().code == "invalid_field");
  CHECK(none.error().message == "field \"object\" is required");
  auto snap = parse_trigger_body(
      R"({"object":"ARINVOICE","recordno":"7","whenmodified":"01/16/2026 21:27:59","STATE":"Posted","TOTALDUE":12.5})");
  REQUIRE(snap.has_value());
  CHECK(snap->event.snapshot == std::vector<std::pair<std::string, std::string>>{
                                    {"STATE", "Posted"}, {"TOTALDUE", "12.5"}});
  CHECK(!snap->company);
  CHECK(parse_trigger_body("object=CUSTOMER").error().code == "malformed_body");

  CHECK(trigger_media("") == TriggerMedia::json);
  CHECK(trigger_media("application/json; charset=utf-8") == TriggerMedia::json);
  CHECK(trigger_media("text/plain") == TriggerMedia::json);
  CHECK(trigger_media("application/vnd.sage+json") == TriggerMedia::json);
  CHECK(trigger_media("application/x-www-form-urlencoded") == TriggerMedia::refused);
  CHECK(trigger_media("Multipart/Form-Data; boundary=x") == TriggerMedia::refused);
  CHECK(trigger_media("application/octet-stream") == TriggerMedia::unusual);
}

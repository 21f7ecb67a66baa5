// Fuzz target: the sandbox's control API (sandbox/detail/control_routes.hpp,
// handle_control), against a fresh small company per input.
//
// An input that starts with a request line is
//   METHOD SP TARGET \n AUTHORIZATION \n BODY
// (a non-empty AUTHORIZATION line turns the control token "fuzz-token" on and
// is sent as the Authorization header); any other input is a body, sent to
// every route that reads one (so a body kept from a finding replays byte for
// byte). Invariants beyond "no crash":
//  * the status is one the routes document; a 204 has no body, every other
//    answer is one JSON object, an error is {"error":{"code","message"}} and
//    a 405 names the allowed methods;
//  * what a PUT of faults or settings answers is what a GET answers next, and
//    a record created or changed reads back (GET) as the write answered it.
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "core/json.hpp"
#include "fuzz/check.hpp"
#include "fuzz/sandbox_company.hpp"
#include "sandbox/detail/control_routes.hpp"

namespace {

namespace sb = isync::sandbox;
namespace http = boost::beast::http;
using sb::detail::Answer;
using sb::detail::ControlContext;
using sb::detail::HttpRequest;

const std::set<unsigned> kStatuses = {200, 201, 204, 400, 401, 404, 405, 409};

HttpRequest request(http::verb method, std::string_view target, std::string_view authorization,
                    std::string_view body) {
  HttpRequest req;
  req.method(method);
  req.target(target);
  if (!authorization.empty()) req.set(http::field::authorization, authorization);
  req.body() = std::string(body);
  return req;
}

const rapidjson::Value* string_member(const rapidjson::Value& v, const char* name) {
  if (!v.IsObject()) return nullptr;
  auto it = v.FindMember(name);
  return it != v.MemberEnd() && it->value.IsString() ? &it->value : nullptr;
}

void check_answer(const Answer& a) {
  FUZZ_CHECK(kStatuses.contains(a.status), std::to_string(a.status));
  if (a.status == 204) {
    FUZZ_CHECK(a.body.empty(), a.body.substr(0, 200));
    return;
  }
  FUZZ_CHECK(a.content_type == "application/json", a.content_type);
  auto doc = isync::json::parse(a.body, isync::json::kTrusted);
  FUZZ_CHECK(doc && doc->IsObject(), a.body.substr(0, 200));
  if (a.status >= 400) {
    auto error = doc->FindMember("error");
    FUZZ_CHECK(error != doc->MemberEnd() && string_member(error->value, "code") &&
                   string_member(error->value, "message"),
               a.body.substr(0, 200));
  }
  if (a.status == 405) FUZZ_CHECK(!a.allow.empty(), a.body.substr(0, 200));
}

// What a successful write answered is what a GET reads next.
void check_reads_back(const ControlContext& ctx, const HttpRequest& req, const Answer& a) {
  std::string target;
  const auto path = sb::detail::split_target(req.target()).path;
  if ((req.method() == http::verb::put && (path == "/v1/faults" || path == "/v1/settings")) &&
      a.status == 200) {
    target = std::string(path);
  } else if ((a.status == 201 && req.method() == http::verb::post) ||
             (a.status == 200 && req.method() == http::verb::patch)) {
    auto doc = isync::json::parse(a.body, isync::json::kTrusted);
    FUZZ_CHECK(doc && doc->IsObject(), a.body.substr(0, 200));
    auto object = string_member(*doc, "object");
    auto recordno = doc->FindMember("recordno");
    FUZZ_CHECK(object && recordno != doc->MemberEnd() && recordno->value.IsInt64(),
               a.body.substr(0, 200));
    target = "/v1/records/" + std::string(object->GetString()) + "/" +
             std::to_string(recordno->value.GetInt64());
  } else {
    return;
  }
  auto get = request(http::verb::get, target, req[http::field::authorization], "");
  auto read = sb::detail::handle_control(ctx, get);
  FUZZ_CHECK(read.status == 200 && read.body == a.body, target + ": " + read.body.substr(0, 200));
}

void run(ControlContext& ctx, const HttpRequest& req) {
  auto a = sb::detail::handle_control(ctx, req);
  check_answer(a);
  check_reads_back(ctx, req, a);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = isync::fuzz::as_text(data, size);
  isync::ManualClock clock(isync::fuzz::kSandboxStart);
  sb::Company company(isync::fuzz::sandbox_options(), clock);
  isync::fuzz::seed_company(company);

  auto lines = isync::fuzz::split(input, '\n', 3);
  const auto space = lines[0].find(' ');
  const auto method = space == std::string_view::npos
                          ? http::verb::unknown
                          : http::string_to_verb(lines[0].substr(0, space));
  if (method != http::verb::unknown && lines.size() == 3) {
    const isync::Secret token(lines[1].empty() ? "" : "fuzz-token");
    ControlContext ctx{company, nullptr, token};
    run(ctx, request(method, lines[0].substr(space + 1), lines[1], lines[2]));
    return 0;
  }
  const isync::Secret none;
  ControlContext ctx{company, nullptr, none};
  run(ctx, request(http::verb::put, "/v1/faults", "", input));
  run(ctx, request(http::verb::put, "/v1/settings", "", input));
  run(ctx, request(http::verb::post, "/v1/records/CUSTOMER", "", input));
  run(ctx, request(http::verb::patch, "/v1/records/ARINVOICE/1", "", input));
  return 0;
}

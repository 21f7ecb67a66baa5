// The client side of the control API, for `intacct-sandbox ctl`: one
// synchronous request with a deadline, and the small text helpers of the
// command line (HOST:PORT, NAME=VALUE words, JSON bodies).
#pragma once

#include <boost/beast/http/verb.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/core.hpp"

namespace isync::sandbox::detail {

// HOST:PORT with HOST an IP literal ([v6] in brackets), PORT 0-65535.
Result<std::pair<std::string, std::uint16_t>> parse_listen(const std::string& text);

struct CtlResponse {
  unsigned status = 0;
  std::string body;
};

// One request to the control API at `base_url` (http://HOST:PORT[/PREFIX]),
// with `timeout` over connect, write and read together. An Error ("usage" for
// a bad URL, "unreachable" otherwise) when no HTTP answer came; any answer,
// error statuses included, is a value.
Result<CtlResponse> control_request(const std::string& base_url, const std::string& token,
                                    boost::beast::http::verb method, const std::string& target,
                                    const std::string& body,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The "message" of an {"error":{…}} body, or the body itself.
std::string error_message(const std::string& body);

using Pairs = std::vector<std::pair<std::string, std::string>>;

// NAME=VALUE words -> pairs; an Error for a word without a name and '='.
Result<Pairs> split_pairs(const std::vector<std::string>& words);

// {"fields":{NAME:"VALUE",…}}, plus "silent":true when `silent`.
std::string fields_json(const Pairs& pairs, bool silent = false);

// {KEY:VALUE,…} with VALUE true/false, a non-negative integer or a decimal
// such as 0.05 (a ratio); deny_read_objects=A,B becomes ["A","B"] (empty:
// []). An Error naming the pair otherwise.
Result<std::string> faults_json(const Pairs& pairs);

// {KEY:true|false,…}, and write_clock_offset_s=N with N an integer (may be
// negative); an Error naming a pair whose value is neither.
Result<std::string> settings_json(const Pairs& pairs);

// A secret or URL from a file (one value; surrounding whitespace dropped);
// an Error "config" when the file is unreadable or empty.
Result<std::string> read_value_file(const std::string& path, const std::string& what);

}  // namespace isync::sandbox::detail

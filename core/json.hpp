// core/json — the one way this service parses JSON (RapidJSON 1.1.0, Debian 12).
//
// Contract:
//  * `parse(text, policy)` parses exactly the bytes of `text` into a Document;
//    `parse_events(text, policy, handler)` drives a SAX handler over them (for
//    a pass that must see each token as written, e.g. a copy of the body that
//    keeps numbers' text). Both share every rule below.
//  * Always: a length-bounded stream (never reads past the view, never needs
//    a NUL terminator; an embedded NUL ends the value and then counts as a
//    trailing byte), iterative parsing (no recursion on the stack), nesting
//    capped at `policy.max_depth` while parsing (the walks callers do after,
//    such as Writer::Accept, recurse at most that deep), stop when the value
//    is done and refuse anything after it but blanks, and no full-precision
//    float conversion: 1.1.0's crashes on some long numbers (Tencent/rapidjson
//    #1251) and misreads `0e100` (#1249). Numbers therefore parse to the
//    nearest double that the fast path finds; callers that keep a number's
//    text use `numbers_as_strings` (RawNumber) instead of re-printing it.
//  * By policy (`strict`): invalid UTF-8, a lone UTF-16 surrogate escape
//    (`"\ude00"`, which 1.1.0 lets through as the bytes ED B8 80) and a key
//    twice in one object are refused. For bodies from outside (ingest, the
//    sandbox control API); never for text this service wrote itself (queued
//    envelopes keep a smart event's raw body byte for byte, whatever it is).
//  * Errors are values: code "malformed_body", and a message that starts with
//    `policy.subject` and says what is wrong and at which byte offset. Callers
//    re-code or wrap it. A message never quotes more than 64 bytes of input.
//  * Thread-safe (no shared state).
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/reader.h>

#include <cassert>
#include <cstddef>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"

namespace isync::json {

struct Policy {
  std::string_view subject = "the JSON body";  // how messages name the text
  std::size_t max_depth = 64;                  // objects and arrays nested deeper are refused
  bool strict = true;               // refuse invalid UTF-8, lone surrogates, duplicate keys
  bool numbers_as_strings = false;  // numbers reach the handler as RawNumber (their text)
};

// Bodies from outside: webhook bodies, the sandbox's control API.
inline constexpr Policy kStrict{};
// Text this service wrote: queued envelopes, ledger entries, snapshots.
inline constexpr Policy kTrusted{.subject = "the JSON text", .strict = false};

Result<rapidjson::Document> parse(std::string_view text, const Policy& policy = kStrict);

// Drives `handler` (RapidJSON's SAX Handler concept) over `text`. A handler
// that returns false stops the parse; the result is then the error
// "<subject> was refused by its reader at offset N" unless a guard above
// stopped it first.
template <class Handler>
Result<void> parse_events(std::string_view text, const Policy& policy, Handler& handler);

// ---- implementation ---------------------------------------------------------

namespace detail {

// RapidJSON's stream concept over exactly [begin, end): reads as NUL at the end.
class BoundedStream {
 public:
  using Ch = char;
  explicit BoundedStream(std::string_view s)
      : begin_(s.data()), cur_(s.data()), end_(s.data() + s.size()) {}
  Ch Peek() const { return cur_ == end_ ? '\0' : *cur_; }
  Ch Take() { return cur_ == end_ ? '\0' : *cur_++; }
  std::size_t Tell() const { return static_cast<std::size_t>(cur_ - begin_); }
  // Write side: unused (no in-situ parsing).
  Ch* PutBegin() {
    assert(false);
    return nullptr;
  }
  void Put(Ch) { assert(false); }
  void Flush() { assert(false); }
  std::size_t PutEnd(Ch*) {
    assert(false);
    return 0;
  }

 private:
  const char* begin_;
  const char* cur_;
  const char* end_;
};

// What stopped a parse before RapidJSON itself did.
struct Stop {
  enum class Why { none, too_deep, duplicate_key, lone_surrogate };
  Why why = Why::none;
  std::string detail;  // the duplicate key, or the surrogate as \uXXXX
  std::size_t offset = 0;
};

// The first lone surrogate in a string RapidJSON decoded, as "\uXXXX", or ""
// when none. Only an escape can produce one: raw surrogate bytes are refused
// by the UTF-8 check.
std::string lone_surrogate(const char* s, std::size_t n);

// The depth cap, duplicate keys and surrogates, checked as tokens arrive.
template <class Handler>
class Guard {
 public:
  Guard(Handler& inner, const Policy& policy, const BoundedStream& in)
      : inner_(inner), policy_(policy), in_(in) {}

  bool Null() { return inner_.Null(); }
  bool Bool(bool b) { return inner_.Bool(b); }
  bool Int(int i) { return inner_.Int(i); }
  bool Uint(unsigned u) { return inner_.Uint(u); }
  bool Int64(std::int64_t i) { return inner_.Int64(i); }
  bool Uint64(std::uint64_t u) { return inner_.Uint64(u); }
  bool Double(double d) { return inner_.Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return inner_.RawNumber(s, n, copy);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return checked(s, n) && inner_.String(s, n, copy);
  }
  bool StartObject() {
    if (!enter()) return false;
    if (policy_.strict) keys_.emplace_back();
    return inner_.StartObject();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    if (!checked(s, n)) return false;
    if (policy_.strict && !keys_.back().emplace(s, n).second) {
      return stop(Stop::Why::duplicate_key, std::string(s, n));
    }
    return inner_.Key(s, n, copy);
  }
  bool EndObject(rapidjson::SizeType n) {
    if (policy_.strict) keys_.pop_back();
    --depth_;
    return inner_.EndObject(n);
  }
  bool StartArray() { return enter() && inner_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return inner_.EndArray(n);
  }

  const Stop& stopped() const { return stop_; }

 private:
  bool enter() { return ++depth_ <= policy_.max_depth || stop(Stop::Why::too_deep, {}); }
  bool checked(const char* s, rapidjson::SizeType n) {
    if (!policy_.strict) return true;
    std::string found = lone_surrogate(s, n);
    return found.empty() || stop(Stop::Why::lone_surrogate, std::move(found));
  }
  bool stop(Stop::Why why, std::string detail) {
    stop_ = Stop{why, std::move(detail), in_.Tell()};
    return false;
  }

  Handler& inner_;
  const Policy& policy_;
  const BoundedStream& in_;
  std::size_t depth_ = 0;
  std::vector<std::set<std::string, std::less<>>> keys_;  // per open object (strict only)
  Stop stop_;
};

// The error for a parse that failed (RapidJSON's code and offset, or a guard's
// stop), or for bytes after the value; {} when all is well.
Result<void> outcome(const Policy& policy, const Stop& stop, rapidjson::ParseErrorCode code,
                     std::size_t error_offset, std::string_view text, std::size_t end);

template <unsigned kFlags, class Handler>
Result<void> run(std::string_view text, const Policy& policy, Handler& handler) {
  constexpr unsigned kAlways = rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseIterativeFlag;
  BoundedStream in(text);
  Guard<Handler> guard(handler, policy, in);
  rapidjson::Reader reader;
  reader.Parse<kAlways | kFlags>(in, guard);
  return outcome(policy, guard.stopped(), reader.GetParseErrorCode(), reader.GetErrorOffset(), text,
                 in.Tell());
}

}  // namespace detail

template <class Handler>
Result<void> parse_events(std::string_view text, const Policy& policy, Handler& handler) {
  using rapidjson::kParseNumbersAsStringsFlag;
  using rapidjson::kParseValidateEncodingFlag;
  // The flags are template arguments: one instantiation per policy shape.
  if (policy.strict) {
    return policy.numbers_as_strings
               ? detail::run<kParseValidateEncodingFlag | kParseNumbersAsStringsFlag>(text, policy,
                                                                                      handler)
               : detail::run<kParseValidateEncodingFlag>(text, policy, handler);
  }
  return policy.numbers_as_strings ? detail::run<kParseNumbersAsStringsFlag>(text, policy, handler)
                                   : detail::run<0>(text, policy, handler);
}

}  // namespace isync::json

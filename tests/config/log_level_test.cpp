// [log] level and INTACCT_SYNC_LOG_LEVEL: the values taken, the canonical
// spelling render shows, and the refusal of anything else.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "config/config.hpp"

using namespace isync::config;
using isync::Level;

TEST_CASE("parse_log_level takes trace, debug, info, warning (or warn) and error, nothing else") {
  CHECK(parse_log_level("trace") == Level::debug);  // nothing is logged below debug
  CHECK(parse_log_level("debug") == Level::debug);
  CHECK(parse_log_level("info") == Level::info);
  CHECK(parse_log_level("warning") == Level::warn);
  CHECK(parse_log_level("warn") == Level::warn);
  CHECK(parse_log_level("error") == Level::error);
  for (const char* bad : {"", "INFO", "Info", "fatal", "critical", "off", " info", "info "}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_log_level(bad).has_value());
  }
  CHECK(log_level_name(Level::warn) == "warning");
  CHECK(log_level_name(Level::debug) == "debug");
}

TEST_CASE("[log] level from the file, overridden by INTACCT_SYNC_LOG_LEVEL, rendered canonically") {
  auto c = load_text("[log]\nlevel = \"warn\"\n", "t.toml", {});
  REQUIRE(c.has_value());
  CHECK(c->log.level == Level::warn);
  CHECK(render(*c).find("[log]\nlevel = \"warning\"\n") != std::string::npos);
  c = load_text("[log]\nlevel = \"error\"\n", "t.toml", {{"INTACCT_SYNC_LOG_LEVEL", "trace"}});
  REQUIRE(c.has_value());
  CHECK(c->log.level == Level::debug);
  auto again = load_text(render(*c), "rendered.toml", {});
  REQUIRE(again.has_value());
  CHECK(again->log.level == Level::debug);
}

TEST_CASE("an invalid log level names the key, the choices and the value") {
  auto r = load_text("[log]\nlevel = \"loud\"\n", "t.toml", {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message ==
        "log.level: expected one of trace, debug, info, warning, error, got \"loud\"");
  r = load_text("", "t.toml", {{"INTACCT_SYNC_LOG_LEVEL", "verbose"}});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message ==
        "log.level: expected one of trace, debug, info, warning, error, got \"verbose\"");
  r = load_text("[log]\nlevel = 3\n", "t.toml", {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.rfind("log.level: ", 0) == 0);
}

// The [alerts] table: defaults (alerts off), values from the file and the
// environment, the webhook URL as a secret, and a message naming each invalid
// key (never the URL).
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"

using namespace isync::config;
using std::chrono::milliseconds;
using Env = std::map<std::string, std::string>;

namespace {

std::string error_of(const std::string& toml, const Env& env = {}) {
  auto r = load_text(toml, "test.toml", env);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == "config");
  return r.error().message;
}

const std::string kUrl = "https://hooks.example.com/services/T000/B000/XXXXsecretXXXX";

}  // namespace

TEST_CASE("[alerts] is off by default, with the documented thresholds and timings") {
  auto c = load_text("", "test.toml", {});
  REQUIRE(c.has_value());
  CHECK_FALSE(c->alerts.enabled());
  CHECK(c->alerts.webhook_url.empty());
  CHECK(c->alerts.dead_threshold == 100);
  CHECK(c->alerts.drift_threshold == doctest::Approx(0.01));
  CHECK(c->alerts.check_interval == milliseconds(15'000));
  CHECK(c->alerts.retry_cap == milliseconds(300'000));
  CHECK(c->alerts.give_up_after == milliseconds(3'600'000));
  CHECK(c->alerts.post_timeout == milliseconds(10'000));
  CHECK(render(*c).find("[alerts]\nwebhook_url = \"\"\ndead_threshold = 100\n"
                        "drift_threshold = \"1%\"\ncheck_interval = \"15s\"\nretry_cap = \"5m\"\n"
                        "give_up_after = \"1h\"\npost_timeout = \"10s\"\n") != std::string::npos);
}

TEST_CASE("[alerts] keys are read from the file and the environment; the URL renders as ***") {
  const std::string toml =
      "[alerts]\nwebhook_url = \"env:ALERT_URL\"\ndead_threshold = 5\ndrift_threshold = "
      "\"0.5%\"\ncheck_interval = \"2s\"\nretry_cap = \"30s\"\ngive_up_after = \"10m\"\n"
      "post_timeout = \"3s\"\n";
  auto c = load_text(toml, "test.toml",
                     {{"ALERT_URL", kUrl}, {"INTACCT_SYNC_ALERTS_DEAD_THRESHOLD", "7"}});
  REQUIRE(c.has_value());
  CHECK(c->alerts.enabled());
  CHECK(c->alerts.webhook_url.reveal() == kUrl);
  CHECK(c->alerts.dead_threshold == 7);
  CHECK(c->alerts.drift_threshold == doctest::Approx(0.005));
  CHECK(c->alerts.check_interval == milliseconds(2'000));
  CHECK(c->alerts.retry_cap == milliseconds(30'000));
  CHECK(c->alerts.give_up_after == milliseconds(600'000));
  CHECK(c->alerts.post_timeout == milliseconds(3'000));
  CHECK(c->warnings.empty());
  const std::string text = render(*c);
  CHECK(text.find("[alerts]\nwebhook_url = \"***\"\ndead_threshold = 7\n"
                  "drift_threshold = \"0.5%\"\n") != std::string::npos);
  CHECK(text.find("XXXXsecretXXXX") == std::string::npos);

  auto env = load_text("", "test.toml",
                       {{"INTACCT_SYNC_ALERTS_WEBHOOK_URL", kUrl},
                        {"INTACCT_SYNC_ALERTS_DRIFT_THRESHOLD", "12.25%"}});
  REQUIRE(env.has_value());
  CHECK(env->alerts.webhook_url.reveal() == kUrl);
  CHECK(env->alerts.drift_threshold == doctest::Approx(0.1225));
  CHECK(render(*env).find("drift_threshold = \"12.25%\"") != std::string::npos);
}

TEST_CASE("a literal alert URL is accepted with a warning that does not contain it") {
  auto c = load_text("[alerts]\nwebhook_url = \"" + kUrl + "\"\n", "test.toml", {});
  REQUIRE(c.has_value());
  REQUIRE(c->warnings.size() == 1);
  CHECK(c->warnings[0].find("alerts.webhook_url") != std::string::npos);
  CHECK(c->warnings[0].find("XXXXsecretXXXX") == std::string::npos);
}

TEST_CASE("a bad alert URL is refused without showing it") {
  CHECK(error_of("[alerts]\nwebhook_url = \"env:ALERT_URL\"\n",
                 {{"ALERT_URL", "ftp://hooks.example.com/XXXXsecretXXXX"}}) ==
        "alerts.webhook_url: expected an https:// URL (the value is a secret and is not shown)");
  CHECK(error_of("[alerts]\nwebhook_url = \"env:ALERT_URL\"\n",
                 {{"ALERT_URL", "http://hooks.example.com/XXXXsecretXXXX"}}) ==
        "alerts.webhook_url: http:// is accepted only for a loopback host; use https:// (the "
        "value is a secret and is not shown)");
  CHECK(error_of("[alerts]\nwebhook_url = \"env:ALERT_URL\"\n") ==
        "alerts.webhook_url: environment variable ALERT_URL (from \"env:ALERT_URL\") is not set");
  auto loopback = load_text("[alerts]\nwebhook_url = \"env:ALERT_URL\"\n", "test.toml",
                            {{"ALERT_URL", "http://127.0.0.1:9/hook"}});
  CHECK(loopback.has_value());
}

TEST_CASE("each [alerts] key is validated with a message naming it") {
  CHECK(error_of("[alerts]\ndead_threshold = 0\n") ==
        "alerts.dead_threshold: must be between 1 and 100000000, got 0");
  CHECK(error_of("[alerts]\ndrift_threshold = \"1\"\n") ==
        "alerts.drift_threshold: expected a percentage between 0.01% and 100% with at most two "
        "decimals, e.g. \"1%\" or \"0.5%\", got \"1\"");
  CHECK(error_of("[alerts]\ndrift_threshold = \"0.001%\"\n") ==
        "alerts.drift_threshold: expected a percentage between 0.01% and 100% with at most two "
        "decimals, e.g. \"1%\" or \"0.5%\", got \"0.001%\"");
  CHECK(error_of("[alerts]\ndrift_threshold = \"101%\"\n") ==
        "alerts.drift_threshold: expected a percentage between 0.01% and 100% with at most two "
        "decimals, e.g. \"1%\" or \"0.5%\", got \"101%\"");
  CHECK(error_of("[alerts]\ndrift_threshold = 0.01\n") ==
        "alerts.drift_threshold: expected a string");
  CHECK(error_of("[alerts]\ncheck_interval = \"500ms\"\n") ==
        "alerts.check_interval: must be at least 1s, got \"500ms\"");
  CHECK(error_of("[alerts]\nretry_cap = \"soon\"\n").starts_with("alerts.retry_cap: "));
  CHECK(error_of("[alerts]\nwebhook = \"x\"\n") ==
        "alerts.webhook: unknown key (not a setting; check the spelling)");
  CHECK(error_of("", {{"INTACCT_SYNC_ALERTS_DEADTHRESHOLD", "5"}}) ==
        "INTACCT_SYNC_ALERTS_DEADTHRESHOLD: no setting alerts.deadthreshold can be overridden "
        "(check the spelling)");
}

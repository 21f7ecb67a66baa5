// The committed trigger fixtures (tests/ingest/fixtures/triggers, made once by
// python3-jwt; see NOTE.md there), read once per test process.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

namespace isync::testing {

struct TriggerFixtures {
  std::map<std::string, std::string> consts, bodies, tokens, envelopes, samples;
  std::int64_t now_ms = 0;

  const std::string& body(const std::string& name) const { return get(bodies, name); }
  const std::string& token(const std::string& name) const { return get(tokens, name); }
  const std::string& value(const std::string& name) const { return get(consts, name); }

 private:
  static const std::string& get(const std::map<std::string, std::string>& m,
                                const std::string& name) {
    auto it = m.find(name);
    REQUIRE_MESSAGE(it != m.end(), "no fixture named " << name);
    return it->second;
  }
};

inline const TriggerFixtures& trigger_fixtures() {
  static const TriggerFixtures fixtures = [] {
    TriggerFixtures f;
    std::ifstream in(std::string(ISYNC_TRIGGER_FIXTURES) + "/fixtures.tsv");
    REQUIRE_MESSAGE(in.good(), "cannot read " << ISYNC_TRIGGER_FIXTURES << "/fixtures.tsv");
    std::string line;
    while (std::getline(in, line)) {
      auto a = line.find('\t');
      auto b = line.find('\t', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      std::string kind = line.substr(0, a);
      std::string name = line.substr(a + 1, b - a - 1);
      std::string value = line.substr(b + 1);
      auto& target = kind == "const"      ? f.consts
                     : kind == "body"     ? f.bodies
                     : kind == "token"    ? f.tokens
                     : kind == "envelope" ? f.envelopes
                                          : f.samples;
      target[name] = value;
    }
    f.now_ms = std::stoll(f.consts.at("now_ms"));
    return f;
  }();
  return fixtures;
}

}  // namespace isync::testing

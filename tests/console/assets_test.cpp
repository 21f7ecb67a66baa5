// The embedded console files (console/console.hpp): found by path with their
// content types and ETags; anything else is not found.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "console/console.hpp"

using namespace isync::console;

TEST_CASE("the shell is served at /console with an HTML content type") {
  auto a = asset("/console");
  REQUIRE(a);
  CHECK(a->content_type == "text/html; charset=utf-8");
  CHECK(a->body.find("<html") != std::string_view::npos);
  CHECK(a->etag.size() == 34);
  CHECK(a->etag.front() == '"');
  CHECK(a->etag.back() == '"');
  auto slash = asset("/console/");
  REQUIRE(slash);
  CHECK(slash->body == a->body);
}

TEST_CASE("app.js and app.css are found with their content types") {
  auto js = asset("/console/assets/app.js");
  REQUIRE(js);
  CHECK(js->content_type == "text/javascript; charset=utf-8");
  CHECK_FALSE(js->body.empty());
  auto css = asset("/console/assets/app.css");
  REQUIRE(css);
  CHECK(css->content_type == "text/css; charset=utf-8");
  CHECK(css->etag != js->etag);
}

TEST_CASE("every embedded file is listed and served by its name") {
  auto names = asset_names();
  CHECK(std::find(names.begin(), names.end(), "index.html") != names.end());
  CHECK(std::find(names.begin(), names.end(), "app.js") != names.end());
  CHECK(std::find(names.begin(), names.end(), "app.css") != names.end());
  CHECK(std::is_sorted(names.begin(), names.end()));
  for (auto name : names) {
    auto a = asset("/console/assets/" + std::string(name));
    REQUIRE(a);
    CHECK_FALSE(a->content_type.empty());
  }
}

TEST_CASE("unknown names, other paths and traversal are not found") {
  CHECK_FALSE(asset("/console/assets/nope.js"));
  CHECK_FALSE(asset("/console/assets/"));
  CHECK_FALSE(asset("/console/assets/../console.hpp"));
  CHECK_FALSE(asset("/console/assets/sub/app.js"));
  CHECK_FALSE(asset("/console/assets/.app.js"));
  CHECK_FALSE(asset("/console/app.js"));
  CHECK_FALSE(asset("/consoleX"));
  CHECK_FALSE(asset("/"));
  CHECK_FALSE(asset("/console/assets/app.js?x=1"));
}

#include <doctest/doctest.h>

#include "core/core.hpp"

using namespace isync;

TEST_CASE("metrics render in Prometheus text format with labels") {
  Metrics m;
  m.counter("isync_http_requests_total", "Requests", {{"route", "events"}, {"status", "202"}})
      .inc(3);
  m.gauge("isync_queue_depth", "Depth", {{"tenant", "acme"}}).set(7);
  auto& h = m.histogram("isync_enqueue_seconds", "Latency", {}, {0.001, 0.01});
  h.observe(0.0005);
  h.observe(0.005);
  h.observe(1);
  auto text = m.render();
  CHECK(text.find("# TYPE isync_http_requests_total counter") != std::string::npos);
  CHECK(text.find(R"(isync_http_requests_total{route="events",status="202"} 3)") !=
        std::string::npos);
  CHECK(text.find(R"(isync_queue_depth{tenant="acme"} 7)") != std::string::npos);
  CHECK(text.find(R"(isync_enqueue_seconds_bucket{le="0.001"} 1)") != std::string::npos);
  CHECK(text.find(R"(isync_enqueue_seconds_bucket{le="0.01"} 2)") != std::string::npos);
  CHECK(text.find(R"(isync_enqueue_seconds_bucket{le="+Inf"} 3)") != std::string::npos);
  CHECK(text.find("isync_enqueue_seconds_count 3") != std::string::npos);
}

TEST_CASE("bucket bounds print in their shortest form") {
  Metrics m;
  m.histogram("isync_h", "h", {}, {0.00025, 2.5}).observe(1);
  auto text = m.render();
  CHECK(text.find(R"(isync_h_bucket{le="0.00025"} 0)") != std::string::npos);
  CHECK(text.find(R"(isync_h_bucket{le="2.5"} 1)") != std::string::npos);
}

TEST_CASE("scrape hooks run before rendering") {
  Metrics m;
  auto& g = m.gauge("isync_x", "x");
  m.on_scrape([&] { g.set(42); });
  CHECK(m.render().find("isync_x 42") != std::string::npos);
}

TEST_CASE("a counter mirroring an outside total shows the last total set, as a counter") {
  isync::Metrics m;
  auto& c = m.counter("isync_x_total", "X.", {{"tenant", "acme"}});
  c.set(41);
  c.set(42);
  CHECK(c.value() == 42);
  CHECK(m.render().find("# TYPE isync_x_total counter\nisync_x_total{tenant=\"acme\"} 42\n") !=
        std::string::npos);
  // The source was reset: the counter follows it down (a reset to Prometheus).
  c.set(3);
  CHECK(c.value() == 3);
}

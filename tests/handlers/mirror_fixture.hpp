// A real redis-server, an io thread, and a MirrorHandler/MirrorReader on one
// async connection, for the mirror's tests.
#pragma once

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "handlers/handlers.hpp"
#include "tests/support/io_loop.hpp"
#include "tests/support/redis_server.hpp"

namespace isync::testing {

inline constexpr const char* kTenant = "acme";
inline constexpr std::int64_t kStartMs = 1700000000000;  // 2023-11-14T22:13:20Z

using Fields = std::vector<std::pair<std::string, std::string>>;

inline queue::Envelope make_event(const std::string& object, const std::string& recordno,
                                  const std::string& action, std::int64_t version,
                                  Fields snapshot = {}) {
  queue::Envelope e;
  e.event_id = make_ulid(kStartMs);
  e.source = "intacct";
  e.tenant = kTenant;
  e.object = object;
  e.action = action;
  e.key = recordno;
  e.version = version;
  e.whenmodified = format_whenmodified(version);
  std::sort(snapshot.begin(), snapshot.end());
  e.snapshot = std::move(snapshot);
  e.received_at_ms = kStartMs;
  e.content_type = "application/x-www-form-urlencoded";
  e.raw = "object=" + object + "&action=" + action + "&recordno=" + recordno;
  return e;
}

// The mirror's tests run their io_context on one thread.
struct IoThread : Loop {
  IoThread() : Loop(1) {}
};

inline std::shared_ptr<redis::Connection> connect(boost::asio::any_io_executor ex,
                                                  const redis::Endpoint& endpoint) {
  auto conn = redis::Connection::create(ex, endpoint, redis::Options{});
  conn->start();
  REQUIRE(eventually([&] { return conn->connected(); }));
  return conn;
}

// Waits (generously) for an async call's single callback.
template <class T, class Start>
T await(Start start) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  start([promise](T value) { promise->set_value(std::move(value)); });
  REQUIRE(future.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
  return future.get();
}

struct MirrorFixture {
  RedisServer server;
  Metrics metrics;
  ManualClock clock{kStartMs};
  std::mutex log_mu;
  std::vector<std::string> log_lines;
  Log log{Level::info, [this](std::string_view line) {
            std::lock_guard lock(log_mu);
            log_lines.emplace_back(line);
          }};
  handlers::MirrorOptions options;
  // Declared after the io thread: destroyed before its io_context.
  std::unique_ptr<IoThread> io = std::make_unique<IoThread>();
  std::shared_ptr<redis::Connection> conn = connect(io->executor(), server.endpoint());
  std::unique_ptr<handlers::MirrorHandler> handler;
  handlers::MirrorReader reader{conn};

  MirrorFixture() { rebuild(); }
  ~MirrorFixture() {
    close_and_wait(*conn);
    io->stop();
  }

  void rebuild() {
    handler = std::make_unique<handlers::MirrorHandler>(conn, options, metrics, clock, log);
  }

  queue::Outcome apply(const queue::Envelope& e) {
    queue::Delivery d;
    d.tenant = e.tenant;
    d.stream = queue::key(e.tenant, "events");
    d.entry_id = "1-1";
    d.envelope = e;
    return await<queue::Outcome>([&](auto cb) { handler->handle(d, cb); });
  }

  Result<std::string> get(const std::string& collection, const std::string& recordno) {
    return await<Result<std::string>>(
        [&](auto cb) { reader.get(kTenant, collection, recordno, cb); });
  }

  Result<std::string> find(const std::string& collection, const std::string& id) {
    return await<Result<std::string>>(
        [&](auto cb) { reader.find_by_id(kTenant, collection, id, cb); });
  }

  std::string rec_key(const std::string& object, const std::string& recordno) {
    return queue::key(kTenant, "rec:" + object + ":" + recordno);
  }
  std::string audit_key(const std::string& object, const std::string& recordno) {
    return queue::key(kTenant, "audit:" + object + ":" + recordno);
  }

  // The stored fields of a record (empty when absent).
  std::map<std::string, std::string> fields(const std::string& object,
                                            const std::string& recordno) {
    std::map<std::string, std::string> out;
    auto r = server.cmd({"HGET", rec_key(object, recordno), "f"});
    if (r.type != redis::Reply::Type::string) return out;
    rapidjson::Document doc;
    doc.Parse(r.str.c_str(), r.str.size());
    REQUIRE(doc.IsObject());
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      REQUIRE(it->value.IsString());
      out[it->name.GetString()] = it->value.GetString();
    }
    return out;
  }

  std::string hget(const std::string& object, const std::string& recordno,
                   const std::string& field) {
    auto r = server.cmd({"HGET", rec_key(object, recordno), field});
    return r.type == redis::Reply::Type::string ? r.str : std::string("(nil)");
  }

  long long audit_len(const std::string& object, const std::string& recordno) {
    return server.cmd({"LLEN", audit_key(object, recordno)}).integer;
  }

  std::uint64_t decisions(const std::string& object, const std::string& decision) {
    return metrics
        .counter("isync_mirror_changes_total", "",
                 {{"tenant", kTenant}, {"object", object}, {"decision", decision}})
        .value();
  }
};

}  // namespace isync::testing

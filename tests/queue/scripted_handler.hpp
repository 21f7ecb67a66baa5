// Shared by the queue tests that run a WorkerPool: a handler scripted per
// delivery.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "queue/queue.hpp"
#include "redis/redis.hpp"

namespace isync::testing {

// Answers each delivery with what `policy` says; "done" commits the ack the
// way real handlers do, with kAckLua in one script.
class ScriptedHandler : public queue::Handler {
 public:
  using Policy = std::function<queue::Outcome::Kind(const queue::Delivery&)>;
  ScriptedHandler(std::shared_ptr<redis::Connection> conn, Policy policy)
      : conn_(std::move(conn)), policy_(std::move(policy)) {}

  void handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) override {
    queue::Outcome::Kind kind;
    {
      std::lock_guard lock(mu_);
      seen_.push_back(d);
      kind = policy_(d);
    }
    if (kind != queue::Outcome::Kind::done) {
      queue::Outcome o;
      o.kind = kind;
      o.failure = {
          queue::FailureClass::transient, "flaky", "it failed", "BL01", "desc", "fix it", "ctl-1"};
      return done(o);
    }
    std::vector<std::string> keys, args;
    queue::ack_inputs(d, keys, args, std::chrono::seconds(3600));
    conn_->eval(ack_, keys, args,
                [done](boost::system::error_code, redis::Reply) { done(queue::Outcome{}); });
  }

  std::vector<queue::Delivery> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  void set_policy(Policy p) {
    std::lock_guard lock(mu_);
    policy_ = std::move(p);
  }

 private:
  redis::Script ack_{std::string("local function ack()\n") + queue::kAckLua + "\nend\nack()\n"};
  std::shared_ptr<redis::Connection> conn_;
  std::mutex mu_;
  Policy policy_;
  std::vector<queue::Delivery> seen_;
};

}  // namespace isync::testing

// unsettled_payments: the payments status lists until they are settled.
#include <memory>

#include "handlers/handlers.hpp"

namespace isync::handlers {

namespace {

// Reads the ZSET, then each payment's hash in one pipelined batch.
struct Lister : std::enable_shared_from_this<Lister> {
  redis::Connection& conn;
  std::string tenant;
  std::function<void(Result<std::vector<PaymentState>>)> done;
  std::vector<PaymentState> out;
  std::size_t waiting = 0;
  bool failed = false;

  Lister(redis::Connection& c, std::string t,
         std::function<void(Result<std::vector<PaymentState>>)> d)
      : conn(c), tenant(std::move(t)), done(std::move(d)) {}

  void start(int limit) {
    conn.command(
        {"ZRANGE", queue::key(tenant, "payments:unsettled"), "0",
         std::to_string(std::max(1, limit) - 1), "WITHSCORES"},
        [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
          if (ec || r.is_error()) {
            return self->done(make_error("unavailable", "Redis: " + (ec ? ec.message() : r.str)));
          }
          for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
            PaymentState p;
            p.payment_id = r.elements[i].str;
            p.since_ms = std::strtoll(r.elements[i + 1].str.c_str(), nullptr, 10);
            self->out.push_back(std::move(p));
          }
          if (self->out.empty()) return self->done(std::move(self->out));
          self->waiting = self->out.size();
          for (std::size_t i = 0; i < self->out.size(); ++i) self->fill(i);
        });
  }

  void fill(std::size_t i) {
    conn.command(
        {"HMGET", queue::key(tenant, "pay:" + out[i].payment_id), "state", "recordno", "invoice",
         "customer", "amount", "currency", "error", "sends"},
        [self = shared_from_this(), i](boost::system::error_code ec, redis::Reply r) {
          if (ec || r.is_error() || r.elements.size() < 8) {
            self->failed = true;
          } else {
            auto& p = self->out[i];
            p.state = r.elements[0].str;
            p.recordno = r.elements[1].str;
            p.invoice = r.elements[2].str;
            p.customer = r.elements[3].str;
            p.amount = r.elements[4].str;
            p.currency = r.elements[5].str;
            p.error = r.elements[6].str;
            p.sends = std::strtoll(r.elements[7].str.c_str(), nullptr, 10);
          }
          if (--self->waiting > 0) return;
          if (self->failed) {
            return self->done(make_error("unavailable", "Redis failed while listing payments"));
          }
          self->done(std::move(self->out));
        });
  }
};

}  // namespace

void unsettled_payments(redis::Connection& conn, const std::string& tenant, int limit,
                        std::function<void(Result<std::vector<PaymentState>>)> done) {
  std::make_shared<Lister>(conn, tenant, std::move(done))->start(limit);
}

}  // namespace isync::handlers

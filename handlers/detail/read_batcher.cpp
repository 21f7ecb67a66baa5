#include "handlers/detail/read_batcher.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>

#include "queue/queue.hpp"

namespace isync::handlers::detail {
namespace {

constexpr std::size_t kMaxKeys = 100;  // Intacct's `read` limit (PROTOCOL.md §3)

// KEYS: record hashes. Returns each record's version ("" when absent, or a
// hidden draft marker, which a read must still settle).
const redis::Script& versions_script() {
  static const redis::Script script(R"lua(
local out = {}
for i, k in ipairs(KEYS) do
  local r = redis.call('HMGET', k, 'v', 'draft')
  if r[1] and r[2] ~= '1' then out[i] = r[1] else out[i] = '' end
end
return out
)lua");
  return script;
}

}  // namespace

ReadBatcher::ReadBatcher(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                         std::chrono::milliseconds window)
    : strand_(make_strand_executor(ex)), conn_(std::move(conn)), window_(window) {}

void ReadBatcher::read(std::shared_ptr<intacct::Client> client, ReadRequest request,
                       std::function<void(ReadAnswer)> done) {
  boost::asio::post(strand_, [self = shared_from_this(), client = std::move(client),
                              request = std::move(request), done = std::move(done)]() mutable {
    self->add(std::move(client), std::move(request), std::move(done));
  });
}

void ReadBatcher::add(std::shared_ptr<intacct::Client> client, ReadRequest request,
                      std::function<void(ReadAnswer)> done) {
  const std::string batch_key = request.tenant + "\n" + request.object;
  auto& batch = open_[batch_key];
  if (!batch) {
    batch = std::make_shared<Batch>();
    batch->tenant = request.tenant;
    batch->object = request.object;
    batch->client = std::move(client);
    batch->generation = ++next_generation_;
    auto timer = std::make_shared<boost::asio::steady_timer>(strand_, window_);
    timer->async_wait([self = shared_from_this(), timer, batch_key,
                       generation = batch->generation](boost::system::error_code) {
      auto it = self->open_.find(batch_key);
      if (it != self->open_.end() && it->second->generation == generation) self->flush(batch_key);
    });
  }
  batch->waiters[request.recordno].push_back(Waiter{request.need_version, std::move(done)});
  if (batch->waiters.size() >= kMaxKeys) flush(batch_key);
}

void ReadBatcher::flush(const std::string& batch_key) {
  auto it = open_.find(batch_key);
  if (it == open_.end()) return;
  auto batch = std::move(it->second);
  open_.erase(it);
  check_versions(std::move(batch));
}

void ReadBatcher::check_versions(std::shared_ptr<Batch> batch) {
  std::vector<std::string> keys;
  keys.reserve(batch->waiters.size());
  for (const auto& [recordno, waiters] : batch->waiters)
    keys.push_back(queue::key(batch->tenant, "rec:" + batch->object + ":" + recordno));
  conn_->eval(versions_script(), std::move(keys), {},
              [self = shared_from_this(), batch](boost::system::error_code ec, redis::Reply reply) {
                boost::asio::post(self->strand_, [self, batch, ec, reply = std::move(reply)]() {
                  // Without the versions (Redis trouble) every key is read: a wasted
                  // read is cheaper than a lost change, and the apply will tell.
                  if (!ec && reply.type == redis::Reply::Type::array &&
                      reply.elements.size() == batch->waiters.size()) {
                    std::size_t i = 0;
                    for (auto it = batch->waiters.begin(); it != batch->waiters.end(); ++i) {
                      const auto& v = reply.elements[i];
                      std::int64_t stored = -1;
                      if (v.type == redis::Reply::Type::string && !v.str.empty()) {
                        try {
                          stored = std::stoll(v.str);
                        } catch (...) {
                          stored = -1;
                        }
                      }
                      auto& waiters = it->second;
                      std::vector<Waiter> keep;
                      for (auto& w : waiters) {
                        if (stored >= 0 && stored >= w.need_version) {
                          ReadAnswer a;
                          a.kind = ReadAnswer::Kind::held;
                          w.done(std::move(a));
                        } else {
                          keep.push_back(std::move(w));
                        }
                      }
                      if (keep.empty()) {
                        it = batch->waiters.erase(it);
                      } else {
                        waiters = std::move(keep);
                        ++it;
                      }
                    }
                  }
                  if (batch->waiters.empty()) return;
                  self->call_intacct(batch);
                });
              });
}

void ReadBatcher::call_intacct(std::shared_ptr<Batch> batch) {
  std::vector<std::string> recordnos;
  recordnos.reserve(batch->waiters.size());
  for (const auto& [recordno, waiters] : batch->waiters) recordnos.push_back(recordno);
  batch->client->read(
      batch->object, std::move(recordnos),
      [self = shared_from_this(), batch](intacct::ReadOutcome outcome) {
        boost::asio::post(self->strand_, [batch, outcome = std::move(outcome)]() mutable {
          for (auto& [recordno, waiters] : batch->waiters) {
            ReadAnswer a;
            if (outcome.circuit_open) {
              a.kind = ReadAnswer::Kind::circuit_open;
              a.error = outcome.error;
            } else if (outcome.error && outcome.error->bad_credentials) {
              // The call that found the credentials rejected opened the circuit.
              a.kind = ReadAnswer::Kind::circuit_open;
              a.error = outcome.error;
            } else if (outcome.error) {
              a.kind = ReadAnswer::Kind::failed;
              a.error = outcome.error;
            } else if (auto it = outcome.rows.find(recordno); it != outcome.rows.end()) {
              a.kind = ReadAnswer::Kind::found;
              a.row = it->second;
            } else {
              a.kind = ReadAnswer::Kind::gone;
            }
            for (auto& w : waiters) w.done(a);
          }
        });
      });
}

}  // namespace isync::handlers::detail

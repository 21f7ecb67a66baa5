#include "handlers/detail/read_batcher.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>

#include "queue/queue.hpp"

namespace isync::handlers::detail {
namespace {

constexpr std::size_t kMaxKeys = 100;  // Intacct's `read` limit (PROTOCOL.md §3)

// KEYS: record hashes. Returns {version, read time, deleted, needed version}
// per record
// ("" for a version when absent or a hidden draft marker, which a read must
// still settle; "" for a read time when the fields did not come from a read).
const redis::Script& versions_script() {
  static const redis::Script script(R"lua(
local out = {}
for _, k in ipairs(KEYS) do
  local r = redis.call('HMGET', k, 'v', 'draft', 'rt', 'del', 'need')
  if r[1] and r[2] ~= '1' then out[#out + 1] = r[1] else out[#out + 1] = '' end
  out[#out + 1] = r[3] or ''
  out[#out + 1] = r[4] or '0'
  out[#out + 1] = r[5] or ''
end
return out
)lua");
  return script;
}

std::int64_t to_int(const redis::Reply& r) {
  if (r.type != redis::Reply::Type::string || r.str.empty()) return -1;
  try {
    return std::stoll(r.str);
  } catch (...) {
    return -1;
  }
}

}  // namespace

ReadBatcher::ReadBatcher(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
                         Clock& clock, std::chrono::milliseconds window,
                         std::chrono::milliseconds settle)
    : strand_(make_strand_executor(ex)),
      conn_(std::move(conn)),
      clock_(clock),
      window_(window),
      settle_(settle) {}

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
  batch->waiters[request.recordno].push_back(
      Waiter{request.version, request.mode, std::move(done)});
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
  conn_->eval(
      versions_script(), std::move(keys), {},
      [self = shared_from_this(), batch](boost::system::error_code ec, redis::Reply reply) {
        boost::asio::post(self->strand_, [self, batch, ec, reply = std::move(reply)]() {
          // Without the versions (Redis trouble) every key is read: a wasted
          // read is cheaper than a lost change, and the apply will tell.
          if (!ec && reply.type == redis::Reply::Type::array &&
              reply.elements.size() == 4 * batch->waiters.size()) {
            std::size_t i = 0;
            for (auto it = batch->waiters.begin(); it != batch->waiters.end(); i += 4) {
              const std::int64_t stored = to_int(reply.elements[i]);
              const std::int64_t read_at = to_int(reply.elements[i + 1]);
              const bool deleted = reply.elements[i + 2].str == "1";
              // A deferred read must bring at least the version it was
              // deferred for.
              const std::int64_t need = to_int(reply.elements[i + 3]);
              const bool settled =
                  stored >= 0 && read_at >= 0 &&
                  read_at >= (stored + 1) * 1000 + static_cast<std::int64_t>(self->settle_.count());
              auto held = [&](const Waiter& w) {
                if (stored < 0) return false;
                switch (w.mode) {
                  case ReadRequest::Mode::thin:
                    return stored > w.version || (stored == w.version && (settled || deleted));
                  case ReadRequest::Mode::conflict:
                    return stored > w.version;
                  case ReadRequest::Mode::recheck:
                    return (settled || deleted) && stored >= need;
                }
                return false;
              };
              auto& waiters = it->second;
              std::vector<Waiter> keep;
              for (auto& w : waiters) {
                if (held(w)) {
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
  const std::int64_t sent_at = clock_.now_ms();
  batch->client->read(
      batch->object, std::move(recordnos),
      [self = shared_from_this(), batch, sent_at](intacct::ReadOutcome outcome) {
        boost::asio::post(self->strand_, [batch, sent_at, outcome = std::move(outcome)]() mutable {
          for (auto& [recordno, waiters] : batch->waiters) {
            ReadAnswer a;
            a.sent_at_ms = sent_at;
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
            for (std::size_t i = 0; i < waiters.size(); ++i) {
              if (i == 1 && a.kind == ReadAnswer::Kind::found) a.kind = ReadAnswer::Kind::shared;
              waiters[i].done(a);
            }
          }
        });
      });
}

}  // namespace isync::handlers::detail

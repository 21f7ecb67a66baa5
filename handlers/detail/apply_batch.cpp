#include "handlers/detail/apply_batch.hpp"

#include <algorithm>
#include <utility>

#include "handlers/detail/mirror_lua.hpp"

namespace isync::handlers::detail {

ApplyBatcher::ApplyBatcher(std::shared_ptr<redis::Connection> conn, int max_events,
                           std::chrono::microseconds budget)
    : conn_(std::move(conn)),
      max_events_(static_cast<std::size_t>(std::max(1, max_events))),
      budget_us_(std::to_string(std::max<std::int64_t>(1, budget.count()))) {}

void ApplyBatcher::apply(const std::string& tenant, std::vector<std::string> keys,
                         std::vector<std::string> args,
                         std::function<void(std::string decision)> then) {
  Item item{std::move(keys), std::move(args), 0, std::move(then)};
  for (const auto& a : item.args) item.bytes += a.size();
  {
    std::lock_guard lock(mu_);
    auto& q = waiting_[tenant];
    if (q.empty()) order_.push_back(tenant);
    q.push_back(std::move(item));
  }
  next();
}

bool ApplyBatcher::take(Batch& out) {
  if (order_.empty()) return false;
  const std::string tenant = order_.front();
  order_.erase(order_.begin());
  auto it = waiting_.find(tenant);
  auto& q = it->second;
  std::size_t n = 0, bytes = 0;
  while (n < q.size() && n < max_events_ && (n == 0 || bytes + q[n].bytes <= kMaxBatchBytes)) {
    bytes += q[n].bytes;
    ++n;
  }
  out.tenant = tenant;
  out.items.assign(std::make_move_iterator(q.begin()),
                   std::make_move_iterator(q.begin() + static_cast<std::ptrdiff_t>(n)));
  q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
  if (q.empty()) {
    waiting_.erase(it);
  } else {
    order_.push_back(tenant);  // its turn again after the other tenants
  }
  return true;
}

// Sends while there is room. One thread sends at a time (sending_), so
// batches reach the connection in the order they were taken: two events of
// one record are applied in the order apply() saw them (but see "later" in
// the header).
void ApplyBatcher::next() {
  {
    std::lock_guard lock(mu_);
    if (sending_) return;  // that thread's loop takes this event too
    sending_ = true;
  }
  while (true) {
    Batch batch;
    {
      std::lock_guard lock(mu_);
      if (in_flight_ >= kMaxInFlight || !take(batch)) {
        sending_ = false;
        return;
      }
      ++in_flight_;
    }
    send(std::move(batch));
  }
}

void ApplyBatcher::send(Batch batch) {
  if (batch.items.size() == 1) {
    // One event: the one-event script, exactly as without batching.
    Item item = std::move(batch.items.front());
    run_apply(*conn_, std::move(item.keys), std::move(item.args),
              [self = shared_from_this(), tenant = std::move(batch.tenant),
               then = std::move(item.then)](std::string decision) {
                self->finished(tenant, {});
                then(std::move(decision));
                self->next();
              });
    return;
  }
  // A value every event has at one position is sent once (most arguments:
  // stream, group, tenant keys, options, often the field names): fewer
  // strings for Redis to make per event.
  const auto& first = batch.items.front();
  auto shared = [&](auto member, std::size_t p) {
    for (const auto& item : batch.items)
      if ((item.*member)[p] != (first.*member)[p]) return false;
    return true;
  };
  std::vector<bool> kshared(kApplyKeyCount), ashared(kApplyArgCount);
  std::string kmask, amask;  // '1' where shared
  for (std::size_t p = 0; p < kApplyKeyCount; ++p) {
    kshared[p] = shared(&Item::keys, p);
    kmask += kshared[p] ? '1' : '0';
  }
  for (std::size_t p = 0; p < kApplyArgCount; ++p) {
    ashared[p] = shared(&Item::args, p);
    amask += ashared[p] ? '1' : '0';
  }
  std::vector<std::string> keys, args{std::to_string(kApplyKeyCount),
                                      std::to_string(kApplyArgCount),
                                      budget_us_,
                                      std::to_string(batch.items.size()),
                                      kmask,
                                      amask};
  keys.reserve(batch.items.size() * kApplyKeyCount);
  args.reserve(6 + batch.items.size() * kApplyArgCount);
  for (std::size_t p = 0; p < kApplyKeyCount; ++p)
    if (kshared[p]) keys.push_back(first.keys[p]);
  for (std::size_t p = 0; p < kApplyArgCount; ++p)
    if (ashared[p]) args.push_back(first.args[p]);
  for (const auto& item : batch.items) {
    for (std::size_t p = 0; p < kApplyKeyCount; ++p)
      if (!kshared[p]) keys.push_back(item.keys[p]);
    for (std::size_t p = 0; p < kApplyArgCount; ++p)
      if (!ashared[p]) args.push_back(item.args[p]);
  }
  auto held = std::make_shared<Batch>(std::move(batch));
  conn_->eval(apply_batch_script(), std::move(keys), std::move(args),
              [self = shared_from_this(), held](boost::system::error_code ec, redis::Reply r) {
                self->answered(std::move(*held), ec, r);
              });
}

void ApplyBatcher::finished(const std::string& tenant, std::vector<Item> later) {
  std::lock_guard lock(mu_);
  --in_flight_;
  if (later.empty()) return;
  auto& q = waiting_[tenant];
  if (q.empty()) {
    // Its turn first: these events have waited longest.
    order_.insert(order_.begin(), tenant);
  }
  q.insert(q.begin(), std::make_move_iterator(later.begin()), std::make_move_iterator(later.end()));
}

void ApplyBatcher::answered(Batch batch, boost::system::error_code ec, const redis::Reply& reply) {
  const bool whole_error = !ec && reply.is_error();
  const bool shaped =
      !ec && reply.type == redis::Reply::Type::array && reply.elements.size() == batch.items.size();
  auto is = [](const redis::Reply& one, const char* word) {
    return one.type == redis::Reply::Type::array && !one.elements.empty() &&
           one.elements[0].type == redis::Reply::Type::string && one.elements[0].str == word;
  };
  std::vector<Item> later;
  std::vector<std::pair<std::function<void(std::string)>, std::string>> answers;
  for (std::size_t i = 0; i < batch.items.size(); ++i) {
    Item& item = batch.items[i];
    if (whole_error) {
      // Redis refused or aborted the call: each event once more on its own.
      run_apply(*conn_, std::move(item.keys), std::move(item.args), std::move(item.then));
      continue;
    }
    if (ec || !shaped) {
      answers.emplace_back(std::move(item.then),
                           ec ? decision_of(ec, reply)
                              : std::string("error:unexpected reply from the apply script"));
      continue;
    }
    const redis::Reply& one = reply.elements[i];
    if (is(one, "later")) {
      // The call ran out of time before this event: the next call takes it.
      later.push_back(std::move(item));
      continue;
    }
    if (is(one, "error")) {
      // This event's apply raised an error inside the batch: run it alone,
      // so it gets the one-event script's own answer.
      run_apply(*conn_, std::move(item.keys), std::move(item.args), std::move(item.then));
      continue;
    }
    answers.emplace_back(std::move(item.then), decision_of({}, one));
  }
  finished(batch.tenant, std::move(later));
  for (auto& [then, decision] : answers) then(std::move(decision));
  next();
}

}  // namespace isync::handlers::detail

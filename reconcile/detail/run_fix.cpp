// The run's fixes: reads, applies, drafts and confirmed gone records.
#include <algorithm>
#include <boost/asio/post.hpp>

#include "queue/queue.hpp"
#include "reconcile/detail/run.hpp"
#include "reconcile/detail/run_util.hpp"

namespace isync::reconcile::detail {

namespace asio = boost::asio;

// ---- fixing -------------------------------------------------------------------

void Run::flush_gone(std::function<void()> then) {
  if (gone_batch_.empty()) return then();
  std::vector<std::string> cmd{"SADD", gone_key()};
  for (auto& k : gone_batch_) cmd.push_back(std::move(k));
  gone_batch_.clear();
  deps_.conn->command(std::move(cmd), [](boost::system::error_code, redis::Reply) {});
  deps_.conn->command(
      {"EXPIRE", gone_key(), "86400"}, [self = shared_from_this(), then = std::move(then)](
                                           boost::system::error_code ec, redis::Reply r) mutable {
        asio::post(self->strand_, [self, ec, r = std::move(r), then = std::move(then)] {
          if (self->halted()) return;
          if (ec || r.is_error()) {
            self->report_.errors.push_back(
                {self->object_, "unavailable",
                 "keeping gone candidates: " + (ec ? ec.message() : r.str), "", "", "", ""});
            self->obj().state = "failed";
            self->object_failed_ = true;
            return self->end_object();
          }
          then();
        });
      });
}

void Run::apply_drafts(std::function<void()> then) {
  if (drafts_.empty() || request_.dry_run) {
    drafts_.clear();
    return then();
  }
  auto pending = std::make_shared<std::size_t>(drafts_.size());
  auto shared_then = std::make_shared<std::function<void()>>(std::move(then));
  for (const auto& d : drafts_) {
    deps_.mirror->apply_draft(
        request_.tenant, d.key, d.version, d.whenmodified, "reconcile", fence(),
        [self = shared_from_this(), pending, shared_then, d](Result<std::string> r) {
          asio::post(self->strand_, [self, pending, shared_then, d, r = std::move(r)] {
            if (r) self->count_decision(d.key, "draft", *r, 0, d.version);
            if (--*pending == 0) (*shared_then)();
          });
        });
  }
  drafts_.clear();
}

void Run::drain_reads(bool all, std::function<void()> then) {
  if (halted()) return;
  if (request_.dry_run) {
    to_read_.clear();
    return then();
  }
  if (to_read_.empty() || (!all && to_read_.size() < kReadBatch)) return then();
  // Up to parallel() batches at once; the next round when all are applied. A
  // batch that fails ends the object and never counts down, so the round
  // never goes on after it.
  std::vector<std::vector<std::pair<std::string, std::string>>> round;
  while (round.size() < parallel() && !to_read_.empty() && (all || to_read_.size() >= kReadBatch)) {
    auto& batch = round.emplace_back();
    while (!to_read_.empty() && batch.size() < kReadBatch) {
      batch.push_back(std::move(to_read_.front()));
      to_read_.pop_front();
    }
  }
  auto pending = std::make_shared<std::size_t>(round.size());
  auto shared_then = std::make_shared<std::function<void()>>(std::move(then));
  for (auto& batch : round) {
    read_batch(std::move(batch), [self = shared_from_this(), all, pending, shared_then] {
      if (--*pending == 0) self->drain_reads(all, std::move(*shared_then));
    });
  }
}

void Run::read_batch(std::vector<std::pair<std::string, std::string>> batch,
                     std::function<void()> then) {
  if (halted()) return;
  intacct::Read read;
  read.object = object_;
  for (const auto& [key, _] : batch) read.keys.push_back(key);
  ++obj().read_calls;
  const std::int64_t sent_at = deps_.clock->now_ms();
  gate_->call({intacct::Function{"", read}}, [self = shared_from_this(), sent_at,
                                              batch = std::move(batch), then = std::move(then)](
                                                 intacct::CallOutcome outcome) mutable {
    if (self->halted()) return;
    const intacct::Data* data = first_data(outcome);
    if (first_error(outcome) || !data) {
      return self->on_failure(outcome, "reading " + self->object_, [self] { self->end_object(); });
    }
    auto rows = std::make_shared<std::map<std::string, intacct::Row>>();
    for (const intacct::Row* row : data->rows_of(self->object_)) {
      if (const std::string* no = row->get("RECORDNO")) (*rows)[*no] = *row;
    }
    self->obj().reads_done += static_cast<std::int64_t>(batch.size());
    self->apply_rows(std::move(rows), std::move(batch), sent_at, std::move(then));
  });
}

void Run::apply_rows(std::shared_ptr<std::map<std::string, intacct::Row>> rows,
                     std::vector<std::pair<std::string, std::string>> batch, std::int64_t read_at,
                     std::function<void()> then) {
  if (batch.empty()) return then();
  auto pending = std::make_shared<std::size_t>(batch.size());
  auto shared_then = std::make_shared<std::function<void()>>(std::move(then));
  for (auto& [key, kind] : batch) {
    auto on_done = [self = shared_from_this(), pending, shared_then, key, kind,
                    rows](Result<std::string> r) {
      asio::post(self->strand_, [self, pending, shared_then, key, kind, rows, r = std::move(r)] {
        if (!r) {
          self->report_.errors.push_back({self->object_, r.error().code,
                                          "writing the mirror: " + r.error().message, "", "", "",
                                          key});
        } else {
          std::int64_t to = 0;
          if (auto it = rows->find(key); it != rows->end()) {
            if (const std::string* wm = it->second.get("WHENMODIFIED")) {
              if (auto v = parse_whenmodified(*wm)) to = *v;
            }
          }
          const auto from = self->mirror_version_.count(key) ? self->mirror_version_[key] : 0;
          self->count_decision(key, kind, *r, from, to);
        }
        if (--*pending == 0) (*shared_then)();
      });
    };
    auto it = rows->find(key);
    if (it != rows->end()) {
      deps_.mirror->apply_read(request_.tenant, object_, key, it->second, read_at, "reconcile",
                               fence(), std::move(on_done));
    } else {
      deps_.mirror->apply_gone(request_.tenant, object_, key, read_at, "reconcile", fence(),
                               std::move(on_done));
    }
  }
}

void Run::count_decision(const std::string& key, const std::string& kind,
                         const std::string& decision, std::int64_t from_version,
                         std::int64_t to_version) {
  ObjectReport& o = obj();
  std::string fix;
  if (decision == "fenced") {
    lock_lost_ = true;
    return;
  }
  if (decision == "applied") {
    fix = kind == "missing" ? "created" : "updated";
    ++(kind == "missing" ? o.created : o.updated);
  } else if (decision == "tombstoned") {
    fix = "tombstoned";
    ++o.tombstoned;
  } else if (decision == "removed") {
    fix = "draft_removed";
    ++o.drafts_removed;
  } else {
    return;
  }
  deps_.log->info("reconcile fix", LogLine()
                                       .str("tenant", request_.tenant)
                                       .str("run_id", report_.run_id)
                                       .str("object", object_)
                                       .str("key", key)
                                       .str("kind", kind)
                                       .str("fix", fix)
                                       .num("mirror_version", from_version)
                                       .num("intacct_version", to_version));
}

void Run::confirm_gone() {
  if (halted()) return;
  ObjectReport& o = obj();
  // Mass-delete guard: more gone than max(100, 5 % of listed) is likelier a
  // listing that cannot see records than real deletes.
  const bool too_many = o.gone_candidates > 100 && o.gone_candidates * 100 > 5 * o.listed;
  if (too_many && !request_.allow_mass_delete && !o.mass_delete_suspected) {
    o.mass_delete_suspected = true;
    report_.errors.push_back(
        {object_, "mass_delete_suspected",
         std::to_string(o.gone_candidates) + " mirrored " + object_ +
             " records are missing from Intacct's listing of " + std::to_string(o.listed) +
             " (more than max(100, 5 % of listed)); nothing was tombstoned. Likely causes: the "
             "web-services user lacks permission to see these records, they are private to an "
             "entity it cannot see, or the tenant's entity_id names the wrong entity. If the "
             "deletes are real, run again with --allow-mass-delete.",
         "", "", "", ""});
    // The missing and stale records left are still read and applied.
    return drain_reads(true, [self = shared_from_this()] {
      self->object_failed_ = true;
      self->obj().state = "failed";
      self->end_object();
    });
  }
  if (request_.dry_run) {
    to_read_.clear();
    return end_object();
  }
  // The missing and stale records left from the listing (less than a batch)
  // and the gone candidates share read calls: one pool, 100 keys a call.
  const std::size_t room = kReadBatch - std::min(kReadBatch, to_read_.size());
  if (o.gone_candidates == 0 || room == 0) {
    if (to_read_.empty()) return end_object();
    return drain_reads(true, [self = shared_from_this()] { self->confirm_gone(); });
  }
  deps_.conn->command(
      {"SPOP", gone_key(), std::to_string(room)},
      [self = shared_from_this()](boost::system::error_code ec, redis::Reply r) {
        asio::post(self->strand_, [self, ec, r = std::move(r)] {
          if (self->halted()) return;
          if (ec || r.is_error()) {
            self->report_.errors.push_back(
                {self->object_, "unavailable",
                 "reading gone candidates: " + (ec ? ec.message() : r.str), "", "", "", ""});
            self->object_failed_ = true;
            self->obj().state = "failed";
            return self->end_object();
          }
          std::vector<std::pair<std::string, std::string>> batch;
          while (!self->to_read_.empty()) {
            batch.push_back(std::move(self->to_read_.front()));
            self->to_read_.pop_front();
          }
          bool popped = false;
          for (const auto& e : r.elements) {
            if (e.type == redis::Reply::Type::string) {
              batch.emplace_back(e.str, "gone");
              popped = true;
            }
          }
          if (batch.empty()) return self->end_object();
          // Nothing popped: the candidates are all confirmed; the leftovers end the object.
          self->read_batch(std::move(batch), [self, popped] {
            if (popped) return self->confirm_gone();
            self->end_object();
          });
        });
      });
}

}  // namespace isync::reconcile::detail

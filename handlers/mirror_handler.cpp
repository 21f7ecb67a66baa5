#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "handlers/detail/apply_batch.hpp"
#include "handlers/detail/read_batcher.hpp"
#include "handlers/detail/read_failure.hpp"
#include "handlers/detail/record_doc.hpp"
#include "handlers/handlers.hpp"

namespace isync::handlers {

std::string object_of_collection(const std::string& collection) {
  if (collection == "customers") return "CUSTOMER";
  if (collection == "invoices") return "ARINVOICE";
  if (collection == "payments") return "ARPYMT";
  return {};
}

std::string id_field_of_object(const std::string& object) {
  if (object == "CUSTOMER") return "CUSTOMERID";
  if (object == "ARINVOICE") return "RECORDID";
  if (object == "ARPYMT") return "DOCNUMBER";
  return {};
}

namespace {

using queue::Outcome;

Outcome park(std::string code, std::string message) {
  Outcome o;
  o.kind = Outcome::Kind::park;
  o.failure.cls = queue::FailureClass::transient;
  o.failure.code = std::move(code);
  o.failure.message = std::move(message);
  return o;
}

Outcome failed(Outcome::Kind kind, queue::FailureClass cls, std::string code, std::string message) {
  Outcome o;
  o.kind = kind;
  o.failure.cls = cls;
  o.failure.code = std::move(code);
  o.failure.message = std::move(message);
  return o;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// snapshot | thin | draft | delete (see detail/mirror_lua.hpp).
std::string kind_of(const queue::Envelope& e) {
  if (e.action == "delete") return "delete";
  if (e.snapshot.empty()) return "thin";
  if (e.object == "ARINVOICE") {
    auto it = std::find_if(e.snapshot.begin(), e.snapshot.end(),
                           [](const auto& f) { return f.first == "STATE"; });
    if (it == e.snapshot.end()) return "thin";
    if (iequals(it->second, "draft")) return "draft";
  }
  return "snapshot";
}

std::string describe(const queue::Envelope& e) {
  return e.object + " " + e.key + " of tenant " + e.tenant + " (event " + e.event_id + ")";
}

}  // namespace

namespace detail {

// A failed read from Intacct as the queue's outcome: transient (and, for a
// read, ambiguous) failures are retried with backoff; permanent ones become
// dead letters carrying Intacct's errorno, description and correction.
Outcome intacct_failure(const queue::Envelope& e, const std::optional<intacct::IntacctError>& err) {
  const bool permanent = err && err->cls == intacct::ErrorClass::permanent;
  Outcome o = failed(permanent ? Outcome::Kind::dead : Outcome::Kind::retry,
                     permanent ? queue::FailureClass::permanent : queue::FailureClass::transient,
                     "intacct_error",
                     describe(e) + ": reading the record from Intacct failed: " +
                         (err ? err->summary() : std::string("no answer")) +
                         (permanent ? "" : "; it will be retried"));
  if (err) {
    if (!err->errors.empty()) {
      o.failure.errorno = err->errors.front().errorno;
      o.failure.description = err->errors.front().description;
      if (!err->errors.front().description2.empty())
        o.failure.description += " " + err->errors.front().description2;
      o.failure.correction = err->errors.front().correction;
    }
    o.failure.controlid = err->control_id;
  }
  return o;
}

}  // namespace detail

using detail::intacct_failure;

MirrorHandler::Apply MirrorHandler::read_apply(const queue::Envelope& e, const intacct::Row& row,
                                               std::int64_t read_at_ms, std::string source) {
  return detail::read_step(e.object, row, read_at_ms, std::move(source), e.version, e.whenmodified);
}

MirrorHandler::MirrorHandler(std::shared_ptr<redis::Connection> conn, MirrorOptions options,
                             Metrics& metrics, Clock& clock, Log& log)
    : conn_(std::move(conn)), options_(options), metrics_(metrics), clock_(clock), log_(log) {
  if (options_.apply_batch > 1)
    applier_ =
        std::make_shared<detail::ApplyBatcher>(conn_, options_.apply_batch, options_.apply_budget);
}

MirrorHandler::MirrorHandler(std::shared_ptr<redis::Connection> conn, MirrorOptions options,
                             Metrics& metrics, Clock& clock, Log& log,
                             boost::asio::any_io_executor executor,
                             std::shared_ptr<intacct::ClientHub> intacct)
    : conn_(std::move(conn)),
      options_(options),
      metrics_(metrics),
      clock_(clock),
      log_(log),
      intacct_(std::move(intacct)) {
  if (options_.apply_batch > 1)
    applier_ =
        std::make_shared<detail::ApplyBatcher>(conn_, options_.apply_batch, options_.apply_budget);
  if (intacct_)
    batcher_ = std::make_shared<detail::ReadBatcher>(
        executor, conn_, clock_, options_.read_batch_window, options_.settle_margin);
}

MirrorHandler::~MirrorHandler() = default;

void MirrorHandler::handle(const queue::Delivery& d, std::function<void(queue::Outcome)> done) {
  const auto started = std::chrono::steady_clock::now();
  const queue::Envelope& e = d.envelope;

  Finish finish = [this, started, tenant = d.tenant, object = e.object, done = std::move(done)](
                      std::string decision, Outcome outcome) {
    const auto elapsed = std::chrono::steady_clock::now() - started;
    metrics_
        .counter("isync_mirror_changes_total",
                 "Smart events applied to the mirror, by decision (applied, tombstoned, removed, "
                 "ignored, reread, thin, invalid, error).",
                 {{"tenant", tenant}, {"object", object}, {"decision", decision}})
        .inc();
    metrics_
        .histogram("isync_mirror_apply_seconds",
                   "Time to apply one smart event to the mirror, seconds.", {{"object", object}})
        .observe(std::chrono::duration<double>(elapsed).count());
    outcome.result = decision;
    done(std::move(outcome));
  };

  const std::string id_field = id_field_of_object(e.object);
  if (e.source != "intacct") {
    finish("invalid", park("not_supported",
                           "event " + e.event_id + " from source \"" + e.source +
                               "\" has no handler yet; it waits parked until one is deployed"));
    return;
  }
  if (id_field.empty()) {
    finish("invalid", failed(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                             "event " + e.event_id + " names object \"" + e.object +
                                 "\"; only CUSTOMER, ARINVOICE and ARPYMT are mirrored"));
    return;
  }
  if (e.action != "add" && e.action != "set" && e.action != "delete") {
    finish("invalid", failed(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                             "event " + e.event_id + " has action \"" + e.action +
                                 "\"; expected add, set or delete"));
    return;
  }
  if (!detail::valid_recordno(e.key)) {
    finish("invalid", failed(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                             "event " + e.event_id + " has RECORDNO \"" + e.key +
                                 "\"; expected a positive integer"));
    return;
  }

  const std::string kind = kind_of(e);
  Apply first{kind, "{}", e.version, e.whenmodified, e.source};
  if (kind == "snapshot" || kind == "draft") detail::set_snapshot(first, e.object, e.snapshot);
  // Deferred reads wait in the recheck schedule; while the tenant's circuit
  // is open, events park instead (the park/unpark cycle probes it).
  if (options_.read_after_settle && intacct_ && batcher_) {
    auto client = intacct_->client(d.tenant);
    first.defer = client && !client->circuit_open();
  }
  // `d` stays valid until `finish` runs (queue::Handler); it is copied only
  // when a read from Intacct follows, which may outlast this call chain.
  const queue::Delivery* dp = &d;
  apply(d, first, [this, dp, first, finish = std::move(finish)](std::string decision) mutable {
    if (decision != "thin" && decision != "reread") {
      settle(*dp, std::move(decision), std::move(finish));
      return;
    }
    resolve(std::make_shared<const queue::Delivery>(*dp), first, std::move(decision),
            std::move(finish));
  });
}

// Events are never fenced: only reconcile's writes are (MirrorSync).
// Snapshot, draft and delete events go through the batcher; thin events and
// reads keep the one-event script.
void MirrorHandler::apply(const queue::Delivery& d, const Apply& a,
                          std::function<void(std::string decision)> then) {
  if (applier_ && (a.kind == "snapshot" || a.kind == "draft" || a.kind == "delete")) {
    std::vector<std::string> keys, args;
    detail::apply_inputs(d, a, options_, clock_.now_ms(), detail::ApplyFence{}, keys, args);
    applier_->apply(d.tenant, std::move(keys), std::move(args), std::move(then));
    return;
  }
  detail::run_apply(*conn_, d, a, options_, clock_.now_ms(), detail::ApplyFence{}, std::move(then));
}

void MirrorHandler::count_intacct_read(const queue::Envelope& e, std::string_view result) {
  metrics_
      .counter("isync_mirror_intacct_reads_total",
               "Records read from Intacct to settle thin or conflicting events, by what the read "
               "brought (applied; unchanged = the mirror already had it; gone; failed), and events "
               "settled without a read (held).",
               {{"tenant", e.tenant}, {"object", e.object}, {"result", std::string(result)}})
      .inc();
}

void MirrorHandler::settle(const queue::Delivery& d, std::string decision, Finish finish) {
  if (decision.starts_with("error:")) {
    // A lost reply of the apply-and-ack script: it may have committed, so
    // the queue must not file a retry (unknown).
    const bool lost = decision.starts_with("error:lost:");
    finish("error",
           queue::redis_failure(lost, "could not apply " + describe(d.envelope) +
                                          " to the mirror: " + decision.substr(lost ? 11 : 6)));
    return;
  }
  if (decision == "reread") {
    finish(decision,
           park("needs_reread",
                describe(d.envelope) +
                    ": same WHENMODIFIED as the mirror but different field values; a re-read "
                    "from Intacct is needed to decide, and the tenant has no Intacct access "
                    "configured (company_id, user_id, user_password)"));
    return;
  }
  if (decision == "thin") {
    finish(decision, park("thin_event",
                          describe(d.envelope) +
                              ": thin event: needs a read from Intacct, and the tenant has no "
                              "Intacct access configured (company_id, user_id, user_password)"));
    return;
  }
  finish(decision, Outcome{});
}

void MirrorHandler::resolve(std::shared_ptr<const queue::Delivery> d, Apply first,
                            std::string decision, Finish finish) {
  std::shared_ptr<intacct::Client> client = intacct_ ? intacct_->client(d->tenant) : nullptr;
  if (!client || !batcher_) {
    settle(*d, std::move(decision), std::move(finish));
    return;
  }
  const queue::Envelope& e = d->envelope;
  detail::ReadRequest request{
      d->tenant, e.object, e.key, e.version,
      decision == "thin" ? detail::ReadRequest::Mode::thin : detail::ReadRequest::Mode::conflict};
  batcher_->read(
      std::move(client), std::move(request),
      [this, d, first = std::move(first),
       finish = std::move(finish)](detail::ReadAnswer answer) mutable {
        const queue::Envelope& ev = d->envelope;
        auto count_read = [this, d](std::string_view result) {
          count_intacct_read(d->envelope, result);
        };
        switch (answer.kind) {
          case detail::ReadAnswer::Kind::held: {
            // Another event's read brought the version this one needs: the
            // first apply now ignores (and acks) it.
            count_read("held");
            apply(*d, first, [this, d, finish = std::move(finish)](std::string dec) mutable {
              if (dec == "thin" || dec == "reread") {
                finish(dec,
                       failed(Outcome::Kind::retry, queue::FailureClass::transient, "mirror_moved",
                              describe(d->envelope) + ": the mirror changed while it was being "
                                                      "settled; it will be retried"));
                return;
              }
              settle(*d, std::move(dec), std::move(finish));
            });
            return;
          }
          case detail::ReadAnswer::Kind::circuit_open:
            count_read("failed");
            finish("circuit_open",
                   park("intacct_circuit_open",
                        describe(ev) + ": Intacct rejected the tenant's credentials earlier (" +
                            (answer.error ? answer.error->summary() : std::string("circuit open")) +
                            "); the event waits parked until the credentials are fixed"));
            return;
          case detail::ReadAnswer::Kind::failed: {
            count_read("failed");
            finish("read_failed", intacct_failure(ev, answer.error));
            return;
          }
          case detail::ReadAnswer::Kind::gone: {
            Apply gone{"gone",          "{}",           ev.version,
                       ev.whenmodified, "intacct_read", answer.sent_at_ms};
            apply(*d, gone,
                  [this, d, count_read, finish = std::move(finish)](std::string dec) mutable {
                    count_read(std::string_view(dec).starts_with("error:") ? "failed" : "gone");
                    settle(*d, std::move(dec), std::move(finish));
                  });
            return;
          }
          case detail::ReadAnswer::Kind::found:
          case detail::ReadAnswer::Kind::shared: {
            Apply read = read_apply(ev, answer.row, answer.sent_at_ms);
            const bool shared = answer.kind == detail::ReadAnswer::Kind::shared;
            apply(
                *d, read,
                [this, d, count_read, shared, finish = std::move(finish)](std::string dec) mutable {
                  const std::string_view dv = dec;
                  std::string_view result = shared ? "shared" : "unchanged";
                  if (dv.starts_with("error:"))
                    result = "failed";
                  else if (!shared && (dv == "applied" || dv == "removed" || dv == "tombstoned"))
                    result = "applied";
                  count_read(result);
                  settle(*d, std::move(dec), std::move(finish));
                });
            return;
          }
        }
      });
}

}  // namespace isync::handlers

// PaymentHandler: processor payments into Intacct, exactly once (see the
// contract in handlers.hpp and the ledger in detail/payment_lua.hpp).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <random>

#include "handlers/detail/payment_lua.hpp"
#include "handlers/detail/record_doc.hpp"
#include "handlers/handlers.hpp"

namespace isync::handlers {

namespace asio = boost::asio;
using queue::Outcome;
using redis::Reply;
using namespace detail;

struct PaymentHandler::Core {
  std::shared_ptr<redis::Connection> conn;
  PaymentOptions options;
  std::map<std::string, PaymentPolicy> policies;
  Metrics& metrics;
  Clock& clock;
  Log& log;
  asio::any_io_executor executor;
  std::shared_ptr<intacct::ClientHub> hub;

  void count(const std::string& tenant, std::string_view result) {
    metrics
        .counter("isync_payments_total", "Payment events by result",
                 {{"tenant", tenant}, {"result", std::string(result)}})
        .inc();
  }
  void count_readback(const std::string& tenant, std::string_view result) {
    metrics
        .counter("isync_payment_readbacks_total", "Read-backs of payments by result",
                 {{"tenant", tenant}, {"result", std::string(result)}})
        .inc();
  }
};

namespace {

Outcome outcome(Outcome::Kind kind, queue::FailureClass cls, std::string code, std::string message,
                std::string result) {
  Outcome o;
  o.kind = kind;
  o.failure.cls = cls;
  o.failure.code = std::move(code);
  o.failure.message = std::move(message);
  o.result = std::move(result);
  return o;
}

Outcome done_outcome(std::string result) {
  Outcome o;
  o.result = std::move(result);
  return o;
}

Outcome retry_outcome(std::string code, std::string message, std::chrono::milliseconds after) {
  Outcome o = outcome(Outcome::Kind::retry, queue::FailureClass::transient, std::move(code),
                      std::move(message), "retry");
  o.retry_after = after;
  return o;
}

// Intacct's first error (the specific one) into the failure.
void copy_intacct(queue::Failure& f, const intacct::IntacctError& e) {
  if (!e.errors.empty()) {
    f.errorno = e.errors.front().errorno;
    // Intacct often leaves description empty and says it all in
    // description2: join the two without a stray space.
    f.description = e.errors.front().description;
    if (!e.errors.front().description2.empty()) {
      if (!f.description.empty()) f.description += " ";
      f.description += e.errors.front().description2;
    }
    f.correction = e.errors.front().correction;
  }
  f.controlid = e.control_id;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// Intacct refused a create because the record (or the function) exists: our
// own earlier write, or someone else's record with our number.
bool is_duplicate(const intacct::IntacctError& e) {
  for (const auto& d : e.errors) {
    if (d.errorno == "BL34000061" || contains(d.errorno, "DUPLICATE_CONTROLID") ||
        contains(d.description, "already exists") || contains(d.description2, "already exists") ||
        contains(d.description, "already executed") || contains(d.description2, "already executed"))
      return true;
  }
  return false;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ---- the posting as JSON (stored with the intent, sent again unchanged) ----

void write_fields(rapidjson::Writer<rapidjson::StringBuffer>& w,
                  const std::vector<intacct::Field>& fields) {
  w.StartArray();
  for (const auto& f : fields) {
    w.StartObject();
    w.Key("n");
    w.String(f.name.c_str(), static_cast<rapidjson::SizeType>(f.name.size()));
    if (f.children.empty()) {
      w.Key("v");
      w.String(f.value.c_str(), static_cast<rapidjson::SizeType>(f.value.size()));
    } else {
      w.Key("c");
      write_fields(w, f.children);
    }
    w.EndObject();
  }
  w.EndArray();
}

void put(rapidjson::Writer<rapidjson::StringBuffer>& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
}

std::string encode_posting(const Posting& p) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  put(w, "customer", p.customer_id);
  put(w, "currency", p.currency);
  put(w, "total", p.total);
  put(w, "applied", p.applied);
  put(w, "invoice", p.invoice_recordno);
  put(w, "receipt_date", p.receipt_date);
  w.Key("fields");
  write_fields(w, p.fields);
  w.EndObject();
  return buf.GetString();
}

bool read_fields(const rapidjson::Value& v, std::vector<intacct::Field>& out, int depth = 0) {
  if (!v.IsArray() || depth > 4) return false;
  for (const auto& e : v.GetArray()) {
    if (!e.IsObject() || !e.HasMember("n") || !e["n"].IsString()) return false;
    intacct::Field f;
    f.name = e["n"].GetString();
    if (e.HasMember("v") && e["v"].IsString()) {
      f.value = e["v"].GetString();
    } else if (!e.HasMember("c") || !read_fields(e["c"], f.children, depth + 1)) {
      return false;
    }
    out.push_back(std::move(f));
  }
  return true;
}

std::optional<Posting> decode_posting(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  Posting p;
  auto get = [&doc](const char* k) -> std::string {
    return doc.HasMember(k) && doc[k].IsString() ? doc[k].GetString() : std::string();
  };
  p.customer_id = get("customer");
  p.currency = get("currency");
  p.total = get("total");
  p.applied = get("applied");
  p.invoice_recordno = get("invoice");
  p.receipt_date = get("receipt_date");
  if (!doc.HasMember("fields") || !read_fields(doc["fields"], p.fields)) return std::nullopt;
  return p;
}

// The mirror's fields of a payment we posted, until Intacct's own record
// (its smart event and read) replaces them.
std::string mirror_fields(const Posting& p, const std::string& recordno) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  put(w, "RECORDNO", recordno);
  for (const auto& f : p.fields) {
    if (f.children.empty()) {
      put(w, f.name.c_str(), f.value);
    }
  }
  if (p.fields.empty() || p.invoice_recordno.empty()) {
    put(w, "TOTALENTERED", p.total);
  } else {
    put(w, "ARPYMTDETAILS.ARPYMTDETAIL.RECORDKEY", p.invoice_recordno);
    put(w, "ARPYMTDETAILS.ARPYMTDETAIL.TRX_PAYMENTAMOUNT", p.applied);
  }
  w.EndObject();
  return buf.GetString();
}

std::string random_owner() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

// One function's answer from a CallOutcome, kept alive with it.
struct Answer {
  std::shared_ptr<intacct::CallOutcome> call;
  const intacct::FunctionResult* result = nullptr;
  std::optional<intacct::IntacctError> error;
  bool circuit_open = false;
};

Answer answer_of(intacct::CallOutcome out, const std::string& control_id) {
  Answer a;
  a.call = std::make_shared<intacct::CallOutcome>(std::move(out));
  a.circuit_open = a.call->circuit_open;
  if (a.call->error) {
    a.error = a.call->error;
    return a;
  }
  if (!a.call->response) {
    a.error = intacct::IntacctError{};
    a.error->cls = intacct::ErrorClass::transient;
    return a;
  }
  a.result = a.call->response->result(control_id);
  if (a.result == nullptr) {
    a.error = intacct::IntacctError{};
    a.error->cls = intacct::ErrorClass::ambiguous;
    return a;
  }
  a.error = intacct::result_error(*a.call->response, *a.result);
  return a;
}

std::vector<const intacct::Row*> rows(const Answer& a, std::string_view object) {
  if (a.result == nullptr || !a.result->data) return {};
  return a.result->data->rows_of(object);
}

std::string field(const intacct::Row& r, std::string_view name) {
  const std::string* v = r.get(name);
  return v ? *v : std::string();
}

// ---- one event --------------------------------------------------------------

class Job : public std::enable_shared_from_this<Job> {
 public:
  Job(std::shared_ptr<PaymentHandler::Core> core, const queue::Delivery& d,
      std::function<void(Outcome)> done)
      : core_(std::move(core)),
        d_(d),
        done_(std::move(done)),
        owner_(random_owner()),
        heartbeat_(core_->executor) {}

  void start() {
    const auto& e = d_.envelope;
    const StripeKind kind = stripe_kind(e.action);
    if (kind == StripeKind::other) return ack("ignored");
    auto facts = payment_facts(e);
    if (!facts) {
      return finish(outcome(Outcome::Kind::dead, queue::FailureClass::permanent, "invalid_event",
                            facts.error().message, "invalid"));
    }
    p_ = std::move(*facts);
    refund_ = kind == StripeKind::refunded;
    if (!refund_ && p_.invoice.empty() && p_.customer.empty()) {
      core_->log.warn("payment names no Intacct invoice or customer; ignored",
                      LogLine()
                          .str("tenant", d_.tenant)
                          .str("event_id", e.event_id)
                          .str("payment_id", p_.payment_id));
      return ack("not_for_intacct");
    }
    auto pit = core_->policies.find(d_.tenant);
    client_ = core_->hub ? core_->hub->client(d_.tenant) : nullptr;
    if (pit == core_->policies.end() || !client_) {
      return finish(outcome(Outcome::Kind::park, queue::FailureClass::transient, "no_intacct",
                            "tenant " + d_.tenant + " has no Intacct access configured; payment " +
                                p_.payment_id + " waits until it has",
                            "parked"));
    }
    policy_ = pit->second;
    pay_key_ = queue::key(d_.tenant, "pay:" + p_.payment_id);
    lock_key_ = queue::key(d_.tenant,
                           refund_ || p_.invoice.empty() ? "pay-lock:-" : "pay-lock:" + p_.invoice);
    take();
  }

 private:
  // ---- Redis steps ----

  void eval(const redis::Script& s, std::vector<std::string> keys, std::vector<std::string> args,
            std::function<void(const Reply&)> then) {
    core_->conn->eval(
        s, std::move(keys), std::move(args),
        [self = shared_from_this(), then = std::move(then)](boost::system::error_code ec, Reply r) {
          if (ec || r.is_error()) {
            return self->redis_failed(ec ? ec.message() : r.str);
          }
          then(r);
        });
  }

  void redis_failed(const std::string& why) {
    // The lease expires by itself; the entry is retried.
    finish(outcome(Outcome::Kind::retry, queue::FailureClass::transient, "redis_unavailable",
                   "payment " + p_.payment_id + ": Redis failed: " + why, "retry"));
  }

  std::int64_t now() const { return core_->clock.now_ms(); }
  std::string unsettled_key() const { return queue::key(d_.tenant, "payments:unsettled"); }

  void take() {
    const bool lock = !refund_ && !p_.invoice.empty();
    eval(take_script(), {pay_key_, lock_key_},
         {owner_, std::to_string(now()), std::to_string(core_->options.lease.count()),
          d_.envelope.event_id, refund_ ? "reverse" : "post", lock ? "1" : "0"},
         [self = shared_from_this()](const Reply& r) { self->taken(r); });
  }

  void taken(const Reply& r) {
    auto at = [&r](std::size_t i) -> std::string {
      return r.elements.size() > i ? r.elements[i].str : std::string();
    };
    const std::string verdict = at(0);
    state_ = at(1);
    recordno_ = at(2);
    body_ = at(5);
    failed_event_ = at(8);
    posted_invoice_ = at(13);
    sent_at_ = std::strtoll(at(14).c_str(), nullptr, 10);
    rsent_at_ = std::strtoll(at(15).c_str(), nullptr, 10);
    if (verdict == "busy") {
      core_->count(d_.tenant, "busy");
      const auto until = std::strtoll(at(7).c_str(), nullptr, 10);
      const auto wait = std::clamp<std::int64_t>(until - now(), 200, contention_wait().count());
      return finish(retry_outcome(
          "payment_in_progress",
          "payment " + p_.payment_id + " is being handled by another worker; retried later",
          std::chrono::milliseconds(wait)));
    }
    if (verdict == "invoice_busy") {
      core_->count(d_.tenant, "invoice_busy");
      return finish(retry_outcome("invoice_busy",
                                  "another payment to invoice " + p_.invoice +
                                      " is being posted; payments to one invoice go one at a time",
                                  contention_wait()));
    }
    start_heartbeat();
    if (refund_) return refund();
    if (state_ == "posted" || state_ == "reversing" || state_ == "reverse_unknown" ||
        state_ == "reversed") {
      return settle_ack("duplicate");
    }
    if (state_ == "failed" && failed_event_ != d_.envelope.event_id) {
      // The other event type of a payment that already failed: its dead
      // letter is the one to replay.
      return settle_ack("failed_before");
    }
    if (state_ == "posting" || state_ == "unknown") return read_back();
    if (state_ == "unsent") {
      if (auto p = decode_posting(body_)) {
        posting_ = std::move(*p);
        return send_create();
      }
    }
    resolve();
  }

  // How long a payment waits for another one that holds its lease or its
  // invoice's lock: 250 ms doubling with each attempt up to 4 s, drawn from
  // the upper half so that many payments of one invoice spread out instead
  // of retrying in step.
  std::chrono::milliseconds contention_wait() const {
    static thread_local std::mt19937 rng{std::random_device{}()};
    const std::int64_t top = 250LL << std::clamp(d_.attempt - 1, 0, 4);
    std::uniform_int_distribution<std::int64_t> pick(top / 2, top);
    return std::chrono::milliseconds(pick(rng));
  }

  void start_heartbeat() {
    const auto every = std::max(std::chrono::milliseconds(100), core_->options.lease / 3);
    heartbeat_.expires_after(every);
    heartbeat_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->finished_) return;
      self->core_->conn->eval(
          renew_script(), {self->pay_key_, self->lock_key_},
          {self->owner_, std::to_string(self->now()),
           std::to_string(self->core_->options.lease.count())},
          [weak](boost::system::error_code e2, Reply r) {
            auto s = weak.lock();
            if (!s || e2 || r.is_error()) return;
            if (r.integer == 0) {
              s->core_->log.error(
                  "payment lease lost while working on it",
                  LogLine().str("tenant", s->d_.tenant).str("payment_id", s->p_.payment_id));
            }
          });
      queue::keep_pending(*self->core_->conn, self->d_, [](bool) {});
      self->start_heartbeat();
    });
  }

  // Leaves the payment in `state` ("" = as it is) and frees lease and lock.
  void release_then(std::string state, bool restart, std::string error, std::function<void()> then,
                    bool failed = false) {
    eval(release_script(), {pay_key_, lock_key_, unsettled_key()},
         {owner_, std::to_string(now()), std::move(state), restart ? "1" : "0", std::move(error),
          p_.payment_id, failed ? "1" : "0", d_.envelope.event_id,
          std::to_string((core_->options.readback_wait + core_->options.lease).count())},
         [then = std::move(then)](const Reply&) { then(); });
  }

  void finish(Outcome o) {
    if (finished_) return;
    finished_ = true;
    heartbeat_.cancel();
    if (!o.result.empty() && o.kind == Outcome::Kind::done) core_->count(d_.tenant, o.result);
    if (o.kind != Outcome::Kind::done) {
      core_->count(d_.tenant, o.failure.code.empty() ? o.result : o.failure.code);
    }
    auto done = std::move(done_);
    done(std::move(o));
  }

  // Acks the entry with nothing else to do.
  void ack(std::string result) {
    std::vector<std::string> keys, args;
    queue::ack_inputs(d_, keys, args, core_->options.done_retention);
    core_->conn->eval(ack_script(), std::move(keys), std::move(args),
                      [self = shared_from_this(), result](boost::system::error_code ec, Reply r) {
                        if (ec || r.is_error()) {
                          return self->redis_failed(ec ? ec.message() : r.str);
                        }
                        self->finish(done_outcome(result));
                      });
  }

  void settle_ack(std::string result) {
    release_then("", false, "", [self = shared_from_this(), result] { self->ack(result); });
  }

  // A permanent failure: state failed (a replay of this event tries again),
  // and a dead letter.
  void fail(Outcome o) {
    o.kind = Outcome::Kind::dead;
    o.failure.cls = queue::FailureClass::permanent;
    o.result = "failed";
    core_->log.warn("payment failed", LogLine()
                                          .str("tenant", d_.tenant)
                                          .str("payment_id", p_.payment_id)
                                          .str("code", o.failure.code)
                                          .str("errorno", o.failure.errorno));
    const std::string summary = o.failure.code + ": " + o.failure.message;
    release_then(
        refund_ ? "" : "failed", false, summary,
        [self = shared_from_this(), o = std::move(o)]() mutable { self->finish(std::move(o)); },
        !refund_);
  }

  // A transient failure: the payment is left as `state` and retried.
  void later(std::string state, bool restart, Outcome o) {
    const std::string summary = o.failure.code + ": " + o.failure.message;
    release_then(
        std::move(state), restart, summary,
        [self = shared_from_this(), o = std::move(o)]() mutable { self->finish(std::move(o)); });
  }

  void park(std::string state) {
    later(std::move(state), false,
          outcome(Outcome::Kind::park, queue::FailureClass::transient, "intacct_circuit_open",
                  "the Intacct credentials of tenant " + d_.tenant +
                      " were rejected (circuit open); payment " + p_.payment_id +
                      " waits until they work again",
                  "parked"));
  }

  Outcome intacct_outcome(const intacct::IntacctError& e, const std::string& what) {
    const bool permanent = e.cls == intacct::ErrorClass::permanent;
    Outcome o = outcome(permanent ? Outcome::Kind::dead : Outcome::Kind::retry,
                        permanent ? queue::FailureClass::permanent : queue::FailureClass::transient,
                        "intacct_error",
                        "payment " + p_.payment_id + ": " + what + " failed: " + e.summary(),
                        permanent ? "failed" : "retry");
    copy_intacct(o.failure, e);
    const bool batch_key = std::any_of(e.errors.begin(), e.errors.end(), [](const auto& d) {
      return contains(d.description, "payment batch key") ||
             contains(d.description2, "payment batch key");
    });
    if (permanent && batch_key) {
      // Intacct's text says what is missing, not how to fix it; its own
      // errorno, description and correction stay in the failure as given.
      o.failure.code = "payment_batch_required";
      o.failure.message =
          "payment " + p_.payment_id +
          ": Intacct says \"Please provide a payment batch key.\": its AR is set to "
          "user-specified payment summaries, so each payment needs a batch, and nothing was "
          "posted. Fix: in Intacct set the AR payment summary frequency to Daily or Monthly "
          "(Accounts Receivable > Setup > Configure), or set payment_batch (PRBATCH) for the "
          "tenant; then replay this event.";
    }
    return o;
  }

  // ---- a fresh payment: what to post ----

  void resolve() {
    intacct::Query q;
    const std::string cid = "isync-resolve-" + owner_.substr(0, 12);
    if (!p_.invoice.empty()) {
      q.object = "ARINVOICE";
      q.select = {"RECORDNO", "RECORDID", "CUSTOMERID", "CUSTOMERNAME",
                  "CURRENCY", "STATE",    "TOTALDUE"};
      auto by_id = intacct::where(intacct::Filter::Op::equalto, "RECORDID", {p_.invoice});
      if (is_digits(p_.invoice)) {
        q.filter = intacct::any_of(
            {by_id, intacct::where(intacct::Filter::Op::equalto, "RECORDNO", {p_.invoice})});
      } else {
        q.filter = by_id;
      }
    } else {
      q.object = "CUSTOMER";
      q.select = {"RECORDNO", "CUSTOMERID", "NAME"};
      q.filter = intacct::where(intacct::Filter::Op::equalto,
                                policy_.match_customers_by == "name" ? "NAME" : "CUSTOMERID",
                                {p_.customer});
    }
    q.pagesize = 10;
    client_->call({intacct::Function{cid, std::move(q)}}, false,
                  [self = shared_from_this(), cid](intacct::CallOutcome out) {
                    self->resolved(answer_of(std::move(out), cid));
                  });
  }

  void resolved(const Answer& a) {
    if (a.circuit_open) return park("");
    if (a.error) {
      Outcome o =
          intacct_outcome(*a.error, p_.invoice.empty() ? "reading the customer from Intacct"
                                                       : "reading the invoice from Intacct");
      if (o.kind == Outcome::Kind::dead) return fail(std::move(o));
      return later("", false, std::move(o));
    }
    std::optional<InvoiceView> invoice;
    std::string customer_id;
    if (!p_.invoice.empty()) {
      const auto found = rows(a, "ARINVOICE");
      const intacct::Row* pick = nullptr;
      for (const auto* r : found) {
        if (field(*r, "RECORDID") == p_.invoice) pick = r;
      }
      if (pick == nullptr) {
        for (const auto* r : found) {
          if (field(*r, "RECORDNO") == p_.invoice) pick = r;
        }
      }
      if (pick == nullptr) return invoice_missing();
      invoice = InvoiceView{field(*pick, "RECORDNO"),   field(*pick, "RECORDID"),
                            field(*pick, "CUSTOMERID"), field(*pick, "CUSTOMERNAME"),
                            field(*pick, "CURRENCY"),   field(*pick, "STATE"),
                            field(*pick, "TOTALDUE")};
    } else {
      const auto found = rows(a, "CUSTOMER");
      if (found.empty()) {
        return fail(outcome(Outcome::Kind::dead, queue::FailureClass::permanent,
                            "customer_not_found",
                            "Intacct customer " + p_.customer + " (by " +
                                (policy_.match_customers_by == "name" ? "NAME" : "CUSTOMERID") +
                                ") does not exist; payment " + p_.payment_id +
                                " cannot be posted as an advance for it",
                            "failed"));
      }
      if (found.size() > 1) {
        return fail(outcome(Outcome::Kind::dead, queue::FailureClass::permanent,
                            "customer_ambiguous",
                            "the name " + p_.customer + " matches " + std::to_string(found.size()) +
                                " Intacct customers; payment " + p_.payment_id +
                                " is not posted to any of them. Post it by hand in Intacct, "
                                "or send intacct_customer as a CUSTOMERID",
                            "failed"));
      }
      customer_id = field(*found.front(), "CUSTOMERID");
    }
    auto mapped = map_payment(p_, invoice, customer_id, policy_);
    if (auto* f = std::get_if<queue::Failure>(&mapped)) {
      Outcome o;
      o.failure = std::move(*f);
      return fail(std::move(o));
    }
    posting_ = std::move(std::get<Posting>(mapped));
    body_ = encode_posting(posting_);
    send_create();
  }

  // No such invoice in Intacct: deleted after the mirror imported it, or
  // never there.
  void invoice_missing() {
    const std::string ref = p_.invoice;
    core_->conn->command(
        {"SMEMBERS", queue::key(d_.tenant, "id:ARINVOICE:" + ref)},
        [self = shared_from_this(), ref](boost::system::error_code ec, Reply r) {
          if (!ec && r.type == Reply::Type::array && !r.elements.empty()) {
            return self->invoice_gone(r.elements[0].str, true);
          }
          if (!is_digits(ref)) return self->invoice_gone("", false);
          // Named by RECORDNO: the mirror keeps the record (or its tombstone)
          // under that number.
          self->core_->conn->command(
              {"HEXISTS", queue::key(self->d_.tenant, "rec:ARINVOICE:" + ref), "v"},
              [self, ref](boost::system::error_code e2, Reply r2) {
                self->invoice_gone(ref, !e2 && r2.integer == 1);
              });
        });
  }

  void invoice_gone(const std::string& mirrored_recordno, bool in_mirror) {
    const std::string& ref = p_.invoice;
    Outcome o;
    if (in_mirror) {
      o.failure.code = "invoice_deleted";
      o.failure.message = "Intacct invoice " + ref + " (RECORDNO " + mirrored_recordno +
                          " in the mirror) no longer exists in Intacct: it was deleted after it "
                          "was imported (an Order Entry edit re-creates the invoice under a new "
                          "RECORDNO). Payment " +
                          p_.payment_id + " was not posted.";
      o.failure.correction =
          "Find the invoice's current number in Intacct, apply the payment by hand, then "
          "discard this event.";
    } else {
      o.failure.code = "invoice_not_found";
      o.failure.message = "Intacct invoice " + ref +
                          " does not exist (no ARINVOICE with that RECORDID or RECORDNO); "
                          "payment " +
                          p_.payment_id + " was not posted.";
      o.failure.correction =
          "Check the payment's metadata intacct_invoice; apply the payment by hand in "
          "Intacct, then discard this event.";
    }
    fail(std::move(o));
  }

  // ---- the create ----

  void send_create() {
    const std::string cid = payment_control_id(d_.tenant, p_.payment_id, "create");
    eval(intent_script(), {pay_key_, unsettled_key()},
         {owner_, std::to_string(now()), "post", p_.payment_id, cid, body_, d_.envelope.event_id,
          posting_.invoice_recordno, posting_.customer_id, posting_.total, posting_.currency},
         [self = shared_from_this(), cid](const Reply& r) {
           if (r.integer != 1) {
             return self->finish(retry_outcome(
                 "lease_lost",
                 "payment " + self->p_.payment_id + ": the lease was lost before sending",
                 std::chrono::milliseconds(1000)));
           }
           self->client_->call({arpymt_create(self->posting_, cid)}, true,
                               [self, cid](intacct::CallOutcome out) {
                                 self->created(answer_of(std::move(out), cid));
                               });
         });
  }

  void created(const Answer& a) {
    if (a.circuit_open) return park("unsent");
    if (!a.error) {
      const auto found = rows(a, "ARPYMT");
      std::string recordno;
      if (!found.empty()) recordno = field(*found.front(), "RECORDNO");
      if (recordno.empty() && a.result && a.result->key) recordno = *a.result->key;
      if (recordno.empty()) {
        // It ran, but the answer lacks the number: the read-back finds it.
        return later("unknown", true,
                     retry_outcome("intacct_no_recordno",
                                   "payment " + p_.payment_id +
                                       ": Intacct created the ARPYMT without returning its "
                                       "RECORDNO; it is read back",
                                   std::chrono::milliseconds(0)));
      }
      return posted(recordno, "posted");
    }
    const auto& e = *a.error;
    if (e.level == intacct::ErrorLevel::result && is_duplicate(e)) {
      // Our earlier write (or the number taken by someone else): read back,
      // and never send again in this attempt.
      core_->count(d_.tenant, "duplicate_error");
      sent_at_ = now();
      return read_back();
    }
    if (e.cls == intacct::ErrorClass::ambiguous) {
      core_->log.warn("payment create ambiguous; it will be read back",
                      LogLine()
                          .str("tenant", d_.tenant)
                          .str("payment_id", p_.payment_id)
                          .str("error", e.summary()));
      Outcome o = intacct_outcome(e, "creating the ARPYMT");
      o.failure.cls = queue::FailureClass::ambiguous;
      o.failure.code = "ambiguous";
      o.retry_after = core_->options.readback_interval;
      return later("unknown", true, std::move(o));
    }
    Outcome o = intacct_outcome(e, "creating the ARPYMT");
    if (o.kind == Outcome::Kind::dead) return fail(std::move(o));
    // Certainly not run (throttled, a stale session, a control failure): the
    // intent stays; a first send can go again without a read-back.
    return later(state_ == "unknown" || state_ == "posting" ? "unknown" : "unsent", false,
                 std::move(o));
  }

  // ---- read-back by DOCNUMBER ----

  void read_back() {
    auto p = decode_posting(body_);
    if (p) posting_ = std::move(*p);
    const std::string cid = "isync-readback-" + owner_.substr(0, 12);
    intacct::Query q;
    q.object = "ARPYMT";
    q.select = {"RECORDNO", "DOCNUMBER", "CUSTOMERID", "TOTALENTERED", "CURRENCY", "STATE"};
    q.filter = intacct::where(intacct::Filter::Op::equalto, "DOCNUMBER", {p_.payment_id});
    q.pagesize = 100;
    client_->call({intacct::Function{cid, std::move(q)}}, false,
                  [self = shared_from_this(), cid](intacct::CallOutcome out) {
                    self->read_backed(answer_of(std::move(out), cid));
                  });
  }

  void read_backed(const Answer& a) {
    if (a.circuit_open) return park("");
    if (a.error) {
      core_->count_readback(d_.tenant, "error");
      Outcome o = intacct_outcome(*a.error, "reading the ARPYMT back by DOCNUMBER");
      // A failed read-back never decides: the payment stays unknown.
      o.kind = Outcome::Kind::retry;
      o.failure.cls = queue::FailureClass::transient;
      return later("", false, std::move(o));
    }
    const int exponent = currency_exponent(p_.currency);
    const auto want = parse_amount(posting_.total, exponent);
    std::vector<const intacct::Row*> ours, theirs;
    for (const auto* r : rows(a, "ARPYMT")) {
      if (field(*r, "DOCNUMBER") != p_.payment_id) continue;
      const auto amount = parse_amount(field(*r, "TOTALENTERED"), exponent);
      const bool same_customer =
          posting_.customer_id.empty() || field(*r, "CUSTOMERID") == posting_.customer_id;
      if (same_customer && want && amount && *amount == *want) {
        ours.push_back(r);
      } else {
        theirs.push_back(r);
      }
    }
    if (!ours.empty()) {
      core_->count_readback(d_.tenant, "found");
      if (ours.size() > 1) {
        core_->log.error("several ARPYMTs carry one payment's DOCNUMBER",
                         LogLine()
                             .str("tenant", d_.tenant)
                             .str("payment_id", p_.payment_id)
                             .num("count", static_cast<std::int64_t>(ours.size())));
      }
      return posted(field(*ours.front(), "RECORDNO"), "adopted");
    }
    if (!theirs.empty()) {
      core_->count_readback(d_.tenant, "conflict");
      Outcome o;
      o.failure.code = "docnumber_conflict";
      o.failure.message = "Intacct has ARPYMT " + field(*theirs.front(), "RECORDNO") +
                          " with DOCNUMBER " + p_.payment_id + " for customer " +
                          field(*theirs.front(), "CUSTOMERID") + " and amount " +
                          field(*theirs.front(), "TOTALENTERED") + ", which is not this payment (" +
                          posting_.customer_id + ", " + posting_.total + "); nothing was posted.";
      o.failure.correction =
          "Check that ARPYMT in Intacct; if it is this payment entered by hand, discard this "
          "event, else post the payment by hand.";
      return fail(std::move(o));
    }
    core_->count_readback(d_.tenant, "not_found");
    // Not there (yet). A 524 can mean Intacct is still working on it: only
    // after readback_wait since the last send do we send the same request
    // again (the ledger's sent_at survives crashes).
    const std::int64_t waited = now() - sent_at_;
    if (waited < core_->options.readback_wait.count()) {
      const std::int64_t left = core_->options.readback_wait.count() - waited;
      const std::int64_t step = std::min<std::int64_t>(
          left, std::max<std::int64_t>(core_->options.readback_interval.count(), waited));
      return later("unknown", false,
                   retry_outcome("awaiting_readback",
                                 "payment " + p_.payment_id +
                                     " is not in Intacct yet after an ambiguous send; read back "
                                     "again before any new attempt",
                                 std::chrono::milliseconds(std::max<std::int64_t>(step, 100))));
    }
    if (posting_.fields.empty()) {
      // A crash between taking the lease and recording the intent: nothing
      // was sent.
      return resolve();
    }
    core_->count(d_.tenant, "resend");
    send_create();
  }

  // ---- posted ----

  void posted(const std::string& recordno, std::string result) {
    std::vector<std::string> keys, args;
    queue::ack_inputs(d_, keys, args, core_->options.done_retention);
    const std::string inv = posting_.invoice_recordno;
    keys.push_back(pay_key_);
    keys.push_back(lock_key_);
    keys.push_back(unsettled_key());
    keys.push_back(queue::key(d_.tenant, "rec:ARPYMT:" + recordno));
    keys.push_back(queue::key(d_.tenant, "audit:ARPYMT:" + recordno));
    keys.push_back(queue::key(d_.tenant, inv.empty() ? "audit:-" : "audit:ARINVOICE:" + inv));
    keys.push_back(queue::key(d_.tenant, "id:ARPYMT:" + p_.payment_id));
    keys.push_back(queue::key(d_.tenant, inv.empty() ? "rec:-" : "rec:ARINVOICE:" + inv));
    const auto t = now();
    args.push_back(owner_);
    args.push_back(recordno);
    args.push_back(std::to_string(t));
    args.push_back(iso8601_ms(t));
    args.push_back(mirror_fields(posting_, recordno));
    args.push_back(p_.payment_id);
    args.push_back(inv);
    args.push_back(std::to_string(core_->options.audit_max_entries));
    args.push_back(result);
    args.push_back(d_.envelope.event_id);
    args.push_back(std::to_string(core_->options.audit_max_age.count()));
    core_->log.info("payment posted", LogLine()
                                          .str("tenant", d_.tenant)
                                          .str("payment_id", p_.payment_id)
                                          .str("recordno", recordno)
                                          .str("invoice", inv)
                                          .str("result", result));
    eval(posted_script(), std::move(keys), std::move(args),
         [self = shared_from_this(), result](const Reply&) { self->finish(done_outcome(result)); });
  }

  // ---- refunds ----

  void refund() {
    if (p_.amount_refunded <= 0) return settle_ack("no_refund");
    if (state_ == "reversed") return settle_ack("duplicate");
    if (state_ == "failed") {
      Outcome o;
      o.failure.code = "refund_of_unposted_payment";
      o.failure.message = "payment " + p_.payment_id +
                          " was refunded, but it never reached Intacct (its posting failed); "
                          "there is nothing to reverse.";
      o.failure.correction =
          "Settle the payment's own dead letter first; if it was posted by hand, reverse that "
          "ARPYMT in Intacct. Then discard this event.";
      return fail(std::move(o));
    }
    if (state_ != "posted" && state_ != "reversing" && state_ != "reverse_unknown") {
      return later(
          "", false,
          outcome(Outcome::Kind::retry, queue::FailureClass::transient, "payment_not_posted",
                  "refund of payment " + p_.payment_id +
                      " waits until the payment itself is posted to Intacct",
                  "retry"));
    }
    if (p_.amount_refunded < p_.amount) {
      const int exponent = currency_exponent(p_.currency);
      Outcome o;
      o.failure.code = "partial_refund";
      o.failure.message = "payment " + p_.payment_id + " (Intacct ARPYMT " + recordno_ +
                          ") was partly refunded: " + format_amount(p_.amount_refunded, exponent) +
                          " of " + format_amount(p_.amount, exponent) + " " + p_.currency +
                          ". Intacct cannot reverse part of a payment.";
      o.failure.correction =
          "In Intacct, reverse ARPYMT " + recordno_ + " and record a new payment of " +
          format_amount(p_.amount - p_.amount_refunded, exponent) + " " + p_.currency +
          " for the same invoice (or keep the payment and record the refund as an AR "
          "adjustment); then discard this event. A later full refund is reversed automatically.";
      return fail(std::move(o));
    }
    if (state_ == "reversing" || state_ == "reverse_unknown") return reverse_read_back();
    send_reverse();
  }

  void send_reverse() {
    const std::string cid = payment_control_id(d_.tenant, p_.payment_id, "reverse");
    auto date =
        local_date(d_.envelope.version > 0 ? d_.envelope.version : now() / 1000, policy_.timezone);
    if (!date) {
      Outcome o;
      o.failure.code = date.error().code;
      o.failure.message = date.error().message;
      return fail(std::move(o));
    }
    const std::string& mdy = *date;  // MM/DD/YYYY
    intacct::Legacy reverse;
    reverse.name = "reverse_arpayment";
    reverse.attributes = {{"key", recordno_}};
    reverse.children = {intacct::group("datereversed", {intacct::leaf("year", mdy.substr(6, 4)),
                                                        intacct::leaf("month", mdy.substr(0, 2)),
                                                        intacct::leaf("day", mdy.substr(3, 2))}),
                        intacct::leaf("memo", "Stripe refund of " + p_.payment_id)};
    reverse.write = true;
    eval(intent_script(), {pay_key_, unsettled_key()},
         {owner_, std::to_string(now()), "reverse", p_.payment_id, cid, "", d_.envelope.event_id,
          "", "", "", ""},
         [self = shared_from_this(), cid, reverse = std::move(reverse)](const Reply& r) mutable {
           if (r.integer != 1) {
             return self->finish(retry_outcome(
                 "lease_lost",
                 "payment " + self->p_.payment_id + ": the lease was lost before reversing",
                 std::chrono::milliseconds(1000)));
           }
           self->client_->call({intacct::Function{cid, std::move(reverse)}}, true,
                               [self, cid](intacct::CallOutcome out) {
                                 self->reversed_answer(answer_of(std::move(out), cid));
                               });
         });
  }

  void reversed_answer(const Answer& a) {
    if (a.circuit_open) return park("");
    if (!a.error) return reversed();
    const auto& e = *a.error;
    if (e.level == intacct::ErrorLevel::result &&
        (is_duplicate(e) || std::any_of(e.errors.begin(), e.errors.end(), [](const auto& d) {
           return contains(d.description, "already reversed");
         }))) {
      rsent_at_ = now();
      return reverse_read_back();
    }
    if (e.cls == intacct::ErrorClass::ambiguous) {
      Outcome o = intacct_outcome(e, "reversing the ARPYMT");
      o.failure.cls = queue::FailureClass::ambiguous;
      o.failure.code = "ambiguous";
      o.retry_after = core_->options.readback_interval;
      return later("reverse_unknown", true, std::move(o));
    }
    Outcome o = intacct_outcome(e, "reversing ARPYMT " + recordno_);
    if (o.kind == Outcome::Kind::dead) return fail(std::move(o));
    return later("", false, std::move(o));
  }

  void reverse_read_back() {
    client_->read("ARPYMT", {recordno_}, [self = shared_from_this()](intacct::ReadOutcome out) {
      if (out.circuit_open) return self->park("");
      if (out.error) {
        self->core_->count_readback(self->d_.tenant, "error");
        Outcome o = self->intacct_outcome(*out.error, "reading the ARPYMT back");
        o.kind = Outcome::Kind::retry;
        o.failure.cls = queue::FailureClass::transient;
        return self->later("", false, std::move(o));
      }
      auto it = out.rows.find(self->recordno_);
      if (it == out.rows.end()) {
        Outcome o;
        o.failure.code = "payment_gone";
        o.failure.message = "Intacct ARPYMT " + self->recordno_ + " of payment " +
                            self->p_.payment_id + " no longer exists; the refund was not reversed.";
        o.failure.correction = "Check the payment in Intacct, then discard this event.";
        return self->fail(std::move(o));
      }
      if (field(it->second, "STATE") == "Reversed" || field(it->second, "STATE") == "Voided") {
        self->core_->count_readback(self->d_.tenant, "found");
        return self->reversed();
      }
      self->core_->count_readback(self->d_.tenant, "not_found");
      const std::int64_t waited = self->now() - self->rsent_at_;
      if (waited < self->core_->options.readback_wait.count()) {
        return self->later("reverse_unknown", false,
                           retry_outcome("awaiting_readback",
                                         "the reversal of payment " + self->p_.payment_id +
                                             " is not in Intacct yet; read back again",
                                         self->core_->options.readback_interval));
      }
      self->send_reverse();
    });
  }

  void reversed() {
    std::vector<std::string> keys, args;
    queue::ack_inputs(d_, keys, args, core_->options.done_retention);
    const std::string& inv = posted_invoice_;
    keys.push_back(pay_key_);
    keys.push_back(unsettled_key());
    keys.push_back(queue::key(d_.tenant, "rec:ARPYMT:" + recordno_));
    keys.push_back(queue::key(d_.tenant, "audit:ARPYMT:" + recordno_));
    keys.push_back(queue::key(d_.tenant, inv.empty() ? "audit:-" : "audit:ARINVOICE:" + inv));
    keys.push_back(queue::key(d_.tenant, inv.empty() ? "rec:-" : "rec:ARINVOICE:" + inv));
    const auto t = now();
    args.push_back(owner_);
    args.push_back(std::to_string(t));
    args.push_back(iso8601_ms(t));
    args.push_back(p_.payment_id);
    args.push_back(d_.envelope.event_id);
    args.push_back(std::to_string(core_->options.audit_max_entries));
    args.push_back(inv);
    args.push_back(std::to_string(core_->options.audit_max_age.count()));
    core_->log.info("payment reversed", LogLine()
                                            .str("tenant", d_.tenant)
                                            .str("payment_id", p_.payment_id)
                                            .str("recordno", recordno_));
    eval(reversed_script(), std::move(keys), std::move(args),
         [self = shared_from_this()](const Reply&) { self->finish(done_outcome("reversed")); });
  }

  std::shared_ptr<PaymentHandler::Core> core_;
  queue::Delivery d_;
  std::function<void(Outcome)> done_;
  std::string owner_;
  asio::steady_timer heartbeat_;
  bool finished_ = false;

  PaymentFacts p_;
  bool refund_ = false;
  PaymentPolicy policy_;
  std::shared_ptr<intacct::Client> client_;
  std::string pay_key_, lock_key_;

  // From the ledger when the lease was taken.
  std::string state_, recordno_, body_, failed_event_, posted_invoice_;
  // When the last create / reverse request was sent (0 = never).
  std::int64_t sent_at_ = 0, rsent_at_ = 0;
  Posting posting_;
};

}  // namespace

PaymentHandler::PaymentHandler(std::shared_ptr<redis::Connection> conn, PaymentOptions options,
                               std::map<std::string, PaymentPolicy> policies, Metrics& metrics,
                               Clock& clock, Log& log, asio::any_io_executor executor,
                               std::shared_ptr<intacct::ClientHub> intacct)
    : core_(std::make_shared<Core>(Core{std::move(conn), options, std::move(policies), metrics,
                                        clock, log, std::move(executor), std::move(intacct)})) {}

PaymentHandler::~PaymentHandler() = default;

void PaymentHandler::handle(const queue::Delivery& d, std::function<void(Outcome)> done) {
  auto job = std::make_shared<Job>(core_, d, std::move(done));
  asio::post(core_->executor, [job] { job->start(); });
}

void EventRouter::handle(const queue::Delivery& d, std::function<void(Outcome)> done) {
  if (d.envelope.source == "stripe") {
    if (payments_ != nullptr) return payments_->handle(d, std::move(done));
    Outcome o;
    o.kind = Outcome::Kind::park;
    o.failure.cls = queue::FailureClass::transient;
    o.failure.code = "no_intacct";
    o.failure.message =
        "payments are not handled here: tenant " + d.tenant + " has no Intacct access configured";
    return done(std::move(o));
  }
  mirror_.handle(d, std::move(done));
}

}  // namespace isync::handlers

// The outbox: alerts posted one at a time, retried with a doubling delay
// until give_up_after, counted in isync_alerts_total{kind,outcome}. The URL
// is never logged: lines say "alert webhook" with the kind, tenant and status.
#include <algorithm>

#include "alerts/detail/impl.hpp"

namespace isync::alerts {

namespace {

constexpr const char* kOutcomes[] = {"sent", "retried", "failed", "dropped"};

std::string failure_name(const intacct::TransportError& e) {
  std::string out = e.failure == intacct::TransportFailure::connect_failed ? "connect_failed"
                    : e.failure == intacct::TransportFailure::reset        ? "reset"
                                                                           : "timeout";
  // The rest of the message names the host; this much helps without it.
  // (An invalid URL's message says what is wrong with it, never the URL.)
  if (e.message.find("certificate verification failed") != std::string::npos)
    out += " (certificate verification failed)";
  if (e.message.starts_with("invalid URL")) out += " (" + e.message + ")";
  return out;
}

std::int64_t ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

Alerter::Impl::Impl(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> c,
                    std::vector<TenantPolicy> t, Options o, Metrics& m, Clock& ck, Log& l)
    : strand(make_strand_executor(ex)),
      conn(std::move(c)),
      tenants(std::move(t)),
      options(std::move(o)),
      metrics(m),
      clock(ck),
      log(l),
      check_timer(strand),
      retry_timer(strand) {
  intacct::TransportOptions to;
  to.connect_timeout = options.connect_timeout;
  to.request_timeout = options.post_timeout;
  to.max_reply_bytes = 64 * 1024;  // a webhook answers "ok" or a short error
  to.max_idle_per_host = 1;        // one post at a time
  to.ca_file = options.ca_file;
  to.allow_plain_http = true;  // still only to a loopback host (the transport checks)
  to.content_type = "application/json";
  to.log_name = "alert webhook http";
  transport = intacct::HttpTransport::create(ex, std::move(to), log);
  for (Kind k : kKinds) {
    for (const char* outcome : kOutcomes) {
      counters[{k, outcome}] =
          &metrics.counter("isync_alerts_total",
                           "Alerts by kind and delivery outcome (sent, retried, failed, dropped)",
                           {{"kind", std::string(kind_name(k))}, {"outcome", outcome}});
    }
  }
}

void Alerter::Impl::count(Kind kind, std::string_view outcome) {
  auto it = counters.find({kind, std::string(outcome)});
  if (it != counters.end()) it->second->inc();
}

void Alerter::Impl::pop() {
  outbox.pop_front();
  outbox_size = outbox.size();
}

void Alerter::Impl::enqueue(Alert alert) {
  if (stopping) return;
  if (outbox.size() >= options.outbox_limit) {
    count(alert.kind, "dropped");
    log.warn("alert dropped: the alert webhook's outbox is full",
             LogLine()
                 .str("kind", kind_name(alert.kind))
                 .str("tenant", alert.tenant)
                 .num("outbox", static_cast<std::int64_t>(outbox.size())));
    return;
  }
  Item item;
  item.body = webhook_body(alert);
  item.alert = std::move(alert);
  item.raised = std::chrono::steady_clock::now();
  outbox.push_back(std::move(item));
  outbox_size = outbox.size();
  pump();
}

void Alerter::Impl::pump() {
  if (stopping || posting || waiting || outbox.empty()) return;
  posting = true;
  auto& head = outbox.front();
  ++head.attempt;
  transport->post(
      options.webhook_url.reveal(), head.body, options.post_timeout,
      [self = shared_from_this()](intacct::TransportResult r) {
        self->on_strand([self, r = std::move(r)]() mutable { self->on_posted(std::move(r)); });
      });
}

void Alerter::Impl::on_posted(intacct::TransportResult result) {
  posting = false;
  if (stopping || outbox.empty()) return;
  auto& head = outbox.front();
  const auto kind = head.alert.kind;
  LogLine line;
  line.str("kind", kind_name(kind)).str("tenant", head.alert.tenant).num("attempt", head.attempt);
  bool retry = false;
  if (result) {
    const int status = result->status;
    line.num("status", status);
    if (status >= 200 && status < 300) {
      count(kind, "sent");
      log.info("alert webhook: alert sent", line);
      pop();
      return pump();
    }
    retry = status == 408 || status == 429 || status >= 500;
    if (!retry) {
      count(kind, "failed");
      log.error(
          "alert webhook refused the alert; check [alerts] webhook_url (the URL or its token may "
          "be revoked)",
          line);
      pop();
      return pump();
    }
  } else {
    line.str("error", failure_name(result.error()));
    retry = true;
  }
  // Retryable: 1s, 2s, 4s … up to retry_cap, until give_up_after.
  auto delay = options.retry_base;
  for (int i = 1; i < head.attempt && delay < options.retry_cap; ++i) delay *= 2;
  delay = std::min(delay, options.retry_cap);
  const auto elapsed = std::chrono::steady_clock::now() - head.raised;
  if (elapsed + delay > options.give_up_after) {
    count(kind, "failed");
    log.error("alert webhook: gave up on the alert after retrying; is the receiver reachable?",
              line.num("elapsed_ms", ms(elapsed)));
    pop();
    return pump();
  }
  count(kind, "retried");
  log.warn("alert webhook: post failed; retrying", line.num("retry_in_ms", delay.count()));
  waiting = true;
  retry_timer.expires_after(delay);
  retry_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->waiting = false;
    if (ec || self->stopping) return;
    self->pump();
  });
}

}  // namespace isync::alerts

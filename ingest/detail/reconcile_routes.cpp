#include "ingest/detail/reconcile_routes.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <vector>

#include "ingest/detail/http_util.hpp"
#include "ingest/detail/reconcile_request.hpp"
#include "ingest/detail/smart_event.hpp"

namespace isync::ingest::detail {

namespace {

constexpr int kDefaultRunsLimit = 30;
constexpr int kMaxRunsLimit = 100;

AdminAnswer error_answer(unsigned status, std::string_view code, std::string_view message) {
  return {status, error_body(code, message), status == 503};
}

AdminAnswer no_hook() {
  return error_answer(503, "unavailable", "reconcile is not available in this process");
}

bool configured(const Options& options, std::string_view tenant) {
  return std::any_of(options.tenants.begin(), options.tenants.end(),
                     [&](const Tenant& t) { return t.id == tenant; });
}

AdminAnswer unknown_tenant(std::string_view tenant) {
  return error_answer(404, "not_found", "no tenant \"" + shorten(tenant, 64) + "\" is configured");
}

// Run ids are ULIDs; anything that is not letters and digits cannot be one.
bool plausible_run_id(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
  });
}

AdminAnswer start_answer(ReconcileStart r) {
  if (!r.error) {
    std::string body = "{\"run_id\":";
    append_json_string(body, r.run_id);
    return {202, body + "}"};
  }
  const Error& e = *r.error;
  if (e.code == "already_running") {
    std::string body = error_body(e.code, e.message);
    body.pop_back();  // the closing brace: run_id sits beside "error"
    body += ",\"run_id\":";
    append_json_string(body, r.run_id);
    return {409, body + "}"};
  }
  if (e.code == "index_building") return error_answer(409, e.code, e.message);
  if (e.code == "unknown_tenant") return error_answer(404, "not_found", e.message);
  if (e.code == "no_intacct") return error_answer(422, e.code, e.message);
  return error_answer(503, "unavailable",
                      e.code == "unavailable" ? e.message
                                              : "reconcile could not start (" + e.code + ": " +
                                                    e.message + "); retry later");
}

}  // namespace

std::optional<AdminAnswer> check_json_header(std::string_view content_type,
                                             std::optional<std::uint64_t> content_length,
                                             std::size_t limit) {
  if (body_encoding(content_type) != BodyEncoding::json) {
    return error_answer(415, "unsupported_media_type",
                        content_type.empty()
                            ? std::string("the Content-Type header is missing; send "
                                          "application/json")
                            : "Content-Type \"" + shorten(content_type, 64) +
                                  "\" is not accepted; send application/json");
  }
  if (content_length && *content_length > limit) {
    return error_answer(413, "payload_too_large",
                        "the body is larger than " + std::to_string(limit) +
                            " bytes (Content-Length " + std::to_string(*content_length) + ")");
  }
  return std::nullopt;
}

std::optional<AdminAnswer> check_reconcile_header(std::string_view content_type,
                                                  std::optional<std::uint64_t> content_length) {
  return check_json_header(content_type, content_length, kReconcileBodyLimit);
}

void start_reconcile(const Options& options, std::string_view body,
                     std::function<void(AdminAnswer)> done) {
  auto request = parse_reconcile_request(body);
  if (!request) return done(error_answer(400, request.error().code, request.error().message));
  if (!configured(options, request->tenant)) return done(unknown_tenant(request->tenant));
  if (!options.reconcile_start) return done(no_hook());
  options.reconcile_start(std::move(*request), [done = std::move(done)](ReconcileStart r) {
    done(start_answer(std::move(r)));
  });
}

void list_reconcile_runs(const Options& options, std::string_view query,
                         std::function<void(AdminAnswer)> done) {
  auto tenant = query_param(query, "tenant");
  if (!tenant || tenant->empty()) {
    return done(error_answer(400, "invalid_field", "query parameter \"tenant\" is required"));
  }
  int limit = kDefaultRunsLimit;
  if (auto text = query_param(query, "limit")) {
    int n = 0;
    bool ok = !text->empty() && text->size() <= 3;
    for (char c : *text) {
      ok = ok && c >= '0' && c <= '9';
      n = n * 10 + (c - '0');
    }
    if (!ok || n < 1 || n > kMaxRunsLimit) {
      return done(error_answer(400, "invalid_field",
                               "query parameter \"limit\" must be a whole number from 1 to " +
                                   std::to_string(kMaxRunsLimit)));
    }
    limit = n;
  }
  if (!configured(options, *tenant)) return done(unknown_tenant(*tenant));
  if (!options.reconcile_runs) return done(no_hook());
  options.reconcile_runs(
      *tenant, limit,
      [done = std::move(done), tenant = *tenant](Result<std::vector<std::string>> r) {
        if (!r) {
          if (r.error().code == "unknown_tenant") return done(unknown_tenant(tenant));
          return done(error_answer(503, "unavailable",
                                   "the reconcile runs cannot be read right now; retry later"));
        }
        std::string body = "{\"runs\":[";
        for (std::size_t i = 0; i < r->size(); ++i) {
          if (i > 0) body += ',';
          body += (*r)[i];
        }
        done({200, body + "]}"});
      });
}

void get_reconcile_run(const Options& options, const std::string& run_id, std::string_view query,
                       std::function<void(AdminAnswer)> done) {
  if (!plausible_run_id(run_id)) {
    return done(error_answer(
        400, "invalid_field",
        "\"" + shorten(run_id, 64) + "\" is not a run id (letters and digits, at most 64)"));
  }
  std::vector<std::string> tenants;
  auto tenant = query_param(query, "tenant");
  if (tenant) {
    if (!configured(options, *tenant)) return done(unknown_tenant(*tenant));
    tenants.push_back(*tenant);
  } else {
    for (const auto& t : options.tenants) tenants.push_back(t.id);
  }
  const std::string not_kept =
      "no reconcile run \"" + run_id + "\" is kept" +
      (tenant ? " for tenant \"" + *tenant + "\"" : std::string(" for any tenant"));
  if (tenants.empty()) return done(error_answer(404, "not_found", not_kept));
  if (!options.reconcile_run) return done(no_hook());

  // Every tenant is asked at once; the first report found answers, else a
  // failure to read any tenant is 503 (the run may be there), else 404.
  struct FanOut {
    std::mutex mu;
    std::size_t waiting = 0;
    bool answered = false, unavailable = false;
    std::function<void(AdminAnswer)> done;
    std::string not_kept;
  };
  auto fan = std::make_shared<FanOut>();
  fan->waiting = tenants.size();
  fan->done = std::move(done);
  fan->not_kept = not_kept;
  for (const auto& t : tenants) {
    options.reconcile_run(t, run_id, [fan](Result<std::string> r) {
      std::optional<AdminAnswer> answer;
      {
        std::lock_guard lock(fan->mu);
        --fan->waiting;
        if (fan->answered) return;
        if (r) {
          answer = AdminAnswer{200, std::move(*r)};
        } else if (r.error().code != "not_found" && r.error().code != "unknown_tenant") {
          fan->unavailable = true;
        }
        if (!answer && fan->waiting == 0) {
          answer = fan->unavailable
                       ? error_answer(503, "unavailable",
                                      "the reconcile run cannot be read right now; retry later")
                       : error_answer(404, "not_found", fan->not_kept);
        }
        if (!answer) return;
        fan->answered = true;
      }
      fan->done(std::move(*answer));
    });
  }
}

}  // namespace isync::ingest::detail

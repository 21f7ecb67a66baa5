// Admin reconcile routes (PRODUCT.md §4, ingest.hpp): the answers, decided
// from the request and the Options::reconcile_* hooks. The session reads and
// writes; nothing here touches a socket.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ingest/ingest.hpp"

namespace isync::ingest::detail {

struct AdminAnswer {
  unsigned status = 200;
  std::string body;          // JSON
  bool retry_after = false;  // a 503: the session adds Retry-After
};

// An admin POST before its body is read: 415 for a Content-Type other than
// application/json, 413 for a declared length above `limit`; nullopt = read
// the body.
std::optional<AdminAnswer> check_json_header(std::string_view content_type,
                                             std::optional<std::uint64_t> content_length,
                                             std::size_t limit);

// POST /v1/admin/reconcile before its body is read: 415 for a Content-Type
// other than application/json, 413 for a declared length above
// kReconcileBodyLimit; nullopt = read the body.
std::optional<AdminAnswer> check_reconcile_header(std::string_view content_type,
                                                  std::optional<std::uint64_t> content_length);

// REQUIRES (all three): the caller presented the admin token. `done` runs
// once, on any thread; `options` must outlive the calls below (the hooks are
// called before they return).
void start_reconcile(const Options& options, std::string_view body,
                     std::function<void(AdminAnswer)> done);
void list_reconcile_runs(const Options& options, std::string_view query,
                         std::function<void(AdminAnswer)> done);
void get_reconcile_run(const Options& options, const std::string& run_id, std::string_view query,
                       std::function<void(AdminAnswer)> done);

}  // namespace isync::ingest::detail

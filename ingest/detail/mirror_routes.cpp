#include "ingest/detail/mirror_routes.hpp"

#include "handlers/handlers.hpp"
#include "ingest/detail/http_util.hpp"

namespace isync::ingest::detail {

namespace {

bool positive_integer(std::string_view s) {
  if (s.empty() || s.size() > 19 || s.front() == '0') return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return s.size() < 19 || s <= "9223372036854775807";
}

MirrorAnswer answer_of(Result<std::string> r) {
  if (r) return {200, std::move(*r)};
  const Error& e = r.error();
  if (e.code == "not_found") return {404, error_body("not_found", e.message)};
  if (e.code == "invalid_field") return {400, error_body("invalid_field", e.message)};
  return {503, error_body("unavailable", "the mirror cannot be read right now; retry later")};
}

}  // namespace

void read_mirror(handlers::MirrorReader* reader, bool known_tenant, const RouteMatch& m,
                 std::string_view query, std::function<void(MirrorAnswer)> done) {
  if (!known_tenant) {
    return done({404, error_body("not_found",
                                 "no tenant \"" + m.tenant.substr(0, 64) + "\" is configured")});
  }
  if (m.id == RouteId::mirror_record && !positive_integer(m.recordno)) {
    return done({400, error_body("invalid_field", "recordno \"" + m.recordno.substr(0, 64) +
                                                      "\" is not a positive integer")});
  }
  std::optional<std::string> id;
  if (m.id == RouteId::mirror_find) {
    auto by = query_param(query, "by");
    id = query_param(query, "id");
    if (!by || *by != "id") {
      return done({400, error_body("invalid_field",
                                   "query parameter \"by\" must be \"id\" (?by=id&id=X)")});
    }
    if (!id || id->empty()) {
      return done({400, error_body("invalid_field", "query parameter \"id\" is required")});
    }
  }
  if (!reader) {
    return done({503, error_body("unavailable", "the mirror is not available in this process")});
  }
  auto reply = [done = std::move(done)](Result<std::string> r) { done(answer_of(std::move(r))); };
  if (m.id == RouteId::mirror_record) {
    reader->get(m.tenant, m.collection, m.recordno, std::move(reply));
  } else {
    reader->find_by_id(m.tenant, m.collection, *id, std::move(reply));
  }
}

}  // namespace isync::ingest::detail

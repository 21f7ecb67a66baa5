// Admin mirror reads (PRODUCT.md §6), answered through handlers::MirrorReader.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "ingest/detail/router.hpp"

namespace isync::handlers {
class MirrorReader;
}

namespace isync::ingest::detail {

struct MirrorAnswer {
  unsigned status = 200;
  std::string body;  // JSON
};

// REQUIRES: `m` is a mirror_record or mirror_find match whose caller is
// authorized. `reader` null = mirror not available (503); `known_tenant`
// false = 404. `done` runs once, on any thread.
void read_mirror(handlers::MirrorReader* reader, bool known_tenant, const RouteMatch& m,
                 std::string_view query, std::function<void(MirrorAnswer)> done);

}  // namespace isync::ingest::detail

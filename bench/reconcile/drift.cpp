#include <cmath>
#include <cstdio>

#include "bench/reconcile/reconcile_bench.hpp"

namespace isync::bench::reconcile {

namespace http = boost::beast::http;

Bench::Drift Bench::drift(const std::string& tag) {
  Drift d;
  const auto per = [&](int n) {
    return std::max<std::int64_t>(1, std::llround(static_cast<double>(n) * o_.drift / 3));
  };
  const std::int64_t customers = per(o_.customers), invoices = per(o_.invoices);
  std::uniform_int_distribution<std::int64_t> pick_c(1, o_.customers), pick_i(1, o_.invoices);
  const auto customer_id = [&](std::int64_t no) {
    char id[32];
    std::snprintf(id, sizeof id, "CUST-%05lld", static_cast<long long>(no));
    return std::string(id);
  };
  // Missing: new records the mirror never heard of.
  for (std::int64_t i = 0; i < customers; ++i) {
    d.added += write(
        http::verb::post, "/v1/records/CUSTOMER",
        "{\"silent\":true,\"fields\":{\"NAME\":\"Drift " + tag + " " + std::to_string(i) + "\"}}");
  }
  for (std::int64_t i = 0; i < invoices; ++i) {
    d.added += write(http::verb::post, "/v1/records/ARINVOICE",
                     "{\"silent\":true,\"fields\":{\"CUSTOMERID\":\"" + customer_id(pick_c(rng_)) +
                         "\",\"TOTALENTERED\":\"123.45\"}}");
  }
  // Stale: records changed (a deleted one is skipped).
  for (std::int64_t i = 0; i < customers; ++i) {
    d.changed +=
        write(http::verb::patch, "/v1/records/CUSTOMER/" + std::to_string(pick_c(rng_)),
              "{\"silent\":true,\"fields\":{\"DISPLAYCONTACT.PHONE1\":\"drift-" + tag + "\"}}");
  }
  for (std::int64_t i = 0; i < invoices; ++i) {
    d.changed += write(http::verb::patch, "/v1/records/ARINVOICE/" + std::to_string(pick_i(rng_)),
                       "{\"silent\":true,\"fields\":{\"DOCNUMBER\":\"drift-" + tag + "\"}}");
  }
  // Gone: unpaid invoices deleted (a paid one cannot be: another is drawn).
  for (std::int64_t i = 0, tries = 0; i < invoices && tries < invoices * 20; ++tries) {
    if (write(http::verb::delete_, "/v1/records/ARINVOICE/" + std::to_string(pick_i(rng_)),
              "{\"silent\":true}")) {
      ++d.deleted;
      ++i;
    } else {
      ++d.refused;
    }
  }
  return d;
}

}  // namespace isync::bench::reconcile

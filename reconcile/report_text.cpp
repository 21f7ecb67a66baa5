// report_text: the public face of the report's text rendering.
#include "reconcile/detail/report.hpp"
#include "reconcile/reconcile.hpp"

namespace isync::reconcile {

Result<std::string> report_text(std::string_view report_json) {
  return detail::render_text(report_json);
}

}  // namespace isync::reconcile

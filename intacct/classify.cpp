// Failure -> IntacctError (PROTOCOL.md §5, PRODUCT.md §2).
//
// Rules, in order:
//  1. A throttle or outage signal anywhere in an error list — errorno
//     GW-0010, or the text "Temporarily Off-line", "Please Try Again Later",
//     "API rate limit exceeded" in any description or correction — makes the
//     failure transient: the gateway refused the work, nothing ran.
//  2. XL03000006 "Invalid session" at the authentication level is transient
//     with `invalid_session` set: log in again and retry once.
//  3. Every other errorno is permanent: the listed ones (XL03000006,
//     XMLGW_JPP0002, GW-0011, XL03000003, PL04000055, BL34000061, BL01001973,
//     DL02000001, XL03000010, "Query Failed", "Please provide a payment batch
//     key", "You do not have permission") and any errorno not listed at all,
//     since an unknown business error will not fix itself. DL02000001 is
//     permanent here; a caller wanting PROTOCOL.md's "≤1 retry" does it
//     itself.
//  4. A reply without a gateway body is classified by HTTP status: 429 and
//     408 transient; 5xx (500-599, including 524) transient for a read or an
//     idempotent call and ambiguous for a non-idempotent write that was sent;
//     any other status permanent (redirects are not followed).
//  5. XL03000009 (rolled back with its siblings) takes the class of the
//     sibling that failed; with no failed sibling to read, permanent.
#include <algorithm>

#include "intacct/detail/xml_util.hpp"
#include "intacct/intacct.hpp"

namespace isync::intacct {
namespace {

using detail::iequals;

bool icontains(std::string_view haystack, std::string_view needle) {
  if (needle.size() > haystack.size()) return false;
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (iequals(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

bool mentions(const ErrorDetail& e, std::string_view text) {
  return icontains(e.errorno, text) || icontains(e.description, text) ||
         icontains(e.description2, text) || icontains(e.correction, text);
}

bool is_throttle_or_outage(const ErrorDetail& e) {
  return iequals(e.errorno, "GW-0010") || mentions(e, "Temporarily Off-line") ||
         mentions(e, "Please Try Again Later") || mentions(e, "API rate limit exceeded");
}

bool is_invalid_session(const ErrorDetail& e) {
  return iequals(e.errorno, "XL03000006") && mentions(e, "Invalid session");
}

bool is_aborted_marker(const ErrorDetail& e) { return iequals(e.errorno, "XL03000009"); }

// Sender or user credentials rejected. XL03000006 at the control level is
// also used for "X is not a valid transport policy", which is not a
// credential problem.
bool is_bad_credentials(const ErrorDetail& e, ErrorLevel level) {
  if (iequals(e.errorno, "XMLGW_JPP0002")) return true;
  if (!iequals(e.errorno, "XL03000006")) return false;
  if (level == ErrorLevel::authentication) return !is_invalid_session(e);
  return level == ErrorLevel::control && !mentions(e, "transport policy");
}

ErrorClass class_of(const std::vector<ErrorDetail>& errors) {
  bool transient = std::any_of(errors.begin(), errors.end(), is_throttle_or_outage);
  return transient ? ErrorClass::transient : ErrorClass::permanent;
}

ErrorClass class_of_status(int status, CallContext context) {
  if (status == 429 || status == 408) return ErrorClass::transient;
  if (status >= 500 && status <= 599) {
    return context.write && context.sent ? ErrorClass::ambiguous : ErrorClass::transient;
  }
  return ErrorClass::permanent;
}

IntacctError from_errors(ErrorLevel level, int http_status, std::vector<ErrorDetail> errors) {
  IntacctError e;
  e.level = level;
  e.http_status = http_status;
  e.cls = class_of(errors);
  if (level == ErrorLevel::authentication &&
      std::any_of(errors.begin(), errors.end(), is_invalid_session)) {
    e.invalid_session = true;
    e.cls = ErrorClass::transient;
  }
  e.bad_credentials = std::any_of(errors.begin(), errors.end(), [&](const ErrorDetail& d) {
    return is_bad_credentials(d, level);
  });
  // A throttled reply with an XML body (HTTP 429 + GW-0010) is transient
  // whatever its text says.
  if (http_status == 429) e.cls = ErrorClass::transient;
  e.errors = std::move(errors);
  return e;
}

// The class of a failed result, ignoring its XL03000009 entries.
std::optional<ErrorClass> own_class(const FunctionResult& r) {
  std::vector<ErrorDetail> own;
  std::copy_if(r.errors.begin(), r.errors.end(), std::back_inserter(own),
               [](const ErrorDetail& e) { return !is_aborted_marker(e); });
  if (own.empty()) return std::nullopt;
  return class_of(own);
}

}  // namespace

std::string_view to_string(ErrorClass cls) {
  switch (cls) {
    case ErrorClass::transient:
      return "transient";
    case ErrorClass::permanent:
      return "permanent";
    case ErrorClass::ambiguous:
      return "ambiguous";
  }
  return "permanent";
}

std::string_view to_string(ErrorLevel level) {
  switch (level) {
    case ErrorLevel::transport:
      return "transport";
    case ErrorLevel::control:
      return "control";
    case ErrorLevel::authentication:
      return "authentication";
    case ErrorLevel::result:
      return "result";
  }
  return "transport";
}

std::string IntacctError::summary() const {
  std::string out = "Intacct ";
  out += to_string(level);
  out += " failure (";
  out += to_string(cls);
  if (http_status != 0) out += ", HTTP " + std::to_string(http_status);
  if (!function.empty()) out += ", " + function;
  if (!control_id.empty()) out += ", controlid " + control_id;
  out += ")";
  for (std::size_t i = 0; i < errors.size(); ++i) {
    const auto& e = errors[i];
    out += i == 0 ? ": " : "; ";
    out += e.errorno.empty() ? "(no errorno)" : e.errorno;
    for (const auto* text : {&e.description, &e.description2}) {
      if (!text->empty()) out += " " + *text;
    }
    if (!e.correction.empty()) out += " — " + e.correction;
  }
  return out;
}

IntacctError transport_error(TransportFailure failure, CallContext context) {
  IntacctError e;
  e.level = ErrorLevel::transport;
  const bool may_have_run = failure != TransportFailure::connect_failed && context.sent;
  e.cls = context.write && may_have_run ? ErrorClass::ambiguous : ErrorClass::transient;
  const char* what = failure == TransportFailure::connect_failed ? "could not connect"
                     : failure == TransportFailure::reset        ? "connection reset"
                                                                 : "timed out";
  e.errors.push_back(ErrorDetail{{}, what, {}, {}});
  return e;
}

std::optional<IntacctError> response_error(const Response& response, CallContext context) {
  const int status = response.http_status;
  const bool ok_status = status >= 200 && status < 300;
  if (response.has_body && response.control_status == Status::failure) {
    return from_errors(ErrorLevel::control, status, response.control_errors);
  }
  if (response.has_body && response.authentication &&
      response.authentication->status == Status::failure) {
    return from_errors(ErrorLevel::authentication, status, response.authentication->errors);
  }
  if (ok_status && response.has_body) return std::nullopt;
  // No gateway verdict: the HTTP status is all there is.
  IntacctError e;
  e.level = ErrorLevel::transport;
  e.http_status = status;
  e.cls = class_of_status(status, context);
  e.errors.push_back(ErrorDetail{{}, "HTTP " + std::to_string(status), {}, {}});
  return e;
}

std::optional<IntacctError> result_error(const Response& response, const FunctionResult& result) {
  if (result.status == Status::success) return std::nullopt;
  IntacctError e = from_errors(ErrorLevel::result, response.http_status, result.errors);
  e.function = result.function;
  e.control_id = result.control_id;
  if (auto own = own_class(result)) {
    e.cls = *own;
    return e;
  }
  // Only XL03000009 (or nothing): the cause is a sibling's failure.
  e.cls = ErrorClass::permanent;
  for (const auto& sibling : response.results) {
    if (&sibling == &result || sibling.status != Status::failure) continue;
    if (auto cls = own_class(sibling)) {
      e.cls = *cls;
      break;
    }
  }
  return e;
}

}  // namespace isync::intacct

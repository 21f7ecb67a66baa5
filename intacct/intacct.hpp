// intacct — the Sage Intacct XML gateway, as values (no networking here).
//
// Contract:
//  * Requests: fill a `Request` (sender credentials, login or session, one or
//    more `Function`s, each with its own controlid) and call `to_xml`. The XML
//    is written by pugixml, which escapes every value; nothing is ever pasted
//    into XML as text. A request that breaks a rule of the gateway (more than
//    100 keys, a pagesize out of range, an `and` with one child, an element
//    name that is not an XML name, a control character in a value, ...) is an
//    Error value (code "invalid_request") naming the function and the rule.
//  * Secrets (sender password, user password, session id) are `Secret`s: they
//    print as `***`, and `describe(request)` renders the request with them
//    replaced, for logs. Only `to_xml` reveals them.
//  * Responses: `parse_response(http_status, content_type, body)` reads every
//    level Intacct reports on — control, authentication, each function result
//    — without throwing. A 2xx body that is not a gateway response is an Error
//    (code "malformed_response"). A non-2xx reply is parsed when it is XML
//    (HTTP 401 + XMLGW_JPP0002); otherwise the Response carries only its
//    status (`has_body == false`). Optional values that cannot be read (a
//    count that is not a number, a session stamp that is not a date) are
//    absent rather than an error: a response to a write that ran must never
//    turn into a failure because of a side field.
//  * Classification: `response_error`, `result_error` and `transport_error`
//    map every failure to one `IntacctError` whose class is transient,
//    permanent or ambiguous by PROTOCOL.md §5 and PRODUCT.md §2. The caller
//    says whether the call was a non-idempotent write and whether the request
//    was fully sent; a failure after a write was sent that cannot tell whether
//    the write ran is ambiguous (read back, never retry blindly).
//  * Sessions: `session_expiry_ms` computes local now + (sessiontimeout −
//    sessiontimestamp), so server clock skew and old stamps do not matter.
//  * Everything here is a pure function of its inputs: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/core.hpp"

namespace isync::intacct {

// ---- Requests ------------------------------------------------------------------

// A credential; prints as `***`, `reveal()` is for the request writer only.
using Secret = isync::Secret;

// <login>: the tenant's web-services user. `location_id` is the entity in a
// multi-entity company; empty = omitted (top level).
struct Login {
  std::string user_id;
  std::string company_id;
  Secret password;
  std::string location_id;
};

// <sessionid>: a session from getAPISession, used on its own endpoint.
struct SessionId {
  Secret session_id;
};

// <getAPISession>. No location = the login's own; "" = `<locationid/>` (top
// level); otherwise that entity. Send it alone in its request.
struct GetApiSession {
  std::optional<std::string> location_id;
};

// <read>: records by RECORDNO. 1–100 keys; no key may contain a comma.
// Empty `fields` = `*`. `docparid` only for documents such as SODOCUMENT.
struct Read {
  std::string object;
  std::vector<std::string> keys;
  std::vector<std::string> fields;
  std::string docparid;
};

// <readByQuery>: `query` is Intacct's query text (may be empty = all);
// `pagesize` 1–1000. Empty `fields` = `*`.
struct ReadByQuery {
  std::string object;
  std::vector<std::string> fields;
  std::string query;
  int pagesize = 100;
};

// <readMore>: the next page of a readByQuery, by its resultId.
struct ReadMore {
  std::string result_id;
};

// A <query> filter node. Build with the helpers below; `to_xml` checks the
// arity of each operator.
struct Filter {
  enum class Op {
    equalto,
    notequalto,
    lessthan,
    lessthanorequalto,
    greaterthan,
    greaterthanorequalto,
    between,  // two values
    in,       // one or more values
    notin,    // one or more values
    like,
    notlike,
    isnull,     // no value
    isnotnull,  // no value
    all_of,     // <and>, two or more children
    any_of,     // <or>, two or more children
  };
  Op op = Op::equalto;
  std::string field;                // related fields by dot: CUSTOMER.NAME
  std::vector<std::string> values;  // one <value> each
  std::vector<Filter> children;     // and/or only
};
Filter where(Filter::Op op, std::string field, std::vector<std::string> values = {});
Filter all_of(std::vector<Filter> children);
Filter any_of(std::vector<Filter> children);

struct OrderBy {
  std::string field;
  bool ascending = true;
};

// <query>: `select` is required and may not contain `*`; pagesize 1–2000;
// offset ≥ 0 (0 = omitted).
struct Query {
  std::vector<std::string> select;
  std::string object;
  std::string docparid;
  std::optional<Filter> filter;
  std::vector<OrderBy> order_by;
  bool case_insensitive = false;  // <options><caseinsensitive>
  bool show_private = false;      // <options><showprivate> (entity-private records)
  int pagesize = 100;
  int offset = 0;
};

// One element of a create/update body: a leaf `<NAME>value</NAME>` when
// `children` is empty, else a group. Repeat a child name for repeated
// elements (ARPYMTDETAILS/ARPYMTDETAIL). Order is kept.
struct Field {
  std::string name;
  std::string value;
  std::vector<Field> children;
};
Field leaf(std::string name, std::string value);
Field group(std::string name, std::vector<Field> children);

// <create><OBJECT>fields</OBJECT></create>; update needs RECORDNO or the ID.
struct Create {
  std::string object;
  std::vector<Field> fields;
};
struct Update {
  std::string object;
  std::vector<Field> fields;
};

// <delete>: 1–100 keys (RECORDNOs), comma-free.
struct Delete {
  std::string object;
  std::vector<std::string> keys;
};

// A legacy (2.1-style) function such as <reverse_arpayment key="7">…</reverse_arpayment>:
// element `name`, attributes in order, child elements as Fields. `write` says
// whether it changes data (is_write() returns it). The name and every
// attribute name must be XML names; values are escaped like any other.
struct Legacy {
  std::string name;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<Field> children;
  bool write = true;
};

using Call =
    std::variant<GetApiSession, Read, ReadByQuery, ReadMore, Query, Create, Update, Delete, Legacy>;

// A function and its controlid (1–256 characters, unique in the request; a
// GUID makes a write replay-safe with `unique_id`).
struct Function {
  std::string control_id;
  Call call;
};

struct Request {
  std::string sender_id;
  Secret sender_password;
  std::string control_id;    // 1–256 characters; correlation only
  bool unique_id = false;    // true: the gateway refuses to repeat a function controlid
  bool transaction = false;  // true: all functions commit or roll back together
  std::variant<Login, SessionId> auth;
  std::vector<Function> functions;  // at least one
};

// The request document (UTF-8, no whitespace), or "invalid_request".
Result<std::string> to_xml(const Request& request);

// The same document with every secret replaced by `***`, for logs; for an
// invalid request, the reason.
std::string describe(const Request& request);

// The function's element name ("readByQuery", "create", ...; a Legacy call's
// own name). The view lives as long as `call`.
std::string_view function_name(const Call& call);

// True for calls that change data (create, update, delete, a Legacy call
// whose `write` is set).
bool is_write(const Call& call);

// ---- Responses -----------------------------------------------------------------

enum class Status {
  success,
  failure,
  aborted,  // results only: rolled back because a sibling failed
};

// One <error> of an <errormessage>. `errorno` is usually a code but can be
// free text ("Query Failed").
struct ErrorDetail {
  std::string errorno, description, description2, correction;
};

// A child element of <data>, flattened: nested elements become `A.B`; a path
// met again in the same row is stored as `PATH[1]`, `PATH[2]`, ... so no
// value is lost.
struct Row {
  std::string element;  // as sent: "customer" or "CUSTOMER"
  std::map<std::string, std::string> fields;
  // The field's text, or nullptr when the row has no such field.
  const std::string* get(std::string_view name) const;
};

struct Data {
  std::string listtype;
  std::optional<std::int64_t> count, totalcount, numremaining, offset;
  std::optional<std::string> result_id;  // present, possibly empty
  std::vector<Row> rows;
  // Rows whose element name equals `object` ignoring case.
  std::vector<const Row*> rows_of(std::string_view object) const;
};

// <data><api> of a getAPISession result.
struct ApiSession {
  Secret session_id;
  std::string endpoint;
  std::string location_id;
};

struct FunctionResult {
  Status status = Status::failure;
  std::string function;
  std::string control_id;
  std::optional<Data> data;        // may be present on a failure too
  std::optional<std::string> key;  // legacy create_* result
  std::optional<ApiSession> api_session;
  std::vector<ErrorDetail> errors;
};

struct AuthenticationResult {
  Status status = Status::failure;
  std::string user_id, company_id, location_id;
  // Epoch seconds; absent when missing or unreadable.
  std::optional<std::int64_t> session_timestamp, session_timeout;
  std::vector<ErrorDetail> errors;  // <operation><errormessage> on failure
};

struct Response {
  int http_status = 200;
  bool has_body = false;  // false: a non-2xx reply without an XML body
  Status control_status = Status::failure;
  std::string control_id;
  std::vector<ErrorDetail> control_errors;  // <errormessage> beside <control>
  std::optional<AuthenticationResult> authentication;
  std::vector<FunctionResult> results;
  // The result with this function controlid, or nullptr.
  const FunctionResult* result(std::string_view function_control_id) const;
};

// Reads a gateway reply. Never throws; DTDs are neither read nor expanded.
Result<Response> parse_response(int http_status, std::string_view content_type,
                                std::string_view body);

// ---- Classification ------------------------------------------------------------

// The same three classes as queue::FailureClass (the handler maps them one
// to one); kept here so this layer does not depend on the queue and Redis.
enum class ErrorClass {
  transient,  // retry with backoff
  permanent,  // dead letter now
  ambiguous,  // a write may have run: read back before anything else
};

enum class ErrorLevel {
  transport,       // no gateway answer: HTTP status, reset, timeout
  control,         // nothing ran
  authentication,  // nothing ran
  result,          // this function failed; siblings may have succeeded
};

// What the caller knows about the call that failed.
struct CallContext {
  bool write = false;  // a non-idempotent write (create/update/delete without unique_id)
  bool sent = true;    // the whole request went out (false: failed while connecting/sending)
};

struct IntacctError {
  ErrorLevel level = ErrorLevel::transport;
  int http_status = 0;  // 0 when no HTTP reply came
  std::vector<ErrorDetail> errors;
  ErrorClass cls = ErrorClass::permanent;
  bool invalid_session = false;      // session expired: log in again, retry once
  bool bad_credentials = false;      // sender or user credentials rejected
  std::string function, control_id;  // result level only
  // One line for logs and dead letters: level, errorno, descriptions,
  // correction. Never contains a secret.
  std::string summary() const;
};

enum class TransportFailure {
  connect_failed,  // nothing reached the server
  reset,           // connection reset or closed before a reply
  timeout,         // no complete reply before the deadline
};

// The failure of a call that got no HTTP reply.
IntacctError transport_error(TransportFailure failure, CallContext context);

// The request-wide failure of a reply (HTTP status without XML, control or
// authentication failure), or nullopt when functions ran.
std::optional<IntacctError> response_error(const Response& response, CallContext context);

// The failure of one function result (status failure or aborted), or nullopt
// on success. An aborted result (XL03000009) takes the class of the sibling
// that failed.
std::optional<IntacctError> result_error(const Response& response, const FunctionResult& result);

std::string_view to_string(ErrorClass cls);
std::string_view to_string(ErrorLevel level);

// ---- Sessions ------------------------------------------------------------------

// local_now_ms + (sessiontimeout − sessiontimestamp) of the response's
// authentication block; `previous_ms` when it lacks either stamp.
std::optional<std::int64_t> session_expiry_ms(const Response& response, std::int64_t local_now_ms,
                                              std::optional<std::int64_t> previous_ms);

}  // namespace isync::intacct

// Outcomes, Intacct answers and the posting's JSON for PaymentJob (see
// payment_job.hpp).
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <random>

#include "core/json.hpp"
#include "handlers/detail/payment_job.hpp"

namespace isync::handlers::detail {

namespace asio = boost::asio;
using queue::Outcome;
using redis::Reply;

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

// ---- the posting as JSON ----

namespace {

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

}  // namespace

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

std::optional<Posting> decode_posting(const std::string& text) {
  auto parsed = json::parse(text, json::kTrusted);
  if (!parsed || !parsed->IsObject()) return std::nullopt;
  const rapidjson::Document& doc = *parsed;
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

intacct::Query readback_query(const std::vector<std::string>& payment_ids, int pagesize) {
  intacct::Query q;
  q.object = "ARPYMT";
  q.select = {"RECORDNO", "DOCNUMBER", "CUSTOMERID", "TOTALENTERED", "CURRENCY", "STATE"};
  q.filter = intacct::where(
      payment_ids.size() == 1 ? intacct::Filter::Op::equalto : intacct::Filter::Op::in, "DOCNUMBER",
      payment_ids);
  q.pagesize = pagesize;
  return q;
}

ReadBackMatch match_readback(const intacct::Row& r, const std::string& payment_id,
                             const Posting& posting, int exponent) {
  if (field(r, "DOCNUMBER") != payment_id) return ReadBackMatch::another_document;
  const auto want = parse_amount(posting.total, exponent);
  const auto amount = parse_amount(field(r, "TOTALENTERED"), exponent);
  const bool same_customer =
      posting.customer_id.empty() || field(r, "CUSTOMERID") == posting.customer_id;
  return same_customer && want && amount && *amount == *want ? ReadBackMatch::ours
                                                             : ReadBackMatch::theirs;
}

}  // namespace isync::handlers::detail

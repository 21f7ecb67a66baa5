#include "ingest/detail/stripe.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <array>
#include <memory>

#include "core/json.hpp"
#include "ingest/detail/text.hpp"

namespace isync::ingest::detail {

namespace {

using rapidjson::SizeType;
using rapidjson::Value;

constexpr std::string_view kRedacted = "[redacted]";

Error malformed(std::string message) { return make_error("malformed_body", std::move(message)); }
Error invalid(std::string message) { return make_error("invalid_field", std::move(message)); }

// ---- JSON ------------------------------------------------------------------

// The stored copy's SAX handler: forwards every token to a Writer, numbers as
// their text (RawValue: 1.1.0's Writer::RawNumber would quote them), with the
// value of every member named in `names` (any depth) written as "[redacted]".
class RedactingCopy {
 public:
  using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
  RedactingCopy(Writer& w, const std::vector<std::string>& names) : w_(w), names_(names) {}

  bool Null() {
    return scalar([&] { return w_.Null(); });
  }
  bool Bool(bool b) {
    return scalar([&] { return w_.Bool(b); });
  }
  bool Int(int i) {
    return scalar([&] { return w_.Int(i); });
  }
  bool Uint(unsigned u) {
    return scalar([&] { return w_.Uint(u); });
  }
  bool Int64(std::int64_t i) {
    return scalar([&] { return w_.Int64(i); });
  }
  bool Uint64(std::uint64_t u) {
    return scalar([&] { return w_.Uint64(u); });
  }
  bool Double(double d) {
    return scalar([&] { return w_.Double(d); });
  }
  bool RawNumber(const char* s, SizeType n, bool) {
    return scalar([&] { return w_.RawValue(s, n, rapidjson::kNumberType); });
  }
  bool String(const char* s, SizeType n, bool) {
    return scalar([&] { return w_.String(s, n); });
  }
  bool StartObject() {
    return open([&] { return w_.StartObject(); });
  }
  bool Key(const char* s, SizeType n, bool) {
    if (skipping_ > 0) return true;
    redact_next_ = std::find(names_.begin(), names_.end(), std::string_view(s, n)) != names_.end();
    return w_.Key(s, n);
  }
  bool EndObject(SizeType) {
    return close([&] { return w_.EndObject(); });
  }
  bool StartArray() {
    return open([&] { return w_.StartArray(); });
  }
  bool EndArray(SizeType) {
    return close([&] { return w_.EndArray(); });
  }

 private:
  bool redacted() {
    redact_next_ = false;
    return w_.String(kRedacted.data(), static_cast<SizeType>(kRedacted.size()));
  }
  template <class F>
  bool scalar(F write) {
    if (skipping_ > 0) return true;
    return redact_next_ ? redacted() : write();
  }
  template <class F>
  bool open(F write) {
    if (skipping_ > 0) {
      ++skipping_;
      return true;
    }
    if (!redact_next_) return write();
    skipping_ = 1;
    return redacted();
  }
  template <class F>
  bool close(F write) {
    if (skipping_ > 0) {
      --skipping_;
      return true;
    }
    return write();
  }

  Writer& w_;
  const std::vector<std::string>& names_;
  bool redact_next_ = false;  // the next value belongs to a redacted member
  std::size_t skipping_ = 0;  // depth inside a redacted object or array
};

// The body re-serialized compactly, in one pass, with redaction; every
// number keeps its text byte for byte (`3e308`, `0E80`, `100`). A body whose
// copy the Writer refuses is refused, never stored cut short.
Result<std::string> stored_copy(std::string_view body, const std::vector<std::string>& names) {
  rapidjson::StringBuffer out;
  RedactingCopy::Writer writer(out);
  RedactingCopy copy(writer, names);
  auto parsed = json::parse_events(body, {.numbers_as_strings = true}, copy);
  if (!parsed || !writer.IsComplete()) {
    return malformed("the JSON body cannot be stored as sent" +
                     (parsed ? std::string() : " (" + parsed.error().message + ")"));
  }
  return Result<std::string>(boost::system::in_place_value, out.GetString(), out.GetSize());
}

// A member, or null when absent or JSON null (Stripe writes null for "none").
const Value* member(const Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string text(const Value& v) { return std::string(v.GetString(), v.GetStringLength()); }

Error required(std::string_view field) {
  return invalid("field \"" + std::string(field) + "\" is required");
}

Result<std::string> nonempty_string(const Value& obj, const char* name, std::string_view field) {
  const Value* v = member(obj, name);
  if (!v) return required(field);
  if (!v->IsString() || v->GetStringLength() == 0) {
    return invalid("field \"" + std::string(field) + "\" must be a non-empty string");
  }
  return Result<std::string>(boost::system::in_place_value, text(*v));
}

Result<std::string> unsigned_integer(const Value& obj, const char* name, std::string_view field) {
  const Value* v = member(obj, name);
  if (!v) return required(field);
  if (!v->IsUint64()) {
    return invalid("field \"" + std::string(field) + "\" must be a whole number of at least 0");
  }
  return Result<std::string>(boost::system::in_place_value, std::to_string(v->GetUint64()));
}

Result<std::string> signed_integer(const Value& obj, const char* name, std::string_view field) {
  const Value* v = member(obj, name);
  if (!v) return required(field);
  if (!v->IsInt64()) return invalid("field \"" + std::string(field) + "\" must be a whole number");
  return Result<std::string>(boost::system::in_place_value, std::to_string(v->GetInt64()));
}

bool handled(std::string_view type) {
  return type == "payment_intent.succeeded" || type == "charge.succeeded" ||
         type == "charge.refunded";
}

using Snapshot = std::vector<std::pair<std::string, std::string>>;

// Checks and snapshot pairs of the three handled types; returns PAYMENT_ID.
Result<std::string> payment_fields(std::string_view type, const Value& object, const Value& event,
                                   Snapshot& snap) {
  auto id_r = nonempty_string(object, "id", "data.object.id");
  if (!id_r) return id_r.error();
  const std::string& id = *id_r;
  auto amount_r = unsigned_integer(object, "amount", "data.object.amount");
  if (!amount_r) return amount_r.error();
  std::string amount = *amount_r;
  const Value* currency = member(object, "currency");
  if (!currency) return required("data.object.currency");
  bool letters = currency->IsString() && currency->GetStringLength() == 3;
  for (SizeType i = 0; letters && i < 3; ++i) {
    char c = currency->GetString()[i];
    letters = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  if (!letters) {
    return invalid("field \"data.object.currency\" must be a three-letter currency code");
  }
  auto created = signed_integer(object, "created", "data.object.created");
  if (!created) return created.error();

  const bool charge = type.starts_with("charge.");
  std::string payment_id = id;
  if (charge) {
    snap.emplace_back("CHARGE_ID", id);
    const Value* pi = member(object, "payment_intent");
    if (pi && pi->IsString() && pi->GetStringLength() > 0) payment_id = text(*pi);
    snap.emplace_back("AMOUNT", amount);
    const Value* details = member(object, "payment_method_details");
    const Value* method = details ? member(*details, "type") : nullptr;
    if (method && method->IsString()) snap.emplace_back("METHOD", text(*method));
  } else {
    const Value* latest = member(object, "latest_charge");
    if (latest && latest->IsString()) snap.emplace_back("CHARGE_ID", text(*latest));
    const Value* received = member(object, "amount_received");
    if (received && received->IsUint64() && received->GetUint64() > 0) {
      amount = std::to_string(received->GetUint64());
    }
    snap.emplace_back("AMOUNT", amount);
    const Value* types = member(object, "payment_method_types");
    if (types && types->IsArray() && types->Size() == 1 && (*types)[0].IsString()) {
      snap.emplace_back("METHOD", text((*types)[0]));
    }
  }
  if (type == "charge.refunded") {
    auto refunded = unsigned_integer(object, "amount_refunded", "data.object.amount_refunded");
    if (!refunded) return refunded.error();
    snap.emplace_back("AMOUNT_REFUNDED", std::move(*refunded));
  }
  std::string code = text(*currency);
  for (auto& c : code) c = ascii_upper(c);
  snap.emplace_back("CURRENCY", std::move(code));
  snap.emplace_back("CREATED", std::move(*created));
  if (const Value* metadata = member(object, "metadata")) {
    for (auto [name, pair] :
         {std::pair{"intacct_invoice", "INVOICE"}, std::pair{"intacct_customer", "CUSTOMER"}}) {
      const Value* v = member(*metadata, name);
      if (v && v->IsString() && v->GetStringLength() > 0) snap.emplace_back(pair, text(*v));
    }
  }
  if (const Value* live = member(event, "livemode"); live && live->IsBool()) {
    snap.emplace_back("LIVEMODE", live->GetBool() ? "true" : "false");
  }
  snap.emplace_back("PAYMENT_ID", payment_id);
  return Result<std::string>(boost::system::in_place_value, std::move(payment_id));
}

}  // namespace

Result<StripeEvent> parse_stripe_event(std::string_view body,
                                       const std::vector<std::string>& redact_fields) {
  auto parsed = json::parse(body, json::kStrict);
  if (!parsed) return parsed.error();
  const rapidjson::Document& doc = *parsed;
  if (!doc.IsObject()) return malformed("the JSON body must be one object");

  StripeEvent ev;
  const Value* id = member(doc, "id");
  if (!id) return required("id");
  if (!id->IsString() ||
      !std::string_view(id->GetString(), id->GetStringLength()).starts_with("evt_")) {
    return invalid("field \"id\" must be a string starting with \"evt_\"");
  }
  ev.id = text(*id);
  auto type_r = nonempty_string(doc, "type", "type");
  if (!type_r) return type_r.error();
  const std::string& type = *type_r;
  std::int64_t version = 0;
  if (const Value* created = member(doc, "created")) {
    if (!created->IsInt64()) return invalid("field \"created\" must be a whole number");
    version = created->GetInt64();
  }
  const Value* data = member(doc, "data");
  const Value* object = data ? member(*data, "object") : nullptr;
  if (!object) return required("data.object");
  if (!object->IsObject()) return invalid("field \"data.object\" must be an object");
  if (const Value* metadata = member(*object, "metadata")) {
    bool strings = metadata->IsObject();
    if (strings) {
      for (const auto& m : metadata->GetObject()) strings = strings && m.value.IsString();
    }
    if (!strings) {
      return invalid("field \"data.object.metadata\" must be an object of string values");
    }
  }

  queue::Envelope& env = ev.envelope;
  env.v = 1;
  env.source = "stripe";
  env.object = "ARPYMT";
  env.action = type;
  env.version = version;
  env.snapshot.emplace_back("EVENT_ID", ev.id);
  if (handled(type)) {
    auto key = payment_fields(type, *object, doc, env.snapshot);
    if (!key) return key.error();
    env.key = std::move(*key);
  } else if (const Value* oid = member(*object, "id"); oid && oid->IsString()) {
    env.key = text(*oid);
  }
  std::sort(env.snapshot.begin(), env.snapshot.end());

  auto raw = stored_copy(body, redact_fields);
  if (!raw) return raw.error();
  env.raw = std::move(*raw);
  return ev;
}

}  // namespace isync::ingest::detail

// Schema, value formats and failure shapes of the sandbox company.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <utility>

#include "sandbox/detail/model.hpp"

namespace isync::sandbox::detail {
namespace {

using T = FieldType;

// Field lists follow PROTOCOL.md §4 (fields the service reads), in the order
// rows are written with `*`.
const std::vector<ObjectDef>& objects() {
  static const std::vector<ObjectDef> defs = {
      {"CUSTOMER",
       "CUSTOMERID",
       {{"RECORDNO", T::integer, false},
        {"CUSTOMERID", T::text, true},
        {"NAME", T::text, true},
        {"STATUS", T::text, true},
        {"ONHOLD", T::boolean, true},
        {"TOTALDUE", T::money, false},
        {"DISPLAYCONTACT.PRINTAS", T::text, true},
        {"DISPLAYCONTACT.EMAIL1", T::text, true},
        {"DISPLAYCONTACT.PHONE1", T::text, true},
        {"WHENCREATED", T::timestamp, false},
        {"WHENMODIFIED", T::timestamp, false}}},
      {"ARINVOICE",
       "RECORDID",
       {{"RECORDNO", T::integer, false},
        {"RECORDID", T::text, true},
        {"DOCNUMBER", T::text, true},
        {"CUSTOMERID", T::text, true},
        {"CUSTOMERNAME", T::text, false},
        {"STATE", T::text, true},
        {"WHENCREATED", T::date, true},
        {"WHENPOSTED", T::date, false},
        {"WHENDUE", T::date, true},
        {"WHENPAID", T::date, false},
        {"TOTALENTERED", T::money, true},
        {"TOTALPAID", T::money, false},
        {"TOTALDUE", T::money, false},
        {"CURRENCY", T::text, true},
        {"WHENMODIFIED", T::timestamp, false}}},
      {"ARPYMT",
       "",
       {{"RECORDNO", T::integer, false},
        {"CUSTOMERID", T::text, true},
        {"PAYMENTMETHOD", T::text, true},
        {"FINANCIALENTITY", T::text, true},
        {"UNDEPOSITEDACCOUNTNO", T::text, true},
        {"PRBATCH", T::text, true},
        {"RECEIPTDATE", T::date, true},
        {"PAYMENTDATE", T::date, true},
        {"DOCNUMBER", T::text, true},
        {"CURRENCY", T::text, true},
        {"STATE", T::text, false},
        {"TOTALENTERED", T::money, true},
        {"TOTALPAID", T::money, false},
        {"TOTALUNAPPLIED", T::money, false},  // the sandbox's own (sandbox.hpp)
        {"REVERSEDDATE", T::date, false},     // the sandbox's own (sandbox.hpp)
        {"RECORDTYPE", T::text, false},
        {"WHENCREATED", T::timestamp, false},
        {"WHENMODIFIED", T::timestamp, false}}},
  };
  return defs;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return std::int64_t{era} * 146097 + doe - 719468;
}

int days_in_month(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

std::tm utc(std::int64_t epoch_seconds) {
  const auto t = static_cast<std::time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

}  // namespace

const FieldDef* ObjectDef::field(std::string_view wanted) const {
  for (const auto& f : fields) {
    if (f.name == wanted) return &f;
  }
  return nullptr;
}

const ObjectDef* find_object(std::string_view name) {
  for (const auto& def : objects()) {
    if (def.name == name) return &def;
  }
  return nullptr;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool is_detail_field(std::string_view name) { return name.starts_with(kDetailPrefix); }

std::optional<std::int64_t> parse_cents(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const auto dot = text.find('.');
  const auto whole = text.substr(0, dot);
  const auto frac = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
  if (!all_digits(whole) || whole.size() > 13) return std::nullopt;
  if (dot != std::string_view::npos && (frac.size() > 2 || !all_digits(frac))) return std::nullopt;
  std::int64_t cents = 0;
  for (char c : whole) cents = cents * 10 + (c - '0');
  cents *= 100;
  if (frac.size() >= 1) cents += (frac[0] - '0') * 10;
  if (frac.size() == 2) cents += frac[1] - '0';
  return negative ? -cents : cents;
}

std::string format_cents(std::int64_t cents) {
  const bool negative = cents < 0;
  const std::int64_t a = negative ? -cents : cents;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s%lld.%02lld", negative ? "-" : "",
                static_cast<long long>(a / 100), static_cast<long long>(a % 100));
  return buf;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  if (!all_digits(text) || text.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) v = v * 10 + (c - '0');
  return v;
}

std::optional<std::int64_t> parse_intacct_time(std::string_view text) {
  if (text.size() != 10 && text.size() != 19) return std::nullopt;
  if (text[2] != '/' || text[5] != '/') return std::nullopt;
  const auto mm = text.substr(0, 2), dd = text.substr(3, 2), yyyy = text.substr(6, 4);
  if (!all_digits(mm) || !all_digits(dd) || !all_digits(yyyy)) return std::nullopt;
  const int m = to_int(mm), d = to_int(dd), y = to_int(yyyy);
  if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return std::nullopt;
  int hh = 0, mi = 0, ss = 0;
  if (text.size() == 19) {
    if (text[10] != ' ' || text[13] != ':' || text[16] != ':') return std::nullopt;
    const auto h = text.substr(11, 2), n = text.substr(14, 2), s = text.substr(17, 2);
    if (!all_digits(h) || !all_digits(n) || !all_digits(s)) return std::nullopt;
    hh = to_int(h), mi = to_int(n), ss = to_int(s);
    if (hh > 23 || mi > 59 || ss > 59) return std::nullopt;
  }
  return days_from_civil(y, m, d) * 86400 + hh * 3600 + mi * 60 + ss;
}

std::string format_date(std::int64_t epoch_seconds) {
  const auto tm = utc(epoch_seconds);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02d/%02d/%04d", tm.tm_mon + 1, tm.tm_mday, tm.tm_year + 1900);
  return buf;
}

std::string format_iso(std::int64_t epoch_ms) {
  const auto tm = utc(epoch_ms / 1000);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// "Query Failed" + "Object definition X not found" [PROTOCOL.md §5, PHP ResultTest].
Failure unknown_object(const std::string& object) {
  return {"Query Failed",   "", "Object definition " + object + " not found", "",
          "unknown_object", {}};
}

// DL02000001 is what Intacct answers for a field the object lacks [PROTOCOL.md §5, INV].
Failure unknown_field(const std::string& object, const std::string& field) {
  return {"DL02000001",
          "There was an error processing the request.",
          "Unknown field '" + field + "' on object " + object + ".",
          "Use a field of " + object + "; see lookup.",
          "unknown_field",
          {}};
}

// Intacct's errorno for a missing record is unknown (PROTOCOL.md §10 q4). The
// sandbox answers BL01001973, Intacct's generic business-rule wrapper, so a
// client cannot tell it from any other permanent record error.
Failure not_found(const std::string& object, const std::string& key) {
  return {"BL01001973",
          "",
          object + " record '" + key + "' does not exist.",
          "Check the key; the record may have been deleted.",
          "not_found",
          {}};
}

Failure invalid_value(const std::string& description2, const std::string& correction) {
  return {"BL01001973", "", description2, correction, "invalid_value", {}};
}

Record to_record(const std::string& object, const Fields& f) {
  Record r;
  r.object = object;
  const auto it = f.find("RECORDNO");
  r.recordno = it == f.end() ? 0 : parse_int(it->second).value_or(0);
  r.fields = f;
  return r;
}

}  // namespace isync::sandbox::detail

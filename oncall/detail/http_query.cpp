// The list's query and the filter checks (oncall/http.hpp).
#include <algorithm>
#include <charconv>

#include "oncall/detail/http_checks.hpp"

namespace isync::oncall {

namespace detail {

namespace {

constexpr std::size_t kMaxCursorLength = 1024;
constexpr std::size_t kMaxErrorLength = 64;

bool valid_state(std::string_view s) {
  return std::find(std::begin(queue::kEventStates), std::end(queue::kEventStates), s) !=
         std::end(queue::kEventStates);
}

bool valid_object(std::string_view s) {
  return s == "CUSTOMER" || s == "ARINVOICE" || s == "ARPYMT";
}

// Percent-decoding of one query component ('+' is a space); false when an
// escape is broken.
bool decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= in.size()) return false;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

// Each name=value of `query`, decoded; refuses broken escapes and a name
// given twice.
Result<std::vector<std::pair<std::string, std::string>>> split_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string name, value;
    if (!decode(part.substr(0, eq), name) ||
        !decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1), value)) {
      return invalid("query parameter " + quoted(part.substr(0, eq)) +
                     " is not correctly percent-encoded");
    }
    for (const auto& [n, v] : out) {
      if (n == name) return invalid("query parameter " + quoted(name) + " is given twice");
    }
    if (out.size() >= 16) return invalid("the query has more than 16 parameters");
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

}  // namespace

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

bool configured(const std::vector<std::string>& tenants, std::string_view t) {
  return std::find(tenants.begin(), tenants.end(), t) != tenants.end();
}

Error unknown_tenant(std::string_view field, std::string_view t) {
  return invalid("\"" + std::string(field) + "\": no tenant " + quoted(t) + " is configured");
}

Result<void> set_filter_field(ListQuery& q, std::string_view prefix, std::string_view name,
                              std::string_view value, const std::vector<std::string>& tenants) {
  const std::string field = std::string(prefix) + std::string(name);
  const std::string named = "\"" + field + "\"";
  if (name == "tenant") {
    if (!value.empty() && !configured(tenants, value)) return unknown_tenant(field, value);
    q.tenant = std::string(value);
  } else if (name == "state") {
    if (!value.empty() && !valid_state(value)) {
      return invalid(named + " must be one of pending, retrying, parked, dead, done, discarded");
    }
    q.filter.state = std::string(value);
  } else if (name == "object") {
    if (!value.empty() && !valid_object(value)) {
      return invalid(named + " must be CUSTOMER, ARINVOICE or ARPYMT");
    }
    q.filter.object = std::string(value);
  } else if (name == "key") {
    if (value.size() > kMaxKeyLength || !printable(value)) {
      return invalid(named + " must be a record key of at most " + std::to_string(kMaxKeyLength) +
                     " bytes, without control characters");
    }
    q.filter.key = std::string(value);
  } else if (name == "error") {
    bool ok =
        value.size() <= kMaxErrorLength && std::all_of(value.begin(), value.end(), [](char c) {
          return detail::is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 c == '_' || c == '-' || c == '.';
        });
    if (!ok) {
      return invalid(named +
                     " must be an error code or an Intacct errorno (at most 64 of A-Z a-z 0-9 _ "
                     ". -)");
    }
    q.filter.error = std::string(value);
  } else if (name == "since" || name == "until") {
    std::int64_t ms = 0;
    if (!value.empty()) {
      auto t = parse_time(value, field);
      if (!t) return t.error();
      ms = *t;
    }
    (name == "since" ? q.filter.since_ms : q.filter.until_ms) = ms;
  } else if (name == "limit") {
    if (value.empty()) {
      q.limit = kDefaultListLimit;
      return {};
    }
    int n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc{} || ptr != value.data() + value.size() || !is_digit(value.front()) ||
        n < 1 || n > queue::kMaxListLimit) {
      return invalid(named + " must be a whole number from 1 to " +
                     std::to_string(queue::kMaxListLimit));
    }
    q.limit = n;
  } else if (name == "cursor") {
    if (value.size() > kMaxCursorLength || !printable(value)) {
      return invalid(named + " is not a cursor of this list; start again without it");
    }
    q.cursor = std::string(value);
  } else {
    return invalid("unknown query parameter " + quoted(name) +
                   "; the list takes tenant, state, object, key, error, since, until, limit and "
                   "cursor");
  }
  return {};
}

Result<void> check_filter(const ListQuery& q, std::string_view prefix) {
  const std::string p(prefix);
  if (!q.filter.key.empty() && q.filter.object.empty()) {
    return invalid("\"" + p + "key\" needs \"" + p +
                   "object\" (a record key is unique within its object only)");
  }
  if (q.filter.since_ms != 0 && q.filter.until_ms != 0 && q.filter.since_ms > q.filter.until_ms) {
    return invalid("\"" + p + "since\" is after \"" + p + "until\"");
  }
  return {};
}

}  // namespace detail

using detail::invalid;
using detail::quoted;

bool plausible_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdLength && std::all_of(id.begin(), id.end(), [](char c) {
    return detail::is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '-' || c == '.' || c == ':';
  });
}

Result<void> set_list_field(ListQuery& q, std::string_view name, std::string_view value,
                            const std::vector<std::string>& tenants) {
  return detail::set_filter_field(q, "", name, value, tenants);
}

Result<void> check_list_query(const ListQuery& q) { return detail::check_filter(q, ""); }

Result<ListQuery> parse_list_query(std::string_view query,
                                   const std::vector<std::string>& tenants) {
  auto params = detail::split_query(query);
  if (!params) return params.error();
  ListQuery q;
  for (const auto& [name, value] : *params) {
    if (auto r = detail::set_filter_field(q, "", name, value, tenants); !r) return r.error();
  }
  if (auto r = check_list_query(q); !r) return r.error();
  return q;
}

Result<std::string> parse_tenant_query(std::string_view query,
                                       const std::vector<std::string>& tenants) {
  auto params = detail::split_query(query);
  if (!params) return params.error();
  std::string tenant;
  for (const auto& [name, value] : *params) {
    if (name != "tenant") {
      return invalid("unknown query parameter " + quoted(name) + "; this route takes tenant only");
    }
    if (!value.empty() && !detail::configured(tenants, value)) {
      return detail::unknown_tenant("tenant", value);
    }
    tenant = value;
  }
  return Result<std::string>(boost::system::in_place_value, std::move(tenant));
}

}  // namespace isync::oncall

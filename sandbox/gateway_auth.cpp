// The gateway's authentication level (PROTOCOL.md §2): a login (user,
// company, password, entity) or a session id with its sliding timeout.
#include "sandbox/detail/gateway.hpp"

namespace isync::sandbox::detail {

std::optional<std::string> authenticate(CompanyState& s, const pugi::xml_node& auth,
                                        std::int64_t now, pugi::xml_node operation) {
  const auto& creds = s.options.credentials;
  const auto duration_ms = std::int64_t{s.options.session_duration.count()} * 1000;
  std::string location;
  std::int64_t expires = now + duration_ms;
  std::optional<Failure> bad;
  std::string userid = creds.user_id, companyid = creds.company_id;
  if (const auto login = auth.child("login")) {
    userid = text_of(login.child("userid"));
    companyid = text_of(login.child("companyid"));
    location = text_of(login.child("locationid"));
    if (userid != creds.user_id || companyid != creds.company_id ||
        !constant_time_equal(text_of(login.child("password")), creds.user_password)) {
      bad = Failure{"XL03000006", "", "Sign-in information is incorrect", "", "", {}};
    }
  } else {
    const auto it = s.sessions.find(text_of(auth.child("sessionid")));
    if (it == s.sessions.end() || it->second.expires_ms <= now) {
      // JF testfiles/sessionInvalid.xml: XL03000006 "Invalid session".
      bad = Failure{"XL03000006", "", "Invalid session", "", "", {}};
      userid.clear();
      companyid.clear();
    } else {
      it->second.expires_ms = expires;  // sliding timeout
      location = it->second.location_id;
    }
  }
  auto block = operation.append_child("authentication");
  if (bad) {
    add_text(block, "status", "failure");
    if (!userid.empty() || !companyid.empty()) {
      add_text(block, "userid", userid);
      add_text(block, "companyid", companyid);
    }
    add_errors(operation, *bad);
    return std::nullopt;
  }
  add_text(block, "status", "success");
  add_text(block, "userid", userid);
  add_text(block, "companyid", companyid);
  add_text(block, "locationid", location);
  add_text(block, "sessiontimestamp", format_iso(now));
  add_text(block, "sessiontimeout", format_iso(expires));
  return location;
}

}  // namespace isync::sandbox::detail

// Test support: compares a tenant's mirror in Redis with the sandbox
// company's records over reconciliation's scope (PRODUCT.md §4), naming every
// difference, so a test can assert "the mirror equals Intacct" record for
// record.
//
// The mirror side: hashes isync:{t}:rec:<OBJECT>:<recordno> (layout in
// handlers/detail/mirror_lua.hpp): `v` the version (WHENMODIFIED as UTC epoch
// seconds), `f` the fields as one JSON object; `del`="1" (tombstone) and
// `draft`="1" (hidden draft marker) are not live. Found with SCAN, so meant
// for test-sized data.
//
// The sandbox side: records as Company::list or the control API's
// GET /v1/records/{OBJECT} gives them. A Draft invoice is not live (the
// mirror hides drafts).
//
// Scope (`since` in epoch seconds): CUSTOMER whole; ARINVOICE with
// WHENMODIFIED ≥ since OR TOTALDUE ≠ 0; ARPYMT with WHENMODIFIED ≥ since. A
// record is compared when it is in scope on either side (the mirror's own
// version, 0 included, and its mirrored TOTALDUE decide there, as for
// reconcile's gone candidates); all others are ignored on both sides.
//
// Differences, one line each, sorted by object then RECORDNO:
//   "ARINVOICE 12: live in the sandbox, missing from the mirror (tombstone)"
//   "ARINVOICE 12: live in the mirror, not in the sandbox"
//   "ARINVOICE 12: live in the mirror, a Draft in the sandbox"
//   "ARINVOICE 12: version: mirror 1767614400 (01/05/2026 12:00:00), sandbox
//    1767614401 (01/05/2026 12:00:01)"
//   "ARINVOICE 12: TOTALDUE: mirror \"10.00\", sandbox \"0.00\""
// Fields are compared only when both sides have them, as exact text, except
// an invoice's CUSTOMERNAME: joined from the customer, it follows a rename
// without a new WHENMODIFIED, so the mirror holds it as of the invoice's last
// change.
//
// Errors: Error "redis_io" when Redis cannot be read, "bad_mirror" when a
// record hash does not have the layout above (named in the message).
// Blocking: never call on an io thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"
#include "redis/redis.hpp"
#include "sandbox/sandbox.hpp"

namespace isync::testing {

// Every CUSTOMER, ARINVOICE and ARPYMT record of `company`, paged through
// Company::list.
std::vector<sandbox::Record> company_records(const sandbox::Company& company);

// The records of one control API list answer ({"records":[record…]}).
Result<std::vector<sandbox::Record>> parse_records_page(std::string_view json);

// The differences between the mirror of `tenant` and `records` over the
// scope fixed by `since`; empty when they are equal.
Result<std::vector<std::string>> mirror_differences(redis::SyncConnection& redis,
                                                    std::string_view tenant,
                                                    const std::vector<sandbox::Record>& records,
                                                    std::int64_t since);

}  // namespace isync::testing

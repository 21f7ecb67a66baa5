// The body of POST /v1/admin/reconcile, parsed and checked. Pure (no I/O),
// so the fuzz target fuzz/reconcile_request drives it directly.
#pragma once

#include <string>
#include <string_view>

#include "core/core.hpp"
#include "ingest/ingest.hpp"

namespace isync::ingest::detail {

// {"tenant":"t","objects":["customers","invoices","payments"],"dry_run":false,
//  "allow_mass_delete":false}: strict JSON (core/json.hpp kStrict: valid
// UTF-8, no duplicate keys). `tenant` is required; `objects` is optional (all)
// and comes back as Intacct object names in run order (CUSTOMER, ARINVOICE,
// ARPYMT), a name given twice counted once; the flags default to false.
// Errors: Error{"malformed_body", <json's message>} for text that is not
// JSON, and Error{"invalid_field", …} with one of these messages:
//   the body must be a JSON object
//   unknown member "<name>"; the body takes tenant, objects, dry_run and allow_mass_delete
//   "tenant" is required
//   "tenant" must be a string
//   "tenant" must be a tenant id ([a-z0-9_-]{1,64})
//   "objects" must be an array of "customers", "invoices" and "payments"
//   "objects" is empty; leave it out to reconcile every object
//   "objects" holds "<name>"; expected "customers", "invoices" or "payments"
//   "dry_run" must be true or false
//   "allow_mass_delete" must be true or false
// Quoted names are cut to 64 bytes (core shorten()).
Result<ReconcileRequest> parse_reconcile_request(std::string_view body);

// "customers" → "CUSTOMER", "invoices" → "ARINVOICE", "payments" →
// "ARPYMT"; "" for anything else.
std::string_view reconcile_object_of(std::string_view name);

// The request as a JSON body that parse_reconcile_request reads back equal
// (objects by their API names).
std::string reconcile_request_json(const ReconcileRequest& request);

}  // namespace isync::ingest::detail

// Helpers shared by the write operations (company_ops.cpp,
// company_payments.cpp). Internal; callers hold Company's mutex.
#pragma once

#include <string>

#include "sandbox/detail/model.hpp"

namespace isync::sandbox::detail {

// Now for a write's stamps, in epoch seconds: the clock plus
// Options::write_clock_offset.
std::int64_t write_time(const WriteContext& ctx);
std::string stamp(const WriteContext& ctx);                      // write_time as WHENMODIFIED text
std::string value_of(const Fields& f, const std::string& key);   // "" when absent
std::int64_t cents_of(const Fields& f, const std::string& key);  // 0 when absent or bad
// Reports a change (no-op while seeding). `after` is ignored for delete.
void emit(WriteContext& ctx, const std::string& object, const std::string& action,
          std::int64_t recordno, const Fields& after);
// The next RECORDNO of `object` (a reserved one first, for landings).
std::int64_t next_recordno(WriteContext& ctx, const std::string& object);
// Recomputes the customer's TOTALDUE (posted invoices); a change is a `set`.
void refresh_customer_due(WriteContext& ctx, const std::string& customer_id);
// An invoice's TOTALDUE/STATE/WHENPAID after its TOTALPAID became `paid`.
void settle_invoice(Fields& inv, std::int64_t paid, const std::string& paid_on);

// ARPYMT (company_payments.cpp). `f` is already checked against the schema.
std::optional<Failure> create_payment(WriteContext& ctx, Fields f, Fields& out);
std::optional<Failure> update_payment(Fields& rec, const Fields& f);
// Undoes a deleted payment's applications to its invoices (none for a
// payment already reversed).
void reverse_payment(WriteContext& ctx, const Fields& gone);
// reverse_arpayment: payment `recordno` becomes STATE Reversed with
// REVERSEDDATE `reversed_on` (MM/DD/YYYY); its invoices get their amounts
// back. Fails (BL01001973) when there is no such payment or it is reversed.
std::optional<Failure> reverse_payment_record(WriteContext& ctx, std::int64_t recordno,
                                              const std::string& reversed_on);
// The failure shape of reverse_arpayment (BL01001973, "Could not reverse AR
// payment record!", the specific text in description2).
Failure reversal_failure(const std::string& description2, const std::string& correction,
                         const std::string& code = "invalid_value");

}  // namespace isync::sandbox::detail

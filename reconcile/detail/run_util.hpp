// Small helpers shared by the run's files. Internal to reconcile/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "intacct/client.hpp"

namespace isync::reconcile::detail {

inline constexpr int kPageSize = 2000;
inline constexpr std::size_t kReadBatch = 100;
inline constexpr int kIndexBatch = 5000;

// Intacct's query dates: MM/DD/YYYY HH:MM:SS, UTC (the scope keeps a day of
// margin for the zone Intacct really uses).
std::string intacct_time(std::int64_t epoch_s);
// Two amounts as Intacct writes them ("12.50", "12.5") are equal.
bool same_amount(const std::string& a, const std::string& b);
bool nonzero_amount(const std::string& a);
// A non-negative decimal of at most 18 digits.
std::optional<std::int64_t> to_int(const std::string& s);
// The first function result's data, or nullptr.
const intacct::Data* first_data(const intacct::CallOutcome& outcome);

}  // namespace isync::reconcile::detail

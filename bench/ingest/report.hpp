// bench-ingest's report: the figures of each run by name, and the table of
// medians with min and max over the runs, every ratio of the targets with
// PASS or MISS next to it (none in a smoke run).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace isync::bench::ingest {

// One run's figures, e.g. "events.peak" -> 12000. Absent = not measured.
using Figures = std::map<std::string, double>;

// Adds the ratios (keys "ratio.*") computed from a run's figures.
void add_ratios(Figures& f);

// Prints the table. `smoke`: no PASS/MISS.
void print_report(const std::vector<Figures>& runs, bool smoke);

}  // namespace isync::bench::ingest

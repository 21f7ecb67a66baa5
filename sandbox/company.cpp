// Temporary stubs so the server can build against the header.
#include "sandbox/sandbox.hpp"

namespace isync::sandbox {

struct Company::State {
  Options options;
  Clock* clock;
};

Company::Company(Options options, Clock& clock)
    : state_(std::make_unique<State>(State{std::move(options), &clock})) {}
Company::~Company() = default;
Reply Company::handle_gateway(std::string_view, std::string_view) {
  return Reply{503, "text/plain", "not ready", {}};
}
int Company::run_due() { return 0; }
Result<Record> Company::add(const std::string&, const std::map<std::string, std::string>&) {
  return make_error("unknown_object", "not implemented");
}
Result<Record> Company::set(const std::string&, std::int64_t,
                            const std::map<std::string, std::string>&) {
  return make_error("unknown_object", "not implemented");
}
Result<void> Company::remove(const std::string&, std::int64_t) {
  return make_error("unknown_object", "not implemented");
}
std::optional<Record> Company::get(const std::string&, std::int64_t) const { return std::nullopt; }
std::vector<Record> Company::list(const std::string&, std::int64_t, std::size_t) const {
  return {};
}
std::size_t Company::count(const std::string&) const { return 0; }
void Company::seed_demo(int, int, std::uint64_t) {}
void Company::set_faults(const Faults&) {}
Faults Company::faults() const { return {}; }
void Company::expire_sessions() {}
bool Company::take_event_drop() { return false; }
void Company::on_change(std::function<void(const Change&)>) {}
Stats Company::stats() const { return {}; }
std::string Company::snapshot_json() const { return "{}"; }
Result<void> Company::load_snapshot_json(std::string_view) { return {}; }

}  // namespace isync::sandbox

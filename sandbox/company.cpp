// Company: the control API, seeding, faults, stats and listeners. The
// gateway is in gateway*.cpp, the snapshot in company_snapshot.cpp.
#include <algorithm>
#include <cstdio>

#include "sandbox/detail/ops.hpp"
#include "sandbox/detail/state.hpp"

namespace isync::sandbox {
namespace detail {

std::string CompanyState::random_token(std::size_t length) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out(length, ' ');
  for (auto& c : out) c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
  return out;
}

void CompanyState::remember_executed(const std::string& controlid, std::int64_t now) {
  if (executed.insert_or_assign(controlid, now).second) executed_order.emplace_back(controlid, now);
  while (
      executed_order.size() > kMaxExecutedControlIds ||
      (!executed_order.empty() && executed_order.front().second + kExecutedControlIdTtlMs <= now)) {
    const auto it = executed.find(executed_order.front().first);
    if (it != executed.end() && it->second == executed_order.front().second) executed.erase(it);
    executed_order.pop_front();
  }
}

bool CompanyState::was_executed(const std::string& controlid, std::int64_t now) {
  const auto it = executed.find(controlid);
  return it != executed.end() && it->second + kExecutedControlIdTtlMs > now;
}

}  // namespace detail

namespace {

Error to_error(const detail::Failure& f) {
  std::string message = f.description2.empty() ? f.description : f.description2;
  if (!f.correction.empty()) message += " " + f.correction;
  return make_error(f.code.empty() ? "invalid_value" : f.code, message);
}

void notify(const std::vector<std::function<void(const Change&)>>& listeners,
            const std::vector<Change>& changes) {
  for (const auto& change : changes) {
    for (const auto& l : listeners) l(change);
  }
}

}  // namespace

Company::Company(Options options, Clock& clock)
    : state_(std::make_unique<detail::CompanyState>(std::move(options), clock)) {
  for (const char* object : {"CUSTOMER", "ARINVOICE", "ARPYMT"}) {
    state_->data.table(object);
    state_->data.next_recordno[object] = 1;
  }
}

Company::~Company() = default;

Result<Record> Company::add(const std::string& object,
                            const std::map<std::string, std::string>& fields, WriteOptions how) {
  std::vector<Change> changes;
  std::vector<std::function<void(const Change&)>> listeners;
  Record record;
  {
    std::lock_guard lock(state_->mu);
    auto& s = *state_;
    const auto* def = detail::find_object(detail::to_upper(object));
    if (def == nullptr) return to_error(detail::unknown_object(object));
    detail::WriteContext ctx{s.data, s.options, s.now_ms(), &changes, nullptr, nullptr, nullptr};
    detail::Fields out;
    if (auto bad = detail::create_record(ctx, *def, fields, out)) return to_error(*bad);
    record = detail::to_record(def->name, out);
    if (!how.silent) listeners = s.listeners;
  }
  notify(listeners, changes);
  return record;
}

Result<Record> Company::set(const std::string& object, std::int64_t recordno,
                            const std::map<std::string, std::string>& fields, WriteOptions how) {
  std::vector<Change> changes;
  std::vector<std::function<void(const Change&)>> listeners;
  Record record;
  {
    std::lock_guard lock(state_->mu);
    auto& s = *state_;
    const auto* def = detail::find_object(detail::to_upper(object));
    if (def == nullptr) return to_error(detail::unknown_object(object));
    auto in = fields;
    in["RECORDNO"] = std::to_string(recordno);
    detail::WriteContext ctx{s.data, s.options, s.now_ms(), &changes, nullptr, nullptr, nullptr};
    detail::Fields out;
    if (auto bad = detail::update_record(ctx, *def, in, out)) return to_error(*bad);
    record = detail::to_record(def->name, out);
    if (!how.silent) listeners = s.listeners;
  }
  notify(listeners, changes);
  return record;
}

Result<void> Company::remove(const std::string& object, std::int64_t recordno, WriteOptions how) {
  std::vector<Change> changes;
  std::vector<std::function<void(const Change&)>> listeners;
  {
    std::lock_guard lock(state_->mu);
    auto& s = *state_;
    const auto* def = detail::find_object(detail::to_upper(object));
    if (def == nullptr) return to_error(detail::unknown_object(object));
    detail::WriteContext ctx{s.data, s.options, s.now_ms(), &changes, nullptr, nullptr, nullptr};
    if (auto bad = detail::delete_record(ctx, *def, recordno)) return to_error(*bad);
    if (!how.silent) listeners = s.listeners;
  }
  notify(listeners, changes);
  return {};
}

std::optional<Record> Company::get(const std::string& object, std::int64_t recordno) const {
  std::lock_guard lock(state_->mu);
  const auto name = detail::to_upper(object);
  const auto f = state_->data.get(name, recordno);
  if (!f) return std::nullopt;
  return detail::to_record(name, *f);
}

std::vector<Record> Company::list(const std::string& object, std::int64_t after_recordno,
                                  std::size_t limit) const {
  std::lock_guard lock(state_->mu);
  std::vector<Record> out;
  const auto name = detail::to_upper(object);
  const auto* t = state_->data.find_table(name);
  if (t == nullptr || t->def == nullptr) return out;
  for (auto it = t->rows.upper_bound(after_recordno); it != t->rows.end() && out.size() < limit;
       ++it) {
    out.push_back(detail::to_record(name, detail::unpack(*t->def, it->second)));
  }
  return out;
}

std::size_t Company::count(const std::string& object) const {
  std::lock_guard lock(state_->mu);
  const auto* t = state_->data.find_table(detail::to_upper(object));
  return t == nullptr ? 0 : t->rows.size();
}

void Company::seed_demo(int customers, int invoices, std::uint64_t seed) {
  std::lock_guard lock(state_->mu);
  auto& s = *state_;
  std::mt19937_64 rng(seed);
  const auto pick = [&](std::uint64_t n) { return n == 0 ? std::uint64_t{0} : rng() % n; };
  static const char* const kFirst[] = {"Acme",    "Globex", "Initech",   "Umbrella",
                                       "Stark",   "Wayne",  "Hooli",     "Vandelay",
                                       "Soylent", "Tyrell", "Cyberdyne", "Wonka"};
  static const char* const kSecond[] = {"Widgets",  "Logistics", "Foods",    "Software",
                                        "Textiles", "Labs",      "Holdings", "Outfitters",
                                        "Energy",   "Media"};
  static const char* const kMethods[] = {"Printed Check", "Cash", "EFT", "Credit Card"};
  const auto now = s.now_ms();
  const auto grow = [](auto& index, int more) {
    index.reserve(index.size() + static_cast<std::size_t>(std::max(0, more)));
  };
  grow(s.data.customer_by_id, customers);
  grow(s.data.invoices_by_customer, customers);
  grow(s.data.invoice_by_number, invoices);
  std::set<std::string> deferred_due;
  detail::WriteContext ctx{s.data, s.options, now, nullptr, nullptr, nullptr, &deferred_due};
  std::vector<std::string> ids;
  for (int i = 0; i < customers; ++i) {
    const auto no = s.data.next_recordno["CUSTOMER"];
    char id[32];
    std::snprintf(id, sizeof id, "CUST-%05lld", static_cast<long long>(no));
    const std::string name = std::string(kFirst[pick(std::size(kFirst))]) + " " +
                             kSecond[pick(std::size(kSecond))] + " " + std::to_string(no);
    detail::Fields out;
    const detail::Fields in = {
        {"CUSTOMERID", id},
        {"NAME", name},
        {"DISPLAYCONTACT.EMAIL1", "billing@cust" + std::to_string(no) + ".example.com"},
        {"DISPLAYCONTACT.PHONE1", "+1 555 01" + std::to_string(1000 + no % 9000)}};
    if (!detail::create_record(ctx, *detail::find_object("CUSTOMER"), in, out)) ids.push_back(id);
  }
  if (ids.empty()) return;
  for (int i = 0; i < invoices; ++i) {
    const auto& customer = ids[pick(ids.size())];
    const auto total = 5000 + static_cast<std::int64_t>(pick(495001));  // 50.00 .. 5000.00
    const auto created = now / 1000 - static_cast<std::int64_t>(pick(120)) * 86400;
    const auto roll = pick(100);
    detail::Fields in = {{"CUSTOMERID", customer},
                         {"TOTALENTERED", detail::format_cents(total)},
                         {"WHENCREATED", detail::format_date(created)},
                         {"DOCNUMBER", "PO-" + std::to_string(10000 + pick(90000))}};
    if (roll < 5) in["STATE"] = "Draft";
    detail::Fields inv;
    if (detail::create_record(ctx, *detail::find_object("ARINVOICE"), in, inv)) continue;
    if (roll < 5 || roll >= 50) continue;  // drafts and open invoices
    const auto amount = roll < 35 ? total
                                  : std::max<std::int64_t>(
                                        1, total * static_cast<std::int64_t>(10 + pick(80)) / 100);
    const auto paid_on =
        std::min(now / 1000, created + static_cast<std::int64_t>(pick(30)) * 86400);
    detail::Fields pay = {
        {"CUSTOMERID", customer},
        {"PAYMENTMETHOD", kMethods[pick(std::size(kMethods))]},
        {"UNDEPOSITEDACCOUNTNO", "1010"},
        {"RECEIPTDATE", detail::format_date(paid_on)},
        {"DOCNUMBER", "SEED-" + inv["RECORDNO"]},
        {"ARPYMTDETAILS.ARPYMTDETAIL.0.RECORDKEY", inv["RECORDNO"]},
        {"ARPYMTDETAILS.ARPYMTDETAIL.0.TRX_PAYMENTAMOUNT", detail::format_cents(amount)}};
    if (s.options.payment_batch_required) pay["PRBATCH"] = "SEED";
    detail::Fields out;
    (void)detail::create_record(ctx, *detail::find_object("ARPYMT"), pay, out);
  }
  ctx.deferred_due = nullptr;
  for (const auto& customer : deferred_due) detail::refresh_customer_due(ctx, customer);
}

Settings Company::settings() const {
  std::lock_guard lock(state_->mu);
  const auto& o = state_->options;
  return {o.payment_batch_required, o.unique_payment_numbers, o.write_clock_offset};
}

void Company::set_settings(const Settings& settings) {
  std::lock_guard lock(state_->mu);
  auto& o = state_->options;
  o.payment_batch_required = settings.payment_batch_required;
  o.unique_payment_numbers = settings.unique_payment_numbers;
  o.write_clock_offset =
      std::clamp(settings.write_clock_offset, -kMaxWriteClockOffset, kMaxWriteClockOffset);
}

void Company::set_faults(const Faults& faults) {
  std::lock_guard lock(state_->mu);
  state_->faults = faults;
}

Faults Company::faults() const {
  std::lock_guard lock(state_->mu);
  return state_->faults;
}

void Company::expire_sessions() {
  std::lock_guard lock(state_->mu);
  state_->sessions.clear();
}

bool Company::take_event_drop(const Change& change) {
  std::lock_guard lock(state_->mu);
  auto& s = *state_;
  if (!s.take_fault(s.faults.drop_events, s.faults.drop_events_ratio, "drop_events", s.drop_rng)) {
    return false;
  }
  ++s.dropped.count;
  if (s.dropped.events.size() < kMaxDroppedEvents) {
    s.dropped.events.push_back(
        {change.object, change.recordno, change.action, change.whenmodified, change.at_ms});
  }
  return true;
}

DroppedEvents Company::dropped_events() const {
  std::lock_guard lock(state_->mu);
  return state_->dropped;
}

void Company::clear_dropped_events() {
  std::lock_guard lock(state_->mu);
  state_->dropped = {};
}

void Company::on_change(std::function<void(const Change&)> listener) {
  std::lock_guard lock(state_->mu);
  state_->listeners.push_back(std::move(listener));
}

Stats Company::stats() const {
  std::lock_guard lock(state_->mu);
  return state_->stats;
}

}  // namespace isync::sandbox

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <optional>
#include <random>
#include <string_view>
#include <thread>

#include "bench/common/company.hpp"
#include "bench/thin/thin_bench.hpp"

namespace isync::bench::thin {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string form_encode(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else if (c == ' ') {
      out += '+';
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", u);
      out += buf;
    }
  }
  return out;
}

// "MM/DD/YYYY HH:MM:SS" (UTC) -> epoch seconds.
std::optional<std::int64_t> parse_whenmodified(const std::string& s) {
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%d/%d/%d %d:%d:%d", &tm.tm_mon, &tm.tm_mday, &tm.tm_year, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    return std::nullopt;
  tm.tm_mon -= 1;
  tm.tm_year -= 1900;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

const char* changed_field(const std::string& object) {
  return object == "CUSTOMER" ? "NAME" : "DOCNUMBER";
}

void Driver::plan() {
  std::mt19937_64 rng(o_.seed);
  const auto redeliveries =
      static_cast<std::size_t>(static_cast<double>(o_.deliveries) * o_.redeliver + 0.5);
  const auto distinct = static_cast<std::size_t>(o_.deliveries) - redeliveries;
  changes_.resize(distinct);
  std::uniform_int_distribution<std::size_t> pick(0, targets_.size() - 1);
  for (std::size_t i = 0; i < distinct; ++i) {
    changes_[i].target = pick(rng);
    const auto& t = targets_[changes_[i].target];
    changes_[i].value = (t.object == "CUSTOMER" ? "Bench customer " : "BENCH-") +
                        std::to_string(o_.seed) + "-" + std::to_string(i + 1);
  }
  std::vector<std::size_t> order(distinct);
  for (std::size_t i = 0; i < distinct; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (std::size_t i = 0; i < std::min(redeliveries, distinct); ++i)
    changes_[order[i]].redelivered = true;
  std::shuffle(order.begin(), order.end(), rng);
  const auto late = static_cast<std::size_t>(static_cast<double>(distinct) * o_.late + 0.5);
  for (std::size_t i = 0; i < std::min(late, distinct); ++i) changes_[order[i]].late = true;
  // Delays drawn up front too, so a seed fixes the whole plan.
  late_delay_.resize(distinct);
  redelivery_delay_.resize(distinct);
  std::uniform_int_distribution<int> late_ms(500, 3000), again_ms(0, 3000);
  for (std::size_t i = 0; i < distinct; ++i) {
    late_delay_[i] = std::chrono::milliseconds(late_ms(rng));
    redelivery_delay_[i] = std::chrono::milliseconds(again_ms(rng));
  }
}

void Driver::run() {
  start_ = Steady::now();
  std::vector<std::thread> posters;
  for (int i = 0; i < o_.post_threads; ++i) posters.emplace_back([this] { post_loop(); });
  change_loop();
  {
    std::lock_guard lock(mu_);
    changes_done_ = true;
  }
  cv_.notify_all();
  for (auto& t : posters) t.join();
  elapsed_ = std::chrono::duration<double>(Steady::now() - start_).count();
  change_elapsed_ = std::chrono::duration<double>(changes_end_ - start_).count();
}

void Driver::change_loop() {
  HttpClient control(control_port_, kRequestTimeout);
  for (std::size_t i = 0; i < changes_.size(); ++i) {
    auto due = start_ + std::chrono::nanoseconds(
                            static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o_.rate));
    std::this_thread::sleep_until(due);
    auto& c = changes_[i];
    const auto& t = targets_[c.target];
    std::string fields =
        std::string("{\"fields\":{\"") + changed_field(t.object) + "\":\"" + c.value + "\"}}";
    c.t_ms = now_ms();
    auto r = control.request(http::verb::patch,
                             "/v1/records/" + t.object + "/" + std::to_string(t.recordno), fields,
                             "application/json");
    auto doc = parse_json(r.body);
    std::string wm;
    if (r.status == 200 && doc.IsObject() && doc.HasMember("fields"))
      wm = json_string(doc["fields"], "WHENMODIFIED");
    auto version = parse_whenmodified(wm);
    if (!version) {
      std::lock_guard lock(mu_);
      ++counts_.patch_errors;
      if (counts_.patch_errors <= 3)
        std::fprintf(stderr, "PATCH %s %lld answered %d: %.200s\n", t.object.c_str(),
                     static_cast<long long>(t.recordno), r.status, r.body.c_str());
      continue;
    }
    c.whenmodified = wm;
    c.version = *version;
    c.body = "object=" + t.object + "&action=set&recordno=" + std::to_string(t.recordno) +
             "&whenmodified=" + form_encode(wm);
    c.made = true;
    {
      std::lock_guard lock(mu_);
      auto when = Steady::now();
      if (c.late) {
        when += late_delay_[i];
        ++counts_.late;
      }
      tasks_.push({when, i, false});
    }
    cv_.notify_one();
  }
  changes_end_ = Steady::now();
}

void Driver::post_loop() {
  HttpClient client(public_port_, kRequestTimeout);
  const std::string target =
      std::string("/v1/intacct/") + kTenant + "/events?token=" + tenant_token_;
  std::unique_lock lock(mu_);
  while (true) {
    if (tasks_.empty()) {
      if (changes_done_ && in_flight_ == 0) break;
      cv_.wait_for(lock, 50ms);
      continue;
    }
    auto due = tasks_.top().due;
    if (Steady::now() < due) {
      cv_.wait_until(lock, due);
      continue;
    }
    Task task = tasks_.top();
    tasks_.pop();
    ++in_flight_;
    std::string body = changes_[task.change].body;
    lock.unlock();
    auto r = client.request(http::verb::post, target, body, "application/x-www-form-urlencoded");
    auto doc = parse_json(r.body);
    const bool dup = r.status == 202 && doc.IsObject() && doc.HasMember("duplicate") &&
                     doc["duplicate"].IsBool() && doc["duplicate"].GetBool();
    lock.lock();
    --in_flight_;
    ++counts_.deliveries;
    if (r.status == 202) {
      ++counts_.accepted;
    } else {
      ++counts_.errors;
      if (counts_.errors <= 3)
        std::fprintf(stderr, "POST answered %d: %.200s\n", r.status, r.body.c_str());
    }
    auto& c = changes_[task.change];
    if (task.redelivery) {
      ++counts_.redeliveries;
      if (dup) ++counts_.redelivery_duplicate;
    } else {
      c.status = r.status;
      c.duplicate = dup;
      c.event_id = json_string(doc, "event_id");
      if (dup) ++counts_.first_duplicate;
      if (c.redelivered) {
        tasks_.push({Steady::now() + redelivery_delay_[task.change], task.change, true});
        cv_.notify_one();
      }
    }
    if (tasks_.empty() && changes_done_ && in_flight_ == 0) cv_.notify_all();
  }
}

}  // namespace isync::bench::thin

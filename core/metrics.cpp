#include <algorithm>
#include <charconv>

#include "core/core.hpp"

namespace isync {

namespace {

void add_double(std::atomic<double>& target, double v) {
  double cur = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

// Shortest text that reads back as the same double ("0.00025", not
// "0.00025000000000000001"), as Prometheus clients print bucket bounds.
std::string format_double(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
}

std::string render_labels(const Labels& labels, const std::string& extra_key = {},
                          const std::string& extra_value = {}) {
  if (labels.empty() && extra_key.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out.push_back(',');
    first = false;
    out += k;
    out += "=\"";
    append_label_value(out, v);
    out += '"';
  }
  if (!extra_key.empty()) {
    if (!first) out.push_back(',');
    out += extra_key;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += "}";
  return out;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  std::sort(bounds_.begin(), bounds_.end());
}

void Histogram::observe(double v) {
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  auto idx = static_cast<std::size_t>(it - bounds_.begin());
  buckets_[idx].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  add_double(sum_, v);
}

void Histogram::snapshot(std::vector<std::uint64_t>& cumulative, std::uint64_t& count,
                         double& sum) const {
  cumulative.assign(bounds_.size(), 0);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    cumulative[i] = running;
  }
  running += buckets_[bounds_.size()].load(std::memory_order_relaxed);
  count = running;
  sum = sum_.load(std::memory_order_relaxed);
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

Metrics::Family& Metrics::family(const std::string& name, const std::string& help, Kind kind) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  }
  return it->second;
}

Counter& Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = family(name, help, Kind::counter);
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = family(name, help, Kind::gauge);
  auto& slot = f.gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Metrics::histogram(const std::string& name, const std::string& help,
                              const Labels& labels, std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  auto& f = family(name, help, Kind::histogram);
  auto& slot = f.histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

void Metrics::on_scrape(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.push_back(std::move(hook));
}

std::string Metrics::render() const {
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mu_);
    hooks = hooks_;
  }
  for (auto& h : hooks) h();

  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    static constexpr const char* kType[] = {"counter", "gauge", "histogram"};
    out += "# HELP " + name + " " + f.help + "\n";
    out += "# TYPE " + name + " " + kType[static_cast<int>(f.kind)] + "\n";
    for (const auto& [labels, c] : f.counters) {
      out += name + render_labels(labels) + " " + std::to_string(c->value()) + "\n";
    }
    for (const auto& [labels, g] : f.gauges) {
      out += name + render_labels(labels) + " " + format_double(g->value()) + "\n";
    }
    for (const auto& [labels, h] : f.histograms) {
      std::vector<std::uint64_t> cumulative;
      std::uint64_t count = 0;
      double sum = 0;
      h->snapshot(cumulative, count, sum);
      for (std::size_t i = 0; i < cumulative.size(); ++i) {
        out += name + "_bucket" + render_labels(labels, "le", format_double(h->bounds()[i])) + " " +
               std::to_string(cumulative[i]) + "\n";
      }
      out += name + "_bucket" + render_labels(labels, "le", "+Inf") + " " + std::to_string(count) +
             "\n";
      out += name + "_sum" + render_labels(labels) + " " + format_double(sum) + "\n";
      out += name + "_count" + render_labels(labels) + " " + std::to_string(count) + "\n";
    }
  }
  return out;
}

}  // namespace isync

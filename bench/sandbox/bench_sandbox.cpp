// bench-sandbox: the sandbox company at a large company's size, in process
// (no sockets: the engine's own cost). Seeds a demo company, then lists each
// object as a reconciling client does — `query` ordered by RECORDNO, 2000
// rows a page, paging by key (RECORDNO > last seen) with the WHENMODIFIED /
// TOTALDUE scope filters, and with a selective filter — and prints the
// seeding time, the RSS and the page latency (first page apart: it builds
// the filter's selection; p50/p99/max of the others).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "sandbox/sandbox.hpp"

namespace sb = isync::sandbox;
using Steady = std::chrono::steady_clock;

namespace {

// kB from /proc/self/status ("VmRSS" now, "VmHWM" the peak).
long status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(line.find(':') + 1));
  }
  return 0;
}

double ms_since(Steady::time_point t) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string request(const std::string& function) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><request><control><senderid>S</senderid>"
         "<password>sp</password><controlid>c</controlid><uniqueid>false</uniqueid><dtdversion>"
         "3.0</dtdversion></control><operation><authentication><login><userid>u</userid>"
         "<companyid>C</companyid><password>up</password></login></authentication><content>"
         "<function controlid=\"f\">" +
         function + "</function></content></operation></request>";
}

std::string gt(const std::string& field, const std::string& value, const char* op) {
  return std::string("<") + op + "><field>" + field + "</field><value>" + value + "</value></" +
         op + ">";
}

struct Listing {
  std::string name;
  std::string object;
  std::string select;  // <field>s
  // The filter with the key condition in it, given the last RECORDNO seen.
  std::string (*filter)(long long last, const std::string& since);
};

struct Figures {
  long long rows = 0;
  int pages = 0;
  double first_ms = 0, total_ms = 0;
  std::vector<double> page_ms;  // pages after the first
};

std::string attr(const std::string& body, const std::string& name) {
  const auto at = body.find(" " + name + "=\"");
  if (at == std::string::npos) return {};
  const auto from = at + name.size() + 3;
  return body.substr(from, body.find('"', from) - from);
}

Figures list(sb::Company& company, const Listing& l, const std::string& since) {
  Figures f;
  long long last = 0;
  const auto start = Steady::now();
  for (;;) {
    const auto body = request("<query><object>" + l.object + "</object><select>" + l.select +
                              "</select><filter>" + l.filter(last, since) +
                              "</filter><orderby><order><field>RECORDNO</field></order></orderby>"
                              "<options><showprivate>true</showprivate></options><pagesize>2000"
                              "</pagesize></query>");
    const auto t = Steady::now();
    const auto reply = company.handle_gateway(body, "application/xml");
    const double ms = ms_since(t);
    if (reply.status != 200 || reply.body.find("<status>success</status>") == std::string::npos) {
      std::fprintf(stderr, "query failed: %s\n", reply.body.substr(0, 2000).c_str());
      std::exit(1);
    }
    (f.pages == 0 ? f.first_ms : f.page_ms.emplace_back()) = ms;
    ++f.pages;
    f.rows += std::stoll(attr(reply.body, "count"));
    const auto at = reply.body.rfind("<RECORDNO>");
    if (at == std::string::npos || attr(reply.body, "numremaining") == "0") break;
    last = std::stoll(reply.body.substr(at + 10));
  }
  f.total_ms = ms_since(start);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-sandbox: the sandbox's seeding, memory and query pages at scale"};
  int customers = 100000, invoices = 900000;
  std::uint64_t seed = 1;
  bool smoke = false;
  app.add_option("--customers", customers, "demo customers")->check(CLI::Range(1, 5000000));
  app.add_option("--invoices", invoices, "demo invoices")->check(CLI::Range(0, 10000000));
  app.add_option("--seed", seed, "demo company seed");
  app.add_flag("--smoke", smoke, "1,000 customers and 9,000 invoices");
  CLI11_PARSE(app, argc, argv);
  if (smoke) customers = 1000, invoices = 9000;

  sb::Options o;
  o.credentials = {"S", "sp", "C", "u", "up"};
  o.endpoint_url = "http://127.0.0.1/ia/xml/xmlgw.phtml";
  isync::SystemClock clock;
  sb::Company company(o, clock);
  const long rss_before = status_kb("VmRSS");
  auto t = Steady::now();
  company.seed_demo(customers, invoices, seed);
  const double seed_s = ms_since(t) / 1000;
  const long rss_seeded = status_kb("VmRSS");
  const auto n_c = company.count("CUSTOMER"), n_i = company.count("ARINVOICE"),
             n_p = company.count("ARPYMT");
  std::printf("bench-sandbox: %zu customers + %zu invoices = %zu records (+ %zu payments)\n", n_c,
              n_i, n_c + n_i, n_p);
  std::printf("seeding          %.1f s\n", seed_s);
  std::printf(
      "RSS after seed   %.0f MiB (%.0f bytes a record, payments included)\n",
      static_cast<double>(rss_seeded) / 1024,
      static_cast<double>(rss_seeded - rss_before) * 1024 / static_cast<double>(n_c + n_i + n_p));

  // Six months and a day before now, as a first reconcile's scope.
  const std::time_t since_t = std::time(nullptr) - 184 * 86400;
  std::tm tm{};
  gmtime_r(&since_t, &tm);
  char since[32];
  std::strftime(since, sizeof since, "%m/%d/%Y %H:%M:%S", &tm);

  const std::vector<Listing> listings = {
      {"CUSTOMER  RECORDNO > last", "CUSTOMER",
       "<field>RECORDNO</field><field>WHENMODIFIED</field>",
       [](long long last, const std::string&) {
         return gt("RECORDNO", std::to_string(last), "greaterthan");
       }},
      {"ARINVOICE RECORDNO > last AND (WHENMODIFIED >= since OR TOTALDUE != 0)", "ARINVOICE",
       "<field>RECORDNO</field><field>WHENMODIFIED</field><field>STATE</field><field>TOTALDUE"
       "</field>",
       [](long long last, const std::string& s) {
         return "<and>" + gt("RECORDNO", std::to_string(last), "greaterthan") + "<or>" +
                gt("WHENMODIFIED", s, "greaterthanorequalto") + gt("TOTALDUE", "0", "notequalto") +
                "</or></and>";
       }},
      {"ARPYMT    RECORDNO > last AND WHENMODIFIED >= since", "ARPYMT",
       "<field>RECORDNO</field><field>WHENMODIFIED</field>",
       [](long long last, const std::string& s) {
         return "<and>" + gt("RECORDNO", std::to_string(last), "greaterthan") +
                gt("WHENMODIFIED", s, "greaterthanorequalto") + "</and>";
       }},
      {"ARINVOICE RECORDNO > last AND STATE = 'Draft' (selective)", "ARINVOICE",
       "<field>RECORDNO</field><field>WHENMODIFIED</field>",
       [](long long last, const std::string&) {
         return "<and>" + gt("RECORDNO", std::to_string(last), "greaterthan") +
                gt("STATE", "Draft", "equalto") + "</and>";
       }},
  };
  std::vector<double> all;
  for (const auto& l : listings) {
    const auto f = list(company, l, since);
    all.insert(all.end(), f.page_ms.begin(), f.page_ms.end());
    std::printf(
        "%s\n  %lld rows, %d pages in %.2f s (%.0f rows/s); first page %.1f ms; other pages "
        "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
        l.name.c_str(), f.rows, f.pages, f.total_ms / 1000,
        static_cast<double>(f.rows) / (f.total_ms / 1000), f.first_ms, percentile(f.page_ms, 0.5),
        percentile(f.page_ms, 0.99),
        f.page_ms.empty() ? 0 : *std::max_element(f.page_ms.begin(), f.page_ms.end()));
  }
  std::printf(
      "all pages after the first: p50 %.2f ms, p99 %.2f ms (%zu pages of up to 2000 rows)\n",
      percentile(all, 0.5), percentile(all, 0.99), all.size());
  std::printf("peak RSS         %.0f MiB\n", static_cast<double>(status_kb("VmHWM")) / 1024);
  std::printf("reproduce: ./bench/sandbox/run.sh --customers %d --invoices %d --seed %llu\n",
              customers, invoices, static_cast<unsigned long long>(seed));
  return 0;
}

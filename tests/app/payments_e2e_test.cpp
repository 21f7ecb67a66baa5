// Exactly-once payments under stress, with real processes: one redis-server,
// one intacct-sandbox with random faults, and three intacct-sync processes
// sharing the Redis, of which one is killed (SIGKILL) and restarted every two
// seconds while Stripe webhooks arrive. Every payment must end as exactly one
// ARPYMT with the planned amount on the planned invoice.
#include <doctest/doctest.h>

#include "tests/app/payments_e2e_rig.hpp"

using namespace isync::testing::payments_e2e;

TEST_CASE(
    "1,000 Stripe payments through three killed-and-restarted services and a faulty Intacct "
    "become exactly 1,000 ARPYMTs") {
  const auto t0 = Clock::now();
  RedisServer redis;
  Rig rig(redis);
  rig.start_sandbox();
  rig.write_configs();
  for (int i = 0; i < kServices; ++i) {
    if (!rig.start_service(i)) FAIL("service " << i << " did not come up:\n" << rig.logs({""}));
  }

  // ---- the invoices with an open balance, and the plan ----
  std::vector<Invoice> invoices;
  for (const auto& rec : rig.records("ARINVOICE")) {
    const auto& f = rec["fields"];
    const auto due = cents(str_of(f, "TOTALDUE"));
    if (str_of(f, "STATE") == "Draft" || due < 200) continue;
    const std::string currency = str_of(f, "CURRENCY");
    if (!currency.empty() && currency != "USD") continue;
    invoices.push_back({rec["recordno"].GetInt64(), str_of(f, "RECORDID"), due});
  }
  REQUIRE(invoices.size() >= 300);
  const std::int64_t arpymt_before = static_cast<std::int64_t>(rig.records("ARPYMT").size());

  std::mt19937_64 rng(20261122);
  std::vector<std::int64_t> left;
  for (const auto& inv : invoices) left.push_back(inv.due);
  std::vector<Payment> plan;
  for (int n = 0; n < kPayments; ++n) {
    Payment p;
    p.n = n;
    p.pi = "pi_e2e_" + std::to_string(n);
    p.ch = "ch_e2e_" + std::to_string(n);
    // An invoice with room for at least 1.00, at random.
    std::size_t i = 0;
    for (int tries = 0;; ++tries) {
      REQUIRE(tries < 100000);
      i = static_cast<std::size_t>(rng() % invoices.size());
      if (left[i] >= 100) break;
    }
    const std::int64_t third = std::max<std::int64_t>(1, left[i] / 3);
    p.amount = std::min<std::int64_t>(
        left[i], 50 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(third)));
    left[i] -= p.amount;
    p.invoice = i;
    p.reference = n % 10 == 3 || invoices[i].recordid.empty() ? std::to_string(invoices[i].recordno)
                                                              : invoices[i].recordid;
    p.charge_event = rng() % 100 < 30;
    plan.push_back(std::move(p));
  }
  std::map<std::size_t, int> per_invoice;
  for (const auto& p : plan) ++per_invoice[p.invoice];
  int invoices_with_several = 0;
  for (const auto& [i, count] : per_invoice) invoices_with_several += count > 1 ? 1 : 0;
  const Payment& refunded = plan[static_cast<std::size_t>(kPayments / 2)];

  // ---- the deliveries ----
  const std::int64_t now_s = static_cast<std::int64_t>(std::time(nullptr));
  std::vector<Delivery> deliveries;
  int both_types = 0;
  for (const auto& p : plan) {
    deliveries.push_back({"evt_pi_" + std::to_string(p.n), pi_event(p, now_s)});
    if (p.charge_event) {
      ++both_types;
      const std::string id = "evt_ch_" + std::to_string(p.n);
      deliveries.push_back({id, charge_event(p, now_s, id, "charge.succeeded", -1)});
    }
  }
  const std::size_t first_sends = deliveries.size();
  for (std::size_t i = 0; i < first_sends; ++i) {
    if (rng() % 100 < 20) deliveries.push_back(deliveries[i]);
  }
  const std::size_t redeliveries = deliveries.size() - first_sends;
  std::shuffle(deliveries.begin(), deliveries.end(), rng);

  // ---- faults ----
  auto faults = rig.control(http::verb::put, "/v1/faults",
                            R"({"server_error_ratio":0.03,"timeout_after_write_ratio":0.03,)"
                            R"("land_later_ratio":0.03,"land_delay_ms":2000})");
  REQUIRE_MESSAGE(faults.status == 200, faults.body);

  // ---- send, while one service is killed every 2 s ----
  std::atomic<std::size_t> next{0};
  std::atomic<int> duplicates{0}, connection_retries{0};
  std::mutex bad_mu;
  std::vector<std::string> bad_answers;
  const auto send_start = Clock::now();
  const auto spacing = std::chrono::duration_cast<std::chrono::microseconds>(kSendSpread) /
                       static_cast<std::int64_t>(deliveries.size());
  // As behind a load balancer with a readiness probe: a process gets
  // webhooks from its /readyz 200 until the moment it is killed.
  std::array<std::atomic<bool>, kServices> ready;
  for (auto& r : ready) r = true;
  auto deliver = [&](const std::string& body, std::size_t turn) {
    for (int attempt = 0; attempt < 600; ++attempt) {
      const auto to = (turn + static_cast<std::size_t>(attempt)) % kServices;
      if (!ready[to]) continue;
      auto r = post_stripe(rig.public_ports[to], body);
      if (r.status == 0) {
        ++connection_retries;
        std::this_thread::sleep_for(50ms);
        continue;
      }
      if (r.status != 202) {
        std::lock_guard lock(bad_mu);
        bad_answers.push_back(std::to_string(r.status) + " " + r.body);
      } else if (r.body.find("\"duplicate\":true") != std::string::npos) {
        ++duplicates;
      }
      return;
    }
    std::lock_guard lock(bad_mu);
    bad_answers.push_back("no answer from any service for 30 s");
  };
  std::atomic<bool> sending_done{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      for (std::size_t i = next++; i < deliveries.size(); i = next++) {
        std::this_thread::sleep_until(send_start + spacing * static_cast<std::int64_t>(i));
        deliver(deliveries[i].body, i);
      }
    });
  }

  std::atomic<int> kills{0};
  std::vector<std::int64_t> unsettled_at_kill;
  std::vector<std::int64_t> readbacks_before_kill;
  std::string restart_failures;
  std::thread chaos([&] {
    auto at = Clock::now();
    while ((kills < kMinKills || !sending_done) && kills < kMaxKills) {
      at += kKillEvery;
      std::this_thread::sleep_until(at);
      const int victim = kills % kServices;
      // Counters die with the process: read them just before.
      auto page = HttpClient(rig.admin_ports[static_cast<std::size_t>(victim)])
                      .request(http::verb::get, "/metrics", {}, {}, kAdminToken);
      readbacks_before_kill.push_back(counter_sum(page.body, "isync_payment_readbacks_total"));
      unsettled_at_kill.push_back(zcard(redis, "payments:unsettled"));
      ready[static_cast<std::size_t>(victim)] = false;
      rig.kill_service(victim);
      ++kills;
      if (rig.start_service(victim)) {
        ready[static_cast<std::size_t>(victim)] = true;
      } else {
        restart_failures += std::to_string(victim) + " ";
      }
    }
  });
  for (auto& t : clients) t.join();
  // The refund, after the payment's own events: one charge.refunded, Stripe's
  // redelivery of it (same event id), and a second refund event (another id).
  const std::string refund_body =
      charge_event(refunded, now_s + 1, "evt_rf_a", "charge.refunded", refunded.amount);
  deliver(refund_body, 0);
  deliver(refund_body, 1);
  deliver(charge_event(refunded, now_s + 2, "evt_rf_b", "charge.refunded", refunded.amount), 2);
  const auto sent_in = Clock::now() - send_start;
  sending_done = true;
  chaos.join();
  {
    std::lock_guard lock(bad_mu);
    std::string all;
    for (const auto& b : bad_answers) all += b + "\n";
    CHECK_MESSAGE(bad_answers.empty(), "answers other than 202:\n" << all);
  }
  CHECK_MESSAGE(restart_failures.empty(),
                "services not ready after a restart: " << restart_failures);
  CHECK(kills >= kMinKills);
  // Every redelivery is answered as one; a delivery cut by a kill after it
  // was queued is sent again and answered so too.
  CHECK(duplicates >= static_cast<int>(redeliveries) + 1);

  // ---- faults off; wait until everything settled ----
  REQUIRE(rig.control(http::verb::delete_, "/v1/faults").status == 200);
  // One script, so the four counts are of one moment: read one by one, an
  // event could move from the retry set to the stream between two reads and
  // be counted in neither.
  auto settled = [&] {
    return redis
               .cmd({"EVAL",
                     "return redis.call('XLEN', KEYS[1]) + redis.call('ZCARD', KEYS[2]) + "
                     "redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[4])",
                     "4", "isync:{acme}:events", "isync:{acme}:payments:unsettled",
                     "isync:{acme}:retry", "isync:{acme}:parked"})
               .integer == 0;
  };
  // A line every 5 s while waiting, printed when settling is slow.
  std::string timeline;
  auto last_line = Clock::now() - 5s;
  const bool drained = eventually(
      [&] {
        if (settled()) return true;
        if (Clock::now() - last_line >= 5s) {
          last_line = Clock::now();
          timeline += std::to_string(
                          std::chrono::duration_cast<std::chrono::seconds>(last_line - send_start)
                              .count()) +
                      "s: stream " +
                      std::to_string(redis.cmd({"XLEN", "isync:{acme}:events"}).integer) +
                      ", unsettled " + std::to_string(zcard(redis, "payments:unsettled")) +
                      ", retry " + std::to_string(zcard(redis, "retry")) + ", slots held " +
                      std::to_string(zcard(redis, "intacct:slots")) + "\n";
        }
        return false;
      },
      kSettleDeadline);
  const auto wall = Clock::now() - t0;
  const auto settled_after = Clock::now() - send_start;
  const std::string relevant_logs =
      rig.logs({"\"level\":\"error\"", "payment failed", "event not queued", "SIGKILL"});
  // A payment's ledger hash and every log line naming it, for a failure.
  auto payment_story = [&](const std::string& pi) {
    auto h = redis.cmd({"HGETALL", "isync:{acme}:pay:" + pi});
    std::string out = "  ledger pay:" + pi + ":";
    for (std::size_t i = 0; i + 1 < h.elements.size(); i += 2) {
      if (h.elements[i].str == "body") continue;
      out.append(" ").append(h.elements[i].str).append("=").append(h.elements[i + 1].str);
    }
    return out + "\n" + rig.logs({"\"" + pi + "\"", "evt_pi_" + pi.substr(7) + "\""});
  };
  INFO("process logs (errors, unqueued events, kills):\n" << relevant_logs);
  CHECK_MESSAGE(drained, "not settled after the deadline: XLEN "
                             << redis.cmd({"XLEN", "isync:{acme}:events"}).integer << ", unsettled "
                             << zcard(redis, "payments:unsettled") << ", retry "
                             << zcard(redis, "retry") << ", parked " << zcard(redis, "parked"));
  if (!drained) {
    auto stuck = redis.cmd({"ZRANGE", "isync:{acme}:payments:unsettled", "0", "9"});
    for (const auto& e : stuck.elements)
      MESSAGE("stuck payment " << e.str << "\n" << payment_story(e.str));
  }

  // ---- dead letters ----
  const auto dead = redis.cmd({"ZRANGE", "isync:{acme}:dead", "0", "-1"});
  {
    std::string docs;
    for (const auto& e : dead.elements) {
      auto h = redis.cmd({"HGETALL", "isync:{acme}:ev:" + e.str});
      docs.append("dead ").append(e.str).append(":");
      for (const auto& x : h.elements) docs.append(" ").append(x.str, 0, 600);
      docs.append("\n");
    }
    CHECK_MESSAGE(dead.elements.empty(), "dead letters:\n" << docs);
  }

  // ---- the sandbox: one ARPYMT per payment, amounts, invoices ----
  const auto arpymts = rig.records("ARPYMT");
  std::map<std::string, std::vector<const rapidjson::Document*>> by_doc;
  for (const auto& rec : arpymts) {
    const std::string doc = str_of(rec["fields"], "DOCNUMBER");
    if (doc.rfind("pi_e2e_", 0) == 0) by_doc[doc].push_back(&rec);
  }
  int created = 0, missing = 0, doubled = 0, wrong = 0;
  std::string problems;
  std::map<std::size_t, std::int64_t> paid;  // invoice index → cents still paid
  for (const auto& p : plan) {
    auto it = by_doc.find(p.pi);
    if (it == by_doc.end()) {
      ++missing;
      problems += "missing " + p.pi + "\n";
      if (missing <= 3) problems += payment_story(p.pi);
      continue;
    }
    created += static_cast<int>(it->second.size());
    if (it->second.size() > 1) {
      ++doubled;
      problems += "doubled " + p.pi + " (" + std::to_string(it->second.size()) + " ARPYMTs)\n";
      if (doubled <= 3) problems += payment_story(p.pi);
    }
    const auto& f = (*it->second.front())["fields"];
    const std::string detail = "ARPYMTDETAILS.ARPYMTDETAIL.0.";
    const bool right =
        cents(str_of(f, "TOTALENTERED")) == p.amount &&
        str_of(f, detail + "RECORDKEY") == std::to_string(invoices[p.invoice].recordno) &&
        cents(str_of(f, detail + "TRX_PAYMENTAMOUNT")) == p.amount;
    if (!right) {
      ++wrong;
      problems += "wrong " + p.pi + ": planned " + amount_text(p.amount) + " on invoice " +
                  std::to_string(invoices[p.invoice].recordno) + ", posted " +
                  str_of(f, "TOTALENTERED") + " / " + str_of(f, detail + "RECORDKEY") + " / " +
                  str_of(f, detail + "TRX_PAYMENTAMOUNT") + "\n";
    }
    const std::string state = str_of(f, "STATE");
    if (p.n == refunded.n) {
      CHECK_MESSAGE(state == "Reversed", "the refunded payment's ARPYMT is " << state);
    } else {
      if (state != "Posted") problems += p.pi + " is " + state + "\n";
      paid[p.invoice] += p.amount;
    }
  }
  CHECK_MESSAGE(problems.empty(), problems.substr(0, 4000));
  CHECK(missing == 0);
  CHECK(doubled == 0);
  CHECK(wrong == 0);
  CHECK(static_cast<int>(by_doc.size()) == kPayments);
  CHECK(created == kPayments);
  CHECK(static_cast<std::int64_t>(arpymts.size()) == arpymt_before + kPayments);

  std::string balance_problems;
  for (const auto& rec : rig.records("ARINVOICE")) {
    const auto no = rec["recordno"].GetInt64();
    auto inv = std::find_if(invoices.begin(), invoices.end(),
                            [no](const Invoice& x) { return x.recordno == no; });
    if (inv == invoices.end()) continue;
    const auto i = static_cast<std::size_t>(inv - invoices.begin());
    const auto want = inv->due - paid[i];
    const auto got = cents(str_of(rec["fields"], "TOTALDUE"));
    if (got != want) {
      balance_problems += "invoice " + std::to_string(no) + ": TOTALDUE " +
                          str_of(rec["fields"], "TOTALDUE") + ", expected " + amount_text(want) +
                          "\n";
    }
  }
  CHECK_MESSAGE(balance_problems.empty(), balance_problems.substr(0, 4000));

  // ---- the ledger ----
  std::string ledger_problems;
  std::int64_t sends = 0, rsends = 0;
  for (const auto& p : plan) {
    auto h =
        redis.cmd({"HMGET", "isync:{acme}:pay:" + p.pi, "state", "recordno", "sends", "rsends"});
    const std::string want = p.n == refunded.n ? "reversed" : "posted";
    const std::string state = h.elements.size() == 4 ? h.elements[0].str : std::string();
    const std::string recordno = h.elements.size() == 4 ? h.elements[1].str : std::string();
    if (h.elements.size() == 4) {
      sends += std::atoll(h.elements[2].str.c_str());
      rsends += std::atoll(h.elements[3].str.c_str());
    }
    auto it = by_doc.find(p.pi);
    const std::string in_sandbox =
        it == by_doc.end() ? std::string()
                           : std::to_string((*it->second.front())["recordno"].GetInt64());
    if (state != want || recordno != in_sandbox) {
      ledger_problems += "pay:" + p.pi + " state " + state + " recordno " + recordno +
                         " (sandbox " + in_sandbox + ")\n";
    }
  }
  CHECK_MESSAGE(ledger_problems.empty(), ledger_problems.substr(0, 4000));

  // ---- the figures ----
  auto stats = json(rig.control(http::verb::get, "/v1/stats").body);
  REQUIRE(stats.IsObject());
  // The sandbox refuses a second reversal of a payment ("already
  // reversed"), so a Reversed ARPYMT whose invoice got its amount back once
  // (the balances above) means one reverse call succeeded. The services'
  // request logs agree: at most one reverse_arpayment answered success (none
  // only if a kill cut the answer of the one that ran).
  const std::string reverse_lines = rig.logs({"\"functions\":\"reverse_arpayment\""});
  const std::string reverse_ok = grep(reverse_lines, {"\"outcome\":\"success\""});
  const auto reverse_successes = std::count(reverse_ok.begin(), reverse_ok.end(), '\n');
  CHECK_MESSAGE(reverse_successes <= 1, reverse_lines);
  {
    const auto& calls = stats["calls_by_function"];
    REQUIRE(calls.HasMember("reverse_arpayment"));
    CHECK(calls["reverse_arpayment"].GetInt64() >= 1);
  }
  std::int64_t readbacks = 0;
  for (auto v : readbacks_before_kill) readbacks += v;
  for (int i = 0; i < kServices; ++i) {
    auto page = HttpClient(rig.admin_ports[static_cast<std::size_t>(i)])
                    .request(http::verb::get, "/metrics", {}, {}, kAdminToken);
    readbacks += counter_sum(page.body, "isync_payment_readbacks_total");
  }
  std::ostringstream out;
  out << "payments e2e: " << kPayments << " payments over " << per_invoice.size() << " invoices ("
      << invoices_with_several << " with several payments)\n";
  out << "  deliveries sent " << deliveries.size() + 3 << " (" << redeliveries << " redeliveries, "
      << duplicates << " answered duplicate; 3 refund deliveries), " << both_types
      << " payments with both event types, sent in "
      << std::chrono::duration_cast<std::chrono::milliseconds>(sent_in).count() << " ms, "
      << connection_retries << " resends after a refused or cut connection\n";
  out << "  kills " << kills << " (unsettled payments at each kill:";
  for (auto u : unsettled_at_kill) out << " " << u;
  out << ")\n  faults injected " << stats["faults_injected"].GetInt64() << ":";
  for (const auto& m : stats["faults_by_name"].GetObject()) {
    out << " " << m.name.GetString() << "=" << m.value.GetInt64();
  }
  out << "\n  concurrency slots still held at the end (leased by killed calls) "
      << zcard(redis, "intacct:slots");
  out << "\n  ARPYMTs created " << created << " (+" << arpymt_before << " seeded), "
      << "create requests sent " << sends << ", reverse requests sent " << rsends << " ("
      << reverse_successes << " answered success)\n";
  std::int64_t calls = 0;
  for (const auto& m : stats["calls_by_function"].GetObject()) calls += m.value.GetInt64();
  out << "  Intacct API calls " << calls << " (gateway requests " << stats["requests"].GetInt64()
      << "); per payment:";
  for (const auto& m : stats["calls_by_function"].GetObject()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " %s=%.3f", m.name.GetString(),
                  static_cast<double>(m.value.GetInt64()) / kPayments);
    out << buf;
  }
  out << "\n  read-backs (payment_readbacks_total, counted up to each kill) " << readbacks
      << "\n  wall time " << std::chrono::duration_cast<std::chrono::milliseconds>(wall).count()
      << " ms; settled "
      << std::chrono::duration_cast<std::chrono::milliseconds>(settled_after).count()
      << " ms after the first delivery\n"
      << "  reproduce: build/tests/app/app_payments_test (logs in " << rig.dir << ")\n";
  if (settled_after > 60s) out << "  slow to settle; state while waiting:\n" << timeline;
  MESSAGE(out.str());
  // Not a correctness failure, but a stall: when every concurrency slot of
  // the tenant is held by calls of killed processes, no Intacct call is made
  // until those slots' leases run out.
  WARN_MESSAGE(
      settled_after < 60s,
      "settling took " << std::chrono::duration_cast<std::chrono::seconds>(settled_after).count()
                       << " s; see the slots held in the timeline above");
  std::ofstream(rig.dir + "/figures.txt") << out.str();
}

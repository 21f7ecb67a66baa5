#include "bench/ingest/targets.hpp"

#include <fstream>
#include <stdexcept>

#include "bench/ingest/load.hpp"

namespace isync::bench::ingest {

using namespace std::chrono_literals;

namespace {

const std::string kHealth = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

void wait_ready(const Target& t, const std::string& log, std::string_view expect) {
  if (!wait_until([&] { return probe(t.port, kHealth, expect); }, 30s))
    throw std::runtime_error(t.name + " did not start; see " + log);
}

}  // namespace

Target start_service(const std::string& binary, const std::string& workdir,
                     std::uint16_t redis_port, int workers) {
  Target t;
  t.name = "intacct-sync (queue.workers = " + std::to_string(workers) + ")";
  t.port = free_port();
  const std::string config = workdir + "/bench.toml";
  std::ofstream(config) << "[server]\npublic_listen = \"127.0.0.1:" << t.port
                        << "\"\nadmin_listen = \"127.0.0.1:" << free_port()
                        << "\"\nnoop_route = true\n[redis]\nurl = \"redis://127.0.0.1:"
                        << redis_port << "/0\"\n[queue]\nworkers = " << workers
                        << "\n[log]\nlevel = \"warn\"\n[[tenant]]\nid = \"bench\"\n"
                           "token = \"env:BENCH_TENANT_TOKEN\"\n";
  const std::string log = workdir + "/service-w" + std::to_string(workers) + ".log";
  t.child = std::make_unique<Child>(
      std::vector<std::string>{binary, "serve", "--config", config}, log,
      std::vector<std::string>{std::string("BENCH_TENANT_TOKEN=") + kToken});
  wait_ready(t, log, " 200 ");
  return t;
}

Target start_beast_noop(const std::string& binary, const std::string& workdir) {
  Target t;
  t.name = "beast-noop";
  t.port = free_port();
  const std::string log = workdir + "/beast-noop.log";
  t.child = std::make_unique<Child>(
      std::vector<std::string>{binary, "--port", std::to_string(t.port)}, log);
  wait_ready(t, log, " 202 ");
  return t;
}

Target start_node_peer(const std::string& dir, const std::string& workdir,
                       std::uint16_t redis_port) {
  Target t;
  t.name = "node peer";
  t.port = free_port();
  const std::string log = workdir + "/node-peer.log";
  t.child = std::make_unique<Child>(
      std::vector<std::string>{"node", dir + "/server.js"}, log,
      std::vector<std::string>{"PORT=" + std::to_string(t.port),
                               "REDIS_URL=redis://127.0.0.1:" + std::to_string(redis_port) + "/0",
                               "TENANT=bench", std::string("TENANT_TOKEN=") + kToken});
  wait_ready(t, log, " 200 ");
  return t;
}

bool post_one(std::uint16_t port, const std::string& target, std::uint64_t n) {
  return probe(port, event_request(target, n), "HTTP/1.1 2");
}

}  // namespace isync::bench::ingest

// intacct-sync status: the status document read straight from Redis.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>

#include "app/service.hpp"
#include "handlers/handlers.hpp"
#include "redis/redis.hpp"

namespace isync::app {

int status(const config::Config& cfg, bool json, std::ostream& out, std::ostream& err) {
  auto endpoint = redis::parse_url(cfg.redis.url.reveal());
  if (!endpoint) {
    err << "intacct-sync: redis.url is not a valid redis:// URL (" << cfg.redis.display_url
        << ")\n";
    return kExitRefused;
  }
  std::vector<std::string> tenants;
  for (const auto& t : cfg.tenants) tenants.push_back(t.id);

  boost::asio::io_context ioc;
  redis::Options options;
  options.command_timeout = cfg.redis.command_timeout;
  options.reconnect_interval = cfg.redis.reconnect_interval;
  options.client_name = "isync-status";
  const auto limit = options.connect_timeout + 2 * options.command_timeout;
  auto conn = redis::Connection::create(ioc.get_executor(), *endpoint, options);
  std::optional<Result<handlers::Status>> result;
  bool asked = false;
  conn->on_state_change([&](bool up) {
    if (!up || asked) return;
    asked = true;
    handlers::read_status(*conn, tenants, SystemClock().now_ms(), [&](Result<handlers::Status> r) {
      result = std::move(r);
      ioc.stop();
    });
  });
  conn->start();
  ioc.run_for(limit);
  conn->close();
  ioc.restart();
  ioc.poll();

  if (!result) {
    err << "intacct-sync: cannot reach Redis at " << cfg.redis.display_url << " within "
        << limit.count() << " ms; is it running?\n";
    return kExitUnavailable;
  }
  if (!*result) {
    err << "intacct-sync: cannot read the status from Redis at " << cfg.redis.display_url << ": "
        << result->error().message << "\n";
    return kExitUnavailable;
  }
  out << (json ? handlers::status_json(**result) + "\n" : handlers::status_text(**result));
  return kExitOk;
}

}  // namespace isync::app

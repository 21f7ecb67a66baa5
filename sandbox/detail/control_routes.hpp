// The control API's routes (JSON over HTTP), as a pure function of a request:
// the server's session reads the request, calls handle_control, writes the
// answer. Routes, bodies and statuses are listed in control.cpp.
#pragma once

#include <functional>
#include <memory>

#include "sandbox/detail/poster_queue.hpp"
#include "sandbox/detail/server_http.hpp"
#include "sandbox/sandbox.hpp"
#include "sandbox/server.hpp"

namespace isync::sandbox::detail {

struct ControlContext {
  Company& company;
  std::function<PosterStats()> poster_stats;
  const Secret& token;                           // empty = no authentication
  std::function<PosterStats()> trigger_stats{};  // empty = none
  std::shared_ptr<PushSwitch> push{};            // null = /v1/push answers 404
};

// Thread-safe (the Company is); never throws.
Answer handle_control(const ControlContext& ctx, const HttpRequest& request);

}  // namespace isync::sandbox::detail

// The on-call engine's shared parts (oncall.hpp): validation, Redis replies,
// errors, and the job's stored form. Internal to oncall/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "oncall/oncall.hpp"

namespace isync::oncall::detail {

inline constexpr std::size_t kBatch = 100;        // ids per script
inline constexpr std::size_t kMaxReason = 1000;   // bytes of a reason
inline constexpr std::size_t kMaxActor = 200;     // bytes of an actor
inline constexpr std::size_t kMaxSetValue = 255;  // bytes of a set value
inline constexpr std::size_t kMaxSkippedSamples = 100;

std::string prefix(const std::string& tenant);  // isync:{t}:
std::string job_key(const std::string& tenant, const std::string& id);

bool valid_id(const std::string& id);  // an event or job id: [0-9A-Za-z]{1,64}
bool known(const std::vector<std::string>& tenants, const std::string& tenant);

// invalid_field naming the filter's field at fault (state, object, key, since).
Result<void> check_filter(const queue::EventFilter& f);
// The filter as JSON (only the fields set).
std::string filter_json(const queue::EventFilter& f);

// The Error for a refusal of `id` by the act or set script.
Error refusal(const std::string& id, const std::string& code, const std::string& state,
              Action action);
Error unavailable(const std::string& what, boost::system::error_code ec, const redis::Reply& r);

// A job from its hash (HGETALL); nullopt when the reply holds no job.
std::optional<Job> parse_job(const redis::Reply& r);

// Sends every command at once (the connection pipelines them) and calls
// `done` with the replies in order once all have come, or with the first
// failure.
void gather(redis::Connection& conn, std::vector<std::vector<std::string>> commands,
            std::function<void(Result<std::vector<redis::Reply>>)> done);

// Acts on ids of one tenant, in batches of kBatch, one script each.
// Returns per id {code, state} (code "" = acted).
struct Verdict {
  std::string code, state;
};
struct ActInputs {
  Action action = Action::replay;
  std::string actor, reason;
  bool settled_by_hand = false;
  std::int64_t lease_ms = 30000;
  std::string owner;  // who holds a payment's lease meanwhile
};
void act_on(redis::Connection& conn, const std::string& tenant, std::vector<std::string> ids,
            const ActInputs& in, std::int64_t now_ms,
            std::function<void(Result<std::vector<Verdict>>)> done);

// 32 random hex digits.
std::string random_owner();

// Collects the ids a filter matches over one tenant (<= kMaxJobEvents, else
// invalid_field "filter"), with the first page's summaries.
struct Matched {
  std::vector<std::string> ids;
  std::vector<queue::EventSummary> first;
};
void collect(std::shared_ptr<redis::Connection> conn, const std::string& tenant,
             const queue::EventFilter& filter, std::function<void(Result<Matched>)> done);

}  // namespace isync::oncall::detail

// Batched reads of records from Intacct for thin (and conflicting) smart
// events. Internal to handlers/.
//
// Events that are due together (one XREADGROUP batch fans out to the workers
// at once) ask within a few milliseconds of each other: the first request of a
// tenant+object opens a batch, which is sent when it holds 100 distinct
// RECORDNOs (Intacct's `read` limit) or when `window` has passed. Before
// calling Intacct the batch checks the mirror's versions in one script: a
// record that reached the version a request needs since the request was made
// (another event's read landed first) is answered `held` and costs no API
// call. Several requests for one record share one key of the read; the
// second and later get `shared` instead of `found` (one record read, several
// events settled).
//
// Thread rules: read() may be called from any thread; batch state lives on
// the batcher's strand; `done` runs on that strand, exactly once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/core.hpp"
#include "intacct/client.hpp"
#include "redis/redis.hpp"

namespace isync::handlers::detail {

struct ReadRequest {
  enum class Mode {
    thin,      // skipped when the mirror is newer, or at `version` and settled
    conflict,  // a same-second conflict: skipped only when the mirror is newer
    recheck,   // a read made within its record's second: skipped once settled
  };
  std::string tenant, object, recordno;
  std::int64_t version = 0;  // the event's version (thin, conflict)
  Mode mode = Mode::thin;
};

struct ReadAnswer {
  enum class Kind {
    held,          // the mirror already has what the event needs: no read was made
    found,         // `row` is Intacct's record
    shared,        // as found, for a request that shared another's key
    gone,          // Intacct has no record with that RECORDNO
    failed,        // `error` says why (transient, permanent or ambiguous)
    circuit_open,  // the tenant's credentials were rejected: park
  };
  Kind kind = Kind::failed;
  intacct::Row row;
  // When the read was sent (the Clock's ms): Intacct read the record no
  // earlier than this.
  std::int64_t sent_at_ms = 0;
  std::optional<intacct::IntacctError> error;
};

class ReadBatcher : public std::enable_shared_from_this<ReadBatcher> {
 public:
  // `settle`: a read is final for its version once made this long after
  // the version's second ended (see detail/mirror_lua.hpp, "rt").
  ReadBatcher(boost::asio::any_io_executor ex, std::shared_ptr<redis::Connection> conn,
              Clock& clock, std::chrono::milliseconds window, std::chrono::milliseconds settle);
  void read(std::shared_ptr<intacct::Client> client, ReadRequest request,
            std::function<void(ReadAnswer)> done);

 private:
  struct Waiter {
    std::int64_t version;
    ReadRequest::Mode mode;
    std::function<void(ReadAnswer)> done;
  };
  struct Batch {
    std::string tenant, object;
    std::shared_ptr<intacct::Client> client;
    std::map<std::string, std::vector<Waiter>> waiters;  // by RECORDNO
    std::uint64_t generation = 0;
  };
  void add(std::shared_ptr<intacct::Client> client, ReadRequest request,
           std::function<void(ReadAnswer)> done);
  void flush(const std::string& batch_key);
  void check_versions(std::shared_ptr<Batch> batch);
  void call_intacct(std::shared_ptr<Batch> batch);

  boost::asio::any_io_executor strand_;
  std::shared_ptr<redis::Connection> conn_;
  Clock& clock_;
  std::chrono::milliseconds window_;
  std::chrono::milliseconds settle_;
  std::map<std::string, std::shared_ptr<Batch>> open_;  // by tenant "\n" object
  std::uint64_t next_generation_ = 0;
};

}  // namespace isync::handlers::detail

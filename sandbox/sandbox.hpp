// sandbox — an in-memory Sage Intacct company behind the XML gateway protocol.
//
// What: `Company` holds customers (CUSTOMER), invoices (ARINVOICE) and
// payments (ARPYMT), API sessions, readByQuery result sets and the executed
// function controlids, and answers XML gateway request bodies exactly as
// PROTOCOL.md §1–§5 (and the fixtures beside it) describe Intacct's answers —
// including every failure level (HTTP 401, control, authentication, result).
// It is written from the protocol, not from our client's needs.
//
// Purity: no sockets, threads or timers of its own. The server around it reads
// requests, calls handle_gateway(), waits Reply::delay, writes the reply; it
// calls run_due() every ~100 ms so deferred ("land later") writes land; it
// turns Change notifications into smart-event posts (skipping one whenever
// take_event_drop() says so).
//
// Thread rules: every public member is safe to call from any thread (one
// internal mutex). on_change listeners are called synchronously after the
// change is committed, with the lock NOT held, so a listener may call back
// into the Company. Listeners must not be registered while requests run.
//
// Time: "now" comes only from the injected Clock (tests use ManualClock).
// WHENCREATED / WHENMODIFIED are Intacct's `MM/DD/YYYY HH:MM:SS`, in UTC (the
// protocol leaves the zone open, PROTOCOL.md §3; the sandbox picks UTC), with
// one-second resolution, so several changes in one second share a value.
//
// Errors: the gateway never fails as a C++ error — every problem is a reply
// shaped as Intacct shapes it. The control API (add/set/remove/load) returns
// Error{code, message} with code one of: "unknown_object", "unknown_field",
// "not_found", "duplicate", "invalid_value", "bad_snapshot".
//
// Where Intacct's behaviour is not documented (PROTOCOL.md §10) the sandbox
// chooses, and says so here so nobody mistakes it for Intacct's:
//  * A write function replayed with <uniqueid>true</uniqueid> whose controlid
//    already completed (remembered 24 h, at most 100k) is not run again: result
//    failure errorno SANDBOX_DUPLICATE_CONTROLID. A failed or rolled-back
//    function may run again.
//  * A missing record in update/delete: result failure BL01001973
//    "<OBJECT> record '<key>' does not exist."; read simply omits it.
//  * readMore with an unknown or expired resultId: DL02000001 naming it.
//    A resultId lives result_id_lifetime after its last use and ends with its
//    last page; a single page answers resultId="".
//  * readByQuery (and query without <orderby>) rows come in a fixed scramble
//    of RECORDNO, not RECORDNO order (PROTOCOL.md §3: do not cursor on it).
//  * read and query rows are <OBJECT>; readByQuery/readMore rows and
//    listtype are lower case, as in the fixtures; create/update/delete answer
//    <data listtype="objects"> with <object> rows of RECORDNO (+ ID field).
//    Dotted fields are written nested (<DISPLAYCONTACT><EMAIL1>).
//  * land_later: the request is validated on a copy and its RECORDNOs and
//    controlids are reserved at once; the write runs (and emits its Changes)
//    when run_due() finds it due. A replay before then is refused as above.
//  * reverse_arpayment (PROTOCOL.md §4 names only `key=`): the payment stays,
//    with STATE "Reversed" and REVERSEDDATE (MM/DD/YYYY, from <datereversed>);
//    its invoices get their amounts back (as a delete does) and every change
//    is a `set` event. <memo> is accepted (at most 1000 characters) and not
//    kept. The answer is <key>RECORDNO</key>, as legacy functions answer.
//    Failures are BL01001973, description "Could not reverse AR payment
//    record!", description2 one of: "reverse_arpayment needs a key
//    attribute." / "AR payment key '<key>' is not a RECORDNO." / "AR
//    payment <n> does not exist." / "AR payment <n> is already reversed." /
//    "<datereversed> needs <year>, <month> and <day> of a valid date." /
//    "<memo> is longer than 1000 characters.", with a correction. A reversed payment cannot be
//    updated; deleting it does not give its invoices their amounts back a second time.
//  * Options::unique_payment_numbers: a second ARPYMT of one customer with
//    the DOCNUMBER of a payment that is not reversed fails BL34000061
//    "Another AR Payment with the given value(s) <DOCNUMBER> already exists"
//    then BL01001973 "Could not create ARPYMT record!" (Intacct's own rule
//    for payment numbers is not documented).
//  * ARPYMT CURRENCY (default USD) must equal each applied invoice's
//    CURRENCY (default USD): BL01001973 "Payment currency <X> differs from
//    the currency <Y> of invoice <n>."
//  * An ARPYMT whose TOTALENTERED exceeds the sum of its details keeps the
//    excess unapplied: the invoices get their detail amounts, TOTALPAID =
//    TOTALENTERED and TOTALUNAPPLIED (a sandbox field) = the excess (the
//    whole amount for an advance, 0.00 when fully applied). Less than the
//    sum fails "TOTALENTERED <x> is less than the sum of the details <y>."
//  * Random faults (Faults::*_ratio) draw from a PRNG seeded with
//    Options::seed: one draw per non-zero ratio per request it applies to
//    (none while its counter is non-zero), so a run with the same seed and
//    the same requests gets the same faults.
//  * Settings (payment_batch_required, unique_payment_numbers,
//    write_clock_offset) switch at run time through set_settings() and apply
//    from the next request on.
//  * Settings::write_clock_offset shifts the stamps of writes only
//    (WHENMODIFIED, WHENCREATED, an invoice's default WHENCREATED and WHENDUE,
//    a delete's event time): sessions, resultIds, land_later delays and
//    Change::at_ms keep the real clock. A landing takes the offset in force
//    when it lands.
//  * Faults::drop_events_ratio draws from its own PRNG seeded with
//    Options::seed, one draw per change offered to take_event_drop() while the
//    ratio is non-zero and drop_events is 0; so the same seed and the same
//    sequence of changes drop the same events. Every dropped event (counter or
//    ratio) is listed by dropped_events().
//  * Faults::deny_read_objects: every read function of a listed object
//    (readMore: the object of its resultId) fails as deny_reads does.
//  * WriteOptions::silent: the write happens but none of the Changes it causes
//    (an invoice's customer TOTALDUE, a deleted payment's invoices) reaches
//    the listeners, so no smart event is posted for any of them.
//
// Ownership: the Company keeps a reference to the Clock, which must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/core.hpp"

namespace isync::sandbox {

namespace detail {
struct CompanyState;  // everything a Company holds (sandbox/detail/state.hpp)
}

// The company's login data; a request must match these or fail as Intacct does.
struct Credentials {
  std::string sender_id;        // <control><senderid>, case-sensitive
  std::string sender_password;  // <control><password>, case-sensitive
  std::string company_id;       // <login><companyid>
  std::string user_id;          // <login><userid>
  std::string user_password;    // <login><password>
};

struct Options {
  Credentials credentials;
  // What getAPISession returns as <endpoint> (the gateway's own URL).
  std::string endpoint_url;
  // Sliding: each call with a session moves its expiry (and the reply's
  // <sessiontimeout>) to now + this. PROTOCOL.md §2.
  std::chrono::seconds session_duration{2 * 3600};
  // How long a readByQuery resultId stays usable for readMore (undocumented
  // in Intacct, PROTOCOL.md §3).
  std::chrono::minutes result_id_lifetime{30};
  // true: an ARPYMT create without PRBATCH fails "Please provide a payment
  // batch key." (AR set to user-specified payment summaries, PROTOCOL.md §4).
  bool payment_batch_required = false;
  // true: an ARPYMT create fails BL34000061 when a payment of the same
  // customer that is not reversed has the same DOCNUMBER.
  bool unique_payment_numbers = false;
  // Seeds the draws of the random faults (Faults::*_ratio).
  std::uint64_t seed = 1;
  // Added to the time of every write's stamps (see Settings).
  std::chrono::seconds write_clock_offset{0};
};

// The company settings switchable at run time (control API /v1/settings).
struct Settings {
  bool payment_batch_required = false;
  bool unique_payment_numbers = false;
  // Added to "now" for the WHENMODIFIED / WHENCREATED of records written
  // while it is set (gateway and control API alike); negative = in the past,
  // so tests can make an 8-month-old invoice. At most kMaxWriteClockOffset
  // either way.
  std::chrono::seconds write_clock_offset{0};
};
inline constexpr std::chrono::seconds kMaxWriteClockOffset{10LL * 366 * 86400};

// How a control-API write is made. silent: no Change of it reaches the
// listeners (no smart event), as when Intacct's event is never posted.
struct WriteOptions {
  bool silent = false;
};

// One record: Intacct field names (nested groups flattened with dots, e.g.
// DISPLAYCONTACT.EMAIL1) → text. ARPYMT details are flattened as
// ARPYMTDETAILS.ARPYMTDETAIL.<n>.RECORDKEY / .TRX_PAYMENTAMOUNT (n from 0).
struct Record {
  std::string object;
  std::int64_t recordno = 0;
  std::map<std::string, std::string> fields;  // includes RECORDNO
};

// A change the server turns into a smart-event post.
struct Change {
  std::string object;
  std::string action;  // add | set | delete
  std::int64_t recordno = 0;
  std::string whenmodified;                   // "MM/DD/YYYY HH:MM:SS" (UTC)
  std::int64_t at_ms = 0;                     // clock time of the change
  std::map<std::string, std::string> fields;  // after the change; empty for delete
};

// Run-time faults (switched through the control API). Counters count down per
// matching request; each injected fault is counted in Stats::faults_injected.
struct Faults {
  std::chrono::milliseconds latency{
      0};              // added before every gateway reply (the SERVER applies it: see Reply::delay)
  int rate_limit = 0;  // next N requests: rejected before executing
  bool rate_limit_http = true;  //   true: HTTP 429 (+ XML body with GW-0010); false: HTTP 200 with
                                //   a control failure GW-0010
  int server_error = 0;         // next N requests: HTTP 503 (no XML body), nothing executed
  int timeout_after_write =
      0;  // next N requests containing a write: executed, then HTTP 524 (body: plain text)
  int land_later = 0;  // next N requests containing a write: HTTP 524 at once, the write lands
                       // `land_delay` later
  std::chrono::milliseconds land_delay{3000};
  int drop_events =
      0;  // next N smart events are not posted (the SERVER applies it via take_event_drop())
  // Then each further smart event is dropped with this probability (0 = off,
  // 1 = all); see take_event_drop() and dropped_events().
  double drop_events_ratio = 0;
  // Next N read functions (read, readByName, readByQuery, readMore, query)
  // fail at the result level as a missing role permission does: "You do not
  // have permission for API operation READ on objects of type <object>"
  // (permanent). Intacct's errorno for it is not documented; the sandbox
  // sends the generic BL01001973 with the text in description2.
  int deny_reads = 0;
  // Every read function of these objects (upper case: CUSTOMER, ARINVOICE,
  // ARPYMT) fails as deny_reads does, for as long as the object is listed
  // (a permission the Web Services user lacks). Counted as deny_read_objects.
  std::set<std::string> deny_read_objects;
  // Random faults, each a probability in [0, 1] (0 = off), drawn per request
  // from a PRNG seeded with Options::seed; a counter above, when non-zero,
  // takes precedence over its ratio. server_error_ratio: any request;
  // the other two: requests containing a write. Counted like the counters.
  double server_error_ratio = 0;
  double timeout_after_write_ratio = 0;
  double land_later_ratio = 0;
};

// What the server writes back.
struct Reply {
  int status = 200;
  std::string content_type = "text/xml";
  std::string body;
  std::chrono::milliseconds delay{
      0};  // the server waits this long before writing (Faults::latency)
};

struct Stats {
  std::map<std::string, std::int64_t> calls_by_function;  // executed functions by name
  std::int64_t requests = 0;                              // gateway requests received
  std::int64_t faults_injected = 0;                       // requests (and events) a fault hit
  // The same, by fault name (rate_limit, server_error, timeout_after_write,
  // land_later, drop_events, deny_reads, deny_read_objects), counters and
  // ratios alike.
  std::map<std::string, std::int64_t> faults_by_name;
  std::int64_t records_read = 0;  // rows returned by read/readByQuery/readMore/query
};

// A smart event the drop_events fault (counter or ratio) kept from being posted.
struct DroppedEvent {
  std::string object;
  std::int64_t recordno = 0;
  std::string action;        // add | set | delete
  std::string whenmodified;  // as the event would have carried it
  std::int64_t at_ms = 0;    // clock time of the change
};

struct DroppedEvents {
  std::int64_t count = 0;            // every drop since the last clear
  std::vector<DroppedEvent> events;  // the first kMaxDroppedEvents of them, in order
};
inline constexpr std::size_t kMaxDroppedEvents = 100000;

// Upper bound on a gateway request body; larger bodies fail XL03000003.
inline constexpr std::size_t kMaxGatewayBody = 10 * 1024 * 1024;

class Company {
 public:
  // REQUIRES: `clock` outlives the Company.
  Company(Options options, Clock& clock);
  ~Company();
  Company(const Company&) = delete;
  Company& operator=(const Company&) = delete;

  // The XML gateway: one POSTed request body in, one reply out (every failure
  // level as Intacct shapes it). `content_type` is the request's header value
  // (informational: Intacct accepts the XML whatever it says).
  Reply handle_gateway(std::string_view body, std::string_view content_type);

  // Commits writes whose land_later delay has passed; returns how many
  // requests landed. The server calls this every ~100 ms.
  int run_due();

  // Control API. Add: RECORDNO assigned (ignored if given), WHENCREATED /
  // WHENMODIFIED set; validated as a gateway create is. Each emits a Change
  // (and its side effects theirs) unless `how.silent`.
  Result<Record> add(const std::string& object, const std::map<std::string, std::string>& fields,
                     WriteOptions how = {});
  Result<Record> set(const std::string& object, std::int64_t recordno,
                     const std::map<std::string, std::string>& fields, WriteOptions how = {});
  Result<void> remove(const std::string& object, std::int64_t recordno, WriteOptions how = {});
  std::optional<Record> get(const std::string& object, std::int64_t recordno) const;
  // Records of `object` with RECORDNO > after_recordno, ascending, at most `limit`.
  std::vector<Record> list(const std::string& object, std::int64_t after_recordno,
                           std::size_t limit) const;
  std::size_t count(const std::string& object) const;

  // Seeds a demo company: `customers` customers and `invoices` invoices spread
  // over them (deterministic from `seed`), some paid, some partially paid, a
  // few drafts; no change notifications for seeding.
  void seed_demo(int customers, int invoices, std::uint64_t seed);

  Settings settings() const;
  void set_settings(const Settings& settings);  // applies to the next request
  void set_faults(const Faults& faults);
  Faults faults() const;
  void expire_sessions();  // every open session becomes invalid now
  // True when the smart event of `change` must be dropped: drop_events is
  // counted down first, else drop_events_ratio draws. A dropped event is
  // counted and recorded (see dropped_events()).
  bool take_event_drop(const Change& change);
  DroppedEvents dropped_events() const;
  void clear_dropped_events();
  void on_change(std::function<void(const Change&)> listener);  // see thread rules above
  Stats stats() const;

  // Whole company state (records, counters, sessions), for a state file.
  std::string snapshot_json() const;
  // Replaces the state with a snapshot_json() document; on error nothing changes.
  Result<void> load_snapshot_json(std::string_view json);

 private:
  std::unique_ptr<detail::CompanyState> state_;
};

}  // namespace isync::sandbox

// Fuzz target: queued envelopes (queue::decode, queue::encode).
//
// Each input is one stream entry's JSON. Invariants beyond "no crash":
//  * a refused entry is "bad_envelope";
//  * for every entry that decodes, decode(encode(e)) == e field by field;
//  * encode is stable: encoding the decoded copy gives the same bytes;
//  * the dedup key depends only on the decoded fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/check.hpp"
#include "queue/queue.hpp"

namespace {

using isync::queue::Envelope;

void check_equal(const Envelope& a, const Envelope& b) {
  FUZZ_CHECK(a.v == b.v, "v");
  FUZZ_CHECK(a.event_id == b.event_id, "event_id");
  FUZZ_CHECK(a.source == b.source, "source");
  FUZZ_CHECK(a.channel == b.channel, "channel");
  FUZZ_CHECK(a.tenant == b.tenant, "tenant");
  FUZZ_CHECK(a.object == b.object, "object");
  FUZZ_CHECK(a.action == b.action, "action");
  FUZZ_CHECK(a.key == b.key, "key");
  FUZZ_CHECK(a.version == b.version, "version");
  FUZZ_CHECK(a.whenmodified == b.whenmodified, "whenmodified");
  FUZZ_CHECK(a.snapshot == b.snapshot, "snapshot");
  FUZZ_CHECK(a.received_at_ms == b.received_at_ms, "received_at");
  FUZZ_CHECK(a.content_type == b.content_type, "content_type");
  FUZZ_CHECK(a.raw == b.raw, "raw");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using isync::queue::decode;
  using isync::queue::encode;
  auto e = decode(isync::fuzz::as_text(data, size));
  if (!e) {
    FUZZ_CHECK(e.error().code == "bad_envelope", e.error().code);
    return 0;
  }
  FUZZ_CHECK(e->v == 1 && !e->event_id.empty(), e->event_id);
  const std::string once = encode(*e);
  auto again = decode(once);
  FUZZ_CHECK(again.has_value(), again.error().message);
  check_equal(*e, *again);
  FUZZ_CHECK(encode(*again) == once, once.substr(0, 200));
  FUZZ_CHECK(isync::queue::smart_event_dedup_key(*e) == isync::queue::smart_event_dedup_key(*again),
             "dedup key");
  return 0;
}

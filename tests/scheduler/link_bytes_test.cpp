// Capacity in bytes, per terminal (schemas/README.md "Capacity in bytes"):
// the ledger books each terminal's own bytes (a delta's on its base) in
// placement and windows, and the link rate a terminal's statuses teach the
// scheduler (Status.download_bytes / download_ms), kept with the terminal.
#include <doctest/doctest.h>

#include "harness.h"
#include "slotwise/scheduler/bookings.h"

namespace slotwise::scheduler::testing {
namespace {

// Harness slots are 2 s, so buckets are 10 ms. The node moves 8 kbit/s
// over 4 connections: a fair share of 2 kbit/s, which caps every link.
constexpr std::int64_t kBucket = kSlotMs / kBucketsPerSlot;
constexpr std::uint64_t kFullBytes = 40'000;  // 160 s at 2 kbit/s
constexpr std::uint64_t kBigBytes = 100'000;  // over kMinLearnBytes: a download to learn from
constexpr std::uint64_t kDeltaBytes = 100;    // 0.4 s at 2 kbit/s

// Exact durations: no guard (ServiceOptions::download_guard_*), but in the
// case about the guard.
ServiceOptions NoGuard() {
  ServiceOptions o{kSlotMs, 1};
  o.download_guard_ms = 0;
  o.download_guard_permille = 0;
  return o;
}

v1::OperatorRequest ByteNode(const std::string& id, std::uint64_t bandwidth_bps, std::uint32_t max_connections) {
  v1::OperatorRequest r = AddNode(id, "paris", 4);
  r.mutable_add_node()->mutable_node()->set_bandwidth_bps(bandwidth_bps);
  r.mutable_add_node()->mutable_node()->set_max_connections(max_connections);
  return r;
}

v1::OperatorRequest Target(std::uint64_t full_bytes) {
  v1::OperatorRequest r = AddArtifact("2.1.0");
  auto* a = r.mutable_add_artifact()->mutable_artifact();
  a->set_size(full_bytes);
  v1::ArtifactDelta* d = a->add_deltas();
  d->set_from_version("2.0.0");
  d->set_path("/fw/2.0.0-2.1.0.zst");
  d->set_sha256(std::string(64, 'd'));
  d->set_size(kDeltaBytes);
  d->set_base_sha256(std::string(64, 'a'));  // harness AddArtifact's sha256 and size
  d->set_base_size(1234);
  return r;
}

void SetUp(Harness& h, const std::vector<std::string>& terminals, std::uint64_t bandwidth_bps = 8'000,
           std::uint32_t max_connections = 4, std::uint64_t full_bytes = kFullBytes) {
  REQUIRE(h.Op(AddCluster("paris", 48.85, 2.35)).has_ack());
  REQUIRE(h.Op(ByteNode("p1", bandwidth_bps, max_connections)).has_ack());
  REQUIRE(h.Op(AddArtifact("2.0.0")).has_ack());
  REQUIRE(h.Op(Target(full_bytes)).has_ack());
  v1::OperatorRequest create = CreateCampaign("c1", "2.1.0", terminals);
  create.mutable_create_campaign()->set_max_retries(3);
  REQUIRE(h.Op(create).has_ack());
}

v1::Window Windows(Harness& h) {
  v1::OperatorRequest q;
  q.mutable_query_windows()->set_campaign_id("c1");
  const auto reply = h.Op(q);
  REQUIRE(reply.has_windows());
  REQUIRE(reply.windows().windows_size() > 0);
  return reply.windows().windows(0);
}

void Schedule(Harness& h) {
  const v1::Window w = Windows(h);
  v1::OperatorRequest s;
  s.mutable_schedule_campaign()->set_campaign_id("c1");
  s.mutable_schedule_campaign()->set_start_slot(w.start_slot());
  s.mutable_schedule_campaign()->set_end_slot(w.end_slot() + 200);
  REQUIRE(h.Op(s).has_ack());
}

v1::Assignment Report(Harness& h, const std::string& tid, const std::string& version) {
  v1::Report r = ReportFor("c1", 48.9, 2.4);
  r.set_current_version(version);
  r.set_target_version("2.1.0");
  const auto reply = h.svc().HandleReport(tid, r);
  REQUIRE(reply.has_assignment());
  return reply.assignment();
}

v1::TerminalReply Status(Harness& h, const std::string& tid, const v1::Status& status) {
  Outbox out;
  return h.svc().HandleStatus(tid, status, out);
}

// How many buckets from its start the booking holds a connection (the
// campaign's only booking on p1).
std::int64_t HeldBuckets(Harness& h, const v1::Assignment& a) {
  const std::int64_t first = a.start_at_ms() / kBucket;
  std::int64_t n = 0;
  while (n < 100'000 && h.svc().ledger().PeakConnections("p1", first + n, first + n + 1) > 0) ++n;
  return n;
}

}  // namespace

TEST_CASE("bytes per terminal: a terminal on the delta's base books the delta's bytes, another the full image") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb, NoGuard());
    SetUp(h, {"ON_BASE", "OTHER"});
    Schedule(h);
    const v1::Assignment on_base = Report(h, "ON_BASE", "2.0.0");
    // 100 bytes at 2 kbit/s = 400 ms = 40 buckets; the full image 16,000.
    CHECK(HeldBuckets(h, on_base) == 40);
    const v1::Assignment other = Report(h, "OTHER", "1.0.0");
    const std::int64_t from = on_base.start_at_ms() / kBucket;
    const std::int64_t other_from = other.start_at_ms() / kBucket;
    REQUIRE(other_from >= from + 1);
    CHECK(h.svc().ledger().PeakConnections("p1", other_from + 15'999, other_from + 16'000) == 1);
    CHECK(h.svc().ledger().PeakConnections("p1", other_from + 16'000, other_from + 20'000) == 0);
    // A restart rebuilds the same reservations from the stored records.
    std::vector<std::uint32_t> held;
    for (std::int64_t b = from; b < other_from + 16'100; ++b) held.push_back(h.svc().ledger().PeakConnections("p1", b, b + 1));
    h.Reopen();
    std::vector<std::uint32_t> rebuilt;
    for (std::int64_t b = from; b < other_from + 16'100; ++b) {
      rebuilt.push_back(h.svc().ledger().PeakConnections("p1", b, b + 1));
    }
    CHECK(rebuilt == held);
    CHECK(held[39] >= 1);
    CHECK(held[static_cast<std::size_t>(other_from - from) + 100] == 1);  // ON_BASE's 40 buckets are over
  }
}

TEST_CASE("bytes per terminal: windows count the delta's bytes of the members known to run its base") {
  Harness h(false, NoGuard());
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back("B" + std::to_string(i));
  SetUp(h, ids);
  // 8 full images over 8 kbit/s: 320 s, 160 slots at least.
  CHECK(Windows(h).slots_used() >= 160);
  // Once they say (an inventory report) they run the delta's base: 8 x 100
  // bytes, 0.8 s; the count bound (8 starts / 4 per slot) is 2 slots.
  for (const auto& id : ids) {
    v1::Report inventory = ReportFor("", 48.9, 2.4);
    inventory.set_current_version("2.0.0");
    REQUIRE(h.svc().HandleReport(id, inventory).has_ack());
  }
  const v1::Window w = Windows(h);
  CHECK(w.slots_used() <= 3);
  v1::OperatorRequest q;
  q.mutable_query_windows()->set_campaign_id("c1");
  CHECK(h.Op(q).windows().lower_bound_slots() == 2);
}

TEST_CASE("link rates: reported beats learned beats the link kind's assumption beats the default") {
  v1::TerminalComponents link;
  CHECK(LinkRateOf(nullptr, 1'000'000) == 1'000'000u);
  CHECK(LinkRateOf(&link, 1'000'000) == 1'000'000u);
  link.set_link_kind(v1::GPRS);
  CHECK(LinkRateOf(&link, 1'000'000) == 40'000u);
  link.set_learned_link_bps(64'000);
  CHECK(LinkRateOf(&link, 1'000'000) == 64'000u);
  link.set_link_bps(3'000'000);
  CHECK(LinkRateOf(&link, 1'000'000) == 3'000'000u);
  // What a measurement implies, and what it says too little for.
  CHECK(MeasuredRate(1'000'000, 2'000, 0) == 4'000'000u);
  CHECK(MeasuredRate(1'000'000, 999, 0) == 0u);             // under a second: latency
  CHECK(MeasuredRate(kMinLearnBytes - 1, 10'000, 0) == 0u);  // too few bytes
  CHECK(MeasuredRate(1'000'000, 2'000, 999'999) == 0u);     // more than the campaign's file could be
  CHECK(MeasuredRate(kMaxDownloadBytes, 1'000, 0) == kMaxLinkBps);
  CHECK(MeasuredRate(kMinLearnBytes, kMaxDownloadMs, 0) == kMinLearnedBps);
  CHECK(BlendLearnedRate(0, 40'000) == 40'000u);
  CHECK(BlendLearnedRate(40'000, 80'000) == 60'000u);
  CHECK(BlendLearnedRate(kMaxLinkBps, kMaxLinkBps) == kMaxLinkBps);
}

TEST_CASE("link rates: the scheduler learns a terminal's rate from its statuses, keeps it, and books by it") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    // 80 kbit/s over 4 connections: a fair share of 20 kbit/s.
    Harness h(rocksdb, NoGuard());
    SetUp(h, {"SLOW"}, 80'000, 4, kBigBytes);
    Schedule(h);
    const v1::Assignment first = Report(h, "SLOW", "1.0.0");
    // The default link (1 Mbit/s) is capped by the share: 100,000 bytes = 40 s.
    CHECK(HeldBuckets(h, first) == 4'000);
    // Its download took 100 s for 100,000 bytes: 8 kbit/s, under the share.
    v1::Status failed;
    failed.set_campaign_id("c1");
    failed.set_state(v1::Status::FAILED);
    failed.set_version("1.0.0");
    failed.set_download_bytes(kBigBytes);
    failed.set_download_ms(100'000);
    REQUIRE(Status(h, "SLOW", failed).has_ack());
    // Stored with the terminal: a restart and a report without link fields
    // keep it; its retry is booked at 8 kbit/s: 100 s = 10,000 buckets.
    h.Reopen();
    h.clock().Set(h.clock().NowMs() + 100 * kSlotMs);
    const v1::Assignment retry = Report(h, "SLOW", "1.0.0");
    CHECK(HeldBuckets(h, retry) == 10'000);
    // A second measurement (80 kbit/s, over the share) moves it halfway:
    // 44 kbit/s, capped by the share at 20 kbit/s: 40 s again.
    failed.set_download_ms(10'000);
    REQUIRE(Status(h, "SLOW", failed).has_ack());
    h.clock().Set(h.clock().NowMs() + 100 * kSlotMs);
    CHECK(HeldBuckets(h, Report(h, "SLOW", "1.0.0")) == 4'000);
  }
}

TEST_CASE("link rates: measurements it could not have made teach nothing, and out-of-bound ones are refused") {
  Harness h(false, NoGuard());
  SetUp(h, {"FAST"}, 80'000, 4, kBigBytes);
  Schedule(h);
  v1::Status bogus;
  bogus.set_campaign_id("c1");
  bogus.set_state(v1::Status::DOWNLOADING);
  bogus.set_download_bytes(3 * kBigBytes);  // more than twice the image
  bogus.set_download_ms(100'000);
  CHECK(Status(h, "FAST", bogus).has_ack());
  bogus.set_download_bytes(kBigBytes);  // under a second: latency
  bogus.set_download_ms(999);
  CHECK(Status(h, "FAST", bogus).has_ack());
  v1::Status refused = bogus;
  refused.set_download_ms(kMaxDownloadMs + 1);
  CHECK(Status(h, "FAST", refused).error().code() == v1::INVALID_ARGUMENT);
  refused.set_download_ms(40'000);
  refused.set_download_bytes(kMaxDownloadBytes + 1);
  CHECK(Status(h, "FAST", refused).error().code() == v1::INVALID_ARGUMENT);
  CHECK(HeldBuckets(h, Report(h, "FAST", "1.0.0")) == 4'000);  // still the default, capped by the share
}

TEST_CASE("link rates: a reported link_kind or link_bps beats the default, and v1 terminals get the default") {
  struct Case {
    const char* what;
    v1::LinkKind kind;
    std::uint64_t bps;
    std::int64_t buckets;  // 40,000 bytes at the rate, in 10 ms buckets
  };
  for (const Case& c : {Case{"v1", v1::LINK_KIND_UNSPECIFIED, 0, 32}, Case{"gprs", v1::GPRS, 0, 800},
                        Case{"measured", v1::GPRS, 100'000, 320}}) {
    CAPTURE(c.what);
    Harness h(false, NoGuard());
    SetUp(h, {"T"}, 8'000'000, 4);  // a fair share of 2 Mbit/s
    Schedule(h);
    v1::Report r = ReportFor("c1", 48.9, 2.4);
    r.set_target_version("2.1.0");
    r.set_link_kind(c.kind);
    r.set_link_bps(c.bps);
    const auto reply = h.svc().HandleReport("T", r);
    REQUIRE(reply.has_assignment());
    CHECK(HeldBuckets(h, reply.assignment()) == c.buckets);
  }
}

TEST_CASE("bytes per terminal: each reservation holds a guard past its expected end") {
  Harness h(false);  // the default guard: 250 ms + 1%
  SetUp(h, {"ON_BASE"});
  Schedule(h);
  const v1::Assignment a = Report(h, "ON_BASE", "2.0.0");
  // 400 ms + 4 ms + 250 ms = 654 ms: 66 buckets of 10 ms (65 or 66 by where it starts).
  const std::int64_t held = HeldBuckets(h, a);
  CHECK(held >= 65);
  CHECK(held <= 66);
}

}  // namespace slotwise::scheduler::testing

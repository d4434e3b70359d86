// Edge checks on terminal messages: payload validation, token buckets and
// flood detection, the stats JSON and the rejection reply
// (broker-plugin/include/slotwise/broker/{validate,rate_limit,stats,stamp}.h).
#include <doctest/doctest.h>

#include <string>

#include "slotwise/broker/rate_limit.h"
#include "slotwise/broker/stamp.h"
#include "slotwise/broker/stats.h"
#include "slotwise/broker/validate.h"
#include "slotwise/v1/terminal.pb.h"

using namespace slotwise;
using namespace slotwise::broker;

namespace {

Reject Check(topics::Leaf leaf, const std::string& payload, std::size_t max = 8192) {
  return ValidateUpstream(leaf, payload.data(), payload.size(), max);
}

}  // namespace

TEST_CASE("validate: well-formed upstream messages pass") {
  v1::Report report;
  report.set_campaign_id("c1");
  report.set_current_version("1.0.0");
  report.mutable_location()->set_lat(48.8);
  report.mutable_location()->set_lon(2.35);
  CHECK(Check(topics::Leaf::kReport, report.SerializeAsString()) == Reject::kNone);
  CHECK(Check(topics::Leaf::kReport, "") == Reject::kNone);  // inventory report, all defaults
  v1::Check check;
  check.set_campaign_id("c1");
  check.set_slot(123);
  CHECK(Check(topics::Leaf::kCheck, check.SerializeAsString()) == Reject::kNone);
  v1::Status status;
  status.set_state(v1::Status::SUCCEEDED);
  status.set_progress_percent(100);
  CHECK(Check(topics::Leaf::kStatus, status.SerializeAsString()) == Reject::kNone);
  // An unknown enum value is tolerated (forward compatibility).
  status.set_state(static_cast<v1::Status::State>(42));
  CHECK(Check(topics::Leaf::kStatus, status.SerializeAsString()) == Reject::kNone);
}

TEST_CASE("validate: each kind of bad input gets its reason") {
  v1::Status over;
  over.set_progress_percent(101);
  v1::Report far;
  far.mutable_location()->set_lat(91);
  v1::Report long_id;
  long_id.set_campaign_id(std::string(kMaxStringField + 1, 'c'));
  v1::Check negative;
  negative.set_slot(-1);
  const std::string bad_utf8 = std::string("\x0a\x02\xc3\x28", 4);  // campaign_id = C3 28
  struct Case {
    topics::Leaf leaf;
    std::string payload;
    Reject expected;
  };
  const Case cases[] = {
      {topics::Leaf::kReport, "not protobuf at all", Reject::kMalformed},
      {topics::Leaf::kReport, std::string("\x0a\x05" "ab", 4), Reject::kMalformed},  // truncated
      {topics::Leaf::kReport, bad_utf8, Reject::kMalformed},
      {topics::Leaf::kReport, far.SerializeAsString(), Reject::kMalformed},
      {topics::Leaf::kReport, long_id.SerializeAsString(), Reject::kMalformed},
      {topics::Leaf::kStatus, over.SerializeAsString(), Reject::kMalformed},
      {topics::Leaf::kCheck, negative.SerializeAsString(), Reject::kMalformed},
      {topics::Leaf::kCheck, std::string(9000, '\0'), Reject::kTooLarge},
      {topics::Leaf::kNotice, "", Reject::kNotAuthorized},
      {topics::Leaf::kReply, "", Reject::kNotAuthorized},
  };
  for (const Case& c : cases) {
    CAPTURE(c.payload.size());
    CHECK(Check(c.leaf, c.payload) == c.expected);
  }
  CHECK(ReasonCode(Reject::kMalformed) == 0x99);
  CHECK(ReasonCode(Reject::kTooLarge) == 0x95);
  CHECK(ReasonCode(Reject::kNotAuthorized) == 0x87);
  CHECK(ReasonCode(Reject::kRateLimited) == 0x96);
}

TEST_CASE("validate: the size limit is inclusive") {
  v1::Status status;
  status.set_detail(std::string(100, 'd'));
  const std::string payload = status.SerializeAsString();
  CHECK(Check(topics::Leaf::kStatus, payload, payload.size()) == Reject::kNone);
  CHECK(Check(topics::Leaf::kStatus, payload, payload.size() - 1) == Reject::kTooLarge);
}

TEST_CASE("rate limit: burst, refill, per terminal") {
  RateLimiter limiter({/*per_second=*/2.0, /*burst=*/3, /*flood_after=*/0, 10'000});
  TimeMs t = 1'000'000;
  for (int i = 0; i < 3; ++i) CHECK(limiter.Admit("A", t) == RateDecision::kAccept);
  CHECK(limiter.Admit("A", t) == RateDecision::kLimited);
  CHECK(limiter.Admit("B", t) == RateDecision::kAccept);  // buckets are per terminal
  t += 499;
  CHECK(limiter.Admit("A", t) == RateDecision::kLimited);  // 0.998 token
  t += 1;
  CHECK(limiter.Admit("A", t) == RateDecision::kAccept);  // 1 token after 500 ms at 2/s
  t += 60'000;
  for (int i = 0; i < 3; ++i) CHECK(limiter.Admit("A", t) == RateDecision::kAccept);  // capped
  CHECK(limiter.Admit("A", t) == RateDecision::kLimited);
  // A clock step back neither adds tokens nor breaks anything.
  CHECK(limiter.Admit("A", t - 5'000) == RateDecision::kLimited);
}

TEST_CASE("rate limit: a terminal that keeps flooding is to be disconnected") {
  RateLimiter limiter({1.0, 1, /*flood_after=*/3, /*window=*/1'000});
  TimeMs t = 5'000;
  CHECK(limiter.Admit("F", t) == RateDecision::kAccept);
  CHECK(limiter.Admit("F", t) == RateDecision::kLimited);
  CHECK(limiter.Admit("F", t + 10) == RateDecision::kLimited);
  CHECK(limiter.Admit("F", t + 20) == RateDecision::kDisconnect);
  // Strikes spread over more than a window never add up to a disconnect.
  RateLimiter slow({0.001, 1, 3, 1'000});
  CHECK(slow.Admit("S", 0) == RateDecision::kAccept);
  for (int i = 1; i <= 10; ++i) {
    CHECK(slow.Admit("S", i * 600) == RateDecision::kLimited);
  }
}

TEST_CASE("rate limit: idle buckets are pruned, busy ones kept") {
  RateLimiter limiter({10.0, 2, 5, 1'000});
  CHECK(limiter.Admit("A", 0) == RateDecision::kAccept);
  CHECK(limiter.Admit("B", 0) == RateDecision::kAccept);
  CHECK(limiter.Admit("B", 0) == RateDecision::kAccept);
  CHECK(limiter.Admit("B", 0) == RateDecision::kLimited);
  CHECK(limiter.tracked() == 2);
  limiter.Prune(150);  // A is full again; B has a strike in its window
  CHECK(limiter.tracked() == 1);
  limiter.Prune(2'000);
  CHECK(limiter.tracked() == 0);
}

TEST_CASE("stats: JSON shape") {
  Stats stats;
  stats.auth_refused = 2;
  stats.accepted = 10;
  stats.CountReject(Reject::kMalformed);
  stats.CountReject(Reject::kRateLimited);
  stats.CountReject(Reject::kRateLimited);
  stats.flood_disconnects = 1;
  CHECK(EncodeStatsJson(stats, 7, 1700000000000) ==
        "{\"at_ms\":1700000000000,\"terminals_connected\":7,\"auth_refused\":2,\"accepted\":10,"
        "\"rejected\":{\"payload_format_invalid\":1,\"packet_too_large\":0,\"not_authorized\":0,"
        "\"message_rate_too_high\":2},\"rate_limited\":2,\"flood_disconnects\":1}");
}

TEST_CASE("stamp: a rejection reply names the reason code") {
  v1::TerminalReply reply;
  REQUIRE(reply.ParseFromString(EncodeRejectionReply(Reject::kMalformed)));
  REQUIRE(reply.has_error());
  CHECK(reply.error().code() == v1::MALFORMED);
  CHECK(reply.error().message().rfind("0x99 payload_format_invalid", 0) == 0);
  REQUIRE(reply.ParseFromString(EncodeRejectionReply(Reject::kTooLarge)));
  CHECK(reply.error().message().rfind("0x95 packet_too_large", 0) == 0);
  CHECK(reply.error().code() == v1::INVALID_ARGUMENT);
  REQUIRE(reply.ParseFromString(EncodeRejectionReply(Reject::kNotAuthorized)));
  CHECK(reply.error().code() == v1::UNAUTHENTICATED);
  CHECK(reply.error().message().rfind("0x87 not_authorized", 0) == 0);
  CHECK(std::string(kStampProperty) == "slotwise-terminal");
}

TEST_CASE("validate: link speed and download timing fields pass, within their bounds") {
  v1::Report report;
  report.set_campaign_id("c1");
  report.set_link_kind(v1::GPRS);
  report.set_link_bps(40'000);
  CHECK(Check(topics::Leaf::kReport, report.SerializeAsString()) == Reject::kNone);
  report.set_link_bps(kMaxLinkBps);
  CHECK(Check(topics::Leaf::kReport, report.SerializeAsString()) == Reject::kNone);
  report.set_link_kind(static_cast<v1::LinkKind>(99));  // a newer agent's kind
  CHECK(Check(topics::Leaf::kReport, report.SerializeAsString()) == Reject::kNone);
  report.set_link_bps(kMaxLinkBps + 1);
  CHECK(Check(topics::Leaf::kReport, report.SerializeAsString()) == Reject::kMalformed);
  v1::Status status;
  status.set_state(v1::Status::SUCCEEDED);
  status.set_download_bytes(500'000'000);
  status.set_download_ms(3'600'000);
  CHECK(Check(topics::Leaf::kStatus, status.SerializeAsString()) == Reject::kNone);
  status.set_download_bytes(kMaxDownloadBytes);
  status.set_download_ms(kMaxDownloadMs);
  CHECK(Check(topics::Leaf::kStatus, status.SerializeAsString()) == Reject::kNone);
  status.set_download_bytes(kMaxDownloadBytes + 1);
  CHECK(Check(topics::Leaf::kStatus, status.SerializeAsString()) == Reject::kMalformed);
  status.set_download_bytes(1);
  status.set_download_ms(kMaxDownloadMs + 1);
  CHECK(Check(topics::Leaf::kStatus, status.SerializeAsString()) == Reject::kMalformed);
}

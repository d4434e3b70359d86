#include "slotwise/agent/request_channel.h"

#include <algorithm>

#include "backoff.h"
#include "slotwise/hex.h"

namespace slotwise::agent {

RequestChannel::RequestChannel(std::string_view terminal_id, Settings settings, Transport& transport,
                               const Clock& clock, const Clock& monotonic, std::mt19937_64& rng,
                               const AgentLog& log)
    : terminal_id_(terminal_id),
      reply_topic_(topics::Terminal(terminal_id, topics::Leaf::kReply)),
      settings_(settings),
      transport_(transport),
      clock_(clock),
      monotonic_(monotonic),
      rng_(rng),
      log_(log),
      // Unique across restarts, so a reply to a request of a previous run
      // can never be taken for an answer to this run's.
      correlation_prefix_(HexU64(rng())) {}

void RequestChannel::LinkUp() {
  connected_ = true;
  if (inventory_) Transmit(*inventory_);
  if (phase_) Transmit(*phase_);
}

RequestChannel::Request RequestChannel::NewRequest(topics::Leaf leaf, const google::protobuf::MessageLite& message) {
  return Request{leaf, message.SerializeAsString(), correlation_prefix_ + "-" + std::to_string(++sequence_), 0, 0,
                 0};
}

void RequestChannel::Send(topics::Leaf leaf, const google::protobuf::MessageLite& message) {
  phase_ = NewRequest(leaf, message);
  Transmit(*phase_);
}

std::optional<topics::Leaf> RequestChannel::phase_leaf() const {
  if (!phase_) return std::nullopt;
  return phase_->leaf;
}

void RequestChannel::QueueInventory(const google::protobuf::MessageLite& report) {
  inventory_ = NewRequest(topics::Leaf::kReport, report);
}

RequestChannel::Match RequestChannel::Classify(std::string_view correlation_data) const {
  if (inventory_ && correlation_data == inventory_->correlation_data) return Match::kInventory;
  if (phase_ && correlation_data == phase_->correlation_data) return Match::kPhase;
  return Match::kNone;
}

std::optional<RequestChannel::Sent> RequestChannel::SentOf(Match match) const {
  const std::optional<Request>* request = match == Match::kInventory ? &inventory_
                                          : match == Match::kPhase   ? &phase_
                                                                     : nullptr;
  if (request == nullptr || !*request || (*request)->transmissions == 0) return std::nullopt;
  return Sent{(*request)->first_sent_mono, (*request)->transmissions};
}

void RequestChannel::Notify(topics::Leaf leaf, const google::protobuf::MessageLite& message) {
  if (!connected_) return;  // best effort
  OutboundMessage out;
  out.topic = topics::Terminal(terminal_id_, leaf);
  out.payload = message.SerializeAsString();
  (void)transport_.Publish(out);
}

void RequestChannel::ResendDue(TimeMs now) {
  if (!connected_) return;
  for (auto* request : {&inventory_, &phase_}) {
    if (*request && now >= (*request)->resend_at) {
      log_.Info("no reply to " + std::string(topics::LeafName((*request)->leaf)) + " yet, sending it again");
      Transmit(**request);
    }
  }
}

std::optional<TimeMs> RequestChannel::NextResendAt() const {
  if (!connected_) return std::nullopt;
  std::optional<TimeMs> next;
  for (const auto* request : {&inventory_, &phase_}) {
    if (*request) next = next ? std::min(*next, (*request)->resend_at) : (*request)->resend_at;
  }
  return next;
}

void RequestChannel::Transmit(Request& request) {
  // While disconnected the request waits; LinkUp sends it.
  if (!connected_) return;
  OutboundMessage out;
  out.topic = topics::Terminal(terminal_id_, request.leaf);
  out.payload = request.payload;
  out.response_topic = reply_topic_;
  out.correlation_data = request.correlation_data;
  if (request.transmissions == 0) request.first_sent_mono = monotonic_.NowMs();
  const auto published = transport_.Publish(out);
  ++request.transmissions;
  const auto backoff = Doubled(settings_.reply_timeout, request.transmissions - 1, settings_.max_reply_backoff);
  request.resend_at = clock_.NowMs() + Jitter(backoff, 0.2).count();
  if (!published) log_.Warn(published.error().message);
}

std::chrono::milliseconds RequestChannel::Jitter(std::chrono::milliseconds base, double spread) {
  std::uniform_real_distribution<double> factor(1.0 - spread, 1.0 + spread);
  return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(base.count()) * factor(rng_)));
}

}  // namespace slotwise::agent

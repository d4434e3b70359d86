// The agent's requests to the scheduler (schemas/README.md "Request and
// response"): each carries Response Topic slotwise/v1/t/{tid}/reply and
// Correlation Data unique per request (a random prefix per run + a
// sequence number), and is resent with the same correlation data until a
// reply with it arrives: after reply_timeout, then doubling up to
// max_reply_backoff, each +-20% jitter (AgentOptions, agent.h).
//
// At most two requests are outstanding: the current phase's (a Report, a
// Check or the final Status; a new one replaces it) and the inventory
// report of this connection (a new one replaces it). While the link is down nothing is sent; both go out
// again when it comes up (an unanswered request may have been lost with the
// old connection). Replies are matched by correlation data only: a reply
// with any other (answered late, or twice after a resend) is stale.
//
// Owned by one Agent, used on the agent's thread only; it draws from the
// agent's random generator. Publish never blocks (Transport contract).
#pragma once

#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <google/protobuf/message_lite.h>

#include "slotwise/agent/agent_log.h"
#include "slotwise/agent/transport.h"
#include "slotwise/clock.h"
#include "slotwise/topics.h"

namespace slotwise::agent {

class RequestChannel {
 public:
  struct Settings {
    std::chrono::milliseconds reply_timeout;
    std::chrono::milliseconds max_reply_backoff;
  };
  // Which outstanding request a reply answers.
  enum class Match { kNone, kInventory, kPhase };

  // When a request first went out, on the monotonic clock, and how often.
  struct Sent {
    TimeMs first_mono = 0;
    int transmissions = 0;
  };

  // Draws this run's correlation prefix from `rng`. `clock` times the
  // resends; `monotonic` stamps each transmission (Sent, for the round trip
  // of ServerClock). Every reference must outlive the channel.
  RequestChannel(std::string_view terminal_id, Settings settings, Transport& transport, const Clock& clock,
                 const Clock& monotonic, std::mt19937_64& rng, const AgentLog& log);

  const std::string& reply_topic() const { return reply_topic_; }

  // The link state: while down nothing is sent; LinkUp sends the
  // inventory report and then the phase's request, if outstanding.
  void LinkUp();
  void LinkDown() { connected_ = false; }

  // The current phase's request: replaces any earlier one, sent at once if
  // the link is up.
  void Send(topics::Leaf leaf, const google::protobuf::MessageLite& message);
  // The phase changed: its request, if any, is moot.
  void CancelPhaseRequest() { phase_.reset(); }
  // The leaf of the phase's outstanding request (report, check, status).
  std::optional<topics::Leaf> phase_leaf() const;

  // The inventory report: queued, sent by the next LinkUp.
  void QueueInventory(const google::protobuf::MessageLite& report);
  bool inventory_outstanding() const { return inventory_.has_value(); }
  // Its reply arrived: no more resends.
  void InventoryAnswered() { inventory_.reset(); }

  Match Classify(std::string_view correlation_data) const;
  // The transmissions of the request `match` names (kNone, none yet: nullopt).
  std::optional<Sent> SentOf(Match match) const;

  // A fire-and-forget publish (progress): dropped while the link is down.
  void Notify(topics::Leaf leaf, const google::protobuf::MessageLite& message);

  // Resends every outstanding request whose backoff ran out.
  void ResendDue(TimeMs now);
  // When the next resend is due; nullopt while the link is down or nothing
  // is outstanding.
  std::optional<TimeMs> NextResendAt() const;

 private:
  struct Request {
    topics::Leaf leaf;
    std::string payload;
    std::string correlation_data;  // the same on every resend
    int transmissions = 0;
    TimeMs resend_at = 0;
    TimeMs first_sent_mono = 0;
  };

  Request NewRequest(topics::Leaf leaf, const google::protobuf::MessageLite& message);
  void Transmit(Request& request);
  std::chrono::milliseconds Jitter(std::chrono::milliseconds base, double spread);

  const std::string terminal_id_;
  const std::string reply_topic_;
  const Settings settings_;
  Transport& transport_;
  const Clock& clock_;
  const Clock& monotonic_;
  std::mt19937_64& rng_;
  const AgentLog& log_;
  const std::string correlation_prefix_;
  std::uint64_t sequence_ = 0;
  bool connected_ = false;
  std::optional<Request> phase_;      // the phase's request
  std::optional<Request> inventory_;  // the inventory report, until answered
};

}  // namespace slotwise::agent

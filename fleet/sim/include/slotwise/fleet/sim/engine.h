// The discrete-event engine: virtual time, the terminals' behaviour and the
// network, with a Policy deciding when (and, for Slotwise, where) each
// terminal downloads. The terminals behave the same under every policy:
//
//   arrive (online at the start, or later) -> ready -> the policy sets a due
//   time -> at it the terminal is there (or, once, a no-show: it went away
//   a while before, is back later and ready again) -> the policy starts its
//   download on a node -> the download ends, fails at its drawn failure
//   point, or times out -> on a failure the policy says whether it may
//   retry; it is ready again after a backoff, resuming its bytes (HTTP Range).
//
// Events at the same millisecond run downloads' ends (and timeouts) first,
// then the rest in the order they were scheduled, so a run is a pure
// function of the fleet and the policy. A node's next event is scheduled
// once per millisecond at most: nodes touched by an event are marked and
// scheduled when the clock is about to move on.
//
// Not thread-safe; one Run() per Engine. Engines over the same Fleet may run
// on different threads (the Fleet is only read).
#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include "slotwise/clock.h"
#include "slotwise/fleet/sim/metrics.h"
#include "slotwise/fleet/sim/network.h"
#include "slotwise/fleet/sim/scenario.h"
#include "slotwise/result.h"

namespace slotwise::fleet::sim {

class Engine;

// A pacing policy. The engine calls it from its one thread, always with
// Engine::now() at the event's time.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  // Its knobs as text, for the reader of the table.
  virtual std::string parameters() const = 0;
  // How long before the campaign start its notices go out (Slotwise: one
  // slot, so terminals can report before the first slot). Default: 0.
  virtual std::int64_t LeadMs() const { return 0; }
  // Called once, at the start minus LeadMs(), before any terminal is ready.
  virtual Status Begin(Engine& engine) = 0;
  // The terminal is online and needs the upgrade: it arrived, came back
  // after an absence, or may retry after a failed attempt.
  virtual void OnReady(Engine& engine, TerminalIndex t) = 0;
  // The time set with Engine::DueAt() has come and the terminal is there:
  // start its download (Engine::StartDownload) or set a new due time.
  virtual void OnDue(Engine& engine, TerminalIndex t) = 0;
  // The terminal was not there when due; it will be ready again later.
  virtual void OnAbsent(Engine& engine, TerminalIndex t) = 0;
  // An attempt ended; on a failure, returns whether the terminal may retry.
  virtual bool OnOutcome(Engine& engine, TerminalIndex t, bool succeeded) = 0;
  // A wake-up asked for with Engine::WakeAt().
  virtual void OnTimer(Engine& /*engine*/) {}
  // Adds what only this policy knows (e.g. the capacity calendar).
  virtual void Finish(RunResult& /*result*/) const {}
};

class Engine {
 public:
  // `bucket_ms`: the load timeline's resolution.
  Engine(const Fleet& fleet, Policy& policy, std::int64_t bucket_ms);

  // Runs the campaign until every terminal has the upgrade or gave up, or
  // the horizon passes. An error when the policy failed (Fail()).
  Result<RunResult> Run();

  // ---- for policies ----
  TimeMs now() const { return clock_.NowMs(); }
  const Clock& clock() const { return clock_; }
  // The campaign start: a slot boundary; arrivals count from it.
  TimeMs start() const { return start_; }
  // The terminal is to start at `at`; replaces an earlier due time. When
  // that is now (or earlier) and the terminal cannot be away, the policy's
  // OnDue() runs at once, inside this call.
  void DueAt(TerminalIndex t, TimeMs at);
  // Starts the terminal's download on `node` now. Only from OnDue().
  void StartDownload(TerminalIndex t, NodeIndex node);
  void WakeAt(TimeMs at);
  // Attempts the terminal has made so far (started downloads).
  std::uint32_t Attempts(TerminalIndex t) const { return terminals_[t].attempts; }
  // Whether a terminal whose attempt failed has retries left.
  bool RetriesLeft(TerminalIndex t) const;
  // Stops the run with an error (the policy met something it cannot handle).
  void Fail(std::string message);

 private:
  enum class Kind : std::uint8_t { kNode, kArrive, kAway, kDue, kReady, kTimer };
  // 24 bytes, so the queue's heap stays cache-friendly with millions of
  // events. Order: time, then node events first, then the order pushed.
  struct Event {
    std::uint64_t time_rank;  // (at - origin_) << 1 | (0 for node events, 1 else)
    std::uint64_t seq_kind;   // push order << 8 | Kind
    std::uint32_t subject;    // terminal or node
    std::uint32_t tag;        // due tag or node version
    bool operator>(const Event& o) const {
      return time_rank != o.time_rank ? time_rank > o.time_rank : seq_kind > o.seq_kind;
    }
  };
  enum class Phase : std::uint8_t { kAway, kWaiting, kDownloading, kDone, kGaveUp };
  struct TerminalState {
    Phase phase = Phase::kAway;
    bool absent_once = false;
    std::uint32_t attempts = 0;
    std::uint32_t due_tag = 0;
    double bytes_done = 0;
    TimeMs ready_at = -1;  // first time it was ready (from the start on)
  };

  void Push(TimeMs at, Kind kind, std::uint32_t subject, std::uint32_t tag);
  TimeMs TimeOf(const Event& e) const { return origin_ + static_cast<TimeMs>(e.time_rank >> 1); }
  static Kind KindOf(const Event& e) { return static_cast<Kind>(e.seq_kind & 0xff); }
  void Dispatch(const Event& e);
  void Touch(NodeIndex node);
  void ScheduleTouchedNodes();
  void Ended(TerminalIndex t, Network::Outcome outcome, double bytes);
  void Settle(TerminalIndex t, Phase phase);
  RunResult Collect(double wall_s);

  const Fleet& fleet_;
  Policy& policy_;
  FakeClock clock_;
  TimeMs origin_;  // the first event's time: event times count from it
  TimeMs start_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::uint64_t seq_ = 0;
  std::vector<TerminalState> terminals_;
  std::vector<std::uint32_t> node_version_;
  std::vector<TimeMs> node_next_;      // time of the node's pending event; -1 = none
  std::vector<NodeIndex> touched_;
  std::vector<bool> is_touched_;
  Network network_;
  LoadTimeline load_;
  LoadTimeline rate_;
  double peak_ratio_ = 0;
  double peak_rate_ratio_ = 0;
  double peak_connection_ratio_ = 0;
  std::vector<TimeMs> first_start_;
  std::vector<TimeMs> upgraded_at_;
  std::vector<std::uint32_t> starts_per_minute_;
  std::uint64_t settled_ = 0;
  std::uint64_t upgraded_ = 0;
  std::uint64_t upgraded_nearest_ = 0;
  std::uint64_t failed_attempts_ = 0;
  std::uint64_t timeouts_ = 0;
  TimeMs last_upgrade_ = 0;
  std::string error_;
};

// A campaign start on a slot boundary, the same for every run.
TimeMs CampaignStart(const Scenario& scenario);

}  // namespace slotwise::fleet::sim

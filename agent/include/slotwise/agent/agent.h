// Agent: the terminal side of the patent's S6-S11 for one terminal.
//
// Every time it connects it sends an inventory Report (no campaign:
// location, system id, installed version) so the scheduler knows the
// terminal before any campaign is planned (S3 needs its location); the
// scheduler's Ack lists the notices the terminal should hold, which are
// taken exactly as retained notices (a terminal that lost its state gets
// back into its campaigns). Slot times are judged on the scheduler's clock,
// learned from the replies (server_clock.h), never on the terminal's own.
// It reacts to the retained notice (S6) with a Report (S7), keeps the
// assignment it gets back (S8), waits with the MQTT connection up until the
// assignment's start_at_ms (S9), sends the Check (S10), downloads from the
// assigned node and verifies size and SHA-256 (S11), runs the install hook,
// records the new version and reports the outcome until it is acknowledged.
// Requests use MQTT v5 response topic + correlation data and are resent with
// backoff until answered. The legal moves are in state_machine.h; every
// phase is saved (StateStore) before its action runs, so a restart resumes.
//
// All outside I/O is injected (AgentIo), and there are no globals: a fleet
// simulator may run thousands of Agents in one process, each on its own
// thread, sharing one Paho callback thread.
//
// Where each step lives (agent/src/): agent.cpp the loop, the link, timers,
// transitions and outgoing messages; state_machine.cpp the transition table;
// notice.cpp S6; replies.cpp what each reply does (S8 assignment, S10 check
// result, final ack, refusals); request_channel.cpp correlation and resends;
// reconnect_policy.cpp backoff and spread; download_step.cpp and
// install_step.cpp S11; artifact.cpp the manifest check and file names.
//
// Threading: Start, Step and Run are called from one thread only, the
// agent's thread; downloads and installs run there and block only this
// agent. The TransportListener methods and RequestStop may be called from
// any thread: they queue the event, wake the agent thread and return.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "slotwise/agent/agent_log.h"
#include "slotwise/agent/config.h"
#include "slotwise/agent/downloader.h"
#include "slotwise/agent/installer.h"
#include "slotwise/agent/reconnect_policy.h"
#include "slotwise/agent/request_channel.h"
#include "slotwise/agent/server_clock.h"
#include "slotwise/agent/state_machine.h"
#include "slotwise/agent/state_store.h"
#include "slotwise/agent/transport.h"
#include "slotwise/clock.h"
#include "slotwise/result.h"
#include "slotwise/topics.h"
#include "slotwise/v1/terminal.pb.h"

namespace slotwise::agent {

// Tuning that is not in the config file. Defaults suit a real terminal.
struct AgentOptions {
  // Exit Run() once the agent is IDLE with a campaign behind it: a final
  // status acknowledged in this run, or (after a restart) a finished
  // campaign on record and nothing new from the broker by the time the
  // inventory report is answered (retained and queued notices arrive
  // before that answer). Default: false (run until RequestStop).
  bool exit_when_idle = false;
  // First resend of an unanswered request; doubles per attempt up to
  // max_reply_backoff, with +-20% jitter. Default: 5 s, 60 s.
  std::chrono::milliseconds reply_timeout{5000};
  std::chrono::milliseconds max_reply_backoff{60'000};
  // Reconnect delay after a lost or failed connection: full jitter, a
  // random delay in [reconnect_floor, ceiling] where the ceiling doubles
  // from min to max; it starts again from min only after a connection
  // stayed up for reconnect_max. Default: 1 s, 60 s, 100 ms.
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{60'000};
  std::chrono::milliseconds reconnect_floor{100};
  // The first reconnect after losing an established connection, with the
  // backoff at its start, is drawn from [reconnect_floor, reconnect_spread]
  // instead: a broker restart drops the whole fleet at one instant, and
  // this window, not reconnect_min, is what spreads its return (a fleet of
  // N sees about N / spread connects per second). Further attempts follow
  // the doubling ceiling above. Default: 60 s (an upgrade agent can wait a
  // minute; a broker should not take a fleet's return in a few seconds).
  std::chrono::milliseconds reconnect_spread{60'000};
  // false reproduces Paho's built-in automatic reconnect, as a baseline for
  // measuring a reconnect storm: no spread, no jitter, the n-th delay is
  // exactly min(reconnect_min * 2^(n-1), reconnect_max). Default: true.
  bool reconnect_jitter = true;
  // Between fetch attempts of one download: full jitter, a random delay
  // in [0, min(max, min * 2^attempt)]. Default: 1 s, 60 s.
  std::chrono::milliseconds download_retry_min{1000};
  std::chrono::milliseconds download_retry_max{60'000};
  // A check sent again before a new start time is reached (TOO_EARLY or
  // RESCHEDULED with a start time already past on the scheduler's clock, a
  // slot that ended before the download started, a refused URL) waits a
  // random delay in [min, min(max, min * 2^(n-1))] (full jitter, n = such
  // checks in a row). Default: 1 s, 60 s.
  std::chrono::milliseconds min_recheck_delay{1000};
  std::chrono::milliseconds max_recheck_delay{60'000};
  // finished_campaigns keeps only the newest this many. Default: 64.
  std::size_t max_finished_campaigns = 64;
  // Longest the agent thread sleeps between looks at the clock (guards
  // against wall-clock jumps). Default: 1 s.
  std::chrono::milliseconds max_sleep{1000};
  // Receives every log line of this agent, "agent <tid>: <line>", one per
  // call, no trailing newline, whatever the level (agent_log.h). Default:
  // none, the lines go to the core leveled sink (slotwise/log.h, stderr).
  std::function<void(std::string_view line)> log;
  // Called after each transition is saved (for tests and simulators).
  // Default: none.
  std::function<void(Phase from, Phase to, Event event)> on_transition;
  // Seeds correlation ids and jitter. Default: 0 = from std::random_device.
  std::uint64_t random_seed = 0;
};

// The agent's outside world. Every reference must outlive the Agent.
struct AgentIo {
  const Clock& clock;
  Transport& transport;
  Downloader& downloader;
  Installer& installer;
  StateStore& store;
  // Is a payment in progress? Default (nullptr): the config's busy_file /
  // busy_command (ShellBusyCheck).
  BusyCheck* busy = nullptr;
  // A clock that never jumps (steady): times the round trips that learn the
  // scheduler's clock, and runs that clock between replies (server_clock.h).
  // Default (nullptr): `clock` (right for a fake or virtual clock; the
  // program passes a steady clock).
  const Clock* monotonic = nullptr;
};

class Agent final : public TransportListener {
 public:
  Agent(AgentConfig config, AgentIo io, AgentOptions options = {});
  ~Agent() override;
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Loads the saved state and the installed version, resumes the saved
  // phase and starts connecting. Errors: the version file is unreadable,
  // the state cannot be read or saved.
  slotwise::Status Start();
  // Handles every queued event, then every timer that is due, then any
  // download or install that became due. Never sleeps.
  void Step();
  // When the next timer is due; nullopt when only an event can wake it.
  std::optional<TimeMs> NextWakeMs() const;
  // True once Run() should return: stop requested, fatal error, or
  // exit_when_idle and done.
  bool Done() const;
  // The error that stopped the agent (a state save failed), if any.
  const std::optional<Error>& fatal_error() const { return fatal_; }
  // Start, then Step and sleep until Done, then disconnect cleanly.
  // Returns the fatal error if there was one.
  slotwise::Status Run();

  // Any thread.
  void RequestStop();
  bool HasQueuedEvents() const;

  const v1::AgentState& state() const { return state_; }
  Phase phase() const { return state_.phase(); }
  // The system image's installed version.
  const std::string& current_version() const { return current_version_; }
  // A component's installed version ("" or "system": the system image's;
  // "" for a component this terminal does not have).
  const std::string& component_version(std::string_view component) const { return VersionOf(component); }
  // The scheduler's clock now, as learned from its replies (the local wall
  // clock until the first stamped reply).
  TimeMs ServerNowMs() const;
  // The earliest the scheduler's clock can be now (start times are judged on it).
  TimeMs ServerEarliestMs() const;
  // The latest the scheduler's clock can be now (a slot's end is judged on it).
  TimeMs ServerLatestMs() const;
  const AgentConfig& config() const { return config_; }

  // TransportListener: any thread, never blocks.
  void OnConnected(bool session_present) override;
  void OnConnectFailed(std::string reason) override;
  void OnConnectionLost(std::string cause) override;
  void OnMessage(InboundMessage message) override;

 private:
  struct Connected { bool session_present; };
  struct ConnectFailed { std::string reason; };
  struct ConnectionLost { std::string cause; };
  using QueuedEvent = std::variant<Connected, ConnectFailed, ConnectionLost, InboundMessage>;

  enum class Link { kDisconnected, kConnecting, kConnected };
  // Long-running actions, run by Step after the phase that needs them is saved.
  enum class Work { kDownload, kInstall };

  // agent.cpp: the loop, the link, timers, transitions, outgoing messages.
  void Enqueue(QueuedEvent event);
  void Handle(QueuedEvent& event);
  void HandleConnected(bool session_present);
  void HandleLinkDown(std::string_view why);
  void RunTimers();
  // The one path through which the phase changes: looks the move up in the
  // transition table, applies `update` to a copy of the state, saves it and
  // only then commits it and runs the new phase's entry action.
  bool Fire(Event event, const std::function<void(v1::AgentState&)>& update = {});
  // A change that is not a move (a pending job kept or dropped): saved, then committed.
  bool SaveState(const std::function<void(v1::AgentState&)>& update);
  void Enter(Phase phase);
  // A Report with what every report carries: version, location, system, time zone.
  v1::Report BaseReport() const;
  void SendProgress(v1::Status::State state, std::uint32_t percent);
  void Fail(Event event, std::string detail);
  v1::Status FinalStatus(v1::Status::State state, std::string version, std::string detail) const;
  bool IsFinished(std::string_view campaign_id) const;
  // Runs the download or install step (download_step.h, install_step.h) and
  // turns its outcome into a transition.
  void RunWork(Work work);
  bool IsBusy();
  void Retry(std::string detail, std::chrono::milliseconds delay, std::uint32_t attempts, bool verify_failed);
  void Recheck(std::string detail);
  void WindowMissed(std::string detail);
  // The wall-clock time (io_.clock) at which the scheduler's clock surely reaches `server_ms`.
  TimeMs LocalTimeOf(TimeMs server_ms) const;
  // Full-jitter backoff for the n-th check in a row sent before a new start time.
  std::chrono::milliseconds RecheckDelay(std::uint32_t n);
  void SendCheck();
  // The time stamp of a reply to the request `match` names.
  void LearnServerTime(const v1::TerminalReply& reply, RequestChannel::Match match);

  // notice.cpp: S6, a notice arrives.
  void HandleNotice(const InboundMessage& message);
  void StartNotice(const v1::Notice& notice);
  void StartPendingJob(int index);
  // The version the current job's component runs now ("" = the system image's).
  const std::string& JobVersion() const;
  const std::string& VersionOf(std::string_view component) const;

  // replies.cpp: S8 (assignment), S10 (check result), the final status's
  // acknowledgement, and refusals.
  void HandleReply(const InboundMessage& message);
  void HandleAssignmentReply(const v1::TerminalReply& reply);
  void HandleCheckReply(const v1::TerminalReply& reply);
  void HandleStatusReply(const v1::TerminalReply& reply);
  void HandleErrorReply(topics::Leaf leaf, const v1::Error& error);
  void HandleInventoryReply(const v1::TerminalReply& reply);

  const AgentConfig config_;
  const AgentIo io_;
  const AgentOptions options_;
  const AgentLog log_;
  const std::string notice_topic_;
  const Clock& monotonic_;

  // Owned by the agent thread. rng_ comes before the collaborators that
  // draw from it.
  std::mt19937_64 rng_;
  RequestChannel requests_;
  ReconnectPolicy reconnect_;
  v1::AgentState state_;
  std::string current_version_;
  // The installed version of each component besides the system image.
  std::map<std::string, std::string, std::less<>> component_versions_;
  std::set<std::string> unknown_component_campaigns_;  // warned about once
  bool inventory_acked_ = false;
  std::optional<Work> work_;
  TimeMs work_at_ = 0;       // work_ runs no earlier than this
  TimeMs next_work_at_ = 0;  // handed to the next Enter (retry backoff)
  bool busy_logged_ = false;
  std::string public_key_pem_;
  std::unique_ptr<BusyCheck> own_busy_;
  Link link_ = Link::kDisconnected;
  std::optional<TimeMs> reconnect_at_;
  TimeMs earliest_check_ms_ = 0;  // wall clock; WAITING checks no earlier
  ServerClock server_clock_;
  std::uint32_t early_checks_ = 0;  // checks in a row answered with a start already past
  TimeMs next_check_at_ = 0;        // handed to the next Enter(CHECKING) (recheck backoff)
  TimeMs check_at_ = 0;             // CHECKING: the check goes out then (wall clock)
  bool check_waiting_ = false;
  bool deferred_busy_ = false;      // this DOWNLOADING waited for a busy terminal
  bool finished_a_campaign_ = false;
  std::optional<Error> fatal_;

  // Shared with other threads.
  mutable std::mutex queue_mutex_;
  std::condition_variable wake_;
  std::vector<QueuedEvent> queue_;
  std::stop_source stop_;
};

}  // namespace slotwise::agent

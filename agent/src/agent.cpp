// The agent's loop: queued events, the MQTT link, timers, the one path
// through which the phase changes (Fire/Enter) and what each phase sends.
// What a notice does is in notice.cpp, what each reply does in replies.cpp,
// the S11 steps in download_step.cpp and install_step.cpp (see agent.h).
#include "slotwise/agent/agent.h"

#include <algorithm>
#include <ctime>
#include <utility>

#include "backoff.h"
#include "download_step.h"
#include "install_step.h"
#include "slotwise/agent/jobs.h"
#include "slotwise/agent/atomic_file.h"
#include "slotwise/signature.h"

namespace slotwise::agent {
namespace {

using v1::AgentState;

std::uint64_t SeedFrom(std::uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

Agent::Agent(AgentConfig config, AgentIo io, AgentOptions options)
    : config_(std::move(config)),
      io_(io),
      options_(std::move(options)),
      log_(config_.terminal_id, options_.log),
      notice_topic_(topics::Terminal(config_.terminal_id, topics::Leaf::kNotice)),
      monotonic_(io_.monotonic != nullptr ? *io_.monotonic : io_.clock),
      rng_(SeedFrom(options_.random_seed)),
      requests_(config_.terminal_id, {options_.reply_timeout, options_.max_reply_backoff}, io_.transport,
                io_.clock, monotonic_, rng_, log_),
      reconnect_({options_.reconnect_min, options_.reconnect_max, options_.reconnect_floor,
                  options_.reconnect_spread, options_.reconnect_jitter},
                 rng_) {
  if (io_.busy == nullptr) own_busy_ = std::make_unique<ShellBusyCheck>(config_.busy_file, config_.busy_command);
  state_.set_phase(AgentState::IDLE);
}

Agent::~Agent() { io_.transport.SetListener(nullptr); }

// ---------------------------------------------------------------------------
// Threads other than the agent's

void Agent::RequestStop() {
  stop_.request_stop();
  { std::lock_guard lock(queue_mutex_); }  // no lost wake-up between check and wait
  wake_.notify_all();
}

bool Agent::HasQueuedEvents() const {
  std::lock_guard lock(queue_mutex_);
  return !queue_.empty();
}

void Agent::Enqueue(QueuedEvent event) {
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(std::move(event));
  }
  wake_.notify_all();
}

void Agent::OnConnected(bool session_present) { Enqueue(Connected{session_present}); }
void Agent::OnConnectFailed(std::string reason) { Enqueue(ConnectFailed{std::move(reason)}); }
void Agent::OnConnectionLost(std::string cause) { Enqueue(ConnectionLost{std::move(cause)}); }
void Agent::OnMessage(InboundMessage message) { Enqueue(std::move(message)); }

// ---------------------------------------------------------------------------
// Running

slotwise::Status Agent::Start() {
  auto version = ReadVersionFile(config_.version_file);
  if (!version) return version.error();
  current_version_ = std::move(*version);
  for (const ComponentConfig& c : config_.components) {
    auto v = ReadVersionFile(c.version_file);
    if (!v) return MakeError(v.error().code, "component " + c.name + ": " + v.error().message);
    component_versions_[c.name] = std::move(*v);
  }
  if (!config_.public_key_file.empty()) {
    auto pem = ReadWholeFile(config_.public_key_file);
    if (!pem) return MakeError(v1::INVALID_ARGUMENT, "public_key_file: " + pem.error().message);
    if (auto key = CheckEd25519PublicKey(*pem); !key) {
      return MakeError(v1::INVALID_ARGUMENT, "public_key_file " + config_.public_key_file.string() + ": " +
                                                 key.error().message);
    }
    public_key_pem_ = std::move(*pem);
  }

  auto loaded = io_.store.Load();
  if (!loaded) {
    if (loaded.error().code != v1::MALFORMED) return loaded.error();
    log_.Warn("starting with no saved state: " + loaded.error().message);
  } else if (loaded->has_value()) {
    state_ = std::move(**loaded);
  }
  if (state_.phase() == AgentState::PHASE_UNSPECIFIED) state_.set_phase(AgentState::IDLE);
  // Pending jobs of a component no longer in the config cannot be done.
  for (int i = state_.pending_size() - 1; i >= 0; --i) {
    if (!config_.Component(JobComponent(state_.pending(i).notice()))) {
      log_.Warn("dropping campaign " + state_.pending(i).notice().campaign_id() + ": component '" +
                std::string(JobComponent(state_.pending(i).notice())) + "' is no longer in the config");
      state_.mutable_pending()->DeleteSubrange(i, 1);
    }
  }

  io_.transport.SetListener(this);
  Fire(Event::kResumed);
  if (fatal_) return *fatal_;

  link_ = Link::kConnecting;
  if (auto connecting = io_.transport.Connect(); !connecting) HandleLinkDown(connecting.error().message);
  return OkStatus();
}

void Agent::Step() {
  std::vector<QueuedEvent> events;
  {
    std::lock_guard lock(queue_mutex_);
    events.swap(queue_);
  }
  for (QueuedEvent& event : events) {
    if (fatal_) return;
    Handle(event);
  }
  if (fatal_) return;
  RunTimers();
  // A download or install is not started once a stop was asked for; the
  // saved phase makes the next run re-check instead.
  while (work_ && !fatal_ && !stop_.stop_requested() && io_.clock.NowMs() >= work_at_) {
    const Work work = *work_;
    work_.reset();
    RunWork(work);
  }
}

std::optional<TimeMs> Agent::NextWakeMs() const {
  const TimeMs now = io_.clock.NowMs();
  if (work_) return std::max(now, work_at_);
  std::optional<TimeMs> next;
  auto consider = [&](TimeMs t) { next = next ? std::min(*next, t) : t; };
  if (link_ == Link::kDisconnected && reconnect_at_) consider(*reconnect_at_);
  if (const auto resend = requests_.NextResendAt()) consider(*resend);
  if (state_.phase() == AgentState::WAITING) {
    consider(std::max(LocalTimeOf(state_.assignment().start_at_ms()), earliest_check_ms_));
  }
  if (check_waiting_) consider(check_at_);
  return next;
}

bool Agent::Done() const {
  if (stop_.stop_requested() || fatal_) return true;
  if (!options_.exit_when_idle || state_.phase() != AgentState::IDLE) return false;
  return finished_a_campaign_ || (inventory_acked_ && state_.finished_campaigns_size() > 0);
}

slotwise::Status Agent::Run() {
  if (auto started = Start(); !started) return started;
  while (!Done()) {
    Step();
    if (Done()) break;
    std::chrono::milliseconds sleep = options_.max_sleep;
    if (const auto wake_at = NextWakeMs()) {
      const TimeMs until = *wake_at - io_.clock.NowMs();
      sleep = std::clamp(std::chrono::milliseconds(until), std::chrono::milliseconds(0), options_.max_sleep);
    }
    std::unique_lock lock(queue_mutex_);
    wake_.wait_for(lock, sleep, [&] { return !queue_.empty() || stop_.stop_requested(); });
  }
  io_.transport.Disconnect(std::chrono::seconds(2));
  if (fatal_) return *fatal_;
  return OkStatus();
}

void Agent::Handle(QueuedEvent& event) {
  if (auto* connected = std::get_if<Connected>(&event)) {
    HandleConnected(connected->session_present);
  } else if (auto* failed = std::get_if<ConnectFailed>(&event)) {
    HandleLinkDown(failed->reason);
  } else if (auto* lost = std::get_if<ConnectionLost>(&event)) {
    HandleLinkDown(lost->cause);
  } else if (auto* message = std::get_if<InboundMessage>(&event)) {
    if (topics::OwnTerminalLeaf(message->topic, config_.terminal_id) == topics::Leaf::kNotice) {
      HandleNotice(*message);
    } else if (message->topic == requests_.reply_topic()) {
      HandleReply(*message);
    }
  }
}

// ---------------------------------------------------------------------------
// The MQTT link (when to reconnect: reconnect_policy.h)

void Agent::HandleConnected(bool session_present) {
  if (link_ == Link::kConnected) return;
  link_ = Link::kConnected;
  reconnect_.Connected(io_.clock.NowMs());
  reconnect_at_.reset();
  log_.Info(std::string("connected to ") + config_.broker + (session_present ? " (session resumed)" : " (new session)"));
  // On every connect (schemas/README.md): the scheduler learns the terminal
  // before any campaign is planned, and its Ack lists the notices this
  // terminal should hold, so lost state or a lost retained notice costs
  // nothing. A new report replaces an unanswered one (correlation data).
  requests_.QueueInventory(BaseReport());
  requests_.LinkUp();
}

void Agent::HandleLinkDown(std::string_view why) {
  if (link_ == Link::kDisconnected && reconnect_at_) return;  // already scheduled
  const bool was_connected = link_ == Link::kConnected;
  link_ = Link::kDisconnected;
  requests_.LinkDown();
  const TimeMs now = io_.clock.NowMs();
  const ReconnectPolicy::Delay next = reconnect_.Next(now, was_connected);
  reconnect_at_ = now + next.delay.count();
  log_.Warn(std::string(why) + "; reconnecting in " + std::to_string(next.delay.count()) + " ms (" + next.rule +
            ")");
}

// ---------------------------------------------------------------------------
// Timers

void Agent::RunTimers() {
  const TimeMs now = io_.clock.NowMs();
  if (link_ == Link::kDisconnected && reconnect_at_ && now >= *reconnect_at_) {
    reconnect_at_.reset();
    link_ = Link::kConnecting;
    if (auto connecting = io_.transport.Connect(); !connecting) HandleLinkDown(connecting.error().message);
  }
  requests_.ResendDue(now);
  // The start time is on the scheduler's clock, and surely reached there.
  if (state_.phase() == AgentState::WAITING && ServerEarliestMs() >= state_.assignment().start_at_ms() &&
      now >= earliest_check_ms_) {
    Fire(Event::kStartTimeReached);
  }
  if (check_waiting_ && now >= check_at_) {
    check_waiting_ = false;
    SendCheck();
  }
}

// ---------------------------------------------------------------------------
// The scheduler's clock (server_clock.h)

TimeMs Agent::ServerNowMs() const { return server_clock_.Now(monotonic_.NowMs(), io_.clock.NowMs()); }

TimeMs Agent::ServerEarliestMs() const {
  return server_clock_.Earliest(monotonic_.NowMs(), io_.clock.NowMs());
}

TimeMs Agent::ServerLatestMs() const { return server_clock_.Latest(monotonic_.NowMs(), io_.clock.NowMs()); }

TimeMs Agent::LocalTimeOf(TimeMs server_ms) const {
  return server_ms - (ServerEarliestMs() - io_.clock.NowMs());
}

void Agent::LearnServerTime(const v1::TerminalReply& reply, RequestChannel::Match match) {
  if (reply.server_time_ms() <= 0) return;  // a scheduler that sends no time
  const auto sent = requests_.SentOf(match);
  if (!sent) return;
  const bool first = !server_clock_.synced();
  server_clock_.Observe(reply.server_time_ms(), sent->first_mono, monotonic_.NowMs());
  const TimeMs offset = server_clock_.OffsetMs(monotonic_.NowMs(), io_.clock.NowMs());
  if (first || offset > 1000 || offset < -1000) {
    const std::string line = "scheduler clock is " + std::to_string(offset) + " ms off this terminal's (+-" +
                             std::to_string(server_clock_.uncertainty_ms().value_or(0) / 2) + " ms)";
    if (first) {
      log_.Info(line);
    } else {
      log_.Debug(line);
    }
  }
}

std::chrono::milliseconds Agent::RecheckDelay(std::uint32_t n) {
  const auto ceiling =
      Doubled(options_.min_recheck_delay, static_cast<int>(n > 0 ? n - 1 : 0), options_.max_recheck_delay);
  std::uniform_int_distribution<long long> spread(options_.min_recheck_delay.count(),
                                                  std::max(ceiling, options_.min_recheck_delay).count());
  return std::chrono::milliseconds(spread(rng_));
}

void Agent::SendCheck() {
  v1::Check check;
  check.set_campaign_id(state_.notice().campaign_id());
  check.set_current_version(JobVersion());
  check.set_slot(state_.assignment().slot());
  requests_.Send(topics::Leaf::kCheck, check);
}

// ---------------------------------------------------------------------------
// Transitions (the table: state_machine.cpp)

bool Agent::Fire(Event event, const std::function<void(AgentState&)>& update) {
  if (fatal_) return false;
  const Phase from = state_.phase();
  const std::optional<Phase> to = NextPhase(from, event);
  if (!to) {
    log_.Debug("ignoring " + std::string(EventName(event)) + " in " + std::string(PhaseName(from)));
    return false;
  }
  AgentState next = state_;
  if (update) update(next);
  next.set_phase(*to);
  // Saved before acting: after power loss the agent resumes from here.
  if (auto saved = io_.store.Save(next); !saved) {
    fatal_ = saved.error();
    log_.Error("cannot save state, stopping: " + saved.error().message);
    return false;
  }
  state_ = std::move(next);
  if (event == Event::kResumed && from == *to) {
    log_.Info("resuming in " + std::string(PhaseName(from)));
  } else {
    log_.Info(std::string(PhaseName(from)) + " -> " + std::string(PhaseName(*to)));
  }
  if (options_.on_transition) options_.on_transition(from, *to, event);
  Enter(*to);
  return true;
}

void Agent::Enter(Phase phase) {
  // Each phase has at most one outstanding request or job; a new phase
  // makes the old one's moot.
  requests_.CancelPhaseRequest();
  work_.reset();
  work_at_ = std::exchange(next_work_at_, 0);
  check_at_ = std::exchange(next_check_at_, 0);
  check_waiting_ = false;
  busy_logged_ = false;
  deferred_busy_ = false;
  switch (phase) {
    case AgentState::IDLE:
      earliest_check_ms_ = 0;
      early_checks_ = 0;
      if (const auto next = NextPendingJob(state_)) StartPendingJob(*next);
      return;
    case AgentState::NOTIFIED: {  // S7
      v1::Report report = BaseReport();
      report.set_campaign_id(state_.notice().campaign_id());
      report.set_target_version(state_.notice().target_version());
      requests_.Send(topics::Leaf::kReport, report);
      return;
    }
    case AgentState::WAITING:  // S9
      return;  // RunTimers fires kStartTimeReached at start_at_ms
    case AgentState::CHECKING:  // S10, after the recheck backoff if there is one
      if (check_at_ > io_.clock.NowMs()) {
        check_waiting_ = true;
        return;
      }
      SendCheck();
      return;
    case AgentState::DOWNLOADING:  // S11
      work_ = Work::kDownload;
      return;
    case AgentState::INSTALLING:
      work_ = Work::kInstall;
      return;
    case AgentState::REPORTING:
      requests_.Send(topics::Leaf::kStatus, state_.final_status());
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------
// What the agent sends besides requests

v1::Report Agent::BaseReport() const {
  v1::Report report;
  report.set_current_version(current_version_);
  report.mutable_location()->set_lat(config_.location.lat);
  report.mutable_location()->set_lon(config_.location.lon);
  report.set_system_id(config_.system_id);
  report.set_link_kind(config_.link_kind);
  report.set_link_bps(state_.link_bps());
  for (const auto& [name, version] : component_versions_) {
    v1::ComponentVersion* c = report.add_components();
    c->set_component(name);
    c->set_version(version);
  }
  // The terminal's time zone as its clock has it now (so daylight saving is
  // current): campaigns with allowed hours count in terminal local time.
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  if (localtime_r(&now, &local)) report.set_utc_offset_minutes(static_cast<std::int32_t>(local.tm_gmtoff / 60));
  return report;
}

void Agent::SendProgress(v1::Status::State state, std::uint32_t percent) {
  v1::Status status;
  status.set_campaign_id(state_.notice().campaign_id());
  status.set_state(state);
  status.set_version(JobVersion());
  status.set_progress_percent(percent);
  requests_.Notify(topics::Leaf::kStatus, status);
}

v1::Status Agent::FinalStatus(v1::Status::State state, std::string version, std::string detail) const {
  v1::Status status;
  status.set_campaign_id(state_.notice().campaign_id());
  status.set_state(state);
  status.set_version(std::move(version));
  status.set_progress_percent(100);
  status.set_detail(std::move(detail));
  // What this job's download measured, so the scheduler learns the link.
  status.set_download_bytes(state_.download_bytes());
  status.set_download_ms(state_.download_ms());
  return status;
}

void Agent::Fail(Event event, std::string detail) {
  log_.Warn(detail);
  Fire(event, [&](AgentState& s) {
    *s.mutable_final_status() = FinalStatus(v1::Status::FAILED, JobVersion(), std::move(detail));
  });
}

bool Agent::SaveState(const std::function<void(AgentState&)>& update) {
  if (fatal_) return false;
  AgentState next = state_;
  update(next);
  if (auto saved = io_.store.Save(next); !saved) {
    fatal_ = saved.error();
    log_.Error("cannot save state, stopping: " + saved.error().message);
    return false;
  }
  state_ = std::move(next);
  return true;
}

const std::string& Agent::VersionOf(std::string_view component) const {
  static const std::string kNone;
  if (topics::IsSystemComponent(component)) return current_version_;
  const auto it = component_versions_.find(component);
  return it == component_versions_.end() ? kNone : it->second;
}

const std::string& Agent::JobVersion() const { return VersionOf(JobComponent(state_.notice())); }

bool Agent::IsFinished(std::string_view campaign_id) const {
  const auto& finished = state_.finished_campaigns();
  return std::find(finished.begin(), finished.end(), campaign_id) != finished.end();
}

// ---------------------------------------------------------------------------
// The S11 steps' outcomes

void Agent::RunWork(Work work) {
  const StepContext context{
      .config = config_,
      .log = log_,
      .clock = io_.clock,
      .rng = rng_,
      .stop = stop_.get_token(),
      .current_version = JobVersion(),
      .component = *config_.Component(JobComponent(state_.notice())),
      .public_key_pem = public_key_pem_,
      .server_latest = [this] { return ServerLatestMs(); },
      .is_busy = [this] { return IsBusy(); },
      .progress = [this](v1::Status::State state, std::uint32_t percent) { SendProgress(state, percent); },
  };
  const StepOutcome outcome =
      work == Work::kDownload
          ? RunDownloadStep(context, state_, io_.downloader, {options_.download_retry_min, options_.download_retry_max})
          : RunInstallStep(context, state_, io_.installer);
  const Event failed = work == Work::kDownload ? Event::kDownloadFailed : Event::kInstallFailed;
  switch (outcome.kind) {
    case StepOutcome::Kind::kDone:
      if (work == Work::kDownload) {
        Fire(Event::kDownloadVerified, [&](AgentState& s) {
          s.set_download_attempts(0);
          NoteDownload(s, outcome.download_bytes, outcome.download_micros);
        });
      } else {
        if (const std::string_view c = JobComponent(state_.notice()); c.empty()) {
          current_version_ = outcome.version;
        } else {
          component_versions_[std::string(c)] = outcome.version;
        }
        Fire(Event::kInstallSucceeded, [&](AgentState& s) {
          *s.mutable_final_status() = FinalStatus(v1::Status::SUCCEEDED, outcome.version, outcome.detail);
        });
      }
      return;
    case StepOutcome::Kind::kBusy:
      deferred_busy_ = true;
      work_ = work;
      work_at_ = io_.clock.NowMs() + std::chrono::duration_cast<std::chrono::milliseconds>(config_.busy_retry).count();
      return;
    case StepOutcome::Kind::kFailed:
      Fail(failed, outcome.detail);
      return;
    case StepOutcome::Kind::kRetry:
      Retry(outcome.detail, outcome.delay, outcome.attempts, outcome.verify_failed);
      return;
    case StepOutcome::Kind::kRecheck:
      Recheck(outcome.detail);
      return;
    case StepOutcome::Kind::kWindowMissed:
      WindowMissed(outcome.detail);
      return;
    case StepOutcome::Kind::kInterrupted:
      log_.Info(outcome.detail);
      return;
  }
}

bool Agent::IsBusy() {
  BusyCheck& check = io_.busy != nullptr ? *io_.busy : *own_busy_;
  const bool busy = check.IsBusy();
  if (busy && !busy_logged_) {
    log_.Info("terminal busy (payment in progress); deferring " + std::string(PhaseName(state_.phase())));
  }
  busy_logged_ = busy;
  return busy;
}

void Agent::Retry(std::string detail, std::chrono::milliseconds delay, std::uint32_t attempts,
                  bool verify_failed) {
  log_.Warn(detail + "; fetching again in " + std::to_string(delay.count()) + " ms");
  next_work_at_ = io_.clock.NowMs() + delay.count();
  Fire(Event::kDownloadRetry, [&](AgentState& s) {
    if (verify_failed) s.set_verify_failures(s.verify_failures() + 1);
    s.set_download_attempts(attempts);
  });
}

void Agent::Recheck(std::string detail) {
  if (state_.rechecks() >= config_.max_rechecks) {
    Fail(Event::kDownloadFailed, detail + " (gave up after " + std::to_string(state_.rechecks()) +
                                     " new checks)");
    return;
  }
  const auto delay = RecheckDelay(state_.rechecks() + 1);
  log_.Info(detail + "; asking the scheduler again in " + std::to_string(delay.count()) + " ms");
  next_check_at_ = io_.clock.NowMs() + delay.count();
  Fire(Event::kDownloadRefused, [](AgentState& s) {
    s.set_rechecks(s.rechecks() + 1);
    s.set_download_attempts(0);
  });
}

// The slot ended before the download could start (or may have: the latest
// the scheduler's clock can be has reached its end). After waiting for a busy
// terminal that is the slot's natural end (one per booked slot; the check
// gets a later slot). Without that wait it means the GO came too late to
// use (a slow or resent check): that counts in max_rechecks like a refused
// URL, and the check waits the recheck backoff, so it can never spin.
void Agent::WindowMissed(std::string detail) {
  if (deferred_busy_) {
    log_.Info(detail);
    Fire(Event::kDownloadWindowMissed);
    return;
  }
  if (state_.rechecks() >= config_.max_rechecks) {
    Fail(Event::kDownloadFailed, detail + " (gave up after " + std::to_string(state_.rechecks()) + " new checks)");
    return;
  }
  const auto delay = RecheckDelay(state_.rechecks() + 1);
  log_.Info(detail + " in " + std::to_string(delay.count()) + " ms");
  next_check_at_ = io_.clock.NowMs() + delay.count();
  Fire(Event::kDownloadWindowMissed, [](AgentState& s) { s.set_rechecks(s.rechecks() + 1); });
}

}  // namespace slotwise::agent

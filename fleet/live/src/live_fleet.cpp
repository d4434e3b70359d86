#include "slotwise/fleet/live_fleet.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <numeric>
#include <optional>
#include <queue>
#include <random>
#include <thread>

#include "slotwise/agent/agent.h"
#include "slotwise/agent/atomic_file.h"
#include "slotwise/agent/paho_transport.h"
#include "slotwise/agent/state_store.h"
#include "slotwise/topics.h"
#include "stack_thread.h"
#include "terminal_io.h"

namespace slotwise::fleet {
namespace {

using v1::AgentState;
using Phase = agent::Phase;
using Event = agent::Event;

// How long a connection attempt waits for a place in the fleet's ConnectGate
// before it counts as failed (the agent then backs off as after any failure).
constexpr std::chrono::milliseconds kConnectPatience{10'000};

// One simulated terminal. `outcome`, `times` and `plan` belong to the
// terminal's thread (its agent's callbacks run there too); the atomics and
// `agent` (under `mutex`) are what other threads touch.
struct Terminal {
  TerminalSpec spec;
  std::filesystem::path dir;
  TerminalOutcome outcome;
  FetchTimes times;
  LinkState link;
  std::chrono::milliseconds start_delay{0};    // after the fleet starts (ramp-up)
  std::chrono::milliseconds offline_delay{0};  // after the campaign starts
  std::chrono::milliseconds away_for{0};       // one dropout's length
  double drop_at_fraction = 0;                 // of the wait, when it drops out
  bool drop_scheduled = false;
  std::atomic<Phase> phase{AgentState::IDLE};
  std::atomic<bool> dropping{false};
  std::mutex mutex;
  agent::Agent* agent = nullptr;  // while its Run() is under way
};

}  // namespace

class LiveFleet::Impl {
 public:
  Impl(std::vector<TerminalSpec> specs, LiveFleetOptions options);
  Result<FleetRun> Run();
  void Stop();

 private:
  Status Prepare();
  void RunTerminal(Terminal& t);
  Status RunAgentOnce(Terminal& t);
  agent::AgentConfig ConfigFor(const Terminal& t) const;
  void OnTransition(Terminal& t, const agent::Agent& a, Phase from, Phase to, Event event);
  // Sleeps until `until` or Stop; false if stopped.
  bool SleepUntil(std::chrono::steady_clock::time_point until);
  void ScheduleDropout(Terminal& t, TimeMs at_ms);
  void RunDropoutTimer();
  FleetProgress Progress() const;
  double Elapsed() const;

  LiveFleetOptions options_;
  std::vector<std::unique_ptr<Terminal>> terminals_;
  SystemClock clock_;
  agent::SteadyClock monotonic_;
  agent::CurlDownloader downloader_;
  InProcessInstaller installer_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  ConnectGate connect_gate_{options_.max_connecting};
  std::atomic<int> connected_{0};
  std::atomic<int> running_{0};
  std::atomic<int> assigned_{0};
  std::atomic<int> downloading_{0};
  std::atomic<int> finished_{0};
  std::atomic<int> away_{0};
  std::atomic<int> threads_left_{0};

  // Stop, the campaign's start, thread ends and the dropout queue.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  std::optional<std::chrono::steady_clock::time_point> campaign_started_;
  using DropEntry = std::pair<TimeMs, Terminal*>;
  std::priority_queue<DropEntry, std::vector<DropEntry>, std::greater<>> drops_;
};

LiveFleet::Impl::Impl(std::vector<TerminalSpec> specs, LiveFleetOptions options) : options_(std::move(options)) {
  std::mt19937_64 rng(options_.seed);
  std::vector<std::size_t> order(specs.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const auto share = [&](double s) { return static_cast<std::size_t>(s * static_cast<double>(specs.size()) + 0.5); };
  const std::size_t offline = std::min(share(options_.offline_share), specs.size());
  const std::size_t dropouts = std::min(share(options_.dropout_share), specs.size() - offline);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (auto& spec : specs) {
    auto t = std::make_unique<Terminal>();
    t->dir = options_.state_root / spec.id;
    t->outcome.id = spec.id;
    t->spec = std::move(spec);
    terminals_.push_back(std::move(t));
  }
  const auto scaled = [&](std::chrono::milliseconds d, double lo) {
    return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(d.count()) * (lo + (1 - lo) * unit(rng))));
  };
  for (std::size_t i = 0; i < order.size(); ++i) {
    Terminal& t = *terminals_[order[i]];
    if (i < offline) {
      t.outcome.offline_at_start = true;
      t.offline_delay = scaled(options_.offline_for, 0.0);
      continue;
    }
    t.start_delay = scaled(options_.ramp_up, 0.0);
    if (i < offline + dropouts) {
      t.outcome.dropout_planned = true;
      t.away_for = scaled(options_.dropout_for, 0.5);
      t.drop_at_fraction = 0.1 + 0.8 * unit(rng);
    }
  }
}

Status LiveFleet::Impl::Prepare() {
  for (const auto& t : terminals_) {
    std::error_code ec;
    std::filesystem::create_directories(t->dir / "downloads", ec);
    if (ec) return MakeError(v1::INVALID_ARGUMENT, "cannot create " + (t->dir / "downloads").string() + ": " + ec.message());
    const auto version_file = t->dir / "version";
    if (!std::filesystem::exists(version_file, ec)) {
      if (auto written = agent::WriteVersionFile(version_file, options_.initial_version); !written) return written;
    }
  }
  return OkStatus();
}

agent::AgentConfig LiveFleet::Impl::ConfigFor(const Terminal& t) const {
  agent::AgentConfig config;
  config.broker = options_.broker;
  config.terminal_id = t.spec.id;
  config.password = t.spec.password;
  config.location = t.spec.location;
  config.system_id = "fleet-" + t.spec.id;
  config.state_dir = t.dir / "state";
  config.version_file = t.dir / "version";
  config.download_dir = t.dir / "downloads";
  config.install_command = "(in-process installer)";
  config.public_key_file = options_.public_key_file;
  return config;
}

Result<FleetRun> LiveFleet::Impl::Run() {
  if (auto prepared = Prepare(); !prepared) return prepared.error();
  std::thread dropout_timer([this] { RunDropoutTimer(); });
  std::vector<std::unique_ptr<StackThread>> threads;
  threads.reserve(terminals_.size());
  std::optional<Error> start_error;
  threads_left_.store(static_cast<int>(terminals_.size()));
  for (const auto& t : terminals_) {
    auto thread = StackThread::Start(options_.thread_stack_bytes, [this, &t] { RunTerminal(*t); });
    if (!thread) {
      start_error = thread.error();
      threads_left_.fetch_sub(static_cast<int>(terminals_.size() - threads.size()));
      Stop();
      break;
    }
    threads.push_back(std::move(*thread));
  }

  FleetRun run;
  const auto deadline = options_.timeout.count() > 0
                            ? std::optional(started_ + options_.timeout)
                            : std::nullopt;
  {
    std::unique_lock lock(mutex_);
    auto next_status = std::chrono::steady_clock::now() + options_.status_interval;
    while (threads_left_.load() > 0 && !stop_) {
      auto wake = next_status;
      if (deadline) wake = std::min(wake, *deadline);
      changed_.wait_until(lock, wake);
      const auto now = std::chrono::steady_clock::now();
      if (deadline && now >= *deadline && threads_left_.load() > 0) {
        run.timed_out = true;
        break;
      }
      if (now >= next_status) {
        next_status = now + options_.status_interval;
        if (options_.on_progress) {
          lock.unlock();
          options_.on_progress(Progress());
          lock.lock();
        }
      }
    }
    run.stopped = stop_ && !run.timed_out;
  }
  Stop();
  threads.clear();  // joins
  dropout_timer.join();
  if (options_.on_progress) options_.on_progress(Progress());
  if (start_error) return *start_error;
  run.elapsed_s = Elapsed();
  for (auto& t : terminals_) {
    t->outcome.connects = t->link.connects.load();
    run.terminals.push_back(std::move(t->outcome));
  }
  return run;
}

void LiveFleet::Impl::Stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  for (const auto& t : terminals_) {
    std::lock_guard lock(t->mutex);
    if (t->agent != nullptr) t->agent->RequestStop();
  }
}

bool LiveFleet::Impl::SleepUntil(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mutex_);
  return !changed_.wait_until(lock, until, [&] { return stop_; });
}

void LiveFleet::Impl::RunTerminal(Terminal& t) {
  bool go_on = SleepUntil(started_ + t.start_delay);
  if (go_on && t.outcome.offline_at_start) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return stop_ || campaign_started_.has_value(); });
    const auto online_at = stop_ ? std::chrono::steady_clock::now() : *campaign_started_ + t.offline_delay;
    lock.unlock();
    go_on = SleepUntil(online_at);
  }
  while (go_on) {
    running_.fetch_add(1);
    const Status ran = RunAgentOnce(t);
    running_.fetch_sub(1);
    if (!ran) {
      t.outcome.detail = ran.error().message;
      break;
    }
    if (!t.dropping.exchange(false)) break;  // finished, or the fleet stops
    ++t.outcome.dropouts;
    away_.fetch_add(1);
    go_on = SleepUntil(std::chrono::steady_clock::now() + t.away_for);
    away_.fetch_sub(1);
  }
  if (threads_left_.fetch_sub(1) == 1) {
    std::lock_guard lock(mutex_);
    changed_.notify_all();
  }
}

Status LiveFleet::Impl::RunAgentOnce(Terminal& t) {
  agent::PahoTransportOptions mqtt;
  mqtt.server_uri = options_.broker;
  mqtt.client_id = t.spec.id;
  mqtt.password = t.spec.password;
  mqtt.keepalive = options_.keepalive;
  mqtt.connect_timeout = options_.connect_timeout;
  mqtt.subscriptions = {topics::Terminal(t.spec.id, topics::Leaf::kNotice),
                        topics::Terminal(t.spec.id, topics::Leaf::kReply)};
  auto paho = agent::PahoTransport::Create(std::move(mqtt));
  if (!paho) return paho.error();
  ObservedTransport transport(std::move(*paho), t.link, connected_, connect_gate_, kConnectPatience);
  TimedDownloader downloader(downloader_, clock_, t.times);
  agent::FileStateStore store(t.dir / "state");

  agent::AgentOptions options;
  options.exit_when_idle = options_.until_done;
  options.reconnect_jitter = options_.reconnect_jitter;
  options.reply_timeout = options_.reply_timeout;
  options.max_reply_backoff = std::max(options.max_reply_backoff, options_.reply_timeout);
  options.max_sleep = options_.max_sleep;
  if (options_.agent_log) {
    options.log = options_.agent_log;
  } else {
    options.log = [](std::string_view) {};
  }
  const agent::Agent* self = nullptr;
  options.on_transition = [this, &t, &self](Phase from, Phase to, Event event) {
    OnTransition(t, *self, from, to, event);
  };
  // The scheduler's clock is learned over the steady clock, as in slotwise-agent.
  agent::Agent agent(ConfigFor(t),
                     agent::AgentIo{clock_, transport, downloader, installer_, store, nullptr, &monotonic_},
                     std::move(options));
  self = &agent;
  if (t.outcome.online_at_ms == 0) t.outcome.online_at_ms = clock_.NowMs();
  {
    std::lock_guard lock(t.mutex);
    t.agent = &agent;
  }
  {
    std::lock_guard lock(mutex_);
    if (stop_) agent.RequestStop();
  }
  const Status ran = agent.Run();
  {
    std::lock_guard lock(t.mutex);
    t.agent = nullptr;
  }
  t.outcome.final_version = agent.current_version();
  return ran;
}

void LiveFleet::Impl::OnTransition(Terminal& t, const agent::Agent& a, Phase from, Phase to, Event event) {
  t.phase.store(to);
  TerminalOutcome& out = t.outcome;
  const TimeMs now = clock_.NowMs();
  switch (event) {
    case Event::kNoticeReceived: {
      std::lock_guard lock(mutex_);
      if (!campaign_started_) {
        campaign_started_ = std::chrono::steady_clock::now();
        changed_.notify_all();
      }
      break;
    }
    case Event::kAssignmentReceived:
    case Event::kCheckRescheduled: {
      if (out.assignments++ == 0) assigned_.fetch_add(1);
      const TimeMs start_at = a.state().assignment().start_at_ms();
      if (out.dropout_planned && !t.drop_scheduled && start_at > now) {
        t.drop_scheduled = true;
        ScheduleDropout(t, now + static_cast<TimeMs>(t.drop_at_fraction * static_cast<double>(start_at - now)));
      }
      break;
    }
    case Event::kCheckGo: {
      if (out.go_at_ms == 0) downloading_.fetch_add(1);
      const v1::Assignment& as = a.state().assignment();
      out.node_id = as.node_id();
      out.cluster_id = as.cluster_id();
      out.slot = as.slot();
      out.slot_start_ms = as.slot_start_ms();
      out.slot_end_ms = as.slot_end_ms();
      out.start_at_ms = as.start_at_ms();
      out.go_at_ms = now;
      t.times.Reset();
      break;
    }
    case Event::kFinalStatusAcked:
      out.finished_at_ms = now;
      out.final_version = a.current_version();
      finished_.fetch_add(1);
      break;
    default:
      break;
  }
  if (to == AgentState::REPORTING && from != AgentState::REPORTING) {
    const v1::Status& status = a.state().final_status();
    out.result = v1::Status::State_Name(status.state());
    out.detail = status.detail();
  }
  if (from == AgentState::DOWNLOADING) {  // after every fetch
    out.download_start_ms = t.times.first_start_ms;
    out.download_end_ms = t.times.last_end_ms;
  }
}

void LiveFleet::Impl::ScheduleDropout(Terminal& t, TimeMs at_ms) {
  std::lock_guard lock(mutex_);
  drops_.emplace(at_ms, &t);
  changed_.notify_all();
}

void LiveFleet::Impl::RunDropoutTimer() {
  std::unique_lock lock(mutex_);
  while (!stop_ && threads_left_.load() > 0) {
    if (drops_.empty()) {
      changed_.wait(lock);
      continue;
    }
    const TimeMs now = clock_.NowMs();
    const auto [at, t] = drops_.top();
    if (at > now) {
      changed_.wait_for(lock, std::chrono::milliseconds(at - now));
      continue;
    }
    drops_.pop();
    // Only a terminal still waiting for its slot drops out: the fleet
    // simulates terminals switched off mid-wait, not mid-download.
    if (t->phase.load() != AgentState::WAITING) continue;
    t->dropping.store(true);
    std::lock_guard terminal_lock(t->mutex);
    if (t->agent != nullptr) t->agent->RequestStop();
  }
}

FleetProgress LiveFleet::Impl::Progress() const {
  FleetProgress p;
  p.elapsed_s = Elapsed();
  p.terminals = static_cast<int>(terminals_.size());
  p.running = running_.load();
  p.connected = connected_.load();
  for (const auto& t : terminals_) p.connects += t->link.connects.load();
  p.assigned = assigned_.load();
  p.downloading = downloading_.load();
  p.finished = finished_.load();
  p.dropped_out = away_.load();
  return p;
}

double LiveFleet::Impl::Elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

LiveFleet::LiveFleet(std::vector<TerminalSpec> terminals, LiveFleetOptions options)
    : impl_(std::make_unique<Impl>(std::move(terminals), std::move(options))) {}
LiveFleet::~LiveFleet() = default;
Result<FleetRun> LiveFleet::Run() { return impl_->Run(); }
void LiveFleet::Stop() { impl_->Stop(); }

}  // namespace slotwise::fleet

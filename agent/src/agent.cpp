#include "slotwise/agent/agent.h"

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <utility>

#include "slotwise/agent/atomic_file.h"
#include "slotwise/sha256.h"
#include "slotwise/signature.h"

namespace slotwise::agent {
namespace {

using v1::AgentState;

// Refusals that a resend cannot change: the campaign is abandoned. The rest
// (NO_CAPACITY, INTERNAL, unknown codes) are retried with backoff.
bool IsPermanentRefusal(v1::ErrorCode code) {
  switch (code) {
    case v1::MALFORMED:
    case v1::INVALID_ARGUMENT:
    case v1::NOT_FOUND:
    case v1::NOT_IN_CAMPAIGN:
    case v1::FAILED_PRECONDITION:
      return true;
    default:
      return false;
  }
}

// Keeps a name usable as one path component (URL paths and versions come
// from the network).
std::string SafeFileName(std::string_view name) {
  // A leading '.' would hide the file or make it "." / "..": prefix it.
  std::string out = (name.empty() || name.front() == '.') ? "f" : "";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '+';
    out += ok ? c : '_';
  }
  out.resize(std::min<std::size_t>(out.size(), 128));
  return out;
}

// The URL's last path segment, so an install hook that cares about the
// file name (e.g. a .deb or .tar.gz) gets the one the node serves.
std::string_view UrlBaseName(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const auto scheme = url.find("://");
  if (scheme != std::string_view::npos) url = url.substr(scheme + 3);
  const auto slash = url.rfind('/');
  if (slash == std::string_view::npos) return {};  // host only
  return url.substr(slash + 1);
}

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return s;
}

std::string Hex64(std::uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHex[v & 0xf];
    v >>= 4;
  }
  return out;
}

// base * 2^exponent, capped at `cap` (and safe from overflow).
std::chrono::milliseconds Doubled(std::chrono::milliseconds base, int exponent,
                                  std::chrono::milliseconds cap) {
  std::chrono::milliseconds delay = base;
  for (int i = 0; i < exponent && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

// Dot-separated comparison. Each part is a number, optionally followed by
// a suffix: numbers compare as numbers (1.10 > 1.9), then a part without a
// suffix beats one with (2.0 > 2.0-rc1), then suffixes compare as text.
// Parts with no leading number compare as text. A missing part counts as
// empty, so 2.0 == 2.0 and 2.0.1 > 2.0.
int CompareVersions(std::string_view a, std::string_view b) {
  auto split = [](std::string_view part) {
    const auto digits = std::min(part.find_first_not_of("0123456789"), part.size());
    std::string_view number = part.substr(0, digits);
    number = number.substr(std::min(number.find_first_not_of('0'), number.size()));
    return std::pair{number, part.substr(digits)};
  };
  while (!a.empty() || !b.empty()) {
    const auto da = a.find('.');
    const auto db = b.find('.');
    const std::string_view pa = a.substr(0, da);
    const std::string_view pb = b.substr(0, db);
    a = da == std::string_view::npos ? std::string_view{} : a.substr(da + 1);
    b = db == std::string_view::npos ? std::string_view{} : b.substr(db + 1);
    const auto [na, sa] = split(pa);
    const auto [nb, sb] = split(pb);
    if (na.size() != nb.size()) return na.size() < nb.size() ? -1 : 1;
    if (na != nb) return na < nb ? -1 : 1;
    if (sa == sb) continue;
    if (sa.empty() != sb.empty()) return sa.empty() ? 1 : -1;
    return sa < sb ? -1 : 1;
  }
  return 0;
}

void LogToStderr(std::string_view line) {
  std::string out(line);
  out += '\n';
  // One fwrite per line: stdio locks the stream, so lines of many agents in
  // one process do not interleave.
  std::fwrite(out.data(), 1, out.size(), stderr);
}

}  // namespace

Agent::Agent(AgentConfig config, AgentIo io, AgentOptions options)
    : config_(std::move(config)),
      io_(io),
      options_(std::move(options)),
      notice_topic_(topics::Terminal(config_.terminal_id, topics::Leaf::kNotice)),
      reply_topic_(topics::Terminal(config_.terminal_id, topics::Leaf::kReply)) {
  std::uint64_t seed = options_.random_seed;
  if (seed == 0) {
    std::random_device device;
    seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  }
  rng_.seed(seed);
  if (io_.busy == nullptr) own_busy_ = std::make_unique<ShellBusyCheck>(config_.busy_file, config_.busy_command);
  // Unique across restarts, so a reply to a request of a previous run can
  // never be taken for an answer to this run's.
  correlation_prefix_ = Hex64(rng_());
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
    Log("starting with no saved state: " + loaded.error().message);
  } else if (loaded->has_value()) {
    state_ = std::move(**loaded);
  }
  if (state_.phase() == AgentState::PHASE_UNSPECIFIED) state_.set_phase(AgentState::IDLE);

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
  if (pending_ && link_ == Link::kConnected) consider(pending_->resend_at);
  if (inventory_ && link_ == Link::kConnected) consider(inventory_->resend_at);
  if (state_.phase() == AgentState::WAITING) {
    consider(std::max(state_.assignment().start_at_ms(), earliest_check_ms_));
  }
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
    if (message->topic == notice_topic_) {
      HandleNotice(*message);
    } else if (message->topic == reply_topic_) {
      HandleReply(*message);
    }
  }
}

// ---------------------------------------------------------------------------
// The MQTT link

void Agent::HandleConnected(bool session_present) {
  if (link_ == Link::kConnected) return;
  link_ = Link::kConnected;
  connected_at_ = io_.clock.NowMs();
  reconnect_at_.reset();
  Log(std::string("connected to ") + config_.broker + (session_present ? " (session resumed)" : " (new session)"));
  if (!inventory_acked_ && !inventory_) SendInventoryReport();
  // An unanswered request may have been lost with the old connection.
  if (inventory_) Transmit(*inventory_);
  if (pending_) Transmit(*pending_);
}

void Agent::HandleLinkDown(std::string_view why) {
  if (link_ == Link::kDisconnected && reconnect_at_) return;  // already scheduled
  const bool was_connected = link_ == Link::kConnected;
  // The backoff restarts only after a connection that lasted: a broker that
  // accepts and drops at once (e.g. two terminals configured with the same
  // id, taking the session from each other) must not be hammered.
  if (was_connected && io_.clock.NowMs() - connected_at_ >= options_.reconnect_max.count()) {
    reconnect_attempts_ = 0;
  }
  link_ = Link::kDisconnected;
  const ReconnectDelay next = NextReconnectDelay(was_connected);
  reconnect_attempts_ = std::min(reconnect_attempts_ + 1, 64);
  reconnect_at_ = io_.clock.NowMs() + next.delay.count();
  Log(std::string(why) + "; reconnecting in " + std::to_string(next.delay.count()) + " ms (" + next.rule + ")");
}

Agent::ReconnectDelay Agent::NextReconnectDelay(bool lost_established) {
  const auto ceiling = Doubled(options_.reconnect_min, reconnect_attempts_, options_.reconnect_max);
  const std::string ceiling_ms = std::to_string(ceiling.count()) + " ms";
  if (!options_.reconnect_jitter) return {ceiling, "no jitter, ceiling " + ceiling_ms};
  // A connection that had been fine and is lost is most likely the broker
  // going away under the whole fleet at once: spread the return widely.
  const bool spread_wide = lost_established && reconnect_attempts_ == 0 && options_.reconnect_spread > ceiling;
  const auto upper = spread_wide ? options_.reconnect_spread : ceiling;
  // Full jitter: anywhere up to the upper bound, so a fleet that lost the
  // broker at one instant comes back spread over the whole interval.
  const long long floor = std::min(options_.reconnect_floor.count(), upper.count());
  std::uniform_int_distribution<long long> draw(floor, upper.count());
  return {std::chrono::milliseconds(draw(rng_)),
          spread_wide ? "spread " + std::to_string(upper.count()) + " ms" : "ceiling " + ceiling_ms};
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
  if (link_ == Link::kConnected) {
    for (auto* request : {&inventory_, &pending_}) {
      if (*request && now >= (*request)->resend_at) {
        Log("no reply to " + std::string(topics::LeafName((*request)->leaf)) + " yet, sending it again");
        Transmit(**request);
      }
    }
  }
  if (state_.phase() == AgentState::WAITING &&
      now >= std::max(state_.assignment().start_at_ms(), earliest_check_ms_)) {
    Fire(Event::kStartTimeReached);
  }
}

// ---------------------------------------------------------------------------
// Inbound messages

void Agent::HandleNotice(const InboundMessage& message) {
  if (message.payload.empty()) {
    latest_notice_.reset();
    if (state_.phase() == AgentState::NOTIFIED) {
      Fire(Event::kNoticeCleared, [](AgentState& s) { s.clear_notice(); });
    }
    return;
  }
  v1::Notice notice;
  if (!notice.ParseFromString(message.payload) || notice.campaign_id().empty()) {
    Log("ignoring a notice that is not a valid Notice");
    return;
  }
  if (IsFinished(notice.campaign_id())) {
    // The scheduler clears the notice after our final status; until then it
    // is still retained. Nothing is left to do for it: that also counts as
    // done for exit_when_idle (a restart after finishing).
    if (state_.phase() == AgentState::IDLE) finished_a_campaign_ = true;
    return;
  }
  latest_notice_ = notice;
  const Phase phase = state_.phase();
  if (phase == AgentState::IDLE ||
      (phase == AgentState::NOTIFIED && notice.campaign_id() != state_.notice().campaign_id())) {
    StartNotice(notice);
  } else if (notice.campaign_id() != state_.notice().campaign_id()) {
    Log("notice for campaign " + notice.campaign_id() + " kept for later; busy with campaign " +
        state_.notice().campaign_id());
  }
}

void Agent::StartNotice(const v1::Notice& notice) {
  Fire(Event::kNoticeReceived, [&](AgentState& s) {
    *s.mutable_notice() = notice;
    s.clear_assignment();
    s.clear_download();
    s.clear_final_status();
    s.set_download_attempts(0);
    s.set_verify_failures(0);
    s.set_rechecks(0);
  });
}

void Agent::HandleReply(const InboundMessage& message) {
  // Replies to an earlier request (answered late, or answered twice after a
  // resend) carry other correlation data and are stale by construction.
  const bool for_inventory = inventory_ && message.correlation_data == inventory_->correlation_data;
  const bool for_phase = pending_ && message.correlation_data == pending_->correlation_data;
  if (!for_inventory && !for_phase) return;
  v1::TerminalReply reply;
  if (!reply.ParseFromString(message.payload)) {
    Log("ignoring a reply that is not a valid TerminalReply");
    return;
  }
  if (for_inventory) {
    // Only informative for the scheduler: an error is logged, not retried.
    if (reply.has_error()) {
      Log("inventory report refused: " + v1::ErrorCode_Name(reply.error().code()) + " " +
          reply.error().message());
    }
    inventory_.reset();
    inventory_acked_ = true;
    return;
  }
  if (reply.has_error()) {
    HandleErrorReply(reply.error());
    return;
  }
  switch (pending_->leaf) {
    case topics::Leaf::kReport: HandleAssignmentReply(reply); break;
    case topics::Leaf::kCheck: HandleCheckReply(reply); break;
    case topics::Leaf::kStatus: HandleStatusReply(reply); break;
    default: break;
  }
}

void Agent::HandleErrorReply(const v1::Error& error) {
  const std::string what = std::string(topics::LeafName(pending_->leaf)) + " refused: " +
                           v1::ErrorCode_Name(error.code()) + " " + error.message();
  if (!IsPermanentRefusal(error.code())) {
    Log(what + "; will retry");  // the pending request's resend timer stands
    return;
  }
  Log(what + "; abandoning campaign " + state_.notice().campaign_id());
  if (latest_notice_ && latest_notice_->campaign_id() == state_.notice().campaign_id()) latest_notice_.reset();
  Fire(Event::kRequestRefused, [](AgentState& s) {
    s.clear_notice();
    s.clear_assignment();
    s.clear_download();
    s.clear_final_status();
  });
}

void Agent::HandleAssignmentReply(const v1::TerminalReply& reply) {
  if (!reply.has_assignment()) {
    Log("report answered without an assignment; will retry");
    return;
  }
  earliest_check_ms_ = 0;
  Fire(Event::kAssignmentReceived, [&](AgentState& s) { *s.mutable_assignment() = reply.assignment(); });
}

void Agent::HandleCheckReply(const v1::TerminalReply& reply) {
  if (!reply.has_check_result()) {
    Log("check answered without a result; will retry");
    return;
  }
  const v1::CheckResult& result = reply.check_result();
  const TimeMs now = io_.clock.NowMs();
  switch (result.verdict()) {
    case v1::CheckResult::GO:
      if (result.download().url().empty()) {
        Log("GO without a download URL; will retry");
        return;
      }
      Fire(Event::kCheckGo, [&](AgentState& s) {
        *s.mutable_download() = result.download();
        s.set_download_attempts(0);
      });
      return;
    case v1::CheckResult::TOO_EARLY: {
      const TimeMs start_at = result.has_assignment() ? result.assignment().start_at_ms()
                                                      : state_.assignment().start_at_ms();
      // Our clock may run ahead of the scheduler's: do not ask again at once.
      earliest_check_ms_ = start_at <= now ? now + options_.min_recheck_delay.count() : 0;
      Fire(Event::kCheckTooEarly, [&](AgentState& s) {
        if (result.has_assignment()) *s.mutable_assignment() = result.assignment();
      });
      return;
    }
    case v1::CheckResult::RESCHEDULED:
      if (!result.has_assignment()) {
        Log("RESCHEDULED without an assignment; will retry");
        return;
      }
      earliest_check_ms_ = 0;
      Fire(Event::kCheckRescheduled, [&](AgentState& s) { *s.mutable_assignment() = result.assignment(); });
      return;
    case v1::CheckResult::ALREADY_CURRENT:
      Fire(Event::kCheckAlreadyCurrent, [&](AgentState& s) {
        *s.mutable_final_status() = FinalStatus(v1::Status::SUCCEEDED, current_version_, result.reason());
      });
      return;
    case v1::CheckResult::STAND_DOWN:
      Fire(Event::kCheckStandDown, [&](AgentState& s) {
        *s.mutable_final_status() = FinalStatus(v1::Status::STOOD_DOWN, current_version_, result.reason());
      });
      return;
    default:
      Log("check answered with an unknown verdict; will retry");
      return;
  }
}

void Agent::HandleStatusReply(const v1::TerminalReply& reply) {
  if (!reply.has_ack()) return;
  const std::string campaign = state_.notice().campaign_id();
  // A campaign the terminal stood down from (paused or cancelled) is not
  // finished: if the operator resumes it, its notice comes again and counts;
  // until then it is not taken up again from the notice already seen.
  const bool stood_down = state_.final_status().state() == v1::Status::STOOD_DOWN;
  if (stood_down && latest_notice_ && latest_notice_->campaign_id() == campaign) latest_notice_.reset();
  finished_a_campaign_ = true;
  Fire(Event::kFinalStatusAcked, [&](AgentState& s) {
    if (!stood_down) {
      s.add_finished_campaigns(campaign);
      auto* finished = s.mutable_finished_campaigns();
      const auto excess = finished->size() - static_cast<int>(options_.max_finished_campaigns);
      if (excess > 0) finished->DeleteSubrange(0, excess);
    }
    s.clear_notice();
    s.clear_assignment();
    s.clear_download();
    s.clear_final_status();
  });
}

// ---------------------------------------------------------------------------
// Transitions

bool Agent::Fire(Event event, const std::function<void(AgentState&)>& update) {
  if (fatal_) return false;
  const Phase from = state_.phase();
  const std::optional<Phase> to = NextPhase(from, event);
  if (!to) {
    Log("ignoring " + std::string(EventName(event)) + " in " + std::string(PhaseName(from)));
    return false;
  }
  AgentState next = state_;
  if (update) update(next);
  next.set_phase(*to);
  // Saved before acting: after power loss the agent resumes from here.
  if (auto saved = io_.store.Save(next); !saved) {
    fatal_ = saved.error();
    Log("cannot save state, stopping: " + saved.error().message);
    return false;
  }
  state_ = std::move(next);
  if (event == Event::kResumed && from == *to) {
    Log("resuming in " + std::string(PhaseName(from)));
  } else {
    Log(std::string(PhaseName(from)) + " -> " + std::string(PhaseName(*to)));
  }
  if (options_.on_transition) options_.on_transition(from, *to, event);
  Enter(*to);
  return true;
}

void Agent::Enter(Phase phase) {
  // Each phase has at most one outstanding request or job; a new phase
  // makes the old one's moot.
  pending_.reset();
  work_.reset();
  work_at_ = std::exchange(next_work_at_, 0);
  busy_logged_ = false;
  switch (phase) {
    case AgentState::IDLE:
      earliest_check_ms_ = 0;
      if (latest_notice_ && !IsFinished(latest_notice_->campaign_id())) StartNotice(*latest_notice_);
      return;
    case AgentState::NOTIFIED: {
      v1::Report report = BaseReport();
      report.set_campaign_id(state_.notice().campaign_id());
      report.set_target_version(state_.notice().target_version());
      SendRequest(topics::Leaf::kReport, report);
      return;
    }
    case AgentState::WAITING:
      return;  // RunTimers fires kStartTimeReached at start_at_ms
    case AgentState::CHECKING: {
      v1::Check check;
      check.set_campaign_id(state_.notice().campaign_id());
      check.set_current_version(current_version_);
      check.set_slot(state_.assignment().slot());
      SendRequest(topics::Leaf::kCheck, check);
      return;
    }
    case AgentState::DOWNLOADING:
      work_ = Work::kDownload;
      return;
    case AgentState::INSTALLING:
      work_ = Work::kInstall;
      return;
    case AgentState::REPORTING:
      SendRequest(topics::Leaf::kStatus, state_.final_status());
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------
// Requests

std::string Agent::NewCorrelationData() {
  return correlation_prefix_ + "-" + std::to_string(++request_sequence_);
}

void Agent::SendRequest(topics::Leaf leaf, const google::protobuf::MessageLite& message) {
  pending_ = PendingRequest{leaf, message.SerializeAsString(), NewCorrelationData(), 0, 0};
  Transmit(*pending_);
}

v1::Report Agent::BaseReport() const {
  v1::Report report;
  report.set_current_version(current_version_);
  report.mutable_location()->set_lat(config_.location.lat);
  report.mutable_location()->set_lon(config_.location.lon);
  report.set_system_id(config_.system_id);
  // The terminal's time zone as its clock has it now (so daylight saving is
  // current): campaigns with allowed hours count in terminal local time.
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  if (localtime_r(&now, &local)) report.set_utc_offset_minutes(static_cast<std::int32_t>(local.tm_gmtoff / 60));
  return report;
}

void Agent::SendInventoryReport() {
  const v1::Report report = BaseReport();  // no campaign_id: an inventory report
  inventory_ = PendingRequest{topics::Leaf::kReport, report.SerializeAsString(), NewCorrelationData(), 0, 0};
}

void Agent::Transmit(PendingRequest& request) {
  // While disconnected the request waits; HandleConnected sends it.
  if (link_ != Link::kConnected) return;
  OutboundMessage out;
  out.topic = topics::Terminal(config_.terminal_id, request.leaf);
  out.payload = request.payload;
  out.response_topic = reply_topic_;
  out.correlation_data = request.correlation_data;
  const auto published = io_.transport.Publish(out);
  ++request.transmissions;
  const auto backoff = Doubled(options_.reply_timeout, request.transmissions - 1, options_.max_reply_backoff);
  request.resend_at = io_.clock.NowMs() + Jitter(backoff, 0.2).count();
  if (!published) Log(published.error().message);
}

void Agent::SendProgress(v1::Status::State state, std::uint32_t percent) {
  if (link_ != Link::kConnected) return;  // progress is best effort
  v1::Status status;
  status.set_campaign_id(state_.notice().campaign_id());
  status.set_state(state);
  status.set_version(current_version_);
  status.set_progress_percent(percent);
  OutboundMessage out;
  out.topic = topics::Terminal(config_.terminal_id, topics::Leaf::kStatus);
  out.payload = status.SerializeAsString();
  (void)io_.transport.Publish(out);
}

v1::Status Agent::FinalStatus(v1::Status::State state, std::string version, std::string detail) const {
  v1::Status status;
  status.set_campaign_id(state_.notice().campaign_id());
  status.set_state(state);
  status.set_version(std::move(version));
  status.set_progress_percent(100);
  status.set_detail(std::move(detail));
  return status;
}

// ---------------------------------------------------------------------------
// Download and install (S11)

void Agent::RunWork(Work work) {
  switch (work) {
    case Work::kDownload: Download(); return;
    case Work::kInstall: Install(); return;
  }
}

std::filesystem::path Agent::DownloadPath() const {
  const v1::Download& d = state_.download();
  std::string_view base = UrlBaseName(d.url());
  if (base.empty()) base = d.version();
  return config_.download_dir / SafeFileName(base);
}

void Agent::Fail(Event event, std::string detail) {
  Log(detail);
  Fire(event, [&](AgentState& s) {
    *s.mutable_final_status() = FinalStatus(v1::Status::FAILED, current_version_, std::move(detail));
  });
}

std::filesystem::path Agent::PartialPath() const {
  // Named after the content, so a resumed download only ever appends to
  // bytes of the same artifact.
  std::filesystem::path partial = DownloadPath();
  partial += "." + ToLower(state_.download().sha256()).substr(0, 16) + ".part";
  return partial;
}

slotwise::Status Agent::CheckManifest(const v1::Download& download) const {
  if (!public_key_pem_.empty()) {
    const std::string manifest = ArtifactManifest(download.version(), download.sha256(), download.size());
    if (auto verified = VerifyEd25519(public_key_pem_, manifest, download.signature()); !verified) {
      return MakeError(v1::FAILED_PRECONDITION, "signature check failed: " + verified.error().message);
    }
  }
  if (!download.version().empty() && !download.allow_downgrade() &&
      CompareVersions(download.version(), current_version_) < 0) {
    return MakeError(v1::FAILED_PRECONDITION, "refusing to downgrade from " + current_version_ + " to " +
                                                  download.version() + " (the campaign does not allow it)");
  }
  return OkStatus();
}

bool Agent::IsBusy() {
  BusyCheck& check = io_.busy != nullptr ? *io_.busy : *own_busy_;
  const bool busy = check.IsBusy();
  if (busy && !busy_logged_) {
    Log("terminal busy (payment in progress); deferring " + std::string(PhaseName(state_.phase())));
  }
  busy_logged_ = busy;
  return busy;
}

void Agent::Retry(std::string detail, std::chrono::milliseconds delay, std::uint32_t attempts,
                  bool verify_failed) {
  Log(detail + "; fetching again in " + std::to_string(delay.count()) + " ms");
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
  Log(detail + "; asking the scheduler again");
  Fire(Event::kDownloadRefused, [](AgentState& s) {
    s.set_rechecks(s.rechecks() + 1);
    s.set_download_attempts(0);
  });
}

void Agent::Download() {
  const v1::Download download = state_.download();
  const TimeMs now = io_.clock.NowMs();
  const std::filesystem::path file = DownloadPath();
  const std::filesystem::path partial = PartialPath();
  std::error_code ec;
  std::filesystem::create_directories(config_.download_dir, ec);

  if (auto ok = CheckManifest(download); !ok) {
    Fail(Event::kDownloadFailed, ok.error().message);
    return;
  }
  // A file verified by a run that was cut short during the install is
  // verified again like any partial download, never trusted as it is.
  if (!std::filesystem::exists(partial, ec) && std::filesystem::exists(file, ec)) {
    std::filesystem::rename(file, partial, ec);
  }
  std::uint64_t have = std::filesystem::exists(partial, ec) ? std::filesystem::file_size(partial, ec) : 0;
  if (ec) have = 0;
  if (download.size() != 0 && have > download.size()) {
    std::filesystem::remove(partial, ec);
    have = 0;
  }
  // The slot bounds when a download may start, not when a resumed one may
  // go on: bytes on disk (or an attempt of this GO) mean it has started.
  const bool started = have > 0 || state_.download_attempts() > 0;
  if (!started && download.not_after_ms() > 0 && now >= download.not_after_ms()) {
    Log("the slot ended before the download could start; checking again");
    Fire(Event::kDownloadWindowMissed);
    return;
  }
  if (IsBusy()) {
    work_ = Work::kDownload;
    work_at_ = now + std::chrono::duration_cast<std::chrono::milliseconds>(config_.busy_retry).count();
    return;
  }
  const std::uint64_t remaining = download.size() > have ? download.size() - have : 0;
  const auto space = std::filesystem::space(config_.download_dir, ec);
  if (!ec && space.available < remaining + config_.min_free_bytes) {
    std::filesystem::remove(partial, ec);
    Fail(Event::kDownloadFailed, "not enough disk space in " + config_.download_dir.string() + ": need " +
                                     std::to_string(remaining + config_.min_free_bytes) + " bytes, " +
                                     std::to_string(space.available) + " available");
    return;
  }

  const std::uint64_t total = download.size();
  progress_sent_ = total > 0 ? static_cast<std::uint32_t>(have * 10 / total) * 10 : 0;
  SendProgress(v1::Status::DOWNLOADING, progress_sent_);
  if (total == 0 || have < total) {
    if (have > 0) Log("resuming the download at byte " + std::to_string(have));
    DownloadRequest request;
    request.url = download.url();
    request.destination = partial;
    request.headers = {"X-Slotwise-Terminal: " + config_.terminal_id};
    request.resume_from = have;
    request.max_bytes_per_second = config_.download_rate_limit_kbps * 1024;
    request.on_progress = [this, total](std::uint64_t bytes, std::uint64_t) {
      if (total == 0) return;
      // About every 10%: a fleet's progress must not flood the broker.
      const auto percent = static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes * 10 / total, 10) * 10);
      if (percent > progress_sent_ && percent < 100) {
        progress_sent_ = percent;
        SendProgress(v1::Status::DOWNLOADING, percent);
      }
    };
    const auto fetched = io_.downloader.Fetch(request, stop_.get_token());
    if (!fetched) {
      if (stop_.stop_requested()) {
        Log("download interrupted by shutdown; it resumes after the next check");
        return;  // the saved phase is still DOWNLOADING; the .part stays
      }
      const std::string why = "download failed: " + fetched.error().message;
      switch (fetched.error().code) {
        case v1::NOT_FOUND:
          Recheck(why);
          return;
        case v1::INVALID_ARGUMENT:
          std::filesystem::remove(partial, ec);  // the terminal needs its disk back
          Fail(Event::kDownloadFailed, why);
          return;
        default:
          break;
      }
      // A cut that still brought bytes is progress: only attempts in a row
      // that brought nothing count towards the bound.
      const std::uint64_t now_have = std::filesystem::file_size(partial, ec);
      const bool progressed = !ec && now_have > have;
      const std::uint32_t attempts = progressed ? 1 : state_.download_attempts() + 1;
      if (attempts >= config_.download_attempts) {
        Recheck(why + " (" + std::to_string(attempts) + " attempts)");
        return;
      }
      // Full jitter: terminals cut off by one node failure do not all come
      // back at the same instant.
      const auto ceiling = Doubled(options_.download_retry_min, static_cast<int>(attempts) - 1,
                                   options_.download_retry_max);
      std::uniform_int_distribution<long long> spread(0, ceiling.count());
      Retry(why, std::chrono::milliseconds(spread(rng_)), attempts, false);
      return;
    }
  }

  SendProgress(v1::Status::VERIFYING, 100);
  const auto size = std::filesystem::file_size(partial, ec);
  std::string mismatch;
  if (ec) {
    mismatch = "downloaded file is missing: " + ec.message();
  } else if (download.size() != 0 && size != download.size()) {
    mismatch = "size mismatch: got " + std::to_string(size) + " bytes, expected " + std::to_string(download.size());
  } else if (const auto digest = Sha256FileHex(partial); !digest) {
    mismatch = "cannot hash download: " + digest.error().message;
  } else if (const std::string expected = ToLower(download.sha256()); expected.empty() || *digest != expected) {
    mismatch = "sha256 mismatch: got " + *digest + ", expected " + (expected.empty() ? std::string("none") : expected);
  }
  if (!mismatch.empty()) {
    // What is on disk is wrong somewhere: none of it can be resumed from.
    std::filesystem::remove(partial, ec);
    if (state_.verify_failures() + 1 >= config_.verify_attempts) {
      Fail(Event::kDownloadFailed, mismatch + " (" + std::to_string(state_.verify_failures() + 1) + " downloads)");
      return;
    }
    Retry(mismatch, options_.download_retry_min, 0, true);
    return;
  }
  std::filesystem::rename(partial, file, ec);
  if (ec) {
    std::filesystem::remove(partial, ec);
    Fail(Event::kDownloadFailed, "cannot move download into place: " + ec.message());
    return;
  }
  Fire(Event::kDownloadVerified, [](AgentState& s) { s.set_download_attempts(0); });
}

void Agent::Install() {
  const std::filesystem::path file = DownloadPath();
  const std::string target =
      state_.download().version().empty() ? state_.notice().target_version() : state_.download().version();
  std::error_code ec;
  if (auto ok = CheckManifest(state_.download()); !ok) {
    std::filesystem::remove(file, ec);
    Fail(Event::kInstallFailed, ok.error().message);
    return;
  }
  if (IsBusy()) {
    work_ = Work::kInstall;
    work_at_ = io_.clock.NowMs() + std::chrono::duration_cast<std::chrono::milliseconds>(config_.busy_retry).count();
    return;
  }

  SendProgress(v1::Status::INSTALLING, 0);
  InstallRequest request{config_.install_command, file, target, config_.install_timeout};
  const auto installed = io_.installer.Install(request);
  std::filesystem::remove(file, ec);  // used or not, it is not needed again
  if (!installed) {
    Fail(Event::kInstallFailed, "install failed: " + installed.error().message);
    return;
  }
  if (auto recorded = WriteVersionFile(config_.version_file, target); !recorded) {
    Fail(Event::kInstallFailed, "installed, but cannot record the new version: " + recorded.error().message);
    return;
  }
  current_version_ = target;
  Fire(Event::kInstallSucceeded, [&](AgentState& s) {
    *s.mutable_final_status() = FinalStatus(v1::Status::SUCCEEDED, target, "");
  });
}

// ---------------------------------------------------------------------------
// Helpers

bool Agent::IsFinished(std::string_view campaign_id) const {
  const auto& finished = state_.finished_campaigns();
  return std::find(finished.begin(), finished.end(), campaign_id) != finished.end();
}

std::chrono::milliseconds Agent::Jitter(std::chrono::milliseconds base, double spread) {
  std::uniform_real_distribution<double> factor(1.0 - spread, 1.0 + spread);
  return std::chrono::milliseconds(static_cast<long long>(static_cast<double>(base.count()) * factor(rng_)));
}

void Agent::Log(std::string_view line) const {
  std::string full = "agent " + config_.terminal_id + ": ";
  full += line;
  if (options_.log) {
    options_.log(full);
  } else {
    LogToStderr(full);
  }
}

}  // namespace slotwise::agent

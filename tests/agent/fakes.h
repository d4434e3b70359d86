// In-memory stand-ins for the agent's outside world, plus a scripted
// scheduler, so the state machine runs deterministically under a FakeClock.
// Single-threaded: everything runs on the test's thread.
#pragma once

#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "slotwise/agent/agent.h"
#include "slotwise/clock.h"
#include "slotwise/topics.h"

namespace slotwise::agent::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "slotwise-agent-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class FakeTransport final : public Transport {
 public:
  void SetListener(TransportListener* listener) override { listener_ = listener; }

  slotwise::Status Connect() override {
    ++connect_calls;
    if (refuse_connects > 0) {
      --refuse_connects;
      listener_->OnConnectFailed("refused by test");
      return OkStatus();
    }
    connected = true;
    listener_->OnConnected(session_present);
    // Like a broker: a new subscription gets the retained notice.
    if (!session_present && retained_notice) {
      listener_->OnMessage(InboundMessage{topics::Terminal(terminal_id, topics::Leaf::kNotice),
                                          *retained_notice, "", true});
    }
    session_present = true;
    return OkStatus();
  }

  slotwise::Status Publish(const OutboundMessage& message) override {
    if (!connected) return MakeError(v1::INTERNAL, "not connected");
    sent.push_back(message);
    if (on_publish) on_publish(message);
    return OkStatus();
  }

  void Disconnect(std::chrono::milliseconds) override { connected = false; }

  void Deliver(const std::string& topic, const std::string& payload, const std::string& correlation = "") {
    listener_->OnMessage(InboundMessage{topic, payload, correlation, false});
  }
  void DropConnection() {
    connected = false;
    listener_->OnConnectionLost("dropped by test");
  }

  std::string terminal_id;
  std::optional<std::string> retained_notice;
  bool session_present = false;
  bool connected = false;
  int refuse_connects = 0;
  int connect_calls = 0;
  std::vector<OutboundMessage> sent;
  std::function<void(const OutboundMessage&)> on_publish;

 private:
  TransportListener* listener_ = nullptr;
};

// Serves `files` the way CurlDownloader does (Range resume, error codes),
// with faults to inject.
class FakeDownloader final : public Downloader {
 public:
  slotwise::Status Fetch(const DownloadRequest& request, std::stop_token) override {
    if (request.may_start && !request.may_start()) {
      return MakeError(v1::FAILED_PRECONDITION, "GET " + request.url + ": not started");
    }
    requests.push_back(request);
    if (on_fetch) on_fetch(static_cast<int>(requests.size()));
    if (refuse > 0) {
      --refuse;
      return MakeError(v1::NOT_FOUND, "GET " + request.url + ": HTTP 403");
    }
    if (node_down > 0) {
      --node_down;
      return MakeError(v1::INTERNAL, "GET " + request.url + ": Couldn't connect to server");
    }
    auto it = files.find(request.url);
    if (it == files.end()) return MakeError(v1::NOT_FOUND, "GET " + request.url + ": HTTP 404");
    const std::string& body = it->second;
    const std::size_t from = std::min<std::size_t>(request.resume_from, body.size());
    std::size_t to = body.size();
    if (cut_every > 0) to = std::min(to, from + cut_every);
    std::string content = request.resume_from > 0 ? ReadFile(request.destination) : std::string();
    content += body.substr(from, to - from);
    WriteFile(request.destination, content);
    bytes_served += to - from;
    if (request.on_progress) request.on_progress(to, body.size());
    if (to < body.size()) return MakeError(v1::INTERNAL, "GET " + request.url + ": connection reset");
    if (request.on_measured) request.on_measured(to - from, micros_per_fetch);
    return OkStatus();
  }
  std::map<std::string, std::string> files;  // url -> content
  std::vector<DownloadRequest> requests;
  std::size_t cut_every = 0;     // > 0: each response ends after this many bytes
  int refuse = 0;                // the next N fetches get HTTP 403
  int node_down = 0;             // the next N fetches cannot connect
  std::uint64_t bytes_served = 0;
  std::uint64_t micros_per_fetch = 0;  // what each successful fetch says it took
  std::function<void(int fetch_number)> on_fetch;  // before each fetch (1-based)
};

class FakeBusyCheck final : public BusyCheck {
 public:
  bool IsBusy() override {
    ++calls;
    if (busy_calls > 0) {
      --busy_calls;
      return true;
    }
    return false;
  }
  int busy_calls = 0;  // busy for the next N looks
  int calls = 0;
};

class FailingStateStore final : public StateStore {
 public:
  Result<std::optional<v1::AgentState>> Load() override { return std::optional<v1::AgentState>{}; }
  slotwise::Status Save(const v1::AgentState&) override { return MakeError(v1::INTERNAL, "disk full"); }
};

// Answers the agent's requests the way schemas/README.md says the scheduler
// does, from a script; records what it received.
class FakeScheduler {
 public:
  FakeScheduler(FakeClock& clock, FakeTransport& transport, std::string terminal_id)
      : clock_(clock), transport_(transport), terminal_id_(std::move(terminal_id)) {
    transport_.on_publish = [this](const OutboundMessage& m) { Receive(m); };
  }

  // Script.
  std::int64_t slot_ms = 1000;
  std::int64_t start_delay_ms = 2500;      // start_at = now + this, at report time
  std::deque<v1::CheckResult::Verdict> verdicts;  // empty: GO
  v1::Download download;
  int drop_requests = 0;                   // leave the next N requests unanswered
  std::deque<v1::Error> errors;            // answer the next requests with these
  // What the agent sent, in order: "report", "check", "status:SUCCEEDED",
  // "progress:DOWNLOADING", ...
  std::vector<std::string> received;
  std::vector<OutboundMessage> requests;   // those with a response topic
  std::vector<OutboundMessage> inventory;  // inventory reports (always acked)
  std::function<void(int check_number)> on_check;  // before answering each check (1-based)
  // The scheduler's clock is the test's clock plus this; set, every reply
  // carries server_time_ms (unset: none, like a scheduler from before it).
  std::optional<TimeMs> server_offset_ms;
  // Each reply spends this long on its way back to the terminal (the test's
  // clock moves on after the stamp, before delivery): a loaded broker.
  TimeMs reply_latency_ms = 0;
  // Each progress message takes this long to publish (the test's clock moves
  // on): an MQTT client shared by many terminals, busy.
  TimeMs progress_latency_ms = 0;
  // The inventory report's Ack lists these (TerminalReply.notices).
  std::vector<v1::Notice> inventory_notices;
  // Checks answered before the scheduler's start_at_ms are TOO_EARLY,
  // whatever `verdicts` says (as the real scheduler does).
  bool enforce_start = false;
  // ... and for this long after it too (a scheduler whose clock the agent
  // misjudges, or with reasons of its own).
  TimeMs too_early_after_start_ms = 0;
  // Checks received, with the scheduler's clock when each arrived.
  std::vector<TimeMs> check_times;
  // Per campaign: the start delay of its assignments and its GO's download
  // (else start_delay_ms and download).
  std::map<std::string, TimeMs> start_delay_by_campaign;
  std::map<std::string, v1::Download> download_by_campaign;
  std::vector<v1::Check> checks;    // every check received
  std::vector<v1::Report> reports;  // every campaign report received
  std::vector<v1::Status> statuses;  // every final status received

  TimeMs ServerNow() const { return clock_.NowMs() + server_offset_ms.value_or(0); }

  v1::Assignment MakeAssignment(const std::string& campaign) const {
    const auto delay = start_delay_by_campaign.find(campaign);
    const TimeMs start_at = ServerNow() + (delay == start_delay_by_campaign.end() ? start_delay_ms : delay->second);
    v1::Assignment a;
    a.set_campaign_id(campaign);
    a.set_target_version(download.version());
    a.set_node_id("n1");
    a.set_cluster_id("c1");
    a.set_slot(start_at / slot_ms);
    a.set_slot_start_ms(start_at / slot_ms * slot_ms);
    a.set_slot_end_ms((start_at / slot_ms + 1) * slot_ms);
    a.set_start_at_ms(start_at);
    return a;
  }

 private:
  void Receive(const OutboundMessage& m) {
    auto parsed = topics::ParseTerminalTopic(m.topic);
    if (!parsed || parsed->terminal_id != terminal_id_) {
      received.push_back("bad-topic:" + m.topic);
      return;
    }
    std::string what(topics::LeafName(parsed->leaf));
    v1::Status status;
    if (parsed->leaf == topics::Leaf::kStatus) {
      status.ParseFromString(m.payload);
      what = (m.response_topic.empty() ? "progress:" : "status:") + v1::Status::State_Name(status.state());
      if (!m.response_topic.empty()) statuses.push_back(status);
    }
    if (parsed->leaf == topics::Leaf::kReport) {
      v1::Report report;
      report.ParseFromString(m.payload);
      if (report.campaign_id().empty()) {
        inventory.push_back(m);
        v1::TerminalReply ack;
        ack.mutable_ack();
        for (const auto& n : inventory_notices) *ack.add_notices() = n;
        if (server_offset_ms) ack.set_server_time_ms(ServerNow());
        clock_.Set(clock_.NowMs() + reply_latency_ms);
        transport_.Deliver(m.response_topic, ack.SerializeAsString(), m.correlation_data);
        return;
      }
    }
    received.push_back(what);
    if (m.response_topic.empty()) {
      clock_.Set(clock_.NowMs() + progress_latency_ms);
      return;
    }
    requests.push_back(m);
    if (drop_requests > 0) {
      --drop_requests;
      return;
    }
    v1::TerminalReply reply;
    if (!errors.empty()) {
      *reply.mutable_error() = errors.front();
      errors.pop_front();
    } else if (parsed->leaf == topics::Leaf::kReport) {
      v1::Report report;
      report.ParseFromString(m.payload);
      reports.push_back(report);
      *reply.mutable_assignment() = MakeAssignment(report.campaign_id());
      Remember(reply.assignment());
    } else if (parsed->leaf == topics::Leaf::kCheck) {
      ++checks_;
      check_times.push_back(ServerNow());
      if (on_check) on_check(checks_);
      v1::Check check;
      check.ParseFromString(m.payload);
      checks.push_back(check);
      auto* result = reply.mutable_check_result();
      result->set_campaign_id(check.campaign_id());
      auto verdict = verdicts.empty() ? v1::CheckResult::GO : verdicts.front();
      if (enforce_start && ServerNow() < last_start_at_ + too_early_after_start_ms) {
        verdict = v1::CheckResult::TOO_EARLY;
      } else if (!verdicts.empty()) {
        verdicts.pop_front();
      }
      result->set_verdict(verdict);
      if (verdict == v1::CheckResult::GO) {
        const auto own = download_by_campaign.find(check.campaign_id());
        *result->mutable_download() = own == download_by_campaign.end() ? download : own->second;
      }
      if (verdict == v1::CheckResult::TOO_EARLY && enforce_start) {
        *result->mutable_assignment() = last_assignment_;
      } else if (verdict == v1::CheckResult::TOO_EARLY || verdict == v1::CheckResult::RESCHEDULED) {
        *result->mutable_assignment() = MakeAssignment(check.campaign_id());
        Remember(result->assignment());
      }
      if (verdict == v1::CheckResult::STAND_DOWN) result->set_reason("campaign paused");
    } else {
      reply.mutable_ack();
    }
    if (server_offset_ms) reply.set_server_time_ms(ServerNow());
    clock_.Set(clock_.NowMs() + reply_latency_ms);
    transport_.Deliver(m.response_topic, reply.SerializeAsString(), m.correlation_data);
  }

  void Remember(const v1::Assignment& a) {
    last_assignment_ = a;
    last_start_at_ = a.start_at_ms();
  }

  FakeClock& clock_;
  FakeTransport& transport_;
  std::string terminal_id_;
  int checks_ = 0;
  v1::Assignment last_assignment_;
  TimeMs last_start_at_ = 0;
};

}  // namespace slotwise::agent::testing

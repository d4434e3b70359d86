// The outside I/O of one simulated terminal: the real PahoTransport and
// CurlDownloader, each behind a thin decorator that records what the fleet
// reports (connects; when the download started and ended), and an
// in-process installer.
//
// Threading: as agent/transport.h and agent/downloader.h. LinkState is
// written on Paho's callback thread and read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <semaphore>

#include "slotwise/agent/downloader.h"
#include "slotwise/agent/installer.h"
#include "slotwise/agent/transport.h"
#include "slotwise/clock.h"

namespace slotwise::fleet {

// Bounds how many of the fleet's connection attempts are in flight at once.
// A simulator artefact, not a model of terminals: every client of the
// process shares Paho's one command queue and mutex, and with thousands of
// attempts queued each Paho call walks that queue under the mutex, so
// CONNACKs are read too late, attempts time out and are retried, and the
// fleet never connects. Real terminals each have their own client.
// Thread-safe.
class ConnectGate {
 public:
  explicit ConnectGate(int limit) : free_(limit) {}
  // Waits up to `patience` for a free place; false if none came.
  bool Enter(std::chrono::milliseconds patience) { return free_.try_acquire_for(patience); }
  void Leave() { free_.release(); }

 private:
  std::counting_semaphore<> free_;
};

// One terminal's MQTT link as its CONNACKs and losses show it.
struct LinkState {
  std::atomic<bool> up{false};
  std::atomic<int> connects{0};
};

// Forwards everything to `inner`; notes each connect and loss in `link`
// (and in the fleet-wide `connected` gauge) before passing it on, and holds
// a place in `gate` from each Connect until its outcome (an attempt that
// finds no place within `patience` fails, and the agent backs off).
class ObservedTransport final : public agent::Transport, private agent::TransportListener {
 public:
  ObservedTransport(std::unique_ptr<agent::Transport> inner, LinkState& link, std::atomic<int>& connected,
                    ConnectGate& gate, std::chrono::milliseconds patience);
  ~ObservedTransport() override;

  void SetListener(agent::TransportListener* listener) override;
  slotwise::Status Connect() override;
  slotwise::Status Publish(const agent::OutboundMessage& message) override { return inner_->Publish(message); }
  void Disconnect(std::chrono::milliseconds timeout) override;

 private:
  void OnConnected(bool session_present) override;
  void OnConnectFailed(std::string reason) override;
  void OnConnectionLost(std::string cause) override;
  void OnMessage(agent::InboundMessage message) override;
  void MarkDown();
  void LeaveGate();

  std::unique_ptr<agent::Transport> inner_;
  LinkState& link_;
  std::atomic<int>& connected_;
  ConnectGate& gate_;
  std::chrono::milliseconds patience_;
  std::atomic<bool> in_gate_{false};
  std::atomic<agent::TransportListener*> listener_{nullptr};
};

// When this terminal's fetches ran, on the wall clock.
struct FetchTimes {
  TimeMs first_start_ms = 0;  // 0 = none since Reset
  TimeMs last_end_ms = 0;
  void Reset() { *this = FetchTimes{}; }
};

// Forwards to a shared downloader and records the times. Called on the
// terminal's own thread only.
class TimedDownloader final : public agent::Downloader {
 public:
  TimedDownloader(agent::Downloader& inner, const Clock& clock, FetchTimes& times)
      : inner_(inner), clock_(clock), times_(times) {}
  slotwise::Status Fetch(const agent::DownloadRequest& request, std::stop_token stop) override;

 private:
  agent::Downloader& inner_;
  const Clock& clock_;
  FetchTimes& times_;
};

// Does in the process what an install hook does for a firmware image: makes
// sure the verified file is there and readable in full (no process per
// terminal: ten thousand /bin/sh spawns are not what the fleet measures).
// The agent then records the new version in the terminal's version file.
// Stateless: any number of terminals may install at once.
class InProcessInstaller final : public agent::Installer {
 public:
  slotwise::Status Install(const agent::InstallRequest& request) override;
};

}  // namespace slotwise::fleet

#include "terminal_io.h"

#include <fstream>
#include <vector>

namespace slotwise::fleet {

ObservedTransport::ObservedTransport(std::unique_ptr<agent::Transport> inner, LinkState& link,
                                     std::atomic<int>& connected, ConnectGate& gate,
                                     std::chrono::milliseconds patience)
    : inner_(std::move(inner)), link_(link), connected_(connected), gate_(gate), patience_(patience) {}

ObservedTransport::~ObservedTransport() {
  inner_->SetListener(nullptr);
  MarkDown();
  LeaveGate();
}

slotwise::Status ObservedTransport::Connect() {
  if (!in_gate_.load()) {
    if (!gate_.Enter(patience_)) {
      return MakeError(v1::INTERNAL, "the fleet has too many connection attempts in flight");
    }
    in_gate_.store(true);
  }
  auto started = inner_->Connect();
  if (!started) LeaveGate();
  return started;
}

void ObservedTransport::LeaveGate() {
  if (in_gate_.exchange(false)) gate_.Leave();
}

void ObservedTransport::SetListener(agent::TransportListener* listener) {
  // Attach: ours before the inner one can call us. Detach: the inner one
  // first, after which it calls nobody (transport.h), then ours.
  if (listener != nullptr) {
    listener_.store(listener);
    inner_->SetListener(this);
  } else {
    inner_->SetListener(nullptr);
    listener_.store(nullptr);
  }
}

void ObservedTransport::Disconnect(std::chrono::milliseconds timeout) {
  inner_->Disconnect(timeout);
  MarkDown();
}

void ObservedTransport::MarkDown() {
  if (link_.up.exchange(false)) connected_.fetch_sub(1);
}

void ObservedTransport::OnConnected(bool session_present) {
  LeaveGate();
  link_.connects.fetch_add(1);
  if (!link_.up.exchange(true)) connected_.fetch_add(1);
  if (auto* l = listener_.load()) l->OnConnected(session_present);
}

void ObservedTransport::OnConnectFailed(std::string reason) {
  LeaveGate();
  if (auto* l = listener_.load()) l->OnConnectFailed(std::move(reason));
}

void ObservedTransport::OnConnectionLost(std::string cause) {
  MarkDown();
  if (auto* l = listener_.load()) l->OnConnectionLost(std::move(cause));
}

void ObservedTransport::OnMessage(agent::InboundMessage message) {
  if (auto* l = listener_.load()) l->OnMessage(std::move(message));
}

slotwise::Status TimedDownloader::Fetch(const agent::DownloadRequest& request, std::stop_token stop) {
  if (times_.first_start_ms == 0) times_.first_start_ms = clock_.NowMs();
  auto fetched = inner_.Fetch(request, std::move(stop));
  times_.last_end_ms = clock_.NowMs();
  return fetched;
}

slotwise::Status InProcessInstaller::Install(const agent::InstallRequest& request) {
  std::ifstream in(request.file, std::ios::binary);
  if (!in) return MakeError(v1::INTERNAL, "cannot open " + request.file.string());
  std::vector<char> buffer(64 * 1024);
  std::uint64_t total = 0;
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
    total += static_cast<std::uint64_t>(in.gcount());
  }
  if (total == 0) return MakeError(v1::INTERNAL, request.file.string() + " is empty");
  return OkStatus();
}

}  // namespace slotwise::fleet

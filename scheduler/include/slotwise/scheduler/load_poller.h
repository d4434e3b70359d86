// LoadPoller: live usage of the download nodes. A background thread polls
// each node's nginx stub_status URL (libcurl, short timeout) and keeps the
// latest observation per node; the scheduler thread takes them with Take()
// and hands them to SchedulerService::ObserveNodeLoad().
//
// Threading: SetTargets() and Take() may be called from any thread; the
// poller's own thread only does HTTP. Nothing here touches the service.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace slotwise::scheduler {

// "Active connections: 3" of an nginx stub_status page; nullopt if absent.
std::optional<std::uint32_t> ParseStubStatus(std::string_view body);

struct NodeObservation {
  std::string node_id;
  std::optional<std::uint32_t> active_connections;  // nullopt: no answer
  std::string url;    // the status URL polled
  std::string error;  // without an answer: why ("Timeout was reached", "HTTP 404", ...)
};

class LoadPoller {
 public:
  // Polls every `interval`; a node that does not answer within `timeout`
  // is observed as unreachable.
  LoadPoller(std::chrono::milliseconds interval, std::chrono::milliseconds timeout);
  ~LoadPoller();  // stops and joins the thread
  LoadPoller(const LoadPoller&) = delete;
  LoadPoller& operator=(const LoadPoller&) = delete;

  // node id -> status URL; replaces the previous set.
  void SetTargets(std::map<std::string, std::string> targets);
  // The observations made since the last call, oldest first.
  std::vector<NodeObservation> Take();

 private:
  void Run();

  std::chrono::milliseconds interval_;
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::map<std::string, std::string> targets_;
  std::vector<NodeObservation> observed_;
  std::thread thread_;
};

}  // namespace slotwise::scheduler

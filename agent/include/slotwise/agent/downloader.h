// Fetching an upgrade file over HTTP(S), behind an interface so the state
// machine can be tested with a fake; CurlDownloader is the libcurl one.
//
// The downloader only moves bytes into `destination`; the agent verifies
// size and SHA-256 itself, so every implementation is held to the same check.
//
// Threading: Fetch blocks the calling thread (the agent's own, never Paho's
// callback thread) until the transfer ends, fails or `stop` is requested.
// One CurlDownloader may serve several agents' threads at once (each Fetch
// uses its own easy handle).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "slotwise/result.h"

namespace slotwise::agent {

struct DownloadRequest {
  std::string url;
  // With resume_from == 0: created or truncated. Otherwise it must hold
  // exactly resume_from bytes, and only the rest is asked for (HTTP Range);
  // a server that ignores the Range gets the file rewritten from byte 0.
  std::filesystem::path destination;
  std::vector<std::string> headers;   // "Name: value"
  std::uint64_t resume_from = 0;
  // 0 = unlimited. CurlDownloader holds the transfer to it (curl's own
  // limit and pacing in its write callback).
  std::uint64_t max_bytes_per_second = 0;
  // Called on the fetching thread with the bytes now in `destination` and
  // the whole file's size (0 while unknown). Optional.
  std::function<void(std::uint64_t have, std::uint64_t total)> on_progress;
  // Called on the fetching thread after a successful transfer with the
  // bytes this transfer received and how long it took (the link rate the
  // terminal reports, schemas/README.md "Capacity in bytes"). Optional.
  std::function<void(std::uint64_t bytes, std::uint64_t micros)> on_measured;
  // Called on the fetching thread right before the request goes out (after
  // the file is opened and the transfer set up); false: nothing is sent and
  // Fetch returns FAILED_PRECONDITION. A node counts a download by when its
  // request arrives, so the slot's end is judged as late as can be. Optional.
  std::function<bool()> may_start;
};

class Downloader {
 public:
  virtual ~Downloader() = default;
  // Error codes say what the agent should do next:
  //   FAILED_PRECONDITION  a requested stop, or may_start said no;
  //   NOT_FOUND            the server refused the URL (HTTP 401, 403, 404,
  //                        410): expired or withdrawn, ask the scheduler;
  //   INVALID_ARGUMENT     `destination` cannot be written (disk full);
  //   INTERNAL             anything else (connection refused or cut,
  //                        timeouts, HTTP 5xx): worth a retry that resumes;
  //                        after HTTP 416 `destination` is emptied first.
  virtual slotwise::Status Fetch(const DownloadRequest& request, std::stop_token stop) = 0;
};

struct CurlDownloaderOptions {
  // Default: 30 s.
  std::chrono::seconds connect_timeout{30};
  // A transfer slower than 1 byte/s for this long is abandoned, so a dead
  // node cannot hold the terminal's slot forever. Default: 60 s.
  std::chrono::seconds stall_timeout{60};
  // Default: 5 (node base URLs may redirect to a mirror).
  long max_redirects = 5;
};

class CurlDownloader final : public Downloader {
 public:
  explicit CurlDownloader(CurlDownloaderOptions options = {});
  slotwise::Status Fetch(const DownloadRequest& request, std::stop_token stop) override;

 private:
  CurlDownloaderOptions options_;
};

}  // namespace slotwise::agent

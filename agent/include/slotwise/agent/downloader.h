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
#include <filesystem>
#include <stop_token>
#include <string>
#include <vector>

#include "slotwise/result.h"

namespace slotwise::agent {

struct DownloadRequest {
  std::string url;
  std::filesystem::path destination;  // created or truncated
  std::vector<std::string> headers;   // "Name: value"
};

class Downloader {
 public:
  virtual ~Downloader() = default;
  // Errors are INTERNAL with the reason (curl's text, or the HTTP status
  // for a response >= 400); a requested stop is FAILED_PRECONDITION.
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

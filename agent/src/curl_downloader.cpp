#include "slotwise/agent/downloader.h"

#include <curl/curl.h>

#include <cstdio>
#include <memory>
#include <mutex>

namespace slotwise::agent {
namespace {

// curl_global_init is process-wide and must run once before any handle;
// this is the one piece of global state, and it is libcurl's, not ours.
void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

struct Transfer {
  std::FILE* out = nullptr;
  std::stop_token stop;
  bool write_failed = false;
};

std::size_t WriteToFile(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (std::fwrite(data, 1, bytes, transfer->out) != bytes) {
    transfer->write_failed = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  return bytes;
}

int CheckStop(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<Transfer*>(user)->stop.stop_requested() ? 1 : 0;  // non-zero aborts
}

}  // namespace

CurlDownloader::CurlDownloader(CurlDownloaderOptions options) : options_(options) { InitCurlOnce(); }

slotwise::Status CurlDownloader::Fetch(const DownloadRequest& request, std::stop_token stop) {
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return MakeError(v1::INTERNAL, "curl_easy_init failed");
  std::unique_ptr<std::FILE, FileCloser> out(std::fopen(request.destination.c_str(), "wb"));
  if (!out) return MakeError(v1::INTERNAL, "cannot create " + request.destination.string());

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const std::string& h : request.headers) {
    curl_slist* grown = curl_slist_append(headers.get(), h.c_str());
    if (grown == nullptr) return MakeError(v1::INTERNAL, "out of memory building headers");
    headers.release();
    headers.reset(grown);
  }

  Transfer transfer{out.get(), stop, false};
  char error_buffer[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteToFile);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &CheckStop);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);  // HTTP >= 400 is an error, body not written
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, options_.max_redirects);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  // Signals must not be used for timeouts in a multi-threaded process.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);

  const CURLcode rc = curl_easy_perform(c);
  const bool flushed = std::fflush(out.get()) == 0;
  if (rc == CURLE_ABORTED_BY_CALLBACK && stop.stop_requested()) {
    return MakeError(v1::FAILED_PRECONDITION, "download cancelled");
  }
  if (rc != CURLE_OK) {
    long http_status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http_status);
    std::string why = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    if (transfer.write_failed) why = "cannot write " + request.destination.string();
    if (rc == CURLE_HTTP_RETURNED_ERROR) why = "HTTP " + std::to_string(http_status);
    return MakeError(v1::INTERNAL, "GET " + request.url + ": " + why);
  }
  if (!flushed) return MakeError(v1::INTERNAL, "cannot write " + request.destination.string());
  return OkStatus();
}

}  // namespace slotwise::agent

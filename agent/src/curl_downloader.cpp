#include <curl/curl.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "slotwise/agent/downloader.h"

namespace slotwise::agent {
namespace {

// libcurl is loaded with dlopen at the first download, not linked: an agent
// waits for its slot far longer than it downloads, and libcurl drags in
// GnuTLS, p11-kit, Kerberos and LDAP, whose load-time initialisation costs
// megabytes of resident memory for the whole wait (bench_agent's
// idle_rss_mb). The headers still give the types and constants.
struct CurlApi {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_perform)(CURL*);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  void (*easy_cleanup)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
};

template <class Fn>
bool Bind(void* lib, const char* name, Fn*& fn) {
  fn = reinterpret_cast<Fn*>(::dlsym(lib, name));
  return fn != nullptr;
}

// Filled once, inside the call_once below; read only by code that called
// Curl() first (call_once orders the write before those reads).
CurlApi g_api{};

// Loaded and curl_global_init'ed once per process (the one piece of global
// state, and it is libcurl's); never unloaded. nullptr if it cannot be.
const CurlApi* Curl(std::string* error) {
  static std::once_flag once;
  static const CurlApi* loaded = nullptr;
  CurlApi& api = g_api;
  static std::string load_error;
  std::call_once(once, [&api] {
    void* lib = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = ::dlerror();
      load_error = std::string("cannot load libcurl.so.4: ") + (why ? why : "unknown error");
      return;
    }
    const bool ok = Bind(lib, "curl_global_init", api.global_init) && Bind(lib, "curl_easy_init", api.easy_init) &&
                    Bind(lib, "curl_easy_setopt", api.easy_setopt) &&
                    Bind(lib, "curl_easy_perform", api.easy_perform) &&
                    Bind(lib, "curl_easy_getinfo", api.easy_getinfo) &&
                    Bind(lib, "curl_easy_cleanup", api.easy_cleanup) &&
                    Bind(lib, "curl_easy_strerror", api.easy_strerror) &&
                    Bind(lib, "curl_slist_append", api.slist_append) &&
                    Bind(lib, "curl_slist_free_all", api.slist_free_all);
    if (!ok) {
      load_error = "libcurl.so.4 lacks a needed function";
      return;
    }
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      load_error = "curl_global_init failed";
      return;
    }
    loaded = &api;
  });
  if (loaded == nullptr) *error = load_error;
  return loaded;
}

struct CurlDeleter {
  void operator()(CURL* c) const { g_api.easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { g_api.slist_free_all(l); }
};
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

struct Transfer {
  CURL* curl = nullptr;
  std::FILE* out = nullptr;
  const DownloadRequest* request = nullptr;
  std::stop_token stop;
  std::uint64_t offset = 0;  // bytes of the file before this response's body
  bool checked_status = false;
  bool write_failed = false;
  // Pacing for max_bytes_per_second: the body bytes received since `began`.
  std::chrono::steady_clock::time_point began = std::chrono::steady_clock::now();
  std::uint64_t received = 0;
};

// Holds the transfer back (curl stops reading the socket, TCP slows the
// sender) until `received` bytes are no more than max_bytes_per_second
// allows since it began: libcurl's own CURLOPT_MAX_RECV_SPEED_LARGE lets a
// fast sender through (curl 7.88 took 500 kB at 25 KiB/s in 35 ms here).
void Pace(Transfer& t) {
  const std::uint64_t rate = t.request->max_bytes_per_second;
  if (rate == 0) return;
  const auto due = t.began + std::chrono::microseconds(t.received * 1'000'000 / rate);
  while (!t.stop.stop_requested()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= due) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(due - now, std::chrono::milliseconds(100)));
  }
}

std::size_t WriteToFile(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  if (!transfer->checked_status) {
    transfer->checked_status = true;
    long status = 0;
    g_api.easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
    // A 200 to a Range request is the whole file: start the file again.
    if (transfer->offset > 0 && status == 200) {
      if (std::fflush(transfer->out) != 0 || ::ftruncate(::fileno(transfer->out), 0) != 0 ||
          std::fseek(transfer->out, 0, SEEK_SET) != 0) {
        transfer->write_failed = true;
        return 0;
      }
      transfer->offset = 0;
    }
  }
  const std::size_t bytes = size * count;
  if (std::fwrite(data, 1, bytes, transfer->out) != bytes) {
    transfer->write_failed = true;
    return 0;  // makes curl abort with CURLE_WRITE_ERROR
  }
  transfer->received += bytes;
  Pace(*transfer);
  return bytes;
}

int OnProgress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->stop.stop_requested()) return 1;  // non-zero aborts
  if (transfer->request->on_progress && dlnow > 0) {
    const std::uint64_t have = transfer->offset + static_cast<std::uint64_t>(dlnow);
    const std::uint64_t total = dltotal > 0 ? transfer->offset + static_cast<std::uint64_t>(dltotal) : 0;
    transfer->request->on_progress(have, total);
  }
  return 0;
}

}  // namespace

CurlDownloader::CurlDownloader(CurlDownloaderOptions options) : options_(options) {}

slotwise::Status CurlDownloader::Fetch(const DownloadRequest& request, std::stop_token stop) {
  std::string load_error;
  const CurlApi* api = Curl(&load_error);
  if (api == nullptr) return MakeError(v1::INTERNAL, load_error);
  std::unique_ptr<CURL, CurlDeleter> curl(api->easy_init());
  if (!curl) return MakeError(v1::INTERNAL, "curl_easy_init failed");
  std::unique_ptr<std::FILE, FileCloser> out(
      std::fopen(request.destination.c_str(), request.resume_from > 0 ? "ab" : "wb"));
  if (!out) return MakeError(v1::INVALID_ARGUMENT, "cannot create " + request.destination.string());

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const std::string& h : request.headers) {
    curl_slist* grown = api->slist_append(headers.get(), h.c_str());
    if (grown == nullptr) return MakeError(v1::INTERNAL, "out of memory building headers");
    headers.release();
    headers.reset(grown);
  }

  CURL* c = curl.get();
  Transfer transfer{c, out.get(), &request, stop, request.resume_from, false, false,
                    std::chrono::steady_clock::now(), 0};
  char error_buffer[CURL_ERROR_SIZE] = {};
  api->easy_setopt(c, CURLOPT_URL, request.url.c_str());
  api->easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  api->easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteToFile);
  api->easy_setopt(c, CURLOPT_WRITEDATA, &transfer);
  api->easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  api->easy_setopt(c, CURLOPT_XFERINFODATA, &transfer);
  api->easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  api->easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  api->easy_setopt(c, CURLOPT_FAILONERROR, 1L);  // HTTP >= 400 is an error, body not written
  api->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  api->easy_setopt(c, CURLOPT_MAXREDIRS, options_.max_redirects);
  api->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout.count()));
  api->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  api->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  // CURLOPT_RANGE rather than CURLOPT_RESUME_FROM_LARGE: the latter makes
  // curl refuse a 200 answer ("cannot resume"), where the whole file is as
  // good (WriteToFile then starts the file again).
  const std::string range = std::to_string(request.resume_from) + "-";
  if (request.resume_from > 0) api->easy_setopt(c, CURLOPT_RANGE, range.c_str());
  if (request.max_bytes_per_second > 0) {
    api->easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, static_cast<curl_off_t>(request.max_bytes_per_second));
  }
  // Signals must not be used for timeouts in a multi-threaded process.
  api->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);

  if (request.may_start && !request.may_start()) {
    return MakeError(v1::FAILED_PRECONDITION, "GET " + request.url + ": not started");
  }
  const CURLcode rc = api->easy_perform(c);
  const bool flushed = std::fflush(out.get()) == 0 && ::fsync(::fileno(out.get())) == 0;
  if (rc == CURLE_ABORTED_BY_CALLBACK && stop.stop_requested()) {
    return MakeError(v1::FAILED_PRECONDITION, "download cancelled");
  }
  if (rc != CURLE_OK) {
    long http_status = 0;
    api->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http_status);
    std::string why = error_buffer[0] != '\0' ? error_buffer : api->easy_strerror(rc);
    if (transfer.write_failed) {
      return MakeError(v1::INVALID_ARGUMENT, "GET " + request.url + ": cannot write " + request.destination.string());
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      why = "HTTP " + std::to_string(http_status);
      if (http_status == 401 || http_status == 403 || http_status == 404 || http_status == 410) {
        return MakeError(v1::NOT_FOUND, "GET " + request.url + ": " + why);
      }
      if (http_status == 416) {
        // What is on disk does not fit the server's file: start it again.
        if (::ftruncate(::fileno(out.get()), 0) != 0) {
          return MakeError(v1::INVALID_ARGUMENT, "cannot truncate " + request.destination.string());
        }
        why += " (partial file discarded)";
      }
    }
    return MakeError(v1::INTERNAL, "GET " + request.url + ": " + why);
  }
  if (!flushed) return MakeError(v1::INVALID_ARGUMENT, "cannot write " + request.destination.string());
  // What this transfer moved and how long it took (the link rate the
  // terminal reports, S7/S11).
  curl_off_t bytes = 0, micros = 0;
  if (request.on_measured && api->easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &bytes) == CURLE_OK &&
      api->easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &micros) == CURLE_OK && bytes >= 0 && micros >= 0) {
    request.on_measured(static_cast<std::uint64_t>(bytes), static_cast<std::uint64_t>(micros));
  }
  return OkStatus();
}

}  // namespace slotwise::agent

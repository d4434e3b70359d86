#include "download_step.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "artifact.h"
#include "backoff.h"
#include "delta_download.h"
#include "slotwise/sha256.h"
#include "slotwise/topics.h"

namespace slotwise::agent {
namespace {

using Kind = StepOutcome::Kind;

// Size and SHA-256 of what is on disk against the Download; empty when they match.
std::string Mismatch(const std::filesystem::path& partial, const v1::Download& download) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(partial, ec);
  if (ec) return "downloaded file is missing: " + ec.message();
  if (download.size() != 0 && size != download.size()) {
    return "size mismatch: got " + std::to_string(size) + " bytes, expected " + std::to_string(download.size());
  }
  const auto digest = Sha256FileHex(partial);
  if (!digest) return "cannot hash download: " + digest.error().message;
  const std::string expected = ToLowerAscii(download.sha256());
  if (expected.empty() || *digest != expected) {
    return "sha256 mismatch: got " + *digest + ", expected " + (expected.empty() ? std::string("none") : expected);
  }
  return {};
}

// What one resumable fetch of `url` into `partial` came to.
struct Fetched {
  // Set: the step ends with it. Unset: `partial` holds `total` bytes (or
  // whatever the server sent when total is 0).
  std::optional<StepOutcome> outcome;
  bool url_refused = false;  // the outcome is kRecheck for HTTP 401/403/404/410
};

// The fetch both halves share (agent/README.md "What it does", 7): the
// slot's bound on starting, the busy check, free space for what is left
// plus `extra_space`, Range resume from the bytes on disk, progress every
// 10%, and the failures by kind.
// What the step's successful transfers moved, and in how long.
struct Measured {
  std::uint64_t bytes = 0;
  std::uint64_t micros = 0;
};

Fetched FetchResumable(const StepContext& context, const v1::AgentState& state, Downloader& downloader,
                       DownloadRetry retry, const std::string& url, const std::filesystem::path& partial,
                       std::uint64_t total, std::uint64_t extra_space, bool started_before, Measured& measured) {
  const AgentConfig& config = context.config;
  const v1::Download& download = state.download();
  std::error_code ec;
  std::uint64_t have = std::filesystem::exists(partial, ec) ? std::filesystem::file_size(partial, ec) : 0;
  if (ec) have = 0;
  if (total != 0 && have > total) {
    std::filesystem::remove(partial, ec);
    have = 0;
  }
  // The slot bounds when a download may start, not when a resumed one may
  // go on: bytes on disk (or an attempt of this GO) mean it has started.
  const bool started = started_before || have > 0 || state.download_attempts() > 0;
  // On the latest the scheduler's clock can be: a GO that came back slowly
  // may have arrived after the slot's end even when the middle estimate
  // says it did not, and a start then counts in the node's next slot.
  const auto window_missed = [&]() -> std::optional<StepOutcome> {
    if (started || download.not_after_ms() <= 0 || context.server_latest() < download.not_after_ms()) {
      return std::nullopt;
    }
    return StepOutcome::Of(Kind::kWindowMissed, "the slot ended before the download could start; checking again");
  };
  if (auto missed = window_missed()) return {std::move(*missed)};
  if (context.is_busy()) return {StepOutcome::Of(Kind::kBusy)};
  const std::uint64_t remaining = (total > have ? total - have : 0) + extra_space;
  const auto space = std::filesystem::space(config.download_dir, ec);
  if (!ec && space.available < remaining + config.min_free_bytes) {
    std::filesystem::remove(partial, ec);
    return {StepOutcome::Of(Kind::kFailed, "not enough disk space in " + config.download_dir.string() + ": need " +
                                               std::to_string(remaining + config.min_free_bytes) + " bytes, " +
                                               std::to_string(space.available) + " available")};
  }

  std::uint32_t progress_sent = total > 0 ? static_cast<std::uint32_t>(have * 10 / total) * 10 : 0;
  context.progress(v1::Status::DOWNLOADING, progress_sent);
  if (total != 0 && have >= total) return {};
  if (have > 0) context.log.Info("resuming the download at byte " + std::to_string(have));
  DownloadRequest request;
  request.url = url;
  request.destination = partial;
  request.headers = {"X-Slotwise-Terminal: " + config.terminal_id};
  request.resume_from = have;
  request.max_bytes_per_second = config.download_rate_limit_kbps * 1024;
  request.on_measured = [&measured](std::uint64_t bytes, std::uint64_t micros) {
    measured.bytes += bytes;
    measured.micros += micros;
  };
  request.on_progress = [&context, &progress_sent, total](std::uint64_t bytes, std::uint64_t) {
    if (total == 0) return;
    // About every 10%: a fleet's progress must not flood the broker.
    const auto percent = static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes * 10 / total, 10) * 10);
    if (percent > progress_sent && percent < 100) {
      progress_sent = percent;
      context.progress(v1::Status::DOWNLOADING, percent);
    }
  };
  // Once more right before the request goes out (the downloader asks): the
  // progress message (a publish that can wait for a busy MQTT client), the
  // disk check and opening the file take time, and the node counts a start
  // by when the request reaches it.
  std::optional<StepOutcome> missed_at_start;
  request.may_start = [&] {
    missed_at_start = window_missed();
    return !missed_at_start.has_value();
  };
  const auto fetched = downloader.Fetch(request, context.stop);
  if (fetched) return {};
  if (missed_at_start) return {std::move(*missed_at_start)};
  if (context.stop.stop_requested()) {
    // The saved phase is still DOWNLOADING; the .part stays.
    return {StepOutcome::Of(Kind::kInterrupted, "download interrupted by shutdown; it resumes after the next check")};
  }
  std::string why = "download failed: " + fetched.error().message;
  switch (fetched.error().code) {
    case v1::NOT_FOUND:  // an expired or withdrawn URL: not a failure
      return {StepOutcome::Of(Kind::kRecheck, std::move(why)), true};
    case v1::INVALID_ARGUMENT:
      std::filesystem::remove(partial, ec);  // the terminal needs its disk back
      return {StepOutcome::Of(Kind::kFailed, std::move(why))};
    default:
      break;
  }
  // A cut that still brought bytes is progress: only attempts in a row
  // that brought nothing count towards the bound.
  const std::uint64_t now_have = std::filesystem::file_size(partial, ec);
  const bool progressed = !ec && now_have > have;
  const std::uint32_t attempts = progressed ? 1 : state.download_attempts() + 1;
  if (attempts >= config.download_attempts) {
    return {StepOutcome::Of(Kind::kRecheck, why + " (" + std::to_string(attempts) + " attempts)")};
  }
  // Full jitter: terminals cut off by one node failure do not all come
  // back at the same instant.
  const auto ceiling = Doubled(retry.min, static_cast<int>(attempts) - 1, retry.max);
  std::uniform_int_distribution<long long> spread(0, ceiling.count());
  StepOutcome out = StepOutcome::Of(Kind::kRetry, std::move(why));
  out.delay = std::chrono::milliseconds(spread(context.rng));
  out.attempts = attempts;
  return {std::move(out)};
}

void WriteHow(const std::filesystem::path& file, const std::string& how) {
  std::ofstream(HowPath(file), std::ios::trunc) << how << "\n";
}

// From here on the full image: an empty .part of it says so to every later
// run (delta_download.h), and the reason goes to the final status.
void FallBackToFullImage(const StepContext& context, const std::filesystem::path& file,
                         const std::filesystem::path& partial, const std::string& why, bool failed) {
  const std::string line = "delta not used: " + why + "; fetching the full image";
  if (failed) {
    context.log.Warn(line);
  } else {
    context.log.Info(line);
  }
  std::error_code ec;
  if (!std::filesystem::exists(partial, ec)) std::ofstream(partial, std::ios::binary | std::ios::app).close();
  WriteHow(file, "full image (delta not used: " + why + ")");
}

}  // namespace

StepOutcome RunDownloadStep(const StepContext& context, const v1::AgentState& state, Downloader& downloader,
                            DownloadRetry retry) {
  const AgentConfig& config = context.config;
  const v1::Download& download = state.download();
  const std::filesystem::path file = DownloadPath(config.download_dir, download);
  const std::filesystem::path partial = PartialPath(config.download_dir, download);
  std::error_code ec;
  std::filesystem::create_directories(config.download_dir, ec);

  // What the GO says to install must be what the campaign is for.
  if (topics::CanonicalComponent(download.component()) != context.component.name) {
    return StepOutcome::Of(Kind::kFailed, "the download is for component '" + download.component() +
                                              "', the campaign for '" + context.component.name + "'");
  }
  if (auto ok = CheckManifest(download, context.public_key_pem, context.current_version); !ok) {
    return StepOutcome::Of(Kind::kFailed, ok.error().message);
  }
  // A file verified by a run that was cut short during the install is
  // verified again like any partial download, never trusted as it is.
  if (!std::filesystem::exists(partial, ec) && std::filesystem::exists(file, ec)) {
    std::filesystem::rename(file, partial, ec);
  }

  // A delta, when the GO offers one this terminal can use (delta_download.h):
  // fetched and resumed like the full image, then rebuilt into the full
  // image's .part, which is verified below exactly as a download.
  bool started_before = false;
  Measured measured;
  if (OffersDelta(download)) {
    const std::filesystem::path delta_partial = DeltaPartialPath(config.download_dir, download);
    if (std::string refusal = DeltaRefusal(download, context.component, partial); !refusal.empty()) {
      if (!std::filesystem::exists(partial, ec)) FallBackToFullImage(context, file, partial, refusal, false);
      std::filesystem::remove(delta_partial, ec);
    } else {
      Fetched delta = FetchResumable(context, state, downloader, retry, download.delta_url(), delta_partial,
                                     download.delta_size(), download.size(), false, measured);
      if (delta.outcome && delta.url_refused) {
        std::filesystem::remove(delta_partial, ec);
        FallBackToFullImage(context, file, partial, "the node refused the delta's URL (" + delta.outcome->detail + ")",
                            true);
      } else if (delta.outcome) {
        return std::move(*delta.outcome);
      } else if (auto rebuilt = RebuildFromDelta(download, context.component, delta_partial, partial); !rebuilt) {
        std::filesystem::remove(delta_partial, ec);
        FallBackToFullImage(context, file, partial, rebuilt.error().message, true);
      } else {
        std::filesystem::remove(delta_partial, ec);
        context.log.Info("rebuilt " + download.version() + " from a delta of " + std::to_string(download.delta_size()) +
                         " bytes (base " + download.delta_base_version() + ", full image " +
                         std::to_string(download.size()) + " bytes)");
        WriteHow(file, "from a delta of " + std::to_string(download.delta_size()) + " bytes (base " +
                           download.delta_base_version() + ")");
      }
      started_before = true;
    }
  }

  Fetched full = FetchResumable(context, state, downloader, retry, download.url(), partial, download.size(), 0,
                                started_before, measured);
  if (full.outcome) return std::move(*full.outcome);

  context.progress(v1::Status::VERIFYING, 100);
  if (std::string mismatch = Mismatch(partial, download); !mismatch.empty()) {
    // What is on disk is wrong somewhere: none of it can be resumed from.
    std::filesystem::remove(partial, ec);
    if (state.verify_failures() + 1 >= config.verify_attempts) {
      return StepOutcome::Of(Kind::kFailed,
                             mismatch + " (" + std::to_string(state.verify_failures() + 1) + " downloads)");
    }
    StepOutcome out = StepOutcome::Of(Kind::kRetry, std::move(mismatch));
    out.delay = retry.min;
    out.verify_failed = true;
    return out;
  }
  std::filesystem::rename(partial, file, ec);
  if (ec) {
    std::filesystem::remove(partial, ec);
    return StepOutcome::Of(Kind::kFailed, "cannot move download into place: " + ec.message());
  }
  StepOutcome done = StepOutcome::Of(Kind::kDone);
  done.download_bytes = measured.bytes;
  done.download_micros = measured.micros;
  return done;
}

}  // namespace slotwise::agent

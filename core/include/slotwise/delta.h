// Delta artifacts (schemas/README.md "Delta artifacts"): zstd's patch-from
// mode, one zstd frame whose window starts with the base image as a prefix
// (ZSTD_CCtx_refPrefix / ZSTD_DCtx_refPrefix), long-distance matching on,
// the window large enough to reach back over the whole base. The operator
// CLI builds deltas (`slotwise version add --delta-from`), the agent applies
// them to its installed image.
//
// Memory: base, target, delta and output are memory-mapped files, never
// copied to the heap, and both directions are single-shot (no streaming
// window buffer), so the resident cost is the page cache plus zstd's tables
// (measured, 64 MB base + 65 MB target: building at level 19 peaks at 240 MB
// RSS, 130 MB of it the mapped files; applying at 140 MB, all mapped). The window reaches at most 2^31 bytes back (ZSTD_WINDOWLOG_MAX_64),
// so base size + target size must be <= kMaxDeltaSpan (2 GiB); larger pairs
// are refused with INVALID_ARGUMENT, never built half-way.
//
// Threading: pure functions on files; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>

#include "slotwise/result.h"

namespace slotwise {

// The most base bytes + target bytes one delta can span (2^31).
inline constexpr std::uint64_t kMaxDeltaSpan = std::uint64_t{1} << 31;

struct DeltaOptions {
  // zstd compression level (1-22). Default: 19 (btultra2; a delta is built
  // once and fetched by a fleet).
  int level = 19;
};

struct DeltaBuilt {
  std::uint64_t size = 0;  // bytes written to the delta file
  int window_log = 0;      // the frame's window (log2 bytes)
};

// Writes to `delta` a zstd frame that turns `base` into `target` (replacing
// `delta`, through `delta`.tmp and a rename). INVALID_ARGUMENT when the pair
// is too large (kMaxDeltaSpan) or the target is empty; NOT_FOUND when a file
// cannot be read; INTERNAL for zstd or write failures.
Result<DeltaBuilt> BuildDelta(const std::filesystem::path& base, const std::filesystem::path& target,
                              const std::filesystem::path& delta, const DeltaOptions& options = {});

// Writes to `out` what `delta` makes of `base`. The frame must declare its
// content size and it must be `expected_size` (so a hostile delta cannot
// fill the disk); the frame's checksum is checked by zstd. `out` is written
// in place (callers write to a temporary name and rename it after their own
// SHA-256 check). FAILED_PRECONDITION when the delta is not a usable frame,
// its size is not expected_size, or decoding fails (a wrong base shows as a
// checksum error); NOT_FOUND when a file cannot be read; INTERNAL for write
// failures (`out` is removed).
Status ApplyDelta(const std::filesystem::path& base, const std::filesystem::path& delta,
                  const std::filesystem::path& out, std::uint64_t expected_size);

}  // namespace slotwise

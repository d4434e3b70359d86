// Internal to the CLI: what `campaign status --wait` shows of a campaign's
// progress -- the rate at which terminals finish (over a sliding window),
// the ETA it gives, and the progress bar / plain line. Pure: the caller
// passes the times; safe from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>

namespace slotwise::cli {

// Terminals finished per second over the last `window_s` seconds of samples.
class RateMeter {
 public:
  explicit RateMeter(double window_s = 30.0) : window_s_(window_s) {}
  // `finished` terminals at `t_s` (seconds, any monotonic origin).
  void Add(double t_s, std::uint32_t finished);
  // nullopt until two samples span some time.
  std::optional<double> Rate() const;
  // Seconds until `total` at the current rate; nullopt without a rate (or a
  // zero rate with work left); 0 when nothing is left.
  std::optional<double> Eta(std::uint32_t finished, std::uint32_t total) const;

 private:
  double window_s_;
  std::deque<std::pair<double, std::uint32_t>> samples_;
};

// "0:07", "12:05", "1:02:03"; "--:--" for nullopt or a negative time.
std::string FormatDuration(std::optional<double> seconds);
// "45.0%"; 100.0% only when finished == total (an empty campaign is 100 %).
std::string FormatPercent(std::uint32_t finished, std::uint32_t total);
// The TTY line: "[##########..........]  50.0%  500/1000  12.5/s  ETA 0:40  SCHEDULED".
std::string ProgressBar(std::uint32_t finished, std::uint32_t total, std::optional<double> rate,
                        std::optional<double> eta, const std::string& state, int width = 30);
// The plain line (not a TTY): "50.0% 500/1000 finished, 12.5/s, ETA 0:40, SCHEDULED".
std::string ProgressLine(std::uint32_t finished, std::uint32_t total, std::optional<double> rate,
                         std::optional<double> eta, const std::string& state);

}  // namespace slotwise::cli

#include "progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace slotwise::cli {
namespace {

std::string FormatRate(std::optional<double> rate) {
  if (!rate) return "-/s";
  char buf[32];
  std::snprintf(buf, sizeof buf, *rate >= 100 ? "%.0f/s" : "%.1f/s", *rate);
  return buf;
}

}  // namespace

void RateMeter::Add(double t_s, std::uint32_t finished) {
  if (!samples_.empty() && t_s < samples_.back().first) samples_.clear();  // clock went back: start again
  samples_.emplace_back(t_s, finished);
  // Keep the newest sample older than the window: the rate spans the window.
  while (samples_.size() > 2 && t_s - samples_[1].first >= window_s_) samples_.pop_front();
}

std::optional<double> RateMeter::Rate() const {
  if (samples_.size() < 2) return std::nullopt;
  const auto& [t0, f0] = samples_.front();
  const auto& [t1, f1] = samples_.back();
  if (t1 - t0 <= 0.0) return std::nullopt;
  const double done = f1 >= f0 ? static_cast<double>(f1 - f0) : 0.0;
  return done / (t1 - t0);
}

std::optional<double> RateMeter::Eta(std::uint32_t finished, std::uint32_t total) const {
  if (finished >= total) return 0.0;
  const auto r = Rate();
  if (!r || *r <= 0.0) return std::nullopt;
  return static_cast<double>(total - finished) / *r;
}

std::string FormatDuration(std::optional<double> seconds) {
  if (!seconds || *seconds < 0 || !std::isfinite(*seconds)) return "--:--";
  const auto s = static_cast<long long>(std::llround(*seconds));
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

std::string FormatPercent(std::uint32_t finished, std::uint32_t total) {
  if (total == 0 || finished >= total) return "100.0%";
  // Rounded down to a tenth: 99.96 % shows 99.9 %, never 100 % early.
  const double tenths = std::floor(1000.0 * static_cast<double>(finished) / static_cast<double>(total));
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", tenths / 10.0);
  return buf;
}

std::string ProgressBar(std::uint32_t finished, std::uint32_t total, std::optional<double> rate,
                        std::optional<double> eta, const std::string& state, int width) {
  const double frac = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(finished) / static_cast<double>(total));
  const int full = finished >= total ? width : std::min(width - 1, static_cast<int>(std::floor(frac * width)));
  std::string bar = "[" + std::string(static_cast<std::size_t>(full), '#') +
                    std::string(static_cast<std::size_t>(width - full), '.') + "]";
  char pct[16];
  std::snprintf(pct, sizeof pct, "%6s", FormatPercent(finished, total).c_str());
  return bar + " " + pct + "  " + std::to_string(finished) + "/" + std::to_string(total) + "  " + FormatRate(rate) +
         "  ETA " + FormatDuration(eta) + "  " + state;
}

std::string ProgressLine(std::uint32_t finished, std::uint32_t total, std::optional<double> rate,
                         std::optional<double> eta, const std::string& state) {
  return FormatPercent(finished, total) + " " + std::to_string(finished) + "/" + std::to_string(total) +
         " finished, " + FormatRate(rate) + ", ETA " + FormatDuration(eta) + ", " + state;
}

}  // namespace slotwise::cli

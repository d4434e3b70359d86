// bench_event_feed: what counting a campaign costs the scheduler's loop for
// the live events (event_feed.h), for a campaign of N terminals, and the
// progress interval the feed then keeps (>= 20x that cost). Prints figures;
// run by hand: build/scheduler/bench/bench_event_feed [N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "slotwise/scheduler/event_feed.h"

int main(int argc, char** argv) {
  using namespace slotwise;
  const long n = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  scheduler::CampaignRecord record;
  record.campaign.set_id("bench");
  for (long i = 0; i < n; ++i) {
    v1::TerminalProgress p;
    char id[32];
    std::snprintf(id, sizeof id, "T%09ld", i);
    p.set_terminal_id(id);
    p.set_node_id("n" + std::to_string(i % 16));
    p.set_assigned(i % 3 != 0);
    if (i % 4 == 0) p.set_outcome(v1::TerminalProgress::SUCCEEDED);
    if (i % 5 == 0) p.set_state(v1::Status::DOWNLOADING);
    record.progress.emplace(id, std::move(p));
  }
  constexpr int kRounds = 5;
  double best = 1e9;
  std::uint32_t finished = 0;
  for (int r = 0; r < kRounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto c = scheduler::CountCampaign(record);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, ms);
    finished = c.finished;
  }
  const double interval = std::max(250.0, 20.0 * best);
  std::printf("terminals %ld: one count %.1f ms (best of %d), finished %u; progress interval %.0f ms; "
              "loop share %.1f %%\n",
              n, best, kRounds, finished, interval, 100.0 * best / interval);
  return 0;
}

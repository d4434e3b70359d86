// Leadership of a scheduler pair through the database (PostgreSQL store,
// postgres_store.h): one leader serves, the other waits as a standby and
// takes over when the leader's lease runs out.
//
// The lease is one row, slotwise_leader (id 1, epoch, holder, renewed_at),
// timed by the database's clock only (no clock of ours is compared with
// another machine's):
//   - the leader renews it every lease/4 on a dedicated connection
//     (UPDATE ... SET renewed_at = clock_timestamp() WHERE epoch = ours);
//   - a standby polls it and, once renewed_at is older than the lease, takes
//     it over in a transaction that locks the row FOR UPDATE and sets
//     epoch + 1 (so a takeover waits for the old leader's Write in flight,
//     and every later Write of the old leader sees the new epoch and is
//     refused: the fencing rule of postgres_store.h);
//   - the leader considers itself lost when a renewal finds another epoch,
//     or when no renewal succeeded for 3/4 of the lease measured on its own
//     monotonic clock from the moment it sent the last good one. That is
//     before any standby can take over (which needs a full lease by the
//     database's clock since that renewal was applied), so a leader that was
//     paused or cut off stops before another can start.
// On loss, on_lost is called once, from a background thread; the daemon
// exits at once (no reply may leave a process that is not the leader).
//
// Threading: Acquire() blocks its caller; Hold() starts two threads (the
// renewal and the watchdog); Release() and the destructor stop them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "slotwise/result.h"

namespace slotwise::scheduler {

struct LeadershipOptions {
  // libpq URL of the database (the same as the store's).
  std::string url;
  // Who holds the lease, in the leader row and the logs. Default: empty
  // (Acquire uses "<hostname> pid <pid>").
  std::string holder;
  // How long a lease lasts after its last renewal. Default: 3 s.
  std::chrono::milliseconds lease{3000};
  // How often a standby looks at the lease. Default: 250 ms.
  std::chrono::milliseconds poll{250};
};

class Leadership {
 public:
  // Blocks until this process holds the lease (logging that it waits as a
  // standby, and from whom it took over) or `stop` becomes true
  // (FAILED_PRECONDITION "stopped while standby"). A database that cannot be reached is retried, with a warning
  // every 10 s.
  static Result<std::unique_ptr<Leadership>> Acquire(LeadershipOptions options, const std::atomic<bool>& stop);

  ~Leadership();
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  std::int64_t epoch() const { return epoch_; }
  const std::string& holder() const { return options_.holder; }

  // Starts renewing the lease; on_lost(why) is called once if it is lost.
  void Hold(std::function<void(const std::string& why)> on_lost);

  // Stops renewing and ends the lease at once (a clean shutdown: the standby
  // takes over without waiting for the lease to run out).
  void Release();

 private:
  struct Threads;
  Leadership(LeadershipOptions options, std::int64_t epoch);

  LeadershipOptions options_;
  std::int64_t epoch_;
  std::unique_ptr<Threads> threads_;
};

}  // namespace slotwise::scheduler

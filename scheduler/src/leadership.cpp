// Leadership through the leader row; the rule is in leadership.h.
#include "slotwise/scheduler/leadership.h"

#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "postgres_schema.h"
#include "slotwise/log.h"

namespace slotwise::scheduler {
namespace {

constexpr std::string_view kLog = "leadership";
const std::string kLeader(pg::kLeaderTable);
using SteadyClock = std::chrono::steady_clock;

std::string DefaultHolder() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host[0] != '\0' ? host : "unknown") + " pid " + std::to_string(::getpid());
}

struct LeaseRow {
  std::int64_t epoch = 0;
  std::string holder;
  bool expired = false;
  std::optional<double> age_ms;  // since the last renewal, by the database's clock
};

LeaseRow ReadLease(pqxx::transaction_base& tx, std::chrono::milliseconds lease, bool lock) {
  const auto r = tx.exec_params(
      "SELECT epoch, holder, renewed_at < clock_timestamp() - $1 * interval '1 millisecond',"
      " CASE WHEN isfinite(renewed_at) THEN extract(epoch FROM clock_timestamp() - renewed_at) * 1000 END FROM " +
          kLeader + " WHERE id = 1" + (lock ? " FOR UPDATE" : ""),
      static_cast<long long>(lease.count()));
  LeaseRow row;
  if (r.empty()) throw std::runtime_error("the leader row is missing");
  row.epoch = r[0][0].as<std::int64_t>();
  row.holder = r[0][1].as<std::string>();
  row.expired = r[0][2].as<bool>();
  if (!r[0][3].is_null()) row.age_ms = r[0][3].as<double>();
  return row;
}

std::string Describe(const LeaseRow& row) {
  if (row.holder.empty()) return "none";
  std::string s = "epoch " + std::to_string(row.epoch) + " held by " + row.holder;
  if (row.age_ms) s += ", renewed " + std::to_string(static_cast<long long>(*row.age_ms)) + " ms ago";
  return s;
}

}  // namespace

struct Leadership::Threads {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::atomic<bool> lost{false};
  // steady_clock ticks at which the last successful renewal was sent.
  std::atomic<SteadyClock::rep> last_good_sent{0};
  std::function<void(const std::string&)> on_lost;
  std::thread renewal;
  std::thread watchdog;

  ~Threads() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    cv.notify_all();
    if (renewal.joinable()) renewal.join();
    if (watchdog.joinable()) watchdog.join();
  }

  void Lose(const std::string& why) {
    if (lost.exchange(true)) return;
    log::Error(kLog) << "leadership lost: " << why;
    if (on_lost) on_lost(why);
  }
  // Waits up to `d` or until stopped; true when stopped.
  bool WaitFor(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, d, [this] { return stop; });
  }
};

Leadership::Leadership(LeadershipOptions options, std::int64_t epoch)
    : options_(std::move(options)), epoch_(epoch) {}

Leadership::~Leadership() = default;

Result<std::unique_ptr<Leadership>> Leadership::Acquire(LeadershipOptions options, const std::atomic<bool>& stop) {
  if (options.holder.empty()) options.holder = DefaultHolder();
  std::unique_ptr<pqxx::connection> conn;
  bool said_standby = false;
  static log::Throttle unreachable(std::chrono::seconds(10));
  while (!stop) {
    try {
      if (!conn || !conn->is_open()) {
        conn = pg::Connect(options.url);
        pg::EnsureSchema(*conn);
      }
      LeaseRow seen;
      {
        pqxx::read_transaction tx(*conn);
        seen = ReadLease(tx, options.lease, false);
      }
      if (seen.expired) {
        // The takeover: FOR UPDATE waits for the old leader's Write in
        // flight; the condition is checked again under the lock.
        pqxx::work tx(*conn);
        const LeaseRow locked = ReadLease(tx, options.lease, true);
        if (locked.expired) {
          const auto r = tx.exec_params("UPDATE " + kLeader +
                                            " SET epoch = epoch + 1, holder = $1, renewed_at = clock_timestamp()"
                                            " WHERE id = 1 RETURNING epoch",
                                        options.holder);
          const auto epoch = r[0][0].as<std::int64_t>();
          tx.commit();
          log::Info(kLog) << "leader now: " << options.holder << " took epoch " << epoch << " (before: "
                          << Describe(locked) << "; lease " << options.lease.count() << " ms)";
          return std::unique_ptr<Leadership>(new Leadership(std::move(options), epoch));
        }
        tx.abort();
      } else if (!said_standby) {
        log::Info(kLog) << "standby: " << options.holder << " waits for the lease (" << Describe(seen) << ")";
        said_standby = true;
      }
    } catch (const std::exception& e) {
      conn.reset();
      if (const auto held = unreachable.Admit()) {
        log::Warn(kLog) << "standby cannot read the lease: " << pg::What(e) << "; retrying";
      }
    }
    std::this_thread::sleep_for(options.poll);
  }
  return MakeError(v1::FAILED_PRECONDITION, "stopped while standby");
}

void Leadership::Hold(std::function<void(const std::string& why)> on_lost) {
  threads_ = std::make_unique<Threads>();
  threads_->on_lost = std::move(on_lost);
  threads_->last_good_sent = SteadyClock::now().time_since_epoch().count();
  const auto period = std::max(options_.lease / 4, std::chrono::milliseconds(10));
  const auto limit = options_.lease * 3 / 4;
  Threads* t = threads_.get();

  t->renewal = std::thread([this, t, period] {
    std::unique_ptr<pqxx::connection> conn;
    while (!t->WaitFor(period) && !t->lost) {
      const auto sent = SteadyClock::now();
      try {
        if (!conn || !conn->is_open()) {
          conn = pg::Connect(options_.url);
          pqxx::nontransaction set(*conn);
          set.exec("SET statement_timeout TO " + std::to_string(period.count()));
        }
        pqxx::work tx(*conn);
        const auto r = tx.exec_params("UPDATE " + kLeader +
                                          " SET renewed_at = clock_timestamp() WHERE id = 1 AND epoch = $1"
                                          " RETURNING epoch",
                                      epoch_);
        if (r.empty()) {
          const auto now = tx.exec("SELECT epoch, holder FROM " + kLeader + " WHERE id = 1");
          const std::string who = now.empty() ? "nobody"
                                              : "epoch " + now[0][0].as<std::string>() + " held by " +
                                                    now[0][1].as<std::string>();
          tx.abort();
          t->Lose("the lease was taken over (" + who + "), ours was epoch " + std::to_string(epoch_));
          return;
        }
        tx.commit();
        t->last_good_sent = sent.time_since_epoch().count();
      } catch (const std::exception& e) {
        conn.reset();
        log::Warn(kLog) << "could not renew the lease: " << pg::What(e);
      }
    }
  });

  t->watchdog = std::thread([t, limit] {
    while (!t->WaitFor(std::chrono::milliseconds(20)) && !t->lost) {
      const auto last = SteadyClock::time_point(SteadyClock::duration(t->last_good_sent.load()));
      const auto since = SteadyClock::now() - last;
      if (since > limit) {
        t->Lose("no renewal of the lease succeeded for " +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(since).count()) +
                " ms (paused, or cut off from the database); a standby may take over");
        return;
      }
    }
  });
}

void Leadership::Release() {
  const bool held = threads_ && !threads_->lost;
  threads_.reset();  // stops and joins the threads (the destructor's work)
  if (!held) return;
  try {
    auto conn = pg::Connect(options_.url);
    pqxx::work tx(*conn);
    tx.exec_params("UPDATE " + kLeader + " SET renewed_at = '-infinity' WHERE id = 1 AND epoch = $1", epoch_);
    tx.commit();
    log::Info(kLog) << options_.holder << " released the lease (epoch " << epoch_ << "): a standby takes over now";
  } catch (const std::exception& e) {
    log::Warn(kLog) << "could not release the lease: " << pg::What(e) << "; a standby takes over when it runs out";
  }
}

}  // namespace slotwise::scheduler

// The PostgreSQL store; its layout, durability, fencing and what it refuses
// at open are described in postgres_store.h.
#include "slotwise/scheduler/postgres_store.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <unordered_map>

#include "postgres_schema.h"
#include "slotwise/log.h"

namespace slotwise::scheduler {
namespace {

constexpr std::string_view kLog = "store";
// Outside the scheduler's key layout (keys.h) and hidden from Scan, as in
// the RocksDB store.
constexpr std::string_view kMarkerKey{"\0slotwise-store", 15};
constexpr std::size_t kScanPage = 10000;
// A Write is sent in statements of at most this many rows or bytes (hex).
constexpr std::size_t kChunkRows = 10000;
constexpr std::size_t kChunkBytes = 8u << 20;

const std::string kTable(pg::kStoreTable);
const std::string kLeader(pg::kLeaderTable);

Error Internal(std::string_view what, const std::exception& e) {
  return MakeError(v1::INTERNAL, std::string(what) + ": " + pg::What(e));
}

// The smallest key greater than every key starting with prefix, or nullopt
// when there is none (prefix empty or all 0xff).
std::optional<std::string> PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

std::string NewStoreId() {
  std::random_device rd;
  char buf[33];
  for (int i = 0; i < 4; ++i) std::snprintf(buf + 8 * i, 9, "%08x", rd());
  return std::string(buf, 32);
}

// "id <hex>" from the marker's text.
std::string MarkerId(const std::string& marker) {
  const auto at = marker.find("\nid ");
  if (at == std::string::npos) return {};
  const auto end = marker.find('\n', at + 4);
  return marker.substr(at + 4, end == std::string::npos ? std::string::npos : end - at - 4);
}

class PostgresStore final : public Store {
 public:
  PostgresStore(std::string url, std::unique_ptr<pqxx::connection> conn, PostgresStoreOptions options)
      : url_(std::move(url)), conn_(std::move(conn)), options_(std::move(options)) {}

  Result<std::optional<std::string>> Get(std::string_view key) override {
    try {
      pqxx::nontransaction tx(Conn());
      const auto r = tx.exec_params("SELECT value FROM " + kTable + " WHERE key = $1::bytea", pg::HexLiteral(key));
      if (r.empty()) return std::optional<std::string>{};
      return std::optional<std::string>{pg::FromByteaText(r[0][0].c_str())};
    } catch (const std::exception& e) {
      return Failed("postgresql get", e);
    }
  }

  Status Write(const WriteBatch& batch) override {
    if (fenced_) return MakeError(v1::INTERNAL, "not the leader any more (fenced): writes are refused");
    // The last operation on each key wins; the rest is one upsert and one
    // delete per chunk, which then touch disjoint keys.
    std::unordered_map<std::string_view, const std::optional<std::string>*> last;
    last.reserve(batch.size());
    for (const auto& [key, value] : batch.ops()) last[key] = &value;
    try {
      pqxx::work tx(Conn());
      if (options_.epoch) {
        const auto r = tx.exec_params("SELECT epoch, holder FROM " + kLeader + " WHERE id = 1 FOR KEY SHARE");
        const auto epoch = r.empty() ? -1 : r[0][0].as<std::int64_t>();
        if (epoch != *options_.epoch) {
          const std::string why = "the leader row holds epoch " + std::to_string(epoch) + " (" +
                                  (r.empty() ? std::string("none") : r[0][1].as<std::string>()) + "), not ours (" +
                                  std::to_string(*options_.epoch) + "): another scheduler took over";
          tx.abort();
          fenced_ = true;
          log::Error(kLog) << "write refused, nothing stored: " << why;
          if (options_.on_fenced) options_.on_fenced(why);
          return MakeError(v1::INTERNAL, "not the leader any more (fenced): " + why);
        }
      }
      std::string keys, values, deletes;
      std::size_t rows = 0, deleted = 0;
      auto flush = [&] {
        if (rows > 0) {
          keys += '}';
          values += '}';
          tx.exec_params("INSERT INTO " + kTable + " (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) "
                         "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", keys, values);
        }
        if (deleted > 0) {
          deletes += '}';
          tx.exec_params("DELETE FROM " + kTable + " WHERE key = ANY($1::bytea[])", deletes);
        }
        keys.clear();
        values.clear();
        deletes.clear();
        rows = deleted = 0;
      };
      for (const auto& [key, value] : last) {
        if (*value) {
          pg::AppendArrayElement(keys, key);
          pg::AppendArrayElement(values, **value);
          ++rows;
        } else {
          pg::AppendArrayElement(deletes, key);
          ++deleted;
        }
        if (rows + deleted >= kChunkRows || keys.size() + values.size() + deletes.size() >= kChunkBytes) flush();
      }
      flush();
      tx.commit();
      return OkStatus();
    } catch (const pqxx::in_doubt_error& e) {
      conn_.reset();
      return Internal("postgresql commit (outcome unknown, reported as failed)", e);
    } catch (const std::exception& e) {
      return Failed("postgresql write", e);
    }
  }

  Status Scan(std::string_view prefix,
              const std::function<void(std::string_view, std::string_view)>& visit) override {
    const auto end = PrefixEnd(prefix);
    try {
      // One snapshot for the whole scan, read in pages in key order.
      pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(Conn());
      std::string from = pg::HexLiteral(prefix);
      std::string op = ">=";
      const std::string end_hex = end ? pg::HexLiteral(*end) : std::string();
      for (;;) {
        const std::string query = "SELECT key, value FROM " + kTable + " WHERE key " + op + " $1::bytea" +
                                  (end ? " AND key < $2::bytea" : "") + " ORDER BY key LIMIT " +
                                  std::to_string(kScanPage);
        const auto r = end ? tx.exec_params(query, from, end_hex) : tx.exec_params(query, from);
        std::string key;
        for (const auto& row : r) {
          key = pg::FromByteaText(row[0].c_str());
          if (key == kMarkerKey) continue;
          const std::string value = pg::FromByteaText(row[1].c_str());
          visit(key, value);
        }
        if (r.size() < kScanPage) break;
        from = pg::HexLiteral(pg::FromByteaText(r[r.size() - 1][0].c_str()));
        op = ">";
      }
      tx.commit();
      return OkStatus();
    } catch (const std::exception& e) {
      return Failed("postgresql scan", e);
    }
  }

 private:
  pqxx::connection& Conn() {
    if (!conn_ || !conn_->is_open()) {
      conn_.reset();
      conn_ = pg::Connect(url_);
      log::Info(kLog) << "connected to the database again";
    }
    return *conn_;
  }

  Error Failed(std::string_view what, const std::exception& e) {
    if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) conn_.reset();
    return Internal(what, e);
  }

  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
  PostgresStoreOptions options_;
  bool fenced_ = false;
};

// The marker check and first-start marking, in one transaction.
Status CheckMarker(pqxx::connection& conn, const PostgresStoreOptions& options) {
  pqxx::work tx(conn);
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('slotwise-schema'))");
  const auto marker = tx.exec_params("SELECT value FROM " + kTable + " WHERE key = $1::bytea", pg::HexLiteral(kMarkerKey));
  const bool any_row = !tx.exec("SELECT 1 FROM " + kTable + " LIMIT 1").empty();
  const auto leader = tx.exec("SELECT store_id FROM " + kLeader + " WHERE id = 1");
  const std::string leader_store = leader.empty() ? std::string() : leader[0][0].as<std::string>();
  if (!marker.empty()) {
    const std::string id = MarkerId(pg::FromByteaText(marker[0][0].c_str()));
    if (!leader_store.empty() && id != leader_store && !options.accept_empty_store) {
      return MakeError(v1::FAILED_PRECONDITION,
                       "refusing to start: the table " + kTable + " is the store " + id + " but " + kLeader +
                           " belongs to the store " + leader_store +
                           " (a table restored from another database?). Nothing was changed; see \"PostgreSQL "
                           "store\" in scheduler/README.md");
    }
    if (leader_store.empty() || id != leader_store) {
      tx.exec_params("UPDATE " + kLeader + " SET store_id = $1 WHERE id = 1", id);
    }
    tx.commit();
    return OkStatus();
  }
  if (any_row) {
    return MakeError(v1::FAILED_PRECONDITION,
                     "refusing to start: the table " + kTable +
                         " holds rows but no Slotwise marker: not a Slotwise scheduler store (or its marker was "
                         "deleted). Nothing was changed; point the URL at the scheduler's own database");
  }
  if (!leader_store.empty()) {
    if (!options.accept_empty_store) {
      return MakeError(v1::FAILED_PRECONDITION,
                       "refusing to start: the table " + kTable + " is empty but " + kLeader + " says it held the store " +
                           leader_store +
                           " (the table was emptied, or the URL names the wrong database). Nothing was changed; "
                           "restore it from a backup, or start deliberately with an empty store "
                           "(--accept-empty-store)");
    }
    log::Warn(kLog) << "starting with an empty store although " << kLeader << " names the store " << leader_store
                    << ", as --accept-empty-store asks";
  }
  const std::string id = NewStoreId();
  const std::string text = "slotwise scheduler store\nid " + id + "\n";
  tx.exec_params("INSERT INTO " + kTable + " (key, value) VALUES ($1::bytea, $2::bytea)", pg::HexLiteral(kMarkerKey),
                 pg::HexLiteral(text));
  tx.exec_params("UPDATE " + kLeader + " SET store_id = $1 WHERE id = 1", id);
  tx.commit();
  log::Info(kLog) << "marked a new store " << id << " in the database";
  return OkStatus();
}

}  // namespace

bool IsPostgresUrl(std::string_view url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, const PostgresStoreOptions& options) {
  try {
    auto conn = pg::Connect(url);
    pg::EnsureSchema(*conn);
    if (auto s = CheckMarker(*conn, options); !s) return s.error();
    {
      pqxx::nontransaction tx(*conn);
      if (tx.exec("SHOW fsync")[0][0].as<std::string>() != "on") {
        log::Warn(kLog) << "the database server runs with fsync off: its commits do not survive a crash of the "
                           "server's machine";
      }
    }
    return std::unique_ptr<Store>(new PostgresStore(url, std::move(conn), options));
  } catch (const std::exception& e) {
    return Internal("cannot open the PostgreSQL store", e);
  }
}

}  // namespace slotwise::scheduler

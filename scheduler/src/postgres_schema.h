// What the PostgreSQL store (postgres_store.h) and leadership (leadership.h)
// share: the schema, the connection settings and bytea encoding. Internal to
// the scheduler's adapters; every function may throw pqxx exceptions, which
// the callers turn into Status.
#pragma once

#include <pqxx/pqxx>

#include <memory>
#include <string>
#include <string_view>

namespace slotwise::scheduler::pg {

inline constexpr std::string_view kStoreTable = "slotwise_store";
inline constexpr std::string_view kLeaderTable = "slotwise_leader";

// A connection with the session settings every Slotwise connection uses:
// synchronous_commit on, a bounded connect time and TCP keepalives (a
// vanished peer is noticed within seconds, not hours).
std::unique_ptr<pqxx::connection> Connect(const std::string& url);

// Creates the tables if missing (serialised between processes by an
// advisory transaction lock). The leader row starts with epoch 0, expired.
void EnsureSchema(pqxx::connection& conn);

// bytea text forms: "\x0a1b..." in and out.
std::string HexLiteral(std::string_view bytes);
std::string FromByteaText(std::string_view text);

// "{\"\\\\x..\",...}": a bytea[] parameter in text form.
void AppendArrayElement(std::string& array, std::string_view bytes);

// The server's message without the trailing newline.
std::string What(const std::exception& e);

}  // namespace slotwise::scheduler::pg

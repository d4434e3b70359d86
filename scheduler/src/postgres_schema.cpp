#include "postgres_schema.h"

#include <stdexcept>

namespace slotwise::scheduler::pg {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  throw std::runtime_error("bad hex digit in a bytea value");
}

void AppendHex(std::string& out, std::string_view bytes) {
  for (const char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
  }
}

}  // namespace

std::unique_ptr<pqxx::connection> Connect(const std::string& url) {
  // libpq takes the keepalive and timeout settings as connection options;
  // a URL carries them as query parameters.
  std::string options = url;
  const bool is_url = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  const std::string extra = "connect_timeout=5&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=2";
  if (is_url) {
    options += (url.find('?') == std::string::npos ? "?" : "&") + extra;
  } else {
    std::string kv = extra;
    for (auto& c : kv) c = c == '&' ? ' ' : c;
    options += " " + kv;
  }
  auto conn = std::make_unique<pqxx::connection>(options);
  pqxx::nontransaction tx(*conn);
  tx.exec("SET synchronous_commit TO on");
  tx.exec("SET bytea_output TO 'hex'");
  tx.exec("SET application_name TO 'slotwise-scheduler'");
  return conn;
}

void EnsureSchema(pqxx::connection& conn) {
  pqxx::work tx(conn);
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('slotwise-schema'))");
  tx.exec("CREATE TABLE IF NOT EXISTS " + std::string(kStoreTable) +
          " (key bytea PRIMARY KEY, value bytea NOT NULL)");
  tx.exec("CREATE TABLE IF NOT EXISTS " + std::string(kLeaderTable) +
          " (id int PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, holder text NOT NULL,"
          " renewed_at timestamptz NOT NULL, store_id text NOT NULL DEFAULT '')");
  tx.exec("INSERT INTO " + std::string(kLeaderTable) +
          " (id, epoch, holder, renewed_at) VALUES (1, 0, '', '-infinity') ON CONFLICT (id) DO NOTHING");
  tx.commit();
}

std::string HexLiteral(std::string_view bytes) {
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  AppendHex(out, bytes);
  return out;
}

std::string FromByteaText(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
    throw std::runtime_error("a bytea value not in hex output format (bytea_output must be 'hex')");
  }
  std::string out;
  out.reserve(text.size() / 2 - 1);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    out += static_cast<char>((Nibble(text[i]) << 4) | Nibble(text[i + 1]));
  }
  return out;
}

void AppendArrayElement(std::string& array, std::string_view bytes) {
  // In an array literal a backslash escapes the next character: "\\x.." is
  // the element \x.., bytea's hex input.
  array += array.empty() ? "{\"\\\\x" : ",\"\\\\x";
  AppendHex(array, bytes);
  array += '"';
}

std::string What(const std::exception& e) {
  std::string s = e.what();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace slotwise::scheduler::pg

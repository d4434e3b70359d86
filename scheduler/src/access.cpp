#include "slotwise/scheduler/access.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace slotwise::scheduler {
namespace {

std::string Base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

std::optional<std::string> Unbase64(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::string out(in.size() / 4 * 3 + 1, '\0');
  const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (len < 0) return std::nullopt;
  std::size_t n = static_cast<std::size_t>(len);
  for (std::size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) --n;  // padding decodes as zeros
  out.resize(n);
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return parts;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer: return "viewer";
    case Role::kOperator: return "operator";
    case Role::kAdmin: return "admin";
    case Role::kNone: break;
  }
  return "none";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "operator") return Role::kOperator;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

std::string CommandName(const v1::OperatorRequest& req) {
  const auto* field = v1::OperatorRequest::descriptor()->FindFieldByNumber(static_cast<int>(req.command_case()));
  return field ? field->name() : "no command";
}

bool ChangesState(const v1::OperatorRequest& req) {
  const std::string name = CommandName(req);
  return !(name.starts_with("list_") || name.starts_with("get_") || name.starts_with("query_") ||
           req.command_case() == v1::OperatorRequest::COMMAND_NOT_SET);
}

Role RequiredRole(const v1::OperatorRequest& req) {
  using R = v1::OperatorRequest;
  if (!ChangesState(req)) return Role::kViewer;
  switch (req.command_case()) {
    case R::kAddCluster:
    case R::kAddNode:
    case R::kSetNodeState:
    case R::kAddArtifact:
      return Role::kAdmin;
    default:
      return Role::kOperator;  // the campaign commands; a later one at least this
  }
}

std::string HashPassword(std::string_view password, int iterations) {
  unsigned char salt[12];
  RAND_bytes(salt, sizeof salt);
  unsigned char out[64];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt, sizeof salt, iterations, EVP_sha512(),
                    sizeof out, out);
  return "$7$" + std::to_string(iterations) + "$" + Base64(salt, sizeof salt) + "$" + Base64(out, sizeof out);
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  const auto parts = Split(encoded, '$');  // "", "7", iterations, salt, hash
  if (parts.size() != 5 || !parts[0].empty() || parts[1] != "7") return false;
  int iterations = 0;
  for (char c : parts[2]) {
    if (c < '0' || c > '9' || iterations > 10'000'000) return false;
    iterations = iterations * 10 + (c - '0');
  }
  const auto salt = Unbase64(parts[3]);
  const auto hash = Unbase64(parts[4]);
  if (iterations < 1 || !salt || !hash || hash->empty() || hash->size() > 64) return false;
  unsigned char out[64];
  PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                    reinterpret_cast<const unsigned char*>(salt->data()), static_cast<int>(salt->size()), iterations,
                    EVP_sha512(), static_cast<int>(hash->size()), out);
  return CRYPTO_memcmp(out, hash->data(), hash->size()) == 0;
}

Result<Users> Users::Parse(std::string_view text) {
  Users users;
  int line_no = 0;
  for (std::string_view line : Split(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) {
      return MakeError(v1::INVALID_ARGUMENT, "users file line " + std::to_string(line_no) + ": expected name:role:hash");
    }
    const auto name = line.substr(0, first);
    const auto role = ParseRole(line.substr(first + 1, second - first - 1));
    if (name.empty() || !role) {
      return MakeError(v1::INVALID_ARGUMENT, "users file line " + std::to_string(line_no) +
                                                 ": expected name:role:hash, role viewer, operator or admin");
    }
    users.users_[std::string(name)] = User{*role, std::string(line.substr(second + 1))};
  }
  return users;
}

Result<Users> Users::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return MakeError(v1::INVALID_ARGUMENT, "cannot read the users file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return Parse(ss.str());
}

std::optional<Role> Users::RoleOf(std::string_view name) const {
  auto it = users_.find(name);
  if (it == users_.end()) return std::nullopt;
  return it->second.role;
}

std::optional<Role> Users::Authenticate(std::string_view name, std::string_view password) const {
  auto it = users_.find(name);
  if (it == users_.end() || !VerifyPassword(password, it->second.hash)) return std::nullopt;
  return it->second.role;
}

}  // namespace slotwise::scheduler

// Operator access (issue 13): roles, the users file, and which role each
// operator command needs. Shared by the HTTP API (http_server.h) and the MQTT
// operator channel (mqtt_server.h): both call SchedulerService::HandleOperatorAs
// with a Caller, which checks the role and writes the audit trail.
//
// Roles, lowest first (schemas/README.md, "Roles"):
//   viewer   - every reading command (list_*, get_*, query_windows)
//   operator - + campaigns (create, schedule, pause, resume, cancel, add or
//              remove terminals)
//   admin    - + servers (clusters, nodes, versions)
//
// The users file (like the broker's password file, one user a line):
//   name:role:$7$iterations$salt_base64$hash_base64
// the hash being the one mosquitto_passwd writes (PBKDF2-HMAC-SHA512, 64
// bytes). Blank lines and lines starting with '#' are skipped.
//
// Pure; thread-safe once loaded (Users is read-only after Load).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "slotwise/result.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

enum class Role { kNone = 0, kViewer = 1, kOperator = 2, kAdmin = 3 };

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// Who sent an operator command, on which channel ("mqtt" or "http").
struct Caller {
  std::string who;
  std::string channel;
  Role role = Role::kNone;
};

// The lowest role that may send `request` (an unknown command: viewer, it
// is refused as such by the service).
Role RequiredRole(const v1::OperatorRequest& request);
// The command's OperatorRequest field name ("schedule_campaign"), or "no command".
std::string CommandName(const v1::OperatorRequest& request);
// Reading commands change nothing (list_*, get_*, query_*); every other one
// (also one added later) is recorded in the audit trail.
bool ChangesState(const v1::OperatorRequest& request);

// PBKDF2-HMAC-SHA512 in mosquitto_passwd's format ($7$iter$salt$hash), and
// its check (constant time).
std::string HashPassword(std::string_view password, int iterations = 101);
bool VerifyPassword(std::string_view password, std::string_view encoded);

class Users {
 public:
  // INVALID_ARGUMENT naming the line when a line is not name:role:hash.
  static Result<Users> Load(const std::string& path);
  static Result<Users> Parse(std::string_view text);

  std::optional<Role> RoleOf(std::string_view name) const;
  // The user's role when `password` is theirs; nullopt otherwise.
  std::optional<Role> Authenticate(std::string_view name, std::string_view password) const;
  std::size_t size() const { return users_.size(); }

 private:
  struct User {
    Role role;
    std::string hash;
  };
  std::map<std::string, User, std::less<>> users_;
};

}  // namespace slotwise::scheduler

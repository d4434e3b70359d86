#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "slotwise/agent/installer.h"

extern char** environ;

namespace slotwise::agent {
namespace {

std::vector<std::string> ChildEnvironment(const InstallRequest& request) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (entry.starts_with("SLOTWISE_FILE=") || entry.starts_with("SLOTWISE_VERSION=")) continue;
    env.emplace_back(entry);
  }
  env.push_back("SLOTWISE_FILE=" + request.file.string());
  env.push_back("SLOTWISE_VERSION=" + request.version);
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> ptrs;
  ptrs.reserve(strings.size() + 1);
  for (std::string& s : strings) ptrs.push_back(s.data());
  ptrs.push_back(nullptr);
  return ptrs;
}

// Waits for `pid` until `deadline`; true with *status set if it exited.
bool WaitUntil(pid_t pid, std::chrono::steady_clock::time_point deadline, int* status) {
  auto pause = std::chrono::milliseconds(5);
  for (;;) {
    const pid_t r = ::waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // not our child any more; nothing to wait for
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    if (pause < std::chrono::milliseconds(100)) pause *= 2;
  }
}

}  // namespace

slotwise::Status ShellInstaller::Install(const InstallRequest& request) {
  std::vector<std::string> argv_strings{"/bin/sh", "-c", request.command};
  std::vector<std::string> env_strings = ChildEnvironment(request);
  std::vector<char*> argv = Pointers(argv_strings);
  std::vector<char*> envp = Pointers(env_strings);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Own process group, so a timeout can kill whatever the script started.
  // The agent blocks SIGINT/SIGTERM for sigwait and may ignore SIGPIPE; the
  // install command must see ordinary signal handling.
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  posix_spawnattr_setsigdefault(&attr, &defaults);

  // Only stdin/stdout/stderr: the MQTT socket and other agents' files must
  // not leak into (and outlive the agent in) the install command.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  pid_t pid = -1;
  const int spawn_rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawn_rc != 0) {
    return MakeError(v1::INTERNAL, std::string("cannot start /bin/sh: ") + std::strerror(spawn_rc));
  }

  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + request.timeout;
  if (!WaitUntil(pid, deadline, &status)) {
    ::kill(-pid, SIGTERM);
    if (!WaitUntil(pid, std::chrono::steady_clock::now() + std::chrono::seconds(2), &status)) {
      ::kill(-pid, SIGKILL);
      WaitUntil(pid, std::chrono::steady_clock::now() + std::chrono::seconds(5), &status);
    }
    return MakeError(v1::INTERNAL, "install command timed out after " + std::to_string(request.timeout.count()) + " ms");
  }
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    if (code == 0) return OkStatus();
    return MakeError(v1::INTERNAL, "install command exited with " + std::to_string(code));
  }
  if (WIFSIGNALED(status)) {
    return MakeError(v1::INTERNAL, "install command killed by signal " + std::to_string(WTERMSIG(status)));
  }
  return MakeError(v1::INTERNAL, "install command ended abnormally");
}

bool ShellBusyCheck::IsBusy() {
  std::error_code ec;
  if (!file_.empty() && std::filesystem::exists(file_, ec)) return true;
  if (command_.empty()) return false;
  // Exit 0 = busy; a command that fails or hangs counts as not busy, or a
  // broken check would block every upgrade forever.
  return shell_.Install(InstallRequest{command_, {}, {}, std::chrono::seconds(10)}).ok();
}

}  // namespace slotwise::agent

// Running the operator's install hook, behind an interface so tests and
// simulations can replace it; ShellInstaller is the real one.
//
// ShellInstaller runs `/bin/sh -c <command>` in its own process group with
// the agent's environment plus SLOTWISE_FILE (the verified download) and
// SLOTWISE_VERSION (the target version), signals unblocked and no inherited
// descriptors beyond stdin/stdout/stderr. Exit code 0 is success. After the
// timeout the whole group gets SIGTERM, then SIGKILL two seconds later.
// Install is deliberately not cancellable by an agent stop: interrupting a
// firmware install is worse than a slower shutdown; the timeout bounds it.
//
// Threading: Install blocks the calling thread (the agent's own) until the
// command ends. No shared state: any number of agents may install at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <utility>

#include "slotwise/result.h"

namespace slotwise::agent {

struct InstallRequest {
  std::string command;
  std::filesystem::path file;
  std::string version;
  std::chrono::milliseconds timeout{300'000};
};

class Installer {
 public:
  virtual ~Installer() = default;
  // Error message says why: exit code, signal, timeout or spawn failure.
  virtual slotwise::Status Install(const InstallRequest& request) = 0;
};

class ShellInstaller final : public Installer {
 public:
  slotwise::Status Install(const InstallRequest& request) override;
};

// "Is a payment in progress?" Consulted before a download and before an
// install; while it says yes the agent defers (a payment must never be
// interrupted). Called on the agent's thread.
class BusyCheck {
 public:
  virtual ~BusyCheck() = default;
  virtual bool IsBusy() = 0;
};

// Busy while `file` exists, or while `command` (/bin/sh -c, 10 s timeout)
// exits 0. Empty file and command: never busy.
class ShellBusyCheck final : public BusyCheck {
 public:
  ShellBusyCheck(std::filesystem::path file, std::string command)
      : file_(std::move(file)), command_(std::move(command)) {}
  bool IsBusy() override;

 private:
  std::filesystem::path file_;
  std::string command_;
  ShellInstaller shell_;
};

}  // namespace slotwise::agent

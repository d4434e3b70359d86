// Where the agent's AgentState (schemas/slotwise/v1/agent_state.proto) is
// kept between runs. The agent saves every phase before acting on it, so
// after power loss it resumes from the last phase it entered.
//
// FileStateStore: state_dir/state.pb, replaced atomically (atomic_file.h).
// MemoryStateStore: in memory, with the history of every save, for tests
// ("restart from each saved phase") and for simulating many agents.
//
// Threading: a store belongs to one agent and is called from that agent's
// thread only.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include "slotwise/result.h"
#include "slotwise/v1/agent_state.pb.h"

namespace slotwise::agent {

class StateStore {
 public:
  virtual ~StateStore() = default;
  // nullopt when nothing was ever saved. MALFORMED when the saved bytes are
  // unreadable (the caller starts fresh); other errors are I/O failures.
  virtual Result<std::optional<v1::AgentState>> Load() = 0;
  // Durable when it returns ok.
  virtual slotwise::Status Save(const v1::AgentState& state) = 0;
};

class FileStateStore final : public StateStore {
 public:
  // The directory is created on first Save.
  explicit FileStateStore(std::filesystem::path state_dir);

  // An unreadable state.pb is moved aside to state.pb.corrupt (kept for a
  // post-mortem) before MALFORMED is returned.
  Result<std::optional<v1::AgentState>> Load() override;
  slotwise::Status Save(const v1::AgentState& state) override;

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path dir_;
  std::filesystem::path file_;
};

class MemoryStateStore final : public StateStore {
 public:
  MemoryStateStore() = default;
  explicit MemoryStateStore(v1::AgentState initial) : current_(std::move(initial)) {}

  Result<std::optional<v1::AgentState>> Load() override { return current_; }
  slotwise::Status Save(const v1::AgentState& state) override {
    current_ = state;
    history_.push_back(state);
    return OkStatus();
  }

  const std::optional<v1::AgentState>& current() const { return current_; }
  // Every state saved, oldest first.
  const std::vector<v1::AgentState>& history() const { return history_; }

 private:
  std::optional<v1::AgentState> current_;
  std::vector<v1::AgentState> history_;
};

}  // namespace slotwise::agent

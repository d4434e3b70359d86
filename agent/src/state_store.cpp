#include "slotwise/agent/state_store.h"

#include "slotwise/agent/atomic_file.h"

namespace slotwise::agent {

FileStateStore::FileStateStore(std::filesystem::path state_dir)
    : dir_(std::move(state_dir)), file_(dir_ / "state.pb") {}

Result<std::optional<v1::AgentState>> FileStateStore::Load() {
  auto bytes = ReadWholeFile(file_);
  if (!bytes) {
    if (bytes.error().code == v1::NOT_FOUND) return std::optional<v1::AgentState>{};
    return bytes.error();
  }
  v1::AgentState state;
  if (!state.ParseFromString(*bytes)) {
    std::filesystem::path aside = file_;
    aside += ".corrupt";
    std::error_code ec;
    std::filesystem::rename(file_, aside, ec);
    return MakeError(v1::MALFORMED, file_.string() + " is unreadable" +
                                        (ec ? "" : "; moved to " + aside.string()));
  }
  return std::optional<v1::AgentState>(std::move(state));
}

slotwise::Status FileStateStore::Save(const v1::AgentState& state) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return MakeError(v1::INTERNAL, "cannot create " + dir_.string() + ": " + ec.message());
  std::string bytes;
  if (!state.SerializeToString(&bytes)) return MakeError(v1::INTERNAL, "cannot serialize agent state");
  return WriteFileAtomically(file_, bytes);
}

}  // namespace slotwise::agent

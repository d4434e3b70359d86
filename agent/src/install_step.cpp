#include "install_step.h"

#include <filesystem>
#include <string>

#include "artifact.h"
#include "slotwise/agent/atomic_file.h"

namespace slotwise::agent {

StepOutcome RunInstallStep(const StepContext& context, const v1::AgentState& state, Installer& installer) {
  using Kind = StepOutcome::Kind;
  const AgentConfig& config = context.config;
  const std::filesystem::path file = DownloadPath(config.download_dir, state.download());
  const std::string target =
      state.download().version().empty() ? state.notice().target_version() : state.download().version();
  std::error_code ec;
  if (auto ok = CheckManifest(state.download(), context.public_key_pem, context.current_version); !ok) {
    std::filesystem::remove(file, ec);
    return StepOutcome::Of(Kind::kFailed, ok.error().message);
  }
  if (context.is_busy()) return StepOutcome::Of(Kind::kBusy);

  context.progress(v1::Status::INSTALLING, 0);
  InstallRequest request{context.component.install_command, file, target, config.install_timeout};
  const auto installed = installer.Install(request);
  std::filesystem::remove(file, ec);  // used or not, it is not needed again
  if (!installed) return StepOutcome::Of(Kind::kFailed, "install failed: " + installed.error().message);
  if (auto recorded = WriteVersionFile(context.component.version_file, target); !recorded) {
    return StepOutcome::Of(Kind::kFailed, "installed, but cannot record the new version: " + recorded.error().message);
  }
  StepOutcome done = StepOutcome::Of(Kind::kDone);
  done.version = target;
  return done;
}

}  // namespace slotwise::agent

#include "install_step.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "artifact.h"
#include "delta_download.h"
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
  // How the file came (delta or full image), for the final status.
  std::string how;
  std::getline(std::ifstream(HowPath(file)), how);
  std::filesystem::remove(HowPath(file), ec);
  // Used or not, the file is not needed again, unless it becomes the
  // installed image that the next delta applies to.
  const bool keep = installed && !context.component.image_path.empty();
  if (!keep) std::filesystem::remove(file, ec);
  if (!installed) return StepOutcome::Of(Kind::kFailed, "install failed: " + installed.error().message);
  if (auto recorded = WriteVersionFile(context.component.version_file, target); !recorded) {
    std::filesystem::remove(file, ec);
    return StepOutcome::Of(Kind::kFailed, "installed, but cannot record the new version: " + recorded.error().message);
  }
  // After the version file: a crash in between leaves the old image, whose
  // hash no longer matches any delta's base, so the next upgrade is a full one.
  if (keep) {
    if (auto kept = KeepAsInstalledImage(file, context.component.image_path); !kept) {
      std::filesystem::remove(file, ec);
      context.log.Warn(kept.error().message + " (the next upgrade downloads the full image)");
    }
  }
  StepOutcome done = StepOutcome::Of(Kind::kDone, how);
  done.version = target;
  return done;
}

}  // namespace slotwise::agent

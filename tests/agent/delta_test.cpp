// Delta downloads (schemas/README.md "Delta artifacts", agent/README.md
// "Delta downloads"): a terminal whose installed image is the delta's base
// fetches only the delta, resumes it like a full file, rebuilds and verifies
// the full image and keeps it as the next base; every other case (no
// image_path, another installed image, a corrupt, refused or non-applying
// delta) falls back to the full image, and says why in the final status.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>

#include "fakes.h"
#include "rig.h"
#include "slotwise/agent/config.h"
#include "slotwise/delta.h"
#include "slotwise/sha256.h"
#include "slotwise/signature.h"
#include "test_keys.h"

namespace slotwise::agent::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDeltaUrl = "http://node-1.test/files/pos-2.0.bin.from-1.0.zst?md5=y&expires=9";

std::string Random(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Version 1.0 (installed) and 2.0 (the target) of a 256 KB image that a
// delta of a few KB turns one into the other.
struct Images {
  std::string old_image = Random(256 * 1024, 11);
  std::string new_image = [this] {
    std::string s = old_image;
    for (std::size_t at = 500; at < s.size(); at += 20'000) s[at] = static_cast<char>(s[at] ^ 0x33);
    return s + Random(2000, 12);
  }();
};

// The rig with an installed 1.0 image at image_path, a GO for 2.0 offering
// a delta from 1.0 built from that image, and an
// install command that copies what it installs to dir/installed.
struct DeltaRig {
  explicit DeltaRig(std::optional<v1::AgentState> saved = std::nullopt)
      : rig(std::move(saved), "cp \"$SLOTWISE_FILE\" \"$(dirname \"$SLOTWISE_FILE\")/../installed\"") {}

  void SetUp() {
    const fs::path work = rig.dir.path() / "build";
    fs::create_directories(work);
    WriteFile(work / "old", images.old_image);
    WriteFile(work / "new", images.new_image);
    auto built = BuildDelta(work / "old", work / "new", work / "delta");
    REQUIRE(built.ok());
    delta = ReadFile(work / "delta");
    rig.config.image_path = rig.dir.path() / "image" / "system.img";
    fs::create_directories(rig.config.image_path.parent_path());
    WriteFile(rig.config.image_path, images.old_image);
    v1::Download& d = rig.scheduler.download;
    d.set_sha256(Sha256Hex(images.new_image));
    d.set_size(images.new_image.size());
    d.set_delta_url(kDeltaUrl);
    d.set_delta_sha256(Sha256Hex(delta));
    d.set_delta_size(delta.size());
    d.set_delta_base_version("1.0");
    d.set_delta_base_sha256(Sha256Hex(images.old_image));
    d.set_delta_base_size(images.old_image.size());
    rig.downloader.files[kUrl] = images.new_image;
    rig.downloader.files[kDeltaUrl] = delta;
  }

  v1::Status Final() const {
    v1::Status status;
    if (!rig.scheduler.requests.empty()) status.ParseFromString(rig.scheduler.requests.back().payload);
    return status;
  }
  std::vector<std::string> Urls() const {
    std::vector<std::string> urls;
    for (const auto& r : rig.downloader.requests) urls.push_back(r.url);
    return urls;
  }
  // Nothing of the download is left behind but what the next one may use.
  void CheckDownloadDirEmpty() const {
    std::vector<std::string> left;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(rig.config.download_dir, ec)) left.push_back(e.path().filename());
    CHECK(Join(left) == "");
  }

  Images images;
  std::string delta;
  Rig rig;
};

TEST_CASE("delta: a terminal on the base fetches only the delta and installs the full image byte for byte") {
  DeltaRig t;
  t.SetUp();
  CHECK(t.delta.size() * 20 < t.images.new_image.size());
  t.rig.RunToEnd();
  INFO(t.rig.log.str());
  const v1::Status final = t.Final();
  CHECK(final.state() == v1::Status::SUCCEEDED);
  CHECK(final.version() == "2.0");
  CHECK(final.detail().find("from a delta of " + std::to_string(t.delta.size()) + " bytes (base 1.0)") !=
        std::string::npos);
  CHECK(Join(t.Urls()) == kDeltaUrl);
  CHECK(t.rig.downloader.bytes_served == t.delta.size());
  CHECK(ReadFile(t.rig.dir.path() / "installed") == t.images.new_image);
  // The new image is the next delta's base.
  CHECK(ReadFile(t.rig.config.image_path) == t.images.new_image);
  t.CheckDownloadDirEmpty();
}

TEST_CASE("delta: a cut delta resumes with Range like a full file") {
  DeltaRig t;
  t.SetUp();
  t.rig.downloader.cut_every = t.delta.size() / 3 + 1;
  t.rig.config.download_attempts = 10;
  t.rig.RunToEnd();
  INFO(t.rig.log.str());
  CHECK(t.Final().state() == v1::Status::SUCCEEDED);
  REQUIRE(t.rig.downloader.requests.size() == 3);
  std::uint64_t expected_from = 0;
  for (const DownloadRequest& r : t.rig.downloader.requests) {
    CHECK(r.url == kDeltaUrl);
    CHECK(r.resume_from == expected_from);
    expected_from += t.rig.downloader.cut_every;
  }
  CHECK(t.rig.downloader.bytes_served == t.delta.size());
  CHECK(ReadFile(t.rig.dir.path() / "installed") == t.images.new_image);
}

TEST_CASE("delta: a restart with part of the delta on disk resumes it after the check") {
  DeltaRig first;
  first.SetUp();
  first.rig.downloader.cut_every = first.delta.size() / 2 + 1;
  first.rig.config.download_attempts = 1;  // the first cut sends it back to the check...
  first.rig.config.max_rechecks = 0;       // ...which is not allowed: FAILED; we only want its saved state
  first.rig.RunToEnd();
  std::optional<v1::AgentState> downloading;
  for (const v1::AgentState& s : first.rig.store->history()) {
    if (s.phase() == v1::AgentState::DOWNLOADING && !downloading) downloading = s;
  }
  REQUIRE(downloading);
  DeltaRig t(downloading);
  t.SetUp();
  t.rig.config.download_dir = first.rig.config.download_dir;
  const fs::path partial =
      t.rig.config.download_dir / ("pos-2.0.bin.from-1.0.zst." + Sha256Hex(t.delta).substr(0, 16) + ".part");
  REQUIRE(fs::exists(partial));  // the first run's half of the delta
  REQUIRE(fs::file_size(partial) == t.delta.size() / 2 + 1);
  t.rig.RunToEnd();
  INFO(t.rig.log.str());
  CHECK(t.Final().state() == v1::Status::SUCCEEDED);
  REQUIRE(t.rig.downloader.requests.size() == 1);
  CHECK(t.rig.downloader.requests[0].url == kDeltaUrl);
  CHECK(t.rig.downloader.requests[0].resume_from == t.delta.size() / 2 + 1);
  CHECK(t.rig.downloader.bytes_served == t.delta.size() - (t.delta.size() / 2 + 1));
  CHECK(ReadFile(first.rig.dir.path() / "installed") == t.images.new_image);  // beside the download dir
}

TEST_CASE("delta: every reason not to use the delta falls back to the full image, and the status says why") {
  struct Case {
    const char* name;
    std::function<void(DeltaRig&)> setup;
    std::vector<std::string> urls;  // fetched, in order
    const char* detail_part;
  };
  const std::string full = kUrl;
  const std::string delta = kDeltaUrl;
  const std::vector<Case> cases = {
      {"no image_path", [](DeltaRig& t) { t.rig.config.image_path.clear(); }, {full},
       "no image_path is configured"},
      {"installed image is another build",
       [](DeltaRig& t) { WriteFile(t.rig.config.image_path, t.images.old_image.substr(1) + "x"); }, {full},
       "installed image"},
      {"installed image missing", [](DeltaRig& t) { fs::remove(t.rig.config.image_path); }, {full},
       "installed image"},
      {"the node serves other bytes as the delta",
       [](DeltaRig& t) {
         std::string bad = t.delta;
         bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 1);
         t.rig.downloader.files[kDeltaUrl] = bad;
       },
       {delta, full}, "the delta has sha256"},
      {"the node has no delta (404)", [](DeltaRig& t) { t.rig.downloader.files.erase(kDeltaUrl); }, {delta, full},
       "refused the delta's URL"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    DeltaRig t;
    t.SetUp();
    c.setup(t);
    t.rig.RunToEnd();
    INFO(t.rig.log.str());
    const v1::Status final = t.Final();
    CHECK(final.state() == v1::Status::SUCCEEDED);
    CHECK(final.detail().find("full image (delta not used: ") == 0);
    CHECK(final.detail().find(c.detail_part) != std::string::npos);
    CHECK(Join(t.Urls()) == Join(c.urls));
    CHECK(ReadFile(t.rig.dir.path() / "installed") == t.images.new_image);
    t.CheckDownloadDirEmpty();
  }
}

TEST_CASE("delta: a delta made from another base is caught when applied, and the full image is installed") {
  DeltaRig t;
  t.SetUp();
  // The installed image differs from the delta's real base where the delta
  // copies from it, yet the GO names it as the base (a mislabelled delta):
  // zstd's checksum of the rebuilt bytes catches it.
  std::string installed = t.images.old_image;
  for (std::size_t at = 50'000; at < 60'000; ++at) installed[at] = static_cast<char>(installed[at] ^ 0xff);
  WriteFile(t.rig.config.image_path, installed);
  t.rig.scheduler.download.set_delta_base_sha256(Sha256Hex(installed));
  t.rig.RunToEnd();
  INFO(t.rig.log.str());
  const v1::Status final = t.Final();
  CHECK(final.state() == v1::Status::SUCCEEDED);
  CHECK(final.detail().find("cannot apply the delta") != std::string::npos);
  CHECK(Join(t.Urls()) == std::string(kDeltaUrl) + " " + kUrl);
  CHECK(ReadFile(t.rig.dir.path() / "installed") == t.images.new_image);
}

TEST_CASE("delta: a full download under way is never given up for a delta") {
  DeltaRig t;
  t.SetUp();
  t.rig.downloader.cut_every = t.images.new_image.size() / 2 + 1;
  t.rig.config.download_attempts = 10;
  // The first GO has no delta: half the full image arrives, then the cut.
  const v1::Download with_delta = t.rig.scheduler.download;
  v1::Download without = with_delta;
  without.clear_delta_url();
  t.rig.scheduler.download = without;
  t.rig.downloader.on_fetch = [&](int n) {
    if (n == 1) t.rig.scheduler.download = with_delta;  // later GOs would offer it
  };
  t.rig.RunToEnd();
  INFO(t.rig.log.str());
  CHECK(t.Final().state() == v1::Status::SUCCEEDED);
  for (const auto& url : t.Urls()) CHECK(url == kUrl);
}

TEST_CASE("delta: with a public key the signature over the full image's manifest is checked before any byte") {
  DeltaRig t;
  t.SetUp();
  auto sig = SignEd25519(::slotwise::testing::kTestPrivateKeyPem,
                         ArtifactManifest("2.0", t.rig.scheduler.download.sha256(), t.rig.scheduler.download.size()));
  REQUIRE(sig.ok());
  t.rig.scheduler.download.set_signature(*sig);
  t.rig.config.public_key_file = t.rig.dir.path() / "pub.pem";
  WriteFile(t.rig.config.public_key_file, ::slotwise::testing::kTestPublicKeyPem);
  t.rig.RunToEnd();
  CHECK(t.Final().state() == v1::Status::SUCCEEDED);
  CHECK(Join(t.Urls()) == kDeltaUrl);

  DeltaRig bad;
  bad.SetUp();
  bad.rig.scheduler.download.set_signature(*sig);
  bad.rig.scheduler.download.set_sha256(Sha256Hex("something else"));  // the manifest no longer matches
  bad.rig.config.public_key_file = t.rig.config.public_key_file;
  bad.rig.RunToEnd();
  CHECK(bad.Final().state() == v1::Status::FAILED);
  CHECK(bad.rig.downloader.requests.empty());
}

}  // namespace
}  // namespace slotwise::agent::testing

namespace slotwise::agent::testing {
namespace {

TEST_CASE("delta: image_path and component.NAME.image_path are read from the config, none by default") {
  const std::string base =
      "broker = tcp://127.0.0.1:1883\nterminal_id = T1\nstate_dir = /tmp/s\nversion_file = /tmp/v\n"
      "location = 1,2\ninstall_command = true\n";
  auto none = ParseAgentConfig(base, "agent.conf");
  REQUIRE(none.ok());
  CHECK(none->image_path.empty());
  CHECK(none->Component("")->image_path.empty());
  auto with = ParseAgentConfig(base + "image_path = /var/img/system.img\ncomponent.payapp.version_file = /tmp/pv\n"
                                      "component.payapp.install_command = true\n"
                                      "component.payapp.image_path = /var/img/payapp.bin\n",
                               "agent.conf");
  REQUIRE_MESSAGE(with.ok(), with.error().message);
  CHECK(with->Component("")->image_path == "/var/img/system.img");
  CHECK(with->Component("system")->image_path == "/var/img/system.img");
  CHECK(with->Component("payapp")->image_path == "/var/img/payapp.bin");
}

}  // namespace
}  // namespace slotwise::agent::testing

// `slotwise version add --delta-from`: the spec's parsing and the deltas it
// builds and records (scheduler/cli/delta_args.h).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "delta_args.h"
#include "slotwise/sha256.h"

namespace slotwise::cli {
namespace {

namespace fs = std::filesystem;

TEST_CASE("cli delta-from: FROM=FILE and FROM=FILE:/URL/PATH, a colon in the file name kept") {
  auto plain = ParseDeltaFrom("2.0.0=old.bin");
  REQUIRE(plain.ok());
  CHECK(plain->from_version == "2.0.0");
  CHECK(plain->base_file == "old.bin");
  CHECK(plain->url_path.empty());
  auto with_path = ParseDeltaFrom("2.0.0=dir/a:b.bin:/fw/2.0.0-2.1.0.zst");
  REQUIRE(with_path.ok());
  CHECK(with_path->base_file == "dir/a:b.bin");
  CHECK(with_path->url_path == "/fw/2.0.0-2.1.0.zst");
  for (const char* bad : {"old.bin", "=old.bin", "2.0.0="}) {
    CAPTURE(bad);
    CHECK(ParseDeltaFrom(bad).error().code == v1::INVALID_ARGUMENT);
  }
}

TEST_CASE("cli delta-from: the delta is built beside the file and recorded with its and its base's hashes") {
  const fs::path dir = fs::temp_directory_path() / ("slotwise-cli-delta-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir / "new");
  std::mt19937_64 rng(5);
  std::string base(300'000, '\0');
  for (auto& c : base) c = static_cast<char>(rng());
  std::string next = base;
  next[1000] = 'x';
  next += "tail";
  std::ofstream(dir / "old.bin", std::ios::binary) << base;
  std::ofstream(dir / "new" / "fw.bin", std::ios::binary) << next;
  v1::Artifact a;
  a.set_version("2.1.0");
  a.set_path("/fw/fw-2.1.0.bin");
  a.set_size(next.size());
  std::vector<DeltaSpec> specs = {{"2.0.0", dir / "old.bin", ""}, {"1.9.0", dir / "old.bin", "/fw/1.9-2.1.zst"}};
  REQUIRE(AddDeltas(a, dir / "new" / "fw.bin", specs, {}).ok());
  REQUIRE(a.deltas_size() == 2);
  const auto& d = a.deltas(0);
  CHECK(d.from_version() == "2.0.0");
  CHECK(d.path() == "/fw/fw-2.1.0.bin.from-2.0.0.zst");
  CHECK(fs::file_size(dir / "new" / "fw-2.1.0.bin.from-2.0.0.zst") == d.size());
  CHECK(d.size() < 1000);
  CHECK(d.sha256() == *Sha256FileHex(dir / "new" / "fw-2.1.0.bin.from-2.0.0.zst"));
  CHECK(d.base_sha256() == Sha256Hex(base));
  CHECK(d.base_size() == base.size());
  CHECK(a.deltas(1).path() == "/fw/1.9-2.1.zst");
  CHECK(fs::exists(dir / "new" / "1.9-2.1.zst"));

  v1::Artifact b = a;
  b.clear_deltas();
  CHECK(AddDeltas(b, dir / "new" / "fw.bin", {{"2.0.0", dir / "missing.bin", ""}}, {}).error().code ==
        v1::INVALID_ARGUMENT);
  CHECK(AddDeltas(b, dir / "new" / "fw.bin", {{"2.0.0", dir / "old.bin", "/fw/"}}, {}).error().code ==
        v1::INVALID_ARGUMENT);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace slotwise::cli

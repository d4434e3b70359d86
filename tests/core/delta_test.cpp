// zstd patch-from deltas (slotwise/delta.h): build and apply, byte-identical
// results, and the refusals (wrong base, wrong size, not a frame, too large).
// The agent's tests check the download step's use of them (delta_test.cpp there).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "slotwise/delta.h"
#include "slotwise/sha256.h"

namespace slotwise::testing {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("slotwise-core-delta-" + std::to_string(std::random_device{}()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string RandomBytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void Write(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A "new build": the old one with edits spread over it, a block moved from
// the start to the end (a match 6 MB back, beyond the optimal parser's
// reach: long-distance matching finds it) and some new bytes.
std::string NextVersion(const std::string& base) {
  std::string next = base.substr(1 << 20);
  for (std::size_t at = 1000; at < next.size(); at += 97'000) next[at] = static_cast<char>(next[at] ^ 0x5a);
  next.insert(next.size() / 2, RandomBytes(20'000, 7));
  next += base.substr(0, 1 << 20);
  next += RandomBytes(30'000, 8);
  return next;
}

TEST_CASE("delta: patch-from round trip gives the target byte for byte, at a fraction of its size") {
  TempDir dir;
  const std::string base = RandomBytes(7 << 20, 1);
  const std::string target = NextVersion(base);
  Write(dir.path / "base", base);
  Write(dir.path / "target", target);
  auto built = BuildDelta(dir.path / "base", dir.path / "target", dir.path / "d.zst");
  REQUIRE_MESSAGE(built.ok(), built.error().message);
  CHECK(built->size == fs::file_size(dir.path / "d.zst"));
  CHECK(built->window_log == 24);  // 7 MB + ~7 MB -> 2^24
  // Random data does not compress: everything under ~60 KB comes from the base.
  CHECK(built->size < 100'000);
  CHECK_FALSE(fs::exists(dir.path / "d.zst.tmp"));
  auto applied = ApplyDelta(dir.path / "base", dir.path / "d.zst", dir.path / "out", target.size());
  REQUIRE_MESSAGE(applied.ok(), applied.error().message);
  CHECK(Read(dir.path / "out") == target);
}

TEST_CASE("delta: an empty base still builds a frame that applies") {
  TempDir dir;
  const std::string target = std::string(100'000, 'a') + RandomBytes(1000, 3);
  Write(dir.path / "base", "");
  Write(dir.path / "target", target);
  auto built = BuildDelta(dir.path / "base", dir.path / "target", dir.path / "d.zst");
  REQUIRE(built.ok());
  REQUIRE(ApplyDelta(dir.path / "base", dir.path / "d.zst", dir.path / "out", target.size()).ok());
  CHECK(Read(dir.path / "out") == target);
}

TEST_CASE("delta: a wrong base, a wrong size or a file that is no frame is refused and leaves no output") {
  TempDir dir;
  const std::string base = RandomBytes(1 << 20, 4);
  std::string target = base;
  target[5000] = 'x';
  Write(dir.path / "base", base);
  Write(dir.path / "target", target);
  REQUIRE(BuildDelta(dir.path / "base", dir.path / "target", dir.path / "d.zst").ok());

  std::string other = base;
  other[200'000] = static_cast<char>(other[200'000] ^ 1);  // one bit of the base differs
  Write(dir.path / "other", other);
  auto wrong_base = ApplyDelta(dir.path / "other", dir.path / "d.zst", dir.path / "out", target.size());
  REQUIRE_FALSE(wrong_base.ok());
  CHECK(wrong_base.error().code == v1::FAILED_PRECONDITION);
  CHECK_FALSE(fs::exists(dir.path / "out"));

  auto wrong_size = ApplyDelta(dir.path / "base", dir.path / "d.zst", dir.path / "out", target.size() + 1);
  REQUIRE_FALSE(wrong_size.ok());
  CHECK(wrong_size.error().code == v1::FAILED_PRECONDITION);
  CHECK(wrong_size.error().message.find("expected") != std::string::npos);

  Write(dir.path / "junk", "not a zstd frame at all");
  auto junk = ApplyDelta(dir.path / "base", dir.path / "junk", dir.path / "out", target.size());
  REQUIRE_FALSE(junk.ok());
  CHECK(junk.error().code == v1::FAILED_PRECONDITION);

  std::string cut = Read(dir.path / "d.zst");
  cut.resize(cut.size() / 2);
  Write(dir.path / "cut", cut);
  auto truncated = ApplyDelta(dir.path / "base", dir.path / "cut", dir.path / "out", target.size());
  REQUIRE_FALSE(truncated.ok());
  CHECK_FALSE(fs::exists(dir.path / "out"));

  CHECK(ApplyDelta(dir.path / "missing", dir.path / "d.zst", dir.path / "out", target.size()).error().code ==
        v1::NOT_FOUND);
}

TEST_CASE("delta: a pair spanning more than 2 GiB is refused before any work") {
  TempDir dir;
  for (const char* name : {"base", "target"}) {
    std::ofstream(dir.path / name).close();
    fs::resize_file(dir.path / name, (std::uint64_t{1} << 30) + 1);  // sparse: no disk used
  }
  auto built = BuildDelta(dir.path / "base", dir.path / "target", dir.path / "d.zst");
  REQUIRE_FALSE(built.ok());
  CHECK(built.error().code == v1::INVALID_ARGUMENT);
  CHECK(built.error().message.find("at most 2147483648") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path / "d.zst"));
}

}  // namespace
}  // namespace slotwise::testing

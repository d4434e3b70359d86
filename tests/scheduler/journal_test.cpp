// Journal: direct writes, group commit, and the undo of every change a
// write that did not become durable carried.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "slotwise/scheduler/journal.h"
#include "slotwise/scheduler/store.h"

using namespace slotwise;
using namespace slotwise::scheduler;

namespace {

// Counts Write() calls and fails them on demand.
class CountingStore final : public Store {
 public:
  bool fail = false;
  int writes = 0;
  Result<std::optional<std::string>> Get(std::string_view key) override { return inner_.Get(key); }
  Status Write(const WriteBatch& batch) override {
    ++writes;
    if (fail) return MakeError(v1::INTERNAL, "disk full");
    return inner_.Write(batch);
  }
  Status Scan(std::string_view prefix,
              const std::function<void(std::string_view, std::string_view)>& visit) override {
    return inner_.Scan(prefix, visit);
  }
  bool Has(std::string_view key) {
    auto v = inner_.Get(key);
    return v.ok() && v->has_value();
  }

 private:
  MemoryStore inner_;
};

WriteBatch Put(const std::string& key) {
  WriteBatch b;
  b.Put(key, "v");
  return b;
}

}  // namespace

TEST_CASE("journal: a direct write is durable at once and keeps its change") {
  CountingStore store;
  Journal journal(store);
  int undone = 0;
  REQUIRE(journal.Write(Put("a"), [&] { ++undone; }).ok());
  CHECK(store.Has("a"));
  CHECK(store.writes == 1);
  CHECK(undone == 0);
  CHECK(journal.Write(WriteBatch{}, [&] { ++undone; }).ok());  // nothing to write
  CHECK(store.writes == 1);
  CHECK(undone == 0);
}

TEST_CASE("journal: a failed direct write runs its undo and returns the error") {
  CountingStore store;
  Journal journal(store);
  store.fail = true;
  int undone = 0;
  const auto s = journal.Write(Put("a"), [&] { ++undone; });
  CHECK_FALSE(s.ok());
  CHECK(undone == 1);
  CHECK_FALSE(store.Has("a"));
}

TEST_CASE("journal: a group commit stages every write and stores them in one synced write") {
  CountingStore store;
  Journal journal(store);
  int undone = 0;
  journal.Begin();
  CHECK(journal.staging());
  for (const char* k : {"a", "b", "c"}) REQUIRE(journal.Write(Put(k), [&] { ++undone; }).ok());
  CHECK(journal.staged() == 3);
  CHECK(store.writes == 0);
  CHECK_FALSE(store.Has("a"));
  REQUIRE(journal.Commit().ok());
  CHECK_FALSE(journal.staging());
  CHECK(store.writes == 1);
  CHECK((store.Has("a") && store.Has("b") && store.Has("c")));
  CHECK(undone == 0);
  // The undos of a committed batch are gone: a later failure does not run them.
  store.fail = true;
  journal.Begin();
  CHECK(journal.Commit().ok());  // empty batch: nothing written
  CHECK(store.writes == 1);
  CHECK(undone == 0);
}

TEST_CASE("journal: a failed group commit undoes every staged change, newest first") {
  CountingStore store;
  Journal journal(store);
  std::vector<std::string> undone;
  journal.Begin();
  for (const char* k : {"a", "b", "c"}) {
    REQUIRE(journal.Write(Put(k), [&undone, k] { undone.emplace_back(k); }).ok());
  }
  store.fail = true;
  CHECK_FALSE(journal.Commit().ok());
  CHECK(undone == std::vector<std::string>{"c", "b", "a"});
  CHECK_FALSE(store.Has("a"));
  // The next batch starts clean.
  store.fail = false;
  undone.clear();
  journal.Begin();
  REQUIRE(journal.Write(Put("d"), [&undone] { undone.emplace_back("d"); }).ok());
  REQUIRE(journal.Commit().ok());
  CHECK(undone.empty());
  CHECK(store.Has("d"));
}

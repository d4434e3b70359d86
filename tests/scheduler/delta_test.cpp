// Delta artifacts in the scheduler (schemas/README.md "Delta artifacts"):
// AddArtifact's checks of Artifact.deltas, the GO that carries a delta to a
// terminal on its base (and keeps the full image's URL), the full image for
// a terminal on another version, and the bytes the booking counts.
#include <doctest/doctest.h>

#include "harness.h"
#include "slotwise/scheduler/artifact_choice.h"

namespace slotwise::scheduler::testing {
namespace {

const std::string kBaseSha = std::string(64, 'b');

v1::ArtifactDelta DeltaFrom200() {
  v1::ArtifactDelta d;
  d.set_from_version("2.0.0");
  d.set_path("/fw/2.0.0-2.1.0.zst");
  d.set_sha256(std::string(64, 'd'));
  d.set_size(100);
  d.set_base_sha256(std::string(64, 'a'));  // harness AddArtifact's sha256 and size
  d.set_base_size(1234);
  return d;
}

v1::OperatorRequest AddWithDelta(const v1::ArtifactDelta& d) {
  v1::OperatorRequest r = AddArtifact("2.1.0");
  *r.mutable_add_artifact()->mutable_artifact()->add_deltas() = d;
  return r;
}

TEST_CASE("delta artifacts: AddArtifact refuses bad deltas with INVALID_ARGUMENT and changes nothing") {
  Harness h(false);
  REQUIRE(h.Op(AddArtifact("2.0.0")).has_ack());
  struct Case {
    const char* what;
    std::function<void(v1::ArtifactDelta&)> spoil;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"bad from_version", [](auto& d) { d.set_from_version("2 0"); }, "from_version"},
      {"from itself", [](auto& d) { d.set_from_version("2.1.0"); }, "another version"},
      {"path not absolute", [](auto& d) { d.set_path("fw/x.zst"); }, "path"},
      {"path of the artifact", [](auto& d) { d.set_path("/fw/2.1.0.bin"); }, "differ"},
      {"bad sha256", [](auto& d) { d.set_sha256("XYZ"); }, "hex"},
      {"bad base_sha256", [](auto& d) { d.set_base_sha256(std::string(64, 'A')); }, "hex"},
      {"empty delta", [](auto& d) { d.set_size(0); }, "positive"},
      {"base is not 2.0.0's file", [](auto& d) { d.set_base_sha256(kBaseSha); }, "not those of version 2.0.0"},
      {"base size is not 2.0.0's", [](auto& d) { d.set_base_size(1); }, "not those of version 2.0.0"},
  };
  const std::string before = Snapshot(h.store());
  for (const auto& c : cases) {
    CAPTURE(c.what);
    v1::ArtifactDelta d = DeltaFrom200();
    c.spoil(d);
    const auto r = h.Op(AddWithDelta(d));
    REQUIRE(r.has_error());
    CHECK(r.error().code() == v1::INVALID_ARGUMENT);
    CHECK(r.error().message().find(c.message) != std::string::npos);
  }
  v1::OperatorRequest twice = AddWithDelta(DeltaFrom200());
  *twice.mutable_add_artifact()->mutable_artifact()->add_deltas() = DeltaFrom200();
  CHECK(h.Op(twice).error().message().find("two deltas") != std::string::npos);
  CHECK(Snapshot(h.store()) == before);
  // A base version that is not registered is taken on the operator's word.
  v1::ArtifactDelta unknown = DeltaFrom200();
  unknown.set_from_version("1.9.0");
  unknown.set_path("/fw/1.9.0-2.1.0.zst");
  unknown.set_base_sha256(kBaseSha);
  v1::OperatorRequest both = AddWithDelta(DeltaFrom200());
  *both.mutable_add_artifact()->mutable_artifact()->add_deltas() = unknown;
  REQUIRE(h.Op(both).has_ack());
  v1::OperatorRequest list;
  list.mutable_list_artifacts();
  const auto listed = h.Op(list);
  bool found = false;
  for (const auto& a : listed.artifacts().artifacts()) {
    if (a.version() == "2.1.0") {
      found = true;
      CHECK(a.deltas_size() == 2);
    }
  }
  CHECK(found);
}

TEST_CASE("delta artifacts: a terminal on the base gets the delta in its GO, one on another version the full image") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    ServiceOptions options{kSlotMs, 1};
    options.url_secret = "s3cret";
    Harness h(rocksdb, options);
    REQUIRE(h.Op(AddCluster("paris", 48.85, 2.35)).has_ack());
    REQUIRE(h.Op(AddNode("p1", "paris", 4)).has_ack());
    REQUIRE(h.Op(AddArtifact("2.0.0")).has_ack());
    REQUIRE(h.Op(AddWithDelta(DeltaFrom200())).has_ack());
    REQUIRE(h.Op(CreateCampaign("c1", "2.1.0", {"ON_BASE", "OTHER"})).has_ack());
    v1::OperatorRequest q;
    q.mutable_query_windows()->set_campaign_id("c1");
    const v1::Window w = h.Op(q).windows().windows(0);
    v1::OperatorRequest s;
    s.mutable_schedule_campaign()->set_campaign_id("c1");
    s.mutable_schedule_campaign()->set_start_slot(w.start_slot());
    s.mutable_schedule_campaign()->set_end_slot(w.end_slot());
    REQUIRE(h.Op(s).has_ack());

    auto report = [&](const std::string& tid, const std::string& version) {
      v1::Report r = ReportFor("c1", 48.9, 2.4);
      r.set_current_version(version);
      r.set_target_version("2.1.0");
      const auto reply = h.svc().HandleReport(tid, r);
      REQUIRE(reply.has_assignment());
      return reply.assignment();
    };
    const v1::Assignment on_base = report("ON_BASE", "2.0.0");
    const v1::Assignment other = report("OTHER", "1.0.0");
    // The booking's bytes: the delta's for the terminal on the base.
    CHECK(h.svc().BytesFor("ON_BASE", "c1") == 100);
    CHECK(h.svc().BytesFor("OTHER", "c1") == 1234);
    CHECK(h.svc().BytesFor("NOBODY", "c1") == 0);
    CHECK(h.svc().BytesFor("ON_BASE", "nope") == 0);
    h.Reopen();  // the reported version is part of the durable record
    CHECK(h.svc().BytesFor("ON_BASE", "c1") == 100);

    h.clock().Set(std::max(on_base.start_at_ms(), other.start_at_ms()));
    auto go = [&](const std::string& tid, const std::string& version) {
      v1::Check c;
      c.set_campaign_id("c1");
      c.set_current_version(version);
      const auto reply = h.svc().HandleCheck(tid, c);
      REQUIRE(reply.check_result().verdict() == v1::CheckResult::GO);
      return reply.check_result().download();
    };
    const v1::Download d = go("ON_BASE", "2.0.0");
    // The full image stays in url/sha256/size (what a v1 agent fetches).
    CHECK(d.url().find("/p1/fw/2.1.0.bin?md5=") != std::string::npos);
    CHECK(d.sha256() == std::string(64, 'a'));
    CHECK(d.size() == 1234);
    CHECK(d.delta_url().find("http://127.0.0.1:9000/p1/fw/2.0.0-2.1.0.zst?md5=") == 0);
    CHECK(d.delta_url().find("&terminal=ON_BASE&expires=") != std::string::npos);
    CHECK(d.delta_sha256() == std::string(64, 'd'));
    CHECK(d.delta_size() == 100);
    CHECK(d.delta_base_version() == "2.0.0");
    CHECK(d.delta_base_sha256() == std::string(64, 'a'));
    CHECK(d.delta_base_size() == 1234);

    const v1::Download full = go("OTHER", "1.0.0");
    CHECK(full.url().find("/p1/fw/2.1.0.bin?md5=") != std::string::npos);
    CHECK(full.delta_url().empty());
    CHECK(full.delta_size() == 0);
    CHECK(full.delta_base_version().empty());
  }
}

TEST_CASE("delta artifacts: DownloadBytes picks the delta only for its base version") {
  v1::Artifact a;
  a.set_size(5000);
  *a.add_deltas() = DeltaFrom200();
  CHECK(DownloadBytes(a, "2.0.0") == 100);
  CHECK(DownloadBytes(a, "1.0.0") == 5000);
  CHECK(DownloadBytes(a, "") == 5000);
  CHECK(DeltaFrom(a, "2.0.0") == &a.deltas(0));
  CHECK(DeltaFrom(a, "2.0") == nullptr);
}

}  // namespace
}  // namespace slotwise::scheduler::testing

// Issue 13: roles, the users file, pagination, summaries and the audit trail
// on the real service (MemoryStore and RocksDB).
#include <doctest/doctest.h>

#include <set>

#include "harness.h"
#include "slotwise/scheduler/access.h"

namespace slotwise::scheduler {
namespace {

using testing::Harness;

v1::OperatorReply As(Harness& h, const std::string& who, Role role, const v1::OperatorRequest& req) {
  Outbox out;
  return h.svc().HandleOperatorAs(Caller{who, "http", role}, req, out);
}

v1::OperatorRequest Page(const std::string& campaign, std::uint32_t size, const std::string& token) {
  v1::OperatorRequest r;
  auto* c = r.mutable_list_campaign_terminals();
  c->set_campaign_id(campaign);
  c->set_page_size(size);
  c->set_page_token(token);
  return r;
}

}  // namespace

TEST_CASE("access: a mosquitto_passwd-style hash verifies its password only") {
  const std::string h = HashPassword("s3cret");
  CHECK(h.starts_with("$7$101$"));
  CHECK(VerifyPassword("s3cret", h));
  CHECK_FALSE(VerifyPassword("s3cret!", h));
  CHECK_FALSE(VerifyPassword("s3cret", "$6$abc$def"));
  auto users = Users::Parse("# comment\nada:admin:" + HashPassword("pw") + "\nvera:viewer:" + HashPassword("v") + "\n");
  REQUIRE(users.ok());
  CHECK(users->Authenticate("ada", "pw") == Role::kAdmin);
  CHECK_FALSE(users->Authenticate("ada", "v").has_value());
  CHECK(users->RoleOf("vera") == Role::kViewer);
  CHECK_FALSE(users->RoleOf("nobody").has_value());
  CHECK_FALSE(Users::Parse("ada:root:x").ok());
  CHECK_FALSE(Users::Parse("just-a-name").ok());
}

TEST_CASE("access: each command needs its role") {
  v1::OperatorRequest r;
  r.mutable_list_campaigns();
  CHECK(RequiredRole(r) == Role::kViewer);
  r.mutable_schedule_campaign();
  CHECK(RequiredRole(r) == Role::kOperator);
  r.mutable_add_node();
  CHECK(RequiredRole(r) == Role::kAdmin);
  r.mutable_list_audit();
  CHECK(RequiredRole(r) == Role::kViewer);
}

TEST_CASE("access: a viewer's change is refused PERMISSION_DENIED, changes nothing, and is audited durably") {
  for (bool rocksdb : {false, true}) {
    CAPTURE(rocksdb);
    Harness h(rocksdb);
    REQUIRE_FALSE(As(h, "ada", Role::kAdmin, testing::AddCluster("c1", 45, 5)).has_error());
    const auto refused = As(h, "vera", Role::kViewer, testing::AddCluster("c2", 45, 5));
    REQUIRE(refused.has_error());
    CHECK(refused.error().code() == v1::PERMISSION_DENIED);
    v1::OperatorRequest list;
    list.mutable_list_clusters();
    CHECK(As(h, "vera", Role::kViewer, list).clusters().clusters_size() == 1);
    h.Reopen();  // the audit trail is in the store
    v1::OperatorRequest audit;
    audit.mutable_list_audit();
    const auto page = As(h, "vera", Role::kViewer, audit).audit();
    REQUIRE(page.entries_size() == 2);
    CHECK(page.entries(0).who() == "vera");  // newest first
    CHECK(page.entries(0).code() == v1::PERMISSION_DENIED);
    CHECK(page.entries(1).who() == "ada");
    CHECK(page.entries(1).command() == "add_cluster");
    CHECK(page.entries(1).code() == v1::ERROR_CODE_UNSPECIFIED);
    CHECK(page.entries(0).seq() > page.entries(1).seq());
  }
}

TEST_CASE("access: keyset pages of a campaign cover every terminal once, and the summary counts them") {
  Harness h(false);
  h.Op(testing::AddCluster("c1", 45, 5));
  h.Op(testing::AddNode("n1", "c1", 10));
  h.Op(testing::AddArtifact("2.0.0"));
  const auto ids = testing::Ids(2500);
  REQUIRE_FALSE(h.Op(testing::CreateCampaign("big", "2.0.0", ids)).has_error());
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    const auto r = As(h, "v", Role::kViewer, Page("big", 1000, token));
    REQUIRE_FALSE(r.has_error());
    for (const auto& t : r.campaign_terminals().terminals()) CHECK(seen.insert(t.terminal_id()).second);
    token = r.campaign_terminals().next_page_token();
    ++pages;
  } while (!token.empty());
  CHECK(pages == 3);
  CHECK(seen.size() == ids.size());
  CHECK(As(h, "v", Role::kViewer, Page("big", 1001, "")).error().code() == v1::INVALID_ARGUMENT);
  v1::OperatorRequest s;
  s.mutable_get_campaign_summary()->set_campaign_id("big");
  const auto summary = As(h, "v", Role::kViewer, s).summary();
  CHECK(summary.terminals() == 2500);
  CHECK(summary.outcomes().at("OUTCOME_PENDING") == 2500);
  CHECK(summary.campaign().terminal_ids_size() == 0);
  v1::OperatorRequest g = testing::Get("big");
  g.mutable_get_campaign()->set_omit_terminals(true);
  const auto report = As(h, "v", Role::kViewer, g).campaign();
  CHECK(report.terminals_size() == 0);
  CHECK(report.terminals_omitted());
  CHECK(report.outcome_pending() == 2500);
}

}  // namespace slotwise::scheduler

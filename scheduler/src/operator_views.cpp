#include "operator_views.h"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "replies.h"

namespace slotwise::scheduler::views {
namespace {

using P = v1::TerminalProgress;

// 0 = the default; more than kMaxPage is refused (INVALID_ARGUMENT).
std::optional<std::uint32_t> PageSize(std::uint32_t asked) {
  if (asked == 0) return kDefaultPage;
  if (asked > kMaxPage) return std::nullopt;
  return asked;
}

v1::OperatorReply BadPageSize() {
  return Refuse(v1::INVALID_ARGUMENT, "page_size must be 0 (default " + std::to_string(kDefaultPage) + ") to " +
                                          std::to_string(kMaxPage));
}

constexpr std::size_t kOutcomes = 9;  // TerminalProgress.Outcome 0-8

struct Tally {
  std::uint32_t total = 0;
  std::array<std::uint32_t, kOutcomes> outcomes{};
  void Add(int outcome) {
    ++total;
    if (outcome >= 0 && static_cast<std::size_t>(outcome) < kOutcomes) ++outcomes[static_cast<std::size_t>(outcome)];
  }
  void Into(google::protobuf::Map<std::string, std::uint32_t>& m) const {
    for (std::size_t i = 0; i < kOutcomes; ++i) {
      if (outcomes[i] > 0) m[P::Outcome_Name(static_cast<P::Outcome>(i))] = outcomes[i];
    }
  }
};

// The campaign without its terminal ids, without copying them first (a
// million strings cost more than the rest of a summary).
void CopyWithoutTerminals(const v1::Campaign& from, v1::Campaign& to) {
  const auto* r = from.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(from, &fields);
  for (const auto* f : fields) {
    if (f->number() == v1::Campaign::kTerminalIdsFieldNumber) continue;
    switch (f->cpp_type()) {
      case google::protobuf::FieldDescriptor::CPPTYPE_STRING: r->SetString(&to, f, r->GetString(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT64: r->SetInt64(&to, f, r->GetInt64(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT32: r->SetUInt32(&to, f, r->GetUInt32(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_INT32: r->SetInt32(&to, f, r->GetInt32(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_UINT64: r->SetUInt64(&to, f, r->GetUInt64(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_BOOL: r->SetBool(&to, f, r->GetBool(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_DOUBLE: r->SetDouble(&to, f, r->GetDouble(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_FLOAT: r->SetFloat(&to, f, r->GetFloat(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_ENUM: r->SetEnumValue(&to, f, r->GetEnumValue(from, f)); break;
      case google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE:
        r->MutableMessage(&to, f)->CopyFrom(r->GetMessage(from, f));
        break;
    }
  }
}

}  // namespace

v1::OperatorReply ListCampaignTerminals(const CampaignTable& table, const Registry& registry,
                                        const v1::ListCampaignTerminals& req, bool count_total) {
  const CampaignRecord* record = table.Find(req.campaign_id());
  if (record == nullptr) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  const auto size = PageSize(req.page_size());
  if (!size) return BadPageSize();
  std::array<bool, kOutcomes> wanted{};
  for (int o : req.outcomes()) {
    if (o < 0 || static_cast<std::size_t>(o) >= kOutcomes) return Refuse(v1::INVALID_ARGUMENT, "unknown outcome");
    wanted[static_cast<std::size_t>(o)] = true;
  }
  if (!req.node_id().empty() && registry.FindNode(req.node_id()) == nullptr) {
    return Refuse(v1::NOT_FOUND, "unknown node '" + req.node_id() + "'");
  }
  const bool any_outcome = req.outcomes().empty();
  v1::OperatorReply r;
  auto* page = r.mutable_campaign_terminals();
  // Keyset: the first terminal id after the token (the last id of the page before).
  auto matches = [&](const P& p) {
    if (!any_outcome && !wanted[static_cast<std::size_t>(p.outcome())]) return false;
    if (!req.node_id().empty() && p.node_id() != req.node_id()) return false;
    if (req.state() != v1::Status::STATE_UNSPECIFIED && p.state() != req.state()) return false;
    if (!req.cluster_id().empty()) {
      const v1::Node* node = p.node_id().empty() ? nullptr : registry.FindNode(p.node_id());
      if (node == nullptr || node->cluster_id() != req.cluster_id()) return false;
    }
    return true;
  };
  auto it = req.page_token().empty() ? record->progress.begin() : record->progress.upper_bound(req.page_token());
  for (; it != record->progress.end(); ++it) {
    const P& p = it->second;
    if (!matches(p)) continue;
    if (static_cast<std::uint32_t>(page->terminals_size()) == *size) {
      page->set_next_page_token(page->terminals(page->terminals_size() - 1).terminal_id());
      break;
    }
    *page->add_terminals() = p;
  }
  // The total over every page: without a filter the campaign's size; with
  // one a count of the matches (a pass over the campaign).
  const bool filtered = !any_outcome || !req.node_id().empty() || !req.cluster_id().empty() ||
                        req.state() != v1::Status::STATE_UNSPECIFIED;
  if (!filtered) {
    page->set_total(static_cast<std::uint32_t>(record->progress.size()));
  } else if (count_total) {
    std::uint32_t total = 0;
    for (const auto& [tid, p] : record->progress) if (matches(p)) ++total;
    page->set_total(total);
  }
  return r;
}

v1::OperatorReply Summary(const CampaignTable& table, const Registry& registry, std::int64_t slot_ms,
                          const v1::GetCampaignSummary& req) {
  const CampaignRecord* record = table.Find(req.campaign_id());
  if (record == nullptr) return Refuse(v1::NOT_FOUND, "unknown campaign '" + req.campaign_id() + "'");
  v1::OperatorReply r;
  auto* s = r.mutable_summary();
  CopyWithoutTerminals(record->campaign, *s->mutable_campaign());
  s->set_slot_ms(slot_ms);
  Tally all;
  // Few nodes, many terminals: a short vector searched from the last hit
  // beats hashing every terminal's node id.
  std::vector<std::pair<std::string_view, Tally>> node_tallies;
  std::size_t last = 0;
  std::uint32_t assigned = 0;
  std::uint32_t pending = 0;
  for (const auto& [tid, p] : record->progress) {
    const int outcome = p.outcome();
    const std::string_view node = p.node_id();
    if (last >= node_tallies.size() || node_tallies[last].first != node) {
      last = 0;
      while (last < node_tallies.size() && node_tallies[last].first != node) ++last;
      if (last == node_tallies.size()) node_tallies.emplace_back(node, Tally{});
    }
    node_tallies[last].second.Add(outcome);
    if (!IsFinalOutcome(static_cast<Outcome>(outcome))) ++(p.assigned() ? assigned : pending);
  }
  for (const auto& [node, tally] : node_tallies) {
    all.total += tally.total;
    for (std::size_t i = 0; i < kOutcomes; ++i) all.outcomes[i] += tally.outcomes[i];
  }
  std::map<std::string_view, Tally> nodes(node_tallies.begin(), node_tallies.end());
  s->set_terminals(all.total);
  all.Into(*s->mutable_outcomes());
  s->set_assigned(assigned);
  s->set_pending(pending);
  std::map<std::string, Tally> clusters;
  std::map<std::string_view, const Tally*> sorted_nodes;
  for (const auto& [node_id, tally] : nodes) {
    sorted_nodes[node_id] = &tally;
    const v1::Node* node = node_id.empty() ? nullptr : registry.FindNode(node_id);
    Tally& c = clusters[node == nullptr ? std::string() : node->cluster_id()];
    c.total += tally.total;
    for (std::size_t i = 0; i < kOutcomes; ++i) c.outcomes[i] += tally.outcomes[i];
  }
  for (const auto& [id, tally] : sorted_nodes) {
    auto* n = s->add_nodes();
    n->set_id(std::string(id));
    n->set_total(tally->total);
    tally->Into(*n->mutable_outcomes());
  }
  for (const auto& [id, tally] : clusters) {
    auto* c = s->add_clusters();
    c->set_id(id);
    c->set_total(tally.total);
    tally.Into(*c->mutable_outcomes());
  }
  return r;
}

v1::OperatorReply ListTerminalsPage(const Registry& registry, const v1::ListTerminals& req) {
  const auto size = PageSize(req.page_size());
  if (!size) return BadPageSize();
  const auto& all = registry.terminals();
  v1::OperatorReply r;
  auto* list = r.mutable_terminals();
  auto it = req.page_token().empty() ? all.begin() : all.upper_bound(req.page_token());
  for (; it != all.end(); ++it) {
    const auto& t = it->second;
    if (!req.current_version().empty() && t.current_version() != req.current_version()) continue;
    if (req.online() == v1::ListTerminals::ONLINE_ONLY && !t.online()) continue;
    if (req.online() == v1::ListTerminals::OFFLINE_ONLY && t.online()) continue;
    if (static_cast<std::uint32_t>(list->terminals_size()) == *size) {
      list->set_next_page_token(list->terminals(list->terminals_size() - 1).id());
      break;
    }
    *list->add_terminals() = t;
  }
  return r;
}

v1::OperatorReply ListCampaignsPage(const CampaignTable& table, const v1::ListCampaigns& req) {
  const auto size = PageSize(req.page_size());
  if (!size) return BadPageSize();
  const auto& all = table.all();
  v1::OperatorReply r;
  auto* list = r.mutable_campaigns();
  auto it = req.page_token().empty() ? all.begin() : all.upper_bound(req.page_token());
  for (; it != all.end(); ++it) {
    if (req.state() != v1::CAMPAIGN_STATE_UNSPECIFIED && it->second.campaign.state() != req.state()) continue;
    if (static_cast<std::uint32_t>(list->campaigns_size()) == *size) {
      list->set_next_page_token(list->campaigns(list->campaigns_size() - 1).id());
      break;
    }
    CopyWithoutTerminals(it->second.campaign, *list->add_campaigns());
  }
  return r;
}

v1::OperatorReply ListAudit(const std::vector<v1::AuditEntry>& audit, const v1::ListAudit& req) {
  const auto size = PageSize(req.page_size());
  if (!size) return BadPageSize();
  std::uint64_t before = UINT64_MAX;
  if (!req.page_token().empty()) {
    try {
      std::size_t used = 0;
      before = std::stoull(req.page_token(), &used);
      if (used != req.page_token().size()) throw std::invalid_argument("token");
    } catch (const std::exception&) {
      return Refuse(v1::INVALID_ARGUMENT, "page_token is not one this scheduler gave");
    }
  }
  v1::OperatorReply r;
  auto* page = r.mutable_audit();
  // Newest first: entries are in seq order; start below the token.
  auto end = std::lower_bound(audit.begin(), audit.end(), before,
                              [](const v1::AuditEntry& e, std::uint64_t seq) { return e.seq() < seq; });
  for (auto it = std::make_reverse_iterator(end); it != audit.rend(); ++it) {
    if (!req.who().empty() && it->who() != req.who()) continue;
    if (static_cast<std::uint32_t>(page->entries_size()) == *size) {
      page->set_next_page_token(std::to_string(page->entries(page->entries_size() - 1).seq()));
      break;
    }
    *page->add_entries() = *it;
  }
  return r;
}

}  // namespace slotwise::scheduler::views

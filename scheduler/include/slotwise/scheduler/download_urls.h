// DownloadUrls: the URL a terminal downloads its artifact from (S10's GO),
// signed for nginx secure_link and for that one terminal when
// ServiceOptions::url_secret is set:
//   {base_url}{path}?md5={token}&terminal={tid}&expires={unix s}
//   token = base64url(md5(expires ":" tid uri secret)), no padding
// valid until the slot's end plus ServiceOptions::download_allowance_ms
// (schemas/README.md, "signed download URLs"; the nginx side is
// localstack/configs.py secure_link_lines). `uri` is the URL's path; a
// terminal id holds no ':' or '/' and the path starts with '/', so no two
// (expires, tid, uri) give one text. Without a secret: {base_url}{path}.
// Pure: no state besides the options; safe to call from any thread.
#pragma once

#include <string>
#include <string_view>

#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

class DownloadUrls {
 public:
  DownloadUrls(const SlotGrid& grid, const ServiceOptions& options) : grid_(grid), options_(options) {}
  // `terminal_id`: a valid terminal id (topics::IsValidTerminalId), safe in a query string as is.
  std::string For(const v1::Node& node, const v1::Artifact& artifact, Slot slot, std::string_view terminal_id) const;
  // The same for any path on the node (a delta's, ArtifactDelta.path), signed alike.
  std::string ForPath(const v1::Node& node, std::string_view path, Slot slot, std::string_view terminal_id) const;

 private:
  const SlotGrid& grid_;
  const ServiceOptions& options_;
};

}  // namespace slotwise::scheduler

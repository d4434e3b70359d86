// DownloadUrls: the URL a terminal downloads its artifact from (S10's GO),
// signed for nginx secure_link when ServiceOptions::url_secret is set:
// ?md5=<base64url(md5(expires + uri + secret))>&expires=<unix s>, valid
// until the slot's end plus ServiceOptions::download_allowance_ms.
// Pure: no state besides the options; safe to call from any thread.
#pragma once

#include <string>

#include "slotwise/scheduler/service_options.h"
#include "slotwise/slots.h"
#include "slotwise/v1/operator.pb.h"

namespace slotwise::scheduler {

class DownloadUrls {
 public:
  DownloadUrls(const SlotGrid& grid, const ServiceOptions& options) : grid_(grid), options_(options) {}
  std::string For(const v1::Node& node, const v1::Artifact& artifact, Slot slot) const;

 private:
  const SlotGrid& grid_;
  const ServiceOptions& options_;
};

}  // namespace slotwise::scheduler

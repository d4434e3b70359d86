// The scheduler's options and its outbox: the small types every collaborator
// of SchedulerService (service.h) shares. No behaviour here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slotwise::scheduler {

struct ServiceOptions {
  // Length of a slot. Default: 600 s (10 minutes).
  std::int64_t slot_ms = 600'000;
  // Windows begin at least this many whole slots after the current one, so
  // notices reach the terminals before the first slot. Default: 1.
  std::int64_t lead_slots = 1;
  // A booking whose terminal has not checked in (S10) by the end of its slot
  // plus this is released by Tick(). Default: 0.
  std::int64_t no_show_grace_ms = 0;
  // A terminal offline (presence) for this long loses its bookings that it
  // has not started on. Default: 60 s.
  std::int64_t offline_grace_ms = 60'000;
  // nginx secure_link secret; download URLs carry ?md5=..&expires=.. when
  // set (md5 over expires + uri + secret). Default: empty, URLs unsigned.
  std::string url_secret{};
  // How long after its slot's end a signed URL stays valid, so a download
  // that started in the slot can finish and resume. Default: 1 hour.
  std::int64_t download_allowance_ms = 3'600'000;
  // Slots (from the current one) whose capacity observed live load lowers.
  // Default: 2.
  std::int64_t live_slots = 2;
  // How far a campaign without a deadline looks for a free slot after its
  // window (or after now, once the window has passed) for a terminal that
  // finds no room in the window (rolling windows); with a deadline, the
  // deadline bounds it. Default: 7 days.
  std::int64_t rolling_horizon_ms = 7LL * 24 * 3'600'000;
  // The link rate assumed for a terminal that has reported none and whose
  // downloads the scheduler has not timed yet, in bits/s (conservative:
  // a slow link holds its reservation longer). Default: 1 Mbit/s.
  std::uint64_t default_link_bps = 1'000'000;
  // Each reservation's expected download time is lengthened by this many
  // ms plus this many thousandths of itself: a terminal starts a little
  // after its start_at_ms and HTTP adds headers and round trips, so a
  // download that exactly fills its reservation would overlap the next one
  // (scheduler/bench/live_bytes.py measured 429s at the connection limit
  // without it). Default: 250 ms + 1%.
  std::int64_t download_guard_ms = 250;
  std::uint32_t download_guard_permille = 10;
  // A terminal falls back from its nearest cluster only to clusters this
  // close to it, in km. Default: 0 (any distance).
  double max_fallback_km = 0;
};

// A message to publish after the reply, e.g. a retained notice.
struct Publication {
  std::string topic;
  std::string payload;  // serialized protobuf; empty clears a retained topic
  bool retain = false;
};
using Outbox = std::vector<Publication>;

}  // namespace slotwise::scheduler

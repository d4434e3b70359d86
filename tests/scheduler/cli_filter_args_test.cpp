// The CLI's `campaign create --filter` text (scheduler/cli/filter_args.h).
#include <doctest/doctest.h>

#include "filter_args.h"

using namespace slotwise;
using namespace slotwise::cli;

TEST_CASE("cli filter: conditions, written back as given") {
  auto f = ParseFilter("system-id=PAX-*,cluster=paris,region=eu-west,below-target");
  REQUIRE(f.ok());
  CHECK(f->system_id_prefix() == "PAX-");
  REQUIRE(f->cluster_ids_size() == 1);
  CHECK(f->cluster_ids(0) == "paris");
  REQUIRE(f->regions_size() == 1);
  CHECK(f->regions(0) == "eu-west");
  CHECK(f->below_target());
  CHECK(FormatFilter(*f) == "system-id=PAX-*,cluster=paris,region=eu-west,below-target");
  auto two = ParseFilter("cluster=paris, cluster=lyon");
  REQUIRE(two.ok());
  CHECK(two->cluster_ids_size() == 2);
  CHECK_FALSE(two->below_target());
  CHECK(ParseFilter("system-id=PAX-A920")->system_id_prefix() == "PAX-A920");  // the * is optional
  CHECK(ParseFilter("below-target")->below_target());
}

TEST_CASE("cli filter: what is refused") {
  for (const char* bad : {"", ",", "model=PAX", "system-id=", "system-id=*", "system-id=P*X", "cluster",
                          "below-target=yes", "region=eu,", "system-id=A,system-id=B"}) {
    INFO(std::string(bad));
    CHECK_FALSE(ParseFilter(bad).ok());
  }
}

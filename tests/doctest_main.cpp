// The one translation unit that holds doctest's runner; every unit-test
// executable links it through the slotwise_doctest_main target.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

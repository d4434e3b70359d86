// The one translation unit that holds doctest's runner; every unit-test
// executable links it through the slotwise_doctest_main target.
//
// It adds one rule to doctest's: a run that executes zero test cases FAILS.
// ctest runs each discovered case by name (--test-case=<name>); a name that
// matches nothing (doctest_discover_tests splits names at ';', a renamed case,
// a typo in a filter) would otherwise print `test cases: 0 | ... skipped` and
// pass, silently dropping the tests it stood for. Queries (--list-test-cases,
// --count, --help, --version) do not run tests and are not affected.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

namespace {

// What the listener saw in this process: whether a real test run ended, and
// how many test cases it started. Single-threaded: doctest calls reporters
// from the thread that runs the tests.
struct RunCount {
  bool run_ended = false;
  unsigned cases_started = 0;
  unsigned cases_registered = 0;
};

RunCount& Counts() {
  static RunCount counts;
  return counts;
}

// A listener (always active, beside the chosen reporter) that only counts.
struct ZeroCaseGuard : doctest::IReporter {
  explicit ZeroCaseGuard(const doctest::ContextOptions&) {}

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    Counts().run_ended = true;
    Counts().cases_registered = stats.numTestCases;
  }
  void test_case_start(const doctest::TestCaseData&) override { ++Counts().cases_started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("slotwise_zero_case_guard", 1, ZeroCaseGuard);

}  // namespace

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;  // a query: nothing was meant to run
  if (Counts().run_ended && Counts().cases_started == 0) {
    std::fprintf(stderr,
                 "[slotwise] FAILED: this run executed 0 of %u test cases: the filters given match no test case "
                 "(a name containing ';' split by doctest_discover_tests, or a renamed or misspelled case)\n",
                 Counts().cases_registered);
    return result != 0 ? result : 2;
  }
  return result;
}

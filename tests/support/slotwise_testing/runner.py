"""Running an end-to-end test file: one command line for all of them, one
summary line ctest and people read (`N passed, M failed`), and one Stack
per TestCase class, kept on disk when a test failed.
"""

from __future__ import annotations

import argparse
import sys
import unittest
from typing import Callable, Optional

from localstack import Stack, install_signal_handlers

_current_result = None


def tests_failed_so_far() -> bool:
    """Inside run_unittest: whether any test has failed yet (to keep a stack's files)."""
    r = _current_result
    return bool(r is not None and (r.failures or r.errors))


def run_unittest(cases: list, verbosity: int = 2) -> int:
    """Run unittest TestCase classes; the last line printed is exactly `N passed, M failed`.
    A failed setUpClass counts every test of its class as failed. Exit status 0 only
    when nothing failed and something passed."""
    suite = unittest.TestSuite()
    loader = unittest.defaultTestLoader
    for case in cases:
        suite.addTests(loader.loadTestsFromTestCase(case))
    total = suite.countTestCases()

    class Runner(unittest.TextTestRunner):
        def _makeResult(self):
            global _current_result
            _current_result = super()._makeResult()
            return _current_result

    result = Runner(stream=sys.stdout, verbosity=verbosity).run(suite)
    bad_tests = {id(t) for t, _ in result.failures + result.errors}
    class_errors = [t for t, _ in result.errors if not isinstance(t, unittest.TestCase)]
    skipped = len(result.skipped)
    ran_ok = result.testsRun - len([1 for t, _ in result.failures + result.errors
                                    if isinstance(t, unittest.TestCase)]) \
        - skipped - len(result.unexpectedSuccesses)
    passed = max(0, ran_ok)
    failed = total - passed - skipped if class_errors else \
        len(bad_tests) + len(result.unexpectedSuccesses)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def run_test_file(cases: list, options: argparse.Namespace, doc: str,
                  add_args: Optional[Callable[[argparse.ArgumentParser], None]] = None) -> int:
    """The command line every end-to-end test file shares: --build-dir and --keep
    (plus what `add_args` adds) parsed into `options`, then run_unittest(cases)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--build-dir", default=options.build_dir)
    p.add_argument("--keep", action="store_true", help="keep the stack's temp dir")
    if add_args:
        add_args(p)
    p.parse_args(namespace=options)
    install_signal_handlers()
    return run_unittest(cases)


class StackTestCase:
    """Mixin for a unittest.TestCase class whose tests share one Stack:
    setUpClass builds it from `options` (build_dir, slot_seconds, keep) and
    runs the class's set_up_stack(); tearDownClass stops it, keeping its files
    when a test failed."""
    options: argparse.Namespace
    stack: Stack

    @classmethod
    def set_up_stack(cls) -> None:
        raise NotImplementedError

    @classmethod
    def setUpClass(cls) -> None:
        o = cls.options
        cls.stack = Stack(o.build_dir, slot_seconds=getattr(o, "slot_seconds", 2.0), keep=o.keep,
                          shards=getattr(o, "shards", 1))
        try:
            cls.set_up_stack()
        except BaseException as e:
            cls.stack.report_failure(e)
            cls.stack.stop()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        if tests_failed_so_far():
            cls.stack.keep = True  # logs, configs and access logs for the post-mortem
        cls.stack.stop()

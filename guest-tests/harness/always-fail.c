// SPDX-License-Identifier: GPL-2.0
/*
 * Negative control for the test harness: one test that must fail.  The
 * harness self-test runs it with --extra-test and expects run-vm.sh to
 * report the failure and exit non-zero.
 */
#include "kselftest_harness.h"

TEST(harness_must_report_this_failure)
{
	EXPECT_EQ(1, 2) TH_LOG("deliberate failure");
}

TEST_HARNESS_MAIN

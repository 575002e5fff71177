/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's kselftest harness, with its per-case time limits paced:
 * TEST_F's default (TEST_TIMEOUT_DEFAULT), TEST_F_SIGNAL's and
 * TEST_F_TIMEOUT's argument are seconds at the reference pace, scaled to
 * this machine by wctb_paced_seconds() when the case registers.  Guest
 * tests include this instead of kselftest_harness.h.  TEST() keeps its
 * constant: its metadata is a static initializer.
 */
#ifndef WCTB_HARNESS_H
#define WCTB_HARNESS_H

#include "kselftest_harness.h"
#include "wctb.h"

#if !defined(__TEST_F_IMPL) || !defined(TEST_TIMEOUT_DEFAULT)
#error "kselftest_harness.h without __TEST_F_IMPL or TEST_TIMEOUT_DEFAULT: update wctb-harness.h"
#endif

/*
 * EXPECT_BURSTS(regs, aperture, full_lines, partial_lines, bytes): the
 * WC stores since the counters were reset arrived as those lines, or as
 * pieces of them that drain events account for (wctb_check_bursts());
 * the counters and the drains go to the log when they did not.
 */
#define EXPECT_BURSTS(regs, aperture, full_lines, partial_lines, bytes) do { \
	char __why[512]; \
	EXPECT_EQ(0, wctb_check_bursts(regs, aperture, full_lines, \
				       partial_lines, bytes, __why, \
				       sizeof(__why))) \
		TH_LOG("%s", __why); \
} while (0)

#undef TEST_F
#define TEST_F(fixture_name, test_name) \
	__TEST_F_IMPL(fixture_name, test_name, -1, \
		      wctb_paced_seconds(TEST_TIMEOUT_DEFAULT))
#undef TEST_F_SIGNAL
#define TEST_F_SIGNAL(fixture_name, test_name, signal) \
	__TEST_F_IMPL(fixture_name, test_name, signal, \
		      wctb_paced_seconds(TEST_TIMEOUT_DEFAULT))
#undef TEST_F_TIMEOUT
#define TEST_F_TIMEOUT(fixture_name, test_name, timeout) \
	__TEST_F_IMPL(fixture_name, test_name, -1, wctb_paced_seconds(timeout))

#endif /* WCTB_HARNESS_H */

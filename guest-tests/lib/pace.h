/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Time: the pace of this machine and the depth of this run, as init
 * measured and chose them (it exports $WCTB_PACE and $WCTB_DEPTH to every
 * program), and one monotonic clock.
 */
#ifndef WCTB_PACE_H
#define WCTB_PACE_H

#include <time.h>

/*
 * How many times slower than the reference machine this guest runs (>= 1;
 * 1 without init).  Every time limit of a test, the harness's per-case
 * limit included, is a reference figure scaled by it, so that a slow host
 * gets a slow pass and not a timeout.
 */
double wctb_pace(void);
/* @seconds at the reference pace, scaled to this machine (rounded up). */
int wctb_paced_seconds(int seconds);
/* @full rounds at full depth ($WCTB_DEPTH "full": --all-tests), @quick otherwise. */
int wctb_depth_rounds(int quick, int full);

/* CLOCK_MONOTONIC in milliseconds. */
static inline double wctb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

#endif /* WCTB_PACE_H */

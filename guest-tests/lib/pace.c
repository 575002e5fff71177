// SPDX-License-Identifier: GPL-2.0
/* The machine's pace and the run's depth; see pace.h. */
#include <stdlib.h>
#include <string.h>

#include "pace.h"

double wctb_pace(void)
{
	const char *env = getenv("WCTB_PACE");
	double pace = env ? strtod(env, NULL) : 1.0;

	return pace >= 1.0 ? pace : 1.0;
}

int wctb_paced_seconds(int seconds)
{
	double paced = seconds * wctb_pace();

	return (int)paced + (paced > (int)paced);
}

static int depth_full(void)
{
	const char *env = getenv("WCTB_DEPTH");

	return env && !strcmp(env, "full");
}

int wctb_depth_rounds(int quick, int full)
{
	return depth_full() ? full : quick;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Negative control for the per-program budget: a program that never
 * ends.  init must kill it once its budget (--test-timeout times the
 * measured pace) is spent, report it as a failure and go on.
 */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("# wctb-harness: hanging until init kills this program\n");
	fflush(stdout);
	for (;;)
		pause();
}

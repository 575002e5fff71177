// SPDX-License-Identifier: GPL-2.0
/*
 * Negative control for the kernel log verdict: a program that passes but
 * leaves a warning in the kernel log, as a kernel bug would.  init must
 * fail it ("kernel reported: WARNING: ...") although it exits 0.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
	static const char msg[] =
		"<4>WARNING: CPU: 0 PID: 1 at wctb-harness: injected warning\n";
	int fd = open("/dev/kmsg", O_WRONLY);

	if (fd < 0 || write(fd, msg, strlen(msg)) < 0) {
		perror("/dev/kmsg");
		return 1;
	}
	close(fd);
	return 0;
}

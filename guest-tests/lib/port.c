// SPDX-License-Identifier: GPL-2.0
/* The results port; see port.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "port.h"

static FILE *port;	/* init's results port; NULL if it is missing */

int wctb_port_open(void)
{
	struct termios tio;
	int fd = open(WCTB_PORT_DEVICE, O_WRONLY | O_NOCTTY);

	if (fd < 0)
		return -errno;
	if (!tcgetattr(fd, &tio)) {
		cfmakeraw(&tio);
		tcsetattr(fd, TCSANOW, &tio);
	}
	port = fdopen(fd, "w");
	if (!port) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static void port_vwrite(const char *fmt, va_list ap)
{
	if (!port)
		return;
	vfprintf(port, fmt, ap);
	fflush(port);
}

void wctb_port_emit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	va_start(ap, fmt);
	port_vwrite(fmt, ap);
	va_end(ap);
}

/* One whole line straight to the port (not through init's stream). */
static int port_line(const char *line, int len)
{
	int fd, err;
	ssize_t n;

	fd = open(WCTB_PORT_DEVICE, O_WRONLY | O_NOCTTY);
	if (fd < 0)
		return -errno;
	n = write(fd, line, len);
	err = errno;
	close(fd);
	if (n < 0)
		return -err;
	return n == len ? 0 : -EIO;
}

int wctb_host_request(const char *request)
{
	char line[128];
	int len;

	len = snprintf(line, sizeof(line), WCTB_PORT_HOST ": %s\n", request);
	if (len < 0 || len >= (int)sizeof(line))
		return -E2BIG;
	return port_line(line, len);
}

int wctb_port_record(const char *fmt, ...)
{
	char line[4096];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || len >= (int)sizeof(line))
		return -E2BIG;
	fputs(line, stdout);
	fflush(stdout);
	return port_line(line, len);
}

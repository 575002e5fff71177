// SPDX-License-Identifier: GPL-2.0
/* The kernel log and what in it fails a test; see kmsg.h. */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmsg.h"
#include "list.h"
#include "port.h"

/* 1 if kernel log text @text reports a bug (kmsg.h). */
static int kernel_finding(const char *text)
{
	static const char *const findings[] = {
		"WARNING:", "BUG:", "Oops", "general protection fault",
		"KASAN:", "UBSAN:", "possible circular locking",
		"possible recursive locking", "inconsistent lock state",
		"suspicious RCU usage", "suspected memory leak",
		"conflicting memory types", "expected mapping type",
		"invalid memtype", "list_add corruption", "list_del corruption",
	};
	unsigned int i;

	for (i = 0; i < sizeof(findings) / sizeof(findings[0]); i++)
		if (strstr(text, findings[i]))
			return 1;
	return 0;
}

/* Warnings VFIO prints by design for every noiommu device. */
static int by_design(const char *text)
{
	return strstr(text, "vfio-noiommu device opened by user") ||
	       strstr(text, "Adding kernel taint for vfio-noiommu");
}

/* The known warnings of stock kernels, loaded once per process. */
#define KNOWN_MAX	32

struct known_warning {
	regex_t re;
	char name[160];		/* file:line: first line of its comment */
};

static struct known_warning known[KNOWN_MAX];
static int known_count = -1;	/* -1: not loaded yet */

struct known_load {
	const char *base;
	int n;
};

/* One entry of the known-warnings list: 0, or 1 (stop) on a bad entry. */
static int load_known_entry(void *ctx, int lineno, const char *title,
			    const char *entry)
{
	struct known_load *l = ctx;
	const char *why = !title[0] ? "an entry without a comment" :
			  l->n == KNOWN_MAX ? "too many entries" : NULL;

	if (!why && regcomp(&known[l->n].re, entry, REG_EXTENDED | REG_NOSUB))
		why = "not a valid regular expression";
	if (why) {
		fprintf(stderr, "known stock-kernel warnings: %s:%d: %s; none tolerated\n",
			l->base, lineno, why);
		return 1;
	}
	snprintf(known[l->n].name, sizeof(known[l->n].name), "%s:%d: %s",
		 l->base, lineno, title);
	l->n++;
	return 0;
}

/*
 * Parse the list at @path into known[]; on any error report it and keep
 * no entry at all, so that nothing is tolerated by mistake.
 */
static void load_known_warnings(const char *path)
{
	struct known_load l = {
		.base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
	};
	int ret;

	known_count = 0;
	ret = wctb_list_entries(path, load_known_entry, &l);
	if (ret) {
		if (ret < 0)
			fprintf(stderr, "known stock-kernel warnings: %s: %s; none tolerated\n",
				path, strerror(-ret));
		while (l.n)
			regfree(&known[--l.n].re);
	}
	known_count = l.n;
}

/* The entry of $WCTB_KNOWN_WARNINGS that @line matches, or NULL. */
static const char *known_warning(const char *line)
{
	const char *path = getenv("WCTB_KNOWN_WARNINGS");
	int i;

	if (!path || !path[0])
		return NULL;
	if (known_count < 0)
		load_known_warnings(path);
	for (i = 0; i < known_count; i++)
		if (!regexec(&known[i].re, line, 0, NULL, 0))
			return known[i].name;
	return NULL;
}

int wctb_kmsg_open(int from_boot)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (!from_boot && lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

int wctb_kmsg_read(int fd, int flags, char *buf, size_t len, FILE *tolerated,
		   int *ntolerated)
{
	char rec[1024], *text;
	const char *entry;
	size_t used = 0;
	int count = 0;
	ssize_t n;

	if (len)
		buf[0] = '\0';
	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: keep reading */
			continue;
		if (n < 0)
			return errno == EAGAIN ? count : -errno;
		if (!n)
			return count;
		rec[n] = '\0';
		text = strchr(rec, ';');
		text = text ? text + 1 : rec;
		text[strcspn(text, "\n")] = '\0';	/* no dictionary lines */
		if (!kernel_finding(text)) {
			if ((atoi(rec) & 7) > 4 || by_design(text) ||
			    (flags & WCTB_KMSG_BOOT))
				continue;	/* notice, info, debug */
			entry = known_warning(text);
			if (entry) {
				if (tolerated)
					fprintf(tolerated, WCTB_PORT_TOLERATED "%s (%s)\n",
						text, entry);
				if (ntolerated)
					(*ntolerated)++;
				continue;
			}
		}
		count++;
		if (used < len)
			used += snprintf(buf + used, len - used, "%s\n", text);
	}
}

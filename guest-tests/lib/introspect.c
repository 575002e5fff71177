// SPDX-License-Identifier: GPL-2.0
/* The kernel's own views; see introspect.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "introspect.h"

int wctb_pat_memtype(uint64_t start, uint64_t end, char *type, size_t len)
{
	unsigned long long s, e;
	char line[256], name[64];
	int ret = -ENOENT;
	FILE *f;

	f = fopen("/sys/kernel/debug/x86/pat_memtype_list", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "PAT: [mem 0x%llx-0x%llx] %63s", &s, &e, name) != 3)
			continue;
		if (s <= start && end <= e) {
			snprintf(type, len, "%s", name);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int wctb_ptdump_line(const volatile void *va, char *line, size_t len)
{
	unsigned long s, e, addr = (unsigned long)va;
	char buf[256];
	int ret = -ENOENT;
	FILE *f;

	f = fopen("/sys/kernel/debug/page_tables/current_kernel", "r");
	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		if (sscanf(buf, "0x%lx-0x%lx", &s, &e) != 2)
			continue;
		if (s <= addr && addr < e) {
			buf[strcspn(buf, "\n")] = '\0';
			snprintf(line, len, "%s", buf);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

long wctb_meminfo_kib(const char *field)
{
	char line[128];
	size_t flen = strlen(field);
	long val = -ENOENT;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			val = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return val;
}

int wctb_debug_kernel(void)
{
	return !access("/sys/kernel/debug/kmemleak", F_OK);
}

int wctb_page_present(const volatile void *va)
{
	char line[256];

	return !wctb_ptdump_line(va, line, sizeof(line)) &&
	       strstr(line, "USR") != NULL;
}

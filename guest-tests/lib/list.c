// SPDX-License-Identifier: GPL-2.0
/* The comment-titled lists; see list.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "list.h"

/* "# text" is a comment line; returns its text, or NULL. */
static const char *comment_text(const char *line)
{
	if (line[0] != '#')
		return NULL;
	line++;
	return line + strspn(line, " \t");
}

int wctb_list_entries(const char *path, wctb_list_fn fn, void *ctx)
{
	char line[512], title[128] = "";
	const char *c;
	FILE *f = fopen(path, "r");
	int lineno = 0, ret = 0;

	if (!f)
		return -errno;
	while (!ret && fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "\n")] = '\0';
		c = comment_text(line);
		if (c) {
			if (!title[0])
				snprintf(title, sizeof(title), "%s", c);
			continue;
		}
		if (line[0])
			ret = fn(ctx, lineno, title, line);
		title[0] = '\0';	/* an entry or a blank line ends a comment */
	}
	fclose(f);
	return ret;
}

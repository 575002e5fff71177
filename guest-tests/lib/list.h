/* SPDX-License-Identifier: GPL-2.0 */
/* The comment-titled lists: known-stock-warnings.txt and its kind. */
#ifndef WCTB_LIST_H
#define WCTB_LIST_H

/*
 * The entries of a list in the format of known-stock-warnings.txt: each
 * line that is neither blank nor a comment, with the first line of the
 * comment right above it as its title ("" without one).  @fn returns 0 to
 * go on, non-zero to stop; the result is that value, or -errno when @path
 * cannot be read.
 */
typedef int (*wctb_list_fn)(void *ctx, int lineno, const char *title,
			    const char *entry);
int wctb_list_entries(const char *path, wctb_list_fn fn, void *ctx);

#endif /* WCTB_LIST_H */

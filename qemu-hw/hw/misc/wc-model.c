/*
 * Write-combining buffer model for wc-testdev; see wc-model.h.
 *
 * Copyright (c) 2026 wc-testbed developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>

#include "wc-model.h"

#define WC_MODEL_FULL_MASK UINT64_MAX

bool wc_model_init(WCModel *m, unsigned nlines, WCModelSink sink,
                   void *opaque)
{
    if (nlines < 1 || nlines > WC_MODEL_MAX_LINES || !sink) {
        return false;
    }
    memset(m, 0, sizeof(*m));   /* also clears last */
    m->nlines = nlines;
    m->sink = sink;
    m->opaque = opaque;
    return true;
}

static void wc_model_send(WCModel *m, WCModelLine *l)
{
    bool full = l->mask == WC_MODEL_FULL_MASK;

    l->busy = false;
    m->busy--;
    m->sink(m->opaque, l->line, l->data, l->mask, full);
}

static WCModelLine *wc_model_find(WCModel *m, uint64_t line)
{
    /* Streams of stores hit the line they hit last time. */
    if (m->last && m->last->busy && m->last->line == line) {
        return m->last;
    }
    for (unsigned i = 0; i < m->nlines; i++) {
        if (m->lines[i].busy && m->lines[i].line == line) {
            return &m->lines[i];
        }
    }
    return NULL;
}

static WCModelLine *wc_model_oldest(WCModel *m)
{
    WCModelLine *oldest = NULL;

    for (unsigned i = 0; i < m->nlines; i++) {
        WCModelLine *l = &m->lines[i];

        if (l->busy && (!oldest || l->seq < oldest->seq)) {
            oldest = l;
        }
    }
    return oldest;
}

/* A free buffer for @line, evicting the oldest line if all are busy. */
static WCModelLine *wc_model_alloc(WCModel *m, uint64_t line)
{
    WCModelLine *l = NULL;

    for (unsigned i = 0; i < m->nlines && !l; i++) {
        if (!m->lines[i].busy) {
            l = &m->lines[i];
        }
    }
    if (!l) {
        l = wc_model_oldest(m);
        wc_model_send(m, l);
    }
    l->busy = true;
    m->busy++;
    l->line = line;
    l->mask = 0;
    l->seq = m->next_seq++;
    return l;
}

/* Store @size bytes that all fall into one line. */
static void wc_model_store_line(WCModel *m, uint64_t addr, unsigned size,
                                const uint8_t *bytes)
{
    uint64_t line = addr & ~(uint64_t)(WC_MODEL_LINE - 1);
    unsigned off = addr - line;
    WCModelLine *l = wc_model_find(m, line);

    if (!l) {
        l = wc_model_alloc(m, line);
    }
    m->last = l;
    memcpy(l->data + off, bytes, size);
    l->mask |= ((1ULL << size) - 1) << off;     /* size is at most 8 */
    if (l->mask == WC_MODEL_FULL_MASK) {
        wc_model_send(m, l);
    }
}

void wc_model_store(WCModel *m, uint64_t addr, unsigned size, uint64_t val)
{
    uint8_t bytes[8];
    unsigned first;

    for (unsigned i = 0; i < size; i++) {
        bytes[i] = val >> (8 * i);
    }
    first = WC_MODEL_LINE - (addr % WC_MODEL_LINE);
    if (first >= size) {
        wc_model_store_line(m, addr, size, bytes);
        return;
    }
    wc_model_store_line(m, addr, first, bytes);
    wc_model_store_line(m, addr + first, size - first, bytes + first);
}

void wc_model_flush(WCModel *m)
{
    while (m->busy) {
        wc_model_send(m, wc_model_oldest(m));
    }
}

void wc_model_discard(WCModel *m)
{
    for (unsigned i = 0; i < m->nlines; i++) {
        m->lines[i].busy = false;
    }
    m->busy = 0;
}

unsigned wc_model_pending(const WCModel *m)
{
    return m->busy;
}

unsigned wc_model_mask_runs(uint64_t mask)
{
    /* A run starts at every set bit whose lower neighbour is clear. */
    return __builtin_popcountll(mask & ~(mask << 1));
}

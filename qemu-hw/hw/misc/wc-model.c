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

void wc_model_set_weak(WCModel *m, bool weak, uint64_t seed)
{
    m->weak = weak;
    m->rng = seed;
}

/* The next number of the order's sequence (splitmix64). */
static uint64_t wc_model_random(WCModel *m)
{
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A random order of the numbers 0 to @n - 1 in @order. */
static void wc_model_shuffle(WCModel *m, unsigned *order, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        order[i] = i;
    }
    for (unsigned i = n; i > 1; i--) {
        unsigned j = wc_model_random(m) % i;
        unsigned t = order[i - 1];

        order[i - 1] = order[j];
        order[j] = t;
    }
}

static void wc_model_send(WCModel *m, WCModelLine *l, WCModelCause cause)
{
    l->busy = false;
    m->busy--;
    m->sink(m->opaque, l->line, l->data, l->mask, cause);
}

/* A flushed partial line in weak order: its 8-byte chunks, shuffled. */
static void wc_model_send_chunks(WCModel *m, WCModelLine *l)
{
    unsigned order[WC_MODEL_LINE / 8];

    l->busy = false;
    m->busy--;
    wc_model_shuffle(m, order, WC_MODEL_LINE / 8);
    for (unsigned i = 0; i < WC_MODEL_LINE / 8; i++) {
        uint64_t chunk = l->mask & (0xffULL << (8 * order[i]));

        if (chunk) {
            m->sink(m->opaque, l->line, l->data, chunk, WC_MODEL_FLUSH);
        }
    }
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
        wc_model_send(m, l, WC_MODEL_EVICT);
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
    if (l->mask == WC_MODEL_FULL_MASK && !m->weak) {
        wc_model_send(m, l, WC_MODEL_FULL);
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

static void wc_model_flush_weak(WCModel *m)
{
    unsigned order[WC_MODEL_MAX_LINES];

    wc_model_shuffle(m, order, m->nlines);
    for (unsigned i = 0; i < m->nlines; i++) {
        WCModelLine *l = &m->lines[order[i]];

        if (!l->busy) {
            continue;
        }
        if (l->mask == WC_MODEL_FULL_MASK) {
            wc_model_send(m, l, WC_MODEL_FLUSH);
        } else {
            wc_model_send_chunks(m, l);
        }
    }
}

void wc_model_flush(WCModel *m)
{
    if (m->weak) {
        wc_model_flush_weak(m);
        return;
    }
    while (m->busy) {
        wc_model_send(m, wc_model_oldest(m), WC_MODEL_FLUSH);
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

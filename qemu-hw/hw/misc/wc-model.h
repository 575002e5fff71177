/*
 * Write-combining buffer model for wc-testdev.
 *
 * A pure C unit (no QEMU headers) so that it can be unit-tested on the
 * host.  It models the CPU's write-combining buffers in front of a PCI
 * device: N line buffers of WC_MODEL_LINE bytes, each with a byte-valid
 * mask.  Stores to one line combine; a line whose every byte is valid is
 * sent at once as one full burst; a store to a new line when every buffer
 * is busy evicts the oldest line as a partial burst; wc_model_flush() sends
 * every buffered line, oldest first.  Later stores to a byte overwrite
 * earlier ones in the buffer, as WC allows.  Data is never lost: every
 * valid byte reaches the sink exactly once per flush of its line.
 * In weak order (wc_model_set_weak()) full lines wait for a flush, and a
 * flush delivers lines, and 8-byte chunks of partial lines, in a
 * pseudo-random order: what x86 allows when nothing fences the stores.
 *
 * Copyright (c) 2026 wc-testbed developers
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WC_MODEL_H
#define WC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define WC_MODEL_LINE       64
#define WC_MODEL_MAX_LINES  16

/* Why data leaves the buffers. */
typedef enum WCModelCause {
    WC_MODEL_FULL,          /* a store completed the line */
    WC_MODEL_EVICT,         /* a store to a new line needed the buffer */
    WC_MODEL_FLUSH,         /* wc_model_flush() */
} WCModelCause;

/*
 * Called for every delivery: a line, or in weak mode an 8-byte chunk of
 * one.  @line is the offset of the line (a multiple of WC_MODEL_LINE),
 * @data the whole line buffer, @mask one bit per byte delivered (bit i for
 * byte i; all ones for a full burst).
 */
typedef void (*WCModelSink)(void *opaque, uint64_t line, const uint8_t *data,
                            uint64_t mask, WCModelCause cause);

typedef struct WCModelLine {
    bool busy;
    uint64_t line;
    uint64_t mask;
    uint64_t seq;           /* allocation order, for eviction */
    uint8_t data[WC_MODEL_LINE];
} WCModelLine;

typedef struct WCModel {
    unsigned nlines;
    unsigned busy;          /* lines buffered */
    uint64_t next_seq;
    WCModelSink sink;
    void *opaque;
    WCModelLine *last;      /* line of the latest store, a lookup hint */
    /*
     * Weak order: full lines wait for a flush too, and a flush sends the
     * lines in an order drawn from @rng, partial lines as 8-byte chunks in
     * an order drawn from it.
     */
    bool weak;
    uint64_t rng;
    WCModelLine lines[WC_MODEL_MAX_LINES];
} WCModel;

/* Returns false if @nlines is not between 1 and WC_MODEL_MAX_LINES. */
bool wc_model_init(WCModel *m, unsigned nlines, WCModelSink sink,
                   void *opaque);

/*
 * Weak order on or off; @seed starts the order's pseudo-random sequence,
 * so that one seed gives one order.
 */
void wc_model_set_weak(WCModel *m, bool weak, uint64_t seed);

/*
 * One write-combining store of @size bytes (1 to 8) at @addr; @val holds
 * the bytes in little-endian order.  The store may cross a line boundary.
 */
void wc_model_store(WCModel *m, uint64_t addr, unsigned size, uint64_t val);

/* Send every buffered line to the sink: oldest first, or in weak order. */
void wc_model_flush(WCModel *m);

/* Drop all buffered data without sending it (device reset only). */
void wc_model_discard(WCModel *m);

/* Number of lines currently buffered. */
unsigned wc_model_pending(const WCModel *m);

/* Bus transactions a delivery takes: one per run of valid bytes. */
unsigned wc_model_mask_runs(uint64_t mask);

#endif /* WC_MODEL_H */

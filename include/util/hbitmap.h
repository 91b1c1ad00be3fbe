/*
 * Hierarchical bitmap over a range of items (usually bytes of a disk): one
 * bit per 2^granularity items, with summary levels for fast searching.
 */
#ifndef UTIL_HBITMAP_H
#define UTIL_HBITMAP_H

#include "strata/osdep.h"

/*
 * An HBitmap covers @size items (offsets 0 .. size - 1); bit i stands for
 * items [i << granularity, (i + 1) << granularity).  Ranges given in items
 * need not be aligned: setting or resetting touches every bit the range
 * overlaps, as QEMU's HBitmap does.  Counts are reported in items: the
 * number of set bits shifted left by the granularity.
 *
 * The lowest level is an array of 64-bit words; each higher level has one
 * bit per word of the level below, set when that word is non-zero, so the
 * next set bit is found in O(levels) word operations.
 */
typedef struct HBitmap HBitmap;

/* @granularity is a shift (0..63); @size at most INT64_MAX. */
HBitmap *hbitmap_alloc(uint64_t size, int granularity);
void hbitmap_free(HBitmap *hb);
/* A deep copy of @hb (same size, granularity and bits). */
HBitmap *hbitmap_copy(const HBitmap *hb);

int hbitmap_granularity(const HBitmap *hb);
/* Items covered (the size given to hbitmap_alloc / hbitmap_truncate). */
uint64_t hbitmap_size(const HBitmap *hb);
/* Set bits times 2^granularity (may exceed the size by a partial bit). */
uint64_t hbitmap_count(const HBitmap *hb);
/* Bytes of memory the bitmap holds (its words and its header). */
size_t hbitmap_memory(const HBitmap *hb);

/*
 * Set / clear every bit that [start, start + count) touches.  Parts of the
 * range beyond the bitmap's size are ignored.
 */
void hbitmap_set(HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_reset(HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_reset_all(HBitmap *hb);
/* Whether the bit covering @item is set (false beyond the size). */
bool hbitmap_get(const HBitmap *hb, uint64_t item);
/* Set bits that [start, start + count) touches, times 2^granularity. */
uint64_t hbitmap_count_between(const HBitmap *hb, uint64_t start,
                               uint64_t count);

/*
 * The first set item in [start, start + count), or -1 if there is none.
 * If @start falls in a set bit, @start itself is returned.
 */
int64_t hbitmap_next_dirty(const HBitmap *hb, int64_t start, int64_t count);
/* The first clear item in [start, start + count), or -1. */
int64_t hbitmap_next_zero(const HBitmap *hb, int64_t start, int64_t count);
/*
 * The first run of set items within [start, end), limited to
 * @max_dirty_count items: true and the run in *dirty_start / *dirty_count,
 * or false if [start, end) is clean.
 */
bool hbitmap_next_dirty_area(const HBitmap *hb, int64_t start, int64_t end,
                             int64_t max_dirty_count, int64_t *dirty_start,
                             int64_t *dirty_count);
/*
 * Whether @start is dirty; *pnum receives how many items from @start on
 * (at most @count) share that state.  [start, start + count) must lie
 * within the bitmap.
 */
bool hbitmap_status(const HBitmap *hb, int64_t start, int64_t count,
                    int64_t *pnum);

/*
 * Change the number of items covered.  Shrinking clears the bits beyond
 * the new end; growing adds clear bits.
 */
void hbitmap_truncate(HBitmap *hb, uint64_t size);

/* Whether @a and @b cover the same number of items (merge needs that). */
bool hbitmap_can_merge(const HBitmap *a, const HBitmap *b);
/*
 * @result = @a | @b.  The three must cover the same size; granularities
 * may differ (a bit of the result is set if any item it covers is set in
 * @a or @b).  @result may be @a or @b.  False (nothing changed) if the
 * sizes differ.
 */
bool hbitmap_merge(const HBitmap *a, const HBitmap *b, HBitmap *result);

/*
 * Serialisation in the qcow2 bitmap layout: bit i of the bitmap is bit
 * (i % 8) of byte i / 8.  Chunks are whole 64-bit words, so a chunk must
 * start at a multiple of hbitmap_serialization_align() items and (except
 * the last) cover a multiple of it.  The bits of the last word beyond the
 * bitmap's size are kept as loaded: QEMU hashes them.
 */
uint64_t hbitmap_serialization_align(const HBitmap *hb);
/* Bytes that [start, start + count) serialises to. */
uint64_t hbitmap_serialization_size(const HBitmap *hb, uint64_t start,
                                    uint64_t count);
void hbitmap_serialize_part(const HBitmap *hb, uint8_t *buf, uint64_t start,
                            uint64_t count);
/*
 * Replace the bits of a chunk with @buf / all zeroes / all ones.  The
 * bitmap stays consistent after every call; hbitmap_deserialize_finish()
 * (and @finish) exist for callers written against QEMU's interface, where
 * a load ends with a finish.
 */
void hbitmap_deserialize_part(HBitmap *hb, const uint8_t *buf, uint64_t start,
                              uint64_t count, bool finish);
void hbitmap_deserialize_zeroes(HBitmap *hb, uint64_t start, uint64_t count,
                                bool finish);
void hbitmap_deserialize_ones(HBitmap *hb, uint64_t start, uint64_t count,
                              bool finish);
void hbitmap_deserialize_finish(HBitmap *hb);

/*
 * SHA-256 (lower-case hex) of the lowest level as QEMU lays it out on a
 * 64-bit little-endian host: max(1, ceil(bits / 64)) words of 8 bytes,
 * including whatever padding bits the last word carries.  This is what
 * x-debug-block-dirty-bitmap-sha256 reports.
 */
char *hbitmap_sha256(const HBitmap *hb, Error **errp);

#endif

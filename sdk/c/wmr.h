/*
 * wmr.h: the C (and C++) SDK for wmr job modules, ABI v1 (abi/ABI.md).
 *
 * Write a map and a reduce function over byte spans, name them with
 * WMR_JOB, build with clang-16 for wasm32-wasi:
 *
 *   #include "wmr.h"
 *   static int map_words(wmr_bytes key, wmr_bytes line, wmr_emitter *out) {
 *       ... wmr_emit(out, word, WMR_STR("1")); ...
 *       return 0;
 *   }
 *   WMR_JOB(.map = map_words, .reduce = wmr_sum, .combine = wmr_sum);
 *
 *   clang-16 --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -O3 -flto -msimd128 \
 *       -Wl,--strip-all -I sdk/c -o wc.wasm wc.c sdk/c/wmr.c sdk/c/wmr_letters.c
 *
 * Spans passed to your functions point into the SDK's buffers and are
 * valid only until your function returns: copy what you keep. Nothing on
 * the per-record path allocates: emit appends to one reusable buffer that
 * goes to the host in batches.
 *
 * Functions return 0 on success. To fail, return wmr_errorf(...) (which
 * returns -1): the message reaches the user with the input line or key.
 */
#ifndef WMR_H
#define WMR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WMR_ABI_VERSION 1

/* A span of bytes: not NUL-terminated, may contain NUL, may be empty. */
typedef struct {
    const uint8_t *ptr;
    size_t len;
} wmr_bytes;

/* WMR_STR("literal") is a wmr_bytes for a string literal. */
#define WMR_STR(s) ((wmr_bytes){(const uint8_t *)(s), sizeof(s) - 1})

/* wmr_cstr views a NUL-terminated string as bytes. */
wmr_bytes wmr_cstr(const char *s);

/* wmr_bytes_equal compares two spans bytewise. */
int wmr_bytes_equal(wmr_bytes a, wmr_bytes b);

/* The task being run, from the host's init message (ABI.md 2.3).
 * Strings are NUL-terminated copies owned by the SDK, valid until the
 * next task starts. */
typedef struct {
    const char *job_id;
    const char *task_id;
    const char *task_kind;  /* "map" or "reduce" */
    int64_t attempt;        /* 1 for the first attempt */
    const char *input_file; /* map tasks: base name of the split's file */
    int64_t split_offset;
    int64_t split_length;
    int64_t partition;      /* reduce tasks: the partition reduced */
    int64_t num_partitions; /* R, the number of reducers */
} wmr_task;

typedef struct wmr_emitter wmr_emitter;
typedef struct wmr_values wmr_values;

typedef int (*wmr_init_fn)(const wmr_task *task);
typedef int (*wmr_map_fn)(wmr_bytes key, wmr_bytes value, wmr_emitter *out);
typedef int (*wmr_reduce_fn)(wmr_bytes key, wmr_values *values, wmr_emitter *out);
/* A partitioner returns 0 <= p < num_partitions for a key. */
typedef int64_t (*wmr_partition_fn)(wmr_bytes key, int64_t num_partitions);
/* An end-of-task hook: called once after the last map (map task) or
 * reduce (reduce task) call; may emit. */
typedef int (*wmr_finish_fn)(wmr_emitter *out);

typedef struct {
    wmr_init_fn init;           /* optional: per task, after params are known */
    wmr_map_fn map;             /* required */
    wmr_reduce_fn reduce;       /* required */
    wmr_reduce_fn combine;      /* optional: must emit only the key it is given */
    wmr_partition_fn partition; /* optional: default is FNV-1a-64(key) mod R */
    wmr_finish_fn finish;       /* optional: end-of-task hook (Hadoop's cleanup) */
} wmr_job;
/* With a .combine, map output is combined inside the module: a per-task
 * hash table (one int64 per key for wmr_sum) flushed at an eighth of the
 * task's memory cap and at the end of the task, so about one pair per
 * distinct key crosses to the host. --param wmr.combine_bytes=N sets the
 * table's budget. */

/* WMR_JOB(.map = ..., .reduce = ...) defines the module's job. Exactly one
 * translation unit of a module uses it. */
#define WMR_JOB(...) const wmr_job wmr_the_job = {__VA_ARGS__}
extern const wmr_job wmr_the_job;

/* Output. The spans are copied before the call returns. */
void wmr_emit(wmr_emitter *out, wmr_bytes key, wmr_bytes value);
/* wmr_emit_int emits value as a decimal integer. */
void wmr_emit_int(wmr_emitter *out, wmr_bytes key, int64_t value);

/* wmr_values_next stores the next value of the group in *value and
 * returns 1, or returns 0 when there are no more. Values stream from the
 * host as they are read, so a key may have more values than fit in memory. */
int wmr_values_next(wmr_values *values, wmr_bytes *value);
/* wmr_values_sum adds up the remaining values, each a decimal integer.
 * Returns 0, or -1 after wmr_errorf on a value that is not an integer. */
int wmr_values_sum(wmr_values *values, int64_t *sum);

/* wmr_sum is a ready-made reduce and combine: the sum of decimal values. */
int wmr_sum(wmr_bytes key, wmr_values *values, wmr_emitter *out);

/* wmr_parse_int parses a decimal integer with an optional sign. Returns 0,
 * or -1 after wmr_errorf when b is not a 64-bit integer. */
int wmr_parse_int(wmr_bytes b, int64_t *n);
/* wmr_format_int writes n in decimal to buf (at least 20 bytes) and
 * returns the length. */
size_t wmr_format_int(char *buf, int64_t n);

/* wmr_offset decodes a text record's key: the line's byte offset. */
int64_t wmr_offset(wmr_bytes key);

/* The task context of the current task. */
const wmr_task *wmr_task_context(void);
/* wmr_param returns the value of --param name=value, or a span with a
 * NULL ptr when the job has no such parameter. */
wmr_bytes wmr_param(const char *name);

/* wmr_errorf records an error message (printf format) and returns -1, so
 * `return wmr_errorf("bad line: %s", why);` fails the task. */
int wmr_errorf(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* wmr_counter adds delta to a job counter (1 to 128 bytes of name). */
void wmr_counter(const char *name, int64_t delta);

/* wmr_log sends a message to the job log: level 0 debug, 1 info, 2 warn,
 * 3 error. */
void wmr_log(int level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Text helpers shared by every wmr SDK, so jobs agree across languages. */

/* wmr_decode_rune decodes the UTF-8 sequence at p (n > 0 bytes available)
 * like Go's utf8.DecodeRune: it stores the code point in *rune and returns
 * its length; an invalid or short sequence gives U+FFFD and length 1. */
size_t wmr_decode_rune(const uint8_t *p, size_t n, int32_t *rune);
/* wmr_is_letter reports whether r is a Unicode letter, exactly as Go's
 * unicode.IsLetter (one generated table for all SDKs). */
int wmr_is_letter(int32_t r);

/* wmr_next_word finds the next word of line, a maximal run of letters
 * (wmr_is_letter) starting at or after *pos: it stores it in *word, moves
 * *pos past it and returns 1, or returns 0 when there are no more.
 *   size_t pos = 0; wmr_bytes w;
 *   while (wmr_next_word(line, &pos, &w)) wmr_emit(out, w, WMR_STR("1")); */
int wmr_next_word(wmr_bytes line, size_t *pos, wmr_bytes *word);

/* wmr_partition_hash is the ABI's FNV-1a-64 key hash (ABI.md 6). */
uint64_t wmr_partition_hash(wmr_bytes key);

/* Generated letter table (wmr_letters.c). */
extern const uint32_t wmr_letter_ranges[][2];
extern const size_t wmr_letter_range_count;

#ifdef __cplusplus
}
#endif

#endif /* WMR_H */

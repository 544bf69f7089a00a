/* indexer in C: an inverted index. For every word (a maximal run of
 * Unicode letters), the input files containing it. Output:
 * word<TAB>n doc1,doc2,... (docs sorted bytewise, each once), byte-identical
 * to the Go and Rust indexers. The combiner sends each word's distinct docs
 * once per map task, comma-separated. */
#include <stdlib.h>
#include <string.h>

#include "wmr.h"

static int map_words(wmr_bytes key, wmr_bytes line, wmr_emitter *out) {
    (void)key; /* the line's byte offset */
    wmr_bytes doc = wmr_cstr(wmr_task_context()->input_file), word;
    size_t pos = 0;
    while (wmr_next_word(line, &pos, &word)) wmr_emit(out, word, doc);
    return 0;
}

/* A set of doc names being collected: names copied into one arena, spans
 * (offsets) sorted and deduplicated when they pile up. */
typedef struct {
    char *arena;
    size_t used, cap;
    size_t (*spans)[2];
    size_t n, spans_cap;
} docset;

static docset docs;

static void add(docset *d, const uint8_t *p, size_t n) {
    if (d->used + n > d->cap) {
        size_t c = d->cap ? d->cap : 4096;
        while (c < d->used + n) c *= 2;
        d->arena = realloc(d->arena, c);
        if (!d->arena) __builtin_trap();
        d->cap = c;
    }
    if (d->n == d->spans_cap) {
        d->spans_cap = d->spans_cap ? 2 * d->spans_cap : 256;
        d->spans = realloc(d->spans, d->spans_cap * sizeof d->spans[0]);
        if (!d->spans) __builtin_trap();
    }
    memcpy(d->arena + d->used, p, n);
    d->spans[d->n][0] = d->used;
    d->spans[d->n][1] = n;
    d->used += n;
    d->n++;
}

static const char *sort_arena;

/* bytewise order, a proper prefix first (Go's bytes.Compare) */
static int compare(const void *a, const void *b) {
    const size_t *x = a, *y = b;
    size_t n = x[1] < y[1] ? x[1] : y[1];
    int c = memcmp(sort_arena + x[0], sort_arena + y[0], n);
    if (c != 0) return c;
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* uniq sorts the spans and drops duplicates, compacting the arena so its
 * size stays bounded by the distinct names. */
static void uniq(docset *d) {
    sort_arena = d->arena;
    qsort(d->spans, d->n, sizeof d->spans[0], compare);
    char *fresh = malloc(d->used ? d->used : 1);
    if (!fresh) __builtin_trap();
    size_t used = 0, kept = 0, prev[2] = {0, 0};
    for (size_t i = 0; i < d->n; i++) {
        size_t cur[2] = {d->spans[i][0], d->spans[i][1]};
        if (i > 0 && compare(cur, prev) == 0) continue;
        prev[0] = cur[0], prev[1] = cur[1];
        memcpy(fresh + used, d->arena + cur[0], cur[1]);
        d->spans[kept][0] = used;
        d->spans[kept][1] = cur[1];
        used += cur[1];
        kept++;
    }
    free(d->arena);
    d->arena = fresh;
    d->cap = d->used ? d->used : 1;
    d->used = used;
    d->n = kept;
}

/* collect gathers the distinct docs among values, each a comma-separated
 * list of names (a combiner's output) or one name. */
static void collect(wmr_values *values) {
    docs.used = docs.n = 0;
    wmr_bytes v;
    while (wmr_values_next(values, &v)) {
        size_t start = 0;
        for (size_t i = 0; i <= v.len; i++) {
            if (i == v.len || v.ptr[i] == ',') {
                add(&docs, v.ptr + start, i - start);
                start = i + 1;
            }
        }
        if (docs.n > 4096) uniq(&docs);
    }
    uniq(&docs);
}

static char *joined;
static size_t joined_cap;

/* join writes the docs comma-separated after prefix bytes already in
 * joined[0:at] and returns the total length. */
static size_t join(size_t at) {
    size_t need = at + docs.used + docs.n + 1;
    if (need > joined_cap) {
        joined = realloc(joined, need);
        if (!joined) __builtin_trap();
        joined_cap = need;
    }
    for (size_t i = 0; i < docs.n; i++) {
        if (i > 0) joined[at++] = ',';
        memcpy(joined + at, docs.arena + docs.spans[i][0], docs.spans[i][1]);
        at += docs.spans[i][1];
    }
    return at;
}

static int combine_docs(wmr_bytes word, wmr_values *values, wmr_emitter *out) {
    collect(values);
    size_t n = join(0);
    wmr_emit(out, word, (wmr_bytes){(const uint8_t *)joined, n});
    return 0;
}

static int reduce_docs(wmr_bytes word, wmr_values *values, wmr_emitter *out) {
    collect(values);
    char count[24];
    size_t c = wmr_format_int(count, (int64_t)docs.n);
    if (joined_cap < c + 1) {
        joined = realloc(joined, 64);
        if (!joined) __builtin_trap();
        joined_cap = 64;
    }
    memcpy(joined, count, c);
    joined[c] = ' ';
    size_t n = join(c + 1);
    wmr_emit(out, word, (wmr_bytes){(const uint8_t *)joined, n});
    return 0;
}

WMR_JOB(.map = map_words, .reduce = reduce_docs, .combine = combine_docs);

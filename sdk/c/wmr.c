/*
 * wmr.c: the guest side of ABI v1 for C (see wmr.h and abi/ABI.md).
 *
 * Built for wasm32 it exports the ABI's functions and imports the host's.
 * Built natively with -DWMR_NATIVE (the SDK's own tests) the imports are
 * functions the test program defines, and the exports are plain
 * functions it calls.
 */
#include "wmr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#ifdef WMR_NATIVE
#define WMR_IMPORT(name)
#define WMR_EXPORT(name)
#else
#define WMR_IMPORT(name) __attribute__((import_module("wmr"), import_name(name)))
#define WMR_EXPORT(name) __attribute__((export_name(name)))
#endif

/* The host's functions (ABI.md 3). */
WMR_IMPORT("emit") void wmr_host_emit(const uint8_t *ptr, int32_t len);
WMR_IMPORT("next_values") int32_t wmr_host_next_values(uint8_t *ptr, int32_t cap);
WMR_IMPORT("fail") void wmr_host_fail(const uint8_t *ptr, int32_t len);
WMR_IMPORT("log") void wmr_host_log(int32_t level, const uint8_t *ptr, int32_t len);
WMR_IMPORT("counter") void wmr_host_counter(const uint8_t *ptr, int32_t len, int64_t delta);

enum {
    STATUS_OK = 0,
    STATUS_ERROR = -1,
    CAP_COMBINE = 1,
    CAP_PARTITIONER = 2,
    CAP_FINISH = 4,
    CAP_TEXT_BLOCKS = 8,
    NO_RECORD = -1,
    EMIT_FLUSH_SIZE = 64 << 10,
    MAX_FAIL_MESSAGE = 16 << 10,
    MAX_COUNTERS = 1000,
    MAX_COUNTER_NAME = 128,
};

/* ---- byte buffers ---- */

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buffer;

/* buffer_reserve makes room for n more bytes; on failure it traps, as a
 * guest out of memory must (the host reports the memory cap). */
static void buffer_reserve(buffer *b, size_t n) {
    if (b->len + n <= b->cap) return;
    size_t c = b->cap ? b->cap : 256;
    while (c < b->len + n) c *= 2;
    uint8_t *d = (uint8_t *)realloc(b->data, c);
    if (!d) __builtin_trap();
    b->data = d;
    b->cap = c;
}

static void put_byte(buffer *b, uint8_t c) { b->data[b->len++] = c; }
static void put_be32(buffer *b, uint32_t v) {
    uint8_t *p = b->data + b->len;
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
    b->len += 4;
}

/* ---- msgpack reading (the subset of ABI.md 4, plus skipping for init) ---- */

typedef struct {
    const uint8_t *p, *end;
    int bad; /* set on malformed or truncated input */
} reader;

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

static int need(reader *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}

static uint64_t read_len(reader *r, int n) {
    if (!need(r, n)) return 0;
    uint64_t v = be(r->p, n);
    r->p += n;
    return v;
}

static uint32_t read_array(reader *r) {
    if (!need(r, 1)) return 0;
    uint8_t c = *r->p++;
    if (c >= 0x90 && c <= 0x9f) return c & 0x0f;
    if (c == 0xdc) return (uint32_t)read_len(r, 2);
    if (c == 0xdd) return (uint32_t)read_len(r, 4);
    r->bad = 1;
    return 0;
}

static uint32_t read_map(reader *r) {
    if (!need(r, 1)) return 0;
    uint8_t c = *r->p++;
    if (c >= 0x80 && c <= 0x8f) return c & 0x0f;
    if (c == 0xde) return (uint32_t)read_len(r, 2);
    if (c == 0xdf) return (uint32_t)read_len(r, 4);
    r->bad = 1;
    return 0;
}

/* read_bytes reads bin or str. */
static wmr_bytes read_bytes(reader *r) {
    wmr_bytes out = {NULL, 0};
    if (!need(r, 1)) return out;
    uint8_t c = *r->p++;
    uint64_t n;
    if (c >= 0xa0 && c <= 0xbf) n = c & 0x1f;
    else if (c == 0xc4 || c == 0xd9) n = read_len(r, 1);
    else if (c == 0xc5 || c == 0xda) n = read_len(r, 2);
    else if (c == 0xc6 || c == 0xdb) n = read_len(r, 4);
    else {
        r->bad = 1;
        return out;
    }
    if (!need(r, n)) return out;
    out.ptr = r->p;
    out.len = n;
    r->p += n;
    return out;
}

static int read_bool(reader *r) {
    if (!need(r, 1)) return 0;
    uint8_t c = *r->p++;
    if (c == 0xc2) return 0;
    if (c == 0xc3) return 1;
    r->bad = 1;
    return 0;
}

static int64_t read_int(reader *r) {
    if (!need(r, 1)) return 0;
    uint8_t c = *r->p++;
    if (c <= 0x7f) return c;
    if (c >= 0xe0) return (int8_t)c;
    switch (c) {
    case 0xcc: return (int64_t)read_len(r, 1);
    case 0xcd: return (int64_t)read_len(r, 2);
    case 0xce: return (int64_t)read_len(r, 4);
    case 0xcf: return (int64_t)read_len(r, 8);
    case 0xd0: return (int8_t)read_len(r, 1);
    case 0xd1: return (int16_t)read_len(r, 2);
    case 0xd2: return (int32_t)read_len(r, 4);
    case 0xd3: return (int64_t)read_len(r, 8);
    }
    r->bad = 1;
    return 0;
}

/* skip skips any one msgpack value (init messages may carry keys this SDK
 * does not know). depth bounds nesting. */
static void skip(reader *r, int depth) {
    if (depth > 64) r->bad = 1;
    if (!need(r, 1)) return;
    uint8_t c = *r->p;
    uint64_t n = 0, items = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
        r->p++;
        return;
    }
    if ((c >= 0xa0 && c <= 0xbf) || (c >= 0xc4 && c <= 0xc6) || (c >= 0xd9 && c <= 0xdb)) {
        read_bytes(r);
        return;
    }
    r->p++;
    switch (c) {
    case 0xcc: case 0xd0: n = 1; break;
    case 0xcd: case 0xd1: n = 2; break;
    case 0xce: case 0xd2: case 0xca: n = 4; break;
    case 0xcf: case 0xd3: case 0xcb: n = 8; break;
    case 0xd4: n = 2; break;
    case 0xd5: n = 3; break;
    case 0xd6: n = 5; break;
    case 0xd7: n = 9; break;
    case 0xd8: n = 17; break;
    case 0xc7: n = read_len(r, 1) + 1; break;
    case 0xc8: n = read_len(r, 2) + 1; break;
    case 0xc9: n = read_len(r, 4) + 1; break;
    case 0xdc: items = read_len(r, 2); break;
    case 0xdd: items = read_len(r, 4); break;
    case 0xde: items = 2 * read_len(r, 2); break;
    case 0xdf: items = 2 * read_len(r, 4); break;
    default:
        if (c >= 0x90 && c <= 0x9f) items = c & 0x0f;
        else if (c >= 0x80 && c <= 0x8f) items = 2 * (c & 0x0f);
        else r->bad = 1;
    }
    if (n) {
        if (need(r, n)) r->p += n;
        return;
    }
    for (uint64_t i = 0; i < items && !r->bad; i++) skip(r, depth + 1);
}

static int key_is(wmr_bytes k, const char *s) {
    size_t n = strlen(s);
    return k.len == n && memcmp(k.ptr, s, n) == 0;
}

/* ---- state ---- */

struct wmr_emitter {
    buffer buf; /* an emit batch: array32 header, then records */
    uint32_t count;
};

struct wmr_values {
    reader *chunk;      /* the chunk, positioned at the group's next value */
    uint32_t in_chunk;  /* values of the group left in the chunk */
    int more;           /* the group continues through next_values */
    buffer cont;        /* continuation buffer */
    reader cont_reader;
    uint32_t in_cont;   /* values left in the continuation buffer */
    int bad;            /* a host message was malformed */
};

typedef struct {
    char name[MAX_COUNTER_NAME + 1];
    int64_t delta;
} counter;

static struct {
    buffer input; /* wmr_alloc's region, reused */
    wmr_emitter emitter;
    wmr_values values;
    wmr_task task;
    char *strings; /* the task's copied strings */
    wmr_bytes *params; /* pairs: name, value (copies in strings) */
    size_t nparams;
    char error[MAX_FAIL_MESSAGE];
    int has_error;
    counter *counters;
    size_t ncounters;
    buffer scratch;
} g;

/* ---- in-module combining (ABI.md 2.6) ---- */

/* In a map task of a job with a combiner, emitted pairs are kept in a hash
 * table, combined per key, and cross to the host when the table passes its
 * budget and at the end of the task (wmr_finish). Keys and values live in
 * two arenas: nothing is allocated per key. With wmr_sum, a key's values
 * are one int64. Flushes go in the order keys first came (deterministic).
 *
 * An entry holds its key's first 16 bytes (zero-padded) and length, so a
 * lookup of a key of up to 16 bytes (nearly every word) compares two words
 * in the entry and touches neither the arena nor a byte loop: every wasm
 * memory access is bounds-checked, and the table is most of a word
 * count's guest time. Entries sit in the slots themselves (open
 * addressing), so a lookup misses the cache once, not twice (slot, then
 * entry): those two misses were most of the table's native time; `order`
 * lists the used slots in the order keys first came. A table of 20,000
 * words fits a 1 MiB L2 cache: 32-byte entries, up to three quarters full,
 * and the value chains of a combiner other than wmr_sum kept apart. */
typedef struct {
    uint64_t k0, k1; /* the key's bytes 0-7 and 8-15, zero-padded */
    int64_t sum;     /* wmr_sum: the key's sum; else its index in order */
    uint32_t used;   /* the key's length + 1; 0: an empty slot */
    uint32_t koff;
} centry; /* 32 bytes: two to a cache line */

typedef struct {
    uint32_t first, last, n; /* value chain in vals: offset + 1, 0 for none */
} cvalues;

static struct {
    int on;  /* emits go to the table */
    int sum; /* the combiner is wmr_sum */
    int err; /* a combine failed; g.error says why */
    centry *slots;
    size_t nslots;
    uint32_t *order;  /* slot of each key, in the order keys first came */
    cvalues *chains;  /* each key's values, by its index in order (not wmr_sum) */
    size_t nents;
    buffer keys, vals, chunk;
    size_t budget;
} ct;

static size_t ct_max_keys(void) { return ct.nslots / 4 * 3; }
static size_t ct_bytes(void) {
    return ct.keys.len + ct.vals.len + ct.nslots * sizeof(centry) + ct_max_keys() * (4 + (ct.sum ? 0 : sizeof(cvalues)));
}

static inline uint64_t ct_load64(const uint8_t *p) { uint64_t x; memcpy(&x, p, 8); return x; }

/* in_memory16 says whether the 16 bytes at p are all in the module's
 * memory (below its end), so they can be loaded at once even where fewer
 * are the caller's. Natively (the SDK's tests) it says no: only wasm
 * memory is known to run on. */
static inline int in_memory16(const uint8_t *p) {
#ifdef WMR_NATIVE
    (void)p;
    return 0;
#else
    return (uintptr_t)p + 16 <= (uintptr_t)__builtin_wasm_memory_size(0) * 65536;
#endif
}

/* ct_words reads key's first 16 bytes as two zero-padded words. It loads
 * 8 bytes at a time wherever they are all in memory and masks off what is
 * not the key's. */
static inline void ct_words(const uint8_t *p, size_t n, uint64_t *k0, uint64_t *k1) {
    if (n >= 16) {
        *k0 = ct_load64(p), *k1 = ct_load64(p + 8);
    } else if (in_memory16(p)) {
        uint64_t a = ct_load64(p), b = ct_load64(p + 8);
        if (n < 8) *k0 = n ? a & (~0ULL >> (64 - 8 * n)) : 0, *k1 = 0;
        else *k0 = a, *k1 = n > 8 ? b & (~0ULL >> (64 - 8 * (n - 8))) : 0;
    } else {
        uint8_t tmp[16] = {0};
        memcpy(tmp, p, n);
        *k0 = ct_load64(tmp), *k1 = ct_load64(tmp + 8);
    }
}

/* ct_hash spreads the table only (the partition hash is the host's). The
 * Go, Rust and AssemblyScript SDKs' tables mix a key's first 16 bytes and
 * fold the result the same way; each hashes a longer key's tail its own. */
static inline uint64_t ct_hash(uint64_t k0, uint64_t k1, const uint8_t *p, size_t n) {
    uint64_t h = (k0 ^ n) * 0x9e3779b97f4a7c15ULL ^ (k1 + 0x94d049bb133111ebULL) * 0xbf58476d1ce4e5b9ULL;
    for (size_t i = 16; i + 8 <= n; i += 8) h = (h ^ ct_load64(p + i)) * 0xd6e8feb86659fd93ULL;
    if (n > 16 && n % 8) h = (h ^ ct_load64(p + n - 8)) * 0xd6e8feb86659fd93ULL;
    /* The slot is the hash's low bits, and a product's low bits see only
     * its factors' low bits: fold the high half down and mix once more,
     * or keys that differ only late (user_000123, user_000124) share
     * slots (40 extra probes a key for 20,000 of them). */
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    return h ^ h >> 32;
}

/* ct_grow doubles the table (at three quarters full), moving the entries
 * in the order keys first came. */
static void ct_grow(void) {
    size_t n = ct.nslots ? ct.nslots * 2 : 1024;
    centry *s = (centry *)calloc(n, sizeof *s);
    uint32_t *order = (uint32_t *)malloc(n / 4 * 3 * sizeof *order);
    cvalues *chains = (cvalues *)realloc(ct.chains, n / 4 * 3 * sizeof *chains);
    if (!s || !order || !chains) __builtin_trap();
    ct.chains = chains;
    for (size_t k = 0; k < ct.nents; k++) {
        centry *e = &ct.slots[ct.order[k]];
        size_t i = ct_hash(e->k0, e->k1, ct.keys.data + e->koff, e->used - 1) & (n - 1);
        while (s[i].used) i = (i + 1) & (n - 1);
        s[i] = *e;
        order[k] = (uint32_t)i;
    }
    free(ct.slots);
    free(ct.order);
    ct.slots = s;
    ct.order = order;
    ct.nslots = n;
}

/* ct_entry finds the entry of the key at kp (kn bytes), adding it if new
 * (*added is then 1). Keys travel as pointer and length, not wmr_bytes:
 * wasm32 passes a struct through the stack in memory. */
static inline centry *ct_entry(const uint8_t *kp, size_t kn, int *added) {
    if (!ct.nslots) ct_grow();
    uint64_t k0, k1;
    ct_words(kp, kn, &k0, &k1);
    size_t mask = ct.nslots - 1;
    for (size_t i = ct_hash(k0, k1, kp, kn) & mask;; i = (i + 1) & mask) {
        centry *e = &ct.slots[i];
        if (!e->used) {
            *added = 1;
            *e = (centry){k0, k1, 0, (uint32_t)kn + 1, (uint32_t)ct.keys.len};
            buffer_reserve(&ct.keys, kn);
            if (kn) memcpy(ct.keys.data + ct.keys.len, kp, kn);
            ct.keys.len += kn;
            ct.order[ct.nents++] = (uint32_t)i;
            if (ct.nents >= ct_max_keys()) {
                ct_grow();
                e = &ct.slots[ct.order[ct.nents - 1]];
            }
            return e;
        }
        if (e->k0 == k0 && e->k1 == k1 && e->used == kn + 1 && (kn <= 16 || memcmp(ct.keys.data + e->koff + 16, kp + 16, kn - 16) == 0))
            return e;
    }
}

static void ct_flush(void);

/* ct_sum adds x to the key's sum (the combiner is wmr_sum). */
static void ct_sum(const uint8_t *kp, size_t kn, int64_t x) {
    int added = 0;
    centry *e = ct_entry(kp, kn, &added);
    e->sum += x;
    if (added && ct_bytes() > ct.budget) ct_flush(); /* a sum grows the table only with a new key */
}

/* ct_add takes one emitted pair. */
static void ct_add(wmr_bytes key, wmr_bytes value) {
    if (ct.sum) {
        int64_t x;
        if (wmr_parse_int(value, &x) == 0) ct_sum(key.ptr, key.len, x);
        else ct.err = 1;
        return;
    }
    int added = 0;
    centry *ent = ct_entry(key.ptr, key.len, &added);
    if (added) {
        ent->sum = (int64_t)(ct.nents - 1);
        ct.chains[ct.nents - 1] = (cvalues){0, 0, 0};
    }
    cvalues *e = &ct.chains[ent->sum];
    e->n++;
    uint32_t off = (uint32_t)ct.vals.len;
    buffer_reserve(&ct.vals, 8 + value.len);
    put_be32(&ct.vals, 0);
    put_be32(&ct.vals, (uint32_t)value.len);
    if (value.len) memcpy(ct.vals.data + ct.vals.len, value.ptr, value.len);
    ct.vals.len += value.len;
    if (e->last) {
        uint8_t *p = ct.vals.data + e->last - 1;
        uint32_t v = off + 1;
        p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
    } else e->first = off + 1;
    e->last = off + 1;
    if (ct_bytes() > ct.budget) ct_flush();
}


static uint32_t ct_be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static wmr_bytes ct_value(uint32_t ref) {
    const uint8_t *p = ct.vals.data + ref - 1;
    return (wmr_bytes){p + 8, ct_be32(p + 4)};
}

static void put_bin(buffer *b, wmr_bytes s);
static void ct_combine(wmr_bytes key, cvalues *e);

static void ct_flush(void) {
    ct.on = 0; /* what the combiner emits goes to the host */
    for (size_t k = 0; k < ct.nents && !ct.err; k++) {
        centry *e = &ct.slots[ct.order[k]];
        wmr_bytes key = {ct.keys.data + e->koff, e->used - 1};
        cvalues *v = &ct.chains[k];
        if (ct.sum) wmr_emit_int(&g.emitter, key, e->sum);
        else if (v->n == 1) wmr_emit(&g.emitter, key, ct_value(v->first));
        else ct_combine(key, v);
    }
    ct.nents = 0;
    ct.keys.len = ct.vals.len = 0;
    if (ct.slots) memset(ct.slots, 0, ct.nslots * sizeof *ct.slots);
    ct.on = 1;
}

/* ct_combine runs the job's combiner over key's values, handed over as a
 * reduce chunk of one group, the way the host would. */
static void ct_combine(wmr_bytes key, cvalues *e) {
    buffer *b = &ct.chunk;
    b->len = 0;
    buffer_reserve(b, 16 + key.len + 5);
    put_byte(b, 0xdd);
    put_be32(b, 1);
    put_byte(b, 0x93);
    put_bin(b, key);
    put_byte(b, 0xc2);
    put_byte(b, 0xdd);
    put_be32(b, e->n);
    for (uint32_t ref = e->first; ref; ref = ct_be32(ct.vals.data + ref - 1)) {
        wmr_bytes v = ct_value(ref);
        buffer_reserve(b, v.len + 5);
        put_bin(b, v);
    }
    reader r = {b->data, b->data + b->len, 0};
    read_array(&r);
    read_array(&r);
    wmr_bytes k = read_bytes(&r);
    read_bool(&r);
    wmr_values *v = &g.values;
    v->chunk = &r;
    v->in_chunk = read_array(&r);
    v->more = 0;
    v->in_cont = 0;
    v->bad = 0;
    if (wmr_the_job.combine(k, v, &g.emitter) != 0 || v->bad) ct.err = 1;
}

/* ---- emitting ---- */

static void emitter_reset(wmr_emitter *e) {
    buffer_reserve(&e->buf, 5);
    e->buf.len = 0;
    put_byte(&e->buf, 0xdd);
    put_be32(&e->buf, 0);
    e->count = 0;
}

static void emitter_flush(wmr_emitter *e) {
    if (e->count == 0) return;
    uint8_t *p = e->buf.data + 1;
    p[0] = e->count >> 24, p[1] = e->count >> 16, p[2] = e->count >> 8, p[3] = e->count;
    wmr_host_emit(e->buf.data, (int32_t)e->buf.len);
    emitter_reset(e);
}

static void put_bin(buffer *b, wmr_bytes s) {
    if (s.len < 256) {
        put_byte(b, 0xc4);
        put_byte(b, (uint8_t)s.len);
    } else if (s.len < 65536) {
        put_byte(b, 0xc5);
        put_byte(b, (uint8_t)(s.len >> 8));
        put_byte(b, (uint8_t)s.len);
    } else {
        put_byte(b, 0xc6);
        put_be32(b, (uint32_t)s.len);
    }
    if (s.len) memcpy(b->data + b->len, s.ptr, s.len);
    b->len += s.len;
}

static void emit_to_host(wmr_emitter *e, wmr_bytes key, wmr_bytes value);

/* ct_hit adds x to the sum of a key of up to 16 bytes already in the table
 * at the slot its probe begins at, the usual case of a word count; it
 * returns 0 for any other, which ct_sum then takes. */
static inline int ct_hit(const uint8_t *kp, size_t kn, int64_t x) {
    if (kn > 16 || !ct.nslots) return 0;
    uint64_t k0, k1;
    ct_words(kp, kn, &k0, &k1);
    centry *e = &ct.slots[ct_hash(k0, k1, kp, kn) & (ct.nslots - 1)];
    if (e->k0 != k0 || e->k1 != k1 || e->used != kn + 1) return 0;
    e->sum += x;
    return 1;
}

static void emit_slow(wmr_emitter *e, wmr_bytes key, wmr_bytes value);

/* wmr_emit is small, so that it inlines into a job's map: the usual
 * (word, "1") of a job whose combiner is wmr_sum is counted in the table
 * right there. Calls per word (two, with the key on the stack in memory:
 * wasm32 passes a struct through memory) were most of a C word count's
 * guest time. */
#ifdef __clang__
/* LTO inlines it into the job's map then; clang alone would not. */
__attribute__((always_inline))
#endif
void wmr_emit(wmr_emitter *e, wmr_bytes key, wmr_bytes value) {
    if (ct.on && ct.sum && value.len == 1 && (uint8_t)(value.ptr[0] - '0') <= 9 && ct_hit(key.ptr, key.len, value.ptr[0] - '0'))
        return;
    emit_slow(e, key, value);
}

__attribute__((noinline)) static void emit_slow(wmr_emitter *e, wmr_bytes key, wmr_bytes value) {
    if (ct.on) {
        if (ct.sum && value.len == 1 && (uint8_t)(value.ptr[0] - '0') <= 9) ct_sum(key.ptr, key.len, value.ptr[0] - '0');
        else ct_add(key, value);
        return;
    }
    emit_to_host(e, key, value);
}

static void emit_to_host(wmr_emitter *e, wmr_bytes key, wmr_bytes value) {
    size_t need = 1 + 5 + key.len + 5 + value.len + 9;
    if (e->buf.len + need > EMIT_FLUSH_SIZE) emitter_flush(e);
    buffer_reserve(&e->buf, need);
    buffer *b = &e->buf;
    if (wmr_the_job.partition) {
        int64_t p = wmr_the_job.partition(key, g.task.num_partitions);
        put_byte(b, 0x93);
        put_bin(b, key);
        put_bin(b, value);
        put_byte(b, 0xcf);
        put_be32(b, (uint32_t)((uint64_t)p >> 32));
        put_be32(b, (uint32_t)p);
    } else {
        put_byte(b, 0x92);
        put_bin(b, key);
        put_bin(b, value);
    }
    e->count++;
}

void wmr_emit_int(wmr_emitter *e, wmr_bytes key, int64_t value) {
    if (ct.on && ct.sum) {
        ct_sum(key.ptr, key.len, value);
        return;
    }
    char digits[24];
    size_t n = wmr_format_int(digits, value);
    wmr_emit(e, key, (wmr_bytes){(const uint8_t *)digits, n});
}

/* ---- errors, counters, logs ---- */

int wmr_errorf(const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(g.error, sizeof g.error, format, ap);
    va_end(ap);
    g.has_error = 1;
    return -1;
}

static void put_str(buffer *b, const char *s, size_t n) {
    if (n < 32) {
        put_byte(b, 0xa0 | (uint8_t)n);
    } else if (n < 256) {
        put_byte(b, 0xd9);
        put_byte(b, (uint8_t)n);
    } else {
        put_byte(b, 0xdb);
        put_be32(b, (uint32_t)n);
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* fail reports g.error (or a default) for record idx and returns -1. The
 * host discards the call's output, so buffered emits and counters go. */
static int32_t fail(int64_t idx) {
    const char *msg = g.has_error ? g.error : "the job function returned an error without a message (use wmr_errorf)";
    size_t n = strlen(msg);
    buffer *b = &g.scratch;
    b->len = 0;
    buffer_reserve(b, n + 16);
    put_byte(b, 0x92);
    put_str(b, msg, n);
    put_byte(b, 0xd3);
    put_be32(b, (uint32_t)((uint64_t)idx >> 32));
    put_be32(b, (uint32_t)idx);
    emitter_reset(&g.emitter);
    g.ncounters = 0;
    g.has_error = 0;
    wmr_host_fail(b->data, (int32_t)b->len);
    return STATUS_ERROR;
}

void wmr_counter(const char *name, int64_t delta) {
    size_t n = strlen(name);
    if (n == 0 || n > MAX_COUNTER_NAME) return;
    for (size_t i = 0; i < g.ncounters; i++) {
        if (strcmp(g.counters[i].name, name) == 0) {
            g.counters[i].delta += delta;
            return;
        }
    }
    if (g.ncounters == MAX_COUNTERS) return;
    if (!g.counters) {
        g.counters = (counter *)calloc(MAX_COUNTERS, sizeof(counter));
        if (!g.counters) __builtin_trap();
    }
    memcpy(g.counters[g.ncounters].name, name, n + 1);
    g.counters[g.ncounters++].delta = delta;
}

void wmr_log(int level, const char *format, ...) {
    char msg[4096];
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(msg, sizeof msg, format, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    wmr_host_log(level, (const uint8_t *)msg, n);
}

/* finish_call flushes output and counters before an export returns. */
static int32_t finish_call(int32_t status) {
    emitter_flush(&g.emitter);
    for (size_t i = 0; i < g.ncounters; i++)
        wmr_host_counter((const uint8_t *)g.counters[i].name, (int32_t)strlen(g.counters[i].name), g.counters[i].delta);
    g.ncounters = 0;
    return status;
}

/* ---- exports ---- */

WMR_EXPORT("wmr_abi_version") int32_t wmr_abi_version(void) { return WMR_ABI_VERSION; }

WMR_EXPORT("wmr_alloc") uint8_t *wmr_alloc(int32_t size) {
    if (size < 0) return NULL;
    if ((size_t)size + 1 > g.input.cap) {
        /* Free first: the old contents are not needed, and the memory cap
         * should bound the largest input, not two of them. */
        free(g.input.data);
        g.input.data = (uint8_t *)malloc((size_t)size + 1);
        g.input.cap = g.input.data ? (size_t)size + 1 : 0;
        if (!g.input.data) return NULL;
    }
    return g.input.data;
}

/* copy_string appends s and a NUL to the task's string storage and
 * returns its offset. */
static size_t copy_string(buffer *b, wmr_bytes s) {
    size_t off = b->len;
    buffer_reserve(b, s.len + 1);
    if (s.len) memcpy(b->data + b->len, s.ptr, s.len);
    b->len += s.len;
    b->data[b->len++] = 0;
    return off;
}

/* text_blocks: this task's wmr_map calls get text blocks (ABI.md 4.5). */
static int text_blocks;

WMR_EXPORT("wmr_init") int32_t wmr_init(const uint8_t *ptr, int32_t len) {
    if (!wmr_the_job.map || !wmr_the_job.reduce) {
        wmr_errorf("the module's WMR_JOB has no .map or no .reduce function");
        return fail(NO_RECORD);
    }
    if (g.emitter.buf.data == NULL) emitter_reset(&g.emitter);
    reader r = {ptr, ptr + len, 0};
    /* Strings are gathered in one buffer, then pointed at once it stops
     * moving: offsets now, pointers after. */
    buffer strings = {0};
    size_t off_job = copy_string(&strings, WMR_STR("")), off_task = off_job, off_kind = off_job, off_file = off_job;
    size_t param_offs[2 * 256];
    size_t nparams = 0;
    wmr_task t = {0};
    int host_finishes = 0, offered_blocks = 0;
    int64_t memory_limit = 0;
    uint32_t n = read_map(&r);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        wmr_bytes k = read_bytes(&r);
        if (key_is(k, "job_id")) off_job = copy_string(&strings, read_bytes(&r));
        else if (key_is(k, "task_id")) off_task = copy_string(&strings, read_bytes(&r));
        else if (key_is(k, "task_kind")) off_kind = copy_string(&strings, read_bytes(&r));
        else if (key_is(k, "input_file")) off_file = copy_string(&strings, read_bytes(&r));
        else if (key_is(k, "attempt")) t.attempt = read_int(&r);
        else if (key_is(k, "split_offset")) t.split_offset = read_int(&r);
        else if (key_is(k, "split_length")) t.split_length = read_int(&r);
        else if (key_is(k, "partition")) t.partition = read_int(&r);
        else if (key_is(k, "num_partitions")) t.num_partitions = read_int(&r);
        else if (key_is(k, "memory_limit")) memory_limit = read_int(&r);
        else if (key_is(k, "finish")) host_finishes = read_bool(&r);
        else if (key_is(k, "text_blocks")) offered_blocks = read_bool(&r);
        else if (key_is(k, "params") && r.p < r.end && *r.p != 0xc0) {
            uint32_t np = read_map(&r);
            for (uint32_t j = 0; j < np && !r.bad; j++) {
                wmr_bytes name = read_bytes(&r), value = read_bytes(&r);
                if (nparams == 256) {
                    free(strings.data);
                    wmr_errorf("more than 256 job parameters");
                    return fail(NO_RECORD);
                }
                param_offs[2 * nparams] = copy_string(&strings, name);
                param_offs[2 * nparams + 1] = copy_string(&strings, value);
                nparams++;
            }
        } else skip(&r, 0);
    }
    if (r.bad || r.p != r.end) {
        free(strings.data);
        wmr_errorf("reading the host's init message: malformed msgpack");
        return fail(NO_RECORD);
    }
    free(g.strings);
    free(g.params);
    g.strings = (char *)strings.data;
    g.params = (wmr_bytes *)malloc((2 * nparams + 1) * sizeof(wmr_bytes));
    if (!g.params) __builtin_trap();
    for (size_t i = 0; i < 2 * nparams; i++) {
        const char *s = g.strings + param_offs[i];
        g.params[i] = (wmr_bytes){(const uint8_t *)s, strlen(s)};
    }
    g.nparams = nparams;
    t.job_id = g.strings + off_job;
    t.task_id = g.strings + off_task;
    t.task_kind = g.strings + off_kind;
    t.input_file = g.strings + off_file;
    g.task = t;
    g.ncounters = 0;
    g.has_error = 0;
    if (wmr_the_job.init && wmr_the_job.init(&g.task) != 0) {
        if (g.has_error) {
            /* "init: <message>", as every SDK words init errors */
            size_t n = strlen(g.error);
            if (n > sizeof g.error - 7) n = sizeof g.error - 7;
            memmove(g.error + 6, g.error, n);
            memcpy(g.error, "init: ", 6);
            g.error[n + 6] = 0;
        }
        return fail(NO_RECORD);
    }
    /* Combine in the module only when the host will call wmr_finish to
     * flush the table (older hosts never do). */
    ct.on = host_finishes && wmr_the_job.combine && strcmp(t.task_kind, "map") == 0;
    ct.sum = wmr_the_job.combine == wmr_sum;
    ct.err = 0;
    ct.nents = 0;
    ct.keys.len = ct.vals.len = 0;
    if (ct.slots) memset(ct.slots, 0, ct.nslots * sizeof *ct.slots);
    ct.budget = 16 << 20;
    if (memory_limit > 0) {
        int64_t b = memory_limit / 8;
        ct.budget = (size_t)(b < (1 << 20) ? (1 << 20) : b > (64 << 20) ? (64 << 20) : b);
    }
    wmr_bytes budget = wmr_param("wmr.combine_bytes");
    if (budget.ptr) {
        int64_t x;
        if (wmr_parse_int(budget, &x) == 0 && x > 0) ct.budget = (size_t)x;
        g.has_error = 0;
    }
    finish_call(STATUS_OK);
    text_blocks = offered_blocks; /* the module splits lines itself (ABI.md 4.5) */
    return (wmr_the_job.combine ? CAP_COMBINE : 0) | (wmr_the_job.partition ? CAP_PARTITIONER : 0) |
           (wmr_the_job.combine || wmr_the_job.finish ? CAP_FINISH : 0) | (text_blocks ? CAP_TEXT_BLOCKS : 0);
}

/* wmr_finish (ABI.md 2.6): the table's last flush, then the job's hook. */
WMR_EXPORT("wmr_finish") int32_t wmr_finish(void) {
    if (ct.on) {
        ct_flush();
        ct.on = 0;
        if (ct.err) return fail(NO_RECORD);
    }
    if (wmr_the_job.finish && wmr_the_job.finish(&g.emitter) != 0) {
        if (g.has_error) {
            size_t n = strlen(g.error);
            if (n > sizeof g.error - 9) n = sizeof g.error - 9;
            memmove(g.error + 8, g.error, n);
            memcpy(g.error, "finish: ", 8);
            g.error[n + 8] = 0;
        }
        return fail(NO_RECORD);
    }
    return finish_call(STATUS_OK);
}


/* find_newline returns the first '\n' in [p, end), or end. */
static const uint8_t *find_newline(const uint8_t *p, const uint8_t *end) {
#ifdef __wasm_simd128__
    for (; end - p >= 16; p += 16) {
        uint32_t m = wasm_i8x16_bitmask(wasm_i8x16_eq(wasm_v128_load(p), wasm_i8x16_splat('\n')));
        if (m) return p + __builtin_ctz(m);
    }
#endif
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

/* map_text runs the map on each line of a text block: key its offset (8
 * bytes big-endian), value the line without "\n" or "\r\n". */
static int32_t map_text(const uint8_t *ptr, int32_t len) {
    reader r = {ptr, ptr + len, 0};
    uint32_t fields = read_array(&r);
    uint64_t at = (uint64_t)read_int(&r);
    wmr_bytes lines = read_bytes(&r);
    if (r.bad || fields != 2 || r.p != r.end) {
        wmr_errorf("reading the host's text block: malformed msgpack");
        return fail(NO_RECORD);
    }
    wmr_map_fn map = wmr_the_job.map;
    const uint8_t *p = lines.ptr, *end = lines.ptr + lines.len;
    uint8_t key[8];
    for (uint32_t i = 0; p < end; i++) {
        const uint8_t *nl = find_newline(p, end), *stop = nl;
        if (nl < end && nl > p && nl[-1] == '\r') stop--;
        uint64_t off = at + (uint64_t)(p - lines.ptr);
        for (int b = 0; b < 8; b++) key[b] = (uint8_t)(off >> (56 - 8 * b));
        wmr_bytes k = {key, 8}, v = {p, (size_t)(stop - p)};
        if (map(k, v, &g.emitter) != 0 || ct.err) return fail(i);
        p = nl < end ? nl + 1 : end;
    }
    return finish_call(STATUS_OK);
}

WMR_EXPORT("wmr_map") int32_t wmr_map(const uint8_t *ptr, int32_t len) {
    if (text_blocks) return map_text(ptr, len);
    reader r = {ptr, ptr + len, 0};
    uint32_t n = read_array(&r);
    wmr_map_fn map = wmr_the_job.map;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t fields = read_array(&r);
        wmr_bytes key = read_bytes(&r);
        wmr_bytes value = read_bytes(&r);
        if (r.bad || fields != 2) {
            wmr_errorf("reading the host's batch: malformed record");
            return fail(i);
        }
        if (map(key, value, &g.emitter) != 0 || ct.err) return fail(i);
    }
    if (r.bad || r.p != r.end) {
        wmr_errorf("reading the host's batch: malformed msgpack");
        return fail(NO_RECORD);
    }
    return finish_call(STATUS_OK);
}

/* refill asks the host for the next values of a continuing group. */
static int refill(wmr_values *v) {
    if (v->cont.cap == 0) buffer_reserve(&v->cont, 64 << 10);
    for (;;) {
        int32_t n = wmr_host_next_values(v->cont.data, (int32_t)v->cont.cap);
        if (n == 0) {
            v->more = 0;
            return 0;
        }
        if (n < 0) {
            free(v->cont.data);
            v->cont = (buffer){0};
            buffer_reserve(&v->cont, (size_t)-(int64_t)n);
            continue;
        }
        v->cont_reader = (reader){v->cont.data, v->cont.data + n, 0};
        uint32_t fields = read_array(&v->cont_reader);
        v->more = read_bool(&v->cont_reader);
        v->in_cont = read_array(&v->cont_reader);
        if (fields != 2 || v->cont_reader.bad) {
            v->bad = 1;
            v->more = 0;
            v->in_cont = 0;
            return 0;
        }
        return 1;
    }
}

int wmr_values_next(wmr_values *v, wmr_bytes *value) {
    for (;;) {
        if (v->bad) return 0;
        if (v->in_chunk > 0) {
            v->in_chunk--;
            *value = read_bytes(v->chunk);
            if (v->chunk->bad) {
                v->bad = 1;
                return 0;
            }
            return 1;
        }
        if (v->in_cont > 0) {
            v->in_cont--;
            *value = read_bytes(&v->cont_reader);
            if (v->cont_reader.bad) {
                v->bad = 1;
                return 0;
            }
            return 1;
        }
        if (!v->more || !refill(v)) return 0;
    }
}

static int32_t reduce_chunk(const uint8_t *ptr, int32_t len, wmr_reduce_fn fn) {
    if (!fn) {
        wmr_errorf("the module has no combiner");
        return fail(NO_RECORD);
    }
    reader r = {ptr, ptr + len, 0};
    wmr_values *v = &g.values;
    uint32_t n = read_array(&r);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t fields = read_array(&r);
        wmr_bytes key = read_bytes(&r);
        int more = read_bool(&r);
        uint32_t nv = read_array(&r);
        if (r.bad || fields != 3) {
            wmr_errorf("reading the host's chunk: malformed group");
            return fail(i);
        }
        v->chunk = &r;
        v->in_chunk = nv;
        v->more = more;
        v->in_cont = 0;
        v->bad = 0;
        if (fn(key, v, &g.emitter) != 0) return fail(i);
        if (v->bad) {
            wmr_errorf("reading values from the host: malformed msgpack");
            return fail(i);
        }
        /* Skip the values the function did not read. */
        while (v->in_chunk > 0 && !r.bad) {
            v->in_chunk--;
            read_bytes(&r);
        }
    }
    if (r.bad || r.p != r.end) {
        wmr_errorf("reading the host's chunk: malformed msgpack");
        return fail(NO_RECORD);
    }
    return finish_call(STATUS_OK);
}

WMR_EXPORT("wmr_reduce") int32_t wmr_reduce(const uint8_t *ptr, int32_t len) {
    return reduce_chunk(ptr, len, wmr_the_job.reduce);
}

WMR_EXPORT("wmr_combine") int32_t wmr_combine(const uint8_t *ptr, int32_t len) {
    return reduce_chunk(ptr, len, wmr_the_job.combine);
}

/* wmr_partition (optional export): the partition emit gives a key. */
WMR_EXPORT("wmr_partition") int32_t wmr_partition(const uint8_t *ptr, int32_t len, int32_t num_partitions) {
    if (num_partitions <= 0) return -1;
    wmr_bytes key = {ptr, (size_t)len};
    if (wmr_the_job.partition) return (int32_t)wmr_the_job.partition(key, num_partitions);
    return (int32_t)(wmr_partition_hash(key) % (uint64_t)num_partitions);
}

/* ---- helpers ---- */

wmr_bytes wmr_cstr(const char *s) { return (wmr_bytes){(const uint8_t *)s, strlen(s)}; }

int wmr_bytes_equal(wmr_bytes a, wmr_bytes b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

const wmr_task *wmr_task_context(void) { return &g.task; }

wmr_bytes wmr_param(const char *name) {
    wmr_bytes n = wmr_cstr(name);
    for (size_t i = 0; i < g.nparams; i++)
        if (wmr_bytes_equal(g.params[2 * i], n)) return g.params[2 * i + 1];
    return (wmr_bytes){NULL, 0};
}

int wmr_parse_int(wmr_bytes b, int64_t *out) {
    if (b.len == 0) return wmr_errorf("empty string is not an integer");
    size_t i = 0;
    int neg = 0;
    if (b.ptr[0] == '-' || b.ptr[0] == '+') {
        neg = b.ptr[0] == '-';
        i = 1;
        if (b.len == 1) return wmr_errorf("\"%.*s\" is not an integer", (int)b.len, (const char *)b.ptr);
    }
    uint64_t n = 0;
    for (; i < b.len; i++) {
        uint8_t c = (uint8_t)(b.ptr[i] - '0');
        if (c > 9) return wmr_errorf("\"%.*s\" is not an integer", (int)b.len, (const char *)b.ptr);
        if (n > (UINT64_MAX - 9) / 10) return wmr_errorf("\"%.*s\" overflows a 64-bit integer", (int)b.len, (const char *)b.ptr);
        n = n * 10 + c;
    }
    if (neg ? n > (uint64_t)1 << 63 : n > (uint64_t)INT64_MAX)
        return wmr_errorf("\"%.*s\" overflows a 64-bit integer", (int)b.len, (const char *)b.ptr);
    *out = neg ? (int64_t)(0 - n) : (int64_t)n;
    return 0;
}

size_t wmr_format_int(char *buf, int64_t n) {
    char tmp[24];
    size_t i = sizeof tmp;
    uint64_t u = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (n < 0) tmp[--i] = '-';
    memcpy(buf, tmp + i, sizeof tmp - i);
    return sizeof tmp - i;
}

int wmr_values_sum(wmr_values *v, int64_t *sum) {
    int64_t total = 0, x;
    wmr_bytes b;
    while (wmr_values_next(v, &b)) {
        if (wmr_parse_int(b, &x) != 0) return -1;
        total += x;
    }
    *sum = total;
    return 0;
}

int wmr_sum(wmr_bytes key, wmr_values *values, wmr_emitter *out) {
    int64_t total;
    if (wmr_values_sum(values, &total) != 0) return -1;
    wmr_emit_int(out, key, total);
    return 0;
}

int64_t wmr_offset(wmr_bytes key) {
    if (key.len != 8) return -1;
    return (int64_t)be(key.ptr, 8);
}

uint64_t wmr_partition_hash(wmr_bytes key) {
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < key.len; i++) {
        h ^= key.ptr[i];
        h *= 1099511628211ULL;
    }
    return h;
}

size_t wmr_decode_rune(const uint8_t *p, size_t n, int32_t *rune) {
    uint8_t c = p[0];
    if (c < 0x80) {
        *rune = c;
        return 1;
    }
    /* Second-byte bounds per lead byte, as Go's utf8 package has them. */
    uint8_t lo = 0x80, hi = 0xbf;
    size_t size;
    int32_t r;
    if (c >= 0xc2 && c <= 0xdf) size = 2, r = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) {
        size = 3, r = c & 0x0f;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        size = 4, r = c & 0x07;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else goto invalid;
    if (n < 2 || p[1] < lo || p[1] > hi) goto invalid;
    r = r << 6 | (p[1] & 0x3f);
    for (size_t i = 2; i < size; i++) {
        if (n <= i || p[i] < 0x80 || p[i] > 0xbf) goto invalid;
        r = r << 6 | (p[i] & 0x3f);
    }
    *rune = r;
    return size;
invalid:
    *rune = 0xfffd;
    return 1;
}

int wmr_is_letter(int32_t r) {
    if (r < 0x80) return (uint32_t)((r | 0x20) - 'a') < 26;
    size_t lo = 0, hi = wmr_letter_range_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if ((uint32_t)r > wmr_letter_ranges[mid][1]) lo = mid + 1;
        else if ((uint32_t)r < wmr_letter_ranges[mid][0]) hi = mid;
        else return 1;
    }
    return 0;
}

/* Word scanning looks at 16 bytes at a time: a bitmask of the ASCII
 * letters among them and one of the bytes >= 0x80, with wasm SIMD where the
 * module is built with -msimd128 and two 64-bit words otherwise. Only where
 * a non-ASCII byte matters does it decode runes one at a time. Byte loops
 * were about half of a word count's guest time. */
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
static inline uint32_t ascii_letters16(const uint8_t *p, uint32_t *high) {
    v128_t v = wasm_v128_load(p);
    v128_t t = wasm_i8x16_sub(wasm_v128_or(v, wasm_i8x16_splat(0x20)), wasm_i8x16_splat('a'));
    *high = wasm_i8x16_bitmask(v);
    return wasm_i8x16_bitmask(wasm_u8x16_lt(t, wasm_i8x16_splat(26)));
}
#else
static inline uint32_t swar_bits(uint64_t x) { return (uint32_t)((((x >> 7) & 0x0101010101010101ULL) * 0x0102040810204080ULL) >> 56); }
static inline uint32_t swar_letters8(uint64_t x, uint32_t *high) {
    const uint64_t ones = 0x0101010101010101ULL;
    *high = swar_bits(x);
    uint64_t t = (x & ~(0x80 * ones)) | 0x20 * ones; /* 0x20..0x7f: no carry below */
    uint64_t ge_a = t + (0x80 - 'a') * ones, gt_z = t + (0x80 - 'z' - 1) * ones;
    return swar_bits(ge_a & ~gt_z & ~x); /* ASCII bytes only */
}
static inline uint32_t ascii_letters16(const uint8_t *p, uint32_t *high) {
    uint64_t a, b;
    uint32_t ha, hb;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    uint32_t m = swar_letters8(a, &ha) | swar_letters8(b, &hb) << 8;
    *high = ha | hb << 8;
    return m;
}
#endif

/* letters16 is ascii_letters16 of the n bytes at p (n may be under 16:
 * the rest count as neither). It reads 16 bytes straight from p when they
 * are all in memory (in_memory16), else a copy. */
static inline uint32_t letters16(const uint8_t *p, size_t n, uint32_t *high) {
    uint32_t valid = 0xffff;
    if (n < 16) {
        valid = (1u << n) - 1;
        if (!in_memory16(p)) {
            uint8_t tmp[16] = {0};
            memcpy(tmp, p, n);
            uint32_t m = ascii_letters16(tmp, high);
            *high &= valid;
            return m & valid;
        }
    }
    uint32_t m = ascii_letters16(p, high);
    *high &= valid;
    return m & valid;
}

/* next_word_runes is the rune-at-a-time scan, from byte i of line with
 * the word (if in_word) begun at start. */
static int next_word_runes(wmr_bytes line, size_t i, int in_word, size_t start, size_t *pos, wmr_bytes *word) {
    const uint8_t *p = line.ptr;
    while (i < line.len) {
        int32_t r = p[i];
        size_t size = 1;
        int letter;
        if (r < 0x80) {
            letter = (uint32_t)((r | 0x20) - 'a') < 26;
        } else {
            size = wmr_decode_rune(p + i, line.len - i, &r);
            letter = wmr_is_letter(r);
        }
        if (letter) {
            if (!in_word) start = i, in_word = 1;
        } else if (in_word) {
            *word = (wmr_bytes){p + start, i - start};
            *pos = i + size;
            return 1;
        }
        i += size;
    }
    *pos = line.len;
    if (!in_word) return 0;
    *word = (wmr_bytes){p + start, line.len - start};
    return 1;
}

int wmr_next_word(wmr_bytes line, size_t *pos, wmr_bytes *word) {
    const uint8_t *p = line.ptr;
    size_t n = line.len, i = *pos;
    uint32_t m, high, first; /* first: the word's first byte's bit in m */
    for (;; i += 16) {
        if (i >= n) {
            *pos = n;
            return 0;
        }
        m = letters16(p + i, n - i, &high);
        uint32_t before = high ? (high & -high) - 1 : 0xffff; /* bytes before the first non-ASCII one */
        if (m & before) {
            first = (uint32_t)__builtin_ctz(m & before);
            break;
        }
        if (high) return next_word_runes(line, i + __builtin_ctz(high), 0, 0, pos, word);
    }
    /* The word's end, its first non-letter, is looked for in the same 16
     * bytes first (most words end there), then 16 at a time. */
    size_t start = i + first;
    for (;;) {
        size_t left = n - i;
        uint32_t ends = ~m & (left < 16 ? (1u << left) - 1 : 0xffff) & (0xffffffffu << first);
        if (ends) {
            i += __builtin_ctz(ends);
            if (p[i] >= 0x80) return next_word_runes(line, i, 1, start, pos, word);
            *word = (wmr_bytes){p + start, i - start};
            *pos = i + 1;
            return 1;
        }
        if (left <= 16) {
            *word = (wmr_bytes){p + start, n - start};
            *pos = n;
            return 1;
        }
        i += 16, first = 0;
        m = letters16(p + i, n - i, &high);
    }
}

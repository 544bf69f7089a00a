/* The C SDK's own tests, built natively (-DWMR_NATIVE): a fake host
 * records what the SDK sends, and the tests call the exports directly. */
#include "wmr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The exports, as plain functions natively. */
int32_t wmr_abi_version(void);
uint8_t *wmr_alloc(int32_t size);
int32_t wmr_init(const uint8_t *ptr, int32_t len);
int32_t wmr_map(const uint8_t *ptr, int32_t len);
int32_t wmr_reduce(const uint8_t *ptr, int32_t len);
int32_t wmr_combine(const uint8_t *ptr, int32_t len);
int32_t wmr_finish(void);

static int failures;
#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            failures++;                                               \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
        }                                                             \
    } while (0)

/* ---- the fake host ---- */

static uint8_t emitted[1 << 20];
static size_t emitted_len;
static char failed[1 << 16];
static int64_t failed_record;
static int fail_calls;
static const uint8_t *continuations[8];
static size_t continuation_lens[8];
static int ncont, next_cont;
static char counter_name[200];
static int64_t counter_delta;

void wmr_host_emit(const uint8_t *ptr, int32_t len) {
    memcpy(emitted + emitted_len, ptr, (size_t)len);
    emitted_len += (size_t)len;
}

int32_t wmr_host_next_values(uint8_t *ptr, int32_t cap) {
    if (next_cont == ncont) return 0;
    size_t n = continuation_lens[next_cont];
    if (n > (size_t)cap) return -(int32_t)n;
    memcpy(ptr, continuations[next_cont++], n);
    return (int32_t)n;
}

void wmr_host_fail(const uint8_t *ptr, int32_t len) {
    /* [str8/str32 message, int64 record] as the SDK writes it */
    fail_calls++;
    const uint8_t *p = ptr + 1;
    size_t n;
    if ((*p & 0xe0) == 0xa0) n = *p & 0x1f, p += 1;
    else if (*p == 0xd9) n = p[1], p += 2;
    else n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4], p += 5;
    memcpy(failed, p, n);
    failed[n] = 0;
    p += n;
    CHECK(*p == 0xd3, "record index encoding %02x", *p);
    uint64_t r = 0;
    for (int i = 1; i <= 8; i++) r = r << 8 | p[i];
    failed_record = (int64_t)r;
    CHECK(p + 9 == ptr + len, "trailing bytes in fail message");
}

void wmr_host_log(int32_t level, const uint8_t *ptr, int32_t len) { (void)level, (void)ptr, (void)len; }

void wmr_host_counter(const uint8_t *ptr, int32_t len, int64_t delta) {
    memcpy(counter_name, ptr, (size_t)len);
    counter_name[len] = 0;
    counter_delta = delta;
}

static void reset_host(void) {
    emitted_len = 0;
    failed[0] = 0;
    fail_calls = 0;
    ncont = next_cont = 0;
    counter_name[0] = 0;
}

/* ---- the job under test ---- */

static wmr_bytes prefix;

static int init(const wmr_task *t) {
    prefix = wmr_param("prefix");
    if (strcmp(t->task_kind, "map") != 0) return wmr_errorf("unexpected task kind %s", t->task_kind);
    return 0;
}

/* ref_next_word is the definition, written as plainly as it is said:
 * skip runes that are not letters, take the letters that follow, and go
 * on after the rune that ended them. */
static int letter_at(wmr_bytes line, size_t i, size_t *size) {
    int32_t r;
    *size = wmr_decode_rune(line.ptr + i, line.len - i, &r);
    return wmr_is_letter(r);
}

static int ref_next_word(wmr_bytes line, size_t *pos, wmr_bytes *word) {
    size_t i = *pos, size = 0;
    while (i < line.len && !letter_at(line, i, &size)) i += size;
    if (i >= line.len) {
        *pos = line.len;
        return 0;
    }
    size_t start = i;
    while (i < line.len && letter_at(line, i, &size)) i += size;
    *word = (wmr_bytes){line.ptr + start, i - start};
    *pos = i < line.len ? i + size : line.len;
    return 1;
}

/* The keys and value lengths the map got, in order. */
static uint64_t keys_seen[64];
static size_t lens_seen[64];
static int nseen;

static int map(wmr_bytes key, wmr_bytes line, wmr_emitter *out) {
    if (nseen < 64 && key.len == 8) {
        uint64_t k = 0;
        for (int b = 0; b < 8; b++) k = k << 8 | key.ptr[b];
        keys_seen[nseen] = k, lens_seen[nseen++] = line.len;
    }
    if (wmr_bytes_equal(line, WMR_STR("boom"))) return wmr_errorf("cannot map %s", "boom");
    size_t pos = 0;
    wmr_bytes w;
    while (ref_next_word(line, &pos, &w)) wmr_emit(out, w, prefix);
    return 0;
}

static int reduce(wmr_bytes key, wmr_values *values, wmr_emitter *out) {
    wmr_counter("keys", 1);
    return wmr_sum(key, values, out);
}

WMR_JOB(.init = init, .map = map, .reduce = reduce, .combine = wmr_sum);

/* ---- message building ---- */

static uint8_t msg[1 << 20];
static size_t msg_len;

static void put(const void *p, size_t n) {
    memcpy(msg + msg_len, p, n);
    msg_len += n;
}
static void put_byte(uint8_t b) { msg[msg_len++] = b; }
static void put_array32(uint32_t n) {
    uint8_t h[5] = {0xdd, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    put(h, 5);
}
static void put_bin(const char *s, size_t n) {
    put_byte(0xc6);
    uint8_t h[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    put(h, 4);
    put(s, n);
}
static void put_str(const char *s) {
    put_byte(0xa0 | (uint8_t)strlen(s));
    put(s, strlen(s));
}

/* call copies msg into the SDK's region, as the host does, and calls fn. */
static int32_t call(int32_t (*fn)(const uint8_t *, int32_t)) {
    uint8_t *p = wmr_alloc((int32_t)msg_len);
    memcpy(p, msg, msg_len);
    return fn(p, (int32_t)msg_len);
}

/* emitted_text renders the emitted batches as "k=v;" for comparison. */
static const char *emitted_text(void) {
    static char out[1 << 16];
    size_t o = 0, i = 0;
    while (i < emitted_len) {
        CHECK(emitted[i] == 0xdd, "batch header %02x", emitted[i]);
        uint32_t n = (uint32_t)emitted[i + 1] << 24 | (uint32_t)emitted[i + 2] << 16 | (uint32_t)emitted[i + 3] << 8 | emitted[i + 4];
        i += 5;
        for (uint32_t r = 0; r < n; r++) {
            CHECK(emitted[i] == 0x92, "record header %02x", emitted[i]);
            i++;
            for (int f = 0; f < 2; f++) {
                CHECK(emitted[i] == 0xc4, "bin8 expected, got %02x", emitted[i]);
                size_t len = emitted[i + 1];
                memcpy(out + o, emitted + i + 2, len);
                o += len;
                out[o++] = f == 0 ? '=' : ';';
                i += 2 + len;
            }
        }
    }
    out[o] = 0;
    return out;
}

static void init_map_task(void) {
    msg_len = 0;
    put_byte(0x84);
    put_str("task_kind");
    put_str("map");
    put_str("future_key");
    put_byte(0x92), put_byte(0x01), put_byte(0xc0);
    put_str("num_partitions");
    put_byte(0xcd), put_byte(0), put_byte(3);
    put_str("params");
    put_byte(0x81);
    put_str("prefix");
    put_str("7");
    CHECK(call(wmr_init) == 5, "init should declare the combiner and the end-of-task call");
    CHECK(wmr_task_context()->num_partitions == 3, "num_partitions %lld", (long long)wmr_task_context()->num_partitions);
}

static void test_map(void) {
    reset_host();
    init_map_task();
    msg_len = 0;
    put_array32(2);
    put_byte(0x92), put_bin("\0\0\0\0\0\0\0\0", 8), put_bin("h\xc3\xa9llo, w\xffo", 11);
    put_byte(0x92), put_bin("\0\0\0\0\0\0\0\x0b", 8), put_bin("", 0);
    CHECK(call(wmr_map) == 0, "map failed: %s", failed);
    CHECK(strcmp(emitted_text(), "h\xc3\xa9llo=7;w=7;o=7;") == 0, "emitted %s", emitted_text());
}

static void test_map_error(void) {
    reset_host();
    init_map_task();
    msg_len = 0;
    put_array32(2);
    put_byte(0x92), put_bin("k", 1), put_bin("fine", 4);
    put_byte(0x92), put_bin("k", 1), put_bin("boom", 4);
    CHECK(call(wmr_map) == -1, "map should fail");
    CHECK(strcmp(failed, "cannot map boom") == 0, "message %s", failed);
    CHECK(failed_record == 1, "record %lld", (long long)failed_record);
    CHECK(emitted_len == 0, "a failed call's output must not reach the host");
    /* malformed: trailing byte */
    msg_len = 0;
    put_array32(0);
    put_byte(0);
    CHECK(call(wmr_map) == -1, "trailing bytes accepted");
}

/* A text block (ABI.md 4.5): the SDK splits its lines as the host would
 * have, keys their offsets, without "\n" or "\r\n". */
static void test_text_blocks(void) {
    reset_host();
    msg_len = 0;
    put_byte(0x83);
    put_str("task_kind");
    put_str("map");
    put_str("text_blocks");
    put_byte(0xc3);
    put_str("params");
    put_byte(0x81);
    put_str("prefix");
    put_str("7");
    CHECK(call(wmr_init) == (5 | 8), "init should take text blocks");
    /* lines of 0-40 bytes around the 16-byte scan, CRLF, a lone \r, and
     * a last line without a newline */
    const char *text = "a\r\n\nzzzzzzzzzzzzzzzzzzzz\n\r\nb\rc\nyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\nend";
    const size_t want_lens[] = {1, 0, 20, 0, 3, 40, 3};
    const uint64_t want_keys[] = {500, 503, 504, 525, 527, 531, 573};
    msg_len = 0;
    put_byte(0x92), put_byte(0xcf);
    put("\0\0\0\0\0\0\x01\xf4", 8); /* 500 */
    put_bin(text, strlen(text));
    nseen = 0;
    CHECK(call(wmr_map) == 0, "map of a text block failed: %s", failed);
    CHECK(nseen == 7, "%d lines in the block, want 7", nseen);
    for (int i = 0; i < nseen && i < 7; i++)
        CHECK(keys_seen[i] == want_keys[i] && lens_seen[i] == want_lens[i], "line %d: key %llu, %zu bytes; want %llu, %zu", i,
              (unsigned long long)keys_seen[i], lens_seen[i], (unsigned long long)want_keys[i], want_lens[i]);
    CHECK(strcmp(emitted_text(), "a=7;zzzzzzzzzzzzzzzzzzzz=7;b=7;c=7;yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy=7;end=7;") == 0, "emitted %s",
          emitted_text());
    /* an error names the line's place in the block */
    reset_host();
    msg_len = 0;
    put_byte(0x92), put_byte(0x00);
    put_bin("fine\nboom\n", 10);
    CHECK(call(wmr_map) == -1, "map should fail");
    CHECK(failed_record == 1, "record %lld", (long long)failed_record);
    msg_len = 0;
    put_byte(0x92), put_byte(0x00), put_byte(0xc6);
    CHECK(call(wmr_map) == -1, "a short block accepted");
}

static void test_reduce_with_continuations(void) {
    reset_host();
    init_map_task();
    msg_len = 0;
    put_array32(2);
    put_byte(0x93), put_bin("a", 1), put_byte(0xc2), put_array32(2), put_bin("1", 1), put_bin("2", 1);
    put_byte(0x93), put_bin("b", 1), put_byte(0xc3), put_array32(1), put_bin("10", 2);
    static uint8_t c1[] = {0x92, 0xc3, 0x91, 0xc4, 3, '1', '0', '0'};
    /* The second continuation is larger than the SDK's first buffer, so
     * the SDK must grow on the host's negative answer. */
    static uint8_t c2[100 << 10];
    size_t n2 = sizeof c2 - 10;
    c2[0] = 0x92, c2[1] = 0xc2, c2[2] = 0x91, c2[3] = 0xc6;
    c2[4] = (uint8_t)(n2 >> 24), c2[5] = (uint8_t)(n2 >> 16), c2[6] = (uint8_t)(n2 >> 8), c2[7] = (uint8_t)n2;
    memset(c2 + 8, '0', n2 - 1);
    c2[8 + n2 - 1] = '5';
    continuations[0] = c1, continuation_lens[0] = sizeof c1;
    continuations[1] = c2, continuation_lens[1] = 8 + n2;
    ncont = 2;
    CHECK(call(wmr_reduce) == 0, "reduce failed: %s", failed);
    CHECK(strcmp(emitted_text(), "a=3;b=115;") == 0, "emitted %s", emitted_text());
    CHECK(strcmp(counter_name, "keys") == 0 && counter_delta == 2, "counter %s=%lld", counter_name, (long long)counter_delta);
    CHECK(next_cont == 2, "continuations read: %d", next_cont);
}

/* With a host that makes the end-of-task call, a map task's output stays
 * in the module, combined per key, until wmr_finish (or a full table). */
/* init_map_task_with_finish starts a map task whose host makes the
 * end-of-task call, so the SDK combines in the module. */
static void init_map_task_with_finish(const char *prefix) {
    reset_host();
    msg_len = 0;
    put_byte(0x84);
    put_str("task_kind");
    put_str("map");
    put_str("finish");
    put_byte(0xc3);
    put_str("num_partitions");
    put_byte(0x03);
    put_str("params");
    put_byte(0x81);
    put_str("prefix");
    put_str(prefix);
    CHECK(call(wmr_init) == 5, "init with finish");
}

static void test_combining_in_module(void) {
    init_map_task_with_finish("2");
    for (int batch = 0; batch < 2; batch++) {
        msg_len = 0;
        put_array32(2);
        put_byte(0x92), put_bin("\0\0\0\0\0\0\0\0", 8), put_bin("a b a", 5);
        put_byte(0x92), put_bin("\0\0\0\0\0\0\0\6", 8), put_bin("b c", 3);
        CHECK(call(wmr_map) == 0, "map failed: %s", failed);
    }
    CHECK(emitted_len == 0, "%zu bytes emitted before the end of the task", emitted_len);
    CHECK(wmr_finish() == 0, "finish failed: %s", failed);
    CHECK(strcmp(emitted_text(), "a=8;b=8;c=4;") == 0, "emitted %s", emitted_text());
}

/* test_combining_keys_of_every_length: keys of every length up to 40
 * bytes, and 1000 keys sharing their first 16 bytes (whose probes cross),
 * stay apart in the table, which compares a key's first 16 bytes as two
 * words: each key arrives twice and must leave once, with twice the
 * prefix's value. */
static void test_combining_keys_of_every_length(void) {
    init_map_task_with_finish("1");
    static char line[64 << 10];
    size_t n = 0, keys = 0;
    for (int len = 1; len <= 40; len++)
        for (int last = 0; last < 2; last++) {
            for (int i = 0; i < len - 1; i++) line[n++] = 'q';
            line[n++] = last ? 'y' : 'x';
            line[n++] = ' ';
            keys++;
        }
    for (int k = 0; k < 1000; k++) {
        n += (size_t)sprintf(line + n, "qqqqqqqqqqqqqqqq%c%c%c ", 'a' + k / 100, 'a' + k / 10 % 10, 'a' + k % 10);
        keys++;
    }
    for (int round = 0; round < 2; round++) {
        msg_len = 0;
        put_array32(1);
        put_byte(0x92), put_bin("\0\0\0\0\0\0\0\0", 8), put_bin(line, n);
        CHECK(call(wmr_map) == 0, "map failed: %s", failed);
    }
    CHECK(wmr_finish() == 0, "finish failed: %s", failed);
    size_t pairs = 0, twos = 0;
    const char *t = emitted_text();
    for (const char *p = t; (p = strchr(p, '=')); p++) {
        pairs++;
        twos += p[1] == '2' && p[2] == ';';
    }
    CHECK(pairs == keys && twos == keys, "%zu keys: %zu pairs left the table, %zu of them with 2", keys, pairs, twos);
}

static void test_helpers(void) {
    struct { const char *s; int32_t r; size_t n; } runes[] = {
        {"a", 'a', 1}, {"\xc3\xa9", 0xe9, 2}, {"\xe6\x97\xa5", 0x65e5, 3}, {"\xf0\x9f\x98\x80", 0x1f600, 4},
        {"\xff", 0xfffd, 1}, {"\xc0\x80", 0xfffd, 1}, {"\xed\xa0\x80", 0xfffd, 1}, {"\xf4\x90\x80\x80", 0xfffd, 1},
        {"\xe6\x97", 0xfffd, 1}, {"\xef\xbf\xbd", 0xfffd, 3},
    };
    for (size_t i = 0; i < sizeof runes / sizeof runes[0]; i++) {
        int32_t r;
        size_t n = wmr_decode_rune((const uint8_t *)runes[i].s, strlen(runes[i].s), &r);
        CHECK(r == runes[i].r && n == runes[i].n, "decode %zu: got U+%04X/%zu", i, (unsigned)r, n);
    }
    int32_t letters[] = {'a', 'Z', 0xaa, 0xe9, 0x65e5}, others[] = {'1', '_', 0x2160, 0x345, 0x1f600, 0x10ffff};
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++) CHECK(wmr_is_letter(letters[i]), "U+%04X", (unsigned)letters[i]);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) CHECK(!wmr_is_letter(others[i]), "U+%04X", (unsigned)others[i]);
    int64_t n;
    CHECK(wmr_parse_int(WMR_STR("-9223372036854775808"), &n) == 0 && n == INT64_MIN, "min int");
    CHECK(wmr_parse_int(WMR_STR("9223372036854775808"), &n) == -1, "overflow accepted");
    CHECK(wmr_parse_int(WMR_STR("-"), &n) == -1, "lone sign accepted");
    char buf[24];
    CHECK(wmr_format_int(buf, INT64_MIN) == 20 && memcmp(buf, "-9223372036854775808", 20) == 0, "format min int");
    CHECK(wmr_partition_hash(WMR_STR("")) == 0xcbf29ce484222325ULL, "hash of empty key");
    CHECK(wmr_partition_hash(WMR_STR("a")) == 0xaf63dc4c8601ec8cULL, "hash of a");
    CHECK(wmr_abi_version() == 1, "abi version");
}

/* test_next_word checks the 16-bytes-at-a-time scan against the
 * definition on random lines of every length up to 80 bytes: ASCII
 * letters and separators, non-ASCII letters and non-letters, invalid
 * UTF-8, words across 16-byte boundaries, lines ending in a word. */
static void test_next_word(void) {
    static const char *pieces[] = {"a", "Z", "q", "word", "abcdefghijklmnopqrstu", " ", ",", ".", "1", "_", "\t",
                                   "\xc3\xa9", "\xe6\x97\xa5", "\xe2\x80\x94", "\xff", "\xc3", "@", "[", "`", "{"};
    uint64_t seed = 42;
    for (int round = 0; round < 20000; round++) {
        uint8_t line[96];
        size_t len = 0;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t want = (seed >> 33) % 81;
        while (len < want) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *piece = pieces[(seed >> 33) % (sizeof pieces / sizeof pieces[0])];
            size_t n = strlen(piece);
            if (len + n > want) break;
            memcpy(line + len, piece, n);
            len += n;
        }
        wmr_bytes l = {line, len}, got, exp;
        size_t pos = 0, ref = 0;
        for (;;) {
            int g = wmr_next_word(l, &pos, &got), r = ref_next_word(l, &ref, &exp);
            CHECK(g == r && pos == ref && (!g || (got.ptr == exp.ptr && got.len == exp.len)),
                  "round %d: line %.*s: got %d at %zu, want %d at %zu", round, (int)len, (const char *)line, g, pos, r, ref);
            if (!g || g != r || pos != ref) break;
        }
    }
}

int main(void) {
    test_map();
    test_map_error();
    test_text_blocks();
    test_reduce_with_continuations();
    test_combining_in_module();
    test_combining_keys_of_every_length();
    test_helpers();
    test_next_word();
    if (failures) {
        fprintf(stderr, "sdk/c: %d check(s) failed\n", failures);
        return 1;
    }
    printf("sdk/c: all checks passed\n");
    return 0;
}

/* wordcount in C: words are maximal runs of Unicode letters (the same
 * letters as Go's unicode.IsLetter), case-sensitive. Output: word<TAB>count,
 * byte-identical to the Go, Rust and AssemblyScript word counts. */
#include "wmr.h"

static int map_words(wmr_bytes key, wmr_bytes line, wmr_emitter *out) {
    (void)key;
    const uint8_t *p = line.ptr;
    size_t n = line.len, start = 0, i = 0;
    int in_word = 0;
    while (i < n) {
        int32_t r = p[i];
        size_t size = 1;
        if (r >= 0x80) size = wmr_decode_rune(p + i, n - i, &r);
        if (wmr_is_letter(r)) {
            if (!in_word) start = i, in_word = 1;
        } else if (in_word) {
            wmr_emit(out, (wmr_bytes){p + start, i - start}, WMR_STR("1"));
            in_word = 0;
        }
        i += size;
    }
    if (in_word) wmr_emit(out, (wmr_bytes){p + start, n - start}, WMR_STR("1"));
    return 0;
}

WMR_JOB(.map = map_words, .reduce = wmr_sum, .combine = wmr_sum);

/* wordcount in C: words are maximal runs of Unicode letters (the same
 * letters as Go's unicode.IsLetter), case-sensitive. Output: word<TAB>count,
 * byte-identical to the Go, Rust and AssemblyScript word counts. */
#include "wmr.h"

static int map_words(wmr_bytes key, wmr_bytes line, wmr_emitter *out) {
    (void)key; /* the line's byte offset */
    size_t pos = 0;
    wmr_bytes word;
    while (wmr_next_word(line, &pos, &word)) wmr_emit(out, word, WMR_STR("1"));
    return 0;
}

WMR_JOB(.map = map_words, .reduce = wmr_sum, .combine = wmr_sum);

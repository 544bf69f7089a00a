/* grep in C: counts the matches of --param pattern=REGEX, every
 * non-overlapping match in each line under its matched text, as Go's
 * FindAllIndex finds them. Output: match<TAB>count, byte-identical to the
 * Go and Rust greps.
 *
 * The matcher is a Pike VM with Go's (RE2's) rules: leftmost-first
 * alternation, greedy and lazy repeats, runes decoded from UTF-8 as Go
 * does; time linear in line length times program size, memory linear in
 * the program. Syntax (the same subset as the Rust grep): literals; `.`;
 * classes [abc] [^a-z] with \d \w \s inside; \d \D \w \W \s \S; escaped
 * punctuation and \t \n \r \f \v; ^ and $ (whole line); ( ) and (?: );
 * |; * + ? {n} {n,} {n,m}, each lazy with a trailing ?. */
#include <stdlib.h>
#include <string.h>

#include "wmr.h"

enum { I_CLASS, I_ANY, I_BOL, I_EOL, I_SPLIT, I_JMP, I_MATCH };
enum { MAX_REPEAT = 1000, MAX_PROGRAM = 100000 };

typedef struct {
    int op;
    int x, y;       /* split/jmp targets */
    int neg;        /* class negated */
    int nranges;    /* class ranges, in the ranges pool from index x */
} inst;

/* ---- the parsed pattern: a tree ---- */

enum { N_EMPTY, N_CLASS, N_ANY, N_BOL, N_EOL, N_CONCAT, N_ALT, N_REPEAT };

typedef struct node {
    int kind;
    int neg, first_range, nranges; /* N_CLASS */
    struct node **kids;            /* N_CONCAT, N_ALT; N_REPEAT: kids[0] */
    int nkids;
    int min, max, greedy;          /* N_REPEAT; max -1 = unbounded */
} node;

static uint32_t (*ranges)[2];
static int nranges_total, ranges_cap;

static int add_range(uint32_t lo, uint32_t hi) {
    if (nranges_total == ranges_cap) {
        ranges_cap = ranges_cap ? 2 * ranges_cap : 64;
        ranges = realloc(ranges, (size_t)ranges_cap * sizeof ranges[0]);
        if (!ranges) __builtin_trap();
    }
    ranges[nranges_total][0] = lo;
    ranges[nranges_total][1] = hi;
    return nranges_total++;
}

static node *new_node(int kind) {
    node *n = calloc(1, sizeof *n);
    if (!n) __builtin_trap();
    n->kind = kind;
    return n;
}

static void add_kid(node *n, node *k) {
    n->kids = realloc(n->kids, (size_t)(n->nkids + 1) * sizeof *n->kids);
    if (!n->kids) __builtin_trap();
    n->kids[n->nkids++] = k;
}

static void free_node(node *n) {
    if (!n) return;
    for (int i = 0; i < n->nkids; i++) free_node(n->kids[i]);
    free(n->kids);
    free(n);
}

typedef struct {
    const uint8_t *src;
    size_t len, pos;
    int failed;
} parser;

static node *fail_at(parser *p, const char *what) {
    if (!p->failed) wmr_errorf("bad pattern: pattern \"%.*s\" at byte %zu: %s", (int)p->len, (const char *)p->src, p->pos, what);
    p->failed = 1;
    return NULL;
}

static int peek(parser *p) { return p->pos < p->len ? p->src[p->pos] : -1; }

static uint32_t next_rune(parser *p) {
    int32_t r;
    p->pos += wmr_decode_rune(p->src + p->pos, p->len - p->pos, &r);
    return (uint32_t)r;
}

static node *parse_alt(parser *p);

static node *perl_class(const uint32_t (*rs)[2], int n, int neg) {
    node *c = new_node(N_CLASS);
    c->neg = neg;
    c->first_range = nranges_total;
    for (int i = 0; i < n; i++) add_range(rs[i][0], rs[i][1]);
    c->nranges = n;
    return c;
}

static const uint32_t DIGIT[][2] = {{0x30, 0x39}};
static const uint32_t WORD[][2] = {{0x30, 0x39}, {0x41, 0x5a}, {0x5f, 0x5f}, {0x61, 0x7a}};
static const uint32_t SPACE[][2] = {{0x09, 0x0a}, {0x0c, 0x0d}, {0x20, 0x20}};

/* parse_escape parses what follows a backslash: a Perl class (returned as
 * a node) or one rune (in *rune, returning NULL with p->failed unset). */
static node *parse_escape(parser *p, uint32_t *rune) {
    int c = peek(p);
    if (c < 0) return fail_at(p, "trailing backslash");
    p->pos++;
    switch (c) {
    case 'd': return perl_class(DIGIT, 1, 0);
    case 'D': return perl_class(DIGIT, 1, 1);
    case 'w': return perl_class(WORD, 4, 0);
    case 'W': return perl_class(WORD, 4, 1);
    case 's': return perl_class(SPACE, 3, 0);
    case 'S': return perl_class(SPACE, 3, 1);
    case 't': *rune = 9; return NULL;
    case 'n': *rune = 10; return NULL;
    case 'v': *rune = 11; return NULL;
    case 'f': *rune = 12; return NULL;
    case 'r': *rune = 13; return NULL;
    }
    if (c < 0x80 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c)) {
        *rune = (uint32_t)c;
        return NULL;
    }
    p->pos--;
    return fail_at(p, "unsupported escape");
}

static node *parse_class(parser *p) {
    p->pos++; /* '[' */
    node *c = new_node(N_CLASS);
    if (peek(p) == '^') p->pos++, c->neg = 1;
    c->first_range = -1;
    /* Ranges are gathered first, then copied contiguously. */
    uint32_t (*tmp)[2] = NULL;
    int n = 0;
    int first = 1;
    for (;;) {
        int ch = peek(p);
        if (ch < 0) {
            free(tmp);
            free_node(c);
            return fail_at(p, "missing closing ]");
        }
        if (ch == ']' && !first) {
            p->pos++;
            break;
        }
        first = 0;
        if (ch == '[' && p->pos + 1 < p->len && p->src[p->pos + 1] == ':') {
            free(tmp);
            free_node(c);
            return fail_at(p, "POSIX classes are not supported");
        }
        uint32_t lo, hi;
        if (ch == '\\') {
            p->pos++;
            node *perl = parse_escape(p, &lo);
            if (p->failed) {
                free(tmp);
                free_node(c);
                return NULL;
            }
            if (perl) {
                if (perl->neg) {
                    free(tmp);
                    free_node(c);
                    free_node(perl);
                    return fail_at(p, "negated Perl classes inside [] are not supported");
                }
                for (int i = 0; i < perl->nranges; i++) {
                    tmp = realloc(tmp, (size_t)(n + 1) * sizeof tmp[0]);
                    if (!tmp) __builtin_trap();
                    tmp[n][0] = ranges[perl->first_range + i][0];
                    tmp[n][1] = ranges[perl->first_range + i][1];
                    n++;
                }
                free_node(perl);
                continue;
            }
        } else {
            lo = next_rune(p);
        }
        hi = lo;
        if (peek(p) == '-' && p->pos + 1 < p->len && p->src[p->pos + 1] != ']') {
            p->pos++;
            if (peek(p) == '\\') {
                p->pos++;
                node *perl = parse_escape(p, &hi);
                if (p->failed || perl) {
                    free_node(perl);
                    free(tmp);
                    free_node(c);
                    return fail_at(p, "invalid character class range");
                }
            } else {
                hi = next_rune(p);
            }
            if (hi < lo) {
                free(tmp);
                free_node(c);
                return fail_at(p, "invalid character class range");
            }
        }
        tmp = realloc(tmp, (size_t)(n + 1) * sizeof tmp[0]);
        if (!tmp) __builtin_trap();
        tmp[n][0] = lo;
        tmp[n][1] = hi;
        n++;
    }
    c->first_range = nranges_total;
    for (int i = 0; i < n; i++) add_range(tmp[i][0], tmp[i][1]);
    c->nranges = n;
    free(tmp);
    return c;
}

static node *parse_atom(parser *p) {
    int c = peek(p);
    switch (c) {
    case '(': {
        p->pos++;
        if (p->pos + 1 < p->len && p->src[p->pos] == '?' && p->src[p->pos + 1] == ':') p->pos += 2;
        else if (peek(p) == '?') return fail_at(p, "flags and named groups are not supported");
        node *inner = parse_alt(p);
        if (!inner) return NULL;
        if (peek(p) != ')') {
            free_node(inner);
            return fail_at(p, "missing closing )");
        }
        p->pos++;
        return inner;
    }
    case '[': return parse_class(p);
    case '.': p->pos++; return new_node(N_ANY);
    case '^': p->pos++; return new_node(N_BOL);
    case '$': p->pos++; return new_node(N_EOL);
    case '*': case '+': case '?': return fail_at(p, "missing argument to repetition operator");
    case '\\': {
        p->pos++;
        uint32_t r;
        node *perl = parse_escape(p, &r);
        if (perl || p->failed) return perl;
        node *n = new_node(N_CLASS);
        n->first_range = add_range(r, r);
        n->nranges = 1;
        return n;
    }
    }
    uint32_t r = next_rune(p);
    node *n = new_node(N_CLASS);
    n->first_range = add_range(r, r);
    n->nranges = 1;
    return n;
}

/* parse_number reads decimal digits; -1 if none. */
static int parse_number(parser *p) {
    int n = -1;
    while (peek(p) >= '0' && peek(p) <= '9') {
        n = (n < 0 ? 0 : n) * 10 + (peek(p) - '0');
        if (n > 100000) n = 100000;
        p->pos++;
    }
    return n;
}

static node *parse_repeats(parser *p, node *atom) {
    for (;;) {
        int c = peek(p), min, max;
        if (c == '*') min = 0, max = -1, p->pos++;
        else if (c == '+') min = 1, max = -1, p->pos++;
        else if (c == '?') min = 0, max = 1, p->pos++;
        else if (c == '{') {
            size_t save = p->pos;
            p->pos++;
            min = parse_number(p);
            max = min;
            if (min >= 0 && peek(p) == ',') {
                p->pos++;
                max = peek(p) == '}' ? -1 : parse_number(p);
                if (max == -1 && peek(p) != '}') min = -1;
            }
            if (min < 0 || peek(p) != '}') {
                p->pos = save; /* not a repeat: '{' is a literal then */
                return atom;
            }
            p->pos++;
        } else return atom;
        if (atom->kind == N_REPEAT) {
            free_node(atom);
            return fail_at(p, "invalid nested repetition operator");
        }
        int greedy = 1;
        if (peek(p) == '?') p->pos++, greedy = 0;
        if (min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && max < min)) {
            free_node(atom);
            return fail_at(p, "invalid repeat count");
        }
        node *r = new_node(N_REPEAT);
        add_kid(r, atom);
        r->min = min, r->max = max, r->greedy = greedy;
        atom = r;
    }
}

static node *parse_concat(parser *p) {
    node *n = new_node(N_CONCAT);
    while (peek(p) >= 0 && peek(p) != '|' && peek(p) != ')') {
        node *a = parse_atom(p);
        if (a) a = parse_repeats(p, a);
        if (!a) {
            free_node(n);
            return NULL;
        }
        add_kid(n, a);
    }
    return n;
}

static node *parse_alt(parser *p) {
    node *first = parse_concat(p);
    if (!first || peek(p) != '|') return first;
    node *alt = new_node(N_ALT);
    add_kid(alt, first);
    while (peek(p) == '|') {
        p->pos++;
        node *k = parse_concat(p);
        if (!k) {
            free_node(alt);
            return NULL;
        }
        add_kid(alt, k);
    }
    return alt;
}

/* ---- compiling to a program ---- */

static inst *prog;
static int prog_len, prog_cap;

static int emit(int op) {
    if (prog_len == MAX_PROGRAM) return -1;
    if (prog_len == prog_cap) {
        prog_cap = prog_cap ? 2 * prog_cap : 64;
        prog = realloc(prog, (size_t)prog_cap * sizeof *prog);
        if (!prog) __builtin_trap();
    }
    memset(&prog[prog_len], 0, sizeof *prog);
    prog[prog_len].op = op;
    return prog_len++;
}

static void set_split(int at, int body, int out, int greedy) {
    prog[at].x = greedy ? body : out;
    prog[at].y = greedy ? out : body;
}

static int compile(const node *n) {
    switch (n->kind) {
    case N_EMPTY: return 0;
    case N_CLASS: {
        int i = emit(I_CLASS);
        if (i < 0) return -1;
        prog[i].x = n->first_range, prog[i].nranges = n->nranges, prog[i].neg = n->neg;
        return 0;
    }
    case N_ANY: return emit(I_ANY) < 0 ? -1 : 0;
    case N_BOL: return emit(I_BOL) < 0 ? -1 : 0;
    case N_EOL: return emit(I_EOL) < 0 ? -1 : 0;
    case N_CONCAT:
        for (int i = 0; i < n->nkids; i++)
            if (compile(n->kids[i]) < 0) return -1;
        return 0;
    case N_ALT: {
        int *jumps = malloc((size_t)n->nkids * sizeof *jumps), nj = 0;
        if (!jumps) __builtin_trap();
        for (int k = 0; k < n->nkids; k++) {
            if (k + 1 < n->nkids) {
                int split = emit(I_SPLIT);
                if (split < 0 || compile(n->kids[k]) < 0 || (jumps[nj++] = emit(I_JMP)) < 0) {
                    free(jumps);
                    return -1;
                }
                prog[split].x = split + 1;
                prog[split].y = prog_len;
            } else if (compile(n->kids[k]) < 0) {
                free(jumps);
                return -1;
            }
        }
        for (int j = 0; j < nj; j++) prog[jumps[j]].x = prog_len;
        free(jumps);
        return 0;
    }
    case N_REPEAT: {
        for (int i = 0; i < n->min; i++)
            if (compile(n->kids[0]) < 0) return -1;
        if (n->max < 0) {
            /* L: split body, out; body; jmp L */
            int split = emit(I_SPLIT);
            if (split < 0 || compile(n->kids[0]) < 0) return -1;
            int j = emit(I_JMP);
            if (j < 0) return -1;
            prog[j].x = split;
            set_split(split, split + 1, prog_len, n->greedy);
            return 0;
        }
        /* (x(x(x)?)?)?: each optional copy may skip to the end */
        int count = n->max - n->min, *splits = malloc((size_t)(count + 1) * sizeof *splits);
        if (!splits) __builtin_trap();
        for (int i = 0; i < count; i++) {
            if ((splits[i] = emit(I_SPLIT)) < 0 || compile(n->kids[0]) < 0) {
                free(splits);
                return -1;
            }
        }
        for (int i = 0; i < count; i++) set_split(splits[i], splits[i] + 1, prog_len, n->greedy);
        free(splits);
        return 0;
    }
    }
    return -1;
}

/* ---- the Pike VM ---- */

typedef struct {
    int pc;
    size_t start;
} thread;

static thread *clist, *nlist;
static int nclist, nnlist;
static uint32_t *mark, generation;
static int *stack;

static void next_generation(void) {
    if (++generation == 0) {
        memset(mark, 0, (size_t)prog_len * sizeof *mark);
        generation = 1;
    }
}

/* add adds thread (pc, start) at text position pos to list, following
 * empty-width instructions in priority order. */
static void add(thread *list, int *n, int pc, size_t start, size_t pos, size_t len) {
    int sp = 0;
    stack[sp++] = pc;
    while (sp > 0) {
        pc = stack[--sp];
        if (mark[pc] == generation) continue;
        mark[pc] = generation;
        switch (prog[pc].op) {
        case I_JMP: stack[sp++] = prog[pc].x; break;
        case I_SPLIT:
            stack[sp++] = prog[pc].y;
            stack[sp++] = prog[pc].x;
            break;
        case I_BOL: if (pos == 0) stack[sp++] = pc + 1; break;
        case I_EOL: if (pos == len) stack[sp++] = pc + 1; break;
        default:
            list[*n].pc = pc;
            list[*n].start = start;
            (*n)++;
        }
    }
}

static int class_has(const inst *in, uint32_t r) {
    int found = 0;
    for (int i = 0; i < in->nranges && !found; i++)
        found = ranges[in->x + i][0] <= r && r <= ranges[in->x + i][1];
    return found != in->neg;
}

/* find_at finds the leftmost-first match in text at or after from. */
static int find_at(const uint8_t *text, size_t len, size_t from, size_t *ms, size_t *me) {
    int matched = 0;
    nclist = 0;
    next_generation();
    size_t pos = from;
    for (;;) {
        if (nclist == 0 && matched) break;
        if (!matched) add(clist, &nclist, 0, pos, pos, len); /* a new thread, lowest priority */
        int32_t r = -1;
        size_t w = 0;
        if (pos < len) w = wmr_decode_rune(text + pos, len - pos, &r);
        next_generation();
        nnlist = 0;
        for (int i = 0; i < nclist; i++) {
            const inst *in = &prog[clist[i].pc];
            int ok = 0;
            if (in->op == I_MATCH) {
                matched = 1;
                *ms = clist[i].start;
                *me = pos;
                break; /* cut the lower-priority threads */
            }
            if (pos < len) ok = in->op == I_ANY || (in->op == I_CLASS && class_has(in, (uint32_t)r));
            if (ok) add(nlist, &nnlist, clist[i].pc + 1, clist[i].start, pos + w, len);
        }
        thread *t = clist;
        clist = nlist, nlist = t;
        nclist = nnlist;
        if (pos >= len) break;
        pos += w;
    }
    return matched;
}

/* ---- the job ---- */

static int init(const wmr_task *task) {
    (void)task;
    wmr_bytes pattern = wmr_param("pattern");
    if (pattern.len == 0) return wmr_errorf("grep needs --param pattern=REGEX");
    free(prog);
    prog = NULL;
    prog_len = prog_cap = 0;
    nranges_total = 0;
    parser p = {pattern.ptr, pattern.len, 0, 0};
    node *tree = parse_alt(&p);
    if (tree && p.pos != p.len) {
        free_node(tree);
        tree = fail_at(&p, "unexpected )");
    }
    if (!tree) return -1;
    int bad = compile(tree) < 0 || emit(I_MATCH) < 0;
    free_node(tree);
    if (bad) return wmr_errorf("bad pattern: pattern too large");
    free(clist), free(nlist), free(mark), free(stack);
    clist = malloc((size_t)prog_len * sizeof *clist);
    nlist = malloc((size_t)prog_len * sizeof *nlist);
    mark = calloc((size_t)prog_len, sizeof *mark);
    stack = malloc((size_t)(2 * prog_len + 2) * sizeof *stack);
    if (!clist || !nlist || !mark || !stack) __builtin_trap();
    generation = 0;
    return 0;
}

static int map_matches(wmr_bytes key, wmr_bytes line, wmr_emitter *out) {
    (void)key;
    size_t pos = 0, s, e;
    int have_prev = 0;
    size_t prev_end = 0;
    /* Go's FindAllIndex: no empty match right after the previous match. */
    while (pos <= line.len && find_at(line.ptr, line.len, pos, &s, &e)) {
        int accept = 1;
        if (e == pos) {
            if (have_prev && prev_end == s) accept = 0;
            if (pos < line.len) {
                int32_t r;
                pos += wmr_decode_rune(line.ptr + pos, line.len - pos, &r);
            } else pos++;
        } else pos = e;
        prev_end = e, have_prev = 1;
        if (accept) wmr_emit(out, (wmr_bytes){line.ptr + s, e - s}, WMR_STR("1"));
    }
    return 0;
}

WMR_JOB(.init = init, .map = map_matches, .reduce = wmr_sum, .combine = wmr_sum);

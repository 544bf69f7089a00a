package tests

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// runJob runs a module with wmr run over input with small blocks (many
// splits) and returns the concatenated output.
func runJob(t *testing.T, module, input string, reducers int, params ...string) string {
	t.Helper()
	return runWith(t, []string{"--block-size", "64KiB"}, module, input, reducers, params...)
}

// runJobKV is runJob writing kv output: a grep's matches may hold tabs,
// which text output refuses to write in a key.
func runJobKV(t *testing.T, module, input string, reducers int, params ...string) string {
	t.Helper()
	return runWith(t, []string{"--block-size", "64KiB", "--output-format", "kv"}, module, input, reducers, params...)
}

// runWith runs wmr run with extra flags and returns the output of every
// partition, in order.
func runWith(t *testing.T, extra []string, module, input string, reducers int, params ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"run", "-q", "--wasm", module, "--input", input, "--output", out,
		"--reducers", fmt.Sprint(reducers)}, extra...)
	for _, p := range params {
		args = append(args, "--param", p)
	}
	if r := wmr(t, args...); r.code != 0 {
		t.Fatalf("wmr run %s: %s", filepath.Base(module), r.stderr)
	}
	var b strings.Builder
	for p := 0; p < reducers; p++ {
		data, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// grepPatterns are inside the pattern language every grep implements
// (see examples-wasm/grep/README.md), chosen to cover classes,
// alternation, groups, anchors, counted and lazy repeats, and empty
// matches.
var grepPatterns = []string{
	"[Tt]he|caf.",
	"[A-Z][a-z]+",
	"(na|ca)[^ ,]*",
	`\d+\.\d+`,
	"^the",
	"e$",
	"a*",
	"[^\\s,]{3,5}?",
	"(?:λ|м)[^ ]+",
	"é|ß|日本",
}

// Every language's example gives byte-identical output to the Go one on
// the same multi-file input: wordcount in Rust, C and AssemblyScript,
// indexer and grep in Rust and C, sumsquares in WAT (a module without the
// end-of-task export); also when each SDK's in-module combining table is
// tiny and flushes all the time.
func TestLanguagesMatchGo(t *testing.T) {
	dir := t.TempDir()
	if _, err := jobtest.WriteCorpus(dir, 4, 150<<10, 100<<10, 3); err != nil {
		t.Fatal(err)
	}
	type job struct {
		example string
		langs   []string
		params  []string
	}
	jobs := []job{
		{"wordcount", []string{"rust", "c", "as"}, nil},
		{"indexer", []string{"rust", "c"}, nil},
	}
	for _, p := range grepPatterns {
		jobs = append(jobs, job{"grep", []string{"rust", "c"}, []string{"pattern=" + p}})
	}
	for _, j := range jobs {
		name := j.example
		if len(j.params) > 0 {
			name += "/" + j.params[0]
		}
		t.Run(name, func(t *testing.T) {
			runJob := runJob
			if j.example == "grep" {
				runJob = runJobKV
			}
			want := runJob(t, testwasm.Path(t, j.example), dir, 3, j.params...)
			if len(want) == 0 && j.example != "grep" {
				t.Fatal("the Go job produced nothing")
			}
			for _, lang := range j.langs {
				got := runJob(t, testwasm.Lang(t, j.example, lang), dir, 3, j.params...)
				if got != want {
					t.Errorf("%s-%s differs from %s-go:\n%s", j.example, lang, j.example, jobtest.Diff(parse(got), parse(want)))
				}
			}
			// Map output combined inside the module, with a table that
			// flushes on nearly every emit: the same bytes in every SDK.
			if j.example == "grep" && j.params[0] != "pattern="+grepPatterns[0] {
				return
			}
			for _, lang := range append([]string{"go"}, j.langs...) {
				got := runJob(t, testwasm.Lang(t, j.example, lang), dir, 3, append([]string{"wmr.combine_bytes=300"}, j.params...)...)
				if got != want {
					t.Errorf("%s-%s with a tiny combining table differs from %s-go:\n%s", j.example, lang, j.example, jobtest.Diff(parse(got), parse(want)))
				}
			}
		})
	}
	t.Run("sumsquares", func(t *testing.T) {
		in := filepath.Join(t.TempDir(), "numbers.txt")
		var b strings.Builder
		for i := -3000; i <= 30000; i++ {
			fmt.Fprintf(&b, " %d\t\n", i)
			if i%1000 == 0 {
				b.WriteString("\r\n")
			}
		}
		if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		want := runJob(t, testwasm.Path(t, "sumsquares"), in, 1)
		if got := runJob(t, testwasm.Lang(t, "sumsquares", "wat"), in, 1); got != want || want == "" {
			t.Fatalf("sumsquares-wat: %q, Go: %q", got, want)
		}
	})
}

// Every SDK's letter test agrees with Go's unicode.IsLetter on every code
// point, and its UTF-8 decoding on invalid input: a word count over text
// holding each code point between non-letters, and invalid sequences
// between letters, is the same in every language.
func TestLettersAgreeAcrossLanguages(t *testing.T) {
	var b bytes.Buffer
	n := 0
	for r := rune(1); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) || r == '\n' || r == '\r' {
			continue
		}
		b.WriteRune(r)
		b.WriteByte('1') // not a letter: every letter is a word of its own
		if n++; n%64 == 0 {
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	for _, bad := range []string{"\xff", "\xc0\x80", "\xc3", "\xe6\x97", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf0\x9f\x98", "\x80\x80", "\xef\xbf\xbd"} {
		fmt.Fprintf(&b, "a%sb é%sé 日%s本\n", bad, bad, bad)
	}
	in := filepath.Join(t.TempDir(), "runes.txt")
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	want := runJob(t, testwasm.Path(t, "wordcount"), in, 2)
	if c := strings.Count(want, "\n"); c < 100000 {
		t.Fatalf("the Go word count found only %d distinct letters", c)
	}
	for _, lang := range []string{"rust", "c", "as"} {
		if got := runJob(t, testwasm.Lang(t, "wordcount", lang), in, 2); got != want {
			t.Errorf("wordcount-%s disagrees with Go on letters:\n%s", lang, jobtest.Diff(parse(got), parse(want)))
		}
	}
}

// On the cluster too: each language's word count submitted to a 3-node
// cluster gives the bytes of the Go word count under wmr run.
func TestClusterLanguagesMatchGo(t *testing.T) {
	ns := cluster(t, 3)
	dir, _ := putCorpus(t, ns[0], "books", 2, 3, 60<<10)
	want := localRun(t, testwasm.Path(t, "wordcount"), dir, 3)
	for i, lang := range []string{"rust", "c", "as"} {
		out := fmt.Sprintf("wc-%d", i)
		r := wmr(t, "submit", "--node", "http://"+ns[i].http, "--wasm", testwasm.Lang(t, "wordcount", lang),
			"--input", "books", "--output", out, "--reducers", "3", "--wait")
		if r.code != 0 || !strings.Contains(r.stdout, "succeeded") {
			t.Fatalf("submit wordcount-%s: exit %d: %s %s", lang, r.code, r.stdout, r.stderr)
		}
		got, err := catString(t, ns[(i+1)%3].client(), out)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("wordcount-%s on the cluster differs from Go's wmr run (%d vs %d bytes)", lang, len(got), len(want))
		}
	}
}

// TestWordCountsAgreeOnRandomText: every language's word count (their
// SDKs scan 16 bytes at a time and keep a key's first 16 bytes in the
// combining table's entry) gives the counts of the plain definition,
// runes one at a time with unicode.IsLetter, on random lines of every
// length: ASCII letters and the bytes beside their ranges, non-ASCII
// letters and separators, invalid UTF-8, long words sharing their first
// 16 bytes, and a last line without a newline.
func TestWordCountsAgreeOnRandomText(t *testing.T) {
	pieces := []string{"a", "Z", "q", "word", "abcdefghijklmnopqrstu", "qqqqqqqqqqqqqqqqx", "qqqqqqqqqqqqqqqqy",
		" ", ",", ".", "1", "_", "\t", "@", "[", "`", "{", "é", "日", "—", "\u00a0", "\xff", "\xc3", "\xe6\x97"}
	rng := rand.New(rand.NewPCG(7, 8))
	var b bytes.Buffer
	for line := 0; line < 20000; line++ {
		for n := rng.IntN(120); n > 0; {
			p := pieces[rng.IntN(len(pieces))]
			b.WriteString(p)
			n -= len(p)
		}
		if line < 19999 {
			b.WriteByte('\n')
		}
	}
	in := filepath.Join(t.TempDir(), "random.txt")
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, line := range bytes.Split(b.Bytes(), []byte("\n")) {
		start := -1
		for i := 0; i <= len(line); {
			r, size := utf8.RuneError, 1
			if i < len(line) {
				r, size = utf8.DecodeRune(line[i:])
			}
			if i < len(line) && unicode.IsLetter(r) {
				if start < 0 {
					start = i
				}
			} else if start >= 0 {
				counts[string(line[start:i])]++
				start = -1
			}
			i += size
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var want strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&want, "%s\t%d\n", k, counts[k])
	}
	for _, lang := range []string{"go", "rust", "c", "as"} {
		got := runJob(t, testwasm.Lang(t, "wordcount", lang), in, 1)
		if got != want.String() {
			t.Errorf("wordcount-%s disagrees with the definition:\n%s", lang, jobtest.Diff(parse(got), parse(want.String())))
		}
	}
}

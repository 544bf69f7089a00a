package jobtest

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/wmr-dev/wmr/abi"
)

// vocabulary mixes ASCII words, non-ASCII letters (Latin, Greek, Cyrillic,
// CJK), case variants and tokens with digits and punctuation.
var vocabulary = []string{
	"the", "The", "THE", "of", "and", "to", "in", "a", "is", "that", "wmr", "map", "reduce",
	"naïve", "café", "straße", "Ωmega", "λόγος", "мир", "日本語", "ĳssel", "Ünïcode",
	"x1y", "don't", "e-mail", "3.14", "(paren)", "end.", "tab\there", "ǅemal", "ⅷ",
}

// WriteCorpus writes files text files of about size bytes each into dir,
// deterministic for seed. Some lines are very long (longLine > 0 bytes),
// some end with CRLF, and the last line of some files has no newline.
func WriteCorpus(dir string, files int, size int, longLine int, seed uint64) ([]string, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var paths []string
	for f := 0; f < files; f++ {
		var b bytes.Buffer
		for b.Len() < size {
			n := rng.IntN(14)
			if longLine > 0 && rng.IntN(200) == 0 {
				n = longLine / 6
			}
			for i := 0; i < n; i++ {
				if i > 0 {
					b.WriteString([]string{" ", " ", " ", ", ", "  ", "\t", "—"}[rng.IntN(7)])
				}
				b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
			}
			if rng.IntN(10) == 0 {
				b.WriteString("\r")
			}
			b.WriteString("\n")
		}
		if f%2 == 1 {
			b.WriteString("no newline at the end")
		}
		p := filepath.Join(dir, fmt.Sprintf("doc%03d.txt", f))
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// lines calls fn for every line of every file, without its "\n" or
// "\r\n" ending, the way wmr defines line records.
func lines(paths []string, fn func(path string, line string)) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			fn(p, strings.TrimSuffix(sc.Text(), "\r"))
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return err
		}
	}
	return nil
}

// words splits a line into maximal runs of Unicode letters.
func words(line string) []string {
	return strings.FieldsFunc(line, func(r rune) bool { return !unicode.IsLetter(r) })
}

// WordCount is the reference word count: word -> decimal count.
func WordCount(paths []string) (map[string]string, error) {
	counts := map[string]int{}
	err := lines(paths, func(_ string, l string) {
		for _, w := range words(l) {
			counts[w]++
		}
	})
	out := map[string]string{}
	for w, n := range counts {
		out[w] = strconv.Itoa(n)
	}
	return out, err
}

// Grep is the reference match count for pattern.
func Grep(paths []string, pattern string) (map[string]string, error) {
	re := regexp.MustCompile(pattern)
	counts := map[string]int{}
	err := lines(paths, func(_ string, l string) {
		for _, m := range re.FindAllString(l, -1) {
			counts[m]++
		}
	})
	out := map[string]string{}
	for m, n := range counts {
		out[m] = strconv.Itoa(n)
	}
	return out, err
}

// Index is the reference inverted index: word -> "n doc1,doc2".
func Index(paths []string) (map[string]string, error) {
	docs := map[string]map[string]bool{}
	err := lines(paths, func(p string, l string) {
		for _, w := range words(l) {
			if docs[w] == nil {
				docs[w] = map[string]bool{}
			}
			docs[w][filepath.Base(p)] = true
		}
	})
	out := map[string]string{}
	for w, set := range docs {
		var names []string
		for d := range set {
			names = append(names, d)
		}
		sort.Strings(names)
		out[w] = fmt.Sprintf("%d %s", len(names), strings.Join(names, ","))
	}
	return out, err
}

// ReadOutput reads a job's output directory and checks its contract:
// _SUCCESS present, reducers part-r-NNNNN files and nothing else, each file
// in strictly increasing bytewise key order, every key in the partition
// the default hash gives it. It returns key -> value and the raw bytes of
// the files concatenated (for byte-identity comparisons).
func ReadOutput(dir string, reducers int) (map[string]string, []byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"_SUCCESS"}
	for p := 0; p < reducers; p++ {
		want = append(want, fmt.Sprintf("part-r-%05d", p))
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		return nil, nil, fmt.Errorf("output directory holds %v, want %v", names, want)
	}
	out := map[string]string{}
	var all []byte
	for p := 0; p < reducers; p++ {
		b, err := os.ReadFile(filepath.Join(dir, want[p+1]))
		if err != nil {
			return nil, nil, err
		}
		all = append(all, b...)
		var prev []byte
		for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			if len(b) == 0 {
				break
			}
			k, v, ok := bytes.Cut(line, []byte("\t"))
			if !ok {
				return nil, nil, fmt.Errorf("%s line %d has no tab: %q", want[p+1], i+1, line)
			}
			if i > 0 && bytes.Compare(prev, k) >= 0 {
				return nil, nil, fmt.Errorf("%s line %d: key %q does not sort after %q", want[p+1], i+1, k, prev)
			}
			if got := abi.Partition(k, reducers); got != p {
				return nil, nil, fmt.Errorf("%s: key %q belongs in partition %d", want[p+1], k, got)
			}
			prev = k
			out[string(k)] = string(v)
		}
	}
	return out, all, nil
}

// Diff describes how got differs from want (at most a few entries), or "".
func Diff(got, want map[string]string) string {
	var d []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			d = append(d, fmt.Sprintf("missing %q (want %q)", k, w))
		} else if g != w {
			d = append(d, fmt.Sprintf("%q = %q, want %q", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			d = append(d, fmt.Sprintf("extra %q = %q", k, g))
		}
	}
	sort.Strings(d)
	if len(d) > 8 {
		d = append(d[:8], fmt.Sprintf("... and %d more", len(d)-8))
	}
	return strings.Join(d, "\n")
}

// ChildPids lists the processes whose parent is pid (a wmr process's
// workers), read from /proc.
func ChildPids(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, en := range entries {
		child, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", en.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// TextRecord is one record of a text file as the ABI defines it: the
// line's byte offset and the line without "\n" or "\r\n".
type TextRecord struct {
	Offset int64
	Line   string
}

// TextRecords splits text, whose first byte is at offset, into its
// records: a line ends at "\n", a "\r" just before it is dropped, and a
// last line without a newline is a record with nothing dropped.
func TextRecords(text []byte, offset int64) []TextRecord {
	var out []TextRecord
	for start := 0; start < len(text); {
		end, next := len(text), len(text)
		if i := bytes.IndexByte(text[start:], '\n'); i >= 0 {
			end, next = start+i, start+i+1
			if end > start && text[end-1] == '\r' {
				end--
			}
		}
		out = append(out, TextRecord{offset + int64(start), string(text[start:end])})
		start = next
	}
	return out
}

package engine

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// sortLines writes lines to a file and returns it with the lines in
// bytewise order, as LC_ALL=C sort prints them.
func sortLines(t *testing.T, lines []string) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lines.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(lines)
	slices.Sort(sorted)
	return path, []byte(strings.Join(sorted, "\n") + "\n")
}

func randomLine(r *rand.Rand, alphabet string, maxLen int) string {
	b := make([]byte, r.IntN(maxLen+1))
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// The sort example with the range partitioner: the part files read in
// order are the input lines sorted bytewise, for input with duplicates,
// skew, tabs and empty lines, read in many splits; and the sampling reads
// add nothing to the job's counters.
func TestRangePartitionerSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	uniform := make([]string, 20000)
	for i := range uniform {
		uniform[i] = randomLine(r, "abcdefghijklmnopqrstuvwxyz0123456789", 40)
	}
	skewed := make([]string, 20000)
	for i := range skewed {
		switch {
		case i%10 < 8:
			skewed[i] = "the same line"
		case i%10 == 8:
			skewed[i] = ""
		default:
			skewed[i] = randomLine(r, "ab\t c", 12)
		}
	}
	// Larger than the sample reads whole (16 MiB), already in order: the
	// windows must still find split points all through it.
	ordered := make([]string, 220000)
	for i := range ordered {
		ordered[i] = fmt.Sprintf("%09d %s", i, strings.Repeat("x", 70))
	}
	cases := []struct {
		name     string
		lines    []string
		lang     string
		reducers int
		block    int64
		balanced bool // every part holds about its share
	}{
		{"uniform go", uniform, "go", 5, 64 << 10, true},
		{"uniform rust", uniform, "rust", 5, 64 << 10, true},
		{"duplicates and skew", skewed, "go", 4, 32 << 10, false},
		{"one reducer", uniform, "go", 1, 64 << 10, false},
		{"sorted input larger than the sample", ordered, "rust", 4, 4 << 20, true},
	}
	e := newEngine(t, Config{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, want := sortLines(t, c.lines)
			e.cfg.BlockSize = c.block
			out := filepath.Join(t.TempDir(), "out")
			sum, err := e.Run(context.Background(), Job{Module: testwasm.Lang(t, "sort", c.lang), Inputs: []string{path}, Output: out,
				Reducers: c.reducers, Partitioner: "range"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for p := range c.reducers {
				b, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
				if err != nil {
					t.Fatal(err)
				}
				if n, share := bytes.Count(b, []byte("\n")), len(c.lines)/c.reducers; c.balanced && (n < share/2 || n > share*2) {
					t.Errorf("part %d holds %d lines, far from its share of %d", p, n, share)
				}
				got = append(got, b...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("part files in order are not the sorted input (%d bytes, want %d)", len(got), len(want))
			}
			if sum.RecordsIn != int64(len(c.lines)) || sum.RecordsOut != int64(len(c.lines)) {
				t.Fatalf("counters: %d records in, %d out; want %d each (the sample must not count)", sum.RecordsIn, sum.RecordsOut, len(c.lines))
			}
			if c.block == 64<<10 && sum.Maps < 5 {
				t.Fatalf("%d map tasks: the input should have been read in several splits", sum.Maps)
			}
		})
	}
}

// Without the range partitioner each part is sorted but the whole is not;
// an unknown partitioner is refused before anything runs.
func TestPartitionerChoice(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lines := make([]string, 2000)
	for i := range lines {
		lines[i] = randomLine(r, "abcdefgh", 10)
	}
	path, want := sortLines(t, lines)
	e := newEngine(t, Config{})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := e.Run(context.Background(), Job{Module: testwasm.Path(t, "sort"), Inputs: []string{path}, Output: out, Reducers: 3}, nil); err != nil {
		t.Fatal(err)
	}
	got := readParts(t, out, 3)
	if bytes.Equal(got, want) || len(got) != len(want) {
		t.Fatalf("hash partitioning: %d bytes, want %d, not globally sorted", len(got), len(want))
	}
	_, err := e.Run(context.Background(), Job{Module: testwasm.Path(t, "sort"), Inputs: []string{path}, Output: filepath.Join(t.TempDir(), "o"), Partitioner: "total"}, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown partitioner "total"`) {
		t.Fatalf("unknown partitioner: %v", err)
	}
}

// A reduce over more map outputs than the merge fan-in merges them in
// passes and gives the same bytes as one merge of all of them, for a job
// without a combiner (the sort) and one with (the word count).
func TestMergeFanIn(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	lines := make([]string, 3000)
	for i := range lines {
		lines[i] = randomLine(r, "abcdefghij", 12)
	}
	path, want := sortLines(t, lines)
	for _, c := range []struct {
		example  string
		reducers int
	}{{"sort", 3}, {"wordcount", 2}} {
		var outs [][]byte
		for _, fanIn := range []int{1000, 3} { // one merge; passes of 3 over about 100 map outputs
			e := newEngine(t, Config{BlockSize: 256, MergeFanIn: fanIn})
			out := filepath.Join(t.TempDir(), "out")
			job := Job{Module: testwasm.Path(t, c.example), Inputs: []string{path}, Output: out, Reducers: c.reducers}
			if c.example == "sort" {
				job.Partitioner = "range"
			}
			sum, err := e.Run(context.Background(), job, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Maps < 27 {
				t.Fatalf("%d map tasks: want many more than the fan-in", sum.Maps)
			}
			outs = append(outs, readParts(t, out, c.reducers))
		}
		if !bytes.Equal(outs[0], outs[1]) {
			t.Fatalf("%s: the output with merge passes differs from one merge's", c.example)
		}
		if c.example == "sort" && !bytes.Equal(outs[1], want) {
			t.Fatal("sort with merge passes is not the sorted input")
		}
	}
	// Open files stay bounded by the fan-in whatever the number of map
	// outputs: one task at a time, in this process, so its readers count.
	e := newEngine(t, Config{BlockSize: 256, MergeFanIn: 3, InProcess: true, Parallelism: 1})
	runs.ResetOpenReadersPeak()
	base, _ := runs.OpenReaders() // readers other tests left open
	sum, err := e.Run(context.Background(), Job{Module: testwasm.Path(t, "sort"), Inputs: []string{path}, Output: filepath.Join(t.TempDir(), "out"),
		Reducers: 2, Partitioner: "range"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, peak := runs.OpenReaders(); sum.Maps < 9 || peak-base > 3 || peak-base == 0 {
		peak -= base
		t.Fatalf("%d map outputs merged with at most %d runs open at once, want more than 9 and at most the fan-in of 3", sum.Maps, peak)
	}
}

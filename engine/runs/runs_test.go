package runs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

type rec struct {
	part       int
	key, value string
	seq        int
}

func drain(t *testing.T, s Stream) []string {
	t.Helper()
	var out []string
	for {
		k, v, ok, err := s.Peek()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(k)+"="+string(v))
		s.Advance()
	}
}

// The buffer sorts like a reference stable sort, the run file preserves
// it, and merging runs equals sorting their union (stable by run order).
func TestSortSpillMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	const parts = 3
	keys := []string{"", "a", "a\x00", "ab", "abcdefgh", "abcdefghi", "abcdefgi", "b", "\xff", "zz"}
	var all []rec
	var segs [parts][]Stream
	for run := 0; run < 4; run++ {
		var b Buffer
		var want []rec
		for i := 0; i < 500; i++ {
			r := rec{rng.IntN(parts), keys[rng.IntN(len(keys))], fmt.Sprint(run, ".", i), len(all)}
			b.Add(r.part, []byte(r.key), []byte(r.value))
			want = append(want, r)
			all = append(all, r)
		}
		b.Sort()
		slices.SortStableFunc(want, func(x, y rec) int {
			if x.part != y.part {
				return x.part - y.part
			}
			return bytes.Compare([]byte(x.key), []byte(y.key))
		})
		path := filepath.Join(dir, fmt.Sprint("run", run))
		w, err := Create(path, parts)
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < parts; p++ {
			var wantP []string
			for _, r := range want {
				if r.part == p {
					wantP = append(wantP, r.key+"="+r.value)
				}
			}
			if got := drain(t, b.Partition(p)); fmt.Sprint(got) != fmt.Sprint(wantP) {
				t.Fatalf("run %d partition %d:\ngot  %q\nwant %q", run, p, got, wantP)
			}
			w.BeginPartition(p)
			s := b.Partition(p)
			for {
				k, v, ok, _ := s.Peek()
				if !ok {
					break
				}
				if err := w.Add(k, v); err != nil {
					t.Fatal(err)
				}
				s.Advance()
			}
		}
		ix, err := w.Close(parts)
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < parts; p++ {
			off, n := ix.Segment(p)
			r, err := OpenSegment(Segment{path, off, n}, 64)
			if err != nil {
				t.Fatal(err)
			}
			if got := drain(t, r); fmt.Sprint(got) != fmt.Sprint(drain(t, b.Partition(p))) {
				t.Fatalf("run file partition %d differs", p)
			}
			r.Close()
			r, _ = OpenSegment(Segment{path, off, n}, 64)
			segs[p] = append(segs[p], r)
		}
	}
	for p := 0; p < parts; p++ {
		var want []rec
		for _, r := range all {
			if r.part == p {
				want = append(want, r)
			}
		}
		slices.SortStableFunc(want, func(x, y rec) int { return bytes.Compare([]byte(x.key), []byte(y.key)) })
		var wantS []string
		for _, r := range want {
			wantS = append(wantS, r.key+"="+r.value)
		}
		if got := drain(t, NewMerger(segs[p])); fmt.Sprint(got) != fmt.Sprint(wantS) {
			t.Fatalf("merge of partition %d differs", p)
		}
	}
}

func TestWriterRejectsDisorder(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "r"), 1)
	if err != nil {
		t.Fatal(err)
	}
	w.BeginPartition(0)
	w.Add([]byte("b"), nil)
	if err := w.Add([]byte("a"), nil); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("got %v", err)
	}
	w.Abort()
}

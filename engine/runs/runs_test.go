package runs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"
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
			r, err := OpenSegment(Segment{Path: path, Offset: off, Length: n, Sums: ix.Checksums(p)})
			if err != nil {
				t.Fatal(err)
			}
			if got := drain(t, r); fmt.Sprint(got) != fmt.Sprint(drain(t, b.Partition(p))) {
				t.Fatalf("run file partition %d differs", p)
			}
			r.Close()
			r, _ = OpenSegment(Segment{Path: path, Offset: off, Length: n, Sums: ix.Checksums(p)})
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

// A flipped byte or a cut in a run file is reported as corruption naming
// the segment's source, and no record of the damaged block is handed on;
// SegmentChecker finds the same damage in a stream.
func TestChecksumsCatchDamage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "run")
	w, err := Create(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("v"), BlockSize+100) // records span blocks
	for p := 0; p < 2; p++ {
		w.BeginPartition(p)
		for i := 0; i < 2000; i++ {
			v := []byte(fmt.Sprint(i))
			if i%500 == 7 {
				v = big
			}
			if err := w.Add([]byte(fmt.Sprintf("k%05d", i)), v); err != nil {
				t.Fatal(err)
			}
		}
	}
	ix, err := w.Close(2)
	if err != nil {
		t.Fatal(err)
	}
	seg := func(p int) Segment {
		off, n := ix.Segment(p)
		return Segment{Path: path, Offset: off, Length: n, Sums: ix.Checksums(p), Source: "m-00004"}
	}
	count := func(s Segment) (int, error) {
		r, err := OpenSegment(s)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		n := 0
		for {
			_, _, ok, err := r.Peek()
			if err != nil || !ok {
				return n, err
			}
			n++
			r.Advance()
		}
	}
	for p := 0; p < 2; p++ {
		if n, err := count(seg(p)); n != 2000 || err != nil {
			t.Fatalf("partition %d intact: %d records, %v", p, n, err)
		}
		if len(ix.Sums[p]) < 4 {
			t.Fatalf("partition %d has %d block sums", p, len(ix.Sums[p]))
		}
	}
	raw, _ := os.ReadFile(path)
	good := slices.Clone(raw)
	off1, n1 := ix.Segment(1)
	at := off1 + n1/2
	raw[at] ^= 0x10
	os.WriteFile(path, raw, 0o644)
	n, err := count(seg(1))
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Source != "m-00004" || !strings.Contains(err.Error(), "CRC-32C") {
		t.Fatalf("flipped byte: %d records, err %v", n, err)
	}
	blockStart := off1 + (at-off1)/BlockSize*BlockSize
	if ce.Offset != blockStart {
		t.Errorf("damage reported at %d, the block starts at %d", ce.Offset, blockStart)
	}
	if n, err := count(seg(0)); n != 2000 || err != nil {
		t.Fatalf("partition 0 is untouched: %d records, %v", n, err)
	}
	c := NewSegmentChecker(seg(1))
	c.Write(raw[off1 : off1+n1])
	if err := c.Check(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("checker on a flipped byte: %v", err)
	}
	c = NewSegmentChecker(seg(1))
	c.Write(good[off1 : off1+n1-1])
	if err := c.Check(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bytes of") {
		t.Fatalf("checker on a short stream: %v", err)
	}
	c = NewSegmentChecker(seg(1))
	for i := off1; i < off1+n1; i += 1000 { // any write sizes
		c.Write(good[i:min(i+1000, off1+n1)])
	}
	if err := c.Check(); err != nil {
		t.Fatalf("checker on good bytes: %v", err)
	}
	// Truncated file: the reader reports it, it does not end early.
	os.WriteFile(path, good[:off1+n1-10], 0o644)
	if n, err := count(seg(1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated: %d records, err %v", n, err)
	}
}

// The radix sort orders like a stable reference sort by partition and
// key, for sizes around its cut-over to a comparison sort, many
// partitions, shared prefixes, zero bytes and keys of 0 to 20 bytes.
func TestSortMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 63, 64, 65, 1000, 30000, 100000} {
		for _, parts := range []int{1, 2, 7, 300} {
			var b Buffer
			// Half the runs in regions too small for the larger n, so
			// the records move on to the Go heap midway.
			if parts%2 == 0 {
				b.Map(1 << 20)
			}
			defer b.Release()
			var want []rec
			for i := range n {
				k := make([]byte, rng.IntN(21))
				for j := range k {
					k[j] = "ab\x00\xff"[rng.IntN(4)]
				}
				if rng.IntN(3) == 0 { // a long shared stem
					k = append([]byte("stem-stem-"), k...)
				}
				r := rec{part: rng.IntN(parts), key: string(k), value: fmt.Sprint(i), seq: i}
				b.Reserve(len(k) + len(r.value))
				b.Add(r.part, k, []byte(r.value))
				want = append(want, r)
			}
			b.Sort()
			slices.SortStableFunc(want, func(x, y rec) int {
				if x.part != y.part {
					return x.part - y.part
				}
				return bytes.Compare([]byte(x.key), []byte(y.key))
			})
			i := 0
			for p := range parts {
				s := b.Partition(p)
				for {
					k, v, ok, _ := s.Peek()
					if !ok {
						break
					}
					if w := want[i]; w.part != p || w.key != string(k) || w.value != string(v) {
						t.Fatalf("n=%d parts=%d: record %d is %d/%q=%s, want %d/%q=%s", n, parts, i, p, k, v, w.part, w.key, w.value)
					}
					i++
					s.Advance()
				}
			}
			if i != n {
				t.Fatalf("n=%d parts=%d: %d records came out", n, parts, i)
			}
		}
	}
}

// Merging in passes of a small fan-in keeps equal keys in the order of
// the segments given, as one merge of all of them does.
func TestReduceFanInKeepsOrder(t *testing.T) {
	dir := t.TempDir()
	var segs []Segment
	for i := range 23 {
		path := filepath.Join(dir, fmt.Sprint("m", i))
		w, err := Create(path, 1)
		if err != nil {
			t.Fatal(err)
		}
		w.BeginPartition(0)
		w.Add([]byte("a"), []byte(fmt.Sprint(i)))
		if i%2 == 0 {
			w.Add([]byte("b"), []byte(fmt.Sprint(i)))
		}
		ix, err := w.Close(1)
		if err != nil {
			t.Fatal(err)
		}
		off, n := ix.Segment(0)
		segs = append(segs, Segment{Path: path, Offset: off, Length: n, Sums: ix.Checksums(0)})
	}
	// Readers other tests left open count in the gauge: measure above them.
	base := openReaders.now.Load()
	openReaders.peak.Store(base)
	merged, remove, err := ReduceFanIn(segs, 2, dir, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	if len(merged) > 2 {
		t.Fatalf("%d segments left, want at most the fan-in", len(merged))
	}
	// 23 runs, more than fan-in x fan-in: the passes never held more than
	// the fan-in open at once.
	if peak := openReaders.peak.Load() - base; peak > 2 {
		t.Fatalf("%d runs were open at once during the passes, more than the fan-in of 2", peak)
	}
	var streams []Stream
	for _, s := range merged {
		r, err := OpenSegment(s)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		streams = append(streams, r)
	}
	var want []string
	for i := range 23 {
		want = append(want, fmt.Sprintf("a=%d", i))
	}
	for i := 0; i < 23; i += 2 {
		want = append(want, fmt.Sprintf("b=%d", i))
	}
	if got := drain(t, NewMerger(streams)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// A buffer with regions grows in place: its records never move while
// they fit, move to the Go heap intact when they do not, and come back
// to the regions when the buffer is reset.
func TestMappedBufferGrowsInPlace(t *testing.T) {
	var b Buffer
	b.Map(8 << 20)
	defer b.Release()
	if b.Reach() == 0 {
		t.Skip("no way to reserve address space here")
	}
	fill := func(upTo int) (want []string) {
		var first *byte
		for i := 0; b.Bytes() < upTo; i++ {
			k := fmt.Sprintf("key-%09d-%s", (i*7919)%1000003, strings.Repeat("x", i%40))
			b.Reserve(len(k))
			b.Add(0, []byte(k), nil)
			want = append(want, k)
			if first == nil {
				first = &b.arena[0]
			} else if &b.arena[0] != first && b.Bytes() < 8<<20 {
				t.Fatalf("the records moved at %d bytes, within the region", b.Bytes())
			}
		}
		return want
	}
	check := func(want []string) {
		b.Sort()
		slices.Sort(want)
		s := b.Partition(0)
		for i, w := range want {
			k, _, ok, _ := s.Peek()
			if !ok || string(k) != w {
				t.Fatalf("record %d: %q, want %q", i, k, w)
			}
			s.Advance()
		}
	}
	check(fill(6 << 20))
	if !onRegion(b.arena, b.arenaMem) {
		t.Fatal("the records are not in the region")
	}
	b.Reset()
	check(fill(20 << 20)) // past the regions: on into the heap
	if onRegion(b.arena, b.arenaMem) {
		t.Fatal("20 MiB of records in an 8 MiB region")
	}
	b.Reset()
	if !onRegion(b.arena[:0:1], b.arenaMem) || b.Footprint() > 8<<20+8<<20 {
		t.Fatalf("after Reset the buffer is not back in its regions (footprint %d)", b.Footprint())
	}
	check(fill(1 << 20))
	b.Release()
	if b.Reach() != 0 || b.Len() != 0 {
		t.Fatal("a released buffer still holds regions or records")
	}
}

// onRegion says whether s starts in r's memory.
func onRegion(s []byte, r *region) bool {
	if cap(s) == 0 || len(r.mem) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(r.mem)))
	return p-lo < uintptr(len(r.mem))
}

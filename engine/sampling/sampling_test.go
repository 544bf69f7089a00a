package sampling

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestPlan(t *testing.T) {
	small := Plan([]int64{100, 0, 50})
	if want := []Window{{0, 0, 100}, {2, 0, 50}}; !slices.Equal(small, want) {
		t.Fatalf("small input: %v, want every split whole %v", small, want)
	}
	lengths := []int64{64 << 20, 3, 0, 64 << 20, 10 << 20}
	var total int64
	for _, n := range lengths {
		total += n
	}
	ws := Plan(lengths)
	if len(ws) != MaxWindows {
		t.Fatalf("%d windows, want %d", len(ws), MaxWindows)
	}
	var read int64
	perSplit := map[int]int{}
	for i, w := range ws {
		if w.Offset < 0 || w.Length <= 0 || w.Offset+w.Length > lengths[w.Split] {
			t.Fatalf("window %d %+v outside its split of %d bytes", i, w, lengths[w.Split])
		}
		if i > 0 && (w.Split < ws[i-1].Split || w.Split == ws[i-1].Split && w.Offset < ws[i-1].Offset+ws[i-1].Length) {
			t.Fatalf("window %d %+v overlaps or precedes %+v", i, w, ws[i-1])
		}
		read += w.Length
		perSplit[w.Split]++
	}
	if read > MaxWindows*WindowBytes {
		t.Fatalf("sample reads %d bytes, more than %d", read, MaxWindows*WindowBytes)
	}
	// Evenly spread: each split gets windows in proportion to its bytes.
	for split, n := range perSplit {
		want := float64(lengths[split]) / float64(total) * MaxWindows
		if d := float64(n) - want; d > 1.5 || d < -1.5 {
			t.Errorf("split %d: %d windows, want about %.1f", split, n, want)
		}
	}
}

func TestBoundsAndPartition(t *testing.T) {
	cases := []struct {
		name  string
		keys  []string
		parts int
		want  []string
	}{
		{"one reducer", []string{"a", "b"}, 1, nil},
		{"no sample", nil, 4, nil},
		{"quartiles", []string{"h", "g", "f", "e", "d", "c", "b", "a"}, 4, []string{"c", "e", "g"}},
		{"all equal", []string{"x", "x", "x", "x"}, 4, []string{"x"}},
		{"skewed", []string{"a", "a", "a", "a", "a", "a", "b", "c"}, 4, []string{"a", "b"}},
		{"more parts than keys", []string{"b", "a"}, 8, []string{"a", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := make([][]byte, len(c.keys))
			for i, k := range c.keys {
				keys[i] = []byte(k)
			}
			b := Bounds(keys, c.parts)
			got := make([]string, len(b))
			for i := range b {
				got[i] = string(b[i])
			}
			if !slices.Equal(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
				t.Fatalf("Bounds = %q, want %q", got, c.want)
			}
			if err := CheckBounds(b, c.parts); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Partitions preserve order: a key's partition never falls as the key
// grows, and is always in range.
func TestPartitionOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		parts := 1 + r.IntN(20)
		var sample [][]byte
		for range r.IntN(200) {
			sample = append(sample, randKey(r))
		}
		bounds := Bounds(sample, parts)
		keys := make([][]byte, 500)
		for i := range keys {
			keys[i] = randKey(r)
		}
		keys = append(keys, bounds...)
		slices.SortFunc(keys, bytes.Compare)
		last := 0
		for _, k := range keys {
			p := Partition(bounds, k)
			if p < last || p >= max(parts, 1) {
				t.Fatalf("round %d: key %q in partition %d after %d (parts %d, bounds %q)", round, k, p, last, parts, bounds)
			}
			last = p
		}
	}
}

func randKey(r *rand.Rand) []byte {
	k := make([]byte, r.IntN(4))
	for i := range k {
		k[i] = byte('a' + r.IntN(3))
	}
	return k
}

func TestCheck(t *testing.T) {
	for _, name := range []string{"", Hash, Range} {
		if err := Check(name); err != nil {
			t.Errorf("Check(%q): %v", name, err)
		}
	}
	if err := Check("total"); err == nil {
		t.Error("Check accepted an unknown partitioner")
	}
	if err := CheckBounds([][]byte{[]byte("b"), []byte("a")}, 4); err == nil {
		t.Error("CheckBounds accepted decreasing bounds")
	}
	if err := CheckBounds([][]byte{[]byte("a"), []byte("b")}, 2); err == nil {
		t.Error("CheckBounds accepted too many bounds")
	}
}

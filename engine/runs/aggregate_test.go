package runs

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// A combine pass that sums values, then Sorted, equals sorting and summing.
func TestAggregatorCombineAndSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var a Aggregator
	want := map[string]int{}
	parts := 3
	for round := 0; round < 5; round++ {
		for i := 0; i < 2000; i++ {
			k := fmt.Sprintf("k%d", rng.IntN(50))
			p := len(k) % parts
			a.Add(hashOf(k), p, []byte(k), []byte("1"))
			want[k]++
		}
		s := a.CombineStream()
		sums := map[string]int{}
		var order []string
		for {
			k, v, ok, _ := s.Peek()
			if !ok {
				break
			}
			n, _ := strconv.Atoi(string(v))
			if _, seen := sums[string(k)]; !seen {
				order = append(order, string(k))
			}
			sums[string(k)] += n
			s.Advance()
		}
		for _, k := range order {
			if !a.CombineEmit(hashOf(k), []byte(k), []byte(strconv.Itoa(sums[k]))) {
				t.Fatalf("CombineEmit(%s) refused", k)
			}
		}
		if a.CombineEmit(hashOf("unknown"), []byte("unknown"), nil) {
			t.Fatal("CombineEmit accepted an unknown key")
		}
		a.FinishCombine()
	}
	got := map[string]int{}
	for p, s := range a.Sorted(parts) {
		prev := ""
		for {
			k, v, ok, _ := s.Peek()
			if !ok {
				break
			}
			if string(k) < prev {
				t.Fatalf("partition %d not sorted: %q after %q", p, k, prev)
			}
			if len(k)%parts != p {
				t.Fatalf("key %q in partition %d", k, p)
			}
			prev = string(k)
			n, _ := strconv.Atoi(string(v))
			got[string(k)] += n
			s.Advance()
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// hashOf is a deliberately poor hash, so probing and collisions get
// exercised.
func hashOf(k string) uint64 { return uint64(len(k)) }

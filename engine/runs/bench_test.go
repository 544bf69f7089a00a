package runs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wmr-dev/wmr/abi"
)

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("word%d", (i*7919)%5000))
	}
	return keys
}

// BenchmarkAggregatorAdd is the per-record host cost of map output for a
// module with a combiner.
func BenchmarkAggregatorAdd(b *testing.B) {
	keys := benchKeys(1 << 16)
	one := []byte("1")
	var a Aggregator
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&(len(keys)-1)]
		a.Add(abi.Hash(k), 0, k, one)
		if i++; a.Pending() >= 1<<18 {
			a.Reset()
		}
	}
}

// BenchmarkBufferSort is the per-record cost of the sort path (modules
// without a combiner).
func BenchmarkBufferSort(b *testing.B) {
	keys := benchKeys(1 << 16)
	var buf Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		for p, k := range keys {
			buf.Add(p&3, k, k)
		}
		buf.Sort()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/record")
}

// BenchmarkSort is the sort alone, per record, for word-like keys and for
// random 100-byte lines (the text sort).
func BenchmarkSort(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	lines := make([][]byte, 1<<18)
	for i := range lines {
		l := make([]byte, 99)
		for j := range l {
			l[j] = 'A' + byte(rng.IntN(58))
		}
		lines[i] = l
	}
	for _, c := range []struct {
		name string
		keys [][]byte
	}{{"words", benchKeys(1 << 18)}, {"lines", lines}} {
		b.Run(c.name, func(b *testing.B) {
			var buf Buffer
			for p, k := range c.keys {
				buf.Add(p&3, k, nil)
			}
			orig := slices.Clone(buf.entries)
			for b.Loop() {
				copy(buf.entries, orig)
				buf.sorted = false
				buf.Sort()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(c.keys)), "ns/record")
		})
	}
}

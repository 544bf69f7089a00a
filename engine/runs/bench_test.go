package runs

import (
	"fmt"
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

package abi

import "testing"

// BenchmarkBatchReader is the host's per-record cost of reading an emit
// batch.
func BenchmarkBatchReader(b *testing.B) {
	var w BatchWriter
	for i := 0; i < 4096; i++ {
		w.Add([]byte("word"), []byte("1"))
	}
	batch := w.Bytes()
	var r BatchReader
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(batch)
		for {
			_, ok, err := r.Next()
			if err != nil || !ok {
				break
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/record")
}

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

// BenchmarkBatchWriter is the host's per-record cost of framing map input
// (a text line and its byte offset) into the batch it hands the module.
func BenchmarkBatchWriter(b *testing.B) {
	line := []byte("iexmenmjmr cbc. and. ofkwnhkb, llikbe, gtczrgao. uihhbv. eaguicmtwk lxh as tswwn")
	var key [8]byte
	var w BatchWriter
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		w.Reset()
		for i := 0; i < 4096; i++ {
			key[7] = byte(i)
			w.Add(key[:], line)
		}
		n += len(w.Bytes())
	}
	b.SetBytes(int64(n / b.N))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*4096), "ns/record")
}

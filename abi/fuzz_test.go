package abi

import (
	"bytes"
	"fmt"
	"testing"
)

// Everything a guest hands the host is untrusted: emit batches, fail
// payloads, continuations read back by SDKs. These fuzzers check that the
// decoders never panic and that whatever they accept re-encodes to an
// equivalent batch.

func FuzzBatchReader(f *testing.F) {
	var w BatchWriter
	w.Add([]byte("k"), []byte("v"))
	w.AddPartitioned([]byte{}, []byte{0, 1}, 3)
	f.Add(w.Bytes())
	f.Add([]byte{0x90})
	f.Add([]byte{0xdd, 0, 0, 0, 1, 0x92, 0xa1, 'a', 0xc4, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r BatchReader
		if err := r.Reset(b); err != nil {
			return
		}
		var again BatchWriter
		again.Reset()
		for {
			rec, ok, err := r.Next()
			if err != nil {
				return
			}
			if !ok {
				break
			}
			if rec.Partition >= 0 {
				again.AddPartitioned(rec.Key, rec.Value, rec.Partition)
			} else {
				again.Add(rec.Key, rec.Value)
			}
		}
		// Accepted: the re-encoding must decode to the same records.
		var r1, r2 BatchReader
		r1.Reset(b)
		if err := r2.Reset(again.Bytes()); err != nil {
			t.Fatalf("re-encoding rejected: %v", err)
		}
		for {
			a, ok1, _ := r1.Next()
			c, ok2, err := r2.Next()
			if err != nil || ok1 != ok2 {
				t.Fatalf("re-encoding differs: %v", err)
			}
			if !ok1 {
				break
			}
			if !bytes.Equal(a.Key, c.Key) || !bytes.Equal(a.Value, c.Value) || a.Partition != c.Partition {
				t.Fatal("record differs after re-encoding")
			}
		}
	})
}

func FuzzGroupReader(f *testing.F) {
	var w ChunkWriter
	w.Reset()
	w.BeginGroup([]byte("a"))
	w.AddValue([]byte("1"))
	w.EndGroup(false)
	w.BeginGroup([]byte("b"))
	w.EndGroup(true)
	f.Add(w.Bytes())
	f.Add([]byte{0x91, 0x93, 0xa1, 'k', 0xc3, 0x90})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r GroupReader
		if err := r.ResetChunk(b); err != nil {
			return
		}
		for i := 0; i < 1<<16; i++ {
			_, ok, err := r.NextGroup()
			if err != nil || !ok {
				return
			}
			for {
				_, ok, err := r.Value()
				if err != nil || !ok {
					break
				}
			}
		}
	})
}

func FuzzContinuation(f *testing.F) {
	var c ContinuationWriter
	c.Reset()
	c.AddValue([]byte("v"))
	f.Add(c.Bytes(true))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r GroupReader
		if err := r.ResetContinuation(b); err != nil {
			return
		}
		for {
			_, ok, err := r.Value()
			if err != nil || !ok {
				return
			}
		}
	})
}

func FuzzDecodeFail(f *testing.F) {
	f.Add(AppendFail(nil, "boom", 3))
	f.Add([]byte{0x92, 0xc4, 0x01, 'x', 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, idx, err := DecodeFail(b)
		if err != nil {
			return
		}
		if len(msg) > MaxFailMessage || idx < NoRecord {
			t.Fatalf("accepted out-of-range fail: %d bytes, record %d", len(msg), idx)
		}
	})
}

func FuzzDecoderSkip(f *testing.F) {
	f.Add([]byte{0x93, 0x01, 0xc3, 0xa1, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(b)
		for d.Remaining() > 0 {
			if err := d.Skip(); err != nil {
				return
			}
		}
	})
}

// DecodeInit never panics, and what it accepts encodes back to a message
// it decodes the same.
func FuzzDecodeInit(f *testing.F) {
	seed, _ := EncodeInit(&Init{ABI: Version, JobID: "j", TaskKind: TaskReduce, Params: map[string]string{"k": "v"}, Finish: true})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeInit(b)
		if err != nil {
			return
		}
		again, err := EncodeInit(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := DecodeInit(again)
		if err != nil || fmt.Sprint(*m) != fmt.Sprint(*m2) {
			t.Fatalf("%+v re-encoded decodes to %+v, %v", *m, m2, err)
		}
	})
}

// FuzzNextKV: NextKV reads any batch exactly as Next does (keys, values,
// the end, and the error's text), whatever the encodings: its fast path
// only decodes some of them itself.
func FuzzNextKV(f *testing.F) {
	var w BatchWriter
	w.Add([]byte("12345678"), []byte("a line"))
	w.Add([]byte{0, 0, 0, 0, 0, 0, 0, 9}, bytes.Repeat([]byte("x"), 300))
	w.AddPartitioned([]byte("p"), []byte("v"), 2)
	w.Add(nil, nil)
	f.Add(w.Bytes())
	f.Add([]byte{0xdd, 0, 0, 0, 2, 0x92, 0xc4, 1, 'k', 0xc4, 1, 'v', 0x92, 0xc4, 0, 0xc4, 9})
	f.Add([]byte{0xdd, 0, 0, 0, 2, 0x92, 0xc4, 1, 'k', 0xc5, 0, 1, 'v', 0x92, 0xa1, 'a', 0xc4, 0, 0xc0})
	f.Add([]byte{0xdd, 0, 0, 0, 3, 0x92, 0xc4, 1, 'k', 0xc6, 0xff, 0xff, 0xff, 0xff, 'v'})
	f.Add([]byte{0xdd, 0, 0, 0, 2, 0x92, 0xc4, 1, 'k', 0xc6, 0, 0, 0, 1, 'v', 0x92, 0xc4, 0, 0xc6, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r1, r2 BatchReader
		e1, e2 := r1.Reset(b), r2.Reset(b)
		if fmt.Sprint(e1) != fmt.Sprint(e2) || e1 != nil {
			return
		}
		for i := 0; ; i++ {
			rec, ok1, err1 := r1.Next()
			k, v, ok2, err2 := r2.NextKV()
			if ok1 != ok2 || fmt.Sprint(err1) != fmt.Sprint(err2) || !bytes.Equal(rec.Key, k) || !bytes.Equal(rec.Value, v) ||
				(rec.Key == nil) != (k == nil) || (rec.Value == nil) != (v == nil) {
				t.Fatalf("record %d: Next gave %q %q %v %v, NextKV %q %q %v %v", i, rec.Key, rec.Value, ok1, err1, k, v, ok2, err2)
			}
			if cap(k) != len(k) || cap(v) != len(v) {
				t.Fatalf("record %d: NextKV's key or value has room past its end (%d/%d, %d/%d)", i, len(k), cap(k), len(v), cap(v))
			}
			if !ok1 || err1 != nil {
				return
			}
		}
	})
}

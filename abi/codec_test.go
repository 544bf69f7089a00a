package abi

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The hand-written encoders must produce what the msgpack library reads.
func TestEncodersAgreeWithMsgpackLibrary(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, v := range ints {
		b := AppendInt(nil, v)
		var got int64
		if err := msgpack.Unmarshal(b, &got); err != nil || got != v {
			t.Errorf("AppendInt(%d) = %x, library reads %d, %v", v, b, got, err)
		}
		d := NewDecoder(b)
		if got, err := d.Int(); err != nil || got != v || d.End() != nil {
			t.Errorf("Decoder.Int on %x = %d, %v", b, got, err)
		}
		// And the decoder reads what the library writes.
		lb, _ := msgpack.Marshal(v)
		if got, err := NewDecoder(lb).Int(); err != nil || got != v {
			t.Errorf("Decoder.Int on library's %x = %d, %v", lb, got, err)
		}
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'x'}, n)
		b := AppendBin(nil, p)
		var got []byte
		if err := msgpack.Unmarshal(b, &got); err != nil || !bytes.Equal(got, p) {
			t.Errorf("AppendBin(%d bytes): library reads %d bytes, %v", n, len(got), err)
		}
		// str written by the library decodes as bytes too (lenient reading).
		lb, _ := msgpack.Marshal(string(p))
		if got, err := NewDecoder(lb).Bytes(); err != nil || !bytes.Equal(got, p) {
			t.Errorf("Decoder.Bytes on library str of %d bytes: %d, %v", n, len(got), err)
		}
		for _, m := range []int{0, 15, 16, 65535, 65536} {
			h := AppendArrayHeader(nil, m)
			h = append(h, bytes.Repeat([]byte{0}, m)...)
			var arr []int
			if err := msgpack.Unmarshal(h, &arr); err != nil || len(arr) != m {
				t.Errorf("AppendArrayHeader(%d): library reads %d, %v", m, len(arr), err)
			}
		}
	}
}

func TestBatchRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var w BatchWriter
	for trial := 0; trial < 50; trial++ {
		w.Reset()
		var want []Record
		for i := rng.IntN(300); i > 0; i-- {
			k := randBytes(rng, rng.IntN(40))
			v := randBytes(rng, []int{0, 1, 300, 70000}[rng.IntN(4)])
			p := -1
			if rng.IntN(3) == 0 {
				p = rng.IntN(1000)
				w.AddPartitioned(k, v, p)
			} else {
				w.Add(k, v)
			}
			want = append(want, Record{k, v, p})
		}
		var r BatchReader
		if err := r.Reset(w.Bytes()); err != nil {
			t.Fatal(err)
		}
		for i, wr := range want {
			got, ok, err := r.Next()
			if err != nil || !ok {
				t.Fatalf("record %d: ok=%v err=%v", i, ok, err)
			}
			if !bytes.Equal(got.Key, wr.Key) || !bytes.Equal(got.Value, wr.Value) || got.Partition != wr.Partition {
				t.Fatalf("record %d differs", i)
			}
		}
		if _, ok, err := r.Next(); ok || err != nil {
			t.Fatalf("after last: ok=%v err=%v", ok, err)
		}
		// The library agrees on the shape: an array of arrays.
		var generic []any
		if err := msgpack.Unmarshal(w.Bytes(), &generic); err != nil || len(generic) != len(want) {
			t.Fatalf("library reads %d records, %v", len(generic), err)
		}
	}
}

func TestChunkRoundTrip(t *testing.T) {
	var w ChunkWriter
	w.Reset()
	groups := map[string][]string{"a": {"1", "2"}, "b": {}, "c": {"x"}}
	for _, k := range []string{"a", "b", "c"} {
		w.BeginGroup([]byte(k))
		for _, v := range groups[k] {
			w.AddValue([]byte(v))
		}
		w.EndGroup(k == "c")
	}
	var r GroupReader
	if err := r.ResetChunk(w.Bytes()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		key, ok, err := r.NextGroup()
		if err != nil || !ok || string(key) != k {
			t.Fatalf("group %s: %q %v %v", k, key, ok, err)
		}
		var got []string
		for {
			v, ok, err := r.Value()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			got = append(got, string(v))
		}
		if fmt.Sprint(got) != fmt.Sprint(groups[k]) || r.More() != (k == "c") {
			t.Fatalf("group %s: values %v more %v", k, got, r.More())
		}
	}
	var c ContinuationWriter
	c.Reset()
	c.AddValue([]byte("y"))
	c.AddValue([]byte("z"))
	if err := r.ResetContinuation(c.Bytes(false)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		v, ok, err := r.Value()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, string(v))
	}
	if fmt.Sprint(got) != "[y z]" || r.More() {
		t.Fatalf("continuation: %v more=%v", got, r.More())
	}
	if _, ok, err := r.NextGroup(); ok || err != nil {
		t.Fatalf("after continuation: %v %v", ok, err)
	}
}

func TestFailRoundTrip(t *testing.T) {
	for _, msg := range []string{"", "short", string(bytes.Repeat([]byte("m"), 300)), string(bytes.Repeat([]byte("m"), 70000))} {
		for _, idx := range []int{NoRecord, 0, 7, 1 << 20} {
			got, gotIdx, err := DecodeFail(AppendFail(nil, msg, idx))
			want := msg
			if len(want) > MaxFailMessage {
				want = want[:MaxFailMessage]
			}
			if err != nil || got != want || gotIdx != idx {
				t.Fatalf("DecodeFail: %d bytes, %d, %v", len(got), gotIdx, err)
			}
		}
	}
}

func TestInitRoundTrip(t *testing.T) {
	in := &Init{ABI: Version, JobID: "j", TaskID: "m-00001", TaskKind: TaskMap, Attempt: 2,
		InputFile: "a.txt", SplitOffset: 64, SplitLength: 128, NumPartitions: 4, Params: map[string]string{"pattern": "a+"}}
	b, err := EncodeInit(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeInit(b)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*in) != fmt.Sprint(*out) {
		t.Fatalf("got %+v want %+v", *out, *in)
	}
}

func TestMalformedBatches(t *testing.T) {
	cases := map[string][]byte{
		"empty":             {},
		"not an array":      {0xc4, 0},
		"count past end":    {0xdd, 0xff, 0xff, 0xff, 0xff, 0x92},
		"short record":      {0x91, 0x91, 0xc4, 0x00},
		"truncated key":     {0x91, 0x92, 0xc4, 0x05, 'a'},
		"trailing bytes":    {0x91, 0x92, 0xc4, 0x00, 0xc4, 0x00, 0x00},
		"negative part":     {0x91, 0x93, 0xc4, 0x00, 0xc4, 0x00, 0xff},
		"map instead":       {0x81, 0xc4, 0x00, 0xc4, 0x00},
		"bin32 huge length": {0x91, 0x92, 0xc6, 0xff, 0xff, 0xff, 0xff},
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			var r BatchReader
			err := r.Reset(b)
			for err == nil {
				var ok bool
				_, ok, err = r.Next()
				if !ok && err == nil {
					t.Fatalf("accepted %x", b)
				}
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

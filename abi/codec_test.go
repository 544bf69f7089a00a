package abi

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

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

// A later host may add keys of any type, and an encoder may write nil for
// an empty field: DecodeInit skips what it does not know and takes nil as
// the zero value.
func TestInitToleratesUnknownKeysAndNil(t *testing.T) {
	b := []byte{mpFixMap | 6}
	b = AppendInt(appendStr(b, "abi"), 1)
	b = append(appendStr(b, "job_id"), mpNil)
	b = append(appendStr(b, "future_float"), mpFloat64, 1, 2, 3, 4, 5, 6, 7, 8)
	b = append(appendStr(b, "future_map"), mpFixMap|1, mpFixStr|1, 'k', mpFixArray|2, mpFixExt1, 1, 2, mpExt8, 2, 9, 'x', 'y')
	b = appendMapHeader(appendStr(b, "params"), 2)
	b = appendStr(appendStr(b, "pattern"), "a+")
	b = append(appendStr(b, "empty"), mpNil)
	b = AppendBool(appendStr(b, "finish"), true)
	m, err := DecodeInit(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.ABI != 1 || m.JobID != "" || !m.Finish || len(m.Params) != 2 || m.Params["pattern"] != "a+" || m.Params["empty"] != "" {
		t.Fatalf("decoded %+v", *m)
	}
	for name, bad := range map[string][]byte{
		"not a map":        {mpFixArray},
		"pairs past end":   {mpMap32, 0, 0, 1, 0, mpFixStr},
		"truncated value":  append(appendStr([]byte{mpFixMap | 1}, "attempt"), mpUint32, 1),
		"string as int":    appendStr(appendStr([]byte{mpFixMap | 1}, "attempt"), "x"),
		"ext past the end": append(appendStr([]byte{mpFixMap | 1}, "later"), mpExt32, 0xff, 0xff, 0xff, 0xff, 1),
		"trailing bytes":   {mpFixMap, 0},
	} {
		if _, err := DecodeInit(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
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

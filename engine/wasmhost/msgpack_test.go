package wasmhost

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/wmr-dev/wmr/abi"
)

// The abi module hand-writes its msgpack (so the SDKs need no library);
// these tests hold it to what a msgpack library writes and reads.

// The hand-written encoders must produce what the msgpack library reads.
func TestEncodersAgreeWithMsgpackLibrary(t *testing.T) {
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64,
		-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64}
	for _, v := range ints {
		b := abi.AppendInt(nil, v)
		var got int64
		if err := msgpack.Unmarshal(b, &got); err != nil || got != v {
			t.Errorf("abi.AppendInt(%d) = %x, library reads %d, %v", v, b, got, err)
		}
		d := abi.NewDecoder(b)
		if got, err := d.Int(); err != nil || got != v || d.End() != nil {
			t.Errorf("Decoder.Int on %x = %d, %v", b, got, err)
		}
		// And the decoder reads what the library writes.
		lb, _ := msgpack.Marshal(v)
		if got, err := abi.NewDecoder(lb).Int(); err != nil || got != v {
			t.Errorf("Decoder.Int on library's %x = %d, %v", lb, got, err)
		}
	}
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536, 70000} {
		p := bytes.Repeat([]byte{'x'}, n)
		b := abi.AppendBin(nil, p)
		var got []byte
		if err := msgpack.Unmarshal(b, &got); err != nil || !bytes.Equal(got, p) {
			t.Errorf("abi.AppendBin(%d bytes): library reads %d bytes, %v", n, len(got), err)
		}
		// str written by the library decodes as bytes too (lenient reading).
		lb, _ := msgpack.Marshal(string(p))
		if got, err := abi.NewDecoder(lb).Bytes(); err != nil || !bytes.Equal(got, p) {
			t.Errorf("Decoder.Bytes on library str of %d bytes: %d, %v", n, len(got), err)
		}
		for _, m := range []int{0, 15, 16, 65535, 65536} {
			h := abi.AppendArrayHeader(nil, m)
			h = append(h, bytes.Repeat([]byte{0}, m)...)
			var arr []int
			if err := msgpack.Unmarshal(h, &arr); err != nil || len(arr) != m {
				t.Errorf("abi.AppendArrayHeader(%d): library reads %d, %v", m, len(arr), err)
			}
		}
	}
}

// The library reads a batch as an array of [key, value] arrays.
func TestBatchIsWhatMsgpackReads(t *testing.T) {
	var w abi.BatchWriter
	w.Reset()
	w.Add([]byte("k"), []byte("v"))
	w.AddPartitioned([]byte(""), bytes.Repeat([]byte("x"), 70000), 7)
	var generic [][]any
	if err := msgpack.Unmarshal(w.Bytes(), &generic); err != nil || len(generic) != 2 || len(generic[0]) != 2 || len(generic[1]) != 3 {
		t.Fatalf("library reads %v, %v", generic, err)
	}
}

// abi encodes and decodes Init by hand (so the Go SDK needs no library);
// the bytes must be what a msgpack library writes and reads, as the Rust,
// C and AssemblyScript SDKs decode them with their own readers.
func TestInitMatchesAMsgpackLibrary(t *testing.T) {
	for _, m := range []abi.Init{
		{},
		{ABI: abi.Version, JobID: "job-1", TaskID: "m-00007", TaskKind: abi.TaskMap, Attempt: 3, InputFile: "books/a.txt",
			InputFormat: "fixed:100", SplitOffset: 1 << 40, SplitLength: 67108864, Partition: -1, NumPartitions: 300,
			Params: map[string]string{"pattern": "a+"}, MemoryLimit: 256 << 20, Finish: true},
		{Params: map[string]string{}, JobID: string(bytes.Repeat([]byte("x"), 300))},
	} {
		ours, err := abi.EncodeInit(&m)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := msgpack.Marshal(&m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) {
			t.Errorf("EncodeInit wrote\n%x\nmsgpack writes\n%x", ours, theirs)
		}
		var back abi.Init
		if err := msgpack.Unmarshal(ours, &back); err != nil || fmt.Sprint(back) != fmt.Sprint(m) {
			t.Errorf("msgpack reads %+v, %v; want %+v", back, err, m)
		}
		got, err := abi.DecodeInit(theirs)
		if err != nil || fmt.Sprint(*got) != fmt.Sprint(m) {
			t.Errorf("DecodeInit reads %+v, %v; want %+v", got, err, m)
		}
	}
}

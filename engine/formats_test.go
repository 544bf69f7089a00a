package engine

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/abi/kv"
	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// compress writes path's bytes compressed by a system tool (gzip, zstd,
// bzip2) to path+ext.
func compressFile(t *testing.T, tool, path, ext string) string {
	t.Helper()
	out := path + ext
	b, err := exec.Command(tool, "-c", path).Output()
	if err != nil {
		t.Skipf("%s: %v", tool, err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// readParts returns the part files of a job's output, concatenated.
func readParts(t *testing.T, dir string, reducers int) []byte {
	t.Helper()
	var all []byte
	for p := range reducers {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("part-r-%05d", p)))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func runErr(e *Engine, job Job) error {
	_, err := e.Run(context.Background(), job, nil)
	return err
}

// Compressed text is read transparently by extension: the word count of a
// .gz, .zst and .bz2 copy is byte-identical to the uncompressed one's, and
// a compressed file is one map task whatever the block size.
func TestCompressedInput(t *testing.T) {
	_, paths := corpus(t, 1, 600<<10, 0)
	e := newEngine(t, Config{BlockSize: 64 << 10})
	wc := testwasm.Path(t, "wordcount")
	_, _, want := run(t, e, Job{Module: wc, Inputs: []string{paths[0]}, Reducers: 2})
	for _, c := range []struct{ tool, ext string }{{"gzip", ".gz"}, {"zstd", ".zst"}, {"bzip2", ".bz2"}} {
		t.Run(c.tool, func(t *testing.T) {
			in := compressFile(t, c.tool, paths[0], c.ext)
			sum, _, got := run(t, e, Job{Module: wc, Inputs: []string{in}, Reducers: 2})
			if !bytes.Equal(got, want) {
				t.Fatalf("output of %s differs from the uncompressed run's", filepath.Base(in))
			}
			if sum.Maps != 1 {
				t.Fatalf("%d map tasks for one compressed file, want 1", sum.Maps)
			}
		})
	}
}

// Bad input fails the job with a message naming the file and where it is
// bad, never a silent short read: a damaged gzip stream, a truncated
// fixed-size record, a truncated and a damaged kv file; and a file that
// looks compressed or binary to text is refused before anything runs.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	e := newEngine(t, Config{})
	wc := testwasm.Path(t, "wordcount")
	id := testwasm.Path(t, "testing/identity")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := range 20000 {
		fmt.Fprintf(zw, "line %d of some text\n", i)
	}
	zw.Close()
	damaged := bytes.Clone(gz.Bytes())
	damaged[len(damaged)/2] ^= 0xff
	var kvData bytes.Buffer
	kw := kv.NewWriter(&kvData)
	for i := range 50000 {
		kw.Add([]byte(fmt.Sprintf("key%06d", i)), bytes.Repeat([]byte{byte(i)}, 40))
	}
	kw.Close()
	flipped := bytes.Clone(kvData.Bytes())
	flipped[len(flipped)/3] ^= 1
	cases := []struct {
		name, file string
		data       []byte
		module     string
		format     string
		want       []string
	}{
		{"damaged gzip", "d.txt.gz", damaged, wc, "", []string{"d.txt.gz", "gzip stream is damaged after", "uncompressed bytes"}},
		{"truncated gzip", "t.txt.gz", gz.Bytes()[:gz.Len()/2], wc, "", []string{"t.txt.gz", "gzip stream is damaged"}},
		{"truncated fixed record", "r.bin", make([]byte, 1000), id, "fixed:300", []string{"r.bin ends inside a record", "record at byte 900 has 100 of its 300 bytes"}},
		{"truncated kv", "t.kv", kvData.Bytes()[:kvData.Len()-7], id, "", []string{"t.kv", "truncated"}},
		{"damaged kv", "f.kv", flipped, id, "", []string{"f.kv", "checksum mismatch"}},
		{"gzip read as text", "g.txt", gz.Bytes(), wc, "", []string{"g.txt looks like gzip-compressed data", "--input-format gzip"}},
		{"binary read as text", "b.txt", []byte("ab\x00cd\n"), wc, "text", []string{"b.txt has a NUL byte at offset 2", "--input-format fixed:N"}},
		{"kv read as text", "k.txt", kvData.Bytes(), wc, "text", []string{"k.txt is a kv file", "--input-format kv"}},
		{"not gzip", "n.gz", []byte("plain text\n"), wc, "", []string{"n.gz is not gzip data"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(c.file, c.data)
			err := runErr(e, Job{Module: c.module, Inputs: []string{p}, Output: filepath.Join(t.TempDir(), "out"), InputFormat: c.format, OutputFormat: "kv"})
			if err == nil {
				t.Fatal("the job succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// kvPairs reads every record of a kv file.
func kvPairs(t *testing.T, data []byte) [][2]string {
	t.Helper()
	r := kv.NewReader(bytes.NewReader(data), 0, -1)
	var out [][2]string
	for {
		k, v, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{string(k), string(v)})
	}
}

// Fixed-size records: every record is read exactly once whatever the
// block size (records across split boundaries), for random record and
// block sizes; their bytes are any bytes, kept by kv output.
func TestFixedRecordsPropertyAndKVChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	e := newEngine(t, Config{})
	id := testwasm.Path(t, "testing/identity")
	for round := range 6 {
		size := 1 + rng.IntN(130)
		n := rng.IntN(3000)
		data := make([]byte, size*n)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		in := filepath.Join(t.TempDir(), "records.bin")
		os.WriteFile(in, data, 0o644)
		e.cfg.BlockSize = int64(1 + rng.IntN(9000))
		out := filepath.Join(t.TempDir(), "out")
		if err := runErr(e, Job{Module: id, Inputs: []string{in}, Output: out, Reducers: 3, InputFormat: fmt.Sprintf("fixed:%d", size),
			OutputFormat: "kv", Params: map[string]string{"key": "value"}}); err != nil {
			t.Fatalf("round %d (record %d, block %d): %v", round, size, e.cfg.BlockSize, err)
		}
		var got []string
		for p := range 3 {
			b, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
			for _, kvp := range kvPairs(t, b) {
				got = append(got, kvp[0])
			}
		}
		var want []string
		for i := range n {
			want = append(want, string(data[i*size:(i+1)*size]))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d (record %d bytes, block %d): %d records came out, want %d, or they differ", round, size, e.cfg.BlockSize, len(got), len(want))
		}
	}
	// kv: random binary keys and values with every byte value, through
	// two jobs: the second (reading the first's output, format by
	// content) writes the same bytes.
	var src bytes.Buffer
	w := kv.NewWriter(&src)
	for range 20000 {
		k, v := make([]byte, rng.IntN(30)), make([]byte, rng.IntN(200))
		for i := range k {
			k[i] = byte(rng.IntN(256))
		}
		for i := range v {
			v[i] = byte(rng.IntN(256))
		}
		w.Add(k, v)
	}
	w.Close()
	in := filepath.Join(t.TempDir(), "pairs.kv")
	os.WriteFile(in, src.Bytes(), 0o644)
	e.cfg.BlockSize = 256 << 10
	first, second := filepath.Join(t.TempDir(), "first"), filepath.Join(t.TempDir(), "second")
	if err := runErr(e, Job{Module: id, Inputs: []string{in}, Output: first, Reducers: 2, OutputFormat: "kv"}); err != nil {
		t.Fatal(err)
	}
	if err := runErr(e, Job{Module: id, Inputs: []string{first}, Output: second, Reducers: 2, OutputFormat: "kv"}); err != nil {
		t.Fatal(err)
	}
	a, b := readParts(t, first, 2), readParts(t, second, 2)
	if !bytes.Equal(a, b) {
		t.Fatal("a kv dataset chained through a second job changed")
	}
	var pairs int
	for p := range 2 {
		part, _ := os.ReadFile(filepath.Join(first, fmt.Sprintf("part-r-%05d", p)))
		pairs += len(kvPairs(t, part))
	}
	if pairs != 20000 {
		t.Fatalf("%d pairs in the kv output, want 20000", pairs)
	}
}

// Text output never writes what does not read back: a key holding a
// newline or (with a value) a tab, or a value holding a newline, fails the
// job naming the key and --output-format kv; a key with a tab and no value
// is written as the key alone.
func TestTextOutputIsUnambiguous(t *testing.T) {
	e := newEngine(t, Config{})
	id := testwasm.Path(t, "testing/identity")
	write := func(pairs ...string) string {
		var b bytes.Buffer
		w := kv.NewWriter(&b)
		for i := 0; i < len(pairs); i += 2 {
			w.Add([]byte(pairs[i]), []byte(pairs[i+1]))
		}
		w.Close()
		p := filepath.Join(t.TempDir(), "in.kv")
		os.WriteFile(p, b.Bytes(), 0o644)
		return p
	}
	for _, c := range []struct {
		name  string
		pairs []string
		want  string
	}{
		{"tab in key", []string{"a\tb", "v"}, `key "a\tb"`},
		{"newline in key", []string{"a\nb", ""}, "its key holds a newline"},
		{"newline in value", []string{"k", "x\ny"}, "its value holds a newline"},
	} {
		err := runErr(e, Job{Module: id, Inputs: []string{write(c.pairs...)}, Output: filepath.Join(t.TempDir(), "o")})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--output-format kv") {
			t.Fatalf("%s: %v", c.name, err)
		}
		if strings.Contains(err.Error(), "attempts") { // the same on every try: the job fails at once
			t.Fatalf("%s: retried: %v", c.name, err)
		}
	}
	out := filepath.Join(t.TempDir(), "o")
	if err := runErr(e, Job{Module: id, Inputs: []string{write("a\tb", "", "c", "d", "e", "")}, Output: out}); err != nil {
		t.Fatal(err)
	}
	if got, want := string(readParts(t, out, 1)), "a\tb\nc\td\ne\n"; got != want {
		t.Fatalf("text output %q, want %q", got, want)
	}
}

// Text reaches a module that takes text blocks (every SDK's, here Go's)
// as the same records the record path makes: every line of files with
// CRLF and LF ends, empty lines, lines longer than a block and no final
// newline, each exactly once under its offset, whatever the split size,
// with the summary counting them as it always has.
func TestTextLinesThroughBlocksEndToEnd(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var text []byte
	for i := range 3000 {
		n := rng.IntN(120)
		if i%700 == 3 {
			n = 300<<10 + rng.IntN(100) // longer than a text block
		}
		for range n {
			text = append(text, "abc \t\rxyz"[rng.IntN(9)])
		}
		text = append(text, []string{"\n", "\r\n", "\n\n"}[rng.IntN(3)]...)
	}
	text = append(text, "the last line\r"...) // no newline: its "\r" stays
	in := filepath.Join(t.TempDir(), "lines.txt")
	if err := os.WriteFile(in, text, 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var bytesIn int64
	for _, r := range jobtest.TextRecords(text, 0) {
		want[string(offsetKey(uint64(r.Offset)))] = r.Line
		bytesIn += int64(len(r.Line)) + 1
	}
	id := testwasm.Path(t, "testing/identity")
	for _, block := range []int64{64 << 10, 1 << 20, 64 << 20} {
		e := newEngine(t, Config{BlockSize: block})
		out := filepath.Join(t.TempDir(), "out")
		sum, err := e.Run(context.Background(), Job{Module: id, Inputs: []string{in}, Output: out, Reducers: 2, OutputFormat: "kv"}, nil)
		if err != nil {
			t.Fatalf("splits of %d: %v", block, err)
		}
		got := map[string]string{}
		for p := range 2 {
			part, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
			for _, kvp := range kvPairs(t, part) {
				if _, dup := got[kvp[0]]; dup {
					t.Fatalf("splits of %d: the line at %x came twice", block, kvp[0])
				}
				got[kvp[0]] = kvp[1]
			}
		}
		if len(got) != len(want) {
			t.Fatalf("splits of %d: %d lines came out, want %d", block, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("splits of %d: the line at %x is %q, want %q", block, k, trunc(got[k]), trunc(v))
			}
		}
		if sum.RecordsIn != int64(len(want)) || sum.BytesIn != bytesIn {
			t.Fatalf("splits of %d: summary counts %d records, %d bytes in; want %d, %d", block, sum.RecordsIn, sum.BytesIn, len(want), bytesIn)
		}
	}
}

func offsetKey(off uint64) []byte { return binary.BigEndian.AppendUint64(nil, off) }

func trunc(s string) string { return s[:min(len(s), 40)] }

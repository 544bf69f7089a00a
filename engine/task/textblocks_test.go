package task

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/engine/input"
	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/internal/jobtest"
)

// line is one record as a module sees it.
type line struct {
	key   uint64
	value string
}

// guestLines splits a text block as ABI.md 4.5 says a module does.
func guestLines(t *testing.T, block []byte) []line {
	t.Helper()
	at, lines, err := abi.ReadTextBlock(block)
	if err != nil {
		t.Fatalf("text block: %v", err)
	}
	var out []line
	for _, r := range jobtest.TextRecords(lines, at) {
		out = append(out, line{uint64(r.Offset), r.Line})
	}
	return out
}

// viaBlocks runs feedTextBlocks over split and returns the lines a module
// gets, checking each block holds whole lines.
func viaBlocks(t *testing.T, spec *Spec, split input.Split, stats *Stats) ([]line, error) {
	var got []line
	err := feedTextBlocks(context.Background(), spec, split, stats, func(room int, fill func([]byte) (int, int64, error)) error {
		buf := make([]byte, abi.TextBlockHeader+room)
		for i := range buf {
			buf[i] = 0xee // the module's buffer holds anything
		}
		n, at, err := fill(buf[abi.TextBlockHeader:])
		if err != nil || n < 0 {
			return err
		}
		if n == 0 {
			t.Fatal("an empty text block was passed")
		}
		abi.PutTextBlockHeader(buf, at, n)
		got = append(got, guestLines(t, buf[:abi.TextBlockHeader+n])...)
		clear(buf) // the module may change its buffer: the next block must not depend on it
		return nil
	})
	return got, err
}

// viaRecords runs the record path (feedSplit) over split.
func viaRecords(t *testing.T, spec *Spec, split input.Split, stats *Stats) []line {
	var got []line
	err := feedSplit(context.Background(), spec, split, nil, stats, func(batch []byte) error {
		var r abi.BatchReader
		if err := r.Reset(batch); err != nil {
			return err
		}
		for {
			k, v, ok, err := r.NextKV()
			if err != nil || !ok {
				return err
			}
			got = append(got, line{binary.BigEndian.Uint64(k), string(v)})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Text blocks give a module exactly the records the record path gives,
// and the same counts, for every split of files with CRLF line ends, empty
// lines, no final newline, and lines longer than a block.
func TestTextBlocksGiveTheRecordsOfTheRecordPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	long := strings.Repeat("x", 300)
	files := map[string]string{
		"plain":          "one two\nthree\nfour five six\n",
		"no final nl":    "a\nbb\nccc",
		"crlf":           "a\r\nb\r\n\r\nc\rd\r\n",
		"cr at the end":  "a\nb\r",
		"empty lines":    "\n\n\nx\n\n",
		"one long line":  long,
		"long lines":     "a\n" + long + "\nb\n" + long + long + "\n\nc",
		"only a newline": "\n",
		"empty":          "",
	}
	var random strings.Builder
	for range 400 {
		random.WriteString(strings.Repeat("w", rng.IntN(90)))
		random.WriteString([]string{"\n", "\r\n", "\n\n"}[rng.IntN(3)])
	}
	files["random"] = random.String()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		file := input.File{Path: path, Name: name, Size: int64(len(text))}
		for _, block := range []int{16, 64, 1 << 10} {
			spec := &Spec{BatchBytes: block, MaxLineBytes: 1 << 20}
			for _, splitSize := range []int64{1, 7, 50, 1 << 20} {
				if splitSize < 50 && file.Size > 1<<10 {
					splitSize *= 97 // fewer, but still many, of the random file's
				}
				var wantAll, gotAll []line
				var want, got Stats
				for off := int64(0); off < max(file.Size, 1); off += splitSize {
					split := input.Split{File: file, Offset: off, Length: min(splitSize, max(file.Size-off, 0))}
					wantAll = append(wantAll, viaRecords(t, spec, split, &want)...)
					lines, err := viaBlocks(t, spec, split, &got)
					if err != nil {
						t.Fatalf("%s, block %d, split %v: %v", name, block, split, err)
					}
					gotAll = append(gotAll, lines...)
				}
				if fmt.Sprint(gotAll) != fmt.Sprint(wantAll) {
					t.Fatalf("%s, block %d, splits of %d: text blocks gave\n%v\nthe record path\n%v", name, block, splitSize, gotAll, wantAll)
				}
				if got != want {
					t.Fatalf("%s, block %d, splits of %d: counts %+v, the record path's %+v", name, block, splitSize, got, want)
				}
			}
		}
	}
}

// A module's error on a line of a block names that line's offset, as on
// the record path; a line past the limit fails the task with its offset.
func TestTextBlockErrorsNameTheLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	text := "first\nsecond\nBAD line\nlast\n" + strings.Repeat("y", 5000) + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	split := input.Split{File: input.File{Path: path, Name: "in.txt", Size: int64(len(text))}, Length: int64(len(text))}
	spec := &Spec{BatchBytes: 1 << 10, MaxLineBytes: 1 << 20}
	var stats Stats
	err := feedTextBlocks(context.Background(), spec, split, &stats, func(room int, fill func([]byte) (int, int64, error)) error {
		buf := make([]byte, abi.TextBlockHeader+room)
		n, at, err := fill(buf[abi.TextBlockHeader:])
		if err != nil || n < 0 {
			return err
		}
		abi.PutTextBlockHeader(buf, at, n)
		for i, l := range guestLines(t, buf[:abi.TextBlockHeader+n]) {
			if strings.HasPrefix(l.value, "BAD") {
				clear(buf) // what the module leaves in its buffer does not matter
				return &wasmhost.ModuleError{Module: "m.wasm", Call: abi.ExportMap, Record: i, Msg: "bad line", Kind: wasmhost.ErrModuleFailed}
			}
		}
		return nil
	})
	var re *RecordError
	if !errors.As(err, &re) || re.Offset != int64(len("first\nsecond\n")) || re.Input != path {
		t.Fatalf("error %v, want a RecordError at byte 13 of %s", err, path)
	}

	// Lines longer than a block are measured as they are carried from
	// block to block; one within a block is not, so blocks are offered
	// only where the limit is several blocks long.
	spec.MaxLineBytes = 4096
	_, err = viaBlocks(t, spec, split, &stats)
	if want := fmt.Sprintf("the line at byte %d is longer than the 0 MiB limit", len(text)-5001); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if spec.BatchBytes = 2 << 10; offersTextBlocks(spec, input.Format{}) {
		t.Fatal("text blocks offered with a line limit of two blocks")
	}
	if spec.BatchBytes = 1 << 10; !offersTextBlocks(spec, input.Format{}) {
		t.Fatal("text blocks not offered with a line limit of four blocks")
	}
	if spec.SkipOffsets = []int64{6}; offersTextBlocks(spec, input.Format{}) {
		t.Fatal("text blocks offered to a task that skips records")
	}
}

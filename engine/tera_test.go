package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// TeraGen writes the benchmark's bytes for its rows (checked against the
// plain reference, also for a range far from row 0, which the module
// reaches by skipping ahead); TeraSort sorts them in total order over
// fixed:100 input in Go and Rust alike; TeraValidate finds the sorted
// output in order and its checksum equal to the input's.
func TestTeraSort(t *testing.T) {
	e := newEngine(t, Config{BlockSize: 64 << 10})
	dir := t.TempDir()
	gen := testwasm.Path(t, "teragen")
	// A far range: rows 5000..5299 of 5300.
	ranges := filepath.Join(dir, "far.txt")
	os.WriteFile(ranges, []byte("5000 300\n"), 0o644)
	far := filepath.Join(dir, "far")
	if err := runErr(e, Job{Module: gen, Inputs: []string{ranges}, Output: far, Params: map[string]string{"rows": "5300"}, OutputFormat: "fixed:100"}); err != nil {
		t.Fatal(err)
	}
	if got, want := readParts(t, far, 1), jobtest.GenSort(5000, 300)[:]; !bytes.Equal(got, want[:]) {
		t.Fatalf("teragen rows 5000..5299: %d bytes differ from the reference's %d", len(got), len(want))
	}
	// 20,000 rows in 8 ranges, 4 part files in row order.
	const rows = 20000
	var lines []string
	for i := range 8 {
		lines = append(lines, fmt.Sprintf("%d %d", i*rows/8, rows/8))
	}
	os.WriteFile(ranges, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	input := filepath.Join(dir, "gen")
	e.cfg.BlockSize = 10 // a map task per range
	if err := runErr(e, Job{Module: gen, Inputs: []string{ranges}, Output: input, Reducers: 4, Params: map[string]string{"rows": fmt.Sprint(rows)}, OutputFormat: "fixed:100"}); err != nil {
		t.Fatal(err)
	}
	e.cfg.BlockSize = 256 << 10
	generated := readParts(t, input, 4)
	if !bytes.Equal(generated, jobtest.GenSort(0, rows)) {
		t.Fatal("teragen's 20,000 rows differ from the reference")
	}
	validate := func(in string) string {
		t.Helper()
		out := filepath.Join(t.TempDir(), "v")
		if err := runErr(e, Job{Module: testwasm.Path(t, "teravalidate"), Inputs: []string{in}, Output: out, InputFormat: "fixed:100"}); err != nil {
			t.Fatal(err)
		}
		return string(readParts(t, out, 1))
	}
	before := validate(input)
	if !strings.Contains(before, "order\tmisordered") || !strings.Contains(before, fmt.Sprintf("records\t%d\n", rows)) {
		t.Fatalf("teravalidate of the unsorted input:\n%s", before)
	}
	recs := make([][]byte, rows)
	for i := range recs {
		recs[i] = generated[i*100 : (i+1)*100]
	}
	slices.SortStableFunc(recs, func(x, y []byte) int { return bytes.Compare(x[:10], y[:10]) })
	want := bytes.Join(recs, nil)
	for _, lang := range []string{"go", "rust"} {
		out := filepath.Join(t.TempDir(), "sorted")
		if err := runErr(e, Job{Module: testwasm.Lang(t, "terasort", lang), Inputs: []string{input}, Output: out, Reducers: 5,
			InputFormat: "fixed:100", Partitioner: "range", OutputFormat: "fixed:100"}); err != nil {
			t.Fatal(err)
		}
		if got := readParts(t, out, 5); !bytes.Equal(got, want) {
			t.Fatalf("terasort-%s: the part files in order are not the records sorted by key", lang)
		}
		after := validate(out)
		sum := before[:strings.Index(before, "\n")] // checksum<TAB>HEX
		if !strings.Contains(after, "order\tok\n") || !strings.HasPrefix(after, sum+"\n") {
			t.Fatalf("teravalidate after terasort-%s:\n%s\nbefore:\n%s", lang, after, before)
		}
	}
}

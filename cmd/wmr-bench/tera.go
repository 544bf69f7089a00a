package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
)

// printTeraSort generates records rows with teragen (and checks the first
// of them against the reference generator), then times terasort in Go and
// Rust against a native Go program that sorts the same records with every
// core, checking that every output holds the same bytes.
func printTeraSort(wmr, dir string, rows, parallelism int) int {
	fmt.Printf("\nTeraSort of %d records (%.1f GB), %d cores:\n", rows, float64(rows)*100/1e9, parallelism)
	cache := filepath.Join(dir, "cache")
	ranges := filepath.Join(dir, "tera-ranges.txt")
	var lines []string
	for i := range parallelism * 4 {
		lines = append(lines, fmt.Sprintf("%d %d", i*rows/(parallelism*4), (i+1)*rows/(parallelism*4)-i*rows/(parallelism*4)))
	}
	os.WriteFile(ranges, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	gen := filepath.Join(dir, "tera-gen")
	os.RemoveAll(gen)
	wall, _, err := timeCommand(wmr, "run", "-q", "--wasm", "build/examples/teragen-go.wasm", "--input", ranges, "--block-size", "1",
		"--param", "rows="+strconv.Itoa(rows), "--output-format", "fixed:100", "--output", gen, "--reducers", strconv.Itoa(parallelism), "--cache-dir", cache)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: teragen:", err)
		return 1
	}
	var parts []string
	for p := range parallelism {
		parts = append(parts, filepath.Join(gen, fmt.Sprintf("part-r-%05d", p)))
	}
	head := make([]byte, 1000*100)
	f, err := os.Open(parts[0])
	if err == nil {
		_, err = io.ReadFull(f, head)
		f.Close()
	}
	if err != nil || !bytes.Equal(head, jobtest.GenSort(0, 1000)) {
		fmt.Fprintf(os.Stderr, "wmr-bench: teragen's first 1000 rows differ from the reference generator's (%v)\n", err)
		return 1
	}
	fmt.Printf("  %-44s %6.2f s  (rows 0..999 equal the reference generator's)\n", "wmr run teragen-go", wall.Seconds())
	// The native sort: every core sorts a slice, then a merge.
	syscall.Sync()
	start := time.Now()
	ref := filepath.Join(dir, "tera-native")
	if err := nativeTeraSort(parts, ref, parallelism); err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: native terasort:", err)
		return 1
	}
	native := time.Since(start)
	fmt.Printf("  %-44s %6.2f s\n", fmt.Sprintf("native Go sort of the records, %d goroutines", parallelism), native.Seconds())
	const reducers = 8
	for _, lang := range []string{"go", "rust"} {
		out := filepath.Join(dir, "tera-sorted")
		os.RemoveAll(out)
		syscall.Sync()
		wall, rss, err := timeCommand(wmr, "run", "-q", "--wasm", fmt.Sprintf("build/examples/terasort-%s.wasm", lang), "--input", gen,
			"--input-format", "fixed:100", "--partitioner", "range", "--output-format", "fixed:100", "--output", out,
			"--reducers", strconv.Itoa(reducers), "--memory", "256MiB", "--cache-dir", cache)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wmr-bench: terasort-%s: %v\n", lang, err)
			return 1
		}
		var sorted []string
		for p := range reducers {
			sorted = append(sorted, filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
		}
		if ok, err := sameBytes(sorted, ref); !ok || err != nil {
			fmt.Fprintf(os.Stderr, "wmr-bench: terasort-%s: its output differs from the native sort's (%v)\n", lang, err)
			return 1
		}
		os.RemoveAll(out)
		fmt.Printf("  %-44s %6.2f s  peak RSS %d MiB  %.2fx native (target >= 0.5x)\n", fmt.Sprintf("wmr run terasort-%s --memory 256MiB", lang),
			wall.Seconds(), rss>>20, native.Seconds()/wall.Seconds())
	}
	os.Remove(ref)
	os.RemoveAll(gen)
	return 0
}

// nativeTeraSort sorts the records of files by their 10-byte keys (equal
// keys in input order), as a competent program would: 16-byte items (the
// key as two integers and the record's index) sorted one slice per core,
// then merged, gathering records into out.
func nativeTeraSort(files []string, out string, workers int) error {
	var total int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		total += st.Size()
	}
	data := make([]byte, 0, total) // read once, no regrowth
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		st, _ := fh.Stat()
		n, err := io.ReadFull(fh, data[len(data):len(data)+int(st.Size())])
		fh.Close()
		if err != nil {
			return err
		}
		data = data[:len(data)+n]
	}
	type item struct {
		hi  uint64
		lo  uint16
		idx uint32
	}
	n := len(data) / 100
	items := make([]item, n)
	for i := range items {
		r := data[i*100:]
		items[i] = item{binary.BigEndian.Uint64(r), binary.BigEndian.Uint16(r[8:]), uint32(i)}
	}
	cmp := func(x, y item) int {
		switch {
		case x.hi != y.hi:
			return cmpU(x.hi, y.hi)
		case x.lo != y.lo:
			return cmpU(uint64(x.lo), uint64(y.lo))
		}
		return cmpU(uint64(x.idx), uint64(y.idx))
	}
	chunks := make([][]item, workers)
	var wg sync.WaitGroup
	for i := range chunks {
		chunks[i] = items[n*i/workers : n*(i+1)/workers]
		wg.Add(1)
		go func() {
			defer wg.Done()
			slices.SortFunc(chunks[i], cmp)
		}()
	}
	wg.Wait()
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, 1<<20)
	for {
		best := -1
		for i, c := range chunks {
			if len(c) > 0 && (best < 0 || cmp(c[0], chunks[best][0]) < 0) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		idx := int(chunks[best][0].idx)
		if buf = append(buf, data[idx*100:idx*100+100]...); len(buf) >= 1<<20 {
			w.Write(buf)
			buf = buf[:0]
		}
		chunks[best] = chunks[best][1:]
	}
	w.Write(buf)
	return w.Close()
}

func cmpU(a, b uint64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// printGzip times the Rust word count over gzip-compressed copies of the
// corpus files against the plain files, checking the outputs are equal.
func printGzip(wmr, dir string, paths []string) int {
	gzDir := filepath.Join(dir, "corpus-gz")
	if _, err := os.Stat(filepath.Join(gzDir, "_complete")); err != nil {
		os.MkdirAll(gzDir, 0o755)
		for _, p := range paths {
			b, err := exec.Command("gzip", "-c", "-6", p).Output()
			if err != nil {
				fmt.Fprintln(os.Stderr, "wmr-bench: gzip:", err)
				return 1
			}
			os.WriteFile(filepath.Join(gzDir, filepath.Base(p)+".gz"), b, 0o644)
		}
		os.WriteFile(filepath.Join(gzDir, "_complete"), nil, 0o644)
	}
	var outs [2]string
	var walls [2]time.Duration
	for i, in := range []string{filepath.Dir(paths[0]), gzDir} {
		outs[i] = filepath.Join(dir, fmt.Sprintf("gz-out-%d", i))
		os.RemoveAll(outs[i])
		wall, _, err := timeCommand(wmr, "run", "-q", "--wasm", "build/examples/wordcount-rust.wasm", "--input", in, "--output", outs[i],
			"--reducers", "4", "--cache-dir", filepath.Join(dir, "cache"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "wmr-bench: word count for the .gz figure:", err)
			return 1
		}
		walls[i] = wall
	}
	a, errA := readOutput(outs[0])
	b, errB := readOutput(outs[1])
	if errA != nil || errB != nil || !equal(a, b) {
		fmt.Fprintln(os.Stderr, "wmr-bench: the word count of the .gz corpus differs from the plain one's")
		return 1
	}
	fmt.Printf("\nwordcount-rust over the corpus gzipped (one map task per file): %.2f s, plain %.2f s: %.2fx\n",
		walls[1].Seconds(), walls[0].Seconds(), walls[0].Seconds()/walls[1].Seconds())
	return 0
}

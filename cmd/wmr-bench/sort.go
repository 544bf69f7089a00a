package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ensureSortInput writes n lines of 99 random letters and digits (100
// bytes with the newline), the text sort's input, unless it exists.
func ensureSortInput(dir string, n int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("lines-%d.txt", n))
	if st, err := os.Stat(path); err == nil && st.Size() == int64(n)*100 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(7, 8))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	line := make([]byte, 100)
	line[99] = '\n'
	for range n {
		for j := range 99 {
			line[j] = alphabet[rng.IntN(len(alphabet))]
		}
		w.Write(line)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(path+".tmp", path)
}

// nativeSort is a competent Go program for the same sort: read the file,
// sort its lines with every core (one slice per core, then a merge), write
// them.
func nativeSort(in, out string, workers int) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	chunks := make([][][]byte, workers)
	var wg sync.WaitGroup
	for i := range chunks {
		lo, hi := len(lines)*i/workers, len(lines)*(i+1)/workers
		chunks[i] = lines[lo:hi]
		wg.Add(1)
		go func() {
			defer wg.Done()
			slices.SortFunc(chunks[i], bytes.Compare)
		}()
	}
	wg.Wait()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for {
		best := -1
		for i, c := range chunks {
			if len(c) > 0 && (best < 0 || bytes.Compare(c[0], chunks[best][0]) < 0) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		w.Write(chunks[best][0])
		chunks[best] = chunks[best][1:]
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sameBytes reports whether the files in parts, concatenated, hold the
// bytes of ref.
func sameBytes(parts []string, ref string) (bool, error) {
	rf, err := os.Open(ref)
	if err != nil {
		return false, err
	}
	defer rf.Close()
	var readers []io.Reader
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			return false, err
		}
		defer f.Close()
		readers = append(readers, f)
	}
	a, b := bufio.NewReaderSize(io.MultiReader(readers...), 1<<20), bufio.NewReaderSize(rf, 1<<20)
	bufA, bufB := make([]byte, 1<<16), make([]byte, 1<<16)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA != nil || errB != nil { // equal so far, so both ended here
			return true, nil
		}
	}
}

// printSort times the text sort: GNU sort, a native Go sort and wmr run's
// sort example in Go and Rust with the range partitioner, on the same
// lines and cores, and checks that every output is the same bytes.
func printSort(wmr, dir string, lines, parallelism int) int {
	in, err := ensureSortInput(dir, lines)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: sort input:", err)
		return 1
	}
	f, _ := os.Open(in)
	io.Copy(io.Discard, f) // into the page cache, for every contender
	f.Close()
	size := float64(lines) * 100 / 1e6
	fmt.Printf("\ntext sort of %d lines of 100 bytes (%.0f MB), %d cores, outputs checked equal (wmr syncs its output to disk, the others do not):\n", lines, size, parallelism)
	ref := filepath.Join(dir, "sorted-gnu.txt")
	// Each contender starts with no dirty pages of another's output: wmr
	// syncs its output files before it commits, and on ext4 that can wait
	// for every dirty file to reach the disk.
	syscall.Sync()
	gnu, gnuRSS, err := timeCommand("env", "LC_ALL=C", "sort", "--parallel="+strconv.Itoa(parallelism), "-S", "1G", "-o", ref, in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: GNU sort:", err)
		return 1
	}
	fmt.Printf("  %-48s %6.2f s  peak RSS %4d MiB\n", fmt.Sprintf("LC_ALL=C sort --parallel=%d -S 1G", parallelism), gnu.Seconds(), gnuRSS>>20)
	// The same with its output synced to disk, as wmr's is before it
	// reports success.
	os.Remove(ref)
	syscall.Sync()
	gnuSync, _, err := timeCommand("sh", "-c", fmt.Sprintf("LC_ALL=C sort --parallel=%d -S 1G -o %s %s && sync %s", parallelism, ref, in, ref))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: GNU sort + sync:", err)
		return 1
	}
	fmt.Printf("  %-48s %6.2f s\n", "the same, then sync of its output file", gnuSync.Seconds())
	syscall.Sync()
	start := time.Now()
	nativeOut := filepath.Join(dir, "sorted-native.txt")
	if err := nativeSort(in, nativeOut, parallelism); err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: native sort:", err)
		return 1
	}
	native := time.Since(start)
	if ok, err := sameBytes([]string{nativeOut}, ref); !ok || err != nil {
		fmt.Fprintf(os.Stderr, "wmr-bench: the native sort differs from GNU sort's (%v)\n", err)
		return 1
	}
	os.Remove(nativeOut)
	fmt.Printf("  %-48s %6.2f s\n", fmt.Sprintf("native Go sort, %d goroutines", parallelism), native.Seconds())
	const reducers, memory = 4, 256 << 20
	for _, lang := range []string{"go", "rust"} {
		out := filepath.Join(dir, "sorted-"+lang)
		os.RemoveAll(out)
		module := fmt.Sprintf("build/examples/sort-%s.wasm", lang)
		args := []string{"run", "-q", "--wasm", module, "--input", in, "--output", out, "--reducers", strconv.Itoa(reducers),
			"--partitioner", "range", "--memory", "256MiB", "--parallelism", strconv.Itoa(parallelism), "--cache-dir", filepath.Join(dir, "cache")}
		if err := os.WriteFile(filepath.Join(dir, "warm.txt"), []byte("b\na\n"), 0o644); err == nil { // compile the module, untimed
			warm := append(slices.Clone(args), "--input", filepath.Join(dir, "warm.txt"), "--output", out+"-warm", "--overwrite")
			timeCommand(wmr, warm...)
			os.RemoveAll(out + "-warm")
		}
		syscall.Sync()
		wall, rss, err := timeCommand(wmr, args...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wmr-bench: sort-%s: %v\n", lang, err)
			return 1
		}
		var parts []string
		for p := range reducers {
			parts = append(parts, filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
		}
		if ok, err := sameBytes(parts, ref); !ok || err != nil {
			fmt.Fprintf(os.Stderr, "wmr-bench: sort-%s: its part files in order differ from GNU sort's output (%v)\n", lang, err)
			return 1
		}
		os.RemoveAll(out)
		bound := int64(memory)*3/2 + 200<<20
		fmt.Printf("  %-48s %6.2f s  peak RSS %4d MiB (bound %d MiB)\n", fmt.Sprintf("wmr run sort-%s, --partitioner range", lang), wall.Seconds(), rss>>20, bound>>20)
		fmt.Printf("  %-48s %.2fx GNU sort (target >= 1.0x), %.2fx GNU sort + sync, %.2fx native\n", "", gnu.Seconds()/wall.Seconds(),
			gnuSync.Seconds()/wall.Seconds(), native.Seconds()/wall.Seconds())
	}
	os.Remove(ref)
	return 0
}

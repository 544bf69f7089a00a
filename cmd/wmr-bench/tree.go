package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wmr-dev/wmr/nodes"
)

// printTree measures the reduce tree on a local 3-node cluster: a global
// sum (sumsquares over 1..2,000,000 in about 2,000 shards), flat and with
// the tree, and the word count's shuffle with and without it.
func printTree(wmr, dir string, paths []string, want map[string]int64, fanIns []string) int {
	fmt.Println("\nreduce tree: a local 3-node cluster")
	numbers := filepath.Join(dir, "numbers-2000000.txt")
	if _, err := os.Stat(numbers); err != nil {
		var b bytes.Buffer
		for i := 1; i <= 2000000; i++ {
			b.WriteString(strconv.Itoa(i))
			b.WriteByte('\n')
		}
		if err := os.WriteFile(numbers, b.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "wmr-bench:", err)
			return 1
		}
	}
	sumsquares := "build/examples/sumsquares-go.wasm"
	wordcount := "build/examples/wordcount-go.wasm"
	ns, err := startCluster(wmr, filepath.Join(dir, "tree"), 3, nil, nil)
	defer stopCluster(ns)
	if err == nil { // both modules compiled on every node before the timed jobs
		err = warmCluster(wmr, wordcount, dir, ns)
	}
	if err == nil {
		warm := filepath.Join(dir, "warm-numbers")
		os.MkdirAll(warm, 0o755)
		for i := range 6 {
			os.WriteFile(filepath.Join(warm, fmt.Sprintf("n%d.txt", i)), []byte("1\n2\n"), 0o644)
		}
		if out, perr := exec.Command(wmr, "put", "--node", ns[0].http, "--dataset", "warm-numbers", "--replicas", "3", warm).CombinedOutput(); perr != nil {
			err = fmt.Errorf("put: %v: %s", perr, out)
		} else if out, serr := exec.Command(wmr, "submit", "--node", ns[1].http, "--wasm", sumsquares, "--input", "warm-numbers", "--output", "warm-sums",
			"--reducers", "3", "--wait", "-q").CombinedOutput(); serr != nil {
			err = fmt.Errorf("warm-up job: %v: %s", serr, out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench: tree cluster:", err)
		return 1
	}
	put := func(name, block string, files ...string) error {
		args := append([]string{"put", "--node", ns[0].http, "--dataset", name, "--replicas", "2", "--block-size", block}, files...)
		if out, err := exec.Command(wmr, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("put %s: %v: %s", name, err, out)
		}
		return nil
	}
	submit := func(wasm, input, output, fanIn string, reducers int) (time.Duration, *nodes.JobStatus, error) {
		start := time.Now()
		out, err := exec.Command(wmr, "submit", "--node", ns[1].http, "--wasm", wasm, "--input", input, "--output", output,
			"--reducers", strconv.Itoa(reducers), "--fan-in", fanIn, "--wait", "--json").Output()
		wall := time.Since(start)
		var st nodes.JobStatus
		if jerr := json.Unmarshal(out, &st); err != nil || jerr != nil || st.State != "succeeded" {
			return 0, nil, fmt.Errorf("submit %s --fan-in %s: %v %v %s", output, fanIn, err, jerr, st.Error)
		}
		return wall, &st, nil
	}
	if err := put("numbers", "7500", numbers); err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench:", err)
		return 1
	}
	fmt.Println("  sumsquares of 1..2,000,000 in 7.5 kB shards (one key: every partial sum meets in one reduce)")
	for i, fanIn := range fanIns {
		out := fmt.Sprintf("sums-%d-%s", i, fanIn)
		wall, st, err := submit(sumsquares, "numbers", out, fanIn, 1)
		if err != nil {
			fmt.Fprintln(os.Stderr, "wmr-bench:", err)
			return 1
		}
		var b bytes.Buffer
		cat := exec.Command(wmr, "cat", "--node", ns[2].http, out)
		cat.Stdout = &b
		if err := cat.Run(); err != nil || b.String() != "sum_of_squares\t2666668666667000000\n" {
			fmt.Fprintf(os.Stderr, "wmr-bench: sumsquares --fan-in %s gave %q (%v)\n", fanIn, b.String(), err)
			return 1
		}
		inputs, peak := 0, int64(0)
		for _, a := range st.Attempts {
			if a.Kind == "reduce" && a.Outcome == "succeeded" {
				inputs, peak = a.Inputs, a.PeakRSS
			}
		}
		what := "flat"
		if st.Combines > 0 {
			what = fmt.Sprintf("tree, fan-in %s: %d combines in %d levels", fanIn, st.Combines, len(st.Tree))
		}
		fmt.Printf("    %-40s %5d maps  %7.2f s  the final reduce read %d outputs, %d bytes; its worker peaked at %.0f MiB\n",
			what, st.Maps, wall.Seconds(), inputs, st.ReduceBytesIn, float64(peak)/(1<<20))
	}
	if err := put("words", "2MiB", paths...); err != nil {
		fmt.Fprintln(os.Stderr, "wmr-bench:", err)
		return 1
	}
	fmt.Println("  word count, 2 MiB shards, 4 reducers: what the maps wrote and what the reduces read")
	for _, fanIn := range []string{"0", "4"} {
		wall, st, err := submit(wordcount, "words", "counts-"+fanIn, fanIn, 4)
		if err == nil {
			var got map[string]int64
			if got, err = catCounts(wmr, ns[2], "counts-"+fanIn); err == nil && !equal(got, want) {
				err = fmt.Errorf("word count --fan-in %s differs from the native count", fanIn)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "wmr-bench:", err)
			return 1
		}
		what := "flat"
		if st.Combines > 0 {
			what = fmt.Sprintf("tree, fan-in %s: %d combines", fanIn, st.Combines)
		}
		fmt.Printf("    %-40s %5d maps  %7.2f s  maps wrote %.1f MB, reduces read %.1f MB\n", what, st.Maps, wall.Seconds(),
			float64(st.ShuffleBytes)/1e6, float64(st.ReduceBytesIn)/1e6)
	}
	return 0
}

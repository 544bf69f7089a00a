package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
	"github.com/wmr-dev/wmr/nodes"
)

// sumSquaresInput writes the integers 1..n, a line each.
func sumSquaresInput(t *testing.T, n int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintln(&b, i)
	}
	p := filepath.Join(t.TempDir(), "numbers.txt")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The global aggregate: the sum of the squares of 1..2,000,000 over
// some 2,000 splits, with wmr run and on 3 nodes, tree and flat: the exact
// answer every time, the same bytes, no task reading more than the fan-in
// (the status says what each read), and on the cluster the reduce reading
// one output per node.
func TestReduceTreeSumSquares(t *testing.T) {
	const want = "sum_of_squares\t2666668666667000000\n" // n(n+1)(2n+1)/6
	numbers := sumSquaresInput(t, 2000000)               // 14.9 MB
	module := testwasm.Path(t, "sumsquares")
	split := []string{"--block-size", "7500"}

	// wmr run: the tree (default fan-in 16) and the flat path.
	tree := filepath.Join(t.TempDir(), "tree")
	r := wmr(t, append([]string{"run", "--json", "--wasm", module, "--input", numbers, "--output", tree}, split...)...)
	var sum struct {
		Maps, Combines int
		TreeLevels     int   `json:"tree_levels"`
		ShuffleBytes   int64 `json:"shuffle_bytes"`
		ReduceBytesIn  int64 `json:"reduce_bytes_in"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); r.code != 0 || err != nil {
		t.Fatalf("wmr run: exit %d %v: %s", r.code, err, r.stderr)
	}
	if c, l := treeShape(sum.Maps, 16); sum.Maps < 1900 || sum.Combines != c || sum.TreeLevels != l || sum.ReduceBytesIn*100 > sum.ShuffleBytes {
		t.Errorf("summary %+v: want ~2,000 maps, %d combines in %d levels, and the reduce reading a fraction of the shuffle", sum, c, l)
	}
	got, _ := os.ReadFile(filepath.Join(tree, "part-r-00000"))
	if string(got) != want {
		t.Fatalf("wmr run with the tree: %q, want %q", got, want)
	}
	if flat := runWith(t, append([]string{"--fan-in", "0"}, split...), module, numbers, 1); flat != want {
		t.Fatalf("wmr run without the tree: %q, want %q", flat, want)
	}

	// The cluster.
	ns := cluster(t, 3)
	if r := wmr(t, "put", "--node", "http://"+ns[0].http, "--dataset", "numbers", "--block-size", "7500", numbers); r.code != 0 {
		t.Fatalf("put: %s", r.stderr)
	}
	for _, fanIn := range []string{"16", "0"} {
		out := "sums-" + fanIn
		r := wmr(t, "submit", "--node", "http://"+ns[1].http, "--wasm", module, "--input", "numbers", "--output", out, "--fan-in", fanIn, "--wait", "--json")
		var st nodes.JobStatus
		if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || st.State != "succeeded" {
			t.Fatalf("submit --fan-in %s: exit %d %v: %s %s", fanIn, r.code, err, st.Error, r.stderr)
		}
		if got, err := catString(t, ns[2].client(), out); err != nil || got != want {
			t.Fatalf("cluster, --fan-in %s: %q %v, want %q", fanIn, got, err, want)
		}
		if fanIn == "0" {
			if st.Combines != 0 {
				t.Errorf("--fan-in 0 ran %d combines", st.Combines)
			}
			continue
		}
		if st.Combines < st.Maps/16 || len(st.Tree) < 2 {
			t.Errorf("tree %+v (%d combines over %d maps)", st.Tree, st.Combines, st.Maps)
		}
		for _, l := range st.Tree {
			if l.MaxInputs > 16 {
				t.Errorf("level %d: a task read %d outputs", l.Level, l.MaxInputs)
			}
		}
		nodesUsed := map[string]bool{}
		for _, a := range st.Attempts {
			if a.Inputs > 16 {
				t.Errorf("%s read %d outputs, more than the fan-in", a.Task, a.Inputs)
			}
			// Each node's maps are combined down to one output: the
			// reduce reads one per node.
			if a.Kind == "reduce" && a.Inputs > len(ns) {
				t.Errorf("the reduce read %d outputs, more than one per node", a.Inputs)
			}
			if a.Kind == "combine" && a.Outcome == "succeeded" {
				nodesUsed[a.Node] = true
			}
			if a.Outcome == "succeeded" && (a.PeakRSS < 1<<20 || a.PeakRSS > 4<<30) {
				t.Errorf("%s's worker peaked at %d bytes: not a measurement", a.Task, a.PeakRSS)
			}
		}
		if len(nodesUsed) < 2 {
			t.Errorf("the combines ran on %d nodes, want them spread", len(nodesUsed))
		}
		// wmr status shows the levels.
		line := fmt.Sprintf("reduce tree level 1: %d/%d combine tasks done, each reading at most 16 outputs", st.Tree[0].Tasks, st.Tree[0].Tasks)
		if r := wmr(t, "status", st.ID, "--node", "http://"+ns[0].http); !strings.Contains(r.stdout, line) {
			t.Errorf("status does not show the tree:\n%s", r.stdout)
		}
	}
}

// Word count over many small splits on 3 nodes: the same bytes with and
// without the tree, and the reduces read less with it (status says so).
func TestReduceTreeWordCountReadsLess(t *testing.T) {
	ns := cluster(t, 3)
	_, paths := putCorpus(t, ns[0], "books", 2, 3, 120<<10)
	var outs []string
	var read []int64
	for _, fanIn := range []string{"3", "0"} {
		out := "counts-" + fanIn
		r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "wordcount"), "--input", "books", "--output", out,
			"--reducers", "2", "--fan-in", fanIn, "--wait", "--json")
		var st nodes.JobStatus
		if err := json.Unmarshal([]byte(r.stdout), &st); r.code != 0 || err != nil || st.State != "succeeded" {
			t.Fatalf("submit --fan-in %s: exit %d %v: %s %s", fanIn, r.code, err, st.Error, r.stderr)
		}
		if (st.Combines > 0) != (fanIn != "0") || st.Maps < 10 {
			t.Fatalf("--fan-in %s: %d combines over %d maps", fanIn, st.Combines, st.Maps)
		}
		got, err := catString(t, ns[1].client(), out)
		if err != nil {
			t.Fatal(err)
		}
		outs, read = append(outs, got), append(read, st.ReduceBytesIn)
		if fanIn == "0" && st.ReduceBytesIn != st.ShuffleBytes {
			t.Errorf("without the tree the reduces read %d bytes of the maps' %d", st.ReduceBytesIn, st.ShuffleBytes)
		}
	}
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(outs[0]), want); d != "" {
		t.Fatalf("word count with the tree differs from the reference:\n%s", d)
	}
	if outs[0] != outs[1] {
		t.Fatal("word count with the tree is not byte-identical to without")
	}
	if read[0]*3 > read[1]*2 {
		t.Errorf("the reduces read %d bytes with the tree, %d without: want at most two thirds", read[0], read[1])
	}
	t.Logf("the reduces read %d bytes with the tree, %d without", read[0], read[1])
}

// treeShape is how many combine tasks, in how many levels, a tree of
// fan-in k builds over n maps: groups of k, a lone output at a level's end
// going up as it is, until at most k remain.
func treeShape(n, k int) (combines, levels int) {
	for ; n > k; levels++ {
		combines += n / k
		if n%k > 1 {
			combines++
		}
		n = (n + k - 1) / k
	}
	return combines, levels
}

// Every example's output is byte-identical with and without the reduce
// tree (a fan-in of 2 over some 20 splits: four levels), in every language
// it is written in; those without a combiner get no tree at all.
func TestEveryExampleSameWithAndWithoutTree(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text")
	os.Mkdir(text, 0o755)
	if _, err := jobtest.WriteCorpus(text, 4, 150<<10, 100<<10, 5); err != nil {
		t.Fatal(err)
	}
	var nums, years strings.Builder
	for i := -3000; i <= 60000; i++ {
		fmt.Fprintf(&nums, "%d\n", i)
		fmt.Fprintf(&years, "%d\n", 1900+i%120)
	}
	numbers, yearsFile := filepath.Join(dir, "numbers.txt"), filepath.Join(dir, "years.txt")
	os.WriteFile(numbers, []byte(nums.String()), 0o644)
	os.WriteFile(yearsFile, []byte(years.String()), 0o644)
	for _, c := range []struct {
		example string
		langs   []string
		input   string
		extra   []string
	}{
		{"wordcount", []string{"go", "rust", "c", "as"}, text, nil},
		{"indexer", []string{"go", "rust", "c"}, text, nil},
		{"grep", []string{"go", "rust", "c"}, text, []string{"--param", "pattern=[Tt]he|caf."}},
		{"sumsquares", []string{"go", "wat"}, numbers, nil},
		{"evenyears", []string{"go"}, yearsFile, nil},
		{"sort", []string{"go", "rust"}, text, []string{"--partitioner", "range"}},
	} {
		for _, lang := range c.langs {
			t.Run(c.example+"-"+lang, func(t *testing.T) {
				module := testwasm.Lang(t, c.example, lang)
				var outs []string
				var combines []int
				for _, fanIn := range []string{"2", "0"} {
					out := filepath.Join(t.TempDir(), "out")
					args := append([]string{"run", "--json", "--wasm", module, "--input", c.input, "--output", out, "--reducers", "2",
						"--block-size", "32KiB", "--fan-in", fanIn, "--output-format", "kv"}, c.extra...)
					r := wmr(t, args...)
					var sum struct{ Maps, Combines int }
					if err := json.Unmarshal([]byte(r.stdout), &sum); r.code != 0 || err != nil {
						t.Fatalf("--fan-in %s: exit %d %v: %s", fanIn, r.code, err, r.stderr)
					}
					if sum.Maps < 10 {
						t.Fatalf("%d maps: want many", sum.Maps)
					}
					var b strings.Builder
					for p := range 2 {
						data, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
						if err != nil {
							t.Fatal(err)
						}
						b.Write(data)
					}
					outs, combines = append(outs, b.String()), append(combines, sum.Combines)
				}
				if outs[0] != outs[1] {
					t.Fatalf("the output with the tree (%d combines) differs from without", combines[0])
				}
				if len(outs[0]) < 10 {
					t.Fatalf("output of %d bytes", len(outs[0]))
				}
				t.Logf("%d combines with the tree", combines[0])
			})
		}
	}
}

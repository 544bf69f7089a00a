package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/engine/worker"
	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

var cacheDir string

// TestMain doubles as the worker process: the engine re-executes the test
// binary with WMR_WORKER=1.
func TestMain(m *testing.M) {
	if worker.IsWorker() {
		os.Exit(worker.Main())
	}
	dir, err := os.MkdirTemp("", "wmr-engine-test-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	cfg.CacheDir = cacheDir
	if cfg.Parallelism == 0 {
		cfg.Parallelism = 2
	}
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func corpus(t *testing.T, files, size, longLine int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	paths, err := jobtest.WriteCorpus(dir, files, size, longLine, 42)
	if err != nil {
		t.Fatal(err)
	}
	return dir, paths
}

func run(t *testing.T, e *Engine, job Job) (*Summary, map[string]string, []byte) {
	t.Helper()
	if job.Output == "" {
		job.Output = filepath.Join(t.TempDir(), "out")
	}
	sum, err := e.Run(context.Background(), job, nil)
	if err != nil {
		t.Fatal(err)
	}
	if job.Reducers == 0 {
		job.Reducers = 1
	}
	got, raw, err := jobtest.ReadOutput(job.Output, job.Reducers)
	if err != nil {
		t.Fatal(err)
	}
	return sum, got, raw
}

func TestWordCountGrepIndexerMatchReference(t *testing.T) {
	dir, paths := corpus(t, 5, 300<<10, 256<<10)
	// A small block size makes several splits per file, so lines cross
	// split boundaries.
	e := newEngine(t, Config{BlockSize: 100 << 10})
	cases := []struct {
		example string
		params  map[string]string
		want    func() (map[string]string, error)
	}{
		{"wordcount", nil, func() (map[string]string, error) { return jobtest.WordCount(paths) }},
		{"grep", map[string]string{"pattern": `[Tt]he|na\S+e|мир|\d+\.\d+`}, func() (map[string]string, error) {
			return jobtest.Grep(paths, `[Tt]he|na\S+e|мир|\d+\.\d+`)
		}},
		{"indexer", nil, func() (map[string]string, error) { return jobtest.Index(paths) }},
	}
	for _, c := range cases {
		t.Run(c.example, func(t *testing.T) {
			want, err := c.want()
			if err != nil {
				t.Fatal(err)
			}
			sum, got, _ := run(t, e, Job{Module: testwasm.Path(t, c.example), Inputs: []string{dir}, Reducers: 3, Params: c.params})
			if d := jobtest.Diff(got, want); d != "" {
				t.Fatalf("output differs from the reference:\n%s", d)
			}
			if sum.Maps < 10 {
				t.Errorf("only %d map tasks; the block size should have cut more splits", sum.Maps)
			}
		})
	}
}

func TestSumSquaresAndEvenYears(t *testing.T) {
	e := newEngine(t, Config{})
	dir := t.TempDir()
	var nums, years bytes.Buffer
	for i := 0; i <= 10; i++ {
		fmt.Fprintln(&nums, i)
	}
	even := 0
	for y := 1932; y <= 2024; y++ {
		fmt.Fprintln(&years, y)
		if y%2 == 0 {
			even++
		}
	}
	os.WriteFile(filepath.Join(dir, "nums.txt"), nums.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "years.txt"), years.Bytes(), 0o644)
	_, got, raw := run(t, e, Job{Module: testwasm.Path(t, "sumsquares"), Inputs: []string{filepath.Join(dir, "nums.txt")}})
	if string(raw) != "sum_of_squares\t385\n" {
		t.Fatalf("sumsquares of 0..10: %q (%v)", raw, got)
	}
	sum, _, raw := run(t, e, Job{Module: testwasm.Path(t, "evenyears"), Inputs: []string{filepath.Join(dir, "years.txt")}})
	if want := fmt.Sprintf("even_years\t%d\n", even); string(raw) != want {
		t.Fatalf("evenyears: %q, want %q", raw, want)
	}
	if sum.Counters["odd_years"] != int64(2024-1932+1-even) {
		t.Fatalf("odd_years counter = %d", sum.Counters["odd_years"])
	}
}

// A tiny memory budget forces many spills; the output must be
// byte-identical to the in-memory run.
func TestSpillPathMatchesInMemory(t *testing.T) {
	dir, _ := corpus(t, 2, 400<<10, 0)
	big := newEngine(t, Config{})
	_, want, wantRaw := run(t, big, Job{Module: testwasm.Path(t, "wordcount"), Inputs: []string{dir}, Reducers: 2})
	small := newEngine(t, Config{MemoryBudget: 64 << 10})
	// A tiny table in the module too, so that most pairs reach the host.
	sum, got, raw := run(t, small, Job{Module: testwasm.Path(t, "wordcount"), Inputs: []string{dir}, Reducers: 2,
		Params: map[string]string{"wmr.combine_bytes": "300"}})
	if sum.Spills < 10 {
		t.Fatalf("only %d spills with a 64 KiB budget", sum.Spills)
	}
	if !bytes.Equal(raw, wantRaw) {
		t.Fatalf("spilled output differs:\n%s", jobtest.Diff(got, want))
	}
}

// A key with millions of values reduces within a small guest memory cap:
// values stream across calls.
func TestKeyWithMillionsOfValues(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2M lines")
	}
	dir := t.TempDir()
	const n = 2_000_000
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		b.WriteString("value\n")
	}
	os.WriteFile(filepath.Join(dir, "v.txt"), b.Bytes(), 0o644)
	e := newEngine(t, Config{TaskMemory: 32 << 20})
	_, _, raw := run(t, e, Job{Module: testwasm.Path(t, "testing/manyvalues"), Inputs: []string{dir}})
	if want := fmt.Sprintf("k\t%d %d\n", n, 5*n); string(raw) != want {
		t.Fatalf("got %q, want %q", raw, want)
	}
}

func TestHostileModulesFailClearly(t *testing.T) {
	dir, _ := corpus(t, 1, 10<<10, 0)
	// Only the loop needs a short time limit; the others must hit their
	// own limit first even on a loaded machine under -race.
	limited := newEngine(t, Config{TaskTimeout: 3 * time.Second, TaskMemory: 64 << 20, MaxTaskOutput: 32 << 20, MaxAttempts: 2})
	e := newEngine(t, Config{TaskTimeout: time.Minute, TaskMemory: 64 << 20, MaxTaskOutput: 32 << 20, MaxAttempts: 2})
	cases := []struct {
		example string
		is      error
		text    string
	}{
		{"hostile/loop", worker.ErrTimeLimit, "exceeded the task time limit of 3s"},
		{"hostile/membomb", wasmhost.ErrMemoryLimit, "exceeded its 64 MiB memory limit"},
		{"hostile/trap", wasmhost.ErrTrap, "out of bounds memory access"},
		{"hostile/malformed", wasmhost.ErrMalformedOutput, "malformed batch"},
		{"hostile/flood", wasmhost.ErrOutputLimit, "output limit of 32 MiB"},
	}
	for _, c := range cases {
		t.Run(c.example, func(t *testing.T) {
			start := time.Now()
			e := e
			if c.is == worker.ErrTimeLimit {
				e = limited
			}
			_, err := e.Run(context.Background(), Job{Module: testwasm.Path(t, c.example), Inputs: []string{dir},
				Output: filepath.Join(t.TempDir(), "out")}, nil)
			if err == nil {
				t.Fatal("job succeeded")
			}
			t.Log(err)
			if !errors.Is(err, ErrTaskFailed) || !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error %q: want %v containing %q", err, c.is, c.text)
			}
			name := strings.ReplaceAll(c.example, "/", "-") + "-go.wasm"
			if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "map task m-00000") {
				t.Fatalf("error does not name the module %s and the task: %v", name, err)
			}
			// Two attempts, each stopped near its limit. The bound is loose
			// (worker start-up under -race is slow); it catches a module
			// that was never stopped, not slowness.
			if el := time.Since(start); el > 2*(e.Config().TaskTimeout+30*time.Second) {
				t.Fatalf("took %v", el)
			}
		})
	}
	// The engines are still healthy: following jobs succeed.
	run(t, limited, Job{Module: testwasm.Path(t, "wordcount"), Inputs: []string{dir}})
	_, got, _ := run(t, e, Job{Module: testwasm.Path(t, "wordcount"), Inputs: []string{dir}})
	if len(got) == 0 {
		t.Fatal("no output after hostile jobs")
	}
}

func TestModuleErrorNamesRecord(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "years.txt"), []byte("2000\n2001\nMCMXCIX\n"), 0o644)
	e := newEngine(t, Config{MaxAttempts: 2})
	_, err := e.Run(context.Background(), Job{Module: testwasm.Path(t, "evenyears"), Inputs: []string{dir}, Output: filepath.Join(t.TempDir(), "o")}, nil)
	if err == nil || !strings.Contains(err.Error(), "failed on all 2 attempts") ||
		!strings.Contains(err.Error(), "line at byte 10 of") || !strings.Contains(err.Error(), `line is not a year: "MCMXCIX" is not an integer`) {
		t.Fatalf("got %v", err)
	}
}

func TestOutputDirectoryRules(t *testing.T) {
	dir, _ := corpus(t, 1, 1<<10, 0)
	e := newEngine(t, Config{})
	out := filepath.Join(t.TempDir(), "out")
	job := Job{Module: testwasm.Path(t, "wordcount"), Inputs: []string{dir}, Output: out, Reducers: 2}
	if _, err := e.Run(context.Background(), job, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background(), job, nil); !errors.Is(err, ErrOutputExists) {
		t.Fatalf("second run into the same output: %v", err)
	}
	job.Overwrite = true
	job.Reducers = 1
	if _, err := e.Run(context.Background(), job, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := jobtest.ReadOutput(out, 1); err != nil {
		t.Fatalf("after overwrite: %v", err)
	}
	os.WriteFile(filepath.Join(out, "precious.txt"), []byte("x"), 0o644)
	if _, err := e.Run(context.Background(), job, nil); !errors.Is(err, ErrOutputExists) || !strings.Contains(err.Error(), "precious.txt") {
		t.Fatalf("overwrite over foreign files: %v", err)
	}
}

func TestInProcessMatchesWorkers(t *testing.T) {
	dir, _ := corpus(t, 2, 100<<10, 0)
	_, _, want := run(t, newEngine(t, Config{}), Job{Module: testwasm.Path(t, "wordcount"), Inputs: []string{dir}, Reducers: 2})
	_, _, got := run(t, newEngine(t, Config{InProcess: true}), Job{Module: testwasm.Path(t, "wordcount"), Inputs: []string{dir}, Reducers: 2})
	if !bytes.Equal(got, want) {
		t.Fatal("in-process output differs from worker output")
	}
}

// Modules get no files, no environment, a fake clock and deterministic
// randomness: two runs give the same bytes.
func TestSandboxIsClosedAndDeterministic(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.txt")
	os.WriteFile(secret, []byte(secret+"\n"), 0o644)
	e := newEngine(t, Config{})
	_, got, raw1 := run(t, e, Job{Module: testwasm.Path(t, "testing/sandbox"), Inputs: []string{secret}})
	_, _, raw2 := run(t, e, Job{Module: testwasm.Path(t, "testing/sandbox"), Inputs: []string{secret}})
	if !bytes.Equal(raw1, raw2) {
		t.Fatalf("two runs differ:\n%s\n%s", raw1, raw2)
	}
	if got["read_file_error"] != "true" || got["read_dir_error"] != "true" || got["env"] != "0:" {
		t.Fatalf("the module reached the host: %v", got)
	}
	if got["year"] == fmt.Sprint(time.Now().Year()) {
		t.Fatalf("the module sees the real clock: %v", got)
	}
}

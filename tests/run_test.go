package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

func corpus(t *testing.T) (string, []string) {
	dir := t.TempDir()
	paths, err := jobtest.WriteCorpus(dir, 4, 200<<10, 100<<10, 7)
	if err != nil {
		t.Fatal(err)
	}
	return dir, paths
}

// The command line: wordcount over a directory with 4 reducers.
func TestRunWordCountCLI(t *testing.T) {
	dir, paths := corpus(t)
	out := filepath.Join(t.TempDir(), "out")
	r := wmr(t, "run", "--wasm", testwasm.Path(t, "wordcount"), "--input", dir, "--output", out, "--reducers", "4", "--block-size", "64KiB")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"succeeded", "records", "map tasks", "MB/s"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	got, raw, err := jobtest.ReadOutput(out, 4)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(got, want); d != "" {
		t.Fatalf("output differs:\n%s", d)
	}

	// Inputs as repeated globs give the same bytes; the full output
	// directory must be refused, then replaced with --overwrite.
	r = wmr(t, "run", "--wasm", testwasm.Path(t, "wordcount"), "--input", filepath.Join(dir, "doc00[01].txt"),
		"--input", filepath.Join(dir, "doc00[23].txt"), "--output", out, "--reducers", "4", "-q")
	if r.code != 1 || !strings.Contains(r.stderr, "pass --overwrite") {
		t.Fatalf("rerun into a full output: exit %d: %s", r.code, r.stderr)
	}
	r = wmr(t, "run", "--wasm", testwasm.Path(t, "wordcount"), "--input", filepath.Join(dir, "doc00[01].txt"),
		"--input", filepath.Join(dir, "doc00[23].txt"), "--output", out, "--reducers", "4", "-q", "--overwrite")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("overwrite: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	_, raw2, err := jobtest.ReadOutput(out, 4)
	if err != nil || !bytes.Equal(raw, raw2) {
		t.Fatalf("globbed inputs gave different output (%v)", err)
	}
}

func TestRunGrepWithParam(t *testing.T) {
	dir, paths := corpus(t)
	out := filepath.Join(t.TempDir(), "out")
	pattern := `\p{Greek}+|caf.`
	r := wmr(t, "run", "--wasm", testwasm.Path(t, "grep"), "--input", dir, "--output", out, "--param", "pattern="+pattern, "-q")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	got, _, err := jobtest.ReadOutput(out, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jobtest.Grep(paths, pattern)
	if d := jobtest.Diff(got, want); d != "" {
		t.Fatalf("output differs:\n%s", d)
	}
	// Without the parameter the module's own error reaches the user.
	r = wmr(t, "run", "--wasm", testwasm.Path(t, "grep"), "--input", dir, "--output", filepath.Join(t.TempDir(), "o"), "--attempts", "1")
	if r.code != 1 || !strings.Contains(r.stderr, "grep needs --param pattern=REGEX") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}

// Errors are one clear line for people: no stack traces, right exit codes.
func TestRunErrors(t *testing.T) {
	dir, _ := corpus(t)
	tmp := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := []string{"wmr_abi_version", "wmr_alloc", "wmr_init", "wmr_map", "wmr_reduce"}
	v2 := write("v2.wasm", testwasm.Minimal(map[string]int32{"wmr_abi_version": 2, "wmr_alloc": 1024}, all...))
	noMap := write("nomap.wasm", testwasm.Minimal(map[string]int32{"wmr_abi_version": 1}, "wmr_abi_version", "wmr_alloc", "wmr_init", "wmr_reduce"))
	junk := write("junk.wasm", []byte("this is not wasm"))
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"wrong ABI version", []string{"--wasm", v2, "--input", dir}, 1, "module v2.wasm was built for wmr ABI v2; this wmr implements ABI v1"},
		{"missing export", []string{"--wasm", noMap, "--input", dir}, 1, "nomap.wasm does not export wmr_map (i32, i32) -> (i32)"},
		{"not wasm", []string{"--wasm", junk, "--input", dir}, 1, "junk.wasm is not a WebAssembly module"},
		{"missing module", []string{"--wasm", filepath.Join(tmp, "none.wasm"), "--input", dir}, 1, "none.wasm: no such file"},
		{"missing input", []string{"--wasm", testwasm.Path(t, "wordcount"), "--input", filepath.Join(tmp, "nothing")}, 1, "nothing: no such file"},
		{"empty glob", []string{"--wasm", testwasm.Path(t, "wordcount"), "--input", filepath.Join(tmp, "*.none")}, 1, "matches no files"},
		{"bad flag", []string{"--wasm", "x", "--input", dir, "--reducers", "many"}, 2, "invalid argument"},
		{"bad size", []string{"--wasm", "x", "--input", dir, "--memory", "lots"}, 2, `"lots" is not a size`},
		{"bad param", []string{"--wasm", "x", "--input", dir, "--param", "novalue"}, 2, "want key=value"},
		{"missing flag", []string{"--input", dir}, 2, `required flag(s) "wasm" not set`},
		{"extra argument", []string{"--wasm", "x", "--input", dir, "stray"}, 2, `unknown command "stray"`},
		{"bad input format", []string{"--wasm", "x", "--input", dir, "--input-format", "csv"}, 2, `unknown input format "csv"`},
		{"bad output format", []string{"--wasm", "x", "--input", dir, "--output-format", "parquet"}, 2, `unknown output format "parquet"`},
		{"WASI command", []string{"--wasm", write("cmd.wasm", testwasm.Minimal(map[string]int32{"_start": 0}, "_start")), "--input", dir}, 1, "-buildmode=c-shared"},
		{"hostile loop", []string{"--wasm", testwasm.Path(t, "hostile/loop"), "--input", dir, "--task-timeout", "2s", "--attempts", "1"}, 1,
			"exceeded the task time limit of 2s"},
		{"hostile trap", []string{"--wasm", testwasm.Path(t, "hostile/trap"), "--input", dir, "--attempts", "1"}, 1,
			"module hostile-trap-go.wasm trapped: wasm error: out of bounds memory access"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--output", filepath.Join(t.TempDir(), "out"), "-q"}, c.args...)
			r := wmr(t, args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nwant it to contain %q", r.code, c.code, r.stderr, c.want)
			}
			if strings.Contains(r.stderr, "goroutine ") || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Fatalf("error is not one clean line:\n%s", r.stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := wmr(t, "version")
	if r.code != 0 || !strings.Contains(r.stdout, "ABI v1") {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}

// --json on run prints the summary as one JSON object a script reads.
func TestRunJSON(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "in.txt"), []byte("the cat\nthe dog\n"), 0o644)
	out := filepath.Join(t.TempDir(), "out")
	r := wmr(t, "run", "--json", "--wasm", testwasm.Path(t, "wordcount"), "--input", dir, "--output", out, "--reducers", "2")
	var s struct {
		RecordsIn  int64    `json:"records_in"`
		RecordsOut int64    `json:"records_out"`
		Outputs    []string `json:"outputs"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &s) != nil || s.RecordsIn != 2 || s.RecordsOut != 3 || len(s.Outputs) != 2 {
		t.Fatalf("exit %d: %q %+v", r.code, r.stdout, s)
	}
}

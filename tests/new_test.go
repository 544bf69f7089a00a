package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// wmr new writes a project, in each language, that builds outside the
// repository and offline to a module that passes wmr check, whose own
// test passes, and that runs; it refuses a directory that is not empty.
func TestNewProject(t *testing.T) {
	root, err := testwasm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"go", "rust", "c", "as"} {
		t.Run(lang, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "my-job")
			r := wmr(t, "new", "--lang", lang, dir)
			if r.code != 0 || !strings.Contains(r.stdout, "my_job") {
				t.Fatalf("wmr new: exit %d: %s %s", r.code, r.stdout, r.stderr)
			}
			for _, f := range []string{"Makefile", "README.md", "sample.txt"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
			env := append(os.Environ(), "WMR="+plainBin, "GOPROXY=off", "GOFLAGS=", // no download
				"ASC="+filepath.Join(root, "sdk/assemblyscript/node_modules/.bin/asc"))
			for _, target := range []string{"test", "build", "check", "run"} {
				cmd := exec.Command("make", "-s", target)
				cmd.Dir, cmd.Env = dir, env
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("make %s in a new %s project: %v\n%s", target, lang, err, out)
				}
				if target == "check" && !strings.Contains(string(out), "0 failed") {
					t.Fatalf("wmr check of the new %s project's module:\n%s", lang, out)
				}
				if target == "run" && !strings.Contains(string(out), "age\t2\n") {
					t.Fatalf("the new %s project's job gave:\n%s", lang, out)
				}
			}
		})
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if r := wmr(t, "new", "--lang", "go", dir); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("wmr new into a directory that is not empty: exit %d %s", r.code, r.stderr)
	}
	if r := wmr(t, "new", "--lang", "cobol", filepath.Join(t.TempDir(), "p")); r.code != 2 || !strings.Contains(r.stderr, "--lang must be go, rust, c or as") {
		t.Fatalf("wmr new --lang cobol: exit %d %s", r.code, r.stderr)
	}
}

// make release puts the binary and every SDK as a package of its
// ecosystem in build/release, and a Go job builds against the released
// Go SDK with a replace line, offline.
func TestRelease(t *testing.T) {
	root, err := testwasm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("make", "-s", "release")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	rel := filepath.Join(root, "build", "release")
	for _, f := range []string{"wmr", "wmr-sdk-0.1.0.tgz", "go/abi/go.mod", "go/sdk/go.mod", "go/sdk/go/wmr.go", "go/abi/codec.go", "rust/Cargo.toml", "rust/src/lib.rs", "c/wmr.h", "c/wmr.c"} {
		if _, err := os.Stat(filepath.Join(rel, f)); err != nil {
			t.Fatalf("the release lacks %s: %v", f, err)
		}
	}
	dir := t.TempDir()
	src, _ := os.ReadFile(filepath.Join(root, "examples-wasm", "wordcount", "go", "main.go"))
	os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module job\n\ngo 1.26\n"), 0o644)
	// The SDK and abi modules depend on nothing, so this needs no go.sum
	// and no download (GOPROXY=off).
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=")
	for _, args := range [][]string{
		{"go", "mod", "edit", "-replace", "github.com/wmr-dev/wmr/abi=" + filepath.Join(rel, "go", "abi"),
			"-replace", "github.com/wmr-dev/wmr/sdk=" + filepath.Join(rel, "go", "sdk")},
		{"go", "get", "github.com/wmr-dev/wmr/sdk/go"},
		{"go", "build", "-buildmode=c-shared", "-o", "job.wasm", "."},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir, cmd.Env = dir, append(env, "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	if r := wmr(t, "check", "--wasm", filepath.Join(dir, "job.wasm")); r.code != 0 {
		t.Fatalf("wmr check of a job built against the release: %s", r.stdout+r.stderr)
	}
}

// Package testwasm builds the example modules in examples-wasm/ for tests,
// so go test works on a clean checkout without a prior make examples. It
// builds into build/examples/ (the same place make examples does), once
// per module per test process; Go's build cache makes repeats cheap.
package testwasm

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
)

// RepoRoot returns the directory holding the wmr go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/wmr-dev/wmr\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no wmr go.mod above the working directory")
		}
		dir = parent
	}
}

// Path returns the path of the built module for an example: "wordcount"
// (examples-wasm/wordcount/go), "hostile/loop" or "testing/manyvalues".
// It fails the test if the
// build fails.
func Path(t testing.TB, example string) string {
	t.Helper()
	p, err := Build(example)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Build is Path without a testing.TB.
func Build(example string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[example]; ok {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	pkg, out := "./"+example+"/go", example+"-go.wasm"
	if dir, name, ok := strings.Cut(example, "/"); ok {
		pkg, out = "./"+example, dir+"-"+name+"-go.wasm"
	}
	outPath := filepath.Join(root, "build", "examples", out)
	if err := os.MkdirAll(filepath.Dir(outPath), 0o755); err != nil {
		return "", err
	}
	// Build beside the target and rename: test binaries of several
	// packages build the same examples at once, and one must never read
	// a module another is still writing.
	tmp := fmt.Sprintf("%s.%d.tmp", outPath, os.Getpid())
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = filepath.Join(root, "examples-wasm")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build example %s: %v\n%s", example, err, b)
	}
	if err := os.Rename(tmp, outPath); err != nil {
		os.Remove(tmp)
		return "", err
	}
	built[example] = outPath
	return outPath, nil
}

// Lang returns the path of an example built in one guest language: "go",
// "rust", "c", "as" or "wat", e.g. Lang(t, "wordcount", "rust") is
// build/examples/wordcount-rust.wasm. Non-Go modules are built through the
// Makefile's rules, so the toolchains must be installed (make toolchains,
// which make test runs first).
func Lang(t testing.TB, example, lang string) string {
	t.Helper()
	if lang == "go" {
		return Path(t, example)
	}
	p, err := BuildLang(example, lang)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BuildLang is Lang without a testing.TB.
func BuildLang(example, lang string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	id := example + "-" + lang
	if p, ok := built[id]; ok {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	target := filepath.Join("build", "examples", id+".wasm")
	cmd := exec.Command("make", "-s", target)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s (are the guest toolchains installed? run make toolchains): %v\n%s", target, err, b)
	}
	built[id] = filepath.Join(root, target)
	return built[id], nil
}

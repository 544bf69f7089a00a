package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A test binary's exit code and output come through, its working
// directory is the caller's, and a call to a wmr host function ends the
// run with the function's name.
func TestRunPassesExitCodeAndStopsAtHostCalls(t *testing.T) {
	dir := t.TempDir()
	src := `package main

import (
	"fmt"
	"os"
)

//go:wasmimport wmr emit
func hostEmit(ptr uint32, size int32)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "emit" {
		hostEmit(0, 0)
	}
	wd, _ := os.Getwd()
	b, err := os.ReadFile("marker.txt")
	fmt.Printf("wd=%s marker=%s err=%v\n", wd, b, err)
	os.Exit(3)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probe\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "marker.txt"), []byte("here"), 0o644); err != nil {
		t.Fatal(err)
	}
	wasm := filepath.Join(dir, "probe.wasm")
	build := exec.Command("go", "build", "-o", wasm, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the probe: %v\n%s", err, out)
	}
	t.Chdir(dir)

	out, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = out
	code, err := run(context.Background(), wasm, nil)
	os.Stdout = saved
	if err != nil || code != 3 {
		t.Fatalf("run = %d, %v; want exit code 3", code, err)
	}
	got, _ := os.ReadFile(out.Name())
	if want := "wd=" + dir + " marker=here err=<nil>"; !strings.Contains(string(got), want) {
		t.Fatalf("output %q, want %q", got, want)
	}

	if _, err := run(context.Background(), wasm, []string{"emit"}); err == nil || !strings.Contains(err.Error(), "wmr.emit") {
		t.Fatalf("a call to wmr.emit: %v, want an error naming it", err)
	}
}

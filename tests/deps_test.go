package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// Dependencies point one way: cmd -> nodes -> engine -> abi; sdk -> abi.
// Only engine/wasmhost imports wazero (and internal/wasiexec, which runs
// the Go SDK's tests inside WebAssembly); abi imports only the standard
// library; the SDKs import only abi; nothing imports tests/ or examples-wasm/.
// isABI says whether a package is abi or one of its own (abi/kv).
func isABI(pkg string) bool { return pkg == "abi" || strings.HasPrefix(pkg, "abi/") }

// requiresHost matches a go.mod line that requires the host module.
var requiresHost = regexp.MustCompile(`(?m)^\s*(require\s+)?github\.com/wmr-dev/wmr\s+v`)

func TestDependencyRules(t *testing.T) {
	root, err := testwasm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// abi and sdk are modules of their own: the rules cover them too, and
	// neither may require the host module (a job builds with them alone).
	var out []byte
	for _, dir := range []string{".", "abi", "sdk"} {
		cmd := exec.Command("go", "list", "-json", "./...")
		cmd.Dir = filepath.Join(root, dir)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list in %s: %v", dir, err)
		}
		out = append(out, b...)
		if dir == "." {
			continue
		}
		mod, err := os.ReadFile(filepath.Join(root, dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		if requiresHost.Match(mod) {
			t.Errorf("%s/go.mod requires the host module github.com/wmr-dev/wmr", dir)
		}
		if dir == "abi" && strings.Contains(string(mod), "require") {
			t.Errorf("abi/go.mod requires a module; abi uses only the standard library")
		}
	}
	const mod = "github.com/wmr-dev/wmr"
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		for _, imp := range p.Imports {
			own := strings.HasPrefix(imp, mod+"/")
			dep := strings.TrimPrefix(imp, mod+"/")
			std := !strings.Contains(strings.Split(imp, "/")[0], ".")
			switch {
			case strings.HasPrefix(imp, "github.com/tetratelabs/wazero") && pkg != "engine/wasmhost" && pkg != "internal/wasiexec":
				// internal/wasiexec runs the Go SDK's test binaries (WASI
				// commands, not wmr modules) under the same runtime.
				t.Errorf("%s imports wazero; only engine/wasmhost (and the test tool internal/wasiexec) may", pkg)
			case strings.HasPrefix(imp, "github.com/hashicorp/memberlist") && !strings.HasPrefix(pkg, "nodes"):
				t.Errorf("%s imports memberlist; only nodes/ may", pkg)
			case pkg == "abi" && !std:
				t.Errorf("abi imports %s; it may use only the standard library", imp)
			case strings.HasPrefix(pkg, "abi/") && !std:
				t.Errorf("%s imports %s; abi's packages for users' tools use only the standard library", pkg, imp)
			case (pkg == "sdk" || strings.HasPrefix(pkg, "sdk/")) && !std && !(own && isABI(dep)):
				t.Errorf("%s imports %s; SDKs may import only abi", pkg, dep)
			case strings.HasPrefix(pkg, "engine") && own && !(isABI(dep) || strings.HasPrefix(dep, "engine") || (strings.HasPrefix(dep, "internal/") && strings.HasSuffix(p.ImportPath, "_test"))):
				t.Errorf("%s imports %s; engine may import only engine/... and abi", pkg, dep)
			case strings.HasPrefix(pkg, "nodes") && own && (strings.HasPrefix(dep, "cmd") || strings.HasPrefix(dep, "internal/cli")):
				t.Errorf("%s imports %s; dependencies point from cmd to nodes, not back", pkg, dep)
			case own && (strings.HasPrefix(dep, "tests") || strings.HasPrefix(dep, "examples-wasm")):
				t.Errorf("%s imports %s; nothing may import tests/ or examples-wasm/", pkg, dep)
			}
		}
	}
}

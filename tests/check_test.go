package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// wmr check passes on every example module, in every language.
func TestCheckPassesOnEveryExample(t *testing.T) {
	modules := []struct{ example, lang, param string }{
		{"wordcount", "go", ""}, {"wordcount", "rust", ""}, {"wordcount", "c", ""}, {"wordcount", "as", ""},
		{"indexer", "go", ""}, {"indexer", "rust", ""}, {"indexer", "c", ""},
		{"grep", "go", "pattern=[Tt]he|fox"}, {"grep", "rust", "pattern=[Tt]he|fox"}, {"grep", "c", "pattern=[Tt]he|fox"},
		{"sumsquares", "go", ""}, {"sumsquares", "wat", ""},
		{"evenyears", "go", ""},
	}
	for _, m := range modules {
		t.Run(m.example+"-"+m.lang, func(t *testing.T) {
			args := []string{"check", "--wasm", testwasm.Lang(t, m.example, m.lang)}
			if m.param != "" {
				args = append(args, "--param", m.param)
			}
			r := wmr(t, args...)
			if r.code != 0 || strings.Contains(r.stdout, "FAIL") || !strings.Contains(r.stdout, "0 failed") {
				t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
			}
			if m.lang != "wat" && !strings.Contains(r.stdout, "PASS  partition vectors") {
				t.Errorf("the %s SDK's wmr_partition was not checked:\n%s", m.lang, r.stdout)
			}
			// Every SDK splits text blocks itself (ABI.md 4.5); the WAT
			// module is an old module that does not.
			if blocks := "PASS  text blocks: taken: "; m.lang != "wat" && !strings.Contains(r.stdout, blocks) {
				t.Errorf("the %s SDK's text blocks were not checked:\n%s", m.lang, r.stdout)
			} else if m.lang == "wat" && !strings.Contains(r.stdout, "PASS  text blocks: not taken") {
				t.Errorf("an old module's check:\n%s", r.stdout)
			}
		})
	}
}

// wmr check fails, saying why, on broken modules.
func TestCheckFailsOnBrokenModules(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	all := []string{"wmr_abi_version", "wmr_alloc", "wmr_init", "wmr_map", "wmr_reduce"}
	cases := []struct {
		name, path string
		want       []string
	}{
		{"missing export", write("nomap.wasm", testwasm.Minimal(map[string]int32{"wmr_abi_version": 1}, "wmr_abi_version", "wmr_alloc", "wmr_init", "wmr_reduce")),
			[]string{"FAIL  load:", "does not export wmr_map", "SKIP  remaining checks"}},
		{"wrong version", write("v2.wasm", testwasm.Minimal(map[string]int32{"wmr_abi_version": 2}, all...)),
			[]string{"PASS  load:", "FAIL  abi version:", "was built for wmr ABI v2; this wmr implements ABI v1"}},
		{"not wasm", write("text.wasm", []byte("hello, world")),
			[]string{"FAIL  load:", "is not a WebAssembly module"}},
		{"malformed output", testwasm.Path(t, "hostile/malformed"),
			[]string{"FAIL  map sample text:", "emitted a malformed batch"}},
		{"trap", testwasm.Path(t, "hostile/trap"),
			[]string{"FAIL  map sample text:", "trapped"}},
		{"endless loop", testwasm.Path(t, "hostile/loop"),
			[]string{"FAIL  map sample text:", "was stopped", "time limit passed"}},
		// A grep without its parameter cannot start: the check says so.
		{"missing param", testwasm.Lang(t, "grep", "c"),
			[]string{"FAIL  init:", "grep needs --param pattern=REGEX", "pass them with --param"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := wmr(t, "check", "--wasm", c.path, "--timeout", "3s")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1:\n%s%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "does not conform to the wmr ABI") {
				t.Errorf("stderr %q lacks the verdict", r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
		})
	}
}

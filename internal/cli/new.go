package cli

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/spf13/cobra"

	wmr "github.com/wmr-dev/wmr"
)

//go:embed newproject/*.tmpl
var projectTemplates embed.FS

// sdkFiles are the SDK sources each language's project gets in wmr-sdk/,
// as paths in wmr.Sources and where they go below wmr-sdk/.
var sdkFiles = map[string][][2]string{
	"go":   {{"abi", "abi"}, {"sdk/go", "sdk/go"}},
	"rust": {{"sdk/rust", ""}},
	"c":    {{"sdk/c", ""}},
	"as":   {{"sdk/assemblyscript", ""}},
}

func newNewCmd(stdout io.Writer) *cobra.Command {
	var lang string
	cmd := &cobra.Command{
		Use:   "new --lang go|rust|c|as DIR",
		Short: "Write a new job project (a word count to start from) that builds offline",
		Long: `Write a complete job project into DIR (which must not exist or be empty): a word
count in the language you choose, its unit test, a Makefile (make, make test,
make check, make run) and a README. The wmr SDK it builds with is copied from
this wmr binary into DIR/wmr-sdk, so nothing is downloaded beyond the
language's own toolchain (AssemblyScript's compiler comes from npm).`,
		Example: `  wmr new --lang go wordcount && cd wordcount && make test && make && make run`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, ok := sdkFiles[lang]; !ok {
				return usageError{fmt.Errorf("--lang must be go, rust, c or as, not %q", lang)}
			}
			dir := args[0]
			if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fmt.Errorf("%s is not empty: wmr new writes a project into a new or empty directory", dir)
			}
			name := projectName(dir)
			if err := writeProject(dir, lang, name); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote a %s job project %s in %s: cd %s && make test && make && make run\n", langName[lang], name, dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&lang, "lang", "go", "the job's language: go, rust, c or as (AssemblyScript)")
	return cmd
}

var langName = map[string]string{"go": "Go", "rust": "Rust", "c": "C", "as": "AssemblyScript"}

// projectName makes a module, crate and file name of the directory's.
func projectName(dir string) string {
	name := strings.ToLower(filepath.Base(filepath.Clean(dir)))
	name = regexp.MustCompile(`[^a-z0-9_]+`).ReplaceAllString(name, "_")
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		name = "job_" + name
	}
	return strings.Trim(name, "_")
}

func writeProject(dir, lang, name string) error {
	files, err := projectFiles(lang, name)
	if err != nil {
		return err
	}
	for _, f := range sdkFiles[lang] {
		err := fs.WalkDir(wmr.Sources, f[0], func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := wmr.Sources.ReadFile(p)
			if err != nil {
				return err
			}
			files[path.Join("wmr-sdk", f[1], strings.TrimPrefix(p, f[0]+"/"))] = b
			return nil
		})
		if err != nil {
			return err
		}
	}
	if lang == "go" { // the SDK copy is a module of its own, with the sums of its one dependency
		files["wmr-sdk/go.mod"] = []byte("module github.com/wmr-dev/wmr\n\ngo 1.26\n\nrequire github.com/vmihailenco/msgpack/v5 v5.4.1\n\nrequire github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect\n")
		sum, err := wmr.Sources.ReadFile("go.sum")
		if err != nil {
			return err
		}
		var keep []string
		for _, line := range strings.Split(string(sum), "\n") {
			if strings.HasPrefix(line, "github.com/vmihailenco/") {
				keep = append(keep, line)
			}
		}
		files["go.sum"] = []byte(strings.Join(keep, "\n") + "\n")
		files["wmr-sdk/go.sum"] = files["go.sum"]
	}
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(full, b, mode); err != nil {
			return err
		}
	}
	return nil
}

// projectFiles renders the language's template (txtar-like sections,
// "-- path --" lines) and the README and sample every project has.
func projectFiles(lang, name string) (map[string][]byte, error) {
	raw, err := projectTemplates.ReadFile("newproject/" + lang + ".tmpl")
	if err != nil {
		return nil, err
	}
	data := map[string]string{"Name": name, "Crate": strings.ReplaceAll(name, "-", "_"), "Lang": langName[lang]}
	files := map[string][]byte{}
	var cur string
	var buf bytes.Buffer
	flush := func() error {
		if cur == "" {
			return nil
		}
		t, err := template.New(cur).Delims("[[", "]]").Parse(buf.String())
		if err != nil {
			return fmt.Errorf("template %s: %w", cur, err)
		}
		var out bytes.Buffer
		if err := t.Execute(&out, data); err != nil {
			return err
		}
		files[cur] = out.Bytes()
		buf.Reset()
		return nil
	}
	for _, line := range strings.SplitAfter(string(raw), "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") {
			if err := flush(); err != nil {
				return nil, err
			}
			cur = strings.TrimSuffix(strings.TrimPrefix(t, "-- "), " --")
			continue
		}
		buf.WriteString(line)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	files["sample.txt"] = []byte("It was the best of times, it was the worst of times,\nit was the age of wisdom, it was the age of foolishness.\n")
	files["README.md"] = []byte(fmt.Sprintf(`# %[1]s

A wmr job in %[2]s, written by `+"`wmr new`"+`: a word count to change into your own job.

    make test    # the job's unit test
    make         # build %[1]s.wasm
    make check   # check the module against the wmr ABI (wmr check)
    make run     # run it with wmr run on sample.txt and print the output

Then run it on your data: `+"`wmr run --wasm %[1]s.wasm --input DIR --output out --reducers 4`"+`, or
on a cluster with `+"`wmr submit`"+`. The wmr SDK it builds with is in wmr-sdk/, copied from the wmr
binary, so building needs no download (set WMR=/path/to/wmr if wmr is not on your PATH).
%[3]s`, name, langName[lang], langNotes[lang]))
	return files, nil
}

var langNotes = map[string]string{
	"go":   "\nNeeds Go 1.26 (the module's `go` line). Map, Reduce and Combine are in main.go; main_test.go runs\nthe job natively with wmr.RunLocal. The module must be built with `-buildmode=c-shared`.\n",
	"rust": "\nNeeds a Rust toolchain with the wasm32-unknown-unknown target (on Debian: rustc, cargo,\nlibstd-rust-dev-wasm32, lld-16). The job is src/lib.rs; its test runs it natively with wmr::run_local.\n",
	"c":    "\nNeeds clang with a wasm32-wasi sysroot (on Debian: clang-16, lld-16, wasi-libc). The job is job.c;\nthe SDK is wmr-sdk/wmr.h and wmr.c. `make test` runs the built module with wmr on a small input.\n",
	"as":   "\nNeeds Node.js; `make` runs `npm install` once for the AssemblyScript compiler. The job is\nassembly/index.ts. `make test` runs the built module with wmr on a small input.\n",
}

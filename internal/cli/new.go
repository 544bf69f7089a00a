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

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/sdk"
)

//go:embed newproject/*.tmpl
var projectTemplates embed.FS

// sdkTree is a directory of an SDK's sources (in one of the embedded
// file systems) and where it goes below a project's wmr-sdk/.
type sdkTree struct {
	from    fs.FS
	dir, to string
}

// sdkFiles are the SDK sources each language's project gets in wmr-sdk/.
// A Go project gets the two modules its job builds with, laid out as in
// the repository (wmr-sdk/sdk's go.mod finds ../abi): the abi module and
// the SDK module's go.mod and Go package.
var sdkFiles = map[string][]sdkTree{
	"go": {{abi.Sources, ".", "abi"}, {sdk.Sources, "go", "sdk/go"},
		{sdk.Sources, "go.mod", "sdk/go.mod"}},
	"rust": {{sdk.Sources, "rust", ""}},
	"c":    {{sdk.Sources, "c", ""}},
	"as":   {{sdk.Sources, "assemblyscript", ""}},
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
	for _, t := range sdkFiles[lang] {
		err := fs.WalkDir(t.from, t.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") || p == "sources.go" {
				return err
			}
			b, err := fs.ReadFile(t.from, p)
			if err != nil {
				return err
			}
			rel := strings.TrimPrefix(p, t.dir+"/")
			if p == t.dir { // a single file
				rel = ""
			}
			files[path.Join("wmr-sdk", t.to, rel)] = b
			return nil
		})
		if err != nil {
			return err
		}
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

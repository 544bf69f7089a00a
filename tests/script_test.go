package tests

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// The CLI as a user meets it, one txtar script per area in
// testdata/script: exit codes (usage errors 2, failures 1), the wording of
// errors, the shape of --json, and what is refused rather than replaced.
// Scripts run the wmr binary the suite built, with $WORDCOUNT the Go word
// count module. `exits N cmd args...` runs a command and requires exit
// code N (testscript's `! exec` accepts any failure).
func TestCLIScripts(t *testing.T) {
	wordcount := testwasm.Path(t, "wordcount")
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", filepath.Dir(plainBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
			env.Setenv("WORDCOUNT", wordcount)
			env.Setenv("WMR_NODE", "http://127.0.0.1:1") // nothing listens: no test traffic leaves
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: exits CODE command [args...]")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				got := 0
				if err := ts.Exec(args[1], args[2:]...); err != nil {
					var exit *exec.ExitError
					if !errors.As(err, &exit) {
						ts.Fatalf("exits: %v", err)
					}
					got = exit.ExitCode()
				}
				if got != want {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
		},
	})
}

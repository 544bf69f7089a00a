package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// wmrBin is the wmr binary under test, built once by TestMain.
var wmrBin string

func TestMain(m *testing.M) {
	root, err := testwasm.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "wmr-tests-")
	if err != nil {
		panic(err)
	}
	wmrBin = filepath.Join(dir, "wmr")
	build := exec.Command("go", "build", "-o", wmrBin, "./cmd/wmr")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build wmr: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one wmr invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// wmr runs the binary with args and a private cache directory.
func wmr(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(wmrBin, args...)
	// No user's config file or credentials leak into the tests.
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cacheHome(t), "WMR_CONFIG="+filepath.Join(cacheHome(t), "no-config.json"), "WMR_TOKEN=", "WMR_CA=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, out.String(), errb.String()}
}

var sharedCache string

func cacheHome(t *testing.T) string {
	if sharedCache == "" {
		sharedCache = filepath.Join(filepath.Dir(wmrBin), "cache")
	}
	return sharedCache
}

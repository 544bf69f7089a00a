package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wmr-dev/wmr/engine/worker"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// wmrBin is the wmr binary under test, built once by TestMain, with the
// race detector when the tests run with it; plainBin is built without,
// for worker processes and for wmr check (which runs modules in-process,
// where the detector's slowdown trips the checks' time limits).
var wmrBin, plainBin string

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
	wmrBin, plainBin = filepath.Join(dir, "wmr"), filepath.Join(dir, "wmr")
	if raceBuild {
		// The job core's drivers, the cluster's coordinator, task API and
		// shuffle run in the wmr processes the tests start: race-test them
		// there too. Workers run from a plain build (see wmr).
		wmrBin = filepath.Join(dir, "wmr-race")
	}
	for _, b := range []struct {
		out  string
		args []string
	}{{plainBin, nil}, {wmrBin, []string{"-race"}}} {
		if b.out == plainBin && b.args != nil {
			continue
		}
		build := exec.Command("go", append(append([]string{"build", "-o", b.out}, b.args...), "./cmd/wmr")...)
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build wmr: %v\n%s", err, out)
			os.Exit(1)
		}
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
	return startWmr(t, args...).wait(t)
}

// wmrProcess is a wmr command started in the background.
type wmrProcess struct {
	cmd         *exec.Cmd
	out, errbuf bytes.Buffer
}

// startWmr starts the binary with args and a private cache directory.
func startWmr(t *testing.T, args ...string) *wmrProcess {
	t.Helper()
	bin := wmrBin
	if len(args) > 0 && args[0] == "check" {
		bin = plainBin
	}
	p := &wmrProcess{cmd: exec.Command(bin, args...)}
	// No user's config file or credentials leak into the tests.
	p.cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cacheHome(t), "WMR_CONFIG="+filepath.Join(cacheHome(t), "no-config.json"), "WMR_TOKEN=", "WMR_CA=",
		worker.EnvWorkerExecutable+"="+plainBin)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errbuf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// wait waits for the command and returns what it did.
func (p *wmrProcess) wait(t *testing.T) result {
	t.Helper()
	err := p.cmd.Wait()
	out, errb := p.out, p.errbuf
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

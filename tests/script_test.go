package tests

import (
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/wmr-dev/wmr/engine/worker"
	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// The CLI as a user meets it, one txtar script per area in
// testdata/script: exit codes (usage errors 2, failures 1), the wording of
// errors, the shape of --json, and what is refused rather than replaced.
// Scripts run the wmr binary the suite built, with $WORDCOUNT the Go word
// count module. `exits N cmd args...` runs a command and requires exit
// code N (testscript's `! exec` accepts any failure); `node` starts a
// one-node cluster for the script and points WMR_NODE at it.
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
			"node": scriptNode,
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

// scriptNode starts `wmr node --local` on free 127.0.0.1 ports with its
// data in the script's work directory, waits until it is ready, points
// WMR_NODE at it and stops it when the script ends.
func scriptNode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: node")
	}
	port := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ts.Check(err)
		defer l.Close()
		return l.Addr().String()
	}
	httpAddr, gossip := port(), port()
	var log jobtest.SyncBuffer
	cmd := exec.Command(plainBin, "node", "--local", "--data", ts.MkAbs("node-data"), "--http", httpAddr, "--gossip", gossip)
	cmd.Env = append(os.Environ(), worker.EnvWorkerExecutable+"="+plainBin)
	cmd.Stderr = &log
	ts.Check(cmd.Start())
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	ts.Defer(func() { cmd.Process.Kill(); <-exited })
	url := "http://" + httpAddr
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			ts.Fatalf("wmr node exited:\n%s", log.String())
		default:
		}
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("wmr node not ready after 20s:\n%s", log.String())
		}
	}
	ts.Setenv("WMR_NODE", url)
}

package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
	"github.com/wmr-dev/wmr/nodes"
)

func waitJobEnd(t *testing.T, n *testNode, id string, total time.Duration) *nodes.JobStatus {
	t.Helper()
	var final *nodes.JobStatus
	waitFor(t, total, "job "+id+" to finish", func() error {
		s, err := n.client().Job(context.Background(), id)
		if err == nil && s.State == "running" {
			err = fmt.Errorf("running: %s, maps %d/%d reduces %d/%d", s.Phase, s.MapsDone, s.Maps, s.ReducesDone, s.Reduces)
		}
		final = s
		return err
	})
	return final
}

// A node whose workers stop (SIGSTOP: a straggler that never finishes)
// does not hold the job up: backup attempts on other holders win, and the
// output is exact.
func TestClusterBackupAttemptsBeatAStraggler(t *testing.T) {
	ns := cluster(t, 3)
	_, paths := putCorpus(t, ns[0], "books", 2, 3, 40<<10)
	st, err := ns[0].client().Submit(context.Background(), nodes.SubmitOptions{Module: testwasm.Path(t, "testing/slowwords"),
		Input: "books", Output: "counts", Reducers: 2, Params: map[string]string{"spin": "1000000"}})
	if err != nil {
		t.Fatal(err)
	}
	var victim *testNode
	waitFor(t, 60*time.Second, "a map attempt running on a node other than the coordinator", func() error {
		s, err := ns[0].client().Job(context.Background(), st.ID)
		if err != nil {
			return err
		}
		for _, a := range s.Attempts {
			if a.Kind == "map" && a.Outcome == "running" && a.Node != ns[0].name {
				for _, n := range ns {
					if n.name == a.Node && len(jobtest.ChildPids(n.cmd.Process.Pid)) > 0 {
						victim = n
						return nil
					}
				}
			}
		}
		return fmt.Errorf("none yet")
	})
	stopped := jobtest.ChildPids(victim.cmd.Process.Pid)
	for _, pid := range stopped {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	defer func() {
		for _, pid := range stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	// Without backups the job would wait for the stopped workers until the
	// 10-minute task time limit.
	final := waitJobEnd(t, ns[0], st.ID, 90*time.Second)
	if final.State != "succeeded" {
		t.Fatalf("job %s: %s", final.State, final.Error)
	}
	won := 0
	for _, a := range final.Attempts {
		if a.Backup && a.Outcome == "succeeded" {
			won++
		}
	}
	if won == 0 {
		t.Fatalf("no backup attempt won although %s's workers were stopped: %+v", victim.name, final.Attempts)
	}
	got, err := catString(t, ns[1].client(), "counts")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(got), want); d != "" {
		t.Fatalf("output differs:\n%s", d)
	}
	if final.Counters["keys"] != int64(len(want)) {
		t.Fatalf("counters %v: losing attempts must not count (want keys=%d)", final.Counters, len(want))
	}
}

// Two jobs may not write one dataset: the second is refused while the first
// runs, and the first's output is what gets published.
func TestClusterSameOutputIsRefused(t *testing.T) {
	ns := cluster(t, 2)
	_, paths := putCorpus(t, ns[0], "books", 1, 2, 30<<10)
	st, err := ns[0].client().Submit(context.Background(), nodes.SubmitOptions{Module: testwasm.Path(t, "testing/slowwords"),
		Input: "books", Output: "counts", Reducers: 2, Params: map[string]string{"spin": "600000", "reduce_spin": "40000000"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		r := wmr(t, "submit", "--node", "http://"+n.http, "--wasm", testwasm.Path(t, "grep"), "--input", "books", "--output", "counts",
			"--param", "pattern=the")
		if r.code != 1 || !strings.Contains(r.stderr, "job "+st.ID+", still running, writes dataset counts; choose another --output") {
			t.Fatalf("second job with the same output via %s: exit %d: %s", n.name, r.code, r.stderr)
		}
	}
	if final := waitJobEnd(t, ns[0], st.ID, 60*time.Second); final.State != "succeeded" {
		t.Fatalf("job %s: %s", final.State, final.Error)
	}
	got, _ := catString(t, ns[1].client(), "counts")
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(got), want); d != "" {
		t.Fatalf("output differs:\n%s", d)
	}
}

// --skip-bad-records on the cluster: the job finishes without exactly the
// bad records, lists them, and fails naming the record without the flag.
func TestClusterSkipBadRecords(t *testing.T) {
	ns := cluster(t, 2)
	dir := t.TempDir()
	var b bytes.Buffer
	for y := 1990; y < 2010; y++ {
		if y == 1993 || y == 2007 {
			b.WriteString("MCMXCIX\n")
			continue
		}
		fmt.Fprintln(&b, y)
	}
	os.WriteFile(filepath.Join(dir, "years.txt"), b.Bytes(), 0o644)
	if r := wmr(t, "put", "--node", "http://"+ns[0].http, "--dataset", "years", dir); r.code != 0 {
		t.Fatalf("put: %s", r.stderr)
	}
	r := wmr(t, "submit", "--node", "http://"+ns[1].http, "--wasm", testwasm.Path(t, "evenyears"), "--input", "years", "--output", "evens",
		"--skip-bad-records", "2", "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "skipped     2 bad input records") || strings.Count(r.stdout, `"MCMXCIX" is not an integer`) != 2 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if got, _ := catString(t, ns[0].client(), "evens"); got != "even_years\t10\n" {
		t.Fatalf("output %q, want the 10 even years of 1990..2009", got)
	}
	r = wmr(t, "submit", "--node", "http://"+ns[1].http, "--wasm", testwasm.Path(t, "evenyears"), "--input", "years", "--output", "evens2",
		"--attempts", "1", "--wait")
	if r.code != 1 || !strings.Contains(r.stderr, "failed on all 1 attempts: on the line at byte 15") {
		t.Fatalf("without the flag: exit %d: %s", r.code, r.stderr)
	}
}

package engine

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
)

// yearsWithBadLines writes years 1990..2009 with Roman numerals (which
// evenyears refuses) on three lines, and returns the file and the byte
// offsets of the bad lines.
func yearsWithBadLines(t *testing.T) (string, []int64) {
	var b bytes.Buffer
	var bad []int64
	for y := 1990; y < 2010; y++ {
		if y == 1993 || y == 2000 || y == 2007 {
			bad = append(bad, int64(b.Len()))
			fmt.Fprintln(&b, "MCMXCIX")
			continue
		}
		fmt.Fprintln(&b, y)
	}
	path := filepath.Join(t.TempDir(), "years.txt")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, bad
}

func TestSkipBadRecords(t *testing.T) {
	e := newEngine(t, Config{MaxAttempts: 2})
	path, bad := yearsWithBadLines(t)
	sum, _, raw := run(t, e, Job{Module: testwasm.Path(t, "evenyears"), Inputs: []string{path}, SkipBadRecords: 3})
	// 1990..2009 without 1993, 2000 and 2007: 9 even years, 8 odd ones.
	if string(raw) != "even_years\t9\n" || sum.Counters["odd_years"] != 8 {
		t.Fatalf("output %q, odd_years %d; want 9 and 8", raw, sum.Counters["odd_years"])
	}
	if len(sum.Skipped) != 3 {
		t.Fatalf("skipped %+v, want 3 records", sum.Skipped)
	}
	for i, r := range sum.Skipped {
		if r.Offset != bad[i] || r.Input != path || !strings.Contains(r.Err, `"MCMXCIX" is not an integer`) {
			t.Errorf("skipped record %d: %+v, want offset %d of %s", i, r, bad[i], path)
		}
	}

	// One record short of enough: the job fails naming the third.
	_, err := e.Run(context.Background(), Job{Module: testwasm.Path(t, "evenyears"), Inputs: []string{path},
		Output: filepath.Join(t.TempDir(), "out"), SkipBadRecords: 2}, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("on the line at byte %d of %s", bad[2], path)) {
		t.Fatalf("err = %v, want the third bad record named", err)
	}
	// Without the flag, the first bad record fails the job.
	_, err = e.Run(context.Background(), Job{Module: testwasm.Path(t, "evenyears"), Inputs: []string{path},
		Output: filepath.Join(t.TempDir(), "out")}, nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("on the line at byte %d of %s", bad[0], path)) || !strings.Contains(err.Error(), "failed on all 2 attempts") {
		t.Fatalf("err = %v, want the first bad record named", err)
	}
}

func TestWorkerKilledFromOutsideIsNotCharged(t *testing.T) {
	// One attempt per task: a kill that counted would fail the job.
	e := newEngine(t, Config{MaxAttempts: 1, Parallelism: 1})
	dir := t.TempDir()
	var b bytes.Buffer
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&b, "alpha beta gamma %d\n", i)
	}
	os.WriteFile(filepath.Join(dir, "in.txt"), b.Bytes(), 0o644)
	module := testwasm.Path(t, "testing/slowwords") // before the killing starts
	done := make(chan struct{})
	jobDone := make(chan struct{})
	killed := 0
	go func() {
		defer close(done)
		// Until the job returns, not for a fixed time: compiling the module
		// before any worker starts can take tens of seconds on a loaded
		// machine with the race detector. Twice: the first kill may hit a
		// worker started ahead of the job's tasks (Pool.Warm), idle.
		for killed < 2 {
			select {
			case <-jobDone:
				return
			default:
			}
			for _, pid := range jobtest.ChildPids(os.Getpid()) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	out := filepath.Join(t.TempDir(), "out")
	sum, err := e.Run(context.Background(), Job{Module: module, Inputs: []string{dir}, Output: out,
		Params: map[string]string{"spin": "2000000"}}, nil)
	close(jobDone)
	<-done
	if err != nil {
		t.Fatalf("job failed after %d external kills: %v", killed, err)
	}
	if killed == 0 {
		t.Fatal("no worker was killed; the test proves nothing")
	}
	if sum.Attempts < 3 {
		t.Fatalf("%d attempts for 2 tasks: the killed attempt should have been retried", sum.Attempts)
	}
	raw, _ := os.ReadFile(filepath.Join(out, "part-r-00000"))
	if !bytes.Contains(raw, []byte("alpha\t400\n")) {
		t.Fatalf("output %q", raw)
	}
}

// A map output damaged on disk after its map finished is caught by its
// checksums when a reducer reads it: the map runs again (not charged to
// anyone) and the job's output and counters are exact.
func TestCorruptMapOutputReruns(t *testing.T) {
	work := t.TempDir()
	e := newEngine(t, Config{MaxAttempts: 1, Parallelism: 1, WorkDir: work})
	dir := t.TempDir()
	for f := 0; f < 2; f++ {
		var b bytes.Buffer
		for i := 0; i < 3000; i++ {
			fmt.Fprintf(&b, "alpha beta w%s\n", letters(i))
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("in%d.txt", f)), b.Bytes(), 0o644)
	}
	damaged := 0
	progress := func(p Progress) {
		if damaged > 0 || p.Phase != "reduce" {
			return
		}
		outs, _ := filepath.Glob(filepath.Join(work, "*", "m-*.out"))
		for _, path := range outs {
			raw, err := os.ReadFile(path)
			if err != nil || len(raw) < 100 {
				continue
			}
			for i := 50; i < len(raw); i += 4096 {
				raw[i] ^= 0x04
			}
			os.WriteFile(path, raw, 0o644)
			damaged++
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	sum, err := e.Run(context.Background(), Job{Module: testwasm.Path(t, "testing/slowwords"), Inputs: []string{dir}, Output: out,
		Reducers: 3, Params: map[string]string{"reduce_spin": "400000"}}, progress)
	if err != nil {
		t.Fatalf("job failed (%d map outputs damaged): %v", damaged, err)
	}
	if damaged == 0 {
		t.Fatal("no map output was damaged; the test proves nothing")
	}
	if sum.Attempts <= 2+3 {
		t.Fatalf("%d attempts: the damaged maps should have run again (%d outputs damaged)", sum.Attempts, damaged)
	}
	if sum.Counters["lines"] != 6000 {
		t.Errorf("lines counter %d, want 6000 (committed maps only)", sum.Counters["lines"])
	}
	got := map[string]string{}
	for p := 0; p < 3; p++ {
		raw, _ := os.ReadFile(filepath.Join(out, fmt.Sprintf("part-r-%05d", p)))
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			if k, v, ok := strings.Cut(line, "\t"); ok {
				got[k] = v
			}
		}
	}
	if len(got) != 3002 || got["alpha"] != "6000" || got["w"+letters(2999)] != "2" {
		t.Fatalf("%d keys, alpha=%s w%s=%s", len(got), got["alpha"], letters(2999), got["w"+letters(2999)])
	}
}

// letters spells i in base 26 with a..z, so that words tell apart.
func letters(i int) string {
	s := ""
	for {
		s = string(rune('a'+i%26)) + s
		if i /= 26; i == 0 {
			return s
		}
	}
}

// The end-of-task call: a module's Finish emits after the last record of
// a map task and after the last key of a reduce task, and an error there
// fails the task with the module's message.
func TestEndOfTaskHook(t *testing.T) {
	e := newEngine(t, Config{MaxAttempts: 1})
	dir := t.TempDir()
	for f := 0; f < 2; f++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("in%d.txt", f)), bytes.Repeat([]byte("a line\n"), 1500), 0o644)
	}
	module := testwasm.Path(t, "testing/finish")
	_, _, raw := run(t, e, Job{Module: module, Inputs: []string{dir}})
	if string(raw) != "lines\t3000\n~keys\t1\n" {
		t.Fatalf("output %q", raw)
	}
	for _, kind := range []string{"map", "reduce"} {
		_, err := e.Run(context.Background(), Job{Module: module, Inputs: []string{dir}, Output: filepath.Join(t.TempDir(), "out"),
			Params: map[string]string{"fail": kind}}, nil)
		if err == nil || !strings.Contains(err.Error(), "finish refused on purpose") || !strings.Contains(err.Error(), kind+" task") {
			t.Errorf("fail=%s: %v", kind, err)
		}
	}
}

// Combining inside the module gives the same bytes as the host's
// combining alone, however often its table flushes, and moves far fewer
// records across the boundary.
func TestInModuleCombiningIsExact(t *testing.T) {
	e := newEngine(t, Config{})
	dir, _ := corpus(t, 3, 200<<10, 0)
	for _, example := range []string{"wordcount", "indexer"} {
		module := testwasm.Path(t, example)
		big, _, want := run(t, e, Job{Module: module, Inputs: []string{dir}, Reducers: 3})
		tiny, _, got := run(t, e, Job{Module: module, Inputs: []string{dir}, Reducers: 3, Params: map[string]string{"wmr.combine_bytes": "300"}})
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: output with a table that flushes all the time differs", example)
		}
		if big.MapRecordsOut >= tiny.MapRecordsOut {
			t.Errorf("%s: %d records crossed with the default table, %d with a tiny one", example, big.MapRecordsOut, tiny.MapRecordsOut)
		}
	}
}

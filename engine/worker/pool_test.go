package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

func TestMain(m *testing.M) {
	if IsWorker() {
		os.Exit(Main())
	}
	os.Exit(m.Run())
}

func mapSpec(t *testing.T, example, input string) *task.Spec {
	t.Helper()
	wasm, err := os.ReadFile(testwasm.Path(t, example))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &task.Spec{JobID: "j", TaskID: "m-00000", Kind: task.KindMap, Attempt: 1,
		ModulePath: testwasm.Path(t, example), ModuleName: filepath.Base(testwasm.Path(t, example)), ModuleHash: wasmhost.HashBytes(wasm),
		Partitions: 1, MemoryLimitBytes: 64 << 20, InputPath: input, InputName: filepath.Base(input),
		SplitLength: 1 << 20, WorkDir: dir, OutputPath: filepath.Join(dir, "out"), CacheDir: filepath.Join(dir, "cache")}
}

// A worker killed from outside is a failed attempt that says so; the pool
// keeps working with a fresh process.
func TestWorkerKilledFromOutsideIsAFailedAttempt(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("a b a\n"), 0o644)
	p, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	done := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), mapSpec(t, "hostile/loop", input), time.Minute, nil)
		done <- err
	}()
	// Wait for the worker to exist, then kill it as the OOM killer would.
	deadline := time.Now().Add(30 * time.Second)
	for {
		p.mu.Lock()
		var victim *proc
		for pr := range p.all {
			victim = pr
		}
		p.mu.Unlock()
		if victim != nil {
			time.Sleep(200 * time.Millisecond) // let it start the task
			victim.cmd.Process.Kill()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no worker started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = <-done
	// Killed by a signal the pool did not send: the machine's doing, which
	// the job core does not charge to the task.
	if !errors.Is(err, ErrWorkerKilled) || errors.Is(err, ErrWorkerCrashed) || !strings.Contains(err.Error(), "signal killed") {
		t.Fatalf("got %v, want a kill from outside that mentions the signal", err)
	}

	res, err := p.Run(context.Background(), mapSpec(t, "wordcount", input), time.Minute, nil)
	if err != nil {
		t.Fatalf("the pool did not recover: %v", err)
	}
	if res.Stats.RecordsIn != 1 || res.Stats.RecordsOut != 3 {
		t.Fatalf("stats %+v", res.Stats)
	}
}

func TestTimeLimitKillsWorker(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("x\n"), 0o644)
	p, err := NewPool(PoolConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Run(context.Background(), mapSpec(t, "hostile/loop", input), 2*time.Second, nil)
	if !errors.Is(err, ErrTimeLimit) {
		t.Fatalf("got %v", err)
	}
	p.mu.Lock()
	n := len(p.all)
	p.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d workers left after the kill", n)
	}
}

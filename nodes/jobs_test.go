package nodes

import (
	"errors"
	"fmt"
	"testing"

	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/wasmhost"
	"github.com/wmr-dev/wmr/engine/worker"
)

// A failure keeps its class and its record across the task API, so the
// coordinator charges and skips exactly as wmr run does.
func TestFailedResponseKeepsClassAndRecord(t *testing.T) {
	cases := []struct {
		err    error
		class  coord.Class
		record bool
	}{
		{&wasmhost.ModuleError{Module: "x.wasm", Msg: "trapped", Kind: wasmhost.ErrTrap}, coord.ModuleFault, false},
		{&task.RecordError{Input: "f.txt", Offset: 42, Err: &wasmhost.ModuleError{Module: "x.wasm", Msg: "bad", Kind: wasmhost.ErrModuleFailed}}, coord.ModuleFault, true},
		{&worker.TaskError{Msg: "on the line at byte 42 of f.txt: bad", Kind: "failed", HasRecord: true, Input: "f.txt", Offset: 42, RecordMsg: "bad"}, coord.ModuleFault, true},
		{fmt.Errorf("run: %w", wasmhost.ErrInvalidModule), coord.Invalid, false},
		{fmt.Errorf("%w (signal killed)", worker.ErrWorkerKilled), coord.Lost, false},
		{errors.New("write /data/jobs/x: no space left on device"), coord.LocalFault, false},
	}
	for _, c := range cases {
		resp := failedResponse(c.err)
		if got := classOf(resp.Class); got != c.class {
			t.Errorf("%v: class %q (%v), want %v", c.err, resp.Class, got, c.class)
		}
		if (resp.Record != nil) != c.record || (c.record && resp.Record.Offset != 42) {
			t.Errorf("%v: record %+v", c.err, resp.Record)
		}
		if resp.Error != c.err.Error() {
			t.Errorf("message %q, want %q", resp.Error, c.err.Error())
		}
	}
	if classOf("from a newer node") != coord.LocalFault {
		t.Error("an unknown class must be charged")
	}
}

func TestDeparturesWakeWatchersOfThatMemberOnly(t *testing.T) {
	var d departures
	a, stopA := d.watch("n1")
	b, stopB := d.watch("n2")
	defer stopB()
	d.left("n1")
	select {
	case <-a:
	default:
		t.Fatal("the watcher of n1 was not woken")
	}
	select {
	case <-b:
		t.Fatal("the watcher of n2 was woken by n1 leaving")
	default:
	}
	stopA()      // after the wake-up: harmless
	d.left("n1") // nobody watches now: no double close
	c, stopC := d.watch("n1")
	stopC()
	d.left("n1")
	select {
	case <-c:
		t.Fatal("a stopped watch was woken")
	default:
	}
}

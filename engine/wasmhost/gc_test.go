package wasmhost

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"testing"

	"github.com/wmr-dev/wmr/abi"
)

// garbageSink makes garbage on every emit and notes the collector's
// completed cycles at the first and the last.
type garbageSink struct {
	first, last uint64
	n           int
	keep        []byte
}

func gcCyclesNow() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func (g *garbageSink) Emit(k, v []byte, _ int) error {
	g.keep = make([]byte, 64<<10) // 64 KiB of garbage a record
	if g.n == 0 {
		g.first = gcCyclesNow()
	}
	g.last = gcCyclesNow()
	g.n++
	return nil
}

// With PauseGCDuringCalls no collection runs while guest code does (Go
// cannot stop a goroutine in guest code, so one would spin until the call
// returns), however much the host allocates in the call; between calls
// the collector is back as it was. Without it, the same call collects.
func TestNoCollectionDuringGuestCalls(t *testing.T) {
	lines := make([]string, 4000) // 4,000 emits, 250 MiB of garbage
	for i := range lines {
		lines[i] = "a record"
	}
	for _, pause := range []bool{true, false} {
		h := newHost(t, Config{MemoryLimitBytes: 64 << 20, PauseGCDuringCalls: pause})
		inst := load(t, h, "testing/identity")
		ctx := context.Background()
		if err := inst.Init(ctx, &abi.Init{ABI: 1, TaskKind: abi.TaskMap, NumPartitions: 1}); err != nil {
			t.Fatal(err)
		}
		percent := debug.SetGCPercent(150)
		g := &garbageSink{}
		if err := inst.Map(ctx, lineBatch(lines...), g); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetGCPercent(percent); got != 150 {
			t.Fatalf("pause %v: GOGC after the call is %d, want it restored to 150", pause, got)
		}
		inst.Close(ctx)
		if pause && g.last != g.first {
			t.Errorf("%d collections ran during one guest call", g.last-g.first)
		}
		if !pause && g.last == g.first {
			t.Errorf("without the pause no collection ran during %d emits of 64 KiB: the test proves nothing", g.n)
		}
	}
}

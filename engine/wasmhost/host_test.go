package wasmhost

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/abi"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

type collect struct{ recs [][2]string }

func (c *collect) Emit(k, v []byte, _ int) error {
	c.recs = append(c.recs, [2]string{string(k), string(v)})
	return nil
}

func load(t *testing.T, h *Host, example string) *Instance {
	t.Helper()
	ctx := context.Background()
	wasm, err := os.ReadFile(testwasm.Path(t, example))
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.Compile(ctx, example+".wasm", wasm)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := m.Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func newHost(t *testing.T, cfg Config) *Host {
	t.Helper()
	h, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func lineBatch(lines ...string) []byte {
	var w abi.BatchWriter
	w.Reset()
	off := 0
	for _, l := range lines {
		w.Add(binary.BigEndian.AppendUint64(nil, uint64(off)), []byte(l))
		off += len(l) + 1
	}
	return w.Bytes()
}

func TestWordCountMapAndReduce(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, Config{})
	inst := load(t, h, "wordcount")
	if err := inst.Init(ctx, &abi.Init{ABI: 1, TaskKind: abi.TaskMap, NumPartitions: 1}); err != nil {
		t.Fatal(err)
	}
	if !inst.HasCombiner() {
		t.Fatal("wordcount declares no combiner")
	}
	var out collect
	if err := inst.Map(ctx, lineBatch("the cat", "the dög, ünd"), &out); err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(out.recs))
	for i, r := range out.recs {
		got[i] = r[0] + "=" + r[1]
	}
	if s := strings.Join(got, " "); s != "the=1 cat=1 the=1 dög=1 ünd=1" {
		t.Fatalf("map emitted %s", s)
	}

	// Reduce a key whose values span a chunk and several continuations.
	var cw abi.ChunkWriter
	cw.Reset()
	cw.BeginGroup([]byte("a"))
	cw.AddValue([]byte("2"))
	cw.EndGroup(false)
	cw.BeginGroup([]byte("b"))
	cw.AddValue([]byte("1"))
	cw.EndGroup(true)
	src := &sliceSource{n: 200_000}
	out = collect{}
	if err := inst.Reduce(ctx, cw.Bytes(), src, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.recs) != 2 || out.recs[0] != [2]string{"a", "2"} || out.recs[1] != [2]string{"b", "200001"} {
		t.Fatalf("reduce emitted %v", out.recs)
	}
}

// sliceSource yields n values "1".
type sliceSource struct{ n int }

func (s *sliceSource) PeekValue() ([]byte, bool, error) { return []byte("1"), s.n > 0, nil }
func (s *sliceSource) SkipValue()                       { s.n-- }

func TestInvalidModules(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, Config{})
	if _, err := h.Compile(ctx, "junk.wasm", []byte("not wasm at all")); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("junk: %v", err)
	}
	// A valid module that exports nothing wmr needs.
	empty := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	_, err := h.Compile(ctx, "empty.wasm", empty)
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "exports none of the wmr ABI's functions") || !strings.Contains(err.Error(), "SDK") {
		t.Fatalf("empty: %v", err)
	}
	// A WASI command (a Go module built without -buildmode=c-shared, a
	// Rust binary) is refused with the build that fixes it.
	command := testwasm.Minimal(map[string]int32{"_start": 0, "wmr_abi_version": 1}, "_start", "wmr_abi_version")
	_, err = h.Compile(ctx, "command.wasm", command)
	if !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "exports _start, not _initialize") || !strings.Contains(err.Error(), "-buildmode=c-shared") {
		t.Fatalf("command: %v", err)
	}
	// Some of the ABI but not all: what is missing is named.
	partial := testwasm.Minimal(map[string]int32{"wmr_abi_version": 1}, "wmr_abi_version")
	if _, err := h.Compile(ctx, "partial.wasm", partial); !errors.Is(err, ErrInvalidModule) || !strings.Contains(err.Error(), "does not export wmr_alloc") {
		t.Fatalf("partial: %v", err)
	}
}

func TestHostileModules(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		example string
		kind    error
		text    string
	}{
		{"hostile/trap", ErrTrap, "out of bounds memory access"},
		{"hostile/malformed", ErrMalformedOutput, "malformed batch"},
		{"hostile/membomb", ErrMemoryLimit, "exceeded its 64 MiB memory limit"},
		{"hostile/flood", ErrOutputLimit, "output limit of 16 MiB"},
	}
	for _, c := range cases {
		t.Run(c.example, func(t *testing.T) {
			h := newHost(t, Config{MemoryLimitBytes: 64 << 20, MaxOutputBytes: 16 << 20})
			inst := load(t, h, c.example)
			if err := inst.Init(ctx, &abi.Init{ABI: 1, TaskKind: abi.TaskMap, NumPartitions: 1}); err != nil {
				t.Fatal(err)
			}
			err := inst.Map(ctx, lineBatch("x"), &collect{})
			if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("got %v, want %v containing %q", err, c.kind, c.text)
			}
			t.Log(err)
			if !inst.Broken() {
				t.Fatal("instance not marked broken")
			}
		})
	}
}

// With CloseOnContextDone, an infinite loop stops when its context ends.
func TestLoopInterruptedInProcess(t *testing.T) {
	h := newHost(t, Config{CloseOnContextDone: true})
	inst := load(t, h, "hostile/loop")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := inst.Init(ctx, &abi.Init{ABI: 1, TaskKind: abi.TaskMap, NumPartitions: 1}); err != nil {
		t.Fatal(err)
	}
	err := inst.Map(ctx, lineBatch("x"), &collect{})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("got %v", err)
	}
}

func TestCountersAndFail(t *testing.T) {
	ctx := context.Background()
	h := newHost(t, Config{})
	inst := load(t, h, "evenyears")
	if err := inst.Init(ctx, &abi.Init{ABI: 1, TaskKind: abi.TaskMap, NumPartitions: 1}); err != nil {
		t.Fatal(err)
	}
	var out collect
	if err := inst.Map(ctx, lineBatch("1999", "2000", "2001"), &out); err != nil {
		t.Fatal(err)
	}
	if c := inst.TakeCounters(); c["odd_years"] != 2 {
		t.Fatalf("counters %v", c)
	}
	err := inst.Map(ctx, lineBatch("2000", "MCMXCIX"), &out)
	var me *ModuleError
	if !errors.As(err, &me) || !errors.Is(err, ErrModuleFailed) || me.Record != 1 || !strings.Contains(me.Msg, "not a year") {
		t.Fatalf("got %#v", err)
	}
}

//go:build unix

package wasmhost

import (
	"context"
	"strings"
	"testing"
	"unsafe"

	"github.com/wmr-dev/wmr/abi"
)

func TestMappedMemoryGrowsInPlace(t *testing.T) {
	m := newMappedMemory(4 * PageSize)
	if m == nil {
		t.Fatal("cannot reserve 4 pages")
	}
	defer m.Free()
	b := m.Reallocate(PageSize)
	if len(b) != PageSize || b[PageSize-1] != 0 {
		t.Fatalf("first page: len %d", len(b))
	}
	b[0], b[PageSize-1] = 7, 9
	c := m.Reallocate(3 * PageSize)
	if len(c) != 3*PageSize || unsafe.SliceData(c) != unsafe.SliceData(b) {
		t.Fatal("growing moved the memory")
	}
	if c[0] != 7 || c[PageSize-1] != 9 || c[3*PageSize-1] != 0 {
		t.Fatal("growing lost the memory's bytes or gave dirty pages")
	}
	if m.Reallocate(5*PageSize) != nil {
		t.Fatal("grew past the reservation")
	}
	if got := m.Reallocate(2 * PageSize); len(got) != 2*PageSize || got[0] != 7 {
		t.Fatal("a smaller size must be a view of the same bytes")
	}
	m.Free()
	if m.Reallocate(PageSize) != nil {
		t.Fatal("a freed memory grew")
	}
	m.Free() // twice is harmless
}

// An instance's memory is the mapping: it stays where it is while the
// guest grows it by megabytes (wazero's own slice would be copied).
func TestInstanceMemoryGrowsInPlace(t *testing.T) {
	h := newHost(t, Config{MemoryLimitBytes: 64 << 20})
	inst := load(t, h, "wordcount")
	defer inst.Close(context.Background())
	before, _ := inst.mem.Read(0, 1)
	size := inst.MemorySize()
	ctx := context.Background()
	if err := inst.Init(ctx, &abi.Init{ABI: 1, TaskKind: abi.TaskMap, NumPartitions: 1}); err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("word ", 4<<20/5)
	if err := inst.Map(ctx, lineBatch(line), &collect{}); err != nil {
		t.Fatal(err)
	}
	after, _ := inst.mem.Read(0, 1)
	if inst.MemorySize() < size+4<<20 {
		t.Fatalf("memory grew from %d to only %d bytes", size, inst.MemorySize())
	}
	if &before[0] != &after[0] {
		t.Fatal("the instance's memory moved when it grew")
	}
}

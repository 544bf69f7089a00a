//go:build unix

package wasmhost

import (
	"golang.org/x/sys/unix"

	"github.com/tetratelabs/wazero/experimental"
)

// mappedMemory backs one instance's linear memory with a mapping of its
// own. The instance's whole maximum is reserved at instantiation without
// access (address space, no memory), and memory.grow makes the next part
// readable and writable where it is. wazero's default grows a Go slice
// with append: every grow past its capacity copied the whole memory and
// cleared the new part (a fifth of a word count's host time in the
// workers), and the memory sat in the Go heap until a collection. Here a
// grow copies nothing, fresh pages come zeroed from the kernel, and Free
// gives them back at once.
type mappedMemory struct {
	reserved   []byte // the whole reservation
	accessible uint64 // bytes at its start that may be read and written
}

// newMappedMemory reserves max bytes, or returns nil where the kernel
// refuses (the caller then uses wazero's slices).
func newMappedMemory(max uint64) *mappedMemory {
	if max == 0 || max > 1<<32 {
		return nil
	}
	b, err := unix.Mmap(-1, 0, int(max), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	return &mappedMemory{reserved: b}
}

// Reallocate implements experimental.LinearMemory. Wasm memory never
// shrinks; wazero asks for whole pages.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.reserved == nil || size > uint64(len(m.reserved)) {
		return nil
	}
	if size > m.accessible {
		if err := unix.Mprotect(m.reserved[m.accessible:size], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			return nil // the guest sees memory.grow fail
		}
		m.accessible = size
	}
	return m.reserved[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.reserved != nil {
		_ = unix.Munmap(m.reserved)
		m.reserved, m.accessible = nil, 0
	}
}

// mappedMemories is the allocator Instantiate hands wazero (see
// Config.CloseOnContextDone for when it must not).
var mappedMemories experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(
	func(capacity, max uint64) experimental.LinearMemory {
		if m := newMappedMemory(max); m != nil {
			return m
		}
		return &sliceMemory{buf: make([]byte, 0, capacity), max: max}
	})

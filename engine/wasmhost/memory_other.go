//go:build !unix

package wasmhost

import "github.com/tetratelabs/wazero/experimental"

// mappedMemories is wazero's own slices where there is no mmap.
var mappedMemories experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(
	func(capacity, max uint64) experimental.LinearMemory {
		return &sliceMemory{buf: make([]byte, 0, capacity), max: max}
	})

//go:build unix

package runs

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// region is a reservation of address space that becomes memory as it is
// used: reserved without access (no memory, and nothing counted against
// RLIMIT_DATA), made readable and writable in 2 MiB steps, and advised
// for transparent huge pages. A sort buffer grown in the Go heap copied
// itself at every doubling into fresh pages, each first touched with a
// page fault: over half of a text sort's CPU in the workers went to
// growslice, memclr and the faults under them. Here a grow copies nothing
// and a huge page takes one fault for 2 MiB.
type region struct {
	mapping    []byte // the whole reservation, as mapped
	mem        []byte // its part aligned to hugeStep
	accessible int    // bytes at mem's start that may be read and written
}

// hugeStep is a transparent huge page on amd64 and arm64 (4 KiB pages):
// what a region grows by at least, and aligns its start to.
const hugeStep = 2 << 20

// newRegion reserves max bytes, or returns nil where the kernel refuses.
func newRegion(max int) *region {
	if max <= 0 {
		return nil
	}
	max = (max + hugeStep - 1) &^ (hugeStep - 1)
	b, err := unix.Mmap(-1, 0, max+hugeStep, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return nil
	}
	skip := 0
	if rem := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % hugeStep); rem != 0 {
		skip = hugeStep - rem
	}
	r := &region{mapping: b, mem: b[skip : skip+max : skip+max]}
	// Where the kernel has no transparent huge pages this fails, and the
	// region works in small pages.
	_ = unix.Madvise(r.mem, unix.MADV_HUGEPAGE)
	return r
}

// grow makes at least size bytes accessible, and says whether they are:
// not past the reservation, nor past what the kernel grants. It grows by
// an eighth at least (few system calls), and never much past what is
// asked: RLIMIT_DATA counts what is accessible, touched or not.
func (r *region) grow(size int) bool {
	if size <= r.accessible {
		return true
	}
	if size > len(r.mem) {
		return false
	}
	n := max(size, r.accessible+r.accessible/8)
	n = min((n+hugeStep-1)&^(hugeStep-1), len(r.mem))
	if unix.Mprotect(r.mem[r.accessible:n], unix.PROT_READ|unix.PROT_WRITE) != nil {
		return false
	}
	r.accessible = n
	return true
}

// free unmaps the region; nothing may use its memory after.
func (r *region) free() {
	_ = unix.Munmap(r.mapping)
	r.mapping, r.mem, r.accessible = nil, nil, 0
}

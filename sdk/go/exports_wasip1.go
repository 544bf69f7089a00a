//go:build wasip1

package wmr

import (
	"unsafe"

	"github.com/wmr-dev/wmr/abi"
)

// The ABI's imports (module "wmr").

//go:wasmimport wmr emit
func hostEmit(ptr unsafe.Pointer, size int32)

//go:wasmimport wmr next_values
func hostNextValues(ptr unsafe.Pointer, capacity int32) int32

//go:wasmimport wmr fail
func hostFail(ptr unsafe.Pointer, size int32)

//go:wasmimport wmr log
func hostLog(level int32, ptr unsafe.Pointer, size int32)

//go:wasmimport wmr counter
func hostCounter(ptr unsafe.Pointer, size int32, delta int64)

type wasmHost struct{}

func ptrOf(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

func (wasmHost) emit(b []byte)               { hostEmit(ptrOf(b), int32(len(b))) }
func (wasmHost) nextValues(b []byte) int32   { return hostNextValues(ptrOf(b), int32(len(b))) }
func (wasmHost) fail(b []byte)               { hostFail(ptrOf(b), int32(len(b))) }
func (wasmHost) log(level int32, msg []byte) { hostLog(level, ptrOf(msg), int32(len(msg))) }
func (wasmHost) counter(n []byte, d int64)   { hostCounter(ptrOf(n), int32(len(n)), d) }

func init() { theGuest = newGuest(wasmHost{}) }

// The ABI's exports.

//go:wasmexport wmr_abi_version
func wmrABIVersion() int32 { return abi.Version }

//go:wasmexport wmr_alloc
func wmrAlloc(size int32) unsafe.Pointer {
	if size <= 0 {
		size = 1
	}
	return ptrOf(theGuest.alloc(size))
}

//go:wasmexport wmr_init
func wmrInit(ptr unsafe.Pointer, size int32) int32 {
	return theGuest.init(unsafe.Slice((*byte)(ptr), size))
}

//go:wasmexport wmr_map
func wmrMap(ptr unsafe.Pointer, size int32) int32 {
	return theGuest.mapBatch(unsafe.Slice((*byte)(ptr), size))
}

//go:wasmexport wmr_reduce
func wmrReduce(ptr unsafe.Pointer, size int32) int32 {
	return theGuest.reduceChunk(unsafe.Slice((*byte)(ptr), size), theGuest.job.Reduce)
}

//go:wasmexport wmr_combine
func wmrCombine(ptr unsafe.Pointer, size int32) int32 {
	return theGuest.reduceChunk(unsafe.Slice((*byte)(ptr), size), theGuest.job.Combine)
}

//go:wasmexport wmr_finish
func wmrFinish() int32 { return theGuest.finish() }

//go:wasmexport wmr_partition
func wmrPartition(ptr unsafe.Pointer, size int32, n int32) int32 {
	return theGuest.partition(unsafe.Slice((*byte)(ptr), size), int(n))
}

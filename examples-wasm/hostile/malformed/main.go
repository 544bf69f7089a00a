// Command malformed is a hostile module for tests: its map hands the host
// an emit batch that is not valid msgpack (a record count with no records).
package main

import (
	"unsafe"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

//go:wasmimport wmr emit
func emit(ptr unsafe.Pointer, size int32)

var garbage = []byte{0xdd, 0, 0, 0, 9, 0x92, 0xc4, 0x20, 'x'}

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, _ []byte, _ *wmr.Emitter) error {
			emit(unsafe.Pointer(&garbage[0]), int32(len(garbage)))
			return nil
		},
		Reduce: func([]byte, *wmr.Values, *wmr.Emitter) error { return nil },
	})
}

func main() {}

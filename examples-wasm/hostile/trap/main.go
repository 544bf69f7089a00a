// Command trap is a hostile module for tests: its map stores outside its
// linear memory, which is a WebAssembly trap (not a Go panic the SDK could
// recover).
package main

import (
	"unsafe"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

// beyond is an offset far past any memory this module will have.
var beyond = 0xFFFF_FFF0

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, _ []byte, _ *wmr.Emitter) error {
			*(*uint64)(unsafe.Add(unsafe.Pointer(nil), beyond)) = 1
			return nil
		},
		Reduce: func([]byte, *wmr.Values, *wmr.Emitter) error { return nil },
	})
}

func main() {}

// Command membomb is a hostile module for tests: its map allocates memory
// without bound.
package main

import wmr "github.com/wmr-dev/wmr/sdk/go"

var hoard [][]byte

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, _ []byte, _ *wmr.Emitter) error {
			for {
				b := make([]byte, 1<<20)
				for i := range b {
					b[i] = byte(i)
				}
				hoard = append(hoard, b)
			}
		},
		Reduce: func([]byte, *wmr.Values, *wmr.Emitter) error { return nil },
	})
}

func main() {}

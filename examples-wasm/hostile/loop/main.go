// Command loop is a hostile module for tests: its map never returns.
package main

import wmr "github.com/wmr-dev/wmr/sdk/go"

var spins uint64

func init() {
	wmr.Register(wmr.Job{
		Map: func(_, _ []byte, _ *wmr.Emitter) error {
			for {
				spins++
			}
		},
		Reduce: func([]byte, *wmr.Values, *wmr.Emitter) error { return nil },
	})
}

func main() {}

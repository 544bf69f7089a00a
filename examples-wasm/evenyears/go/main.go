// Command evenyears counts the quarters minted in even years: each input
// line holds a coin's mint year. Output: the single line even_years<TAB>N.
package main

import (
	"bytes"
	"fmt"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

func init() {
	wmr.Register(wmr.Job{Map: mapYear, Reduce: wmr.Sum, Combine: wmr.Sum})
}

func main() {}

var key = []byte("even_years")

func mapYear(_, line []byte, emit *wmr.Emitter) error {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	year, err := wmr.ParseInt(line)
	if err != nil {
		return fmt.Errorf("line is not a year: %w", err)
	}
	if year%2 == 0 {
		emit.EmitInt(key, 1)
	} else {
		wmr.Counter("odd_years", 1)
	}
	return nil
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode"
)

// The checked-in tables must be exactly what the generator writes now,
// so every SDK agrees with the Go toolchain that builds wmr.
func TestTablesUpToDate(t *testing.T) {
	rs := letterRanges()
	for _, tg := range targets {
		got, err := os.ReadFile(filepath.Join("..", "..", tg.path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tg.render(rs)) {
			t.Errorf("%s is stale: run make letters", tg.path)
		}
	}
}

func TestRangesMatchIsLetter(t *testing.T) {
	rs := letterRanges()
	in := func(r rune) bool {
		for _, x := range rs {
			if r >= x.lo && r <= x.hi {
				return true
			}
		}
		return false
	}
	for r := rune(0); r <= unicode.MaxRune; r += 7 {
		if in(r) != unicode.IsLetter(r) {
			t.Fatalf("U+%04X: table says %v, unicode.IsLetter %v", r, in(r), unicode.IsLetter(r))
		}
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].lo <= rs[i-1].hi+1 {
			t.Fatalf("ranges %d and %d overlap or touch", i-1, i)
		}
	}
}

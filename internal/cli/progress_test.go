package cli

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wmr-dev/wmr/engine"
)

// The progress line fits the terminal whatever its width: on 80 columns
// it keeps the most telling figures, on wider ones all, on narrower ones
// the task counts at least; it never wraps.
func TestProgressFitsTheTerminal(t *testing.T) {
	pr := engine.Progress{Phase: "map", Maps: 12345, MapsDone: 6789, Reduces: 100, ReducesDone: 0, BytesIn: 123 << 30, InputBytes: 456 << 30,
		RecordsIn: 987654321, RecordsOut: 12345678, Elapsed: 3723 * time.Second}
	for _, width := range []int{200, 100, 80, 60, 40, 30, 10} {
		line := progressText(pr, width-1)
		if n := utf8.RuneCountInString(line); n > width-1 || strings.ContainsAny(line, "\n\r") {
			t.Fatalf("width %d: %d columns: %q", width, n, line)
		}
		if width >= 30 && !strings.Contains(line, "maps 6789/12345") {
			t.Fatalf("width %d: the task counts were dropped: %q", width, line)
		}
		if width >= 80 && (!strings.Contains(line, "%") || !strings.Contains(line, "MB/s") || !strings.Contains(line, "1h2m3s")) {
			t.Fatalf("width %d: progress, rate or time dropped: %q", width, line)
		}
		if width >= 120 && !strings.Contains(line, "rec in") {
			t.Fatalf("width %d: figures dropped although they fit: %q", width, line)
		}
	}
}

func TestInputShown(t *testing.T) {
	if got := inputShown("shard f00002-s00001 of books, from go_spec.txt"); got != "go_spec.txt f00002-s00001" {
		t.Fatalf("got %q", got)
	}
	if got := inputShown("partition 3"); got != "partition 3" {
		t.Fatalf("got %q", got)
	}
}

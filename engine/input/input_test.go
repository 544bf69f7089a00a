package input

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Property: for random files and block sizes, reading every split yields
// every line exactly once, with its true offset, in order.
func TestSplitsReadEveryLineOnce(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 11))
	for trial := 0; trial < 300; trial++ {
		var b strings.Builder
		type line struct {
			off  int64
			text string
		}
		var want []line
		for n := rng.IntN(40); n > 0; n-- {
			l := strings.Repeat(string(rune('a'+rng.IntN(26))), []int{0, 1, 2, 5, 17, 100}[rng.IntN(6)])
			want = append(want, line{int64(b.Len()), l})
			b.WriteString(l)
			if rng.IntN(5) == 0 {
				b.WriteString("\r")
			}
			b.WriteString("\n")
		}
		if rng.IntN(2) == 0 { // a last line without newline
			l := "tail" + fmt.Sprint(trial)
			want = append(want, line{int64(b.Len()), l})
			b.WriteString(l)
		}
		path := filepath.Join(dir, fmt.Sprintf("f%d.txt", trial))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		files, err := Expand([]string{path})
		if err != nil {
			t.Fatal(err)
		}
		block := int64(1 + rng.IntN(64))
		var got []line
		for _, s := range Plan(files, block) {
			r, err := Open(s, 1<<10)
			if err != nil {
				t.Fatal(err)
			}
			for {
				off, l, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, line{off, string(l)})
			}
			r.Close()
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("trial %d, block %d, file %q:\ngot  %v\nwant %v", trial, block, b.String(), got, want)
		}
	}
}

func TestExpand(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a.txt", "sub/b.txt", "sub/.hidden", "_SUCCESS", "c.log"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("x\n"), 0o644)
	}
	files, err := Expand([]string{dir, filepath.Join(dir, "*.txt")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "a.txt,c.log,b.txt" {
		t.Fatalf("got %s", got)
	}
	for _, bad := range []string{filepath.Join(dir, "missing"), filepath.Join(dir, "*.none")} {
		if _, err := Expand([]string{bad}); err == nil {
			t.Errorf("Expand(%s) succeeded", bad)
		}
	}
}

func TestLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.txt")
	long := strings.Repeat("x", 3<<20)
	os.WriteFile(path, []byte("a\n"+long+"\nb\n"), 0o644)
	files, _ := Expand([]string{path})
	r, err := Open(Plan(files, 0)[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	var lens []int
	for {
		_, l, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		lens = append(lens, len(l))
	}
	if fmt.Sprint(lens) != fmt.Sprint([]int{1, 3 << 20, 1}) {
		t.Fatalf("line lengths %v", lens)
	}
	r, _ = Open(Plan(files, 0)[0], 1<<20)
	r.Next()
	if _, _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "longer than the 1 MiB limit") {
		t.Fatalf("limit: %v", err)
	}
}

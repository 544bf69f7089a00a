package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// wmr run in a real 80-column terminal (a tmux pane) redraws its progress
// in place: while the job runs, the screen holds one progress line no wider
// than the pane, and afterwards only that line and the summary, so nothing
// wrapped or scrolled.
func TestProgressInAn80ColumnTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (make toolchains installs it)")
	}
	slow := testwasm.Path(t, "testing/slowwords")
	dir := t.TempDir()
	var in strings.Builder
	for i := 0; i < 150000; i++ {
		fmt.Fprintf(&in, "word %d\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "in.txt"), []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := fmt.Sprintf("wmr-test-%d", os.Getpid())
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-L", socket}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tmux("kill-server") })
	run := fmt.Sprintf("cd %s && %s run --wasm %s --input in.txt --output out; echo EXIT=$?; sleep 60", dir, plainBin, slow)
	if out, err := tmux("new-session", "-d", "-x", "80", "-y", "30", run); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	var screens []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		screen, err := tmux("capture-pane", "-p")
		if err != nil {
			t.Fatalf("capture-pane: %v %s", err, screen)
		}
		screens = append(screens, screen)
		if strings.Contains(screen, "EXIT=") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not end in 60s:\n%s", screen)
		}
	}
	final := screens[len(screens)-1]
	if !strings.Contains(final, "EXIT=0") {
		t.Fatalf("wmr run failed:\n%s", final)
	}
	sawRunning := false
	for _, screen := range screens {
		lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		progress := 0
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > 80 {
				t.Fatalf("a line of %d columns in an 80-column pane:\n%s", n, screen)
			}
			if strings.Contains(l, "maps ") && strings.Contains(l, "reduces ") {
				progress++
			}
		}
		if progress > 1 {
			t.Fatalf("%d progress lines on screen (it must redraw in place):\n%s", progress, screen)
		}
		if progress == 1 && !strings.Contains(screen, "EXIT=") {
			sawRunning = true
		}
	}
	if !sawRunning {
		t.Fatalf("no progress line was shown while the job ran; last screen:\n%s", final)
	}
	// The summary follows the one progress line directly.
	if lines := strings.Split(final, "\n"); len(lines) < 2 || !strings.Contains(lines[0], "maps 1/1") || !strings.HasPrefix(lines[1], "job job-") {
		t.Fatalf("the final screen is not the progress line then the summary:\n%s", final)
	}
}

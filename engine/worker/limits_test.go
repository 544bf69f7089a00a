package worker

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A worker runs modules with no new privileges, no core dumps, capped open
// files and the data limit the parent asked for; a task still runs.
func TestWorkerRunsUnderOSLimits(t *testing.T) {
	input := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(input, []byte("a b a\n"), 0o644)
	const dataLimit = 2 << 30
	p, err := NewPool(PoolConfig{DataLimit: dataLimit})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Run(context.Background(), mapSpec(t, "wordcount", input), time.Minute, nil); err != nil {
		t.Fatalf("a task under the limits failed: %v", err)
	}
	p.mu.Lock()
	var pid int
	for pr := range p.all {
		pid = pr.cmd.Process.Pid
	}
	p.mu.Unlock()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "NoNewPrivs:\t1") {
		t.Errorf("worker %d lacks no_new_privs:\n%s", pid, status)
	}
	limits, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	wants := [][]string{
		{"Max core file size", "0", "0"},
		{"Max open files", "4096", "4096"},
	}
	if !raceEnabled { // see race_on.go
		wants = append(wants, []string{"Max data size", strconv.Itoa(dataLimit), strconv.Itoa(dataLimit)})
	}
	for _, want := range wants {
		found := false
		for _, line := range strings.Split(string(limits), "\n") {
			if rest, ok := strings.CutPrefix(line, want[0]); ok {
				f := strings.Fields(rest)
				found = len(f) >= 2 && f[0] == want[1] && f[1] == want[2]
				if !found {
					t.Errorf("worker limit %q = %v, want soft %s hard %s", want[0], f, want[1], want[2])
				}
			}
		}
		if !found {
			t.Logf("limits:\n%s", limits)
		}
	}
}

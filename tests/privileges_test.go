package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// A node running as root with tenants refuses to start unless its workers
// run as an unprivileged user (--worker-user) or it is told to accept root
// workers; with --worker-user nobody its workers are nobody's processes,
// and tenants' jobs give the right answer.
func TestWorkersDropPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the node must run as root to start workers as another user")
	}
	// Refused: root, tenants, neither flag.
	s := secureClusterWith(t, 1, nil, "ops --admin", "alice")
	o := nodeOpts{name: "strict", secrets: s.issue(t, "strict"), ca: filepath.Join(s.caDir, "ca.crt"), tenants: s.file, strictRoot: true}
	n, err := launchNode(t, o)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("a root node with tenants and root workers started")
	}
	if !strings.Contains(n.log.String(), "give --worker-user USER") || n.cmd.ProcessState.ExitCode() == 0 {
		t.Fatalf("exit %d, log:\n%s", n.cmd.ProcessState.ExitCode(), n.log)
	}

	// The binary workers run and the data directories must be reachable
	// by nobody: the tests' temporary directories are private (0700).
	for _, dir := range []string{filepath.Dir(plainBin), filepath.Dir(t.TempDir())} {
		if err := os.Chmod(dir, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	os.Chmod(tmp, 0o711)
	data := filepath.Join(tmp, "n1")

	// A data directory nobody cannot reach is refused, with the way out.
	private := filepath.Join(t.TempDir(), "deep")
	os.MkdirAll(private, 0o700)
	os.Chmod(filepath.Dir(private), 0o700)
	o = nodeOpts{name: "private", data: filepath.Join(private, "n"), secrets: s.issue(t, "private"), ca: filepath.Join(s.caDir, "ca.crt"), tenants: s.file,
		extra: []string{"--worker-user", "nobody"}}
	if n, err = launchNode(t, o); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("a node whose workers cannot reach its data directory started")
	}
	if log := n.log.String(); !strings.Contains(log, "--worker-user nobody cannot reach") || !strings.Contains(log, "chmod o+x") {
		t.Fatalf("log:\n%s", log)
	}

	o = nodeOpts{name: "n1", data: data, secrets: s.issue(t, "n1"), ca: filepath.Join(s.caDir, "ca.crt"), tenants: s.file,
		token: s.tokens["ops"], extra: []string{"--worker-user", "nobody"}}
	node := startNodeWith(t, o)
	if !strings.Contains(node.log.String(), "worker processes run as an unprivileged user") {
		t.Fatalf("log:\n%s", node.log)
	}
	dir := t.TempDir()
	paths, err := jobtest.WriteCorpus(dir, 2, 60<<10, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.as(t, "alice", node, "put", "--dataset", "books", "--block-size", "16KiB", dir); r.code != 0 {
		t.Fatalf("put: %s", r.stderr)
	}
	r := s.as(t, "alice", node, "submit", "--wasm", testwasm.Path(t, "wordcount"), "--input", "books", "--output", "counts", "--reducers", "2", "--wait")
	if r.code != 0 {
		t.Fatalf("submit: %s %s\n%s", r.stdout, r.stderr, node.log)
	}
	got := s.as(t, "alice", node, "cat", "counts")
	want, _ := jobtest.WordCount(paths)
	if d := jobtest.Diff(parse(got.stdout), want); d != "" || got.code != 0 {
		t.Fatalf("output differs from the reference (%s):\n%s", got.stderr, d)
	}
	// The workers kept for reuse are the node's children, owned by nobody.
	workers := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		var pid, ppid int
		var comm, state string
		if _, err := fmt.Sscanf(string(stat), "%d %s %s %d", &pid, &comm, &state, &ppid); err != nil || ppid != node.cmd.Process.Pid {
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join("/proc", e.Name()), &st); err != nil {
			continue
		}
		if st.Uid != 65534 {
			t.Errorf("worker process %d runs as uid %d, not nobody's 65534", pid, st.Uid)
		}
		workers++
	}
	if workers == 0 {
		t.Fatal("found no worker process of the node")
	}
}

package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
)

// disallowedModule is a module binary importing a WASI socket call; the
// node must refuse it before compiling.
func disallowedModule(t *testing.T) string {
	body := []byte{1}
	for _, s := range []string{"wasi_snapshot_preview1", "sock_accept"} {
		body = append(body, byte(len(s)))
		body = append(body, s...)
	}
	body = append(body, 0, 0)
	wasm := append([]byte("\x00asm\x01\x00\x00\x00\x02"), byte(len(body)))
	p := filepath.Join(t.TempDir(), "sockets.wasm")
	os.WriteFile(p, append(wasm, body...), 0o644)
	return p
}

// While tenant A's word count runs, tenant B throws every kind of hostile
// module at the cluster: A's output is right, and each of B's jobs fails
// with a reason that says what B's module did.
func TestHostileTenantCannotHurtAnother(t *testing.T) {
	s := secureCluster(t, 2, "ops --admin", "alice",
		"bob --task-time 3s --task-memory 64MiB --task-output 16MiB --module-size 8MiB")
	n1, n2 := s.nodes[0], s.nodes[1]
	corpus := t.TempDir()
	if _, err := jobtest.WriteCorpus(corpus, 4, 256<<10, 0, 21); err != nil {
		t.Fatal(err)
	}
	wc := testwasm.Path(t, "wordcount")
	if r := s.as(t, "alice", n1, "put", "--dataset", "books", "--replicas", "2", "--block-size", "64KiB", corpus); r.code != 0 {
		t.Fatalf("alice put: %s", r.stderr)
	}
	small := filepath.Join(t.TempDir(), "small.txt")
	os.WriteFile(small, []byte(strings.Repeat("one two three\n", 50)), 0o644)
	if r := s.as(t, "bob", n2, "put", "--dataset", "in", small); r.code != 0 {
		t.Fatalf("bob put: %s", r.stderr)
	}
	huge := filepath.Join(t.TempDir(), "huge.wasm")
	os.WriteFile(huge, append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 9<<20)...), 0o644)

	r := s.as(t, "alice", n1, "submit", "--wasm", wc, "--input", "books", "--output", "counts", "--reducers", "2")
	if r.code != 0 {
		t.Fatalf("alice submit: %s", r.stderr)
	}
	aliceJob := strings.TrimSpace(r.stdout)

	hostile := []struct{ name, module, want string }{
		{"loop", testwasm.Path(t, "hostile/loop"), "exceeded the task time limit of 3s"},
		{"membomb", testwasm.Path(t, "hostile/membomb"), "exceeded its 64 MiB memory limit"},
		{"trap", testwasm.Path(t, "hostile/trap"), "trapped"},
		{"flood", testwasm.Path(t, "hostile/flood"), "output limit of 16 MiB"},
		{"malformed", testwasm.Path(t, "hostile/malformed"), "malformed batch"},
		{"disallowed imports", disallowedModule(t), "sandbox refuses"},
		{"huge module", huge, "module size limit for tenant bob"},
	}
	var wg sync.WaitGroup
	for i, h := range hostile {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.as(t, "bob", s.nodes[i%2], "submit", "--wasm", h.module, "--input", "in", "--output", "o-"+strings.ReplaceAll(h.name, " ", "-"), "--wait")
			if r.code == 0 || !strings.Contains(r.stderr, h.want) {
				t.Errorf("bob's %s: exit %d, %q; want a failure saying %q", h.name, r.code, r.stderr, h.want)
			}
		}()
	}
	wg.Wait()
	waitFor(t, 3*time.Minute, "alice's job", func() error {
		st, err := n2.clientAs(s.tokens["alice"]).Job(context.Background(), aliceJob)
		if err != nil {
			return err
		}
		if st.State == "running" {
			return fmt.Errorf("running: maps %d/%d", st.MapsDone, st.Maps)
		}
		if st.State != "succeeded" {
			t.Fatalf("alice's job failed while bob was hostile: %s", st.Error)
		}
		return nil
	})
	if got := s.as(t, "alice", n2, "cat", "counts"); got.stdout != localRun(t, wc, corpus, 2) {
		t.Fatalf("alice's output differs from a local run: %s", got.stderr)
	}
	// Both nodes are still up and serving.
	for _, n := range s.nodes {
		if c, err := aliveCount(n.clientAs(s.tokens["ops"])); err != nil || c != 2 {
			t.Errorf("%s after the hostile jobs: %d alive, %v", n.name, c, err)
		}
	}
}

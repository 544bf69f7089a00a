package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wmr-dev/wmr/engine"
	"github.com/wmr-dev/wmr/internal/jobtest"
)

// FuzzHandlers sends arbitrary requests to every route of a live node:
// none may panic, none may answer 500 (bad input is the caller's fault,
// 4xx with a reason), and nothing may be written outside the data
// directory.
func FuzzHandlers(f *testing.F) {
	logs := &jobtest.SyncBuffer{}
	dir := f.TempDir()
	cfg := DefaultLocalConfig()
	cfg.DataDir, cfg.HTTPAddr, cfg.GossipAddr = filepath.Join(dir, "data"), "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.Engine = engine.Config{InProcess: true, Parallelism: 1}
	n, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close(context.Background()) })
	h := n.handler()
	for _, seed := range []struct{ method, path, body string }{
		{"GET", "/v1/datasets", ""},
		{"GET", "/v1/datasets/books/cat", ""},
		{"GET", "/v1/datasets/..%2F..%2Fetc/cat", ""},
		{"DELETE", "/v1/datasets/books", ""},
		{"POST", "/v1/datasets/books/files?file=a.txt&index=0&replicas=1&block=10", "one\ntwo\n"},
		{"POST", "/v1/datasets/books/files?file=../../x&index=-1&replicas=99&block=x", "x"},
		{"POST", "/v1/datasets/books/commit", `{"name":"books","shards":[{"id":"f00000-s00000","size":8,"holders":["x"]}]}`},
		{"POST", "/v1/datasets/books/commit", `{"name":"books","shards":[{"id":"../../etc"}]}`},
		{"POST", "/v1/datasets/books/inplace", `{"paths":["relative"],"block":-1}`},
		{"PUT", "/v1/modules?name=m.wasm", "\x00asm\x01\x00\x00\x00"},
		{"POST", "/v1/jobs", `{"module_hash":"../x","input":"a","output":"b","reducers":-1}`},
		{"POST", "/v1/jobs", `{"module_hash":"` + strings.Repeat("a", 64) + `","input":"books","output":"o","task_time":"-5s"}`},
		{"GET", "/v1/jobs/job-n-00000000", ""},
		{"GET", "/v1/jobs/..", ""},
		{"PUT", "/v1/internal/shards/default/books/f00000-s00000", "data\n"},
		{"PUT", "/v1/internal/shards/default/../f", "data\n"},
		{"GET", "/v1/internal/shards/default/books/f00000-s00000", ""},
		{"PUT", "/v1/internal/manifests/default/books", `{"name":"books","tenant":"default","version":1}`},
		{"POST", "/v1/internal/tasks", `{"job_id":"j","task_id":"m-00000","kind":"map","tenant":"default","dataset":"default/books","shard":"x"}`},
		{"GET", "/v1/internal/jobs/j/maps/m-00000.a1.out?offset=-1&length=5", ""},
		{"GET", "/v1/internal/jobs?tenant=../x", ""},
		{"DELETE", "/v1/internal/jobs/..", ""},
		{"POST", "/v1/admin/gossip-keys", `{"op":"install","key":"AAAA"}`},
		{"GET", "/v1/whoami", ""},
	} {
		f.Add(seed.method, seed.path, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://node"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var e apiError
			if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
				if w.Code != http.StatusNotFound && w.Code != http.StatusMethodNotAllowed { // the mux's own answers
					t.Fatalf("%s %s: %d without a reason: %q", method, path, w.Code, w.Body)
				}
			}
		}
		if strings.Contains(logs.String(), "handler panicked") {
			t.Fatalf("%s %s %q made a handler panic:\n%s", method, path, body, logs)
		}
		if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 1 {
			t.Fatalf("%s %s wrote outside the data directory: %v", method, path, matches)
		}
	})
}

// FuzzNames checks that every name the validators accept stays inside
// the directory it is joined to.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"books", "..", "a/b", "a/../b", ".hidden", "-x", "x\x00y", "default/books", "a/b/c", "ok.txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		root := "/data/shards"
		inside := func(p string) bool {
			rel, err := filepath.Rel(root, p)
			return err == nil && rel != "." && !strings.HasPrefix(rel, "..")
		}
		if ValidName("dataset", name) == nil {
			if strings.ContainsAny(name, "/\\\x00") || !inside(filepath.Join(root, name)) {
				t.Fatalf("ValidName accepted %q", name)
			}
		}
		if tenant, ds, err := splitQualified(name); err == nil {
			if !inside(filepath.Join(root, filepath.FromSlash(name))) || filepath.Join(root, tenant, ds) != filepath.Join(root, filepath.FromSlash(name)) {
				t.Fatalf("splitQualified accepted %q", name)
			}
		}
		for _, tn := range []*Tenant{{Name: "alice"}, {Name: "ops", Admin: true}} {
			if key, err := qualify(tn, name); err == nil {
				if _, _, err := splitQualified(key); err != nil {
					t.Fatalf("qualify(%s, %q) = %q, not a valid key: %v", tn.Name, name, key, err)
				}
				if !tn.Admin && !strings.HasPrefix(key, tn.Name+"/") {
					t.Fatalf("qualify let %s reach %q", tn.Name, key)
				}
			}
		}
	})
}

// FuzzTenantsFile: any file either parses into valid tenants or is
// refused with an error; never a panic.
func FuzzTenantsFile(f *testing.F) {
	_, hash := NewToken()
	f.Add([]byte(`{"tenants":[{"name":"a","tokens":["` + hash + `"],"quotas":{"task_memory":"64MiB","task_time":"1m","jobs":2}}]}`))
	f.Add([]byte(`{"tenants":[{"name":"../a","tokens":["plain"]}]}`))
	f.Add([]byte(`{"tenants":[{"name":"a","quotas":{"task_memory":-1}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tf, err := ParseTenants(b)
		if err != nil {
			return
		}
		for _, tn := range tf.Tenants {
			if ValidName("tenant", tn.Name) != nil {
				t.Fatalf("accepted tenant name %q", tn.Name)
			}
			for _, h := range tn.Tokens {
				if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 {
					t.Fatalf("accepted stored token %q", h)
				}
			}
		}
	})
}

package nodes

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/s2"
)

// The map-output endpoint serves a segment plain, or s2-compressed when
// asked, and refuses names that could escape the job directory.
func TestMapOutputEndpoint(t *testing.T) {
	n := &Node{cfg: Config{DataDir: t.TempDir()}}
	n.ready.Store(true)
	dir := filepath.Join(n.jobDir("job-a-1"), "maps")
	os.MkdirAll(dir, 0o755)
	data := bytes.Repeat([]byte("key\tvalue\n"), 10000)
	os.WriteFile(filepath.Join(dir, "m-00001.a2.out"), data, 0o644)
	h := n.handler()
	for _, compress := range []bool{false, true} {
		req := httptest.NewRequest("GET", "/v1/internal/jobs/job-a-1/maps/m-00001.a2.out?offset=10&length=50000", nil)
		if compress {
			req.Header.Set("Accept-Encoding", shuffleEncoding)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		var body io.Reader = rec.Body
		if got := rec.Header().Get("Content-Encoding") == shuffleEncoding; got != compress {
			t.Fatalf("compress=%v but Content-Encoding %q", compress, rec.Header().Get("Content-Encoding"))
		}
		if compress {
			if rec.Body.Len() >= 50000 {
				t.Fatalf("compressed body of %d bytes", rec.Body.Len())
			}
			body = s2.NewReader(rec.Body)
		}
		got, _ := io.ReadAll(body)
		if !bytes.Equal(got, data[10:50010]) {
			t.Fatalf("compress=%v: segment differs (%d bytes)", compress, len(got))
		}
	}
	for _, bad := range []string{"/v1/internal/jobs/job-a-1/maps/..%2f..%2fnode-name?offset=0&length=1",
		"/v1/internal/jobs/..%2f/maps/m-00001.a2.out?offset=0&length=1",
		"/v1/internal/jobs/job-a-1/maps/m-00001.a2.out?offset=-1&length=1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", bad, nil))
		if rec.Code != 400 && rec.Code != 404 {
			t.Errorf("%s: status %d", bad, rec.Code)
		}
	}
}

func TestCompressShuffleOnlyAcrossNetworks(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:80": false, "[::1]:80": false, "localhost:9": false, "10.0.0.5:8081": true, "node7:8081": true} {
		if got := compressShuffle(addr); got != want {
			t.Errorf("compressShuffle(%s) = %v", addr, got)
		}
	}
}

package nodes

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/wmr-dev/wmr/engine/coord"
	"github.com/wmr-dev/wmr/engine/runs"
	"github.com/wmr-dev/wmr/engine/task"
)

// mapOutput locates partition p of a finished map attempt's output.
type mapOutput struct {
	Task   string `json:"task"`
	Node   string `json:"node"`
	HTTP   string `json:"http"`
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
	// Sums are the segment's block checksums (runs.Index.Checksums).
	Sums []uint32 `json:"sums,omitempty"`
}

// fetchPartition downloads the segments a reduce or combine task reads
// (req.Inputs) from the nodes holding them, a few at a time, into dir;
// those this node holds are read where they are. It returns local
// segments in the order of req.Inputs, or the tasks whose outputs could
// not be fetched.
func (n *Node) fetchPartition(ctx context.Context, req *taskRequest, dir string) ([]runs.Segment, []string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, &localError{err}
	}
	segs := make([]runs.Segment, len(req.Inputs))
	var mu sync.Mutex
	var lost []string
	var errs []error
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, in := range req.Inputs {
		if in.Length == 0 {
			continue
		}
		if local := filepath.Join(n.jobDir(req.JobID), "maps", in.File); in.Node == n.name && safeFile.MatchString(in.File) {
			if _, err := os.Stat(local); err == nil { // this node's own output: read in place, no copy
				segs[i] = runs.Segment{Path: local, Offset: in.Offset, Length: in.Length, Sums: in.Sums, Source: in.Task}
				continue
			}
		}
		wg.Add(1)
		go func(i int, in mapOutput) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			path := filepath.Join(dir, fmt.Sprintf("%05d-%s.run", i, in.Task)) // a combine reads several segments of one output
			err := n.whileAlive(ctx, in.Node, func(ctx context.Context) error {
				return n.fetchSegment(ctx, in, req.JobID, path)
			})
			mu.Lock()
			defer mu.Unlock()
			var local *localError
			if errors.As(err, &local) {
				errs = append(errs, fmt.Errorf("store the output of map task %s on this node (%s): %w", in.Task, n.name, local.err))
				return
			}
			if err != nil {
				lost = append(lost, in.Task)
				errs = append(errs, fmt.Errorf("fetch output of map task %s from node %s: %w", in.Task, in.Node, err))
				return
			}
			segs[i] = runs.Segment{Path: path, Offset: 0, Length: in.Length, Sums: in.Sums, Source: in.Task}
		}(i, in)
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, lost, errors.Join(errs...)
	}
	return segs, nil, nil
}

// localError marks a failure of this node's own disk while fetching, which
// says nothing about the map output it was fetching.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }

// localWriter marks the errors of its writer as local.
type localWriter struct{ w io.Writer }

func (l localWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if err != nil {
		err = &localError{err}
	}
	return n, err
}

// errNodeLeft is the cause whileAlive cancels with.
var errNodeLeft = errors.New("left the cluster")

// whileAlive runs fn with a context that ends if member leaves the
// cluster: a hung peer (stopped, partitioned) must not hold a task forever.
// Departures arrive as membership events (see departures), not by polling.
func (n *Node) whileAlive(ctx context.Context, member string, fn func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	left, stop := n.departures.watch(member)
	defer stop()
	if !n.isAlive(member) { // it left before the watch began
		cancel(fmt.Errorf("node %s %w", member, errNodeLeft))
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-left:
			cancel(fmt.Errorf("node %s %w", member, errNodeLeft))
		}
	}()
	err := fn(ctx)
	if cause := context.Cause(ctx); err != nil && cause != nil && cause != context.Canceled {
		return cause
	}
	return err
}

func (n *Node) fetchSegment(ctx context.Context, in mapOutput, job, path string) error {
	q := url.Values{"offset": {strconv.FormatInt(in.Offset, 10)}, "length": {strconv.FormatInt(in.Length, 10)}}
	u := n.addrURL(in.HTTP, "/v1/internal/jobs/"+url.PathEscape(job)+"/maps/"+url.PathEscape(in.File)+"?"+q.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if compressShuffle(in.HTTP) {
		req.Header.Set("Accept-Encoding", shuffleEncoding)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", responseError(resp))
	}
	f, err := os.Create(path)
	if err != nil {
		return &localError{err}
	}
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == shuffleEncoding {
		body = s2.NewReader(resp.Body)
	}
	// Verify as it arrives: damage on the mapper's disk or on the way
	// sends the map back to run again (the caller reports it lost).
	check := runs.NewSegmentChecker(runs.Segment{Path: in.File, Offset: in.Offset, Length: in.Length, Sums: in.Sums, Source: in.Task})
	w := bufio.NewWriterSize(localWriter{f}, 256<<10)
	copied, err := io.Copy(io.MultiWriter(w, check), body)
	n.metrics.fetched(copied)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = &localError{cerr}
	}
	if err == nil {
		err = check.Check()
	}
	return err
}

// shuffleEncoding is the Content-Encoding of compressed shuffle data: the
// s2 stream format (github.com/klauspost/compress/s2).
const shuffleEncoding = "s2"

// compressShuffle says whether to ask a mapper at addr for compressed
// data: yes across a network, no on loopback, where compressing costs
// more CPU than copying the bytes (measured by make bench).
func compressShuffle(addr string) bool { return !isLoopback(addr) }

// handleMapOutput streams a segment of a map output file, s2-compressed
// when the reducer asks for it.
func (n *Node) handleMapOutput(w http.ResponseWriter, r *http.Request) {
	job, file := r.PathValue("job"), r.PathValue("file")
	if err := ValidName("job", job); err != nil || !safeFile.MatchString(file) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("%w: bad job or map output name", ErrBadName))
		return
	}
	off, err1 := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	length, err2 := strconv.ParseInt(r.URL.Query().Get("length"), 10, 64)
	if err1 != nil || err2 != nil || off < 0 || length < 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("offset and length must be non-negative integers"))
		return
	}
	f, err := os.Open(filepath.Join(n.jobDir(job), "maps", file))
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("no map output %s of job %s here", file, job))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	src := io.NewSectionReader(f, off, length)
	if !strings.Contains(r.Header.Get("Accept-Encoding"), shuffleEncoding) {
		w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
		if _, err := io.Copy(w, src); err != nil {
			panic(http.ErrAbortHandler)
		}
		return
	}
	w.Header().Set("Content-Encoding", shuffleEncoding)
	zw := s2.NewWriter(w, s2.WriterConcurrency(runtime.NumCPU()))
	if _, err := io.Copy(zw, src); err != nil {
		panic(http.ErrAbortHandler)
	}
	if err := zw.Close(); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// writeMapResult records next to a finished map output what its attempt
// reported (the partition index, stats, counters), so that a successor
// coordinator can reuse the output (see handleMapOutputs).
func writeMapResult(output string, res *task.Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	tmp := output + ".result.tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, output+".result")
}

// mapOutputFile is a finished map output a node holds for a job.
type mapOutputFile struct {
	Task    string       `json:"task"`
	Attempt int          `json:"attempt"`
	File    string       `json:"file"`
	Result  *task.Result `json:"result"`
}

// handleMapOutputs lists the finished map outputs this node holds for a
// job: those whose attempt succeeded (they have a .result beside them).
func (n *Node) handleMapOutputs(w http.ResponseWriter, r *http.Request) {
	job := r.PathValue("job")
	if err := ValidName("job", job); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, n.mapOutputs(job))
}

func (n *Node) mapOutputs(job string) []mapOutputFile {
	dir := filepath.Join(n.jobDir(job), "maps")
	entries, _ := os.ReadDir(dir)
	out := []mapOutputFile{}
	for _, en := range entries {
		file, ok := strings.CutSuffix(en.Name(), ".result")
		if !ok || !safeFile.MatchString(file) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, en.Name()))
		var res task.Result
		if err != nil || json.Unmarshal(b, &res) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			continue
		}
		var idx, attempt int
		if _, err := fmt.Sscanf(file, "m-%05d.a%d.out", &idx, &attempt); err != nil {
			continue
		}
		out = append(out, mapOutputFile{Task: coord.TaskID{Kind: coord.Map, Index: idx}.String(), Attempt: attempt, File: file, Result: &res})
	}
	return out
}

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/klauspost/compress/s2"
)

// clusterNode is a `wmr node` process the benchmark started.
type clusterNode struct {
	cmd          *exec.Cmd
	http, gossip string
	data         string
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startCluster starts size nodes in dir, each joining the first. extra,
// if set, gives node i's further arguments (and may prepare them); ready,
// if set, checks that node i answers (default: wmr members over plain
// HTTP).
func startCluster(wmr, dir string, size int, extra func(i int) ([]string, error), ready func(n *clusterNode) error) ([]*clusterNode, error) {
	var ns []*clusterNode
	if ready == nil {
		ready = func(n *clusterNode) error { return exec.Command(wmr, "members", "--node", n.http).Run() }
	}
	for i := 1; i <= size; i++ {
		n := &clusterNode{http: freeAddr(), gossip: freeAddr(), data: filepath.Join(dir, fmt.Sprintf("n%d", i))}
		os.RemoveAll(n.data)
		args := []string{"node", "--local", "--data", n.data, "--http", n.http, "--gossip", n.gossip}
		if i > 1 {
			args = append(args, "--join", ns[0].gossip)
		}
		if extra != nil {
			more, err := extra(i)
			if err != nil {
				return ns, err
			}
			args = append(args, more...)
		}
		n.cmd = exec.Command(wmr, args...)
		// The node's log, to see what a slow figure was waiting for.
		if lf, err := os.Create(n.data + ".log"); err == nil {
			n.cmd.Stderr = lf
		}
		if err := n.cmd.Start(); err != nil {
			return ns, err
		}
		ns = append(ns, n)
		deadline := time.Now().Add(20 * time.Second)
		for err := ready(n); err != nil; err = ready(n) {
			if time.Now().After(deadline) {
				return ns, fmt.Errorf("node %d did not start: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return ns, nil
}

// stopCluster stops the nodes as an operator would (SIGTERM), so they
// remove their cgroups; one that has not stopped after 10 s is killed.
func stopCluster(ns []*clusterNode) {
	for _, n := range ns {
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range ns {
		t := time.AfterFunc(10*time.Second, func() { n.cmd.Process.Kill() })
		n.cmd.Wait()
		t.Stop()
	}
}

// benchCluster times wordcount on a local 3-node cluster (the put is not
// timed) and returns its wall time and output.
func benchCluster(wmr, wasm, dir, corpus string) (time.Duration, map[string]int64, error) {
	ns, err := startCluster(wmr, filepath.Join(dir, "cluster"), 3, nil, nil)
	defer stopCluster(ns)
	if err != nil {
		return 0, nil, err
	}
	if out, err := exec.Command(wmr, "put", "--node", ns[0].http, "--dataset", "corpus", "--replicas", "2", "--block-size", "64MiB", corpus).CombinedOutput(); err != nil {
		return 0, nil, fmt.Errorf("put: %v: %s", err, out)
	}
	if err := warmCluster(wmr, wasm, dir, ns); err != nil {
		return 0, nil, err
	}
	start := time.Now()
	if out, err := exec.Command(wmr, "submit", "--node", ns[1].http, "--wasm", wasm, "--input", "corpus", "--output", "counts",
		"--reducers", "4", "--wait", "-q").CombinedOutput(); err != nil {
		return 0, nil, fmt.Errorf("submit: %v: %s", err, out)
	}
	wall := time.Since(start)
	counts, err := catCounts(wmr, ns[2], "counts")
	return wall, counts, err
}

// corpusCluster starts a local 3-node cluster in dir/name with paths put
// as dataset corpus (2 replicas, 8 MiB shards) and the module warm on
// every node. The nodes are returned even on error, for stopCluster.
func corpusCluster(wmr, wasm, dir, name string, paths []string) ([]*clusterNode, error) {
	ns, err := startCluster(wmr, filepath.Join(dir, name), 3, nil, nil)
	if err != nil {
		return ns, err
	}
	args := append([]string{"put", "--node", ns[0].http, "--dataset", "corpus", "--replicas", "2", "--block-size", "8MiB"}, paths...)
	if out, err := exec.Command(wmr, args...).CombinedOutput(); err != nil {
		return ns, fmt.Errorf("put: %v: %s", err, out)
	}
	return ns, warmCluster(wmr, wasm, dir, ns)
}

// warmCluster runs a tiny job with a shard on every node, so that each
// compiles the module into its cache once, as the wmr run figures do.
func warmCluster(wmr, wasm, dir string, ns []*clusterNode) error {
	warm := filepath.Join(dir, "warm")
	os.MkdirAll(warm, 0o755)
	for i := 0; i < 6; i++ {
		os.WriteFile(filepath.Join(warm, fmt.Sprintf("w%d.txt", i)), []byte("warm up\n"), 0o644)
	}
	if out, err := exec.Command(wmr, "put", "--node", ns[0].http, "--dataset", "warm", "--replicas", fmt.Sprint(len(ns)), warm).CombinedOutput(); err != nil {
		return fmt.Errorf("put warm-up: %v: %s", err, out)
	}
	if out, err := exec.Command(wmr, "submit", "--node", ns[1].http, "--wasm", wasm, "--input", "warm", "--output", "warm-out",
		"--reducers", "6", "--wait", "-q").CombinedOutput(); err != nil {
		return fmt.Errorf("warm-up job: %v: %s", err, out)
	}
	return nil
}

// catCounts reads a word-count dataset back through node n.
func catCounts(wmr string, n *clusterNode, dataset string) (map[string]int64, error) {
	var buf bytes.Buffer
	cat := exec.Command(wmr, "cat", "--node", n.http, dataset)
	cat.Stdout = &buf
	if err := cat.Run(); err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte("\t"))
		n, _ := strconv.ParseInt(string(v), 10, 64)
		counts[string(k)] = n
	}
	return counts, nil
}

// benchShuffle compares the shuffle transport (a node serving a map output
// segment s2-compressed over HTTP, fetched and decoded to a file as a
// reducer does) with a plain loopback TCP copy of the same bytes.
func benchShuffle(wmr, dir, sample string) (shuffle, compressed, tcp time.Duration, n int64, err error) {
	ns, err := startCluster(wmr, filepath.Join(dir, "shuffle"), 1, nil, nil)
	defer stopCluster(ns)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	// A map output to serve: the sample file, placed where the node keeps
	// a job's map outputs.
	maps := filepath.Join(ns[0].data, "jobs", "job-bench-0", "maps")
	os.MkdirAll(maps, 0o755)
	data, err := os.ReadFile(sample)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	n = int64(len(data))
	if err := os.WriteFile(filepath.Join(maps, "m-00000.a1.out"), data, 0o644); err != nil {
		return 0, 0, 0, 0, err
	}
	sink := filepath.Join(dir, "shuffle-sink")
	// Shuffle: as a reducer fetches a segment, plain (as on loopback) and
	// s2-compressed (as across a network).
	fetch := func(compress bool) (time.Duration, error) {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v1/internal/jobs/job-bench-0/maps/m-00000.a1.out?offset=0&length=%d", ns[0].http, n), nil)
		if compress {
			req.Header.Set("Accept-Encoding", "s2")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var body io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "s2" {
			body = s2.NewReader(resp.Body)
		} else if compress {
			return 0, fmt.Errorf("the node did not compress")
		}
		f, _ := os.Create(sink)
		w := bufio.NewWriterSize(f, 256<<10)
		got, err := io.Copy(w, body)
		w.Flush()
		f.Close()
		if err == nil && got != n {
			err = fmt.Errorf("shuffle fetch: %d of %d bytes", got, n)
		}
		return time.Since(start), err
	}
	if shuffle, err = fetch(false); err != nil {
		return 0, 0, 0, 0, err
	}
	if compressed, err = fetch(true); err != nil {
		return 0, 0, 0, 0, err
	}
	// Plain TCP: the same bytes, read from the same file, over loopback,
	// written to a file.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		src, _ := os.Open(filepath.Join(maps, "m-00000.a1.out"))
		io.Copy(c, src)
		src.Close()
		c.Close()
	}()
	start := time.Now()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return 0, 0, 0, 0, err
	}
	f, _ := os.Create(sink)
	got, err := io.Copy(f, c)
	f.Close()
	c.Close()
	tcp = time.Since(start)
	os.Remove(sink)
	if err != nil || got != n {
		return 0, 0, 0, 0, fmt.Errorf("tcp copy: %d of %d bytes, %v", got, n, err)
	}
	return shuffle, compressed, tcp, n, nil
}

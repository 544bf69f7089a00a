package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wmr-dev/wmr/internal/jobtest"
	"github.com/wmr-dev/wmr/internal/testwasm"
	"github.com/wmr-dev/wmr/nodes"
)

// netLab is a private network of Linux network namespaces on one bridge:
// node i lives in its own namespace at 10.201.X.i, reachable from the
// test (the bridge holds 10.201.X.254). Cutting a node's link partitions
// it from everyone. Nothing leaves the machine.
type netLab struct {
	t      *testing.T
	id     string // short and unique: names the bridge, links, namespaces
	subnet string // 10.201.X
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

var labs atomic.Int32

func newNetLab(t *testing.T, nodes int) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("network namespaces need iproute2 (ip)")
	}
	// Each lab of this process gets its own names and subnet: a lab's
	// links may outlive its test for a moment.
	k := int(labs.Add(1))
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, k)
	l := &netLab{t: t, id: id, subnet: fmt.Sprintf("10.201.%d", (os.Getpid()+k)%250)}
	br := "wbr" + id
	t.Cleanup(func() {
		for i := 1; i <= nodes; i++ {
			exec.Command("ip", "netns", "del", l.ns(i)).Run()
		}
		exec.Command("ip", "link", "del", br).Run()
	})
	sh(t, "ip", "link", "add", br, "type", "bridge")
	sh(t, "ip", "addr", "add", l.subnet+".254/24", "dev", br)
	sh(t, "ip", "link", "set", br, "up")
	for i := 1; i <= nodes; i++ {
		ns, host, inner := l.ns(i), l.hostLink(i), fmt.Sprintf("wn%s-%d", id, i)
		sh(t, "ip", "netns", "add", ns)
		sh(t, "ip", "link", "add", host, "type", "veth", "peer", "name", inner)
		sh(t, "ip", "link", "set", inner, "netns", ns)
		sh(t, "ip", "link", "set", host, "master", br)
		sh(t, "ip", "link", "set", host, "up")
		sh(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("%s.%d/24", l.subnet, i), "dev", inner)
		sh(t, "ip", "-n", ns, "link", "set", inner, "up")
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	return l
}

func (l *netLab) ns(i int) string       { return fmt.Sprintf("wmr%s-%d", l.id, i) }
func (l *netLab) hostLink(i int) string { return fmt.Sprintf("wh%s-%d", l.id, i) }
func (l *netLab) addr(i, port int) string {
	return fmt.Sprintf("%s.%d:%d", l.subnet, i, port)
}

// cut takes node i's link down (up again with heal).
func (l *netLab) cut(i int)  { sh(l.t, "ip", "link", "set", l.hostLink(i), "down") }
func (l *netLab) heal(i int) { sh(l.t, "ip", "link", "set", l.hostLink(i), "up") }

// start runs node i in its namespace, joining the given seeds.
func (l *netLab) start(t *testing.T, i int, join ...string) *testNode {
	t.Helper()
	name := fmt.Sprintf("n%d", i)
	n := &testNode{name: name, data: filepath.Join(t.TempDir(), name), http: l.addr(i, 8080), gossip: l.addr(i, 7946),
		log: &jobtest.SyncBuffer{}, exited: make(chan struct{})}
	n.url = "http://" + n.http
	args := []string{"netns", "exec", l.ns(i), wmrBin, "node", "--local", "--insecure", "--data", n.data, "--http", n.http, "--gossip", n.gossip}
	for _, j := range join {
		args = append(args, "--join", j)
	}
	n.cmd = exec.Command("ip", args...) // ip execs the node: the pid is the node's
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(n.kill)
	return n
}

// views says which members each node sees alive ("?" if it cannot be
// asked), for messages.
func views(ns []*testNode) string {
	var out []string
	for _, n := range ns {
		ms, err := n.client().Members(contextBG())
		var alive []string
		for _, m := range ms {
			if m.State == "alive" {
				alive = append(alive, m.Name)
			}
		}
		if err != nil {
			alive = []string{"?"}
		}
		out = append(out, n.name+" sees "+strings.Join(alive, ","))
	}
	return strings.Join(out, " | ")
}

// whole waits until every node sees all of them alive and says how long
// that took.
func whole(t *testing.T, ns []*testNode, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	waitFor(t, within, "one whole cluster", func() error {
		for _, n := range ns {
			if c, err := aliveCount(n.client()); err != nil || c != len(ns) {
				return fmt.Errorf("%s", views(ns))
			}
		}
		return nil
	})
	return time.Since(start)
}

// Partitions heal by themselves once the network does: a node cut off for
// 10 seconds, and then the seed (the node everyone joined through).
func TestClusterHealsAfterPartitions(t *testing.T) {
	l := newNetLab(t, 3)
	n1 := l.start(t, 1)
	waitFor(t, 20*time.Second, "n1 to answer", func() error { _, err := n1.client().Members(contextBG()); return err })
	ns := []*testNode{n1, l.start(t, 2, n1.gossip), l.start(t, 3, n1.gossip)}
	whole(t, ns, 20*time.Second)
	for _, victim := range []int{3, 1} {
		l.cut(victim)
		// The rest see the victim go; the victim sees only itself.
		others := []*testNode{}
		for i, n := range ns {
			if i+1 != victim {
				others = append(others, n)
			}
		}
		waitFor(t, 20*time.Second, "the partition to be noticed", func() error {
			for _, n := range others {
				if c, err := aliveCount(n.client()); err != nil || c != 2 {
					return fmt.Errorf("%s", views(others))
				}
			}
			return nil
		})
		time.Sleep(10 * time.Second)
		l.heal(victim)
		took := whole(t, ns, 30*time.Second)
		t.Logf("link of n%d cut for 10 s: whole again %v after healing", victim, took.Round(100*time.Millisecond))
	}
}

func contextBG() context.Context { return context.Background() }

// A coordinator cut off by a partition loses its job to a successor on
// the majority's side, which publishes the output once; the cut-off node,
// though it holds every shard and runs the whole job alone, publishes
// nothing; and after the partition heals every node reports the
// successor's success.
func TestClusterPartitionedCoordinatorIsSuperseded(t *testing.T) {
	l := newNetLab(t, 3)
	n1 := l.start(t, 1)
	waitFor(t, 20*time.Second, "n1 to answer", func() error { _, err := n1.client().Members(contextBG()); return err })
	ns := []*testNode{n1, l.start(t, 2, n1.gossip), l.start(t, 3, n1.gossip)}
	whole(t, ns, 20*time.Second)
	_, paths := putCorpus(t, n1, "books", 3, 3, 40<<10)
	st, err := n1.client().Submit(contextBG(), nodes.SubmitOptions{Module: testwasm.Path(t, "testing/slowwords"),
		Input: "books", Output: "counts", Reducers: 2, Params: map[string]string{"spin": "300000"}})
	if err != nil {
		t.Fatal(err)
	}
	waitRunningAttempt(t, ns, st.ID, "map", func(*testNode) bool { return true })
	l.cut(1)
	final := waitJobEnd(t, ns[1], st.ID, 240*time.Second)
	if final.State != "succeeded" || final.Coordinator != "n2" {
		t.Fatalf("on the majority's side: %s coordinated by %s: %s (%s)", final.State, final.Coordinator, final.Error, views(ns[1:]))
	}
	want, _ := jobtest.WordCount(paths)
	if got, err := catString(t, ns[2].client(), "counts"); err != nil || jobtest.Diff(parse(got), want) != "" {
		t.Fatalf("output on the majority's side: %v\n%s", err, jobtest.Diff(parse(got), want))
	}
	if lines := countLines(paths); final.Counters["lines"] != int64(lines) {
		t.Fatalf("counters %v, want lines=%d", final.Counters, lines)
	}
	// The cut-off coordinator ran the job to its end alone, and its fence
	// refused to publish (give it the time to get there).
	waitFor(t, 120*time.Second, "n1 to give its run of the job up", func() error {
		if log := n1.log.String(); !strings.Contains(log, "only 1 of the job's 3 nodes answered before its output was published") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	l.heal(1)
	whole(t, ns, 60*time.Second)
	for _, line := range strings.Split(n1.log.String(), "\n") {
		if strings.Contains(line, "dataset committed") && strings.Contains(line, "counts") {
			t.Fatalf("the cut-off coordinator published the output: %s", line)
		}
	}
	waitFor(t, 60*time.Second, "n1 to learn the successor's result", func() error {
		s, err := n1.client().Job(contextBG(), st.ID)
		if err != nil || s.State != "succeeded" || s.Coordinator != "n2" {
			return fmt.Errorf("%v %+v", err, s)
		}
		js, err := n1.client().Jobs(contextBG())
		if err != nil || len(js) != 1 || js[0].State != "succeeded" {
			return fmt.Errorf("jobs via n1: %v %+v", err, js)
		}
		return nil
	})
	if got, err := catString(t, n1.client(), "counts"); err != nil || jobtest.Diff(parse(got), want) != "" {
		t.Fatalf("output via n1 after healing: %v", err)
	}
}

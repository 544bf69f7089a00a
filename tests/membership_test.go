package tests

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// A cluster forms whatever order its nodes start in, and stays one across
// restarts: seeds that are not up yet are retried, a node restarted without
// --join (the README's command for the first node) rejoins the peers it
// remembers, and so does one whose only seed is down.
func TestClusterFormsWhateverTheOrder(t *testing.T) {
	h1, g1 := freePort(t), freePort(t)
	var ns []*testNode
	for i := 2; i <= 5; i++ {
		n, err := launchNode(t, nodeOpts{name: fmt.Sprintf("n%d", i), join: []string{g1}, race: true})
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	time.Sleep(1500 * time.Millisecond) // they retry their seed meanwhile
	for _, n := range ns {
		select {
		case <-n.exited:
			t.Fatalf("%s exited while its seed was not up yet:\n%s", n.name, n.log)
		default:
		}
	}
	first := startNodeAt(t, "n1", filepath.Join(t.TempDir(), "n1"), h1, g1)
	ns = append([]*testNode{first}, ns...)
	for _, n := range ns {
		waitAlive(t, n, 5)
	}

	// The first node restarted with no --join.
	first.kill()
	waitAlive(t, ns[1], 4)
	ns[0] = startNodeAt(t, "n1", first.data, h1, g1)
	for _, n := range ns {
		waitAlive(t, n, 5)
	}

	// A node restarted with --join naming only the seed, which is down.
	ns[0].kill()
	victim := ns[2]
	victim.kill()
	waitAlive(t, ns[1], 3)
	ns[2] = startNodeAt(t, victim.name, victim.data, victim.http, victim.gossip, g1)
	for _, n := range ns[1:] {
		waitAlive(t, n, 4)
	}
}

package nodes

import (
	"strings"
	"testing"
	"time"
)

// A tenant sees its own running attempts and only a count of the others;
// an admin sees all; an attempt that ended is gone.
func TestRunningTasksVisibility(t *testing.T) {
	var r runningTasks
	t0 := time.Unix(1000, 0)
	doneA := r.add(RunningTask{Job: "j1", Task: "m-00001", Tenant: "alice", Start: t0.Add(time.Second)})
	r.add(RunningTask{Job: "j1", Task: "m-00000", Tenant: "alice", Start: t0})
	r.add(RunningTask{Job: "j2", Task: "r-00000", Tenant: "bob", Start: t0})
	for _, c := range []struct {
		who    *Tenant
		tasks  []string
		hidden int
	}{
		{&Tenant{Name: "alice"}, []string{"m-00000", "m-00001"}, 1},
		{&Tenant{Name: "bob"}, []string{"r-00000"}, 2},
		{&Tenant{Name: "carol"}, nil, 3},
		{&Tenant{Name: "ops", Admin: true}, []string{"m-00000", "r-00000", "m-00001"}, 0},
	} {
		seen, hidden := r.visibleTo(c.who)
		var tasks []string
		for _, s := range seen {
			tasks = append(tasks, s.Task)
		}
		if strings.Join(tasks, ",") != strings.Join(c.tasks, ",") || hidden != c.hidden {
			t.Errorf("%s sees %v and %d hidden, want %v and %d", c.who.Name, tasks, hidden, c.tasks, c.hidden)
		}
	}
	doneA()
	if seen, _ := r.visibleTo(&Tenant{Name: "alice"}); len(seen) != 1 || seen[0].Task != "m-00000" {
		t.Errorf("after m-00001 ended alice sees %v", seen)
	}
}

// A member that failed is listed as dead until it rejoins, and forgotten
// after departedMemory.
func TestDepartedMembers(t *testing.T) {
	var d departedMembers
	now := time.Unix(5000, 0)
	d.add(Member{Name: "n2", State: "alive"}, now) // memberlist's last view of a failed node
	d.add(Member{Name: "n3", State: "left"}, now)
	got := map[string]string{}
	for _, m := range d.list(now.Add(time.Minute)) {
		got[m.Name] = m.State
	}
	if len(got) != 2 || got["n2"] != "dead" || got["n3"] != "left" {
		t.Fatalf("departed %v, want n2 dead and n3 left", got)
	}
	d.back("n2")
	if l := d.list(now); len(l) != 1 || l[0].Name != "n3" {
		t.Fatalf("after n2 rejoined: %v", l)
	}
	if l := d.list(now.Add(departedMemory + time.Second)); len(l) != 0 {
		t.Fatalf("after %v: %v still listed", departedMemory, l)
	}
}

package nodes

import (
	"fmt"
	"testing"
	"time"
)

func TestPlaceIsStableAndSpread(t *testing.T) {
	members := []string{"n1", "n2", "n3", "n4"}
	counts := map[string]int{}
	moved := 0
	for i := 0; i < 1000; i++ {
		shard := fmt.Sprintf("books/%05d", i)
		got := Place(shard, members, 2)
		if len(got) != 2 || got[0] == got[1] {
			t.Fatalf("Place(%s) = %v", shard, got)
		}
		for _, m := range got {
			counts[m]++
		}
		// Removing a member that did not hold the shard changes nothing.
		var without []string
		for _, m := range members {
			if m != "n4" {
				without = append(without, m)
			}
		}
		again := Place(shard, without, 2)
		if got[0] != "n4" && got[1] != "n4" && fmt.Sprint(again) != fmt.Sprint(got) {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d shards moved though their holders stayed", moved)
	}
	for m, c := range counts {
		if c < 350 || c > 650 {
			t.Errorf("member %s holds %d of 2000 replicas; placement is skewed: %v", m, c, counts)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"books", "counts-2024", "a.b_c", "X"} {
		if err := ValidName("dataset", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../etc", "a/b", ".hidden", "_tmp", "-x", "a b", "é", string(make([]byte, 129))} {
		if err := ValidName("dataset", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConfigDefaultsFillOnlyZeroFields(t *testing.T) {
	lan, local := DefaultLANConfig(), DefaultLocalConfig()
	if got := (Config{}).withDefaults(); got.ProbeInterval != lan.ProbeInterval || got.RepairGrace != lan.RepairGrace || got.MaxUpload != lan.MaxUpload {
		t.Fatalf("zero config: %+v", got)
	}
	if got := local.withDefaults(); got.ProbeInterval != local.ProbeInterval || got.RepairGrace != local.RepairGrace {
		t.Fatalf("local preset overwritten: %+v", got)
	}
	c := Config{RepairGrace: time.Hour}
	if got := c.withDefaults(); got.RepairGrace != time.Hour || got.RepairInterval != lan.RepairInterval {
		t.Fatalf("partial config: %+v", got)
	}
}

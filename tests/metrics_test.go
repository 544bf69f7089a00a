package tests

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wmr-dev/wmr/internal/testwasm"
)

// scrape reads a node's /metrics and parses it with Prometheus's parser.
func scrape(t *testing.T, n *testNode) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	resp, err := http.Get("http://" + n.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	return b, parseMetrics(t, b)
}

// parseMetrics parses a /metrics body with Prometheus's own parser.
func parseMetrics(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value sums the samples of a family whose labels include all of want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// /metrics parses with Prometheus's own parser, passes its lint, and its
// counters move as a job runs: tasks by kind and outcome, records, shuffle
// bytes, HTTP requests by route; members by state.
func TestMetrics(t *testing.T) {
	ns := cluster(t, 2)
	putCorpus(t, ns[0], "books", 2, 2, 40<<10)
	_, before := scrape(t, ns[1])
	if r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "wordcount"), "--input", "books",
		"--output", "counts", "--reducers", "2", "--wait"); r.code != 0 {
		t.Fatalf("submit: %s", r.stderr)
	}
	text, after := scrape(t, ns[1])
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	if err != nil || len(problems) > 0 {
		t.Fatalf("promlint: %v %v", problems, err)
	}
	var maps, reduces, hits, misses float64
	for _, n := range ns {
		_, f := scrape(t, n)
		maps += value(f, "wmr_tasks_finished_total", map[string]string{"kind": "map", "outcome": "succeeded"})
		reduces += value(f, "wmr_tasks_finished_total", map[string]string{"kind": "reduce", "outcome": "succeeded"})
		hits += max(0, value(f, "wmr_module_cache_requests_total", map[string]string{"result": "hit"}))
		misses += max(0, value(f, "wmr_module_cache_requests_total", map[string]string{"result": "miss"}))
	}
	if maps < 1 || reduces < 2 {
		t.Fatalf("tasks finished across the nodes: %v maps, %v reduces", maps, reduces)
	}
	// The coordinator staged the module at submit; the other node fetched
	// and compiled it once; every task found it ready.
	if misses != 1 || hits < maps+reduces {
		t.Errorf("module cache: %v misses, %v hits; want 1 miss (the node that is not the coordinator) and a hit per task (%v)", misses, hits, maps+reduces)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"wmr_task_records_total", map[string]string{"direction": "in"}},
		{"wmr_task_duration_seconds", nil},
		{"wmr_http_requests_total", map[string]string{"route": "POST /v1/internal/tasks", "code": "200"}},
		{"wmr_worker_starts_total", nil},
	} {
		if a, b := value(after, c.name, c.labels), value(before, c.name, c.labels); a <= max(b, 0) {
			t.Errorf("%s %v did not move: %v before, %v after", c.name, c.labels, b, a)
		}
	}
	if v := value(after, "wmr_members", map[string]string{"state": "alive"}); v != 2 {
		t.Errorf("wmr_members{state=alive} = %v, want 2", v)
	}
	if v := value(after, "wmr_shard_replicas_below_target", nil); v != 0 {
		t.Errorf("wmr_shard_replicas_below_target = %v, want 0", v)
	}
	// The workers that ran the tasks stay, idle, for the next; none ended
	// badly; the slots are free again.
	if v := value(after, "wmr_workers", nil); v < 1 {
		t.Errorf("wmr_workers = %v, want the idle workers kept", v)
	}
	if v := value(after, "wmr_worker_exits_total", nil); v != 0 {
		t.Errorf("wmr_worker_exits_total = %v, want 0 after a clean job", v)
	}
	if s, b := value(after, "wmr_task_slots", nil), value(after, "wmr_task_slots_busy", nil); s < 1 || b != 0 {
		t.Errorf("wmr_task_slots = %v, busy %v; want slots, all free", s, b)
	}
	if !strings.Contains(string(text), "go_goroutines") {
		t.Error("no Go runtime metrics")
	}
}

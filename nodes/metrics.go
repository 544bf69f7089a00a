package nodes

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wmr-dev/wmr/engine/task"
	"github.com/wmr-dev/wmr/engine/worker"
)

// metrics is what a node exports at /metrics for Prometheus: names by its
// conventions (wmr_ prefix, base units, _total for counters) and label
// sets bounded by code (routes are the API's patterns, kinds and outcomes
// fixed lists, member states memberlist's).
type metrics struct {
	reg           *prometheus.Registry
	httpRequests  *prometheus.CounterVec
	authRefusals  *prometheus.CounterVec
	tasksStarted  *prometheus.CounterVec
	tasksFinished *prometheus.CounterVec
	taskSeconds   *prometheus.HistogramVec
	records       *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	shuffleBytes  prometheus.Counter
	moduleLookups *prometheus.CounterVec
}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wmr_http_requests_total",
		Help: "HTTP requests served, by route (the API pattern) and status code."}, []string{"route", "code"})
	m.authRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wmr_auth_refusals_total",
		Help: "Requests refused for their credentials: a bad or missing token, a non-admin on an admin route, a non-node on a node route."}, []string{"reason"})
	m.tasksStarted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wmr_tasks_started_total",
		Help: "Task attempts this node started, by kind (map, reduce, sample)."}, []string{"kind"})
	m.tasksFinished = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wmr_tasks_finished_total",
		Help: "Task attempts this node finished, by kind and outcome (succeeded, or the failure's class: module, local, invalid, lost, fetch)."}, []string{"kind", "outcome"})
	m.taskSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "wmr_task_duration_seconds",
		Help: "Wall time of the task attempts this node ran, by kind.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"kind"})
	m.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wmr_task_records_total",
		Help: "Records the successful task attempts of this node read (in) and wrote (out), by kind."}, []string{"kind", "direction"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wmr_task_bytes_total",
		Help: "Bytes the successful task attempts of this node read (in) and wrote (out), by kind."}, []string{"kind", "direction"})
	m.shuffleBytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "wmr_shuffle_fetched_bytes_total",
		Help: "Map output bytes this node's reduce attempts fetched from other nodes."})
	m.moduleLookups = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "wmr_module_cache_requests_total",
		Help: "Modules a task asked this node for, by result: hit (staged and compiled here before), miss (fetched from the coordinator and compiled)."}, []string{"result"})
	members := prometheus.NewDesc("wmr_members", "Cluster members this node sees, by state.", []string{"state"}, nil)
	below := prometheus.NewDesc("wmr_shard_replicas_below_target", "Shards of the catalog with fewer live holders than their dataset's replicas.", nil, nil)
	workers := prometheus.NewDesc("wmr_workers", "Worker processes running now, busy or idle.", nil, nil)
	workerStarts := prometheus.NewDesc("wmr_worker_starts_total", "Worker processes this node started (a worker is reused until it fails or is killed).", nil, nil)
	workerExits := prometheus.NewDesc("wmr_worker_exits_total", "Worker processes that ended with their attempt, by reason (time_limit, cancelled, crashed, out_of_memory, killed, seccomp).", []string{"reason"}, nil)
	slots := prometheus.NewDesc("wmr_task_slots", "Task slots of this node.", nil, nil)
	busy := prometheus.NewDesc("wmr_task_slots_busy", "Task slots running an attempt.", nil, nil)
	tenantCPU := prometheus.NewDesc("wmr_tenant_cpu_seconds_total", "CPU time the tenant's worker processes used on this node, from its cgroup (only with cgroups).", []string{"tenant"}, nil)
	tenantOOM := prometheus.NewDesc("wmr_tenant_oom_kills_total", "Worker processes of the tenant killed by its memory quota on this node (only with cgroups).", []string{"tenant"}, nil)
	queued := prometheus.NewDesc("wmr_task_attempts_queued", "Attempts waiting for a task slot.", nil, nil)
	m.reg.MustRegister(m.httpRequests, m.authRefusals, m.tasksStarted, m.tasksFinished, m.taskSeconds, m.records, m.bytes, m.shuffleBytes, m.moduleLookups,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectorFunc{descs: []*prometheus.Desc{members, below, workers, workerStarts, workerExits, slots, busy, queued, tenantCPU, tenantOOM}, collect: func(ch chan<- prometheus.Metric) {
			counts := map[string]int{"alive": 0, "suspect": 0, "dead": 0, "left": 0}
			for _, mem := range n.Members() {
				counts[mem.State]++
			}
			for state, c := range counts {
				ch <- prometheus.MustNewConstMetric(members, prometheus.GaugeValue, float64(c), state)
			}
			ch <- prometheus.MustNewConstMetric(below, prometheus.GaugeValue, float64(n.shardsBelowTarget()))
			ws := n.engine.WorkerStats()
			ch <- prometheus.MustNewConstMetric(workers, prometheus.GaugeValue, float64(ws.Live))
			ch <- prometheus.MustNewConstMetric(workerStarts, prometheus.CounterValue, float64(ws.Started))
			for _, reason := range []string{worker.EndTimeLimit, worker.EndCancelled, worker.EndCrashed, worker.EndOutOfMemory, worker.EndKilled, worker.EndSeccomp} {
				ch <- prometheus.MustNewConstMetric(workerExits, prometheus.CounterValue, float64(ws.Ended[reason]), reason)
			}
			s, b, q := n.share.slotCounts()
			ch <- prometheus.MustNewConstMetric(slots, prometheus.GaugeValue, float64(s))
			ch <- prometheus.MustNewConstMetric(busy, prometheus.GaugeValue, float64(b))
			ch <- prometheus.MustNewConstMetric(queued, prometheus.GaugeValue, float64(q))
			if n.groups != nil {
				for _, t := range n.groups.m.Tenants() {
					if cpu, ok := n.groups.m.CPUTime(t); ok {
						ch <- prometheus.MustNewConstMetric(tenantCPU, prometheus.CounterValue, cpu.Seconds(), t)
					}
					ch <- prometheus.MustNewConstMetric(tenantOOM, prometheus.CounterValue, float64(max(0, n.groups.m.OOMKills(t))), t)
				}
			}
		}})
	return m
}

// collectorFunc collects metrics computed when scraped.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }

// shardsBelowTarget counts the catalog's shards with fewer live holders
// than their dataset asks for.
func (n *Node) shardsBelowTarget() int {
	alive := map[string]bool{}
	for _, m := range n.alive() {
		alive[m.Name] = true
	}
	below := 0
	for _, m := range n.store.manifests() {
		if m.Deleted {
			continue
		}
		for _, s := range m.Shards {
			live := 0
			for _, h := range s.Holders {
				if alive[h] {
					live++
				}
			}
			if live < m.Replicas {
				below++
			}
		}
	}
	return below
}

// taskStarted and taskFinished record one attempt this node ran. The
// recording methods do nothing on a nil *metrics (a Node made by hand in a
// unit test).
func (m *metrics) taskStarted(kind string) {
	if m != nil {
		m.tasksStarted.WithLabelValues(kind).Inc()
	}
}

// refused counts a request refused for its credentials.
func (m *metrics) refused(reason string) {
	if m != nil {
		m.authRefusals.WithLabelValues(reason).Inc()
	}
}

// moduleCache counts a task's module lookup: "hit" or "miss".
func (m *metrics) moduleCache(result string) {
	if m != nil {
		m.moduleLookups.WithLabelValues(result).Inc()
	}
}

// fetched counts shuffle bytes fetched.
func (m *metrics) fetched(n int64) {
	if m != nil {
		m.shuffleBytes.Add(float64(n))
	}
}

func (m *metrics) taskFinished(kind string, start time.Time, resp *taskResponse) {
	if m == nil {
		return
	}
	outcome := "succeeded"
	if resp.Error != "" || resp.Result == nil {
		outcome = resp.Class
		if outcome == "" {
			outcome = "local"
		}
	}
	m.tasksFinished.WithLabelValues(kind, outcome).Inc()
	m.taskSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	if outcome == "succeeded" {
		st := resp.Result.Stats
		m.records.WithLabelValues(kind, "in").Add(float64(st.RecordsIn))
		m.records.WithLabelValues(kind, "out").Add(float64(st.RecordsOut))
		m.bytes.WithLabelValues(kind, "in").Add(float64(st.BytesIn))
		m.bytes.WithLabelValues(kind, "out").Add(float64(st.BytesOut))
	}
}

// knownKind keeps the kind label to the task kinds.
func knownKind(kind string) string {
	switch kind {
	case task.KindMap, task.KindReduce, task.KindSample:
		return kind
	}
	return "other"
}

// instrument counts a route's requests by status code.
func (m *metrics) instrument(route string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() { m.httpRequests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc() }()
		h.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func errForbiddenMetrics(tenant string) error {
	return fmt.Errorf("%w: /metrics shows the whole node's figures, so it needs an admin tenant; %s is not one", errForbidden, tenant)
}

// handleMetrics serves the Prometheus text format. With tenants on it is
// for admin tenants (the figures are the whole node's); in dev mode for
// anyone who can reach the node.
func (n *Node) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if n.metrics == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("node %s keeps no metrics", n.name))
		return
	}
	if t := tenantOf(r); n.tenants != nil && !t.Admin {
		n.metrics.refused("admin")
		writeError(w, http.StatusForbidden, errForbiddenMetrics(t.Name))
		return
	}
	promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

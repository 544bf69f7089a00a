package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wmr-dev/wmr/internal/testwasm"
	"github.com/wmr-dev/wmr/nodes"
)

// chromium is Debian's browser, which make toolchains installs.
const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium for one test, closed when it ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the dashboard tests drive %s (Debian's chromium package); run make toolchains to install it: %v", chromium, err)
	}
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The secure cluster's certificates come from a CA the test made.
		chromedp.Flag("ignore-certificate-errors", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx
}

// screenshot saves the page as build/dashboard/NAME.png in the checkout.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	root, err := testwasm.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100: PNG */)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join(root, "build", "dashboard")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// loads makes every page() address new, so the browser loads the page
// afresh (a change of the #fragment alone would not).
var loads atomic.Int64

// page is the dashboard's address for a view, e.g. "jobs/ID".
func page(base, view string) string {
	return fmt.Sprintf("%s/ui/?load=%d#/%s", base, loads.Add(1), view)
}

// show opens a view of the dashboard and waits until the page has drawn
// it from the API.
func show(t *testing.T, ctx context.Context, base, view string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(page(base, view))); err != nil {
		t.Fatalf("open view %s: %v", view, err)
	}
	waitJS(t, ctx, "view "+view+" to load", fmt.Sprintf(`document.getElementById('view').dataset.loaded === %q`, view))
}

// waitJS waits up to 30 seconds for a JavaScript expression to be true
// on the page, and fails the test with the page's text if it never is.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("waiting for %s (%s): %v\npage: %s", what, js, err, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eval runs a JavaScript expression on the page.
func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return out
}

// thousands formats n as the page does (en-US grouping).
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// The dashboard in a real browser: the job list, a job's page (state,
// progress, every attempt on the timeline, counters, module logs), the
// nodes and the datasets show what the API says; a node that dies shows
// as dead, and the shards it held as under-replicated.
func TestDashboard(t *testing.T) {
	ns := cluster(t, 2)
	putCorpus(t, ns[0], "books", 2, 3, 30<<10)
	finish := testwasm.Path(t, "testing/finish")
	if r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", finish, "--input", "books", "--output", "lines", "--reducers", "2", "--wait"); r.code != 0 {
		t.Fatalf("submit: %s", r.stderr)
	}
	bg := context.Background()
	jobs, err := ns[1].client().Jobs(bg)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs: %v %v", jobs, err)
	}
	st, err := ns[1].client().Job(bg, jobs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ns[1].http // not the coordinator: any node answers
	ctx := browser(t)

	// The job list.
	show(t, ctx, base, "jobs")
	row := eval[map[string]string](t, ctx, `(() => { const r = document.querySelector('tr[data-job]'); return r ? {id: r.dataset.job,
		state: r.querySelector('[data-state]').dataset.state, maps: r.querySelector('.maps').textContent.trim(),
		reduces: r.querySelector('.reduces').textContent.trim(), tenant: r.querySelector('.tenant').textContent} : {}; })()`)
	want := map[string]string{"id": st.ID, "state": "succeeded", "maps": fmt.Sprintf("%d/%d", st.Maps, st.Maps), "reduces": "2/2", "tenant": nodes.DefaultTenant}
	if fmt.Sprint(row) != fmt.Sprint(want) {
		t.Errorf("job list row %v, want %v", row, want)
	}
	screenshot(t, ctx, "jobs")

	// The job's page.
	show(t, ctx, base, "jobs/"+st.ID)
	jobPage := eval[map[string]any](t, ctx, `({
		id: document.getElementById('job-id').textContent,
		state: document.querySelector('[data-card=state] [data-state]').dataset.state,
		recordsIn: document.querySelector('[data-card=records-in] .value').textContent,
		maps: document.getElementById('progress-map').textContent,
		bars: [...document.querySelectorAll('#gantt rect.attempt')].map(r => r.dataset.task + '.a' + r.dataset.attempt + '@' + r.dataset.node + ':' + r.dataset.outcome),
		counter: (document.querySelector('tr[data-counter=map_lines] td.num') || {}).textContent,
		logs: (document.getElementById('logs') || {}).textContent || '',
		rows: document.querySelectorAll('tr[data-attempt-row]').length,
	})`)
	if jobPage["id"] != st.ID || jobPage["state"] != "succeeded" || jobPage["recordsIn"] != thousands(st.RecordsIn) ||
		!strings.Contains(jobPage["maps"].(string), fmt.Sprintf("%d of %d maps", st.Maps, st.Maps)) {
		t.Errorf("job page header %v; want %s succeeded, %s records in, %d maps", jobPage, st.ID, thousands(st.RecordsIn), st.Maps)
	}
	var wantBars []string
	for _, a := range st.Attempts {
		wantBars = append(wantBars, fmt.Sprintf("%s.a%d@%s:%s", a.Task, a.Attempt, a.Node, a.Kind))
	}
	var bars []string
	for _, b := range jobPage["bars"].([]any) {
		bars = append(bars, b.(string))
	}
	slices.Sort(bars)
	slices.Sort(wantBars)
	if len(st.Attempts) < st.Maps+2 || !slices.Equal(bars, wantBars) || int(jobPage["rows"].(float64)) != len(st.Attempts) {
		t.Errorf("timeline bars %v, attempt rows %v; want %v", bars, jobPage["rows"], wantBars)
	}
	if jobPage["counter"] != thousands(st.Counters["map_lines"]) || st.Counters["map_lines"] == 0 {
		t.Errorf("counter map_lines shows %v, want %s", jobPage["counter"], thousands(st.Counters["map_lines"]))
	}
	if logs := jobPage["logs"].(string); strings.Count(logs, "info  map task m-") != st.Maps {
		t.Errorf("module logs show %d map lines, want %d:\n%s", strings.Count(logs, "info  map task m-"), st.Maps, logs)
	}
	screenshot(t, ctx, "job")

	// Nodes: both alive, their slots free, their workers and disk shown.
	show(t, ctx, base, "nodes")
	rows := eval[[]map[string]string](t, ctx, `[...document.querySelectorAll('tr[data-node]')].map(r => ({name: r.dataset.node,
		state: r.querySelector('[data-state]').dataset.state, slots: r.querySelector('.slots').textContent.trim(),
		workers: r.querySelector('.workers').textContent, shards: r.querySelector('.disk-shards').textContent}))`)
	if len(rows) != 2 {
		t.Fatalf("nodes page rows %v", rows)
	}
	for i, r := range rows {
		if r["name"] != ns[i].name || r["state"] != "alive" || !strings.HasPrefix(r["slots"], "0/") || r["workers"] == "" || !strings.HasSuffix(r["shards"], "KiB") {
			t.Errorf("node row %v: want %s alive, 0 busy slots, workers and shard bytes shown", r, ns[i].name)
		}
	}
	screenshot(t, ctx, "nodes")
	// wmr nodes says the same.
	if r := wmr(t, "nodes", "--node", base); r.code != 0 || !strings.Contains(r.stdout, "n1    alive  0/") || !strings.Contains(r.stdout, "n2    alive  0/") {
		t.Errorf("wmr nodes: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Datasets: books and the job's output, all replicas live.
	info, err := ns[1].client().Dataset(bg, "books")
	if err != nil {
		t.Fatal(err)
	}
	show(t, ctx, base, "datasets/books")
	ds := eval[map[string]any](t, ctx, `({shards: document.querySelector('tr[data-dataset=books] .shards').textContent,
		below: document.querySelector('tr[data-dataset=books] .below').textContent,
		output: !!document.querySelector('tr[data-dataset=lines]'),
		shardRows: document.querySelectorAll('tr[data-shard]').length})`)
	if ds["shards"] != fmt.Sprint(len(info.Shards)) || ds["below"] != "0" || ds["output"] != true || int(ds["shardRows"].(float64)) != len(info.Shards) {
		t.Errorf("datasets page %v; want books with %d shards, none below target, and the output lines", ds, len(info.Shards))
	}

	// Live: a slow job's page follows it without a reload, from running
	// attempts to the end.
	r := wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "testing/slowwords"), "--input", "books",
		"--output", "slow", "--param", "spin=3000000", "--json")
	var slow nodes.JobStatus
	if err := json.Unmarshal([]byte(r.stdout), &slow); r.code != 0 || err != nil {
		t.Fatalf("submit slowwords: %v %s", err, r.stderr)
	}
	show(t, ctx, base, "jobs/"+slow.ID)
	waitJS(t, ctx, "a running attempt on the timeline", `document.querySelector('[data-card=state] [data-state]').dataset.state === 'running' &&
		document.querySelectorAll('#gantt rect.attempt[data-outcome=running]').length > 0`)
	screenshot(t, ctx, "job-running")
	waitJS(t, ctx, "the page to show the job's end by itself", `document.querySelector('[data-card=state] [data-state]').dataset.state === 'succeeded'`)
	if n := eval[float64](t, ctx, `document.querySelectorAll('#gantt rect.attempt[data-outcome=running]').length`); n != 0 {
		t.Errorf("%v attempts still drawn running after the job succeeded", n)
	}

	// A failed job: its error, and every failed attempt in red with its own.
	r = wmr(t, "submit", "--node", "http://"+ns[0].http, "--wasm", testwasm.Path(t, "hostile/trap"), "--input", "books",
		"--output", "never", "--attempts", "2", "--wait", "--json")
	var failed nodes.JobStatus
	if err := json.Unmarshal([]byte(r.stdout), &failed); r.code != 1 || err != nil || failed.State != "failed" {
		t.Fatalf("submit trap: exit %d, %v %s", r.code, err, r.stderr)
	}
	show(t, ctx, base, "jobs/"+failed.ID)
	bad := eval[map[string]any](t, ctx, `({error: (document.getElementById('job-error') || {}).textContent || '',
		red: document.querySelectorAll('#gantt rect.attempt[data-outcome=failed]').length,
		rows: [...document.querySelectorAll('tr.bad[data-attempt-row] .outcome')].map(td => td.textContent)})`)
	var failedAttempts int
	for _, a := range failed.Attempts {
		if strings.HasPrefix(a.Outcome, "failed") {
			failedAttempts++
		}
	}
	if bad["error"] != failed.Error || failedAttempts == 0 || int(bad["red"].(float64)) != failedAttempts || len(bad["rows"].([]any)) != failedAttempts ||
		!strings.Contains(fmt.Sprint(bad["rows"]), "out of bounds memory access") {
		t.Errorf("failed job page %v; want its error %q and %d failed attempts in red with their errors", bad, failed.Error, failedAttempts)
	}
	screenshot(t, ctx, "job-failed")

	// n1 dies: the nodes page calls it dead, and every shard of books
	// (2 replicas on 2 nodes) is below target.
	ns[0].kill()
	waitFor(t, 30*time.Second, "n1 dead in n2's view", func() error {
		ms, err := ns[1].client().Members(bg)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.Name == "n1" && m.State == "alive" {
				return fmt.Errorf("n1 is %s", m.State)
			}
		}
		return nil
	})
	show(t, ctx, base, "datasets/books")
	ds = eval[map[string]any](t, ctx, `({below: document.querySelector('tr[data-dataset=books] .below').textContent,
		warned: document.querySelector('tr[data-dataset=books]').classList.contains('warn'),
		warnedShards: document.querySelectorAll('tr[data-shard].warn').length})`)
	if ds["below"] != fmt.Sprintf("%d below target", len(info.Shards)) || ds["warned"] != true || int(ds["warnedShards"].(float64)) != len(info.Shards) {
		t.Errorf("after n1 died the datasets page shows %v; want all %d shards of books highlighted below target", ds, len(info.Shards))
	}
	screenshot(t, ctx, "datasets-node-lost")
	show(t, ctx, base, "nodes")
	if state := eval[string](t, ctx, `document.querySelector('tr[data-node=n1] [data-state]').dataset.state`); state == "alive" {
		t.Errorf("the nodes page shows the killed n1 as %s", state)
	}
	screenshot(t, ctx, "nodes-node-lost")
	for _, cmd := range []string{"nodes", "members"} {
		if r := wmr(t, cmd, "--node", base); r.code != 0 || !strings.Contains(r.stdout, "n1    dead") {
			t.Errorf("wmr %s after n1 died: exit %d\n%s%s", cmd, r.code, r.stdout, r.stderr)
		}
	}
}

// With tenants on, the dashboard asks for a token, and shows a tenant
// only its own jobs and datasets: bob's session finds none of alice's,
// not even by the job's address; alice and the admin see her job.
func TestDashboardTenants(t *testing.T) {
	s := secureCluster(t, 1, "ops --admin", "alice", "bob")
	n := s.nodes[0]
	corpus := t.TempDir()
	os.WriteFile(filepath.Join(corpus, "a.txt"), []byte("one two\nthree\n"), 0o644)
	if r := s.as(t, "alice", n, "put", "--dataset", "books", corpus); r.code != 0 {
		t.Fatalf("alice put: %s", r.stderr)
	}
	if r := s.as(t, "alice", n, "submit", "--wasm", testwasm.Path(t, "wordcount"), "--input", "books", "--output", "counts", "--wait"); r.code != 0 {
		t.Fatalf("alice submit: %s", r.stderr)
	}
	jobs, err := n.clientAs(s.tokens["alice"]).Jobs(context.Background())
	if err != nil || len(jobs) != 1 {
		t.Fatalf("alice's jobs: %v %v", jobs, err)
	}
	id := jobs[0].ID
	ctx := browser(t)
	login := func(tenant string) {
		t.Helper()
		token := s.tokens[tenant]
		if tenant == "nobody" {
			token = "wmr_not_a_real_token"
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(page(n.url, "jobs")), chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#login-form button"))); err != nil {
			t.Fatalf("log in as %s: %v", tenant, err)
		}
	}
	logout := func() {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
			t.Fatal(err)
		}
	}

	// Without a token: the login form, nothing else.
	if err := chromedp.Do(ctx, chromedp.Navigate(page(n.url, "")), chromedp.WaitVisible(chromedp.CSS("#login-form"))); err != nil {
		t.Fatalf("no login form: %v", err)
	}
	screenshot(t, ctx, "login")
	login("nobody")
	waitJS(t, ctx, "the refusal", `document.getElementById('login-error').textContent !== ''`)
	if msg := eval[string](t, ctx, `document.getElementById('login-error').textContent`); !strings.Contains(msg, "refused") {
		t.Errorf("a bad token says %q", msg)
	}

	login("bob")
	show(t, ctx, n.url, "jobs")
	if got := eval[map[string]any](t, ctx, `({rows: document.querySelectorAll('tr[data-job]').length, none: !!document.getElementById('no-jobs'),
		who: document.getElementById('who').textContent})`); got["rows"] != 0.0 || got["none"] != true || !strings.Contains(got["who"].(string), "tenant bob") {
		t.Errorf("bob's job list: %v; want no jobs, as bob", got)
	}
	screenshot(t, ctx, "tenant-bob")
	if err := chromedp.Do(ctx, chromedp.Navigate(page(n.url, "jobs/"+id))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "bob's answer for alice's job", `!!document.getElementById('view-error')`)
	if msg := eval[string](t, ctx, `document.getElementById('view-error').textContent`); !strings.Contains(msg, "unknown job") {
		t.Errorf("bob opening alice's job reads %q, want unknown job", msg)
	}
	show(t, ctx, n.url, "datasets")
	if eval[bool](t, ctx, `!!document.querySelector('tr[data-dataset]')`) {
		t.Error("bob sees a dataset")
	}
	show(t, ctx, n.url, "nodes")
	logout()

	for _, tenant := range []string{"alice", "ops"} {
		login(tenant)
		show(t, ctx, n.url, "jobs")
		if got := eval[string](t, ctx, `(document.querySelector('tr[data-job] .tenant') || {}).textContent || ''`); got != "alice" {
			t.Errorf("%s's job list shows a job of %q, want alice's", tenant, got)
		}
		show(t, ctx, n.url, "jobs/"+id)
		if state := eval[string](t, ctx, `document.querySelector('[data-card=state] [data-state]').dataset.state`); state != "succeeded" {
			t.Errorf("%s sees alice's job as %s", tenant, state)
		}
		logout()
	}
}

// The dashboard's files are the ones embedded in the binary, served with
// a policy that allows no script from elsewhere; the node's root leads
// to them.
func TestDashboardFiles(t *testing.T) {
	n := startNode(t, "n1", "")
	resp, err := http.Get("http://" + n.http + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" || !strings.Contains(string(body), `<script src="app.js">`) {
		t.Errorf("GET / ended at %s with %d:\n%s", resp.Request.URL, resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
		t.Errorf("the dashboard's policy is %q", csp)
	}
	resp, err = http.Get("http://" + n.http + "/ui/app.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.Contains(ct, "javascript") {
		t.Errorf("app.js: %d %s", resp.StatusCode, ct)
	}
}

package coord

import (
	"slices"
	"time"

	"github.com/wmr-dev/wmr/engine/task"
)

// Status is a job's state for people and programs: progress, the counts of
// committed work, and each task's latest attempts.
type Status struct {
	Phase       string // map, combine, reduce, commit, succeeded, failed
	Maps        int
	MapsDone    int
	Reduces     int
	ReducesDone int
	// Combines and CombinesDone count the reduce tree's combine tasks
	// (Plan.FanIn); Levels describes each level of the tree, from 1.
	Combines     int
	CombinesDone int
	Levels       []Level
	// Attempts is how many attempts were started, backups and retries too.
	Attempts int
	Backups  int
	// Counters are the module's counters over committed attempts only.
	Counters map[string]int64
	// Committed sums the statistics of committed attempts; Live adds those
	// of the attempts running now, for progress.
	Committed Totals
	Live      task.Stats
	Skipped   []Record
	// History holds each task's latest attempts (Policy.History of them),
	// tasks in order; Dropped counts older attempts left out.
	History []AttemptRecord
	Dropped int
	Err     error
}

// Level is one level of the reduce tree.
type Level struct {
	Level int
	Tasks int
	Done  int
	// MaxInputs is the most outputs one of its tasks reads.
	MaxInputs int
	// BytesIn and BytesOut sum its committed tasks' input and output.
	BytesIn, BytesOut int64
}

// Totals are the sums of committed attempts' statistics.
type Totals struct {
	BytesIn       int64 // map input bytes
	RecordsIn     int64 // map input records
	MapRecordsOut int64 // map output records that reached the host (before its combining)
	ShuffleBytes  int64 // map output bytes (after combining)
	Spills        int
	RecordsOut    int64 // reduce output records
	BytesOut      int64 // reduce output bytes
	// ReduceBytesIn is what the reduce tasks read (fetched, on a
	// cluster): less than ShuffleBytes where the reduce tree combined.
	ReduceBytesIn int64
}

// AttemptRecord is one attempt as the status shows it.
type AttemptRecord struct {
	Attempt AttemptID
	Node    string
	Input   string // what the task reads
	Inputs  int    // how many outputs a combine or reduce reads (0 for maps)
	Local   bool   // a map that ran on a holder of its input
	Backup  bool   // started as a backup of a straggler
	Start   time.Time
	End     time.Time // zero while running
	Stats   task.Stats
	Outcome string // running, succeeded, failed: ..., lost: ..., cancelled: ..., output lost: ...
}

// Status returns the job's state; it shares nothing with the job.
func (j *Job) Status() Status {
	s := Status{Maps: j.maps, Reduces: len(j.tasks) - j.maps - j.combines, Combines: j.combines, Attempts: j.started, Backups: j.backedUp,
		Counters: map[string]int64{}, Skipped: append([]Record(nil), j.skipped...), Err: j.err}
	for _, t := range j.tasks {
		if t.id.Kind == Combine {
			for len(s.Levels) < t.id.Level {
				s.Levels = append(s.Levels, Level{Level: len(s.Levels) + 1})
			}
			l := &s.Levels[t.id.Level-1]
			l.Tasks++
			l.MaxInputs = max(l.MaxInputs, len(t.inputs))
			if d := t.done; d != nil {
				l.Done++
				l.BytesIn += d.stats.BytesIn
				l.BytesOut += d.stats.BytesOut
			}
		}
		if d := t.done; d != nil {
			switch t.id.Kind {
			case Map:
				s.MapsDone++
			case Combine:
				s.CombinesDone++
			default:
				s.ReducesDone++
			}
			s.Committed.add(t.id.Kind, d)
		}
		for _, a := range t.running {
			if t.id.Kind == Combine {
				continue
			}
			if t.id.Kind == Map {
				s.Live.BytesIn += a.stats.BytesIn
				s.Live.RecordsIn += a.stats.RecordsIn
			} else {
				s.Live.RecordsOut += a.stats.RecordsOut
				s.Live.BytesOut += a.stats.BytesOut
			}
		}
		for _, a := range t.history {
			local := t.id.Kind == Map && len(t.nodes) > 0 && slices.Contains(t.nodes, a.node)
			s.History = append(s.History, AttemptRecord{Attempt: a.id, Node: a.node, Input: t.input, Inputs: len(t.inputs), Local: local, Backup: a.backup,
				Start: a.start, End: a.end, Stats: a.stats, Outcome: a.outcome})
		}
		s.Dropped += t.dropped
	}
	j.counters(s.Counters)
	switch {
	case j.finished && j.err == nil:
		s.Phase = "succeeded"
	case j.finished:
		s.Phase = "failed"
	case j.commit:
		s.Phase = "commit"
	case s.MapsDone < s.Maps:
		s.Phase = "map"
	case s.CombinesDone < s.Combines:
		s.Phase = "combine"
	case s.MapsDone == s.Maps:
		s.Phase = "reduce"
	default:
		s.Phase = "map"
	}
	return s
}

func (t *Totals) add(k Kind, a *attempt) {
	if k == Map {
		t.BytesIn += a.stats.BytesIn
		t.RecordsIn += a.stats.RecordsIn
		t.MapRecordsOut += a.stats.RecordsOut
		t.Spills += a.stats.Spills
		if a.result != nil {
			if n := len(a.result.Index.Offsets); n > 0 {
				t.ShuffleBytes += a.result.Index.Offsets[n-1]
			}
		}
		return
	}
	if k == Combine {
		return
	}
	t.RecordsOut += a.stats.RecordsOut
	t.BytesOut += a.stats.BytesOut
	t.ReduceBytesIn += a.stats.BytesIn
}

// counters sums committed attempts' counters into dst.
func (j *Job) counters(dst map[string]int64) {
	for _, t := range j.tasks {
		if t.done != nil && t.done.result != nil {
			for k, v := range t.done.result.Counters {
				dst[k] += v
			}
		}
	}
}

package nodes

import (
	"fmt"
	"testing"
	"time"
)

// Finished jobs are kept for the history's retention, running ones always.
func TestExpiredRecords(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ended := func(id string, ago time.Duration) *jobRecord {
		return &jobRecord{ID: id, Final: &JobStatus{ID: id, State: "succeeded", Finished: now.Add(-ago)}}
	}
	records := []*jobRecord{
		ended("old", 31*24*time.Hour),
		ended("recent", time.Hour),
		{ID: "running"},
		ended("old2", 40*24*time.Hour),
		{ID: "no-end-time", Final: &JobStatus{State: "failed"}},
	}
	got := expiredRecords(records, now, 30*24*time.Hour)
	if fmt.Sprint(got) != "[old old2]" {
		t.Fatalf("expired %v, want [old old2]", got)
	}
	if got := expiredRecords(records, now, time.Minute); fmt.Sprint(got) != "[old old2 recent]" {
		t.Fatalf("with a short history: %v", got)
	}
}

// Package coord is wmr's job core: the one place that decides how a
// MapReduce job runs, for `wmr run` (package engine) and for the cluster
// (package nodes) alike.
//
// A Job is a deterministic state machine in the shape of etcd's raft: its
// driver feeds it events (a node joined or left, an attempt succeeded,
// failed or reported progress, time passed) through Step, and carries out
// the actions Step returns (start attempt A of task T on node N, cancel an
// attempt, commit the output, finish). The core does no I/O, starts no
// goroutines and reads no clock: time comes in with every Step. So every
// policy below is tested by scripted scenarios, without sockets or sleeps.
//
// What the core owns, once for both drivers:
//   - task ids (m-00003, r-00001) and attempt names (m-00003.a2);
//   - placement: map tasks on a node that holds their input when the plan
//     names such nodes, least busy first; reduces anywhere; slots per node;
//   - the retry policy: a module error or a local error of the executing
//     node is charged to the task (Policy.MaxAttempts); an attempt lost
//     with its node, a worker killed from outside or a failed fetch of a
//     map output is not, but is bounded too (Policy.MaxUncharged), and
//     every retry backs off;
//   - re-running map outputs lost before every reduce committed;
//   - backup attempts for stragglers near the end of a phase;
//   - skipping bad input records (opt-in, Policy.SkipBadRecords);
//   - counters and statistics of committed work only: failed, lost,
//     superseded and losing backup attempts never count;
//   - status and progress, with a bounded attempt history per task, and the
//     wording of every error a job can end with.
package coord

// Package jobtest helps tests that run jobs: a deterministic text corpus
// generator, independent reference computations in plain Go (sharing no
// code with the modules or the engine), and a reader for job output that
// checks wmr's output contract on the way.
package jobtest

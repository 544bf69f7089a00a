// Command grep counts regular-expression matches: --param pattern=REGEX
// (Go RE2 syntax); every non-overlapping match in each line is counted.
// Output: match<TAB>count.
package main

import (
	"errors"
	"fmt"
	"regexp"

	wmr "github.com/wmr-dev/wmr/sdk/go"
)

var pattern *regexp.Regexp

func init() {
	wmr.Register(wmr.Job{Init: compile, Map: mapMatches, Reduce: wmr.Sum, Combine: wmr.Sum})
}

func main() {}

func compile(t *wmr.TaskContext) error {
	p := t.Param("pattern")
	if p == "" {
		return errors.New("grep needs --param pattern=REGEX")
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return fmt.Errorf("bad pattern: %w", err)
	}
	pattern = re
	return nil
}

var one = []byte("1")

func mapMatches(_, line []byte, emit *wmr.Emitter) error {
	for _, loc := range pattern.FindAllIndex(line, -1) {
		emit.Emit(line[loc[0]:loc[1]], one)
	}
	return nil
}

package engine

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"github.com/wmr-dev/wmr/engine/sampling"
	"github.com/wmr-dev/wmr/engine/task"
)

// SampleTask runs one sample task over windows of split (offsets relative
// to the split's start) and returns the keys the module emitted.
type SampleTask func(ctx context.Context, split int, windows []task.Window) ([][]byte, error)

// SampleBounds finds a range-partitioned job's split points: it runs the
// module's map over sampling windows spread across splits of the given
// lengths (sampling.Plan), at most parallel sample tasks at once, and cuts
// the keys into parts partitions (sampling.Bounds). A failed sample task
// fails the sample: the same record would fail its map task too.
func SampleBounds(ctx context.Context, lengths []int64, parts, parallel int, run SampleTask) ([][]byte, error) {
	bySplit := map[int][]task.Window{}
	var order []int
	for _, w := range sampling.Plan(lengths) {
		if _, ok := bySplit[w.Split]; !ok {
			order = append(order, w.Split)
		}
		bySplit[w.Split] = append(bySplit[w.Split], task.Window{Offset: w.Offset, Length: w.Length})
	}
	samples := make([][][]byte, len(order))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(max(parallel, 1))
	for i, split := range order {
		g.Go(func() error {
			keys, err := run(ctx, split, bySplit[split])
			samples[i] = keys
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("sampling the input for the range partitioner: %w", err)
	}
	var keys [][]byte
	for _, s := range samples {
		keys = append(keys, s...)
	}
	return sampling.Bounds(keys, parts), nil
}

package wmr

import "github.com/wmr-dev/wmr/abi"

func newBatch(ps []Pair) []byte {
	var w abi.BatchWriter
	w.Reset()
	for _, p := range ps {
		w.Add(p.Key, p.Value)
	}
	return w.Bytes()
}

package nodes

import (
	"slices"

	"github.com/wmr-dev/wmr/abi"
)

// Place picks the n members that should hold shard, by rendezvous
// (highest random weight) hashing: each member scores FNV-1a(shard, name)
// and the n highest win. Adding or removing a member moves only the shards
// whose winners changed. Ties break by name, so every node computes the
// same answer.
func Place(shard string, members []string, n int) []string {
	type scored struct {
		name  string
		score uint64
	}
	s := make([]scored, 0, len(members))
	key := make([]byte, 0, 64)
	for _, m := range members {
		key = append(append(append(key[:0], shard...), 0), m...)
		s = append(s, scored{m, mix(abi.Hash(key))})
	}
	slices.SortFunc(s, func(a, b scored) int {
		if a.score != b.score {
			if a.score > b.score {
				return -1
			}
			return 1
		}
		if a.name < b.name {
			return -1
		}
		return 1
	})
	out := make([]string, 0, n)
	for i := 0; i < len(s) && i < n; i++ {
		out = append(out, s[i].name)
	}
	return out
}

// mix finalises a hash so that similar inputs spread (murmur3's fmix64).
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

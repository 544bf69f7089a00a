package abi

// FNV-1a 64-bit parameters (http://www.isthe.com/chongo/tech/comp/fnv/).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Hash is the ABI's key hash: 64-bit FNV-1a over the key's bytes.
func Hash(key []byte) uint64 {
	h := uint64(fnvOffset64)
	for _, c := range key {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

// Partition is the default partition of key among n partitions:
// Hash(key) mod n, computed on unsigned 64-bit integers. n must be > 0.
func Partition(key []byte, n int) int {
	return int(Hash(key) % uint64(n))
}

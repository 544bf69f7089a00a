package nodes

import (
	"errors"
	"fmt"
)

// ErrBadName is returned for dataset and shard names that could escape the
// data directory or confuse tools.
var ErrBadName = errors.New("invalid name")

// ValidName checks a dataset or shard name: 1 to 128 characters from
// [A-Za-z0-9._-], not starting with '.', '_' or '-'.
func ValidName(kind, name string) error {
	if len(name) == 0 || len(name) > 128 {
		return fmt.Errorf("%w: %s name %q must be 1 to 128 characters", ErrBadName, kind, name)
	}
	for i, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok || (i == 0 && (c == '.' || c == '_' || c == '-')) {
			return fmt.Errorf("%w: %s name %q may use only letters, digits, '.', '_' and '-', and must start with a letter or digit", ErrBadName, kind, name)
		}
	}
	return nil
}

//go:build sandgate_unchecked

package pgwire

import "log/slog"

// unchecked: see unchecked_off.go.
const unchecked = true

func init() {
	slog.Warn("THIS sandgate BINARY WAS BUILT WITH -tags sandgate_unchecked: IT APPLIES NO POLICY AND IS FOR BENCHMARKS ONLY")
}

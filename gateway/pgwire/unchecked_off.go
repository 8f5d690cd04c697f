//go:build !sandgate_unchecked

package pgwire

// unchecked is true only in a binary built with -tags sandgate_unchecked,
// which bench/pgbench.sh uses to measure what the policy costs: statements
// and results are then relayed without any check. Never deploy such a
// binary; it says so on every start.
const unchecked = false

//go:build !linux

package pgwire

import "context"

// relayOnLoop: the event-loop relay is built on Linux's epoll; elsewhere
// every session is relayed with goroutines.
func (s *session) relayOnLoop(ctx context.Context, cp *clientPump, sp *serverPump) (first error, reusable, onLoop bool) {
	return nil, false, false
}

package moqt

import (
	"context"
	"runtime"
	"testing"
)

// TestUniBarrierBeforeWaker: a barrier asked for after the accept loop's
// idle call but before it set its waker (so nobody woke the loop) must
// still wake the loop once it sets the waker; the loop's next idle call
// then releases the barrier. Before the fix the loop slept until the peer's
// next stream, and a subscriber waiting for the end hung.
func TestUniBarrierBeforeWaker(t *testing.T) {
	var o uniOrder
	o.idle() // the loop found no stream waiting
	done := make(chan struct{})
	go func() {
		o.barrier(context.Background())
		close(done)
	}()
	for {
		o.mu.Lock()
		n := len(o.waiters)
		o.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	woke := make(chan struct{})
	o.setWaker(func() { close(woke) }) // the loop is about to wait
	<-woke
	o.idle() // woken, it looks again and finds nothing
	<-done
}

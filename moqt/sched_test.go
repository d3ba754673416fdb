package moqt

import (
	"runtime"
	"testing"
)

// TestSendTurnOrder: subscriber priority first, then the publisher's;
// equal priorities are equals.
func TestSendTurnOrder(t *testing.T) {
	tests := []struct {
		name   string
		x, y   sendTurn
		before bool
	}{
		{"subscriber priority", sendTurn{sub: 2}, sendTurn{sub: 1, pub: 9}, true},
		{"lower subscriber priority", sendTurn{sub: 1, pub: 9}, sendTurn{sub: 2}, false},
		{"publisher priority", sendTurn{sub: 1, pub: 3}, sendTurn{sub: 1, pub: 2}, true},
		{"equal", sendTurn{sub: 1, pub: 1}, sendTurn{sub: 1, pub: 1}, false},
	}
	for _, tt := range tests {
		if got := tt.x.before(&tt.y); got != tt.before {
			t.Errorf("%s: before = %v, want %v", tt.name, got, tt.before)
		}
	}
}

// TestSendSchedulerHolds: a less urgent turn waits while a more urgent one
// is registered, across its chunks, and goes on once it is released; stop
// ends the wait.
func TestSendSchedulerHolds(t *testing.T) {
	var s sendScheduler
	hi, lo := &sendTurn{}, &sendTurn{}
	if !s.acquire(hi, 2, 0, nil, nil) {
		t.Fatal("hi not granted")
	}
	if !s.acquire(hi, 2, 0, nil, nil) { // its next chunk
		t.Fatal("hi's next chunk not granted")
	}
	granted := make(chan bool)
	go func() { granted <- s.acquire(lo, 1, 0, nil, nil) }()
	s.mu.Lock() // lo registers, then waits: both are there
	for len(s.writing) < 2 {
		s.mu.Unlock()
		select {
		case <-granted:
			t.Fatal("lo granted while hi is registered")
		default:
		}
		runtime.Gosched()
		s.mu.Lock()
	}
	s.mu.Unlock()
	s.release(hi)
	if !<-granted {
		t.Fatal("lo not granted after hi's release")
	}
	s.release(lo)

	stop := make(chan struct{})
	s.acquire(hi, 2, 0, nil, nil)
	go func() { granted <- s.acquire(lo, 1, 0, stop, nil) }()
	close(stop)
	if <-granted {
		t.Fatal("lo granted after stop")
	}
	s.mu.Lock()
	_, still := s.writing[lo]
	s.mu.Unlock()
	if still {
		t.Fatal("a stopped turn is still registered")
	}
}

package moqt

import (
	"runtime"
	"testing"
)

// TestSendTurnOrder: subscriber priority first, then the publisher's, then
// within one track the group order the subscription asked for; groups of
// different tracks of equal priority are equals.
func TestSendTurnOrder(t *testing.T) {
	a, b := &TrackWriter{}, &TrackWriter{}
	tests := []struct {
		name   string
		x, y   sendTurn
		before bool
	}{
		{"subscriber priority", sendTurn{w: a, sub: 2}, sendTurn{w: b, sub: 1, pub: 9}, true},
		{"publisher priority", sendTurn{w: a, sub: 1, pub: 3}, sendTurn{w: b, sub: 1, pub: 2}, true},
		{"other track, equal", sendTurn{w: a, seq: 1}, sendTurn{w: b, seq: 5}, false},
		{"unordered: newest first", sendTurn{w: a, seq: 5}, sendTurn{w: a, seq: 4}, true},
		{"unordered: older waits", sendTurn{w: a, seq: 4}, sendTurn{w: a, seq: 5}, false},
		{"ordered: oldest first", sendTurn{w: a, seq: 4, ordered: true}, sendTurn{w: a, seq: 5, ordered: true}, true},
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
	w := &TrackWriter{}
	hi, lo := &sendTurn{w: w, seq: 2}, &sendTurn{w: w, seq: 1}
	if !s.acquire(hi, 0, 0, false, nil, nil) {
		t.Fatal("hi not granted")
	}
	if !s.acquire(hi, 0, 0, false, nil, nil) { // its next chunk
		t.Fatal("hi's next chunk not granted")
	}
	granted := make(chan bool)
	go func() { granted <- s.acquire(lo, 0, 0, false, nil, nil) }()
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
	s.acquire(hi, 0, 0, false, nil, nil)
	go func() { granted <- s.acquire(lo, 0, 0, false, stop, nil) }()
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

package moqt

import "testing"

func TestRequestIDs(t *testing.T) {
	var r requestIDs // a server's view: the client's IDs are even
	for _, tc := range []struct {
		id uint64
		ok bool
	}{
		{1, false}, // the server's parity
		{0, true},
		{0, false}, // a duplicate
		{4, true},  // out of order: 2 is still to come
		{4, false},
		{2, true},
		{2, false},
		{6, true},
	} {
		if got := r.use(tc.id); got != tc.ok {
			t.Fatalf("use(%d) = %v, want %v (below %d, seen %v)", tc.id, got, tc.ok, r.below, r.seen)
		}
	}
	if r.below != 8 || len(r.seen) != 0 {
		t.Fatalf("after 0, 2, 4, 6: below %d, seen %v; want 8 and none", r.below, r.seen)
	}

	// A gap that never fills (ID 8) is given up once maxPendingRequestIDs
	// IDs above it were seen; what it held counts as used from then on.
	for i := range maxPendingRequestIDs + 1 {
		if !r.use(10 + 2*uint64(i)) {
			t.Fatalf("ID %d refused", 10+2*i)
		}
	}
	if len(r.seen) > maxPendingRequestIDs {
		t.Fatalf("%d IDs remembered, want at most %d", len(r.seen), maxPendingRequestIDs)
	}
	if r.use(8) {
		t.Fatal("an ID from a given-up gap was taken")
	}
	next := 10 + 2*uint64(maxPendingRequestIDs+1)
	if !r.use(next) || r.use(next) {
		t.Fatalf("after the gap: ID %d not taken once", next)
	}

	c := requestIDs{below: 1} // a client's view: the server's IDs are odd
	if c.use(0) || !c.use(1) || !c.use(3) || c.use(3) {
		t.Fatal("odd IDs not checked as the server's")
	}
}

package relay

import (
	"slices"
	"testing"

	"github.com/gomoq/gomoq/moqt"
)

// TestRouteTieBreak: among routes of the same length the choice depends
// only on the path and the hop lists, not on the order they arrived in,
// so every relay that sees the same candidates picks the same one; fewer
// hops always win; the same hop list again (a publisher that reconnected)
// takes over.
func TestRouteTieBreak(t *testing.T) {
	pick := func(path moqt.BroadcastPath, rs []*route) *route {
		var best *route
		for i, r := range rs {
			r.seq = uint64(i + 1)
			if best == nil || better(path, r, best) {
				best = r
			}
		}
		return best
	}
	viaB := &route{hops: []uint64{7, 1, 2}}
	viaC := &route{hops: []uint64{7, 1, 3}}
	short := &route{hops: []uint64{7, 1}}
	for _, path := range []moqt.BroadcastPath{"/live", "/other", "/a/b"} {
		w1 := pick(path, []*route{viaB, viaC})
		w2 := pick(path, []*route{viaC, viaB})
		if !slices.Equal(w1.hops, w2.hops) {
			t.Errorf("%s: picked %v in one order and %v in the other", path, w1.hops, w2.hops)
		}
		if w := pick(path, []*route{viaB, short, viaC}); w != short {
			t.Errorf("%s: picked %v over the shorter %v", path, w.hops, short.hops)
		}
		again := &route{hops: slices.Clone(w1.hops)}
		if w := pick(path, []*route{viaB, viaC, again}); w != again {
			t.Errorf("%s: the newest route with the winning hop list did not take over", path)
		}
	}
}

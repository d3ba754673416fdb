package moqt

import "sort"

// intervals is a set of group sequences kept as sorted, disjoint,
// non-adjacent closed ranges. Groups delivered in order make one range, so
// it stays small; its size is bounded by the caller (maxIntervals).
type intervals struct {
	r []seqRange
}

type seqRange struct{ lo, hi uint64 } // inclusive

// maxIntervals bounds the ranges a subscription's accounting keeps; a peer
// that fragments it further is misbehaving.
const maxIntervals = 4096

// add inserts [lo, hi]. It reports false if the set has too many ranges.
func (s *intervals) add(lo, hi uint64) bool {
	if hi < lo {
		return true
	}
	// First range that ends at or after lo-1 (could merge).
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i].hi+1 >= lo || s.r[i].hi == ^uint64(0) })
	j := i
	for j < len(s.r) && (hi == ^uint64(0) || s.r[j].lo <= hi+1) {
		lo = min(lo, s.r[j].lo)
		hi = max(hi, s.r[j].hi)
		j++
	}
	if i == j {
		if len(s.r) >= maxIntervals {
			return false
		}
		s.r = append(s.r, seqRange{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = seqRange{lo, hi}
		return true
	}
	s.r[i] = seqRange{lo, hi}
	s.r = append(s.r[:i+1], s.r[j:]...)
	return true
}

// has reports whether seq is in the set.
func (s *intervals) has(seq uint64) bool {
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i].hi >= seq })
	return i < len(s.r) && s.r[i].lo <= seq
}

// covers reports whether every sequence in [lo, hi) is in the set.
func (s *intervals) covers(lo, hi uint64) bool {
	if hi <= lo {
		return true
	}
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i].hi >= lo })
	return i < len(s.r) && s.r[i].lo <= lo && s.r[i].hi >= hi-1
}

// count returns how many sequences of [lo, hi) are in the set.
func (s *intervals) count(lo, hi uint64) uint64 {
	var n uint64
	for _, r := range s.r {
		a, b := max(r.lo, lo), min(r.hi+1, hi)
		if b > a {
			n += b - a
		}
	}
	return n
}

// gaps returns the ranges of [lo, hi) missing from the set.
func (s *intervals) gaps(lo, hi uint64) []seqRange {
	var out []seqRange
	next := lo
	for _, r := range s.r {
		if r.hi < next {
			continue
		}
		if r.lo >= hi {
			break
		}
		if r.lo > next {
			out = append(out, seqRange{next, r.lo - 1})
		}
		next = r.hi + 1
		if next >= hi || r.hi == ^uint64(0) {
			return out
		}
	}
	if next < hi {
		out = append(out, seqRange{next, hi - 1})
	}
	return out
}

// max returns the highest sequence in the set.
func (s *intervals) max() (uint64, bool) {
	if len(s.r) == 0 {
		return 0, false
	}
	return s.r[len(s.r)-1].hi, true
}

package wire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"testing"
)

// fuzzVersions are the versions a fuzz input selects from; the last two do
// not exist, so Parse must reject every body with ErrInvalid.
var fuzzVersions = []Version{Lite03, Lite04, Lite05, liteUnknown, 0}

func versionIndex(v Version) uint8 {
	for i, x := range fuzzVersions {
		if x == v {
			return uint8(i)
		}
	}
	panic("unknown version")
}

// fuzzMessage fuzzes one message Parse: it must never panic, must fail only
// with a package sentinel, and whatever it accepts must re-encode (Append,
// with Len matching) to something that parses back to an equal value.
func fuzzMessage[T any, P message[T]](f *testing.F, kind framing, cases ...[]golden[T]) {
	for _, list := range cases {
		for _, c := range list {
			_, body := strip(f, kind, mustHex(c.hex))
			f.Add(body, versionIndex(c.v))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var m T
		err := P(&m).Parse(body, v)
		if !v.known() && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Parse on %s: %v, want ErrInvalid", v, err)
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("Parse error %v wraps no sentinel", err)
			}
			return
		}
		enc := P(&m).Append(nil, v)
		if n := P(&m).Len(v); n != len(enc) {
			t.Fatalf("Len %d, Append wrote %d", n, len(enc))
		}
		_, body2 := strip(t, kind, enc)
		var m2 T
		if err := P(&m2).Parse(body2, v); err != nil {
			t.Fatalf("re-parse of %x: %v", body2, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", m, m2)
		}
	})
}

func FuzzSetup(f *testing.F) { fuzzMessage(f, framed, goldenSetup) }
func FuzzAnnounceRequest(f *testing.F) {
	fuzzMessage(f, framed, goldenAnnounceRequest)
}
func FuzzAnnounceOK(f *testing.F) { fuzzMessage(f, framed, goldenAnnounceOK) }
func FuzzAnnounce(f *testing.F) {
	fuzzMessage(f, framed, goldenAnnounce, goldenAnnounceRestart)
}
func FuzzSubscribe(f *testing.F) { fuzzMessage(f, framed, goldenSubscribe) }
func FuzzSubscribeUpdate(f *testing.F) {
	fuzzMessage(f, framed, goldenSubscribeUpdate)
}
func FuzzSubscribeOK(f *testing.F)    { fuzzMessage(f, typed, goldenSubscribeOK) }
func FuzzSubscribeDrop(f *testing.F)  { fuzzMessage(f, typed, goldenSubscribeDrop) }
func FuzzSubscribeStart(f *testing.F) { fuzzMessage(f, typed, goldenSubscribeStart) }
func FuzzSubscribeEnd(f *testing.F)   { fuzzMessage(f, typed, goldenSubscribeEnd) }
func FuzzTrack(f *testing.F)          { fuzzMessage(f, framed, goldenTrack) }
func FuzzTrackInfo(f *testing.F)      { fuzzMessage(f, framed, goldenTrackInfo) }
func FuzzFetch(f *testing.F)          { fuzzMessage(f, framed, goldenFetch) }
func FuzzGroupHeader(f *testing.F)    { fuzzMessage(f, framed, goldenGroupHeader) }
func FuzzProbe(f *testing.F)          { fuzzMessage(f, framed, goldenProbe) }
func FuzzGoaway(f *testing.F)         { fuzzMessage(f, framed, goldenGoaway) }
func FuzzDatagram(f *testing.F)       { fuzzMessage(f, raw, goldenDatagram) }

// FuzzFrameHeader checks ParseFrameHeader against Reader.ReadFrameHeader and
// that an accepted header re-encodes to an equal one.
func FuzzFrameHeader(f *testing.F) {
	for _, c := range goldenFrameHeader {
		f.Add(mustHex(c.hex), versionIndex(c.v))
	}
	f.Fuzz(func(t *testing.T, data []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		ts, size, n, err := ParseFrameHeader(data, v)
		rts, rsize, rerr := NewReader(bytes.NewReader(data), 1).ReadFrameHeader(v)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			if rerr == nil {
				t.Fatalf("Reader accepted what ParseFrameHeader rejected: %v", err)
			}
			switch {
			case errors.Is(err, ErrInvalid):
				if !errors.Is(rerr, ErrInvalid) {
					t.Fatalf("Reader: %v, want ErrInvalid", rerr)
				}
			case len(data) == 0:
				if rerr != io.EOF {
					t.Fatalf("Reader on empty input: %v", rerr)
				}
			default:
				if rerr != io.ErrUnexpectedEOF {
					t.Fatalf("Reader on %x: %v", data, rerr)
				}
			}
			return
		}
		if rerr != nil || rts != ts || rsize != size {
			t.Fatalf("Reader: %d %d %v, ParseFrameHeader: %d %d", rts, rsize, rerr, ts, size)
		}
		if v != Lite05 && ts != 0 {
			t.Fatalf("timestamp %d on %s", ts, v)
		}
		if size > math.MaxInt {
			return // not representable as an int on this platform
		}
		enc := AppendFrameHeader(nil, v, ts, int(size))
		if len(enc) != FrameHeaderLen(v, ts, int(size)) || len(enc) > n {
			t.Fatalf("re-encoding %x is longer than the %d-byte input header", enc, n)
		}
		ts2, size2, n2, err := ParseFrameHeader(enc, v)
		if err != nil || ts2 != ts || size2 != size || n2 != len(enc) {
			t.Fatalf("re-parse: %d %d %d %v", ts2, size2, n2, err)
		}
	})
}

// FuzzReader drives a Reader over arbitrary bytes with an arbitrary sequence
// of calls, checking it never panics, honours its limit, and reports only the
// documented errors. A pure ReadMessage pass is checked against a reference
// slicer.
func FuzzReader(f *testing.F) {
	var seed []byte
	seed = (&Subscribe{ID: 1, Broadcast: "b", Track: "t"}).Append(seed, Lite05)
	seed = (&SubscribeStart{Group: 3}).Append(seed, Lite05)
	seed = AppendFrameHeader(seed, Lite05, -1, 2)
	seed = append(seed, 0xaa, 0xbb)
	f.Add(seed, []byte{1, 2, 3, 4, 5}, uint16(64))
	f.Add(AppendVarint(nil, 1<<60), []byte{1}, uint16(100))
	f.Add([]byte{}, []byte{0, 1, 2, 3, 4, 5, 6}, uint16(0))
	f.Add([]byte{0x40}, []byte{0}, uint16(1))
	f.Fuzz(func(t *testing.T, data, ops []byte, limit uint16) {
		max := int(limit)
		r := NewReader(bytes.NewReader(data), max)
		if max <= 0 {
			max = DefaultMaxMessage
		}
		for _, op := range ops {
			var err error
			switch op % 8 {
			case 0:
				_, err = r.ReadVarint()
			case 1:
				var body []byte
				body, err = r.ReadMessage()
				if len(body) > max {
					t.Fatalf("body of %d bytes over limit %d", len(body), max)
				}
			case 2:
				var body []byte
				_, body, err = r.ReadTyped()
				if len(body) > max {
					t.Fatalf("typed body of %d bytes over limit %d", len(body), max)
				}
			case 3, 4, 5:
				v := fuzzVersions[int(op/8)%len(fuzzVersions)]
				_, _, err = r.ReadFrameHeader(v)
				if errors.Is(err, ErrInvalid) {
					if v.known() {
						t.Fatalf("ErrInvalid on %s", v)
					}
					continue
				}
			case 6:
				_, err = r.Read(make([]byte, int(op/8)+1))
			case 7:
				_, err = r.Discard(int(op / 8))
			}
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("op %d: unexpected error %v", op, err)
				}
				break
			}
		}

		// Reference: split data into messages by hand and compare.
		r = NewReader(bytes.NewReader(data), max)
		rest := data
		for {
			body, err := r.ReadMessage()
			if len(rest) == 0 {
				if err != io.EOF {
					t.Fatalf("at end: %v", err)
				}
				return
			}
			l, n, perr := ParseVarint(rest)
			switch {
			case perr != nil:
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("short length: %v", err)
				}
				return
			case l > uint64(max):
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("length %d over %d: %v", l, max, err)
				}
				return
			case l > uint64(len(rest)-n):
				if err != io.ErrUnexpectedEOF {
					t.Fatalf("short body: %v", err)
				}
				return
			}
			if err != nil || !bytes.Equal(body, rest[n:n+int(l)]) {
				t.Fatalf("body %x, want %x (%v)", body, rest[n:n+int(l)], err)
			}
			rest = rest[n+int(l):]
		}
	})
}

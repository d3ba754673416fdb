package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// golden is one vector: msg encoded for v by the reference peer is hex (the
// full framed encoding). The tables live in golden_vectors_test.go, generated
// by testdata/gen_golden.mjs from @moq/net 0.3.4.
type golden[T any] struct {
	name string
	v    Version
	msg  T
	hex  string
}

// goldenFrame is one frame header vector.
type goldenFrame struct {
	v       Version
	tsDelta int64
	size    int
	hex     string
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// message is the method set every message type has.
type message[T any] interface {
	*T
	Append(b []byte, v Version) []byte
	Len(v Version) int
	Parse(body []byte, v Version) error
}

// framing says how a message type is framed on the wire.
type framing int

const (
	framed framing = iota // Length | body
	typed                 // Type | Length | body
	raw                   // the whole datagram
)

type typer interface{ Type(Version) uint64 }

// strip removes the framing from a full encoding and returns the type (typed
// only) and body. It fails the test if the length does not match.
func strip(t testing.TB, kind framing, enc []byte) (uint64, []byte) {
	t.Helper()
	if kind == raw {
		return 0, enc
	}
	var typ uint64
	if kind == typed {
		v, n, err := ParseVarint(enc)
		if err != nil {
			t.Fatalf("type: %v", err)
		}
		typ, enc = v, enc[n:]
	}
	l, n, err := ParseVarint(enc)
	if err != nil {
		t.Fatalf("length: %v", err)
	}
	body := enc[n:]
	if uint64(len(body)) != l {
		t.Fatalf("length %d, body %d bytes", l, len(body))
	}
	return typ, body
}

var allVersions = []Version{Lite03, Lite04, Lite05}

// isSentinel reports whether err wraps one of the package sentinels.
func isSentinel(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrTrailing) ||
		errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalid)
}

// runGolden checks encode (bytes, Len), decode and the version gating of one
// golden table.
func runGolden[T any, P message[T]](t *testing.T, kind framing, cases []golden[T]) {
	t.Helper()
	if len(cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := mustHex(c.hex)
			m := P(&c.msg)
			got := m.Append(nil, c.v)
			if !bytes.Equal(got, want) {
				t.Fatalf("Append(%s):\n got %x\nwant %x", c.v, got, want)
			}
			if n := m.Len(c.v); n != len(want) {
				t.Fatalf("Len = %d, want %d", n, len(want))
			}
			// Append must extend, not overwrite.
			pre := []byte{0xaa, 0xbb}
			if got := m.Append(pre, c.v); !bytes.Equal(got[:2], pre) || !bytes.Equal(got[2:], want) {
				t.Fatalf("Append with prefix: %x", got)
			}
			typ, body := strip(t, kind, want)
			if tm, ok := any(m).(typer); ok && tm.Type(c.v) != typ {
				t.Fatalf("type %d on the wire, Type() = %d", typ, tm.Type(c.v))
			}
			var out T
			if err := P(&out).Parse(body, c.v); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(out, c.msg) {
				t.Fatalf("Parse:\n got %+v\nwant %+v", out, c.msg)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	t.Run("Setup", func(t *testing.T) { runGolden(t, framed, goldenSetup) })
	t.Run("AnnounceRequest", func(t *testing.T) { runGolden(t, framed, goldenAnnounceRequest) })
	t.Run("AnnounceOK", func(t *testing.T) { runGolden(t, framed, goldenAnnounceOK) })
	t.Run("Announce", func(t *testing.T) { runGolden(t, framed, goldenAnnounce) })
	t.Run("AnnounceRestart", func(t *testing.T) { runGolden(t, framed, goldenAnnounceRestart) })
	t.Run("Subscribe", func(t *testing.T) { runGolden(t, framed, goldenSubscribe) })
	t.Run("SubscribeUpdate", func(t *testing.T) { runGolden(t, framed, goldenSubscribeUpdate) })
	t.Run("SubscribeOK", func(t *testing.T) { runGolden(t, typed, goldenSubscribeOK) })
	t.Run("SubscribeDrop", func(t *testing.T) { runGolden(t, typed, goldenSubscribeDrop) })
	t.Run("SubscribeStart", func(t *testing.T) { runGolden(t, typed, goldenSubscribeStart) })
	t.Run("SubscribeEnd", func(t *testing.T) { runGolden(t, typed, goldenSubscribeEnd) })
	t.Run("Track", func(t *testing.T) { runGolden(t, framed, goldenTrack) })
	t.Run("TrackInfo", func(t *testing.T) { runGolden(t, framed, goldenTrackInfo) })
	t.Run("Fetch", func(t *testing.T) { runGolden(t, framed, goldenFetch) })
	t.Run("GroupHeader", func(t *testing.T) { runGolden(t, framed, goldenGroupHeader) })
	t.Run("Probe", func(t *testing.T) { runGolden(t, framed, goldenProbe) })
	t.Run("Goaway", func(t *testing.T) { runGolden(t, framed, goldenGoaway) })
	t.Run("Datagram", func(t *testing.T) { runGolden(t, raw, goldenDatagram) })
}

// TestGoldenCoverage checks every message has vectors for every version in
// which it exists.
func TestGoldenCoverage(t *testing.T) {
	check := func(name string, have []Version, want ...Version) {
		t.Helper()
		set := map[Version]bool{}
		for _, v := range have {
			set[v] = true
		}
		for _, v := range want {
			if !set[v] {
				t.Errorf("%s: no golden vector for %s", name, v)
			}
		}
		if len(set) != len(want) {
			t.Errorf("%s: vectors for %d versions, want %d", name, len(set), len(want))
		}
	}
	vs := func(cases any) []Version {
		rv := reflect.ValueOf(cases)
		out := make([]Version, rv.Len())
		for i := range out {
			out[i] = Version(rv.Index(i).FieldByName("v").Uint())
		}
		return out
	}
	check("Setup", vs(goldenSetup), Lite05)
	check("AnnounceRequest", vs(goldenAnnounceRequest), allVersions...)
	check("AnnounceOK", vs(goldenAnnounceOK), Lite05)
	check("Announce", vs(goldenAnnounce), allVersions...)
	check("Subscribe", vs(goldenSubscribe), allVersions...)
	check("SubscribeUpdate", vs(goldenSubscribeUpdate), allVersions...)
	check("SubscribeOK", vs(goldenSubscribeOK), Lite03, Lite04)
	check("SubscribeDrop", vs(goldenSubscribeDrop), allVersions...)
	check("SubscribeStart", vs(goldenSubscribeStart), Lite05)
	check("SubscribeEnd", vs(goldenSubscribeEnd), Lite05)
	check("Track", vs(goldenTrack), Lite05)
	check("TrackInfo", vs(goldenTrackInfo), Lite05)
	check("Fetch", vs(goldenFetch), Lite05)
	check("GroupHeader", vs(goldenGroupHeader), allVersions...)
	check("Probe", vs(goldenProbe), allVersions...)
	check("Goaway", vs(goldenGoaway), Lite04, Lite05)
	check("Datagram", vs(goldenDatagram), Lite05)
	check("FrameHeader", vs(goldenFrameHeader), allVersions...)
}

// runTruncation checks that every strict prefix of every golden body fails
// with ErrTruncated and that a trailing byte fails with ErrTrailing.
func runTruncation[T any, P message[T]](t *testing.T, kind framing, cases []golden[T]) {
	t.Helper()
	for _, c := range cases {
		_, body := strip(t, kind, mustHex(c.hex))
		minLen := len(body)
		if kind == raw {
			// A datagram's payload runs to its end, so only cuts inside the
			// three leading varints are truncations.
			d := any(&c.msg).(*Datagram)
			minLen = VarintLen(d.SubscribeID) + VarintLen(d.Sequence) + VarintLen(d.Timestamp)
		}
		for i := 0; i < minLen; i++ {
			var out T
			err := P(&out).Parse(body[:i:i], c.v)
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: prefix %d/%d: err = %v, want ErrTruncated", c.name, i, len(body), err)
			}
		}
		if kind == raw {
			continue
		}
		long := append(append([]byte{}, body...), 0)
		var out T
		if err := P(&out).Parse(long, c.v); !errors.Is(err, ErrTrailing) {
			t.Errorf("%s: trailing byte: err = %v, want ErrTrailing", c.name, err)
		}
	}
}

func TestTruncationAndTrailing(t *testing.T) {
	t.Run("Setup", func(t *testing.T) { runTruncation(t, framed, goldenSetup) })
	t.Run("AnnounceRequest", func(t *testing.T) { runTruncation(t, framed, goldenAnnounceRequest) })
	t.Run("AnnounceOK", func(t *testing.T) { runTruncation(t, framed, goldenAnnounceOK) })
	t.Run("Announce", func(t *testing.T) { runTruncation(t, framed, goldenAnnounce) })
	t.Run("AnnounceRestart", func(t *testing.T) { runTruncation(t, framed, goldenAnnounceRestart) })
	t.Run("Subscribe", func(t *testing.T) { runTruncation(t, framed, goldenSubscribe) })
	t.Run("SubscribeUpdate", func(t *testing.T) { runTruncation(t, framed, goldenSubscribeUpdate) })
	t.Run("SubscribeOK", func(t *testing.T) { runTruncation(t, typed, goldenSubscribeOK) })
	t.Run("SubscribeDrop", func(t *testing.T) { runTruncation(t, typed, goldenSubscribeDrop) })
	t.Run("SubscribeStart", func(t *testing.T) { runTruncation(t, typed, goldenSubscribeStart) })
	t.Run("SubscribeEnd", func(t *testing.T) { runTruncation(t, typed, goldenSubscribeEnd) })
	t.Run("Track", func(t *testing.T) { runTruncation(t, framed, goldenTrack) })
	t.Run("TrackInfo", func(t *testing.T) { runTruncation(t, framed, goldenTrackInfo) })
	t.Run("Fetch", func(t *testing.T) { runTruncation(t, framed, goldenFetch) })
	t.Run("GroupHeader", func(t *testing.T) { runTruncation(t, framed, goldenGroupHeader) })
	t.Run("Probe", func(t *testing.T) { runTruncation(t, framed, goldenProbe) })
	t.Run("Goaway", func(t *testing.T) { runTruncation(t, framed, goldenGoaway) })
	t.Run("Datagram", func(t *testing.T) { runTruncation(t, raw, goldenDatagram) })
}

// ---- random round trips ----

type gen struct{ r *rand.Rand }

func (g gen) u62() uint64 {
	switch g.r.IntN(6) {
	case 0:
		return 0
	case 1:
		return g.r.Uint64N(64)
	case 2:
		return g.r.Uint64N(16384)
	case 3:
		return g.r.Uint64N(1 << 30)
	case 4:
		return MaxVarint - g.r.Uint64N(3)
	}
	return g.r.Uint64N(MaxVarint + 1)
}

func (g gen) str() string {
	const alphabet = "abcxyz/._-é漢🎥"
	runes := []rune(alphabet)
	n := g.r.IntN(20)
	if g.r.IntN(8) == 0 {
		n = 60 + g.r.IntN(10) // cross the 1→2 byte length boundary
	}
	var sb strings.Builder
	for range n {
		sb.WriteRune(runes[g.r.IntN(len(runes))])
	}
	return sb.String()
}

func (g gen) opt() (uint64, bool) {
	if g.r.IntN(3) == 0 {
		return 0, false
	}
	return g.u62() % (MaxVarint - 1), true
}

func (g gen) bool() bool { return g.r.IntN(2) == 1 }

func (g gen) hops(v Version) []uint64 {
	n := g.r.IntN(MaxHops + 1)
	if n == 0 {
		return nil
	}
	h := make([]uint64, n)
	if v != Lite03 {
		for i := range h {
			h[i] = g.u62()
		}
	}
	return h
}

func roundTrip[T any, P message[T]](t *testing.T, kind framing, v Version, msg T) {
	t.Helper()
	m := P(&msg)
	enc := m.Append(nil, v)
	if len(enc) != m.Len(v) {
		t.Fatalf("%T %s: Len %d, Append %d bytes", msg, v, m.Len(v), len(enc))
	}
	_, body := strip(t, kind, enc)
	var out T
	if err := P(&out).Parse(body, v); err != nil {
		t.Fatalf("%T %s: Parse(%x): %v", msg, v, body, err)
	}
	if !reflect.DeepEqual(out, msg) {
		t.Fatalf("%T %s:\n got %+v\nwant %+v", msg, v, out, msg)
	}
}

func TestRoundTripRandom(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	for range 300 {
		for _, v := range allVersions {
			ar := AnnounceRequest{Prefix: g.str()}
			if v != Lite03 {
				ar.ExcludeHop = g.u62()
			}
			roundTrip(t, framed, v, ar)
			status := uint8(g.r.IntN(2))
			if v == Lite05 {
				status = uint8(g.r.IntN(3))
			}
			roundTrip(t, framed, v, Announce{Status: status, Suffix: g.str(), Hops: g.hops(v)})
			s := Subscribe{ID: g.u62(), Broadcast: g.str(), Track: g.str(), Priority: uint8(g.r.Uint32()), Ordered: g.bool(), MaxLatencyMs: g.u62()}
			s.StartGroup, s.HasStart = g.opt()
			s.EndGroup, s.HasEnd = g.opt()
			roundTrip(t, framed, v, s)
			u := SubscribeUpdate{Priority: uint8(g.r.Uint32()), Ordered: g.bool(), MaxLatencyMs: g.u62()}
			u.StartGroup, u.HasStart = g.opt()
			u.EndGroup, u.HasEnd = g.opt()
			roundTrip(t, framed, v, u)
			roundTrip(t, typed, v, SubscribeDrop{Start: g.u62(), End: g.u62(), ErrorCode: g.u62()})
			roundTrip(t, framed, v, GroupHeader{SubscribeID: g.u62(), Sequence: g.u62()})
			p := Probe{Bitrate: g.u62()}
			if v != Lite03 {
				p.RTTMs = g.u62()
				roundTrip(t, framed, v, Goaway{URI: g.str()})
			}
			roundTrip(t, framed, v, p)
			if v != Lite05 {
				ok := SubscribeOK{Priority: uint8(g.r.Uint32()), Ordered: g.bool(), MaxLatencyMs: g.u62()}
				ok.StartGroup, ok.HasStart = g.opt()
				ok.EndGroup, ok.HasEnd = g.opt()
				roundTrip(t, typed, v, ok)
				continue
			}
			st := Setup{Probe: g.u62(), Role: g.u62(), Origin: g.u62()}
			if g.bool() {
				st.Path, st.HasPath = g.str(), true
			}
			roundTrip(t, framed, v, st)
			roundTrip(t, framed, v, AnnounceOK{Origin: g.u62(), ActiveCount: g.u62()})
			roundTrip(t, typed, v, SubscribeStart{Group: g.u62()})
			roundTrip(t, typed, v, SubscribeEnd{Group: g.u62()})
			roundTrip(t, framed, v, Track{Broadcast: g.str(), Track: g.str()})
			roundTrip(t, framed, v, TrackInfo{Priority: uint8(g.r.Uint32()), Ordered: g.bool(), MaxLatencyMs: g.u62(), Timescale: g.u62() | 1})
			roundTrip(t, framed, v, Fetch{Broadcast: g.str(), Track: g.str(), Priority: uint8(g.r.Uint32()), Group: g.u62()})
			payload := make([]byte, g.r.IntN(MaxDatagramPayload+1))
			for i := range payload {
				payload[i] = byte(g.r.Uint32())
			}
			roundTrip(t, raw, v, Datagram{SubscribeID: g.u62(), Sequence: g.u62(), Timestamp: g.u62(), Payload: payload})
		}
	}
}

// ---- version gating ----

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if recover() == nil {
			t.Errorf("%s: did not panic", what)
		}
	}()
	f()
}

const liteUnknown Version = 0xff0dad06

func TestVersionGating(t *testing.T) {
	type codec interface {
		Append([]byte, Version) []byte
		Len(Version) int
		Parse([]byte, Version) error
	}
	cases := []struct {
		m    codec
		have []Version
	}{
		{&Setup{}, []Version{Lite05}},
		{&AnnounceRequest{}, allVersions},
		{&AnnounceOK{}, []Version{Lite05}},
		{&Announce{}, allVersions},
		{&Subscribe{}, allVersions},
		{&SubscribeUpdate{}, allVersions},
		{&SubscribeOK{}, []Version{Lite03, Lite04}},
		{&SubscribeDrop{}, allVersions},
		{&SubscribeStart{}, []Version{Lite05}},
		{&SubscribeEnd{}, []Version{Lite05}},
		{&Track{}, []Version{Lite05}},
		{&TrackInfo{Timescale: 1}, []Version{Lite05}},
		{&Fetch{}, []Version{Lite05}},
		{&GroupHeader{}, allVersions},
		{&Probe{}, allVersions},
		{&Goaway{}, []Version{Lite04, Lite05}},
		{&Datagram{}, []Version{Lite05}},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%T", c.m)
		for _, v := range append([]Version{0, liteUnknown, 0xff0dad02}, allVersions...) {
			ok := false
			for _, h := range c.have {
				ok = ok || h == v
			}
			if ok {
				continue
			}
			mustPanic(t, name+".Append "+v.String(), func() { c.m.Append(nil, v) })
			mustPanic(t, name+".Len "+v.String(), func() { c.m.Len(v) })
			body := c.m.Append(nil, c.have[0])
			if err := c.m.Parse(body, v); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s.Parse(%s) = %v, want ErrInvalid", name, v, err)
			}
		}
	}
	// Fields and statuses that do not exist in a version.
	mustPanic(t, "ExcludeHop on 03", func() { (&AnnounceRequest{ExcludeHop: 1}).Append(nil, Lite03) })
	mustPanic(t, "RTT on 03", func() { (&Probe{RTTMs: 1}).Append(nil, Lite03) })
	mustPanic(t, "restart on 04", func() { (&Announce{Status: AnnounceRestart}).Append(nil, Lite04) })
	mustPanic(t, "status 3", func() { (&Announce{Status: 3}).Append(nil, Lite05) })
	mustPanic(t, "33 hops", func() { (&Announce{Status: 1, Hops: make([]uint64, 33)}).Append(nil, Lite05) })
	mustPanic(t, "timescale 0", func() { (&TrackInfo{}).Append(nil, Lite05) })
	mustPanic(t, "timescale 0 Len", func() { (&TrackInfo{}).Len(Lite05) })
	mustPanic(t, "varint overflow", func() { (&GroupHeader{Sequence: MaxVarint + 1}).Append(nil, Lite05) })
	mustPanic(t, "start overflow", func() { (&SubscribeUpdate{StartGroup: MaxVarint, HasStart: true}).Append(nil, Lite05) })
	// Zero values of absent fields are fine.
	if got := (&AnnounceRequest{Prefix: "a"}).Append(nil, Lite03); !bytes.Equal(got, mustHex("020161")) {
		t.Errorf("03 request: %x", got)
	}
}

func TestDatagramTooLarge(t *testing.T) {
	d := Datagram{SubscribeID: 1, Sequence: 2, Timestamp: 3, Payload: make([]byte, MaxDatagramPayload)}
	enc := d.Append(nil, Lite05)
	var out Datagram
	if err := out.Parse(enc, Lite05); err != nil || len(out.Payload) != MaxDatagramPayload {
		t.Fatalf("1200-byte payload: %v", err)
	}
	if &out.Payload[0] != &enc[3] {
		t.Error("Payload does not alias the input")
	}
	enc = append(enc, 0)
	if err := out.Parse(enc, Lite05); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1201-byte payload: %v", err)
	}
	d.Payload = make([]byte, MaxDatagramPayload+1)
	for _, f := range []func(){func() { d.Append(nil, Lite05) }, func() { d.Len(Lite05) }} {
		func() {
			defer func() {
				err, _ := recover().(error)
				if !errors.Is(err, ErrTooLarge) {
					t.Errorf("panic value %v, want an error wrapping ErrTooLarge", err)
				}
			}()
			f()
		}()
	}
}

// ---- invalid input ----

func TestParseInvalid(t *testing.T) {
	type tc struct {
		name string
		m    interface{ Parse([]byte, Version) error }
		v    Version
		body string
		want error
	}
	hops33 := "01" + "00" + "21" + strings.Repeat("01", 33)
	cases := []tc{
		{"subscribe ordered=2", &Subscribe{}, Lite05, "00000000" + "02" + "000000", ErrInvalid},
		{"update ordered=255", &SubscribeUpdate{}, Lite04, "00ff000000", ErrInvalid},
		{"subscribe ok ordered=2", &SubscribeOK{}, Lite03, "0002000000", ErrInvalid},
		{"track info ordered=2", &TrackInfo{}, Lite05, "00020001", ErrInvalid},
		{"track info timescale 0", &TrackInfo{}, Lite05, "00000000", ErrInvalid},
		{"announce status 2 on 03", &Announce{}, Lite03, "020000", ErrInvalid},
		{"announce status 2 on 04", &Announce{}, Lite04, "020000", ErrInvalid},
		{"announce status 3", &Announce{}, Lite05, "030000", ErrInvalid},
		{"announce 33 hops", &Announce{}, Lite05, hops33, ErrTooLarge},
		{"announce 33 hops on 03", &Announce{}, Lite03, "010021", ErrTooLarge},
		{"announce huge count", &Announce{}, Lite04, "0100" + "c000000000000021", ErrTooLarge},
		{"announce bad utf8", &Announce{}, Lite05, "0102c3280000", ErrInvalid},
		{"subscribe bad utf8", &Subscribe{}, Lite05, "00" + "01ff" + "00" + "0000000000", ErrInvalid},
		{"track bad utf8", &Track{}, Lite05, "0001c0", ErrInvalid},
		{"goaway bad utf8", &Goaway{}, Lite04, "02c328", ErrInvalid},
		{"string longer than body", &Goaway{}, Lite05, "05616263", ErrTruncated},
		{"string length 2^62-1", &Goaway{}, Lite05, "ffffffffffffffff", ErrTruncated},
		{"setup 65 params", &Setup{}, Lite05, "4041", ErrTooLarge},
		{"setup duplicate", &Setup{}, Lite05, "02" + "030101" + "030102", ErrInvalid},
		{"setup duplicate unknown", &Setup{}, Lite05, "02" + "0400" + "0400", ErrInvalid},
		{"setup probe trailing", &Setup{}, Lite05, "01" + "01020100", ErrInvalid},
		{"setup probe empty", &Setup{}, Lite05, "01" + "0100", ErrInvalid},
		{"setup probe short varint", &Setup{}, Lite05, "01" + "010140", ErrInvalid},
		{"setup origin trailing", &Setup{}, Lite05, "01" + "0502ffff", ErrInvalid},
		{"setup path bad utf8", &Setup{}, Lite05, "01" + "0201ff", ErrInvalid},
		{"setup value longer than body", &Setup{}, Lite05, "01" + "020561", ErrTruncated},
	}
	for _, c := range cases {
		err := c.m.Parse(mustHex(c.body), c.v)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "wire: ") {
			t.Errorf("%s: error %q lacks the wire: prefix", c.name, err)
		}
	}
}

func TestSetupParse(t *testing.T) {
	// Unknown parameters (including the 06 Cost, 0x4) are skipped; 0x2 path
	// may be empty; the raw probe/role values are kept.
	body := mustHex("05" + "040107" + "0703616263" + "0200" + "030109" + "010123")
	var s Setup
	if err := s.Parse(body, Lite05); err != nil {
		t.Fatal(err)
	}
	want := Setup{Probe: 0x23, HasPath: true, Role: 9}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v want %+v", s, want)
	}
	// A non-minimal varint inside a parameter is accepted.
	if err := s.Parse(mustHex("01"+"050240"+"05"), Lite05); err != nil || s.Origin != 5 {
		t.Fatalf("non-minimal origin: %+v %v", s, err)
	}
	// Exactly MaxSetupParams unknown params are fine.
	var sb strings.Builder
	sb.WriteString("4040")
	for i := range MaxSetupParams {
		fmt.Fprintf(&sb, "%s00", hex.EncodeToString(AppendVarint(nil, uint64(0x10+i))))
	}
	if err := s.Parse(mustHex(sb.String()), Lite05); err != nil {
		t.Fatalf("64 params: %v", err)
	}
	// Path without HasPath is not written.
	if got := (&Setup{Path: "x"}).Append(nil, Lite05); !bytes.Equal(got, mustHex("0100")) {
		t.Fatalf("path without HasPath: %x", got)
	}
}

func TestParseErrorKeepsMessage(t *testing.T) {
	m := Subscribe{ID: 7, Track: "keep"}
	if err := m.Parse(mustHex("01"), Lite05); err == nil {
		t.Fatal("want error")
	}
	if m.ID != 7 || m.Track != "keep" {
		t.Fatalf("failed Parse modified the message: %+v", m)
	}
}

func TestAnnounceHops03(t *testing.T) {
	// On 03 only the count is written; IDs are dropped and parse back as zeros.
	a := Announce{Status: AnnounceActive, Suffix: "s", Hops: []uint64{5, 6}}
	enc := a.Append(nil, Lite03)
	if !bytes.Equal(enc, mustHex("0401017302")) {
		t.Fatalf("%x", enc)
	}
	var out Announce
	if err := out.Parse(enc[1:], Lite03); err != nil || !reflect.DeepEqual(out.Hops, []uint64{0, 0}) {
		t.Fatalf("%+v %v", out, err)
	}
}

// ---- versions, varints, zigzag ----

func TestVersion(t *testing.T) {
	for _, c := range []struct {
		v    Version
		name string
	}{{Lite03, "moq-lite-03"}, {Lite04, "moq-lite-04"}, {Lite05, "moq-lite-05"}} {
		if c.v.String() != c.name || c.v.ALPN() != c.name {
			t.Errorf("%x: %q %q", uint64(c.v), c.v.String(), c.v.ALPN())
		}
		if v, ok := ParseALPN(c.name); !ok || v != c.v {
			t.Errorf("ParseALPN(%q) = %v %v", c.name, v, ok)
		}
	}
	if s := liteUnknown.String(); s != "moq-lite-unknown(0xff0dad06)" {
		t.Errorf("unknown: %q", s)
	}
	if liteUnknown.ALPN() != "" {
		t.Error("unknown ALPN")
	}
	for _, s := range []string{"", "moql", "moq-lite-06-wip", "moq-lite-02", "MOQ-LITE-03", "moq-lite-03 ", "h3"} {
		if _, ok := ParseALPN(s); ok {
			t.Errorf("ParseALPN(%q) accepted", s)
		}
	}
	a := SupportedVersions()
	if !reflect.DeepEqual(a, []Version{Lite05, Lite04, Lite03}) {
		t.Fatalf("%v", a)
	}
	a[0] = 0
	if SupportedVersions()[0] != Lite05 {
		t.Fatal("SupportedVersions shares its slice")
	}
}

func TestVarint(t *testing.T) {
	for _, c := range []struct {
		v   uint64
		hex string
	}{
		{0, "00"}, {63, "3f"}, {64, "4040"}, {16383, "7fff"}, {16384, "80004000"},
		{1<<30 - 1, "bfffffff"}, {1 << 30, "c000000040000000"}, {1<<53 - 1, "c01fffffffffffff"},
		{MaxVarint, "ffffffffffffffff"},
	} {
		b := AppendVarint(nil, c.v)
		if hex.EncodeToString(b) != c.hex || VarintLen(c.v) != len(b) {
			t.Errorf("%d: %x", c.v, b)
		}
		v, n, err := ParseVarint(append(b, 0xee))
		if err != nil || v != c.v || n != len(b) {
			t.Errorf("ParseVarint(%x) = %d %d %v", b, v, n, err)
		}
		for i := range len(b) {
			if _, _, err := ParseVarint(b[:i]); !errors.Is(err, ErrTruncated) {
				t.Errorf("ParseVarint(%x) err = %v", b[:i], err)
			}
		}
	}
	mustPanic(t, "AppendVarint 2^62", func() { AppendVarint(nil, MaxVarint+1) })
}

func TestZigzag(t *testing.T) {
	for _, c := range []struct {
		n int64
		u uint64
	}{{0, 0}, {-1, 1}, {1, 2}, {-2, 3}, {2, 4}, {math.MaxInt64, math.MaxUint64 - 1}, {math.MinInt64, math.MaxUint64}} {
		if Zigzag(c.n) != c.u || Unzigzag(c.u) != c.n {
			t.Errorf("%d <-> %d: %d %d", c.n, c.u, Zigzag(c.n), Unzigzag(c.u))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		n := int64(r.Uint64())
		if Unzigzag(Zigzag(n)) != n {
			t.Fatalf("%d", n)
		}
	}
}

// ---- frame headers ----

func TestFrameHeaderGolden(t *testing.T) {
	for _, c := range goldenFrameHeader {
		want := mustHex(c.hex)
		got := AppendFrameHeader(nil, c.v, c.tsDelta, c.size)
		if !bytes.Equal(got, want) {
			t.Errorf("%s %d %d: got %x want %x", c.v, c.tsDelta, c.size, got, want)
		}
		if n := FrameHeaderLen(c.v, c.tsDelta, c.size); n != len(want) {
			t.Errorf("%s %d %d: FrameHeaderLen %d want %d", c.v, c.tsDelta, c.size, n, len(want))
		}
		ts, size, n, err := ParseFrameHeader(append(want, 0x99), c.v)
		if err != nil || ts != c.tsDelta || size != uint64(c.size) || n != len(want) {
			t.Errorf("%s: ParseFrameHeader(%x) = %d %d %d %v", c.v, want, ts, size, n, err)
		}
		for i := range len(want) {
			if _, _, _, err := ParseFrameHeader(want[:i], c.v); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: ParseFrameHeader(%x) err = %v", c.v, want[:i], err)
			}
		}
		r := NewReader(bytes.NewReader(want), 16)
		ts, size, err = r.ReadFrameHeader(c.v)
		if err != nil || ts != c.tsDelta || size != uint64(c.size) {
			t.Errorf("%s: ReadFrameHeader(%x) = %d %d %v", c.v, want, ts, size, err)
		}
	}
}

func TestFrameHeaderEdges(t *testing.T) {
	// 03/04 frames carry no timestamp: tsDelta is ignored.
	if got := AppendFrameHeader(nil, Lite03, 12345, 5); !bytes.Equal(got, []byte{5}) {
		t.Errorf("03 with delta: %x", got)
	}
	if FrameHeaderLen(Lite04, -7, 5) != 1 {
		t.Error("04 FrameHeaderLen with delta")
	}
	for _, d := range []int64{minTsDelta, maxTsDelta} {
		h := AppendFrameHeader(nil, Lite05, d, 0)
		if ts, _, _, err := ParseFrameHeader(h, Lite05); err != nil || ts != d {
			t.Errorf("%d: %d %v", d, ts, err)
		}
	}
	mustPanic(t, "delta too small", func() { AppendFrameHeader(nil, Lite05, minTsDelta-1, 0) })
	mustPanic(t, "delta too large", func() { FrameHeaderLen(Lite05, maxTsDelta+1, 0) })
	mustPanic(t, "negative size", func() { AppendFrameHeader(nil, Lite05, 0, -1) })
	mustPanic(t, "unknown version", func() { AppendFrameHeader(nil, liteUnknown, 0, 1) })
	mustPanic(t, "unknown version len", func() { FrameHeaderLen(0, 0, 1) })
	if _, _, _, err := ParseFrameHeader([]byte{0}, liteUnknown); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseFrameHeader unknown version: %v", err)
	}
}

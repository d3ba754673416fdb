package ietf

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// fuzzVersions are the versions a fuzz input selects from; the last does
// not exist, so every Parse must reject it with ErrInvalid.
var fuzzVersions = []Version{Draft17, Draft18, Draft19, Draft20, Draft20 + 1}

func versionIndex(v Version) uint8 {
	for i, x := range fuzzVersions {
		if x == v {
			return uint8(i)
		}
	}
	panic("unknown version")
}

func isSentinel(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrTrailing) ||
		errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalid)
}

// maxFuzzBody keeps re-encoded bodies under MaxMessageLen even where Append
// widens a varint (the 7-byte form becomes 8 bytes).
const maxFuzzBody = 8 << 10

// fuzzMessage fuzzes one message's Parse: it must never panic, must fail
// only with a package sentinel, and whatever it accepts must re-encode
// (Append, with Len matching) to a frame that parses back to an equal value
// and re-encodes to the same bytes.
func fuzzMessage[T any, P interface {
	*T
	message
}](f *testing.F, names ...string) {
	for _, g := range loadGolden(f) {
		for _, name := range names {
			if g.Name != name {
				continue
			}
			_, payload, _, err := ParseControl(g.bytes(f), g.version())
			if err != nil {
				f.Fatal(err)
			}
			f.Add(payload, versionIndex(g.version()))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, vi uint8) {
		if len(body) > maxFuzzBody {
			return
		}
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var m T
		err := P(&m).Parse(body, v)
		if !v.known() {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse on %s: %v, want ErrInvalid", v, err)
			}
			return
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
		_, body2, n, err := ParseControl(enc, v)
		if err != nil || n != len(enc) {
			t.Fatalf("ParseControl of %x: %d, %v", enc, n, err)
		}
		var m2 T
		if err := P(&m2).Parse(body2, v); err != nil {
			t.Fatalf("re-parse of %x: %v", body2, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-parse differs:\n%+v\n%+v", m, m2)
		}
		if enc2 := P(&m2).Append(nil, v); !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc, enc2)
		}
	})
}

func FuzzSetup(f *testing.F) {
	fuzzMessage[Setup](f, "setup-moq-lite-js", "setup-empty", "setup-path-authority")
}

func FuzzRequestOK(f *testing.F) {
	fuzzMessage[RequestOK](f, "request-ok-empty", "request-ok-params")
}

func FuzzRequestError(f *testing.F) {
	fuzzMessage[RequestError](f, "request-error", "request-error-empty")
}

func FuzzGoaway(f *testing.F) { fuzzMessage[Goaway](f, "goaway", "goaway-empty") }

func FuzzSubscribe(f *testing.F) {
	fuzzMessage[Subscribe](f, "subscribe-join", "subscribe-unfiltered", "subscribe-absolute")
}

func FuzzSubscribeOK(f *testing.F) {
	fuzzMessage[SubscribeOK](f, "subscribe-ok", "subscribe-ok-bare")
}

func FuzzRequestUpdate(f *testing.F) { fuzzMessage[RequestUpdate](f, "request-update") }

func FuzzPublishDone(f *testing.F) { fuzzMessage[PublishDone](f, "publish-done") }

func FuzzPublishNamespace(f *testing.F) {
	fuzzMessage[PublishNamespace](f, "publish-namespace", "publish-namespace-cluster")
}

func FuzzSubscribeNamespace(f *testing.F) {
	fuzzMessage[SubscribeNamespace](f, "subscribe-namespace")
}

func FuzzNamespaceEntry(f *testing.F) { fuzzMessage[NamespaceEntry](f, "namespace") }

func FuzzNamespaceDone(f *testing.F) { fuzzMessage[NamespaceDone](f, "namespace-done") }

// FuzzVarint checks ParseVarint against AppendVarint on any input.
func FuzzVarint(f *testing.F) {
	for _, g := range loadGolden(f) {
		if _, ok := goldenVarints[g.Name]; ok {
			f.Add(g.bytes(f), versionIndex(g.version()))
		}
	}
	f.Add([]byte{0xfc, 1, 2, 3, 4, 5, 6}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		x, n, err := ParseVarint(b, v)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if n < 1 || n > 9 || n > len(b) {
			t.Fatalf("ParseVarint used %d of %d bytes", n, len(b))
		}
		enc := AppendVarint(nil, x)
		if len(enc) != VarintLen(x) {
			t.Fatalf("VarintLen %d, Append wrote %d", VarintLen(x), len(enc))
		}
		y, m, err := ParseVarint(enc, v)
		if err != nil || y != x || m != len(enc) {
			t.Fatalf("re-parse of %x: %d, %d, %v; want %d", enc, y, m, err, x)
		}
	})
}

// FuzzControl checks ParseControl's framing on any input.
func FuzzControl(f *testing.F) {
	for _, g := range loadGolden(f) {
		if _, ok := goldenCases[g.Name]; ok {
			f.Add(g.bytes(f), versionIndex(g.version()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		typ, payload, n, err := ParseControl(b, v)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if n > len(b) || n < len(payload)+3 {
			t.Fatalf("ParseControl used %d of %d bytes for a %d byte payload", n, len(b), len(payload))
		}
		enc := appendControlHeader(nil, typ, len(payload))
		enc = append(enc, payload...)
		typ2, payload2, m, err := ParseControl(enc, v)
		if err != nil || typ2 != typ || !bytes.Equal(payload, payload2) || m != len(enc) {
			t.Fatalf("re-parse of %x: 0x%x, %x, %d, %v", enc, typ2, payload2, m, err)
		}
	})
}

// FuzzKVPs checks ParseKVPs, the decoder of raw Object Properties blocks.
func FuzzKVPs(f *testing.F) {
	f.Add([]byte{0x08, 0xcf, 0x42, 0x40, 0x1a, 0x02}, uint8(0))
	f.Add([]byte{0x07, 0x01, 'x', 0x00, 0x00, 0x03}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		l, err := ParseKVPs(b, v)
		if !v.known() {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseKVPs on %s: %v, want ErrInvalid", v, err)
			}
			return
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		enc := l.Append(nil)
		if len(enc) != l.Len() {
			t.Fatalf("Len %d, Append wrote %d", l.Len(), len(enc))
		}
		l2, err := ParseKVPs(enc, v)
		if err != nil || !reflect.DeepEqual(l, l2) {
			t.Fatalf("re-parse of %x: %+v, %v; want %+v", enc, l2, err, l)
		}
	})
}

// FuzzSubgroupHeader round-trips whatever SubgroupHeader.Parse accepts.
func FuzzSubgroupHeader(f *testing.F) {
	for _, g := range loadGolden(f) {
		if _, ok := goldenHeaders[g.Name]; ok {
			f.Add(g.bytes(f), versionIndex(g.version()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var h SubgroupHeader
		n, err := h.Parse(b, v)
		if !v.known() {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse on %s: %v, want ErrInvalid", v, err)
			}
			return
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("Parse used %d of %d bytes", n, len(b))
		}
		enc := h.Append(nil, v)
		if len(enc) != h.Len(v) {
			t.Fatalf("Len %d, Append wrote %d", h.Len(v), len(enc))
		}
		var h2 SubgroupHeader
		if m, err := h2.Parse(enc, v); err != nil || m != len(enc) || h != h2 {
			t.Fatalf("re-parse of %x: %+v, %d, %v; want %+v", enc, h2, m, err, h)
		}
	})
}

// FuzzSubgroupObject round-trips whatever SubgroupObject.Parse accepts.
func FuzzSubgroupObject(f *testing.F) {
	for _, g := range loadGolden(f) {
		if c, ok := goldenObjects[g.Name]; ok {
			f.Add(g.bytes(f), c.hasProps, versionIndex(g.version()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, hasProps bool, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var o SubgroupObject
		n, err := o.Parse(b, hasProps, v)
		if !v.known() {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse on %s: %v, want ErrInvalid", v, err)
			}
			return
		}
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if n > len(b) {
			t.Fatalf("Parse used %d of %d bytes", n, len(b))
		}
		enc := o.Append(nil, hasProps, v)
		if len(enc) != o.Len(hasProps, v) {
			t.Fatalf("Len %d, Append wrote %d", o.Len(hasProps, v), len(enc))
		}
		var o2 SubgroupObject
		if m, err := o2.Parse(enc, hasProps, v); err != nil || m != len(enc) || !reflect.DeepEqual(o, o2) {
			t.Fatalf("re-parse of %x: %+v, %d, %v; want %+v", enc, o2, m, err, o)
		}
	})
}

func FuzzFetch(f *testing.F) { fuzzMessage[Fetch](f, "fetch-standalone", "fetch-joining") }

func FuzzFetchOK(f *testing.F) { fuzzMessage[FetchOK](f, "fetch-ok") }

// FuzzFetchHeader round-trips whatever FetchHeader.Parse accepts.
func FuzzFetchHeader(f *testing.F) {
	f.Add([]byte{0x05, 0x09}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var h FetchHeader
		n, err := h.Parse(b, v)
		if err != nil {
			if !isSentinel(err) || !v.known() && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v", err)
			}
			return
		}
		var h2 FetchHeader
		enc := h.Append(nil, v)
		if m, err := h2.Parse(enc, v); err != nil || m != len(enc) || h2 != h || n > len(b) || len(enc) != h.Len(v) {
			t.Fatalf("re-parse of %x: %+v, %v", enc, h2, err)
		}
	})
}

// FuzzFetchObject round-trips whatever FetchObject.Parse accepts.
func FuzzFetchObject(f *testing.F) {
	for _, g := range loadGolden(f) {
		if _, ok := goldenFetchObjects[g.Name]; ok {
			f.Add(g.bytes(f), versionIndex(g.version()))
		}
	}
	f.Add([]byte{0x80, 0x8c, 0x05, 0x02, 0x00}, uint8(1))
	f.Add([]byte{0x82, 0x0c, 0x05, 0x02, 0x00}, uint8(3))
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var o FetchObject
		n, err := o.Parse(b, v)
		if err != nil {
			if !isSentinel(err) || !v.known() && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v", err)
			}
			return
		}
		enc := o.Append(nil, v)
		if len(enc) != o.Len(v) || n > len(b) {
			t.Fatalf("Len %d, Append wrote %d", o.Len(v), len(enc))
		}
		var o2 FetchObject
		if m, err := o2.Parse(enc, v); err != nil || m != len(enc) || !reflect.DeepEqual(o, o2) {
			t.Fatalf("re-parse of %x: %+v, %v; want %+v", enc, o2, err, o)
		}
	})
}

func FuzzPublish(f *testing.F) { fuzzMessage[Publish](f, "publish") }

func FuzzPublishOK(f *testing.F) {
	f.Add(body(1, 0x10, []byte{1}), uint8(0))
	fuzzMessage[PublishOK](f)
}

func FuzzTrackStatus(f *testing.F) { fuzzMessage[TrackStatus](f, "track-status") }

// FuzzDatagram round-trips whatever Datagram.Parse accepts.
func FuzzDatagram(f *testing.F) {
	for _, g := range loadGolden(f) {
		if _, ok := goldenDatagrams[g.Name]; ok {
			f.Add(g.bytes(f), versionIndex(g.version()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var d Datagram
		err := d.Parse(b, v)
		if err != nil {
			if !isSentinel(err) || !v.known() && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v", err)
			}
			return
		}
		enc := d.Append(nil, v)
		if len(enc) != d.Len(v) {
			t.Fatalf("Len %d, Append wrote %d", d.Len(v), len(enc))
		}
		var d2 Datagram
		if err := d2.Parse(enc, v); err != nil || !reflect.DeepEqual(d, d2) {
			t.Fatalf("re-parse of %x: %+v, %v; want %+v", enc, d2, err, d)
		}
	})
}

// FuzzLocationFilter round-trips whatever LocationFilter.Parse accepts.
func FuzzLocationFilter(f *testing.F) {
	for _, g := range loadGolden(f) {
		if _, ok := goldenFilters[g.Name]; ok {
			f.Add(g.bytes(f), versionIndex(g.version()))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, vi uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		var lf LocationFilter
		if err := lf.Parse(b, v); err != nil {
			if !isSentinel(err) || !v.known() && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v", err)
			}
			return
		}
		enc := lf.Append(nil, v)
		if len(enc) != lf.Len(v) {
			t.Fatalf("Len %d, Append wrote %d", lf.Len(v), len(enc))
		}
		var lf2 LocationFilter
		if err := lf2.Parse(enc, v); err != nil || lf != lf2 {
			t.Fatalf("re-parse of %x: %+v, %v; want %+v", enc, lf2, err, lf)
		}
	})
}

// FuzzReader drives a Reader over arbitrary streams as control, subgroup and
// fetch streams: it must never panic, and fail only with a sentinel or an
// EOF.
func FuzzReader(f *testing.F) {
	for _, g := range loadGolden(f) {
		f.Add(g.bytes(f), versionIndex(g.version()), uint8(0))
		f.Add(g.bytes(f), versionIndex(g.version()), uint8(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, vi, mode uint8) {
		v := fuzzVersions[int(vi)%len(fuzzVersions)]
		r := NewReader(bytes.NewReader(b), v, 1024)
		check := func(err error) bool {
			if err == nil {
				return true
			}
			if err != io.EOF && err != io.ErrUnexpectedEOF && !isSentinel(err) {
				t.Fatalf("error %v", err)
			}
			return false
		}
		switch mode % 3 {
		case 0:
			for {
				if _, _, err := r.ReadControl(); !check(err) {
					return
				}
			}
		case 1:
			typ, err := r.ReadVarint()
			if !check(err) {
				return
			}
			h, err := r.ReadSubgroupHeader(typ)
			if !check(err) {
				return
			}
			for {
				if _, err := r.ReadSubgroupObject(h.Properties, 4096); !check(err) {
					return
				}
			}
		default:
			for {
				if _, err := r.ReadFetchObject(4096); !check(err) {
					return
				}
			}
		}
	})
}

func FuzzPublishBlocked(f *testing.F) { fuzzMessage[PublishBlocked](f, "publish-blocked") }

func FuzzSubscribeTracks(f *testing.F) { fuzzMessage[SubscribeTracks](f, "subscribe-tracks") }

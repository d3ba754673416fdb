package ietf

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

// goldenHex returns the named vector's bytes for v.
func goldenHex(t *testing.T, name string, v Version) []byte {
	t.Helper()
	for _, g := range loadGolden(t) {
		if g.Name == name && g.version() == v {
			return g.bytes(t)
		}
	}
	t.Fatalf("no vector %s for %s", name, v)
	return nil
}

func TestReaderControlStream(t *testing.T) {
	for _, v := range SupportedVersions() {
		names := []string{"setup-moq-lite-js", "subscribe-join", "subscribe-ok", "publish-done", "goaway"}
		var stream []byte
		for _, n := range names {
			stream = append(stream, goldenHex(t, n, v)...)
		}
		r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), v, 0)
		for _, n := range names {
			c := goldenCases[n]
			typ, payload, err := r.ReadControl()
			if err != nil || typ != c.typ {
				t.Fatalf("%s %s: 0x%x, %v", v, n, typ, err)
			}
			m := c.fresh()
			if err := m.Parse(payload, v); err != nil || !reflect.DeepEqual(m, c.want(v)) {
				t.Fatalf("%s %s: %+v, %v", v, n, m, err)
			}
		}
		if _, _, err := r.ReadControl(); err != io.EOF {
			t.Fatalf("%s: after the last message: %v, want io.EOF", v, err)
		}
		// Every cut inside a message is an unexpected EOF.
		for i := 1; i < len(goldenHex(t, "subscribe-join", v)); i++ {
			r := NewReader(bytes.NewReader(goldenHex(t, "subscribe-join", v)[:i]), v, 0)
			if _, _, err := r.ReadControl(); err != io.ErrUnexpectedEOF {
				t.Fatalf("%s: cut at %d: %v", v, i, err)
			}
		}
	}
}

func TestReaderLimits(t *testing.T) {
	msg := (&RequestError{Reason: "a reason of some length"}).Append(nil, Draft18)
	r := NewReader(bytes.NewReader(msg), Draft18, 8)
	if _, _, err := r.ReadControl(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	obj := (&SubgroupObject{Payload: make([]byte, 100)}).Append(nil, false, Draft18)
	r = NewReader(bytes.NewReader(obj), Draft18, 0)
	if _, err := r.ReadSubgroupObject(false, 99); !errors.Is(err, ErrTooLarge) {
		t.Errorf("payload over the limit: %v", err)
	}
	r = NewReader(bytes.NewReader(body(0, 1<<20)), Draft18, 0)
	if _, err := r.ReadSubgroupObject(true, 1<<30); !errors.Is(err, ErrTooLarge) {
		t.Errorf("properties over the limit: %v", err)
	}
	// A large declared payload with few bytes behind it is an unexpected EOF
	// without allocating the whole declared size up front.
	r = NewReader(bytes.NewReader(body(0, 1<<28, "abc")), Draft18, 0)
	if _, err := r.ReadSubgroupObject(false, 1<<30); err != io.ErrUnexpectedEOF {
		t.Errorf("short payload: %v", err)
	}
	r = NewReader(bytes.NewReader([]byte{0xfc, 0, 0, 0, 0, 0, 0}), Draft17, 0)
	if _, err := r.ReadVarint(); !errors.Is(err, ErrInvalid) {
		t.Errorf("7-byte varint on 17: %v", err)
	}
	r = NewReader(bytes.NewReader(nil), Version(1), 0)
	if _, _, err := r.ReadControl(); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown version: %v", err)
	}
}

func TestReaderSubgroupStream(t *testing.T) {
	for _, v := range SupportedVersions() {
		stream := goldenHex(t, "subgroup-header-moq", v)
		objs := []string{"object-timestamp", "object-props-empty"}
		for _, n := range objs {
			stream = append(stream, goldenHex(t, n, v)...)
		}
		r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), v, 0)
		typ, err := r.ReadVarint()
		if err != nil || !IsSubgroupType(typ, v) {
			t.Fatalf("%s: type 0x%x, %v", v, typ, err)
		}
		h, err := r.ReadSubgroupHeader(typ)
		if err != nil || h != goldenHeaders["subgroup-header-moq"](v) {
			t.Fatalf("%s: header %+v, %v", v, h, err)
		}
		for _, n := range objs {
			o, err := r.ReadSubgroupObject(h.Properties, 1<<20)
			if err != nil || !reflect.DeepEqual(o, goldenObjects[n].want) {
				t.Fatalf("%s %s: %+v, %v", v, n, o, err)
			}
		}
		if _, err := r.ReadSubgroupObject(h.Properties, 1<<20); err != io.EOF {
			t.Fatalf("%s: end of stream: %v", v, err)
		}
		// Plain objects on a stream without properties.
		stream = nil
		for _, n := range []string{"object-plain", "object-empty", "object-end-of-group"} {
			stream = append(stream, goldenHex(t, n, v)...)
		}
		r = NewReader(bytes.NewReader(stream), v, 0)
		for _, n := range []string{"object-plain", "object-empty", "object-end-of-group"} {
			o, err := r.ReadSubgroupObject(false, 1<<20)
			if err != nil || !reflect.DeepEqual(o, goldenObjects[n].want) {
				t.Fatalf("%s %s: %+v, %v", v, n, o, err)
			}
		}
	}
	r := NewReader(bytes.NewReader(nil), Draft17, 0)
	if _, err := r.ReadSubgroupHeader(0x50); !errors.Is(err, ErrInvalid) {
		t.Errorf("FIRST_OBJECT type on 17: %v", err)
	}
}

func TestReaderFetchStream(t *testing.T) {
	for _, v := range SupportedVersions() {
		stream := goldenHex(t, "fetch-header", v)
		for _, n := range []string{"fetch-object-first", "fetch-object-next"} {
			stream = append(stream, goldenHex(t, n, v)...)
		}
		stream = append(stream, body(0x8c, 20, 0, 0)...)
		r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)), v, 0)
		if typ, err := r.ReadVarint(); err != nil || typ != StreamFetch {
			t.Fatalf("%s: type 0x%x, %v", v, typ, err)
		}
		if h, err := r.ReadFetchHeader(); err != nil || h.RequestID != 9 {
			t.Fatalf("%s: header %+v, %v", v, h, err)
		}
		for _, n := range []string{"fetch-object-first", "fetch-object-next"} {
			o, err := r.ReadFetchObject(1 << 20)
			if err != nil || !reflect.DeepEqual(o, goldenFetchObjects[n]) {
				t.Fatalf("%s %s: %+v, %v", v, n, o, err)
			}
		}
		if o, err := r.ReadFetchObject(1 << 20); err != nil || o.Flags != FetchEndOfNonExistentRange || o.Group != 20 {
			t.Fatalf("%s: end of range %+v, %v", v, o, err)
		}
		if _, err := r.ReadFetchObject(1 << 20); err != io.EOF {
			t.Fatalf("%s: end of stream: %v", v, err)
		}
	}
}

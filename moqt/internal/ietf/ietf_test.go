package ietf

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, v := range SupportedVersions() {
		got, ok := ParseALPN(v.ALPN())
		if !ok || got != v {
			t.Errorf("ParseALPN(%q) = %v, %v", v.ALPN(), got, ok)
		}
	}
	if Draft17.ALPN() != "moqt-17" || Draft20.String() != "moqt-20" {
		t.Errorf("ALPN/String: %q %q", Draft17.ALPN(), Draft20.String())
	}
	for _, s := range []string{"moqt-16", "moqt-21", "moq-00", "moq-lite-03", ""} {
		if _, ok := ParseALPN(s); ok {
			t.Errorf("ParseALPN(%q) accepted", s)
		}
	}
	if s := Version(0xff000010).String(); s != "moqt-unknown(0xff000010)" {
		t.Errorf("unknown String = %q", s)
	}
}

func TestVarintSevenByteForm(t *testing.T) {
	// The draft-18 example: 0xfc8998abc66bc0 = 151,288,809,941,952.
	b := []byte{0xfc, 0x89, 0x98, 0xab, 0xc6, 0x6b, 0xc0}
	for _, v := range []Version{Draft18, Draft19, Draft20} {
		x, n, err := ParseVarint(b, v)
		if err != nil || x != 151288809941952 || n != 7 {
			t.Errorf("%s: %d, %d, %v", v, x, n, err)
		}
	}
	if _, _, err := ParseVarint(b, Draft17); !errors.Is(err, ErrInvalid) {
		t.Errorf("draft 17: %v, want ErrInvalid", err)
	}
	if _, _, err := ParseVarint([]byte{0xfd}, Draft17); !errors.Is(err, ErrInvalid) {
		t.Errorf("draft 17 0xfd: %v, want ErrInvalid", err)
	}
	// This package writes the 8-byte form for the same value.
	if enc := AppendVarint(nil, 151288809941952); len(enc) != 8 || enc[0] != 0xfe {
		t.Errorf("AppendVarint = %x", enc)
	}
	// Non-shortest forms decode.
	if x, n, err := ParseVarint([]byte{0x80, 0x25}, Draft17); x != 37 || n != 2 || err != nil {
		t.Errorf("0x8025: %d, %d, %v", x, n, err)
	}
}

func TestVarintBoundaries(t *testing.T) {
	for _, x := range []uint64{0, 1<<7 - 1, 1 << 7, 1<<14 - 1, 1 << 14, 1<<21 - 1, 1 << 21, 1<<28 - 1, 1 << 28,
		1<<35 - 1, 1 << 35, 1<<42 - 1, 1 << 42, 1<<49 - 1, 1 << 49, 1<<56 - 1, 1 << 56, 1<<64 - 1} {
		enc := AppendVarint(nil, x)
		if len(enc) != VarintLen(x) {
			t.Errorf("%d: %d bytes, VarintLen %d", x, len(enc), VarintLen(x))
		}
		for _, v := range SupportedVersions() {
			if y, n, err := ParseVarint(enc, v); y != x || n != len(enc) || err != nil {
				t.Errorf("%d on %s: %d, %d, %v", x, v, y, n, err)
			}
		}
	}
}

// body is a parser-free way to write test payloads.
func body(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch p := p.(type) {
		case int:
			b = AppendVarint(b, uint64(p))
		case uint64:
			b = AppendVarint(b, p)
		case string:
			b = append(b, p...)
		case []byte:
			b = append(b, p...)
		}
	}
	return b
}

func TestParamsHostile(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"unknown type", body(1, 0x0c, 5), ErrInvalid},
		{"duplicate", body(2, 0x08, 1, 0, 2), ErrInvalid},
		{"overflow", body(2, 0x08, 1, uint64(1<<64-1), 1), ErrInvalid},
		{"bool 2", body(1, 0x10, []byte{2}), ErrInvalid},
		{"huge count", body(1<<40, 0x08, 1), ErrTruncated},
		{"huge length", body(1, 0x21, 1<<40), ErrTooLarge},
		{"location trailing", body(1, 0x09, 3, 1, 2, 3), ErrInvalid},
		{"location short", body(1, 0x09, 1, 1), ErrInvalid},
		{"subgroup delivery timeout on 17", body(1, 0x06, 1), ErrInvalid},
	}
	for _, c := range cases {
		var m RequestOK
		if err := m.Parse(c.b, Draft17); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Defined on 18.
	var m RequestOK
	if err := m.Parse(body(1, 0x06, 1), Draft18); err != nil || m.Params[0].Value != 1 {
		t.Errorf("SUBGROUP_DELIVERY_TIMEOUT on 18: %v %+v", err, m)
	}
	// Range filters from 19, INCLUDE_PROPERTIES from 20.
	if err := m.Parse(body(1, 0x25, 0), Draft18); !errors.Is(err, ErrInvalid) {
		t.Errorf("SUBGROUP_FILTER on 18: %v", err)
	}
	if err := m.Parse(body(1, 0x25, 0), Draft19); err != nil {
		t.Errorf("SUBGROUP_FILTER on 19: %v", err)
	}
	if err := m.Parse(body(1, 0x35, 1, []byte{1}), Draft19); !errors.Is(err, ErrInvalid) {
		t.Errorf("INCLUDE_PROPERTIES on 19: %v", err)
	}
}

func TestKVPsHostile(t *testing.T) {
	if _, err := ParseKVPs(body(uint64(1<<64-2), 0, 4, 1), Draft18); !errors.Is(err, ErrInvalid) {
		t.Errorf("type overflow: %v", err)
	}
	if _, err := ParseKVPs(body(1, 1<<16), Draft18); !errors.Is(err, ErrTooLarge) {
		t.Errorf("value too long: %v", err)
	}
	// Duplicates are allowed (delta 0): receivers must tolerate unknown repeats.
	l, err := ParseKVPs(body(0x41, 1, "a", 0, 1, "b"), Draft18)
	if err != nil || len(l) != 2 || l[1].Type != 0x41 {
		t.Errorf("duplicate option: %+v, %v", l, err)
	}
}

func TestNamespaceLimits(t *testing.T) {
	var m Subscribe
	// 33 fields.
	b := body(0, 0, 33)
	for range 33 {
		b = append(b, body(1, "a")...)
	}
	b = append(b, body(0, 0)...)
	if err := m.Parse(b, Draft17); !errors.Is(err, ErrTooLarge) {
		t.Errorf("33 fields: %v", err)
	}
	// Namespace plus name over 4096 bytes.
	long := strings.Repeat("n", 4000)
	b = body(0, 1, len(long), long, 200, strings.Repeat("t", 200), 0)
	if err := m.Parse(b, Draft18); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long full track name: %v", err)
	}
	// A huge count with few bytes fails without allocating.
	if err := m.Parse(body(0, uint64(1<<62)), Draft18); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge namespace count: %v", err)
	}
	// A count the bytes left cannot hold is truncation, found before allocating.
	if err := m.Parse(body(0, 32), Draft18); !errors.Is(err, ErrTruncated) {
		t.Errorf("32 fields in no bytes: %v", err)
	}
}

func TestReasonAndURILimits(t *testing.T) {
	var e RequestError
	if err := e.Parse(body(0, 0, MaxReasonLen+1, strings.Repeat("r", MaxReasonLen+1)), Draft17); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long reason: %v", err)
	}
	var g Goaway
	if err := g.Parse(body(MaxGoawayURILen+1), Draft17); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long URI: %v", err)
	}
}

func TestVersionGated(t *testing.T) {
	// REQUEST_ERROR Redirect from 18.
	e := RequestError{Code: 3, Reason: "moved", Redirect: &Redirect{ConnectURI: "https://x/", Namespace: Namespace{"a"}, Track: "t"}}
	enc := e.Append(nil, Draft18)
	var got RequestError
	_, payload, _, _ := ParseControl(enc, Draft18)
	if err := got.Parse(payload, Draft18); err != nil || got.Redirect == nil || got.Redirect.Track != "t" {
		t.Errorf("redirect: %+v, %v", got, err)
	}
	if err := got.Parse(payload, Draft17); !errors.Is(err, ErrTrailing) {
		t.Errorf("redirect on 17: %v, want ErrTrailing", err)
	}
	mustPanic(t, "redirect on 17", func() { e.Append(nil, Draft17) })

	// GOAWAY Request ID on 18 only.
	g := Goaway{TimeoutMs: 1, RequestID: 4, HasRequestID: true}
	_, payload, _, _ = ParseControl(g.Append(nil, Draft18), Draft18)
	var g2 Goaway
	if err := g2.Parse(payload, Draft18); err != nil || g2 != g {
		t.Errorf("goaway request id: %+v, %v", g2, err)
	}
	if err := g2.Parse(payload, Draft19); !errors.Is(err, ErrTrailing) {
		t.Errorf("goaway request id on 19: %v", err)
	}
	mustPanic(t, "goaway request id on 19", func() { g.Append(nil, Draft19) })

	// REQUEST_OK Track Properties from 18.
	ok := RequestOK{Properties: KVPs{{Type: 8, Value: 1000}}}
	mustPanic(t, "request ok properties on 17", func() { ok.Append(nil, Draft17) })

	// SUBSCRIBE_NAMESPACE renumbered on 18.
	sn := SubscribeNamespace{RequestID: 2}
	if typ, _, _, _ := ParseControl(sn.Append(nil, Draft17), Draft17); typ != 0x11 {
		t.Errorf("17 type 0x%x", typ)
	}
	if typ, _, _, _ := ParseControl(sn.Append(nil, Draft18), Draft18); typ != 0x50 {
		t.Errorf("18 type 0x%x", typ)
	}

	// Unknown version.
	mustPanic(t, "append on unknown version", func() { (&Setup{}).Append(nil, 0xff000010) })
	if _, _, _, err := ParseControl([]byte{0x03, 0, 0}, 0xff000010); !errors.Is(err, ErrInvalid) {
		t.Errorf("ParseControl on draft 16: %v", err)
	}
}

func TestAppendPanics(t *testing.T) {
	mustPanic(t, "params out of order", func() {
		(&RequestOK{Params: Params{{Type: 0x20}, {Type: 0x10}}}).Append(nil, Draft18)
	})
	mustPanic(t, "unknown param", func() { (&RequestOK{Params: Params{{Type: 0x0c}}}).Append(nil, Draft18) })
	mustPanic(t, "uint8 overflow", func() {
		(&RequestOK{Params: Params{{Type: ParamSubscriberPriority, Value: 256}}}).Append(nil, Draft18)
	})
	mustPanic(t, "kvps out of order", func() { (&Setup{Options: KVPs{{Type: 7}, {Type: 5}}}).Append(nil, Draft18) })
	mustPanic(t, "message too long", func() {
		(&Setup{Options: KVPs{{Type: 1, Bytes: make([]byte, 1<<16-1)}}}).Append(nil, Draft18)
	})
	mustPanic(t, "33 fields", func() {
		(&NamespaceDone{Suffix: Namespace(strings.Split(strings.Repeat("a,", 32)+"a", ","))}).Append(nil, Draft18)
	})
	mustPanic(t, "first object on 17", func() { (&SubgroupHeader{FirstObject: true}).Append(nil, Draft17) })
	mustPanic(t, "status with payload", func() {
		(&SubgroupObject{Status: StatusEndOfGroup, Payload: []byte("x")}).Append(nil, false, Draft18)
	})
}

func mustPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s: no panic", name)
		}
	}()
	f()
}

func TestSubgroupTypes(t *testing.T) {
	valid17, valid18 := 0, 0
	for typ := uint64(0); typ < 0x100; typ++ {
		if IsSubgroupType(typ, Draft17) {
			valid17++
		}
		if IsSubgroupType(typ, Draft18) {
			valid18++
			var h SubgroupHeader
			b := body(typ, 1, 2, 3, []byte{4})
			if _, err := h.Parse(b, Draft18); err != nil {
				t.Errorf("type 0x%x: %v", typ, err)
			} else if h.Type(Draft18) != typ {
				t.Errorf("type 0x%x re-encodes as 0x%x", typ, h.Type(Draft18))
			}
		} else if _, err := new(SubgroupHeader).Parse(body(typ, 1, 2, 3, []byte{4}), Draft18); !errors.Is(err, ErrInvalid) {
			t.Errorf("type 0x%x on 18: %v, want ErrInvalid", typ, err)
		}
	}
	// 17: 0x10..0x15, 0x18..0x1D, 0x30..0x35, 0x38..0x3D; 18+ doubles that with 0x40.
	if valid17 != 24 || valid18 != 48 {
		t.Errorf("%d valid types on 17, %d on 18; want 24, 48", valid17, valid18)
	}
}

func TestObjectPropertiesOnStatus(t *testing.T) {
	var o SubgroupObject
	if _, err := o.Parse(body(0, 2, 0x10, 5, 0, StatusEndOfGroup), true, Draft18); !errors.Is(err, ErrInvalid) {
		t.Errorf("properties on end of group: %v", err)
	}
	if _, err := o.Parse(body(0, 1<<17), true, Draft18); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge properties: %v", err)
	}
	// A huge payload length is just truncation: the payload aliases the input.
	if _, err := o.Parse(body(0, uint64(1<<60)), false, Draft18); !errors.Is(err, ErrTruncated) {
		t.Errorf("huge payload: %v", err)
	}
}

func TestControlStream(t *testing.T) {
	// A control stream: SETUP then GOAWAY, split with ParseControl.
	var b []byte
	b = (&Setup{Options: KVPs{{Type: OptionImplementation, Bytes: []byte("gomoq")}}}).Append(b, Draft19)
	b = (&Goaway{TimeoutMs: 10}).Append(b, Draft19)
	typ, payload, n, err := ParseControl(b, Draft19)
	if err != nil || typ != MsgSetup {
		t.Fatalf("first: 0x%x %v", typ, err)
	}
	var s Setup
	if err := s.Parse(payload, Draft19); err != nil || !bytes.Equal(s.Options[0].Bytes, []byte("gomoq")) {
		t.Fatalf("setup: %+v %v", s, err)
	}
	typ, payload, _, err = ParseControl(b[n:], Draft19)
	var g Goaway
	if err != nil || typ != MsgGoaway || g.Parse(payload, Draft19) != nil || g.TimeoutMs != 10 {
		t.Fatalf("second: 0x%x %+v %v", typ, g, err)
	}
}

func TestFetchObjectFlags(t *testing.T) {
	var o FetchObject
	// End of Non-Existent Range: Group and Object, then a payload length.
	n, err := o.Parse(body(0x8c, 5, 2, 0), Draft18)
	if err != nil || n != 5 || o.Group != 5 || o.Object != 2 {
		t.Errorf("end of range: %+v, %d, %v", o, n, err)
	}
	if _, err := o.Parse(body(0x20c, 5, 2, 0), Draft19); !errors.Is(err, ErrInvalid) {
		t.Errorf("0x20C on 19: %v", err)
	}
	if _, err := o.Parse(body(0x20c, 5, 2, 0), Draft20); err != nil {
		t.Errorf("0x20C on 20: %v", err)
	}
	if _, err := o.Parse(body(0x80, 0), Draft20); !errors.Is(err, ErrInvalid) {
		t.Errorf("flags 0x80: %v", err)
	}
	// Subgroup present unless the datagram bit is set.
	if _, err := o.Parse(body(0x03, 9, 0), Draft18); err != nil || o.SubgroupID != 9 {
		t.Errorf("subgroup field: %+v %v", o, err)
	}
	if _, err := o.Parse(body(0x43, 0), Draft18); err != nil || o.SubgroupID != 0 {
		t.Errorf("datagram bit: %+v %v", o, err)
	}
	var f Fetch
	if err := f.Parse(body(0, 7, 0), Draft18); !errors.Is(err, ErrInvalid) {
		t.Errorf("fetch type 7: %v", err)
	}
	var h FetchHeader
	if _, err := h.Parse(body(0x04, 1), Draft18); !errors.Is(err, ErrInvalid) {
		t.Errorf("fetch header type 4: %v", err)
	}
}

func TestPublishOKDraft17Only(t *testing.T) {
	m := PublishOK{Params: Params{param(ParamForward, 1)}}
	typ, payload, _, err := ParseControl(m.Append(nil, Draft17), Draft17)
	var got PublishOK
	if err != nil || typ != MsgPublishOK || got.Parse(payload, Draft17) != nil || got.Params[0].Value != 1 {
		t.Errorf("PUBLISH_OK on 17: 0x%x %+v %v", typ, got, err)
	}
	if err := got.Parse(payload, Draft18); !errors.Is(err, ErrInvalid) {
		t.Errorf("PUBLISH_OK on 18: %v", err)
	}
	mustPanic(t, "PUBLISH_OK on 18", func() { m.Append(nil, Draft18) })
}

func TestDatagramTypes(t *testing.T) {
	n := 0
	for typ := uint64(0); typ < 0x100; typ++ {
		if IsDatagramType(typ) {
			n++
		}
	}
	// 0x00..0x0F, 0x20..0x21, 0x24..0x25, 0x28..0x29, 0x2C..0x2D.
	if n != 24 {
		t.Errorf("%d valid datagram types, want 24", n)
	}
	var d Datagram
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"status with end of group", body(0x22, 1, 1, 1, 0), ErrInvalid},
		{"bit 4", body(0x10, 1, 1, 1, 0), ErrInvalid},
		{"empty properties", body(0x0d, 1, 1, 0), ErrInvalid},
		{"properties on end of track", body(0x2d, 1, 1, 1, 0x10, 4), ErrInvalid},
		{"trailing after status", body(0x2c, 1, 1, 0, 0), ErrTrailing},
	} {
		if err := d.Parse(c.b, Draft18); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// An explicit Object ID 0 is accepted and re-encoded with ZERO_OBJECT_ID.
	if err := d.Parse(body(0x08, 1, 1, 0, "p"), Draft18); err != nil || d.ObjectID != 0 || d.Type() != 0x0c {
		t.Errorf("explicit object 0: %+v %v", d, err)
	}
}

func TestLocationFilterErrors(t *testing.T) {
	var f LocationFilter
	for _, c := range []struct {
		name string
		b    []byte
		v    Version
		want error
	}{
		{"unknown tag", body(5), Draft18, ErrInvalid},
		{"empty on 17", nil, Draft17, ErrTruncated},
		{"trailing after tag", body(2, 0), Draft19, ErrTrailing},
		{"end overflow", body(4, uint64(1<<64-1), 0, 1), Draft18, ErrInvalid},
		{"five fields", body(1, 2, 3, 4, 5), Draft20, ErrInvalid},
		{"end overflow 20", body(uint64(1<<64-1), 0, 1), Draft20, ErrInvalid},
	} {
		if err := f.Parse(c.b, c.v); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	mustPanic(t, "relative on 19", func() { (&LocationFilter{Kind: FilterRelative}).Append(nil, Draft19) })
	mustPanic(t, "none on 18", func() { (&LocationFilter{Kind: FilterNone}).Append(nil, Draft18) })
	mustPanic(t, "end object on 19", func() {
		(&LocationFilter{Kind: FilterAbsoluteRange, HasEndObject: true}).Append(nil, Draft19)
	})
	mustPanic(t, "backwards range", func() {
		(&LocationFilter{Kind: FilterAbsoluteRange, Start: Location{5, 0}, EndGroup: 4}).Append(nil, Draft18)
	})
}

func TestParseMessageDispatch(t *testing.T) {
	for _, g := range loadGolden(t) {
		c, ok := goldenCases[g.Name]
		if !ok {
			continue
		}
		v := g.version()
		typ, payload, _, err := ParseControl(g.bytes(t), v)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseMessage(typ, payload, v)
		if err != nil || !reflect.DeepEqual(m, c.want(v)) {
			t.Errorf("%s/%s: %+v, %v", g.Name, v, m, err)
		}
	}
	for _, c := range []struct {
		typ uint64
		v   Version
	}{{0x11, Draft18}, {0x50, Draft17}, {0x51, Draft17}, {0x1e, Draft18}, {0x20, Draft17}, {0x15, Draft19}, {0x03, 0}} {
		if _, err := ParseMessage(c.typ, nil, c.v); !errors.Is(err, ErrInvalid) {
			t.Errorf("type 0x%x on %s: %v", c.typ, c.v, err)
		}
	}
}

func TestNamespaceEmptyField(t *testing.T) {
	var m NamespaceDone
	if err := m.Parse(body(2, 1, "a", 0), Draft18); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty field: %v", err)
	}
	if err := (Namespace{"a", ""}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate: %v", err)
	}
	if err := (Namespace{"a", "b"}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	mustPanic(t, "append empty field", func() { (&NamespaceDone{Suffix: Namespace{""}}).Append(nil, Draft18) })
}

func TestCodes(t *testing.T) {
	if s := SessionProtocolViolation.String(); s != "PROTOCOL_VIOLATION" {
		t.Errorf("String = %q", s)
	}
	if s := RequestErrorCode(0x99).String(); s != "0x99" {
		t.Errorf("unknown String = %q", s)
	}
	for _, v := range SupportedVersions() {
		for c := range doneCodeNames {
			if got := PublishDoneCodeOf(c.Wire(v), v); got != c {
				t.Errorf("%s %s: round trip %s", v, c, got)
			}
		}
		for c := range resetCodeNames {
			if got := StreamResetCodeOf(c.Wire(v), v); got != c && !(v == Draft17 && c.Wire(v) == 0) {
				t.Errorf("%s %s: round trip %s", v, c, got)
			}
		}
	}
	if DoneExpired.Wire(Draft17) != 5 || DoneExpired.Wire(Draft18) != 6 || ResetUnknownObjectStatus.Wire(Draft17) != 4 {
		t.Error("draft-17 numbering")
	}
}

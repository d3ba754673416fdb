package ietf

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

// goldenVector is one entry of testdata/golden.json, written by
// testdata/gen_golden.mjs from @moq/net 0.3.4's own IETF encoders.
type goldenVector struct {
	Name   string `json:"name"`
	Draft  int    `json:"draft"`
	Source string `json:"source"`
	Hex    string `json:"hex"`
}

func loadGolden(tb testing.TB) []goldenVector {
	tb.Helper()
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		tb.Fatal(err)
	}
	var file struct {
		Package string         `json:"package"`
		Vectors []goldenVector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		tb.Fatal(err)
	}
	if file.Package != "@moq/net 0.3.4" {
		tb.Fatalf("golden vectors from %q, want @moq/net 0.3.4", file.Package)
	}
	return file.Vectors
}

func (g goldenVector) version() Version { return Version(0xff000000 + g.Draft) }

func (g goldenVector) bytes(tb testing.TB) []byte {
	tb.Helper()
	b, err := hex.DecodeString(g.Hex)
	if err != nil {
		tb.Fatalf("%s: %v", g.Name, err)
	}
	return b
}

// goldenVarints are the values of the "varint-*" vectors.
var goldenVarints = map[string]uint64{
	"varint-0":                 0,
	"varint-37":                37,
	"varint-127":               127,
	"varint-128":               128,
	"varint-15293":             15293,
	"varint-2^14":              1 << 14,
	"varint-494878333":         494878333,
	"varint-2^28":              1 << 28,
	"varint-2^35-1":            1<<35 - 1,
	"varint-2893212287960":     2893212287960,
	"varint-2^42":              1 << 42,
	"varint-2^49":              1 << 49,
	"varint-70423237261249041": 70423237261249041,
	"varint-2^56":              1 << 56,
	"varint-max":               1<<64 - 1,
}

// goldenCase is what a control-message vector must decode to.
type goldenCase struct {
	typ uint64
	// want returns the expected message for v.
	want func(v Version) message
	// fresh returns an empty message of the same type.
	fresh func() message
}

func param(t, val uint64) Param           { return Param{Type: t, Value: val} }
func paramBytes(t uint64, b string) Param { return Param{Type: t, Bytes: []byte(b)} }

func filterJoin(v Version) string {
	if v == Draft20 {
		return "\x01" // relative, 1 group back
	}
	return "\x02" // LargestObject tag
}

var goldenCases = map[string]goldenCase{
	"setup-moq-lite-js": {MsgSetup, func(Version) message {
		return &Setup{Options: KVPs{
			{Type: OptionImplementation, Bytes: []byte("moq-lite-js")},
			{Type: OptionRelayHops, Bytes: []byte{0xe1, 0x23, 0x45, 0x67}},
			{Type: OptionSolicit, Value: 1},
		}}
	}, func() message { return new(Setup) }},
	"setup-empty": {MsgSetup, func(Version) message { return &Setup{} }, func() message { return new(Setup) }},
	"setup-path-authority": {MsgSetup, func(Version) message {
		return &Setup{Options: KVPs{
			{Type: OptionPath, Bytes: []byte("/moq?jwt=abc")},
			{Type: OptionMaxAuthTokenCacheSize, Value: 4096},
			{Type: OptionAuthority, Bytes: []byte("relay.example:4443")},
		}}
	}, func() message { return new(Setup) }},
	"request-ok-empty": {MsgRequestOK, func(Version) message { return &RequestOK{} }, func() message { return new(RequestOK) }},
	"request-ok-params": {MsgRequestOK, func(Version) message {
		return &RequestOK{Params: Params{param(ParamExpires, 30000), {Type: ParamLargestObject, Location: Location{7, 3}}}}
	}, func() message { return new(RequestOK) }},
	"request-error": {MsgRequestError, func(Version) message {
		return &RequestError{Code: 0x10, RetryInterval: 1500, Reason: "track does not exist"}
	}, func() message { return new(RequestError) }},
	"request-error-empty": {MsgRequestError, func(Version) message { return &RequestError{} }, func() message { return new(RequestError) }},
	"goaway": {MsgGoaway, func(Version) message {
		return &Goaway{URI: "https://relay2.example/moq", TimeoutMs: 5000}
	}, func() message { return new(Goaway) }},
	"goaway-empty": {MsgGoaway, func(Version) message { return &Goaway{} }, func() message { return new(Goaway) }},
	"subscribe-join": {MsgSubscribe, func(v Version) message {
		return &Subscribe{RequestID: 4, Namespace: Namespace{"live", "room"}, Track: "video", Params: Params{
			param(ParamForward, 1), param(ParamSubscriberPriority, 128),
			paramBytes(ParamSubscriptionFilter, filterJoin(v)), param(ParamGroupOrder, 2),
		}}
	}, func() message { return new(Subscribe) }},
	"subscribe-unfiltered": {MsgSubscribe, func(v Version) message {
		filter := "\x03\x00\x00" // AbsoluteStart {0, 0}
		if v == Draft20 {
			filter = ""
		}
		return &Subscribe{Params: Params{
			param(ParamForward, 1), param(ParamSubscriberPriority, 0),
			paramBytes(ParamSubscriptionFilter, filter), param(ParamGroupOrder, 2),
		}}
	}, func() message { return new(Subscribe) }},
	"subscribe-absolute": {MsgSubscribe, func(v Version) message {
		m := &Subscribe{RequestID: 1000, Namespace: Namespace{"a", "b", "c"}, Track: "catalog.json"}
		if v == Draft20 {
			m.Params = Params{
				param(ParamForward, 1), param(ParamSubscriberPriority, 255),
				paramBytes(ParamSubscriptionFilter, "\x05\x00\x04"), param(ParamGroupOrder, 2),
				paramBytes(ParamIncludeProperties, "\x00"),
			}
		} else {
			m.Params = Params{
				param(ParamForward, 1), param(ParamSubscriberPriority, 255),
				paramBytes(ParamSubscriptionFilter, "\x04\x05\x00\x04"), param(ParamGroupOrder, 2),
			}
		}
		return m
	}, func() message { return new(Subscribe) }},
	"subscribe-ok": {MsgSubscribeOK, func(v Version) message {
		m := &SubscribeOK{TrackAlias: 1, Properties: KVPs{{Type: 0x08, Value: 1000000}, {Type: 0x22, Value: 2}}}
		if v == Draft20 {
			m.Params = Params{{Type: ParamLargestObject, Location: Location{12, 4}}}
		}
		return m
	}, func() message { return new(SubscribeOK) }},
	"subscribe-ok-bare": {MsgSubscribeOK, func(Version) message { return &SubscribeOK{TrackAlias: 300} }, func() message { return new(SubscribeOK) }},
	"request-update":    {MsgRequestUpdate, func(Version) message { return &RequestUpdate{RequestID: 6} }, func() message { return new(RequestUpdate) }},
	"publish-done": {MsgPublishDone, func(Version) message {
		return &PublishDone{StatusCode: 2, Reason: "track ended"}
	}, func() message { return new(PublishDone) }},
	"publish-namespace": {MsgPublishNamespace, func(Version) message {
		return &PublishNamespace{RequestID: 2, Namespace: Namespace{"live", "room"}}
	}, func() message { return new(PublishNamespace) }},
	"publish-namespace-cluster": {MsgPublishNamespace, func(Version) message {
		return &PublishNamespace{RequestID: 3, Namespace: Namespace{"x"}, Params: Params{
			paramBytes(ParamHopPath, "\xe1\x23\x45\x67"),
		}}
	}, func() message { return new(PublishNamespace) }},
	"subscribe-namespace": {0, func(v Version) message {
		m := &SubscribeNamespace{RequestID: 8, Prefix: Namespace{"live"}}
		if v == Draft17 {
			m.SubscribeOptions = SubscribeOptionNamespace
		}
		return m
	}, func() message { return new(SubscribeNamespace) }},
	"namespace": {MsgNamespace, func(Version) message {
		return &NamespaceEntry{Suffix: Namespace{"room", "1"}}
	}, func() message { return new(NamespaceEntry) }},
	"fetch-standalone": {MsgFetch, func(v Version) message {
		m := &Fetch{RequestID: 10, Type: FetchStandalone, Namespace: Namespace{"live", "room"}, Track: "video",
			Params: Params{param(ParamSubscriberPriority, 64)}}
		if v != Draft20 {
			m.Start, m.End = Location{3, 0}, Location{5, 0}
		}
		return m
	}, func() message { return new(Fetch) }},
	"fetch-joining": {MsgFetch, func(v Version) message {
		m := &Fetch{RequestID: 12, Type: FetchRelativeJoining, JoiningRequestID: 4}
		if v != Draft20 {
			m.JoiningStart = 1
		}
		return m
	}, func() message { return new(Fetch) }},
	"fetch-ok": {MsgFetchOK, func(Version) message {
		return &FetchOK{EndOfTrack: true, End: Location{20, 7}, Properties: KVPs{{Type: 0x08, Value: 90000}}}
	}, func() message { return new(FetchOK) }},
	"publish": {MsgPublish, func(Version) message {
		return &Publish{RequestID: 5, Namespace: Namespace{"live", "room"}, Track: "audio", TrackAlias: 2,
			Params:     Params{{Type: ParamLargestObject, Location: Location{3, 1}}, param(ParamForward, 1)},
			Properties: KVPs{{Type: 0x22, Value: 2}}}
	}, func() message { return new(Publish) }},
	"track-status": {MsgTrackStatus, func(Version) message {
		return &TrackStatus{RequestID: 14, Namespace: Namespace{"live"}, Track: "video"}
	}, func() message { return new(TrackStatus) }},
	"publish-blocked": {MsgPublishBlocked, func(Version) message {
		return &PublishBlocked{Suffix: Namespace{"room"}, Track: "chat"}
	}, func() message { return new(PublishBlocked) }},
	"subscribe-tracks": {MsgSubscribeTracks, func(Version) message {
		return &SubscribeTracks{RequestID: 16, Prefix: Namespace{"live"}}
	}, func() message { return new(SubscribeTracks) }},
	"namespace-done": {MsgNamespaceDone, func(Version) message {
		return &NamespaceDone{Suffix: Namespace{"room", "1"}}
	}, func() message { return new(NamespaceDone) }},
}

// isStreamVector reports whether name is a varint, subgroup header or
// object vector, checked by their own tests.
func isStreamVector(name string) bool {
	_, a := goldenVarints[name]
	_, b := goldenHeaders[name]
	_, c := goldenObjects[name]
	_, d := goldenFetchObjects[name]
	_, e := goldenDatagrams[name]
	_, f := goldenFilters[name]
	return a || b || c || d || e || f || name == "fetch-header"
}

// goldenHeaders are the expected values of the subgroup header vectors.
// FIRST_OBJECT only exists from draft 18: @moq/net leaves it off on 17.
var goldenHeaders = map[string]func(v Version) SubgroupHeader{
	"subgroup-header-moq": func(v Version) SubgroupHeader {
		return SubgroupHeader{Properties: true, EndOfGroup: true, FirstObject: v.since(Draft18), TrackAlias: 1, GroupID: 42}
	},
	"subgroup-header-explicit": func(Version) SubgroupHeader {
		return SubgroupHeader{Mode: SubgroupExplicit, DefaultPriority: true, TrackAlias: 7, GroupID: 1000, SubgroupID: 3}
	},
	"subgroup-header-first-id": func(v Version) SubgroupHeader {
		return SubgroupHeader{Mode: SubgroupFirstObjectID, EndOfGroup: true, FirstObject: v.since(Draft18), TrackAlias: 300, Priority: 200}
	},
}

// goldenObject is a subgroup object vector's expected value and the
// Properties flag of its stream's header.
type goldenObject struct {
	hasProps bool
	want     SubgroupObject
}

var goldenObjects = map[string]goldenObject{
	// Properties: TIMESTAMP (0x10) = 1234567.
	"object-timestamp":    {true, SubgroupObject{IDDelta: 5, Properties: []byte{0x10, 0xd2, 0xd6, 0x87}, Payload: []byte("hello")}},
	"object-props-empty":  {true, SubgroupObject{Properties: []byte{}, Payload: []byte("x")}},
	"object-plain":        {false, SubgroupObject{Payload: bytes.Repeat([]byte{0xab}, 200)}},
	"object-empty":        {false, SubgroupObject{Status: StatusNormal}},
	"object-end-of-group": {false, SubgroupObject{Status: StatusEndOfGroup}},
}

// goldenFetchObjects are the expected values of the fetch object vectors.
var goldenFetchObjects = map[string]FetchObject{
	// Properties: TIMESTAMP (0x10) = 90.
	"fetch-object-first": {Flags: FetchGroupID | FetchObjectID | FetchPriority | FetchProperties, Group: 17, Object: 2,
		Properties: []byte{0x10, 0x5a}, Payload: []byte("frame")},
	"fetch-object-next": {Payload: []byte("next")},
}

func TestGoldenFetchStream(t *testing.T) {
	seen := map[string]int{}
	for _, g := range loadGolden(t) {
		v := g.version()
		b := g.bytes(t)
		if g.Name == "fetch-header" {
			seen[g.Name]++
			var h FetchHeader
			if n, err := h.Parse(b, v); err != nil || n != len(b) || h.RequestID != 9 {
				t.Errorf("%s/%s: %+v, %d, %v", g.Name, v, h, n, err)
			}
			if enc := h.Append(nil, v); !bytes.Equal(enc, b) || h.Len(v) != len(b) {
				t.Errorf("%s/%s: Append = %x", g.Name, v, enc)
			}
			for i := range b {
				if _, err := new(FetchHeader).Parse(b[:i], v); !errors.Is(err, ErrTruncated) {
					t.Errorf("%s/%s: prefix %d: %v", g.Name, v, i, err)
				}
			}
		}
		want, ok := goldenFetchObjects[g.Name]
		if !ok {
			continue
		}
		seen[g.Name]++
		var o FetchObject
		if n, err := o.Parse(append(b[:len(b):len(b)], 0xee), v); err != nil || n != len(b) || !reflect.DeepEqual(o, want) {
			t.Errorf("%s/%s: Parse = %+v, %d, %v; want %+v", g.Name, v, o, n, err, want)
		}
		if enc := want.Append(nil, v); !bytes.Equal(enc, b) || want.Len(v) != len(b) {
			t.Errorf("%s/%s: Append = %x, want %x", g.Name, v, enc, b)
		}
		for i := range b {
			if _, err := new(FetchObject).Parse(b[:i], v); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s/%s: prefix %d: %v", g.Name, v, i, err)
			}
		}
	}
	for _, name := range []string{"fetch-header", "fetch-object-first", "fetch-object-next"} {
		if seen[name] != 4 {
			t.Errorf("%s: %d vectors, want 4", name, seen[name])
		}
	}
}

// goldenDatagrams are the expected values of the datagram vectors and the
// size of their header (the payload runs to the end, so only prefixes inside
// the header are truncations).
var goldenDatagrams = map[string]struct {
	want   Datagram
	header int
}{
	"datagram-payload":      {Datagram{TrackAlias: 1, GroupID: 500, ObjectID: 7, Priority: 3, Payload: []byte("datagram payload")}, 6},
	"datagram-status":       {Datagram{HasStatus: true, DefaultPriority: true, TrackAlias: 2, GroupID: 1, Properties: []byte{0x10, 0x09}}, 7},
	"datagram-end-of-group": {Datagram{EndOfGroup: true, DefaultPriority: true, TrackAlias: 2, GroupID: 8, ObjectID: 300, Payload: []byte("last")}, 5},
}

func TestGoldenDatagrams(t *testing.T) {
	seen := map[string]int{}
	for _, g := range loadGolden(t) {
		c, ok := goldenDatagrams[g.Name]
		if !ok {
			continue
		}
		seen[g.Name]++
		v, b := g.version(), g.bytes(t)
		var d Datagram
		if err := d.Parse(b, v); err != nil || !reflect.DeepEqual(d, c.want) {
			t.Errorf("%s/%s: Parse = %+v, %v; want %+v", g.Name, v, d, err, c.want)
		}
		if enc := c.want.Append(nil, v); !bytes.Equal(enc, b) || c.want.Len(v) != len(b) {
			t.Errorf("%s/%s: Append = %x, want %x", g.Name, v, enc, b)
		}
		for i := 0; i < c.header; i++ {
			if err := new(Datagram).Parse(b[:i], v); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s/%s: prefix %d: %v", g.Name, v, i, err)
			}
		}
	}
	for name := range goldenDatagrams {
		if seen[name] != 4 {
			t.Errorf("%s: %d vectors, want 4", name, seen[name])
		}
	}
}

// goldenFilters are the expected values of the LOCATION_FILTER vectors.
var goldenFilters = map[string]func(v Version) LocationFilter{
	"filter-next-object": func(Version) LocationFilter { return LocationFilter{Kind: FilterLargestObject} },
	"filter-unfiltered": func(v Version) LocationFilter {
		if v == Draft20 {
			return LocationFilter{Kind: FilterNone}
		}
		return LocationFilter{Kind: FilterAbsoluteStart}
	},
	"filter-relative-0": func(v Version) LocationFilter {
		if v == Draft20 {
			return LocationFilter{Kind: FilterRelative}
		}
		return LocationFilter{Kind: FilterNextGroup}
	},
	"filter-relative-3": func(Version) LocationFilter { return LocationFilter{Kind: FilterRelative, RelativeGroups: 3} },
	"filter-absolute-start": func(Version) LocationFilter {
		return LocationFilter{Kind: FilterAbsoluteStart, Start: Location{1 << 40, 2}}
	},
	"filter-absolute-range": func(Version) LocationFilter {
		return LocationFilter{Kind: FilterAbsoluteRange, Start: Location{5, 0}, EndGroup: 9}
	},
	"filter-absolute-range-object": func(Version) LocationFilter {
		return LocationFilter{Kind: FilterAbsoluteRange, Start: Location{5, 1}, EndGroup: 300, EndObject: 3, HasEndObject: true}
	},
}

func TestGoldenFilters(t *testing.T) {
	seen := map[string]int{}
	for _, g := range loadGolden(t) {
		wantf, ok := goldenFilters[g.Name]
		if !ok {
			continue
		}
		seen[g.Name]++
		v, b := g.version(), g.bytes(t)
		want := wantf(v)
		var f LocationFilter
		if err := f.Parse(b, v); err != nil || f != want {
			t.Errorf("%s/%s: Parse(%x) = %+v, %v; want %+v", g.Name, v, b, f, err, want)
		}
		if enc := want.Append(nil, v); !bytes.Equal(enc, b) || want.Len(v) != len(b) {
			t.Errorf("%s/%s: Append = %x, want %x", g.Name, v, enc, b)
		}
		if v != Draft20 {
			for i := range b {
				if err := new(LocationFilter).Parse(b[:i], v); !errors.Is(err, ErrTruncated) {
					t.Errorf("%s/%s: prefix %d: %v", g.Name, v, i, err)
				}
			}
		}
	}
	if len(seen) != len(goldenFilters) {
		t.Errorf("filter vectors for %d of %d cases", len(seen), len(goldenFilters))
	}
}

func TestGoldenSubgroups(t *testing.T) {
	seen := map[string]int{}
	for _, g := range loadGolden(t) {
		v := g.version()
		b := g.bytes(t)
		if want, ok := goldenHeaders[g.Name]; ok {
			seen[g.Name]++
			var h SubgroupHeader
			n, err := h.Parse(append(b[:len(b):len(b)], 0xee), v)
			if err != nil || n != len(b) || h != want(v) {
				t.Errorf("%s/%s: Parse = %+v, %d, %v; want %+v, %d", g.Name, v, h, n, err, want(v), len(b))
			}
			w := want(v)
			if enc := w.Append(nil, v); !bytes.Equal(enc, b) || w.Len(v) != len(b) {
				t.Errorf("%s/%s: Append = %x (Len %d), want %x", g.Name, v, enc, w.Len(v), b)
			}
			for i := range b {
				if _, err := new(SubgroupHeader).Parse(b[:i], v); !errors.Is(err, ErrTruncated) {
					t.Errorf("%s/%s: prefix of %d bytes: %v, want ErrTruncated", g.Name, v, i, err)
				}
			}
		}
		if c, ok := goldenObjects[g.Name]; ok {
			seen[g.Name]++
			var o SubgroupObject
			n, err := o.Parse(append(b[:len(b):len(b)], 0xee), c.hasProps, v)
			if err != nil || n != len(b) || !reflect.DeepEqual(o, c.want) {
				t.Errorf("%s/%s: Parse = %+v, %d, %v; want %+v, %d", g.Name, v, o, n, err, c.want, len(b))
			}
			if enc := c.want.Append(nil, c.hasProps, v); !bytes.Equal(enc, b) || c.want.Len(c.hasProps, v) != len(b) {
				t.Errorf("%s/%s: Append = %x, want %x", g.Name, v, enc, b)
			}
			for i := range b {
				if _, err := new(SubgroupObject).Parse(b[:i], c.hasProps, v); !errors.Is(err, ErrTruncated) {
					t.Errorf("%s/%s: prefix of %d bytes: %v, want ErrTruncated", g.Name, v, i, err)
				}
			}
			if c.hasProps {
				if _, err := ParseKVPs(o.Properties, v); err != nil {
					t.Errorf("%s/%s: properties: %v", g.Name, v, err)
				}
			}
		}
	}
	for name := range goldenHeaders {
		if seen[name] != 4 {
			t.Errorf("%s: %d vectors, want 4", name, seen[name])
		}
	}
	for name := range goldenObjects {
		if seen[name] != 4 {
			t.Errorf("%s: %d vectors, want 4", name, seen[name])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestGoldenVarints(t *testing.T) {
	n := 0
	for _, g := range loadGolden(t) {
		want, ok := goldenVarints[g.Name]
		if !ok {
			continue
		}
		n++
		b := g.bytes(t)
		x, used, err := ParseVarint(b, g.version())
		if err != nil || x != want || used != len(b) {
			t.Errorf("%s draft %d: ParseVarint(%x) = %d, %d, %v; want %d, %d", g.Name, g.Draft, b, x, used, err, want, len(b))
		}
		if enc := AppendVarint(nil, want); !bytes.Equal(enc, b) {
			t.Errorf("%s: AppendVarint = %x, want %x", g.Name, enc, b)
		}
		if VarintLen(want) != len(b) {
			t.Errorf("%s: VarintLen = %d, want %d", g.Name, VarintLen(want), len(b))
		}
		for i := range b {
			if _, _, err := ParseVarint(b[:i], g.version()); !errors.Is(err, ErrTruncated) {
				t.Errorf("%s: prefix of %d bytes: %v, want ErrTruncated", g.Name, i, err)
			}
		}
	}
	if n != 4*len(goldenVarints) {
		t.Errorf("%d varint vectors, want %d", n, 4*len(goldenVarints))
	}
}

func TestGoldenMessages(t *testing.T) {
	seen := map[string]int{}
	for _, g := range loadGolden(t) {
		c, ok := goldenCases[g.Name]
		if !ok {
			if !isStreamVector(g.Name) {
				t.Errorf("vector %q has no Go case", g.Name)
			}
			continue
		}
		seen[g.Name]++
		v := g.version()
		b := g.bytes(t)
		typ := c.typ
		if g.Name == "subscribe-namespace" {
			typ = SubscribeNamespaceType(v)
		}
		t.Run(g.Name+"/"+v.String(), func(t *testing.T) {
			gotTyp, payload, n, err := ParseControl(b, v)
			if err != nil || gotTyp != typ || n != len(b) {
				t.Fatalf("ParseControl = 0x%x, %d, %v; want 0x%x, %d", gotTyp, n, err, typ, len(b))
			}
			m := c.fresh()
			if err := m.Parse(payload, v); err != nil {
				t.Fatalf("Parse(%x): %v", payload, err)
			}
			want := c.want(v)
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("decoded\n%#v\nwant\n%#v", m, want)
			}
			if enc := want.Append(nil, v); !bytes.Equal(enc, b) {
				t.Fatalf("Append = %x\n          want %x", enc, b)
			}
			if want.Len(v) != len(b) {
				t.Fatalf("Len = %d, want %d", want.Len(v), len(b))
			}
			if enc := want.Append([]byte{0xaa}, v); !bytes.Equal(enc[1:], b) || enc[0] != 0xaa {
				t.Fatalf("Append after a prefix = %x", enc)
			}
			for i := range b {
				if err := parseFramed(c.fresh(), typ, b[:i], v); !errors.Is(err, ErrTruncated) {
					t.Fatalf("prefix of %d bytes: %v, want ErrTruncated", i, err)
				}
			}
			if err := parseFramed(c.fresh(), typ, append(b[:len(b):len(b)], 0), v); !errors.Is(err, ErrTrailing) {
				t.Fatalf("one byte after the frame: %v, want ErrTrailing", err)
			}
		})
	}
	for name := range goldenCases {
		if want := 4 - btoi(name == "subscribe-tracks"); seen[name] != want {
			t.Errorf("case %q: %d vectors, want %d (one per draft)", name, seen[name], want)
		}
	}
}

package media

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// SPS NAL units written by ffmpeg's libx264 (see testdata/README.md).
var spsVectors = []struct {
	name          string
	hex           string
	codec         string
	width, height int
	fps           float64 // from the VUI
}{
	{"1920x1080 baseline, cropped 1088 to 1080", "6742c028da01e0089f970110000003001000000303c0f1832a", "avc1.42c028", 1920, 1080, 30},
	{"1280x720 baseline", "6742c01fda014016ec0440000003004000000f03c60ca8", "avc1.42c01f", 1280, 720, 30},
	{"640x360 high 4:4:4", "67f4001e919680a02ff89c0440000003004000000f03c58ba8", "avc1.f4001e", 640, 360, 30},
	{"160x90 baseline", "6742c00bda0a37e4c044000003000400000300f03c50aa80", "avc1.42c00b", 160, 90, 30},
	{"160x90 high", "6764000bacd9428df93011000003000100000300320f142996", "avc1.64000b", 160, 90, 25},
}

func TestParseSPS(t *testing.T) {
	for _, v := range spsVectors {
		t.Run(v.name, func(t *testing.T) {
			s, err := ParseSPS(unhex(t, v.hex))
			if err != nil {
				t.Fatal(err)
			}
			if s.Codec() != v.codec || s.Width != v.width || s.Height != v.height || s.Framerate != v.fps {
				t.Fatalf("got %s %dx%d %v fps, want %s %dx%d %v fps", s.Codec(), s.Width, s.Height, s.Framerate, v.codec, v.width, v.height, v.fps)
			}
		})
	}
}

// Every truncation of a valid SPS is an error, never a panic or a wrong
// size (the fields the size needs are near the end).
func TestParseSPSTruncated(t *testing.T) {
	for _, v := range spsVectors {
		b := unhex(t, v.hex)
		full, _ := ParseSPS(b)
		for n := range len(b) {
			s, err := ParseSPS(b[:n])
			if err == nil && (s.Width != full.Width || s.Height != full.Height) {
				t.Fatalf("%s cut to %d bytes: %dx%d without an error", v.name, n, s.Width, s.Height)
			}
		}
	}
	if _, err := ParseSPS(unhex(t, "68ce0fc8")); err == nil {
		t.Fatal("a PPS parsed as an SPS")
	}
}

func TestUnescapeRBSP(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"000003", "0000"},
		{"00000301", "000001"},
		{"0000030000030003", "0000000000"[:8] + "0003"},
		{"0003", "0003"},
		{"000003000003", "00000000"},
		{"", ""},
	} {
		got := hex.EncodeToString(unescapeRBSP(unhex(t, c.in)))
		if got != c.want {
			t.Errorf("unescapeRBSP(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestExpGolomb(t *testing.T) {
	// 1 → 0; 010 → 1; 011 → 2; 00100 → 3; 00101 → 4 (se: -2); 0001000 → 7 (se: 4)
	r := &bitReader{b: []byte{0b1_010_011_0, 0b0100_0010, 0b1_0001000}}
	for i, want := range []uint32{0, 1, 2, 3, 4, 7} {
		if got := r.ue(); got != want || r.err != nil {
			t.Fatalf("code %d: %d (%v), want %d", i, got, r.err, want)
		}
	}
	if r.ue(); r.err == nil {
		t.Fatal("no error past the end")
	}
	r = &bitReader{b: []byte{0b00101_010}}
	if a, b := r.se(), r.se(); a != -2 || b != 1 {
		t.Fatalf("se: %d %d, want -2 1", a, b)
	}
	// 32 leading zeros: too long, an error rather than an overflow.
	r = &bitReader{b: []byte{0, 0, 0, 0, 0xff}}
	if r.ue(); r.err == nil {
		t.Fatal("a 33-bit code parsed")
	}
}

func TestSplitAnnexB(t *testing.T) {
	in := unhex(t, "ff"+"00000001"+"0901"+"000001"+"6742"+"0000"+"00000001"+"68ce"+"000001"+"65")
	got := splitAnnexB(in)
	want := []string{"0901", "6742", "68ce", "65"}
	if len(got) != len(want) {
		t.Fatalf("got %d NAL units %x, want %q", len(got), got, want)
	}
	for i := range want {
		if hex.EncodeToString(got[i]) != want[i] {
			t.Fatalf("NAL %d: %x, want %s", i, got[i], want[i])
		}
	}
	for _, in := range []string{"", "00", "0000", "000001", "00000000", "ffffff"} {
		if got := splitAnnexB(unhex(t, in)); len(got) != 0 {
			t.Fatalf("splitAnnexB(%s) = %x, want none", in, got)
		}
	}
}

// nalTypes returns the types of an Annex B payload's NAL units.
func nalTypes(b []byte) []byte {
	var types []byte
	for _, n := range splitAnnexB(b) {
		types = append(types, nalType(n))
	}
	return types
}

func TestH264TrackParameterSets(t *testing.T) {
	sps := unhex(t, spsVectors[3].hex)
	pps := unhex(t, "68ce0fc8")
	idr, slice := []byte{0x65, 0x88, 0x84}, []byte{0x41, 0x9a}
	au := func(nals ...[]byte) []byte {
		var b []byte
		for _, n := range nals {
			b = append(b, 0, 0, 1)
			b = append(b, n...)
		}
		return b
	}
	var tr h264Track
	// A P frame before any IDR is dropped, as is a unit without a slice.
	if out, _, _, err := tr.accessUnit(au(slice)); out != nil || err != nil {
		t.Fatalf("P frame before the first IDR: %x, %v", out, err)
	}
	// An IDR without parameter sets, none seen yet: an error.
	if _, _, _, err := tr.accessUnit(au(idr)); !errors.Is(err, errNoParameterSets) {
		t.Fatalf("IDR without SPS/PPS: %v", err)
	}
	out, key, changed, err := tr.accessUnit(au([]byte{9, 0xf0}, sps, pps, idr))
	if err != nil || !key || !changed || !bytes.Equal(nalTypes(out), []byte{9, 7, 8, 5}) {
		t.Fatalf("first IDR: types %v key %v changed %v err %v", nalTypes(out), key, changed, err)
	}
	if !bytes.HasPrefix(out, []byte{0, 0, 0, 1, 9}) {
		t.Fatalf("start codes are not four bytes: %x", out)
	}
	out, key, changed, _ = tr.accessUnit(au(slice))
	if key || changed || !bytes.Equal(nalTypes(out), []byte{1}) {
		t.Fatalf("P frame: types %v key %v changed %v", nalTypes(out), key, changed)
	}
	// A later IDR without parameter sets gets the cached ones.
	out, key, _, _ = tr.accessUnit(au([]byte{9, 0xf0}, idr))
	if !key || !bytes.Equal(nalTypes(out), []byte{9, 7, 8, 5}) {
		t.Fatalf("IDR without SPS/PPS: types %v key %v", nalTypes(out), key)
	}
	if !bytes.Contains(out, sps) || !bytes.Contains(out, pps) {
		t.Fatal("the cached SPS/PPS were not inserted")
	}
	// Only the PPS present: the SPS is put before it.
	out, _, _, _ = tr.accessUnit(au(pps, idr))
	if !bytes.Equal(nalTypes(out), []byte{7, 8, 5}) {
		t.Fatalf("IDR with only a PPS: types %v", nalTypes(out))
	}
	// A new SPS with another size is a change.
	if _, _, changed, _ = tr.accessUnit(au(unhex(t, spsVectors[1].hex), pps, idr)); !changed {
		t.Fatal("a new SPS is not reported as a change")
	}
	// The same SPS again is not.
	if _, _, changed, _ = tr.accessUnit(au(unhex(t, spsVectors[1].hex), pps, idr)); changed {
		t.Fatal("a repeated SPS is reported as a change")
	}
	// A malformed SPS is an error.
	if _, _, _, err := tr.accessUnit(au([]byte{0x67, 0x42}, pps, idr)); err == nil {
		t.Fatal("a malformed SPS was accepted")
	}
}

func FuzzParseSPS(f *testing.F) {
	for _, v := range spsVectors {
		f.Add(unhex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSPS(b)
		if err == nil && (s.Width <= 0 || s.Height <= 0 || s.Width > 1024*16 || s.Height > 2*1024*16) {
			t.Fatalf("implausible size %dx%d without an error", s.Width, s.Height)
		}
		var tr h264Track
		tr.accessUnit(b)
		for _, n := range splitAnnexB(b) {
			if len(n) == 0 || n[len(n)-1] == 0 {
				t.Fatalf("NAL unit %x is empty or ends with a zero byte", n)
			}
		}
	})
}
